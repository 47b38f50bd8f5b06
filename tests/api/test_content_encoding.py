"""Content-Encoding of request bodies (issue 10, point 7).

An invalid gzip body was a 503 (an unhandled zlib.error), an unknown coding
was silently taken as plain bytes, and nothing bounded what a small
compressed body could inflate to.
"""

import gzip
import json
import zlib

import pytest

REG = json.dumps({"name": "web", "id": "w1", "tags": ["blue"]}).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # the same bytes in every xdist worker


def deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


async def post(client, data: bytes, coding: str | None, path="/v1/services"):
    headers = {"Content-Type": "application/json"}
    if coding is not None:
        headers["Content-Encoding"] = coding
    return await client.post(path, data=data, headers=headers)


@pytest.mark.parametrize("coding,data", [
    ("gzip", gz(REG)), ("x-gzip", gz(REG)), ("GZIP", gz(REG)),
    ("deflate", zlib.compress(REG)), ("deflate", deflate_raw(REG)), ("identity", REG),
    ("identity, gzip", gz(REG)),
], ids=["gzip", "x-gzip", "GZIP", "deflate", "raw-deflate", "identity", "identity-gzip"])
async def test_supported_codings_are_decoded(client, store, coding, data):
    r = await post(client, data, coding)
    assert r.status == 201, await r.text()
    assert (await r.json())["tags"] == ["blue"]


@pytest.mark.parametrize("coding,data", [
    ("gzip", b"this is not gzip at all"),
    ("gzip", gz(REG)[:-12]),  # truncated
    ("gzip", gz(REG) + b"trailing"),
    ("deflate", b"\x78\x9c not deflate"),
    ("gzip", REG),
], ids=["garbage", "truncated", "trailing", "bad-deflate", "plain-as-gzip"])
async def test_undecodable_bodies_are_400(client, store, coding, data):
    r = await post(client, data, coding)
    assert r.status == 400, await r.text()
    err = (await r.json())["error"]
    assert err["code"] == "malformed" and err["field"] == "body" and coding in err["message"]
    assert store.proposed == []


@pytest.mark.parametrize("coding", ["zzz", "br", "compress", "gzip, gzip", "gzip;q=1"])
async def test_unknown_codings_are_415(client, store, coding):
    r = await post(client, REG, coding)
    assert r.status == 415, await r.text()
    err = (await r.json())["error"]
    assert err["code"] == "unsupported_media_type" and err["field"] == "Content-Encoding"
    assert store.proposed == []


async def test_a_gzip_bomb_is_413(client, store):
    """4 KiB is the limit (conftest); 64 MiB of zeros gzip to about 64 KiB, 8 MiB to 8 KiB."""
    bomb = gz(b'{"name": "web", "metadata": {"k": "' + b"0" * (8 << 20) + b'"}}')
    assert len(bomb) < 10_000
    r = await post(client, bomb[:4000], "gzip")  # within the limit compressed, 4 MiB decoded
    assert r.status == 413, await r.text()
    assert (await r.json())["error"]["code"] == "too_large"
    assert store.proposed == []


async def test_a_compressed_body_over_the_limit_is_413(client, store):
    noise = bytes(range(256)) * 64  # barely compresses
    r = await post(client, gz(noise), "gzip")
    assert r.status == 413


async def test_heartbeat_and_batch_bodies_are_decoded_too(client, store):
    await post(client, gz(REG), "gzip")
    r = await client.put("/v1/services/web/w1/heartbeat", data=gz(b'{"status": "unhealthy"}'),
                         headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status == 200 and (await r.json())["status"] == "unhealthy"
    r = await post(client, b"nope", "gzip", path="/v1/heartbeats")
    assert r.status == 400


async def test_a_coding_repeated_in_two_header_lines_counts_twice(client, store):
    r = await client.post("/v1/services", data=gz(gz(REG)), headers=[
        ("Content-Type", "application/json"), ("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")])
    assert r.status == 415
    assert store.proposed == []
