"""Running an op: the one failover loop both clients share, with the I/O passed in.

:func:`steps` flattens an op (``_ops.py``) into the I/O it needs, with member
refresh, endpoint order, back-off pauses and retry rules already applied: it
yields either a :class:`Request` to send (reply with the :class:`Response`, or
throw the :class:`ConnectionFailed` the transport raised) or a pause in
seconds (reply ``None``). :func:`drive` and :func:`drive_async` carry out those
steps with the callables they are given, so ``Registry``, ``AsyncRegistry``
and a blocking deregistration from a signal handler run the same code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from . import _ops
from ._client import Call, ClientCore, Op
from ._errors import ConnectionFailed, ManifestError
from ._http import Request, Response

__all__ = ["Step", "steps", "drive", "drive_async"]

T = TypeVar("T")
Step = Request | float  # send this request, or wait this many seconds
Plan = Generator[Step, Response | None, T]


def _attempt(core: ClientCore, call: Call) -> Plan[Response]:
    attempts = core.attempts(call)
    while (step := attempts.next()) is not None:
        endpoint, delay = step
        if delay:
            yield delay
        try:
            response = yield core.build(call, endpoint)
        except ConnectionFailed as exc:
            attempts.failed(endpoint, exc)
            continue
        assert response is not None
        answer = attempts.answered(endpoint, response)
        if answer is not None:
            return answer
    raise attempts.exhausted()


def _send(core: ClientCore, call: Call) -> Plan[Response]:
    if core.should_refresh(call):
        yield from steps(core, _ops.refresh_members(core, call))
    return (yield from _attempt(core, call))


def steps(core: ClientCore, op: Op[T]) -> Plan[T]:
    """The I/O steps of ``op``; returns the op's result."""
    reply: Response | None = None
    error: ManifestError | None = None
    started = False
    while True:
        try:
            if not started:
                started, call = True, next(op)
            elif error is not None:
                call = op.throw(error)
            else:
                assert reply is not None
                call = op.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        try:
            reply, error = (yield from _send(core, call)), None
        except ManifestError as exc:
            reply, error = None, exc


def drive(core: ClientCore, op: Op[T], send: Callable[[Request], Response],
          sleep: Callable[[float], Any]) -> T:
    """Run ``op`` with a blocking ``send`` (a transport's ``handle_request``) and ``sleep``."""
    plan = steps(core, op)
    reply: Response | None = None
    failure: ConnectionFailed | None = None
    while True:
        try:
            step = plan.throw(failure) if failure is not None else plan.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        reply = failure = None
        if isinstance(step, Request):
            try:
                reply = send(step)
            except ConnectionFailed as exc:
                failure = exc
        else:
            sleep(step)


async def drive_async(core: ClientCore, op: Op[T], send: Callable[[Request], Awaitable[Response]],
                      sleep: Callable[[float], Awaitable[Any]]) -> T:
    """Run ``op`` with a coroutine ``send`` (``handle_async_request``) and ``sleep``."""
    plan = steps(core, op)
    reply: Response | None = None
    failure: ConnectionFailed | None = None
    while True:
        try:
            step = plan.throw(failure) if failure is not None else plan.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        reply = failure = None
        if isinstance(step, Request):
            try:
                reply = await send(step)
            except ConnectionFailed as exc:
                failure = exc
        else:
            await sleep(step)
