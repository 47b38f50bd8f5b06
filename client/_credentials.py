"""What the client shows a registry: a bearer token, and for HTTPS the CA to trust and a client certificate.

Each argument left ``None`` is read from the environment:
``MANIFEST_TOKEN``, ``MANIFEST_CACERT`` (a PEM bundle of CAs to trust instead
of the system's), ``MANIFEST_CLIENT_CERT`` and ``MANIFEST_CLIENT_KEY`` (a
certificate and key to show a node that requires client certificates; the
key may be in the certificate file). They apply to every request the
client sends, watch streams included (the transports take the TLS context,
the core adds the header to every request). The token is kept out of
``repr``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Credentials"]

ENV = {"token": "MANIFEST_TOKEN", "cacert": "MANIFEST_CACERT", "client_cert": "MANIFEST_CLIENT_CERT",
       "client_key": "MANIFEST_CLIENT_KEY"}


@dataclass(frozen=True)
class Credentials:
    token: str | None = field(default=None, repr=False)
    cacert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **given: str | None) -> Credentials:
        """``given`` values, each ``None`` one from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        values = {name: given.get(name) if given.get(name) is not None else (env.get(var) or None)
                  for name, var in ENV.items()}
        if values["client_key"] and not values["client_cert"]:
            raise ValueError("a client key needs a client certificate (MANIFEST_CLIENT_CERT)")
        return cls(**values)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context for https:// endpoints, or ``None`` to use the transport's default (the system CAs)."""
        if not self.cacert and not self.client_cert:
            return None
        ctx = ssl.create_default_context(cafile=self.cacert)
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx
