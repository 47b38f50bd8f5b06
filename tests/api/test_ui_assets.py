"""The dashboard's files under /ui/: types, caching, no way out of node/ui/, shipped in the wheel."""

import re
import tomllib
from pathlib import Path

import pytest

from manifest_node.api import ui

ROOT = Path(ui.ROOT)


async def test_index_and_redirect(client):
    r = await client.get("/ui", allow_redirects=False)
    assert r.status == 301 and r.headers["Location"] == "/ui/"
    r = await client.get("/ui/")
    assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Manifest" in await r.text()
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path,ctype", [("app.css", "text/css; charset=utf-8"),
                                        ("favicon.svg", "image/svg+xml; charset=utf-8"),
                                        ("js/main.js", "text/javascript; charset=utf-8")])
async def test_types_etag_and_gzip(client, path, ctype):
    r = await client.get(f"/ui/{path}", headers={"Accept-Encoding": "identity"})
    assert r.status == 200 and r.headers["Content-Type"] == ctype
    assert await r.read() == (ROOT / path).read_bytes()
    etag = r.headers["ETag"]
    again = await client.get(f"/ui/{path}", headers={"If-None-Match": etag})
    assert again.status == 304 and not await again.read()
    packed = await client.get(f"/ui/{path}", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    small = len((ROOT / path).read_bytes()) <= 512  # not worth compressing
    assert packed.headers.get("Content-Encoding") == (None if small else "gzip")
    assert packed.headers["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize("path", ["nothing.js", "js/", "js", "../api/ui.py", "..%2fapi%2fui.py",
                                  "%2e%2e/%2e%2e/pyproject.toml", "js/../../api/ui.py", "/etc/passwd",
                                  ".hidden"])
async def test_unknown_and_traversal_are_404(client, path):
    r = await client.get(f"/ui/{path}")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_health_is_readable_cross_origin(client):
    r = await client.get("/v1/health")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "last_contact_ms" in await r.json()


def test_no_external_resource():
    """Air-gapped users: nothing may load from outside the node (no CDN, no web font)."""
    for path in ROOT.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".js", ".css"}:
            text = path.read_text()
            assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import\s+url\(|url\(\s*["']?(https?:)?//""",
                                 text), path
            assert "fonts.g" not in text and "cdn" not in text.lower(), path


def test_package_data_ships_every_file():
    conf = tomllib.loads((ROOT.parent.parent / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["manifest_node"]
    # setuptools expands package-data with glob, relative to the package's folder.
    shipped = {p for pattern in patterns for p in ROOT.parent.glob(pattern)}
    missing = [p for p in ROOT.rglob("*") if p.is_file() and p not in shipped]
    assert not missing, f"not in package-data: {missing}"
