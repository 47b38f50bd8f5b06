"""A bare aiohttp server on asyncio's loop, as the node runs: the ceiling the registry's HTTP layer is compared with.

    python -m loadtests.bench.bare_server --port 8080

``GET /item`` answers a ~300-byte JSON document rendered from a dict;
``POST /item`` parses a ~300-byte JSON body, stores it in a dict under its
``id`` and answers it back (201), as a registration does. Standard-library
``json`` and no middleware: the plain aiohttp idiom.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

DOCUMENT = {
    "name": "orchestrator", "id": "orchestrator-7f3a", "version": "1.4.2",
    "address": "10.0.0.5", "port": 8080, "interfaces": {"http": "http://10.0.0.5:8080"},
    "tags": ["blue"], "metadata": {"region": "eu"}, "dependencies": ["n8n"], "ttl": 30,
    "status": "up", "registered_at": "2026-11-26T19:31:00.123Z",
    "last_heartbeat": "2026-11-26T19:31:10.456Z", "revision": 1234,
}


def create_app() -> web.Application:
    store: dict[str, dict] = {}

    async def get_item(request: web.Request) -> web.Response:
        return web.json_response(DOCUMENT)

    async def post_item(request: web.Request) -> web.Response:
        body = await request.json()
        store[str(body.get("id"))] = body
        return web.json_response(body, status=201)

    app = web.Application()
    app.router.add_get("/item", get_item)
    app.router.add_post("/item", post_item)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None,
                loop=asyncio.new_event_loop())


if __name__ == "__main__":
    main()
