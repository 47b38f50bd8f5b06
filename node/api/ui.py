"""The web dashboard's static files (``node/ui/``), served under ``/ui/``.

Every file is read once, when the app is built, into a table keyed by its
path: a request can only ever name one of those keys, so no URL (``..``,
encoded slashes, symlinks) reaches the file system, and an unknown name is
a plain 404. The files are small and few, so they are kept in memory with a
gzip copy and an ETag; the dashboard itself talks to the node only through
the public HTTP API (docs/dashboard.md).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .. import errors

ROOT = Path(__file__).resolve().parent.parent / "ui"
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".json": "application/json", ".txt": "text/plain", ".md": "text/markdown"}
_TEXT = {"text/html", "text/javascript", "text/css", "image/svg+xml", "application/json", "text/plain",
         "text/markdown"}
# Other members' /v1/health is read cross-origin (the cluster page), hence
# http: and https: in connect-src; nothing else leaves the node's origin.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype in _TEXT:
        ctype += "; charset=utf-8"
    packed = gzip.compress(body, 9, mtime=0) if ctype.split(";")[0] in _TEXT and len(body) > 512 else None
    return Asset(body, packed, ctype, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def load(root: Path = ROOT) -> dict[str, Asset]:
    """Every regular file under ``root``, by its path relative to it (``js/app.js``)."""
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): _asset(p) for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


_ASSETS: dict[str, Asset] | None = None


def _assets() -> dict[str, Asset]:
    global _ASSETS
    if _ASSETS is None:
        _ASSETS = load()
    return _ASSETS


def _serve(request: web.Request, asset: Asset) -> web.Response:
    # no-cache, not max-age: the file names carry no version, and a browser
    # must pick up a node's upgrade; the ETag makes the revalidation a 304.
    headers = {"Cache-Control": "no-cache", "ETag": asset.etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": _CSP}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    headers["Content-Type"] = asset.content_type
    return web.Response(body=body, headers=headers)


async def redirect(request: web.Request) -> web.Response:
    # Returned, not raised: the app turns raised HTTP errors into JSON and drops Location.
    return web.Response(status=301, headers={"Location": "/ui/"})


async def index(request: web.Request) -> web.Response:
    asset = _assets().get("index.html")
    if asset is None:
        raise errors.NotFound("this node was installed without its dashboard files")
    return _serve(request, asset)


async def asset(request: web.Request) -> web.Response:
    found = _assets().get(request.match_info["path"])
    if found is None:
        raise errors.NotFound(f"no dashboard file {request.match_info['path']!r}")
    return _serve(request, found)
