"""TLS for the API and for node-to-node requests, from the node's certificate files.

``TLSFiles`` builds two contexts once and keeps them for the process's life:
``server`` (what the API listener hands each new connection) and ``client``
(what a node uses to reach the others: forwarding, read-index, divergence
polls), which verifies peers against ``tls_peer_ca`` (else
``tls_client_ca``, else the system's CAs), host names included, and shows
the node's own certificate, so peers requiring client certificates (mTLS)
let it in.

Reloading (SIGHUP, or a changed file seen every ``tls_reload_interval``)
loads the new files into the same context objects: connections already
open keep the certificate they were made with, new ones get the new one, so
nothing is dropped. The files are first loaded into a scratch context; if
that fails (a half-copied key, a mismatched pair) the node keeps serving
with the old ones and logs why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl

from .config import NodeConfig
from .errors import StartupError

log = logging.getLogger("manifest.tls")


class TLSFiles:
    def __init__(self, cfg: NodeConfig):
        self.cert, self.key, self.client_ca = cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca
        self.peer_ca = cfg.tls_peer_ca or cfg.tls_client_ca
        self.required = cfg.tls_client_auth == "required"
        self.interval = cfg.tls_reload_interval
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.minimum_version = ssl.TLSVersion.TLSv1_2
        self.client = ssl.create_default_context(cafile=self.peer_ca)
        self.client.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.client_ca:
            self.server.verify_mode = ssl.CERT_REQUIRED if self.required else ssl.CERT_OPTIONAL
        self._load(self.server, self.client)  # a bad file at start is a start-up error
        self._stamp = self._mtimes()
        self.reloads = 0

    def _files(self) -> list[str]:
        return [f for f in (self.cert, self.key, self.client_ca, self.peer_ca) if f]

    def _mtimes(self) -> tuple:
        out = []
        for path in self._files():
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def _load(self, server: ssl.SSLContext, client: ssl.SSLContext) -> None:
        server.load_cert_chain(self.cert, self.key)
        client.load_cert_chain(self.cert, self.key)
        if self.client_ca:
            server.load_verify_locations(self.client_ca)
        if self.peer_ca:
            client.load_verify_locations(self.peer_ca)

    def reload(self) -> bool:
        """Load the files again; False (and the old certificates kept) if they do not load."""
        stamp = self._mtimes()
        try:
            self._load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            self._load(self.server, self.client)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("TLS files did not load; still serving the previous certificate: %s", exc)
            self._stamp = stamp  # do not retry the same broken files every interval
            return False
        self._stamp = stamp
        self.reloads += 1
        log.info("TLS certificate reloaded", extra={"cert": self.cert})
        return True

    def changed(self) -> bool:
        return self._mtimes() != self._stamp

    async def watch(self) -> None:
        """Reload on SIGHUP and whenever a file changes; until cancelled."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        try:
            loop.add_signal_handler(signal.SIGHUP, wake.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            pass
        try:
            while True:
                try:
                    await asyncio.wait_for(wake.wait(), self.interval)
                except TimeoutError:
                    pass
                if wake.is_set() or self.changed():
                    wake.clear()
                    self.reload()
        finally:
            try:
                loop.remove_signal_handler(signal.SIGHUP)
            except (NotImplementedError, RuntimeError, ValueError):
                pass


def load(cfg: NodeConfig) -> TLSFiles | None:
    """The node's TLS, or None without ``tls_cert``; files that do not load are a StartupError."""
    if not cfg.tls_cert:
        return None
    try:
        return TLSFiles(cfg)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise StartupError(f"tls_cert/tls_key/tls_client_ca: cannot load: {exc}") from None
