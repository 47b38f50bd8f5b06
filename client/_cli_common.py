"""What every ``manifest`` client command shares: its client, error handling and printing.

Split from cli.py so the commands of cli_features.py can use it without an import cycle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from ._errors import ConnectionFailed, InternalError, ManifestError, NotFound, OutcomeUnknown, Unavailable
from ._models import Instance
from ._output import age, echo, echo_json, status_cell, table
from ._sync_client import Registry

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_ERROR, EXIT_UNKNOWN = 0, 1, 2, 3, 4, 5

RegistryFactory = Callable[[str | None, float], Registry]
F = TypeVar("F", bound=Callable[..., Any])


def _default_factory(url: str | None, timeout: float) -> Registry:
    return Registry(url, timeout=timeout)


@dataclass
class ClientState:
    """Options of the group, and the registry built from them on first use."""

    url: str | None
    as_json: bool
    timeout: float
    factory: RegistryFactory
    _registry: Registry | None = field(default=None, repr=False)

    def registry(self) -> Registry:
        """The registry client for this invocation."""
        if self._registry is None:
            self._registry = self.factory(self.url, self.timeout)
        return self._registry

    def close(self) -> None:
        """Release the client's connections."""
        if self._registry is not None:
            self._registry.close()


def _state() -> ClientState:
    state: ClientState = click.get_current_context().find_root().obj["client"]
    return state


def _exit_code(exc: ManifestError) -> int:
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, OutcomeUnknown):  # before the others: not a failure
        return EXIT_UNKNOWN
    if isinstance(exc, (ConnectionFailed, Unavailable)):
        return EXIT_UNAVAILABLE
    return EXIT_ERROR


def _fail(message: str, code: int) -> None:
    echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    click.get_current_context().exit(code)


def _handles_errors(fn: F) -> F:
    """Turn registry errors (and surprises) into one stderr line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InternalError as exc:  # a bug on the server, not bad input and not an outage
            _fail(f"internal server error: {exc}", EXIT_ERROR)
        except ManifestError as exc:
            _fail(str(exc), _exit_code(exc))
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except ValueError as exc:  # bad endpoint URLs and the like
            _fail(str(exc), EXIT_USAGE)
        except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
            _fail(f"unexpected {type(exc).__name__}: {exc}", EXIT_ERROR)
        return None

    return wrapper  # type: ignore[return-value]


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", ctx=ctx, param=param)
        out[key] = value
    return out



def _instance_rows(instances: list[Instance]) -> list[list[Any]]:
    return [
        [i.name, i.id or "-", status_cell(i.status), i.version or "-", i.endpoint or "-",
         ",".join(i.tags) or "-", age(i.last_heartbeat)]
        for i in instances
    ]


def _print_instances(instances: list[Instance], revision: int) -> None:
    if _state().as_json:
        echo_json({"instances": [i.to_dict() for i in instances], "revision": revision})
    elif not instances:
        echo("no instances", err=True)
    else:
        echo(table(["SERVICE", "ID", "STATUS", "VERSION", "ENDPOINT", "TAGS", "HEARTBEAT"],
                   _instance_rows(instances)))


def _print_record(record: Instance) -> None:
    if _state().as_json:
        echo_json(record.to_dict())
        return
    data = record.to_dict()
    width = max(len(k) for k in data)
    for key, value in data.items():
        shown = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else (
            ", ".join(map(str, value)) if isinstance(value, list) else str(value))
        if key == "status":
            shown = click.style(shown, fg=status_cell(shown)[1])
        echo(f"{key.ljust(width)}  {shown}")

