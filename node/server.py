"""Run one node: config in, aiohttp on uvloop, clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from aiohttp import web

from .api.app import create_app
from .config import NodeConfig, split_hostport
from .consensus.store import Store

log = logging.getLogger("manifest.node")


def run(cfg: NodeConfig) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        uvloop = None
    started = time.monotonic()
    # Every write allocates dozens of containers (msgpack, records, events)
    # while the registry holds long-lived ones by the hundred thousand, so
    # CPython's default thresholds (a young collection every 700 allocations,
    # full ones traversing every instance) cost 13-15 % of a node's CPU under
    # registrations. Our own structures hold no reference cycles; the rarer
    # collections still reclaim aiohttp's.
    gc.set_threshold(100_000, 50, 100)
    store = Store(cfg)
    app = create_app(store, cfg)

    async def announce(app):
        log.info("node starting", extra={"api": cfg.api_url, "raft": cfg.raft, "peers": list(cfg.peer),
                                          "data_dir": cfg.data_dir, "fsync": cfg.fsync,
                                          "startup_s": round(time.monotonic() - started, 3)})

    app.on_startup.append(announce)
    host, port = split_hostport(cfg.api, "api")
    # run_app turns SIGTERM/SIGINT into a graceful stop: close the listener,
    # let in-flight requests finish, then run cleanup (which stops Raft).
    web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=5.0,
                handle_signals=True, loop=uvloop.new_event_loop() if uvloop else asyncio.new_event_loop())
    log.info("node stopped")
