"""The xDS server in this process on a fake store: readiness, pushes coalesced, shutdown ends streams."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from prometheus_client import CollectorRegistry

from manifest_node.config import NodeConfig
from manifest_node.fsm import commands as C
from manifest_node.fsm.validation import validate_registration
from manifest_node.mesh import resources as res
from manifest_node.mesh import server as mesh_server
from manifest_node.mesh import stream
from manifest_node.mesh.server import XdsServer
from tests.support.ads import decode, endpoints
from tests.support.cluster import free_port
from tests.support.eventually import eventually
from tests.support.fake_store import FakeStore


def register(store, iid: str, port: int) -> None:
    store.apply(C.register(validate_registration({"name": "orchestrator", "id": iid, "address": "10.0.0.1",
                                                   "port": port})))


@pytest.fixture
async def served():
    store = FakeStore()
    port = free_port()
    server = XdsServer(store, NodeConfig(insecure=True, xds=f"127.0.0.1:{port}").validate(), CollectorRegistry())
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield store, server, ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    await channel.close()
    await server.stop()


def eds_request(names=("orchestrator",), response=None):
    req = discovery_pb2.DiscoveryRequest(type_url=res.ENDPOINT, resource_names=list(names))
    if response is not None:
        req.version_info, req.response_nonce = response.version_info, response.nonce
    return req


async def test_a_node_that_is_not_ready_takes_no_new_stream(served):
    store, _, stub = served
    store.available = False
    call = stub.StreamAggregatedResources()
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the refusal may come before the write is done
        await call.write(eds_request())
        await call.read()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE and "not ready" in err.value.details()


async def test_entries_applied_together_are_one_push(served):
    store, server, stub = served
    register(store, "o1", 7001)
    call = stub.StreamAggregatedResources()
    await call.write(eds_request())
    first = await call.read()
    await call.write(eds_request(response=first))
    for i in range(2, 6):  # four entries applied in one turn of the loop
        register(store, f"o{i}", 7000 + i)
    pushed = await asyncio.wait_for(call.read(), 5)
    assert len(endpoints(decode(pushed)["orchestrator"])) == 5
    await call.write(eds_request(response=pushed))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(call.read(), 0.3)  # nothing more was queued
    assert server.metrics.streams._value.get() == 1


async def test_stopping_the_server_ends_its_streams(served):
    store, server, stub = served
    call = stub.StreamAggregatedResources()
    await call.write(eds_request())
    await call.read()
    await server.stop()
    ended = False
    try:
        while not ended:  # a TimeoutError here: the stream outlived its server
            ended = await asyncio.wait_for(call.read(), 5) is grpc.aio.EOF
    except grpc.aio.AioRpcError:
        ended = True
    assert ended


async def test_a_request_naming_too_many_resources_ends_its_stream_with_resource_exhausted(served):
    store, server, stub = served
    register(store, "o1", 7001)
    call = stub.StreamAggregatedResources()
    await call.write(eds_request([f"svc-{i}" for i in range(stream.MAX_NAMES + 1)]))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        while await asyncio.wait_for(call.read(), 10) is not grpc.aio.EOF:
            pass
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"at most {stream.MAX_NAMES}" in err.value.details()
    await eventually(lambda: server.metrics.streams._value.get() == 0, 10, "the refused stream to be gone")
    # At the limit a stream is served as any other.
    ok = stub.StreamAggregatedResources()
    await ok.write(eds_request(["orchestrator", *(f"svc-{i}" for i in range(stream.MAX_NAMES - 1))]))
    first = await asyncio.wait_for(ok.read(), 10)
    assigned = decode(first)
    assert len(assigned) == stream.MAX_NAMES and len(endpoints(assigned["orchestrator"])) == 1
    ok.cancel()


async def test_streams_past_the_maximum_are_refused_with_resource_exhausted(monkeypatch):
    monkeypatch.setattr(mesh_server, "MAX_STREAMS", 2)
    store = FakeStore()
    register(store, "o1", 7001)
    port = free_port()
    server = XdsServer(store, NodeConfig(insecure=True, xds=f"127.0.0.1:{port}").validate(), CollectorRegistry())
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    try:
        held = []
        for _ in range(2):
            call = stub.StreamAggregatedResources()
            await call.write(eds_request())
            await asyncio.wait_for(call.read(), 10)
            held.append(call)
        refused = stub.StreamAggregatedResources()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await refused.write(eds_request())
            await asyncio.wait_for(refused.read(), 10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        held.pop().cancel()  # a place comes free: a new stream is served again

        async def served_again() -> bool:
            call = stub.StreamAggregatedResources()
            try:
                await call.write(eds_request())
                await asyncio.wait_for(call.read(), 10)
            except grpc.aio.AioRpcError:
                return False
            held.append(call)
            return True

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await served_again():
            assert loop.time() < deadline, "no stream was served after one ended"
            await asyncio.sleep(0.05)
        for call in held:
            call.cancel()
    finally:
        await channel.close()
        await server.stop()
