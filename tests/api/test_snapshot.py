"""``GET /v1/snapshot``, ``POST /v1/snapshot/restore`` and ``GET /v1/health/live`` on a fake store."""

import random

import pytest

from manifest_node.fsm import backup
from manifest_node.fsm import commands as C
from tests.support.fake_store import FakeStore

BACKUP = "application/vnd.manifest.snapshot"


def fill(store: FakeStore, n: int, prefix="i") -> None:
    for start in range(0, n, 500):
        store.apply(C.batch([{"name": f"svc{j % 5}", "id": f"{prefix}{j}", "ttl": 30}
                             for j in range(start, min(n, start + 500))]))


def records(store: FakeStore) -> list:
    return [i.to_record() for _, i in sorted(store.fsm.instances.items())]


async def save(client) -> bytes:
    resp = await client.get("/v1/snapshot")
    assert resp.status == 200 and resp.headers["Content-Type"] == BACKUP
    return await resp.read()


async def test_save_is_a_linearizable_backup_of_every_instance(client, store):
    fill(store, 2100)
    data = await save(client)
    assert store.syncs[-1] is True  # a linearizable point, not this node's possibly stale state
    header, state = backup.read_bytes(data)
    assert header["index"] == store.index and header["revision"] == store.fsm.revision
    assert header["counts"] == {"instances": 2100, "services": 5, "tokens": 0}


async def test_save_without_a_leader_is_503_not_a_stale_file(client, store):
    store.available = False
    resp = await client.get("/v1/snapshot")
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "no_leader"


async def test_restore_into_an_empty_registry_then_refused_without_force(aiohttp_client, client, store):
    fill(store, 1200)
    data = await save(client)
    fresh = FakeStore(store.cfg)
    from manifest_node.api.app import create_app
    other = await aiohttp_client(create_app(fresh, fresh.cfg))
    resp = await other.post("/v1/snapshot/restore", data=data, headers={"Content-Type": BACKUP})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["restored"]["counts"]["instances"] == 1200 and body["revision"] == store.fsm.revision
    assert records(fresh) == records(store)
    # Now it holds instances: without force, 409 and nothing changes.
    fill(fresh, 1, prefix="extra")
    before = records(fresh)
    resp = await other.post("/v1/snapshot/restore", data=data)
    err = (await resp.json())["error"]
    assert resp.status == 409 and err["code"] == "registry_not_empty" and err["field"] == "force"
    assert records(fresh) == before
    resp = await other.post("/v1/snapshot/restore?force=true", data=data)
    assert resp.status == 200 and records(fresh) == records(store)


def damaged(data: bytes) -> dict:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    wrong = data.replace(b"\xa7version\x01", b"\xa7version\x02", 1)
    return {"flipped byte": (bytes(flipped), "checksum mismatch"),
            "truncated": (data[:len(data) - 100], "truncated"),
            "no checksum": (data[:-32], "truncated"),
            "empty": (b"", "empty"),
            "random bytes": (random.Random(3).randbytes(50_000), "bad magic"),
            "wrong version": (wrong, "unsupported backup file version 2")}


@pytest.mark.parametrize("case", list(damaged(b"x" * 200)))
async def test_a_damaged_file_is_400_naming_the_problem_and_changes_nothing(client, store, case):
    fill(store, 700)
    data, why = damaged(await save(client))[case]
    store.fsm.instances.clear()  # an empty registry: only the file can be the reason to refuse
    before, proposed = store.fsm.revision, len(store.proposed)
    resp = await client.post("/v1/snapshot/restore?force=true", data=data)
    err = (await resp.json())["error"]
    assert resp.status == 400 and err["code"] == "invalid_backup" and err["field"] == "body", err
    assert why in err["message"]
    assert len(store.proposed) == proposed and store.fsm.revision == before and not store.fsm.instances


async def test_restore_refuses_compressed_uploads_and_unknown_parameters(client, store):
    resp = await client.post("/v1/snapshot/restore", data=b"x", headers={"Content-Encoding": "gzip"})
    assert resp.status == 415
    resp = await client.post("/v1/snapshot/restore?forse=true", data=b"x")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "forse"
    resp = await client.post("/v1/snapshot/restore?force=maybe", data=b"x")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "force"


async def test_liveness_answers_without_a_leader(client, store):
    store.available = False
    resp = await client.get("/v1/health/live")
    assert resp.status == 200 and await resp.json() == {"status": "live"}
    assert (await client.get("/v1/health")).status == 503
