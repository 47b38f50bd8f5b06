"""The node's commands: ``manifest node`` and ``manifest dev``.

``manifest node`` runs one cluster member; ``manifest dev`` runs a single-node
registry (or, with ``--nodes 3``, a local cluster) for development. Their
options are built from NodeConfig's fields. manifest_node.entry puts these
commands beside the client's in the ``manifest`` group; this module does not
know the client.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import subprocess
import sys
import time

import click

from . import config as config_mod
from . import config_load
from . import logs

# Flags hold the text as typed: config_load.load parses flags, env and TOML alike,
# so '--max-body ６４' is refused naming max_body, as MANIFEST_MAX_BODY=６４ is.
_METAVARS = {"int": "INTEGER", "float": "SECONDS"}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option(f: dataclasses.Field):
    """The click option for one NodeConfig field."""
    meta = f.metadata
    flag = flag_name(f.name)
    common = {"help": f"{meta['help']} [{config_load.env_name(f.name)}]", "hidden": meta["hidden"]}
    if f.type in ("bool", "bool | None"):
        decl = f"{flag}/--no-{flag[2:]}" if meta["negatable"] else flag
        return click.option(decl, f.name, is_flag=True, default=None, **common)
    check = meta["check"]
    if check is not None and check.choices:
        kind = {"type": click.Choice(check.choices, case_sensitive=not check.fold_case)}
    else:
        kind = {"metavar": meta["metavar"] or _METAVARS.get(f.type, "TEXT")}
    return click.option(flag, f.name, multiple=f.type.startswith("tuple"), **kind, **common)


def _node_options(fn):
    options = [click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="MANIFEST_CONFIG",
                            help="TOML file with any of these settings [MANIFEST_CONFIG].")]
    options += [_option(f) for f in dataclasses.fields(config_mod.NodeConfig) if f.metadata["flag"]]
    for option in reversed(options):  # the last decorator applied is the first in --help
        fn = option(fn)
    return fn


_ARGV_SECRET_WARNING = ("--cluster-secret on the command line is visible to every local user (ps, "
                        "/proc); prefer MANIFEST_CLUSTER_SECRET or --cluster-secret-file")
_ARGV_TOKEN_WARNING = ("--bootstrap-token on the command line is visible to every local user (ps, "
                       "/proc); prefer MANIFEST_BOOTSTRAP_TOKEN or --bootstrap-token-file")


def _argv_warnings(flags: dict) -> list[str]:
    return [w for name, w in (("cluster_secret", _ARGV_SECRET_WARNING), ("bootstrap_token", _ARGV_TOKEN_WARNING))
            if flags.get(name) is not None]


@contextlib.contextmanager
def _bad_settings_are_usage_errors():
    try:
        yield
    except config_mod.ConfigError as exc:  # exit 2, one line naming the setting
        raise click.UsageError(str(exc)) from None


def _merge(flags: dict, defaults: dict | None = None) -> dict:
    flags = dict(flags)
    config_file = flags.pop("config_file", None)
    with _bad_settings_are_usage_errors():
        return config_load.merge(flags, config_file=config_file, defaults=defaults)


def _build(values: dict) -> config_mod.NodeConfig:
    with _bad_settings_are_usage_errors():
        return config_load.build(values)


def _serve(cfg: config_mod.NodeConfig, warnings: list[str]) -> None:
    from .server import run  # aiohttp/pysyncobj imports only when serving
    from .startup import StartupError

    logs.setup(cfg.log_format, cfg.log_level, cfg.id)
    for warning in warnings:
        logging.getLogger("manifest.node").warning(warning)
    try:
        run(cfg)
    except StartupError as exc:
        # Like a bad setting: exit 2 with one line naming what is wrong, no traceback.
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


@click.command("node")
@_node_options
def node_cmd(**flags):
    """Run one member of a Manifest cluster."""
    _serve(_build(_merge(flags)), _argv_warnings(flags))


@click.command("dev")
@click.option("--nodes", type=click.IntRange(1, 7), default=1, show_default=True,
              help="Run this many nodes on loopback (3 makes a local HA cluster).")
@_node_options
def dev_cmd(nodes, **flags):
    """Run a development registry on 127.0.0.1:8500 with data in ./.manifest."""
    if flags.get("insecure"):
        raise click.UsageError("insecure: manifest dev always runs with a cluster secret (it makes one "
                               "unless given one); use manifest node --insecure")
    # Loopback is no protection on a shared machine: every local user can reach
    # the ports. A fresh secret and admin token per run, unless configured;
    # auth on as in production, rate limits off so that experiments are not throttled.
    token = secrets.token_urlsafe(32)
    defaults = {"id": "dev", "api": "127.0.0.1:8500", "data_dir": ".manifest/dev", "dns": "127.0.0.1:8600",
                "cluster_secret": secrets.token_urlsafe(32), "auth": True, "rate_limit": False,
                "bootstrap_token": token}
    values = _merge(flags, defaults)  # dev's defaults, overridden by flags, env and file alike
    if "raft" not in values:
        with _bad_settings_are_usage_errors():
            host, port = config_mod.split_hostport(values["api"], "api")
        values["raft"] = f"{host}:{port + 1}"
    cfg = _build(values)
    if cfg.auth_on and cfg.bootstrap_token == token:
        # On the terminal of whoever started it, never in the log.
        click.echo(f"bootstrap admin token (this run only): export MANIFEST_TOKEN={token}", err=True)
    warnings = _argv_warnings(flags)
    if nodes == 1:
        _serve(cfg, warnings)
        return
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    _run_local_cluster(nodes, cfg, _passthrough(flags))


# Set per node by local_cluster_args, or handed over in the environment (the secret).
_NOT_PASSED_THROUGH = {"id", "api", "raft", "peer", "data_dir", "advertise_api", "dns", "xds",
                       "cluster_secret", "cluster_secret_file", "bootstrap_token", "bootstrap_token_file",
                       "auth", "rate_limit"}


def _passthrough(flags: dict) -> list[str]:
    """The flags given to ``manifest dev`` that each of its nodes takes as they are."""
    out = ["--config", flags["config_file"]] if flags.get("config_file") else []
    for name, value in flags.items():
        if name in config_mod.FIELDS and name not in _NOT_PASSED_THROUGH:
            out += flag_args(name, value)
    return out


def flag_args(name: str, value) -> list[str]:
    """The command-line arguments that give setting ``name`` the value ``value`` (none for None)."""
    flag = flag_name(name)
    if value is None:
        return []
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    if isinstance(value, (tuple, list)):
        return [arg for item in value for arg in (flag, str(item))]
    return [flag, str(value)]


def local_cluster_args(nodes: int, api: str, data_dir: str, dns: str | None = None,
                       xds: str | None = None) -> list[list[str]]:
    """``manifest node`` arguments for N nodes on consecutive loopback ports (DNS and xDS too, when on)."""
    host, port = config_mod.split_hostport(api, "api")
    rafts = [f"{host}:{port + 2 * i + 1}" for i in range(nodes)]
    dns_at = config_mod.split_hostport(dns, "dns") if dns not in (None, "", "off") else None
    xds_at = config_mod.split_hostport(xds, "xds") if xds not in (None, "", "off") else None
    out = []
    for i in range(nodes):
        args = ["--id", f"n{i + 1}", "--api", f"{host}:{port + 2 * i}", "--raft", rafts[i],
                "--data-dir", os.path.join(data_dir, f"n{i + 1}")]
        if dns_at is not None:
            args += ["--dns", f"{dns_at[0]}:{dns_at[1] + i}"]
        if xds_at is not None:
            args += ["--xds", f"{xds_at[0]}:{xds_at[1] + i}"]
        for j, peer in enumerate(rafts):
            if j != i:
                args += ["--peer", peer]
        out.append(args)
    return out


def _run_local_cluster(nodes: int, cfg: config_mod.NodeConfig, passthrough: list[str]) -> None:
    # The secret goes through the environment, which only the same user (and
    # root) can read, never through argv, which ps shows to everyone.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MANIFEST_CLUSTER_SECRET_FILE", "MANIFEST_BOOTSTRAP_TOKEN_FILE")}
    env["MANIFEST_CLUSTER_SECRET"] = cfg.cluster_secret
    env["MANIFEST_AUTH"], env["MANIFEST_RATE_LIMIT"] = str(cfg.auth_on).lower(), str(cfg.rate_limit_on).lower()
    if cfg.bootstrap_token:
        env["MANIFEST_BOOTSTRAP_TOKEN"] = cfg.bootstrap_token
    procs = []
    urls = []
    for args in local_cluster_args(nodes, cfg.api, cfg.data_dir, cfg.dns, cfg.xds):
        procs.append(subprocess.Popen([sys.executable, "-m", "manifest_node", "node", *args, *passthrough],
                                      env=env))
        urls.append(("https://" if cfg.tls_cert else "http://") + args[3])
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
