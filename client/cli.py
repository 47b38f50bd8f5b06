"""The client side of the ``manifest`` command: look at and change a registry from a shell.

``cli`` is the click group; node commands (``dev``, ``node``) are added to it
by the server package.  Exit codes: 0 ok, 1 not found, 2 usage, 3 registry
unavailable or unreachable, 4 any other error.  Errors are one line on
stderr, never a traceback.

How commands get their client: ``ctx.obj`` is a dict; if it holds
``"registry_factory"`` (a callable ``(url, timeout) -> Registry``), that is
used instead of building a :class:`Registry` on the real transport.  Tests
pass ``obj={"registry_factory": ...}`` to ``CliRunner.invoke``.
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from ._errors import ConnectionFailed, ManifestError, NotFound, Unavailable
from ._inspect import member_lags, scrape_metrics
from ._metrics import QUANTILES
from ._models import STATUSES, Instance
from ._output import age, echo, echo_json, fmt_seconds, status_cell, table
from ._sync_client import Registry

__all__ = ["cli", "main", "EXIT_OK", "EXIT_NOT_FOUND", "EXIT_USAGE", "EXIT_UNAVAILABLE", "EXIT_ERROR"]

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_ERROR = 0, 1, 2, 3, 4

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


@click.group(name="manifest")
@click.option("--url", envvar="MANIFEST_URL", default=None, metavar="URL[,URL...]",
              help="Registry endpoints (default: $MANIFEST_URL or http://127.0.0.1:8500).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=5.0, show_default=True,
              help="Per-request timeout in seconds.")
@click.pass_context
def cli(ctx: click.Context, url: str | None, as_json: bool, timeout: float) -> None:
    """Manifest: a Raft-replicated service registry."""
    obj = ctx.ensure_object(dict)
    state = ClientState(url, as_json, timeout, obj.get("registry_factory", _default_factory))
    obj["client"] = state
    ctx.call_on_close(state.close)


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


@cli.command("ls")
@click.option("--service", "-s", help="Only this service.")
@click.option("--status", multiple=True, type=click.Choice(STATUSES),
              help="Only these statuses (repeatable).")
@click.option("--tag", multiple=True, help="Only instances with every one of these tags (repeatable).")
@_handles_errors
def ls_command(service: str | None, status: tuple[str, ...], tag: tuple[str, ...]) -> None:
    """List instances."""
    found = _state().registry().list_instances(service=service, status=status or None, tags=tag or None)
    _print_instances(found, found.revision)


@cli.command("get")
@click.argument("name")
@click.argument("id", required=False)
@_handles_errors
def get_command(name: str, id: str | None) -> None:
    """Show one instance, or every instance of a service."""
    reg = _state().registry()
    if id is None:
        found = reg.list_instances(service=name)
        _print_instances(found, found.revision)
    else:
        _print_record(reg.get(name, id))


@cli.command("register")
@click.argument("name")
@click.option("--id", "id_", help="Instance id (generated by the server if omitted).")
@click.option("--address", help="Address other services use to reach it.")
@click.option("--port", type=click.IntRange(0, 65535))
@click.option("--version", "version_", help="Semantic version.")
@click.option("--tag", multiple=True, help="Tag (repeatable).")
@click.option("--meta", multiple=True, callback=_pairs, metavar="KEY=VALUE", help="Metadata (repeatable).")
@click.option("--interface", multiple=True, callback=_pairs, metavar="NAME=URL",
              help="Interface (repeatable).")
@click.option("--depends-on", multiple=True, help="A service this one needs (repeatable).")
@click.option("--ttl", type=click.FloatRange(min=0, min_open=True),
              help="Seconds without heartbeat before down.")
@_handles_errors
def register_command(name: str, id_: str | None, address: str | None, port: int | None,
                     version_: str | None, tag: tuple[str, ...], meta: dict[str, str],
                     interface: dict[str, str], depends_on: tuple[str, ...], ttl: float | None) -> None:
    """Register (or update) an instance once; nothing sends its heartbeats."""
    instance = Instance(name=name, id=id_, address=address, port=port, version=version_,
                        tags=list(tag), metadata=meta, interfaces=interface,
                        dependencies=list(depends_on), ttl=ttl)
    record = _state().registry().register_instance(instance)
    if _state().as_json:
        echo_json(record.to_dict())
    else:
        echo(f"registered {record.name}/{record.id} ({record.status or 'pending'})")


@cli.command("deregister")
@click.argument("name")
@click.argument("id")
@_handles_errors
def deregister_command(name: str, id: str) -> None:
    """Remove an instance."""
    _state().registry().deregister(name, id)
    if _state().as_json:
        echo_json({"deregistered": {"name": name, "id": id}})
    else:
        echo(f"deregistered {name}/{id}")


@cli.command("heartbeat")
@click.argument("name")
@click.argument("id")
@click.option("--status", type=click.Choice(["up", "unhealthy"]), default="up", show_default=True)
@_handles_errors
def heartbeat_command(name: str, id: str, status: str) -> None:
    """Send one heartbeat for an instance."""
    record = _state().registry().heartbeat(name, id, status)
    if _state().as_json:
        echo_json(record.to_dict() if record else {"name": name, "id": id, "status": status})
    else:
        echo(f"heartbeat sent for {name}/{id} ({status})")


@cli.command("watch")
@click.argument("service", required=False)
@click.option("--since", type=click.IntRange(min=0), default=None,
              help="Replay changes after this revision (default: only new ones).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many events.")
@_handles_errors
def watch_command(service: str | None, since: int | None, count: int | None) -> None:
    """Print changes as they happen, one line each (JSON lines with --json); Ctrl-C stops."""
    seen = 0
    try:
        for event in _state().registry().watch(service, since=since):
            if _state().as_json:  # JSON lines: one object per event, for pipes
                echo(json.dumps({"revision": event.revision, "event": event.kind, "reason": event.reason,
                                 "instance": event.instance.to_dict() if event.instance else None,
                                 "instances": [i.to_dict() for i in event.instances] or None},
                                default=str))
            elif event.kind == "reset":
                echo(f"{event.revision:>8}  reset        {len(event.instances)} instances")
            else:
                inst = event.instance
                why = f" ({event.reason})" if event.reason else ""
                echo(f"{event.revision:>8}  {event.kind:<12} {inst.name}/{inst.id} {inst.status}{why}")
            seen += 1
            if count is not None and seen >= count:
                return
    except KeyboardInterrupt:
        return


@cli.command("health")
@_handles_errors
def health_command() -> None:
    """Readiness of every known node (exit 3 unless all are ready)."""
    report = _state().registry().health_all()
    if _state().as_json:
        echo_json([h.to_dict() for h in report])
    else:
        rows = [[h.endpoint, status_cell("ready" if h.ready else (h.status if h.status == "unreachable"
                                                                  else "not ready")),
                 status_cell(h.role), h.leader or "-", "-" if h.revision is None else str(h.revision),
                 str(h.extra.get("error", ""))] for h in report]
        echo(table(["ENDPOINT", "STATE", "ROLE", "LEADER", "REVISION", "ERROR"], rows))
    if not all(h.ready for h in report):
        click.get_current_context().exit(EXIT_UNAVAILABLE)


@cli.command("cluster")
@_handles_errors
def cluster_command() -> None:
    """Members, their roles and lag, the leader and the term."""
    reg = _state().registry()
    info = reg.cluster()
    lags = member_lags(reg, info)
    if _state().as_json:
        data = info.to_dict()
        for member in data["members"]:
            member["lag"] = lags.get(member["id"])
        echo_json(data)
        return
    echo(f"leader: {info.leader or 'none'}   term: {info.term if info.term is not None else '-'}   "
         f"commit: {info.commit_index if info.commit_index is not None else '-'}   "
         f"applied: {info.applied_index if info.applied_index is not None else '-'}")
    rows = []
    for m in info.members:
        lag = lags.get(m.id)
        lag_cell = status_cell("unreachable") if lag == "unreachable" else ("-" if lag is None else str(lag))
        rows.append([m.id, status_cell(m.role), m.api or "-", m.raft or "-", lag_cell])
    echo(table(["ID", "ROLE", "API", "RAFT", "LAG"], rows))


@cli.command("stats")
@click.option("--sample", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds between two /metrics scrapes for the heartbeat rate (0: skip).")
@_handles_errors
def stats_command(sample: float) -> None:
    """Instance counts by status, heartbeat rate and request latency."""
    reg = _state().registry()
    instances = reg.list_instances()
    by_service: dict[str, Counter[str]] = defaultdict(Counter)
    for inst in instances:
        by_service[inst.name][inst.status or "unknown"] += 1
    totals: Counter[str] = sum(by_service.values(), Counter())
    metrics = scrape_metrics(reg, sample)
    if _state().as_json:
        latency = [{"route": r.route, "method": r.method, "count": r.count,
                    **{f"p{int(q * 100)}": v for q, v in r.quantiles.items()}}
                   for r in (metrics or {}).get("latency", [])]
        echo_json({"instances": {"total": len(instances), "by_status": dict(totals),
                                 "by_service": {k: dict(v) for k, v in sorted(by_service.items())}},
                   "metrics": None if metrics is None else {**metrics, "latency": latency}})
        return
    columns = list(STATUSES) + sorted(set(totals) - set(STATUSES))
    rows = [[name] + [str(counts.get(c, 0)) for c in columns] + [str(sum(counts.values()))]
            for name, counts in sorted(by_service.items())]
    rows.append(["TOTAL"] + [str(totals.get(c, 0)) for c in columns] + [str(len(instances))])
    echo(table(["SERVICE"] + [c.upper() for c in columns] + ["TOTAL"], rows))
    echo()
    if metrics is None:
        echo("metrics: no node answered /metrics")
        return
    hb_total, rate = metrics["heartbeats_total"], metrics["heartbeat_rate"]
    hb = "not exported" if hb_total is None else f"{hb_total:g} total"
    if rate is not None:
        hb += f", {rate:.2f}/s over {sample:g}s"
    echo(f"heartbeats ({metrics['endpoint']}): {hb}")
    if metrics["latency"]:
        echo(table(["ROUTE", "METHOD", "COUNT"] + [f"P{int(q * 100)}" for q in QUANTILES],
                   [[r.route, r.method, f"{r.count:g}"] + [fmt_seconds(r.quantiles.get(q)) for q in QUANTILES]
                    for r in metrics["latency"]]))
    else:
        echo("latency: not exported")


def main() -> None:
    """Run the ``manifest`` command group (console-script entry point)."""
    cli(prog_name="manifest")
