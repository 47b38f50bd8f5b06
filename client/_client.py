"""The core shared by ``Registry`` and ``AsyncRegistry``: what to send, where, and when to retry.

Nothing here does I/O.  Every operation is a generator (an *op*) that yields
:class:`Call` objects, receives a :class:`Response` for each (or has the
resulting :class:`ManifestError` thrown in) and returns the operation's result.
``_drive.py`` runs ops for both the sync and the async client, so
request building, failover, retry rules, error mapping, pagination and the
stale-if-error cache exist once (see ``_ops.py`` for the operations).

Retry rules (after etcd's ``client/v3/retry.go``):

* reads may go to any endpoint, as often as the round budget allows;
* idempotent writes (register with an explicit id, heartbeat, deregister)
  fail over like reads;
* a non-idempotent write (register without id) moves on only when the
  request provably was not applied: it never left the client, or the node
  refused it before proposing (503 ``no_leader``, ``not_ready``,
  ``storage_unavailable``); once it may have been applied (bytes written and
  no answer, 503 ``unknown_outcome``, a gateway's 502/504) it is never sent
  again and raises ``OutcomeUnknown``;
* a write that may have been applied and whose retries settle nothing
  raises ``OutcomeUnknown``, never a failure: a DELETE whose retry finds
  nothing (404) succeeded;
* ``429 rate_limited`` was refused before anything happened, so any call,
  unsafe writes too, waits the ``Retry-After`` it names (at most
  ``RATE_WAIT_MAX`` seconds) and goes to the same node again, up to
  ``RATE_RETRIES`` times.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlencode

from ._cache import DiscoveryCache
from ._endpoints import EndpointPool, parse_endpoints
from ._errors import (ConnectionFailed, ManifestError, OutcomeUnknown, TooManyRequests, Unavailable,
                      error_from_response)
from ._http import Request, Response
from ._watch import WatchSession

__all__ = ["Kind", "Call", "Attempts", "ClientCore", "Op"]

T = TypeVar("T")
Op = Generator["Call", Response, T]

USER_AGENT = "manifest-client/0.1"
RATE_RETRIES = 3
RATE_WAIT_MAX = 30.0


class Kind(enum.Enum):
    """How a request may be retried."""

    READ = "read"
    IDEMPOTENT = "idempotent"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Call:
    """One logical request, before an endpoint is chosen.

    ``endpoint`` pins the call to one node (no failover); ``accept`` lists
    non-2xx statuses that are answers rather than errors; ``rounds`` and
    ``timeout`` override the client's defaults.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    kind: Kind = Kind.READ
    timeout: float | None = None
    rounds: int | None = None
    endpoint: str | None = None
    accept: frozenset[int] = field(default_factory=frozenset)

    @property
    def target(self) -> str:
        """Path plus query string."""
        return self.path + ("?" + urlencode(self.query) if self.query else "")

    def with_query(self, *pairs: tuple[str, str]) -> Call:
        """A copy with extra query parameters."""
        return replace(self, query=self.query + pairs)


def segment(value: str) -> str:
    """Quote one path segment (name or id)."""
    return quote(str(value), safe=":")


class Attempts:
    """Drives one :class:`Call` across endpoints.

    ``next()`` says which endpoint to try (and how long to wait first);
    ``failed()`` and ``answered()`` record the outcome and raise when the rules
    forbid another try; ``exhausted()`` builds the error once nothing is left.
    """

    def __init__(self, call: Call, pool: EndpointPool, *, rounds: int, retry_wait: float) -> None:
        self._call = call
        self._pool = pool
        self._rounds = 1 if call.endpoint else max(1, rounds)
        self._retry_wait = retry_wait
        self._write = call.kind is not Kind.READ and call.endpoint is None
        self._round = 0
        self._queue: list[str] | None = None
        self._tried: set[str] = set()
        self._all_tried: list[str] = []
        self._unavailable: Unavailable | None = None
        self._again: tuple[str, float] | None = None  # rate-limited: this endpoint after this pause
        self._rate_waits = 0
        self.error: ManifestError | None = None
        #: True once an earlier attempt may have reached a server.
        self.maybe_applied = False

    def next(self) -> tuple[str, float] | None:
        """The next endpoint and the seconds to sleep before it, or ``None``."""
        if self._again is not None:
            again, self._again = self._again, None
            return again
        delay = 0.0
        while True:
            if self._queue is None:
                self._start_round()
            elif not self._queue:
                self._round += 1
                if self._round >= self._rounds:
                    return None
                delay = self._round_delay()
                self._start_round()
            url = self._choose()
            if url is not None:
                return url, delay

    def _start_round(self) -> None:
        pinned = self._call.endpoint
        self._queue = [pinned] if pinned else self._pool.order(prefer_leader=self._write)
        self._tried = set()

    def _choose(self) -> str | None:
        assert self._queue is not None
        leader = self._pool.leader
        # A leader named mid-round (by a response) jumps the queue for writes.
        if self._write and leader and leader not in self._tried and not self._pool.backed_off(leader):
            if leader in self._queue:
                self._queue.remove(leader)
            url = leader
        else:
            url = self._queue.pop(0)
        if url in self._tried:
            return None
        self._tried.add(url)
        if url not in self._all_tried:
            self._all_tried.append(url)
        return url

    def _round_delay(self) -> float:
        delay: float = min(2.0, self._retry_wait * 2.0 ** (self._round - 1))
        hint = self._unavailable.retry_after if self._unavailable else None
        return max(delay, min(hint, 2.0)) if hint else delay

    def failed(self, endpoint: str, exc: ConnectionFailed) -> None:
        """Record that ``endpoint`` gave no answer; raise if the call must stop here."""
        self._pool.mark_failed(endpoint)
        self.error = exc
        if exc.sent:
            self.maybe_applied = True
            if self._call.kind is Kind.UNSAFE:
                raise self._unknown(exc, "it was not sent again (without an id it would register twice)")

    def _unknown(self, cause: ManifestError, what_then: str) -> OutcomeUnknown:
        """The error of a write that may have been applied: neither success nor failure."""
        return OutcomeUnknown(
            f"{self._call.method} {self._call.path} may have been applied: {cause.message}; {what_then}. "
            f"{self._settle()}",
            cause=cause,
            endpoint=cause.endpoint,
        )

    def _settle(self) -> str:
        parts = self._call.path.split("/")
        if len(parts) >= 5 and parts[1:3] == ["v1", "services"]:
            name, iid = unquote(parts[3]), unquote(parts[4])
            return f"Check with `manifest get {name} {iid}`, or send it again: it is idempotent."
        if self._call.kind is Kind.IDEMPOTENT:
            return "Send it again (it is idempotent) or read the instance back."
        return "Read the service back (`manifest get NAME`) before registering again."

    def answered(self, endpoint: str, response: Response) -> Response | None:
        """Return ``response`` if it is the call's answer, ``None`` to try elsewhere, or raise."""
        response.endpoint = endpoint
        self._pool.note_leader(endpoint, response.headers.get("x-manifest-leader"))
        status = response.status
        if status < 500:
            self._pool.mark_ok(endpoint)
        if 200 <= status < 300 or status in self._call.accept:
            return response
        if status == 404 and self._call.method == "DELETE" and self.maybe_applied:
            return response  # an earlier attempt deleted it, or someone else did: it is gone either way
        err = error_from_response(status, response.body, response.headers, endpoint)
        if isinstance(err, TooManyRequests) and err.code == "rate_limited" and self._rate_waits < RATE_RETRIES:
            self._rate_waits += 1
            self._again = (endpoint, min(err.retry_after or 1.0, RATE_WAIT_MAX))
            self.error = err
            return None
        if not isinstance(err, Unavailable):
            if self.maybe_applied and self._call.kind is not Kind.READ and status != 404:
                # The refusal is of this retry; an earlier attempt may have been applied.
                raise self._unknown(err, "a retry was refused")
            raise err
        self._pool.mark_failed(endpoint, retry_after=err.retry_after)
        self.error = self._unavailable = err
        # The node says whether it refused before proposing (no_leader,
        # not_ready, storage_unavailable: nothing committed) or lost track of
        # a write it proposed (unknown_outcome); a gateway's 502/504 says nothing.
        if status != 503 or err.code == "unknown_outcome":
            self.maybe_applied = True
            if self._call.kind is Kind.UNSAFE:
                raise self._unknown(err, "it was not sent again (without an id it would register twice)")
        return None

    def exhausted(self) -> ManifestError:
        """The error to raise when every endpoint and round has been used up."""
        if self.maybe_applied and self._call.kind is not Kind.READ and self.error is not None:
            return self._unknown(self.error, "no retry got an answer")
        if isinstance(self.error, TooManyRequests):
            return self.error
        if len(self._all_tried) == 1 and self._rounds == 1 and self.error is not None:
            return self.error  # one endpoint, one try: its own error says it best
        tried = ", ".join(self._all_tried)
        last = self.error.message if self.error else "no endpoint"
        if self._unavailable is not None:
            return Unavailable(
                f"no registry node could serve the request (tried {tried}): {last}",
                retry_after=self._unavailable.retry_after,
                code=self._unavailable.code,
            )
        return ConnectionFailed(
            f"no registry endpoint reachable (tried {tried}); last error: {last}",
            sent=self.maybe_applied,
        )


class ClientCore:
    """Configuration, endpoint pool and request building shared by both clients."""

    def __init__(
        self,
        endpoints: str | Sequence[str] | None = None,
        *,
        timeout: float = 5.0,
        retries: int = 1,
        discover_members: bool = True,
        headers: Mapping[str, str] | None = None,
        cache: bool = False,
        consistency: str | None = None,
        retry_wait: float = 0.25,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if consistency not in (None, "local", "linearizable"):
            raise ValueError("consistency must be 'local' or 'linearizable'")
        self.pool = EndpointPool(
            parse_endpoints(endpoints),
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            refresh_interval=30.0 if discover_members else None,
            clock=clock,
        )
        self.timeout = timeout
        self.rounds = retries + 1
        self.retry_wait = retry_wait
        self.headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        self.cache = DiscoveryCache() if cache else None
        self.consistency = consistency

    def attempts(self, call: Call) -> Attempts:
        """Start driving ``call``."""
        return Attempts(call, self.pool, rounds=call.rounds or self.rounds, retry_wait=self.retry_wait)

    def build(self, call: Call, endpoint: str) -> Request:
        """The concrete request for ``call`` on ``endpoint``."""
        headers = dict(self.headers)
        body = None
        if call.body is not None:
            body = json.dumps(call.body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        return Request(
            method=call.method,
            endpoint=endpoint,
            target=call.target,
            headers=headers,
            body=body,
            timeout=call.timeout or self.timeout,
            idempotent=call.kind is not Kind.UNSAFE,
        )

    def watch_session(self, name: str | None, since: int | None, **hooks: Any) -> WatchSession:
        """A watch of ``name`` (or everything) after ``since``, with this client's headers and timeout."""
        return WatchSession(self.pool, name=name, since=since, base_headers=self.headers,
                            timeout=self.timeout, **hooks)

    def should_refresh(self, call: Call) -> bool:
        """Whether to ask for the member list before ``call`` (and claim that refresh)."""
        if call.endpoint is not None or not self.pool.needs_refresh():
            return False
        self.pool.begin_refresh()
        return True


def json_object(response: Response) -> dict[str, Any]:
    """The response body as a JSON object, or a ``ManifestError`` saying it is not one."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ManifestError(
            f"unexpected answer (HTTP {response.status}): not a JSON object", code="bad_response"
        )
    return data
