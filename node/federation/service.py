"""The node's federation: its directory of regions, the prober, the forwarder and the policy, in one place.

Built from the NodeConfig by the app factory; ``context`` is its
aiohttp cleanup context: the HTTP client session and the prober live
exactly as long as the app. With no ``federate`` configured nothing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import aiohttp

from ..config import NodeConfig
from ..errors import StartupError
from .directory import Directory
from .forward import Forwarder
from .policy import FailoverPolicy
from .prober import Prober
from .settings import FROM_HEADER, TOKEN_HEADER
from .stream import RemoteWatch


def client_ssl(cfg: NodeConfig) -> ssl.SSLContext:
    """Verifies other regions' certificates (host names included); shows this node's own, for mTLS."""
    try:
        ctx = ssl.create_default_context(cafile=cfg.federation_ca or cfg.tls_peer_ca or cfg.tls_client_ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cfg.tls_cert:
            ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise StartupError(f"federation_ca: cannot load: {exc}") from None
    return ctx


class Federation:
    def __init__(self, cfg: NodeConfig):
        self.own = cfg.region
        self.cfg = cfg
        self.directory = Directory(cfg.region, cfg.federation_regions)
        default, per_service = cfg.failover_policy()
        self.policy = FailoverPolicy(cfg.region, default, per_service)
        self.headers = {FROM_HEADER: cfg.region}
        if cfg.federation_token:
            self.headers[TOKEN_HEADER] = cfg.federation_token
        https = any(u.startswith("https://") for urls in cfg.federation_regions.values() for u in urls)
        self._ssl = client_ssl(cfg) if https else None
        self.session: aiohttp.ClientSession | None = None
        self.forwarder: Forwarder | None = None
        self.prober: Prober | None = None
        self.watches: set[RemoteWatch] = set()  # followed remote streams, ended at shutdown

    @property
    def on(self) -> bool:
        return bool(self.directory.regions)

    def watch(self, region: str, query: list[tuple[str, str]], since: int | None,
              headers: dict[str, str]) -> RemoteWatch:
        idle = max(3 * self.cfg.watch_keepalive, 10.0)  # the remote's keep-alives stopped arriving
        remote = RemoteWatch(self.directory, self.session, {**self.headers, **headers}, region, query, since,
                             self.cfg.federation_timeout, idle)
        self.watches.add(remote)
        return remote

    async def end_streams(self, app) -> None:
        """on_shutdown: end the followed remote streams, as the local ones end, so shutdown does not wait."""
        for remote in list(self.watches):
            remote.close()

    async def context(self, app):
        if not self.on:
            yield
            return
        connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True, limit=256,
                                         limit_per_host=64, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False)
        self.forwarder = Forwarder(self.directory, self.session, self.headers, self.cfg.federation_timeout,
                                   self.cfg.federation_deadline)
        self.prober = Prober(self.directory, self.session, self.cfg.federation_probe_interval,
                             self.cfg.federation_timeout, {FROM_HEADER: self.own})
        task = asyncio.get_running_loop().create_task(self.prober.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.session.close()
