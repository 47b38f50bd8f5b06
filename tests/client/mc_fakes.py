"""A fake three-node Manifest cluster behind ``MockTransport``, for the client's unit tests.

It keeps one shared instance table (as if replication were instant), answers
the contract's routes, and lets a test kill a node (connection refused), make
it black-hole requests (timeout after the bytes went out), make it answer 503,
or make it forget its leader.  Every request is logged in ``calls``.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from manifest_client import (
    ConnectionFailed,
    MockTransport,
    Request,
    RequestTimeout,
    Response,
)

N1, N2, N3 = "http://n1:8500", "http://n2:8500", "http://n3:8500"


def error(status: int, code: str, message: str, **extra: Any) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else {}
    body = {"error": {"code": code, "message": message, **extra}}
    return Response.from_json(status, body, headers)


class FakeCluster:
    """Callable handler for MockTransport that behaves like a small registry cluster."""

    def __init__(self, nodes: tuple[str, ...] = (N1, N2, N3), leader: str | None = N1) -> None:
        self.nodes = list(nodes)
        self.leader = leader
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}
        self.revision = 0
        self.refused: set[str] = set()
        self.blackholed: set[str] = set()
        self.unavailable: set[str] = set()
        self.broken: set[str] = set()  # nodes with a bug: every answer is a 500 internal
        self.leaderless: set[str] = set()
        self.applied: dict[str, int] = {}  # a node's applied index when it lags
        self.calls: list[tuple[str, str, str]] = []
        self.bodies: list[Any] = []
        self.metrics_text = ""
        self.generated = 0
        self._lock = threading.Lock()
        self.transport = MockTransport(self)

    # -- what tests look at ------------------------------------------------
    def sent(self, method: str, path_prefix: str = "") -> list[tuple[str, str, str]]:
        """Calls with ``method`` whose path starts with ``path_prefix``."""
        return [c for c in self.calls if c[1] == method and c[2].startswith(path_prefix)]

    def add(self, name: str, id: str, status: str = "up", **fields: Any) -> None:
        self.revision += 1
        self.instances[(name, id)] = {"name": name, "id": id, "status": status, "ttl": 30,
                                      "revision": self.revision, **fields}

    # -- the handler ---------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        parts = urlsplit(request.target)
        with self._lock:
            self.calls.append((request.endpoint, request.method, parts.path))
            self.bodies.append(request.json() if request.body else None)
        node = request.endpoint
        if node in self.refused or node not in self.nodes:
            raise ConnectionFailed("connection refused", sent=False, endpoint=node)
        if node in self.blackholed:
            raise RequestTimeout("no answer within timeout", sent=True, endpoint=node)
        leader = "" if node in self.leaderless or self.leader is None else self.leader
        headers = {"X-Manifest-Leader": leader, "X-Manifest-Index": str(self.revision)}
        if node in self.unavailable:
            return error(503, "no_leader", "no leader elected")
        if node in self.broken:
            return error(500, "internal", "internal error; the node's log has the details (request id r1)",
                         request_id="r1")
        with self._lock:
            response = self._route(request, parts.path, parse_qsl(parts.query))
        response.headers.update({k.lower(): v for k, v in headers.items()})
        return response

    def _route(self, request: Request, path: str, query: list[tuple[str, str]]) -> Response:
        segs = [s for s in path.split("/") if s]
        if path == "/v1/cluster":
            members = [{"id": f"n{i + 1}", "api": url, "raft": f"n{i + 1}:9500",
                        "role": "leader" if url == self.leader else "follower"}
                       for i, url in enumerate(self.nodes)]
            return Response.from_json(200, {"members": members, "leader": self.leader, "term": 2,
                                            "commit_index": self.revision})
        if path == "/v1/health":
            ok = request.endpoint not in self.leaderless
            body = {"status": "ok" if ok else "no_leader", "revision": self.revision,
                    "role": "leader" if request.endpoint == self.leader else "follower",
                    "leader": self.leader if ok else None, "commit_index": self.revision,
                    "applied_index": self.applied.get(request.endpoint, self.revision)}
            return Response.from_json(200 if ok else 503, body)
        if path == "/metrics":
            return Response(200, {"content-type": "text/plain"}, self.metrics_text.encode())
        if segs[:2] != ["v1", "services"]:
            return error(404, "not_found", "no such route")
        if len(segs) == 2 and request.method == "POST":
            return self._register(request.json())
        if len(segs) == 2:
            return self._list(None, query)
        if len(segs) == 3:
            return self._list(segs[2], query)
        key = (segs[2], segs[3])
        if key not in self.instances:
            return error(404, "not_found", f"unknown instance {segs[2]}/{segs[3]}")
        if len(segs) == 5 and segs[4] == "heartbeat":
            self.instances[key]["status"] = (request.json() or {}).get("status", "up")
            return Response.from_json(200, self.instances[key])
        if request.method == "DELETE":
            self.revision += 1
            return Response.from_json(200, self.instances.pop(key))
        return Response.from_json(200, self.instances[key])

    def _register(self, body: dict[str, Any]) -> Response:
        if not body.get("name"):
            return error(400, "invalid", "name is required", field="name")
        if "id" not in body:
            self.generated += 1
            body["id"] = f"{body['name']}-gen{self.generated}"
        key = (body["name"], body["id"])
        created = key not in self.instances
        self.revision += 1
        self.instances[key] = {**body, "status": "up", "revision": self.revision}
        return Response.from_json(201 if created else 200, self.instances[key])

    def _list(self, service: str | None, query: list[tuple[str, str]]) -> Response:
        found = [i for (name, _), i in sorted(self.instances.items()) if service in (None, name)]
        if service is not None and not found and not any(n == service for n, _ in self.instances):
            return error(404, "not_found", f"unknown service {service}")
        statuses = [v for k, v in query if k == "status"]
        tags = [v for k, v in query if k == "tag"]
        found = [i for i in found if (not statuses or i["status"] in statuses)
                 and all(t in i.get("tags", []) for t in tags)]
        return Response.from_json(200, {"instances": found, "revision": self.revision})


def body_of(response: Response) -> Any:
    return json.loads(response.body)
