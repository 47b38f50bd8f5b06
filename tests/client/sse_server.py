"""A tiny registry look-alike that serves ``GET /v1/watch`` as Server-Sent Events, with or without TLS.

It runs aiohttp on its own thread and loop on a free loopback port. Each
stream sends ``retry:``, then every event after the request's
``Last-Event-ID``, then keeps the connection open and silent (a stalled
node, as far as the client can tell) until the server stops. Every watch
request's headers, and whether it came over TLS, are logged in ``watches``.
Also a self-signed CA and a server certificate for 127.0.0.1, made with
``cryptography`` at test time.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path


def make_certs(directory: Path) -> Certs:
    """A CA and a server certificate it signed, valid for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Manifest test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    certs = Certs(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    certs.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certs.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return certs


def frame(rev: int, kind: str, record: dict) -> bytes:
    return f"id: {rev}\nevent: {kind}\ndata: {json.dumps(record)}\n\n".encode()


class SSEServer:
    def __init__(self, events: list[tuple[int, str, dict]], certs: Certs | None = None) -> None:
        self.events = events
        self.watches: list[dict] = []  # headers of each watch request, plus "tls"
        self._certs = certs
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = ""

    async def watch(self, request: web.Request) -> web.StreamResponse:
        self.watches.append({**request.headers, "tls": request.transport.get_extra_info("ssl_object") is not None})
        since = int(request.headers.get("Last-Event-ID", request.query.get("since", "0")))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"retry: 1000\n\n")
        for rev, kind, record in self.events:
            if rev > since:
                await resp.write(frame(rev, kind, record))
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), 30)  # silent from here on
        except TimeoutError:
            pass
        return resp

    async def services(self, request: web.Request) -> web.Response:
        return web.json_response({"instances": [], "revision": 0})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/v1/watch", self.watch)
        app.router.add_get("/v1/services/{name}", self.services)
        runner = web.AppRunner(app, shutdown_timeout=1)
        self._loop.run_until_complete(runner.setup())
        context = None
        if self._certs is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._certs.cert, self._certs.key)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        self._loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        self.url = f"{'https' if context else 'http'}://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def start(self) -> SSEServer:
        self._thread.start()
        assert self._ready.wait(10), "server did not start"
        return self

    def stop(self) -> None:
        def stopping() -> None:
            assert self._stopping is not None
            self._stopping.set()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stopping)
        self._thread.join(10)
