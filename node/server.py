"""Run one node: config in, aiohttp on asyncio behind the connection guard, clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time

from aiohttp import web

from .api.app import create_app
from .api.connections import ConnectionGuard, GuardedSite
from .api.keys import METRICS, STORE
from .checks.prober import Prober
from .config import NodeConfig, split_hostport
from .consensus.store import Store
from .dns import DnsServer
from . import memory
from .mesh.launch import xds_server
from . import tls as tls_mod
from .startup import UMASK, StartupError, check_data_dir

log = logging.getLogger("manifest.node")


def run(cfg: NodeConfig) -> None:
    started = time.monotonic()
    malloc_tuned = memory.tune()  # before pysyncobj's and the executor's threads exist
    os.umask(UMASK)  # journal, meta and snapshots: 0600, directories 0700
    for warning in check_data_dir(cfg.data_dir, cfg.recover):  # raises StartupError before anything binds
        log.warning(warning)
    gc.set_threshold(*memory.GC_THRESHOLDS)  # why: node/memory.py
    tls = tls_mod.load(cfg)  # a certificate that does not load stops the start (exit 2)
    store = Store(cfg, client_ssl=tls.client if tls else None)
    app = create_app(store, cfg)
    # After the store's own start-up context: probes need a running store.
    app.cleanup_ctx.append(Prober(store, cfg.id, cfg.check_concurrency, app[METRICS],
                                   cfg.check_targets == "own", cfg.loopback_checks).context)

    async def announce(app):
        log.info("node starting", extra={"api": cfg.api_url, "raft": cfg.raft, "peers": list(cfg.peer),
                                          "data_dir": cfg.data_dir, "fsync": cfg.fsync, "auth": cfg.auth_on,
                                          "tls": tls is not None, "mtls": bool(cfg.tls_client_ca), "malloc": malloc_tuned,
                                          "startup_s": round(time.monotonic() - started, 3)})
        if cfg.auth_on and not cfg.bootstrap_token and not cfg.tls_cert_roles:
            log.warning("auth is on without a bootstrap token: only tokens already in the registry get in "
                        "(set MANIFEST_BOOTSTRAP_TOKEN or --bootstrap-token-file to create the first)")

    app.on_startup.append(announce)
    # The standard loop, not uvloop: uvloop closes descriptors it no longer owns when
    # aiohttp's connects are cancelled (MagicStack/uvloop#653, aio-libs/aiohttp#10506):
    # chaos seeds 101 and 404 saw the journal's descriptor closed under it and
    # forwarded requests fail with "File descriptor N is used by transport".
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, cfg, tls))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass  # SIGTERM or SIGINT: main's clean-up runs below
    finally:
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    log.info("node stopped")


async def _serve(app: web.Application, cfg: NodeConfig, tls=None) -> None:
    """Serve until cancelled; then close the listener, let in-flight requests finish (5 s), stop Raft.

    What web.run_app does, but with our own site: run_app's TCPSite would
    hand every connection to aiohttp unguarded.
    """
    host, port = split_hostport(cfg.api, "api")
    # handle_signals: SIGTERM/SIGINT raise GracefulExit out of the loop (see run).
    runner = web.AppRunner(app, handle_signals=True, access_log=None, shutdown_timeout=5.0)
    # Before anything starts: a missing 'mesh' extra stops the start with nothing to undo.
    xds = xds_server(app[STORE], cfg, app[METRICS].registry) if cfg.xds_address else None
    await runner.setup()
    dns = DnsServer(app[STORE], cfg) if cfg.dns_address else None
    try:
        guard = ConnectionGuard(cfg, app[METRICS])
        guard.warn_if_starved()
        try:
            await GuardedSite(runner, host, port, guard, ssl_context=tls.server if tls else None).start()
        except OSError as exc:
            raise StartupError(f"cannot listen on the API address {cfg.api}: {exc.strerror or exc}") from None
        if dns is not None:
            try:
                await dns.start()
            except OSError as exc:
                raise StartupError(f"cannot listen on the DNS address {cfg.dns} (dns): {exc.strerror or exc}") from None
        if xds is not None:
            await xds.start()
        trimming = asyncio.create_task(memory.trimming())
        try:
            if tls is not None:
                await tls.watch()  # runs until cancelled, as the wait below does
            await asyncio.Event().wait()
        finally:
            trimming.cancel()
    finally:
        if xds is not None:
            await xds.stop()
        if dns is not None:
            await dns.stop()
        await runner.cleanup()
