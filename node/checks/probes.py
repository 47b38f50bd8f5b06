"""One probe of each kind: HTTP (2xx passes), TCP (a connect), gRPC (the standard health protocol).

Each is a coroutine that returns True (pass) or False (fail, including a
timeout) and never raises; none blocks the event loop. gRPC needs the
optional ``grpc`` extra (grpcio, grpcio-health-checking); without it a gRPC
check fails, and says why once in the log.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

log = logging.getLogger("manifest.checks")


async def http(session: aiohttp.ClientSession, url: str, timeout: float) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False) as r:
            return 200 <= r.status < 300
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
        return False


def _split(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


async def tcp(target: str, timeout: float) -> bool:
    host, port = _split(target)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError, ValueError):
        return False
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout)
    except (OSError, asyncio.TimeoutError):
        pass
    return True


class Grpc:
    """Channels kept per target (a channel per probe would cost a handshake each time)."""

    def __init__(self) -> None:
        self._channels: dict[str, object] = {}
        self._missing_logged = False
        try:
            import grpc.aio  # noqa: F401
            from grpc_health.v1 import health_pb2, health_pb2_grpc
        except ImportError:
            self._grpc = None
        else:
            import grpc

            self._grpc, self._pb, self._stub = grpc, health_pb2, health_pb2_grpc

    async def probe(self, target: str, timeout: float) -> bool:
        if self._grpc is None:
            if not self._missing_logged:
                log.warning("a gRPC check is configured but grpcio-health-checking is not installed "
                            "(pip install 'chora-manifest[grpc]'): gRPC checks fail")
                self._missing_logged = True
            return False
        address, _, service = target.partition("/")
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = self._grpc.aio.insecure_channel(address)
        try:
            reply = await self._stub.HealthStub(channel).Check(
                self._pb.HealthCheckRequest(service=service), timeout=timeout)
        except Exception:  # grpc.aio raises AioRpcError, and cancellation surfaces as others
            return False
        return reply.status == self._pb.HealthCheckResponse.SERVING

    async def forget(self, keep: set[str]) -> None:
        """Close the channels of targets no check uses any more."""
        for address in [a for a in self._channels if a not in keep]:
            channel = self._channels.pop(address)
            try:
                await channel.close()
            except Exception:  # closing a broken channel must not stop the prober
                pass
