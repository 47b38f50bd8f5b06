"""``manifest graph``, ``drain``, ``maintenance``, ``pick`` and ``register-many`` (issue 13).

Plain click commands; cli.py adds them to the group.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from ._cli_common import _handles_errors, _print_record, _state
from ._models import Check, Graph, Impact
from ._output import echo, echo_json, status_cell, table
from ._pick import STRATEGIES

__all__ = ["FEATURE_COMMANDS", "check_options", "check_from_options", "graph_tree", "graph_dot"]

_CHECK_FIELDS = ("interval", "timeout", "success_before_up", "failures_before_unhealthy", "failures_before_down")


def check_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--check-*`` options of ``register`` (and register-many's defaults)."""
    options = [
        click.option("--check-http", metavar="URL", help="Health check: GET URL, 2xx passes (run by the leader)."),
        click.option("--check-tcp", metavar="HOST:PORT", help="Health check: a TCP connect passes."),
        click.option("--check-grpc", metavar="HOST:PORT[/SERVICE]", help="Health check: gRPC health protocol."),
        click.option("--check-interval", type=click.FloatRange(1, 3600), help="Seconds between probes (10)."),
        click.option("--check-timeout", type=click.FloatRange(0.1, 60), help="Seconds a probe may take (2)."),
        click.option("--check-success-before-up", type=click.IntRange(1, 100)),
        click.option("--check-failures-before-unhealthy", type=click.IntRange(1, 100)),
        click.option("--check-failures-before-down", type=click.IntRange(1, 1000)),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def check_from_options(opts: dict[str, Any]) -> Check | None:
    kinds = {k: opts.get(f"check_{k}") for k in ("http", "tcp", "grpc") if opts.get(f"check_{k}")}
    if not kinds:
        if any(opts.get(f"check_{k}") is not None for k in _CHECK_FIELDS):
            raise click.UsageError("--check-* settings need --check-http, --check-tcp or --check-grpc")
        return None
    if len(kinds) > 1:
        raise click.UsageError("give one of --check-http, --check-tcp, --check-grpc")
    return Check(**kinds, **{k: opts.get(f"check_{k}") for k in _CHECK_FIELDS})


def graph_tree(graph: Graph, root: str | None = None) -> list[str]:
    """Each service with what it depends on below it; unmet dependencies marked."""
    by_source: dict[str, list] = {}
    for e in graph.edges:
        by_source.setdefault(e.source, []).append(e)
    lines: list[str] = []

    def walk(name: str, prefix: str, seen: frozenset) -> None:
        for i, e in enumerate(by_source.get(name, [])):
            last = i == len(by_source[name]) - 1
            mark = "" if e.satisfied else "  [unmet]"
            loop = "  [cycle]" if e.target in seen else ""
            lines.append(f"{prefix}{'└── ' if last else '├── '}{e.declared}{mark}{loop}")
            if not loop:
                walk(e.target, prefix + ("    " if last else "│   "), seen | {e.target})

    roots = [root] if root else [n.name for n in graph.nodes if n.registered]
    for name in roots:
        lines.append(name)
        walk(name, "", frozenset({name}))
    if graph.cycles:
        lines.append("cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in graph.cycles))
    return lines


def graph_dot(graph: Graph) -> str:
    out = ["digraph manifest {", "  rankdir=LR;"]
    for n in graph.nodes:
        label = n.name + ("\\n" + " ".join(f"{k}:{v}" for k, v in sorted(n.counts.items())) if n.counts else "")
        style = "" if n.registered else ", style=dashed"
        out.append(f'  "{n.name}" [label="{label}"{style}];')
    for e in graph.edges:
        attrs = f'label="{e.range or ""}"' + ("" if e.satisfied else ", color=red, style=dashed")
        out.append(f'  "{e.source}" -> "{e.target}" [{attrs}];')
    out.append("}")
    return "\n".join(out)


def _impact_lines(imp: Impact) -> list[str]:
    if not imp.impacted:
        return [f"nothing depends on {imp.service}"]
    rows = [[i.name, str(i.depth), ",".join(i.via), "yes" if i.has_other_provider else "no"] for i in imp.impacted]
    lines = table(["SERVICE", "DEPTH", "VIA", "OTHER PROVIDER"], rows).split("\n")
    if imp.cycles:
        lines.append("cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in imp.cycles))
    return lines


@click.command("graph")
@click.argument("service", required=False)
@click.option("--impact", is_flag=True, help="What breaks if SERVICE goes: its transitive dependents.")
@click.option("--id", "id_", help="With --impact: only this instance of SERVICE goes.")
@click.option("--dot", is_flag=True, help="Graphviz DOT instead of a tree.")
@_handles_errors
def graph_command(service: str | None, impact: bool, id_: str | None, dot: bool) -> None:
    """The dependency graph as a tree (or DOT); with --impact, who depends on SERVICE."""
    reg = _state().registry()
    if impact:
        if not service:
            raise click.UsageError("--impact needs a SERVICE")
        imp = reg.impact(service, id_)
        if _state().as_json:
            echo_json({"service": imp.service, "id": imp.id, "cycles": imp.cycles, "revision": imp.revision,
                       "impacted": [i.__dict__ for i in imp.impacted]})
        else:
            echo("\n".join(_impact_lines(imp)))
        return
    g = reg.graph()
    if _state().as_json:
        echo_json({"nodes": [n.__dict__ for n in g.nodes], "edges": [e.__dict__ for e in g.edges],
                   "cycles": g.cycles, "revision": g.revision})
    elif dot:
        echo(graph_dot(g))
    else:
        echo("\n".join(graph_tree(g, service)))


def _show(record) -> None:
    if _state().as_json:
        echo_json(record.to_dict())
    else:
        echo(f"{record.name}/{record.id}: {record.status}")


@click.command("drain")
@click.argument("name")
@click.argument("id")
@click.option("--deadline", type=click.FloatRange(0, 86400), help="Remove it after this many seconds.")
@click.option("--cancel", is_flag=True, help="End draining instead.")
@_handles_errors
def drain_command(name: str, id: str, deadline: float | None, cancel: bool) -> None:
    """Drain an instance: listed, but out of pick and default discovery; removed at the deadline."""
    reg = _state().registry()
    _show(reg.undrain(name, id) if cancel else reg.drain(name, id, deadline=deadline))


@click.command("maintenance")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.argument("name")
@click.argument("id")
@click.option("--reason", help="Why (shown on the record).")
@_handles_errors
def maintenance_command(state: str, name: str, id: str, reason: str | None) -> None:
    """Put an instance in maintenance (never expired meanwhile), or take it out."""
    _show(_state().registry().maintenance(name, id, state == "on", reason=reason))


@click.command("pick")
@click.argument("name")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="round_robin", show_default=True)
@click.option("--tag", multiple=True, help="Only instances with every one of these tags.")
@click.option("--version", "version_", help="A version range, e.g. >=1.2,<2.")
@_handles_errors
def pick_command(name: str, strategy: str, tag: tuple[str, ...], version_: str | None) -> None:
    """Let the registry choose one instance of NAME."""
    _print_record(_state().registry().choose(name, strategy, tags=tag or None, version=version_))


@click.command("register-many")
@click.argument("file", type=click.File("r"))
@click.option("--strict/--no-strict", default=None, help="Refuse the batch when a dependency is unmet.")
@_handles_errors
def register_many_command(file: Any, strict: bool | None) -> None:
    """Register up to 500 instances from a JSON file (a list of records): all, or none."""
    try:
        items = json.load(file)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="FILE") from None
    if isinstance(items, dict):
        items = items.get("instances")
    if not isinstance(items, list):
        raise click.BadParameter("expected a list of records (or {\"instances\": [...]})", param_hint="FILE")
    records = _state().registry().register_many(items, strict=strict)
    if _state().as_json:
        echo_json({"instances": [r.to_dict() for r in records]})
    else:
        echo(table(["SERVICE", "ID", "STATUS", "GENERATION"],
                   [[r.name, r.id or "-", status_cell(r.status), str(r.generation)] for r in records]))


FEATURE_COMMANDS = (graph_command, drain_command, maintenance_command, pick_command, register_many_command)
