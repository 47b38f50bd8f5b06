"""``manifest snapshot save|inspect|restore FILE``: backups of the whole registry.

``inspect`` reads the file only (no registry needed); ``save`` and
``restore`` need a token whose role has the ``snapshots`` permission
(admin) in ``$MANIFEST_TOKEN``. docs/operations.md, "Backup and restore",
is the procedure.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click

from ._cli_common import EXIT_ERROR, _fail, _handles_errors, _state
from ._credentials import Credentials
from ._endpoints import parse_endpoints
from ._output import echo, echo_json
from ._snapshot import restore as restore_file
from ._snapshot import save as save_file
from ._snapshot_file import SnapshotFileError, verify_file

__all__ = ["snapshot_group"]


@click.group("snapshot")
def snapshot_group() -> None:
    """Save, inspect and restore backups of the whole registry."""


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _age(ms: int) -> str:
    seconds = max(0.0, time.time() - ms / 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _summary(header: dict[str, Any], size: int) -> dict[str, Any]:
    return {"version": header["version"], "state_format": header.get("state_format"), "index": header["index"],
            "term": header["term"], "revision": header["revision"], "node": header.get("node"),
            "created_ms": header["created_ms"], "created_at": _when(header["created_ms"]),
            "age_seconds": round(max(0.0, time.time() - header["created_ms"] / 1000), 1),
            "counts": header["counts"], "size": size}


def _print_summary(path: str, info: dict[str, Any]) -> None:
    counts = info["counts"]
    echo(f"file:       {path} ({info['size']} bytes, checksum ok)")
    echo(f"format:     backup v{info['version']}, state format {info['state_format']}")
    echo(f"taken:      {info['created_at']} ({_age(info['created_ms'])} ago) on node {info['node'] or '-'}")
    echo(f"at:         index {info['index']}, term {info['term']}, revision {info['revision']}")
    echo(f"contents:   {counts.get('instances', 0)} instances in {counts.get('services', 0)} services, "
         f"{counts.get('tokens', 0)} tokens")


@snapshot_group.command("inspect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_handles_errors
def snapshot_inspect(file: str) -> None:
    """Check FILE's checksum and show what it holds (offline)."""
    try:
        header, size = verify_file(file)
    except SnapshotFileError as exc:
        _fail(f"{file}: {exc}", EXIT_ERROR)
        return
    info = _summary(header, size)
    if _state().as_json:
        echo_json({"file": file, **info})
    else:
        _print_summary(file, info)


@snapshot_group.command("save")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@_handles_errors
def snapshot_save(file: str) -> None:
    """Write a backup of the registry, taken at a committed, linearizable point, to FILE."""
    state = _state()
    result = save_file(parse_endpoints(state.url), Credentials.resolve(), file, state.timeout)
    info = _summary(result, result["size"])
    if state.as_json:
        echo_json({"file": file, "endpoint": result["endpoint"], **info})
    else:
        counts = info["counts"]
        echo(f"saved {file}: {counts.get('instances', 0)} instances, index {info['index']}, "
             f"revision {info['revision']}, {info['size']} bytes (from {result['endpoint']})")


@snapshot_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a registry that holds instances (else refused, 409).")
@_handles_errors
def snapshot_restore(file: str, force: bool) -> None:
    """Replace the whole registry, on every node, with FILE's state."""
    state = _state()
    try:
        result = restore_file(parse_endpoints(state.url), Credentials.resolve(), file, force, state.timeout)
    except SnapshotFileError as exc:
        _fail(f"{file}: {exc}; nothing was sent", EXIT_ERROR)
        return
    if state.as_json:
        echo_json(result)
    else:
        counts = result["restored"]["counts"]
        echo(f"restored {file}: {counts.get('instances', 0)} instances in {counts.get('services', 0)} services "
             f"(backup index {result['restored']['index']}); registry revision now {result['revision']}")
