"""Printing for the CLI: aligned tables and colour for people, JSON for scripts.

Colour goes through ``click.style``/``click.echo``, which drop ANSI codes when
the stream is not a terminal; ``NO_COLOR`` turns it off everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

__all__ = ["Cell", "echo", "echo_json", "table", "status_cell", "age", "fmt_seconds"]

# A table cell: plain text, or text with a click colour name.
Cell = str | tuple[str, str | None]

_STATUS_COLOURS = {"up": "green", "unhealthy": "yellow", "down": "red", "leader": "cyan",
                   "ready": "green", "not ready": "red", "unreachable": "red"}


def _colour_flag() -> bool | None:
    return False if os.environ.get("NO_COLOR") else None


def echo(text: str = "", *, err: bool = False) -> None:
    """Print a line; colour only on a terminal."""
    click.echo(text, err=err, color=_colour_flag())


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (never coloured)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def status_cell(status: str | None) -> Cell:
    """A cell coloured by status or role."""
    text = status or "-"
    return (text, _STATUS_COLOURS.get(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """Columns padded to their widest cell; colour is applied after padding."""
    plain = [[c if isinstance(c, str) else c[0] for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in plain:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    last = len(headers) - 1
    lines = ["  ".join(click.style(h if i == last else h.ljust(w), bold=True)
                       for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    for row, cells in zip(plain, rows, strict=True):
        parts = []
        for i, (text, cell) in enumerate(zip(row, cells, strict=True)):
            padded = text.ljust(widths[i]) if i < len(row) - 1 else text
            colour = None if isinstance(cell, str) else cell[1]
            parts.append(click.style(padded, fg=colour) if colour else padded)
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def fmt_seconds(seconds: float | None) -> str:
    """A latency in the most readable unit."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def age(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``when`` was, compactly (``4s``, ``3m``, ``2h``, ``5d``)."""
    if when is None:
        return "-"
    delta = ((now or datetime.now(UTC)) - when).total_seconds()
    if delta < 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit}"
    return f"{int(delta)}s"
