"""The ``manifest`` command: node commands here, client commands from manifest_client.

``manifest node`` runs one cluster member; ``manifest dev`` runs a single-node
registry (or, with ``--nodes 3``, a local cluster) for development.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from . import config as config_mod
from . import logs

try:  # the client's commands (ls, get, register, ...) share the one entry point
    from manifest_client.cli import cli as _client_cli
except ImportError:  # pragma: no cover - both packages ship in one distribution
    _client_cli = None


def _group() -> click.Group:
    if _client_cli is not None:
        return _client_cli

    @click.group()
    def cli():
        """Manifest: a Raft-replicated service registry."""

    return cli


cli = _group()


def _node_options(fn):
    opts = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     envvar="MANIFEST_CONFIG", help="TOML file with any of these settings."),
        click.option("--id", "id", help="Node id, unique in the cluster [MANIFEST_ID]."),
        click.option("--api", help="HOST:PORT for the HTTP API [MANIFEST_API]."),
        click.option("--raft", help="HOST:PORT for Raft traffic [MANIFEST_RAFT]."),
        click.option("--peer", multiple=True, help="Another node's Raft HOST:PORT; repeat [MANIFEST_PEER, comma-separated]."),
        click.option("--data-dir", help="Journal and snapshots live here [MANIFEST_DATA_DIR]."),
        click.option("--cluster-secret", help="Shared secret encrypting Raft traffic [MANIFEST_CLUSTER_SECRET]."),
        click.option("--advertise-api", help="API URL other nodes and clients should use [MANIFEST_ADVERTISE_API]."),
        click.option("--fsync/--no-fsync", default=None, help="fsync every log entry (survives power loss) [MANIFEST_FSYNC]."),
        click.option("--log-format", type=click.Choice(["text", "json"]), help="[MANIFEST_LOG_FORMAT]"),
        click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="[MANIFEST_LOG_LEVEL]"),
        click.option("--tick-interval", type=float, help="Seconds between expiry ticks [MANIFEST_TICK_INTERVAL]."),
        click.option("--down-grace", type=float, help="Seconds a down instance is kept [MANIFEST_DOWN_GRACE]."),
        click.option("--max-body", type=int, help="Largest request body in bytes [MANIFEST_MAX_BODY]."),
        click.option("--compaction-entries", type=int, help="Compact the log past this many entries [MANIFEST_COMPACTION_ENTRIES]."),
        click.option("--compaction-interval", type=float, help="Compact at least this often, seconds [MANIFEST_COMPACTION_INTERVAL]."),
        click.option("--clock-offset", type=float, hidden=True,
                     help="Test only: shift this node's wall clock by SECONDS (fault injection)."),
        click.option("--watch-history", type=int, help="Changes kept for watchers to resume from [MANIFEST_WATCH_HISTORY]."),
        click.option("--watch-keepalive", type=float, help="Seconds between keep-alives on idle watch streams [MANIFEST_WATCH_KEEPALIVE]."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _load(flags: dict) -> config_mod.NodeConfig:
    config_file = flags.pop("config_file", None)
    try:
        return config_mod.load(flags, config_file=config_file)
    except config_mod.ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _serve(cfg: config_mod.NodeConfig) -> None:
    from .server import run  # aiohttp/pysyncobj imports only when serving

    logs.setup(cfg.log_format, cfg.log_level, cfg.id)
    run(cfg)


@cli.command("node")
@_node_options
def node_cmd(**flags):
    """Run one member of a Manifest cluster."""
    _serve(_load(flags))


@cli.command("dev")
@click.option("--nodes", type=click.IntRange(1, 7), default=1, show_default=True,
              help="Run this many nodes on loopback (3 makes a local HA cluster).")
@_node_options
def dev_cmd(nodes, **flags):
    """Run a development registry on 127.0.0.1:8500 with data in ./.manifest."""
    flags["api"] = flags.get("api") or "127.0.0.1:8500"
    flags["data_dir"] = flags.get("data_dir") or ".manifest/dev"
    if nodes == 1:
        if not flags.get("raft"):
            host, port = config_mod.split_hostport(flags["api"], "api")
            flags["raft"] = f"{host}:{port + 1}"
        flags["id"] = flags.get("id") or "dev"
        _serve(_load(flags))
        return
    _run_local_cluster(nodes, flags)


def local_cluster_args(nodes: int, api: str, data_dir: str) -> list[list[str]]:
    """``manifest node`` arguments for N nodes on consecutive loopback ports."""
    host, port = config_mod.split_hostport(api, "api")
    rafts = [f"{host}:{port + 2 * i + 1}" for i in range(nodes)]
    out = []
    for i in range(nodes):
        args = ["--id", f"n{i + 1}", "--api", f"{host}:{port + 2 * i}", "--raft", rafts[i],
                "--data-dir", os.path.join(data_dir, f"n{i + 1}")]
        for j, peer in enumerate(rafts):
            if j != i:
                args += ["--peer", peer]
        out.append(args)
    return out


def _run_local_cluster(nodes: int, flags: dict) -> None:
    passthrough = []
    for key in ("log_format", "log_level", "tick_interval", "down_grace", "cluster_secret"):
        if flags.get(key) is not None:
            passthrough += [f"--{key.replace('_', '-')}", str(flags[key])]
    if flags.get("fsync"):
        passthrough.append("--fsync")
    procs = []
    urls = []
    for args in local_cluster_args(nodes, flags["api"], flags["data_dir"]):
        procs.append(subprocess.Popen([sys.executable, "-m", "manifest_node", "node", *args, *passthrough]))
        urls.append("http://" + args[3])
    click.echo(f"local cluster of {nodes}: export MANIFEST_URL={','.join(urls)}", err=True)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(p.poll() is None for p in procs):
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    sys.exit(0 if stopping else 1)


def main() -> None:
    cli(prog_name="manifest")
