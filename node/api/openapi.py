"""``GET /v1/openapi.json``: the OpenAPI 3.1 description of the public API.

Each operation is written here once (``OPERATIONS``: summary, parameters,
body, responses); who may call it comes from auth/permissions.py (public
routes carry no security requirement, the others the bearer scheme and the
permission they need). tests/api/test_openapi.py fails when a route of the
app is not described, and the schemathesis run (tests/fuzz) holds every
answer of a real cluster to these schemas, which live in
openapi_schemas.py.
"""

from __future__ import annotations

import functools

import orjson
from aiohttp import web

from ..auth.permissions import P, ROUTES
from ..fsm import fields, model
from .openapi_schemas import GENERATION, ID, NAME, REF, STATUS, TEXT, TOKEN_ID, schemas
from .params import PICKS

_JSON = "application/json"


def _content(schema: dict, types=(_JSON, "application/msgpack")) -> dict:
    return {t: {"schema": schema} for t in types}


def _error(description: str) -> dict:
    return {"description": description, "content": _content(REF["Error"])}


def _ok(description: str, schema: dict | None = None, status: str = "200", headers: dict | None = None) -> dict:
    out = {"description": description}
    if schema is not None:
        out["content"] = _content(schema)
    if headers:
        out["headers"] = headers
    return {status: out}


_RETRY = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
ERRORS = {
    "400": _error("invalid input; `error.field` names it"),
    "401": _error("no token, or one that is unknown, revoked or expired"),
    "403": _error("the token's role or service patterns do not allow this (`forbidden`, `out_of_scope`, "
                  "`not_owner`), or a health check's target (`check_target`)"),
    "404": _error("unknown"),
    "405": _error("method not allowed"),
    "409": _error("conflict"),
    "413": _error("body too large"),
    "415": _error("unsupported content type"),
    "429": {**_error("a rate limit (`rate_limited`) or a cap; see Retry-After"), "headers": _RETRY},
    "500": _error("a bug; `error.request_id` finds it in the node's log"),
    "503": {**_error("no leader or not ready (`no_leader`, `unknown_outcome`, ...)"), "headers": _RETRY},
}


def _path(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def _query(name: str, schema: dict, description: str, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description, **extra}


_READ = [
    _query("consistency", {"type": "string", "enum": ["local", "linearizable"]}, "`linearizable` reflects "
           "every write acknowledged before the request"),
    _query("index", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "blocking read: answer once the index "
           "exceeds this (or `wait` passed)"),
    _query("wait", {"type": "string", "pattern": "^[0-9]{1,9}(\\.[0-9]{1,9})?(ms|s|m)?$"},
           "longest blocking wait, at most 600 s; needs `index`"),
]
_FILTERS = [
    _query("status", {"type": "array", "items": STATUS}, "only these statuses", style="form", explode=True),
    _query("tag", {"type": "array", "items": {"type": "string", "minLength": 1, "pattern": TEXT}},
           "instances with every one of these tags", style="form", explode=True),
    _query("version", {"type": "string"}, "a version range such as `>=1.2,<2`"),
    _query("depends_on", NAME, "instances that depend on this service"),
    _query("limit", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "page size, 1..10000"),
    _query("cursor", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,400}$"}, "`next_cursor` of the previous page"),
]
_NAME_P, _ID_P = _path("name", NAME, "service name"), _path("id", ID, "instance id")
_TOKEN_P = _path("id", TOKEN_ID, "token id")
_TEXT_BODY = {"description": "", "content": {"text/plain": {"schema": {"type": "string"}}}}


def _body(ref: str, required: bool = True) -> dict:
    return {"required": required, "content": _content(REF[ref])}


_EMPTY = {"required": False, "content": {_JSON: {"schema": {"type": "object", "additionalProperties": False}}}}


def _optional(props: dict) -> dict:
    """An optional body of these fields (JSON or msgpack); none is required."""
    return {"required": False, "content": _content({"type": "object", "additionalProperties": False,
                                                    "properties": props})}


# Issue 13's parameters and bodies (params.py, handlers.py, lifecycle.py, pick.py).
_GEN_BODY = {**GENERATION, "type": ["integer", "null"], "description": "the registration's generation: "
             "409 stale_generation unless it is the current one"}
_GEN_Q = _query("generation", {"type": "string", "pattern": "^[0-9]*[1-9][0-9]*$", "maxLength": 18},
                "the registration's generation (as in the body; both given, they must be equal)")
_STRICT_Q = _query("strict", {"type": "string", "enum": ["true", "false", "1", "0"]},
                   "refuse an unmet dependency with 409 unmet_dependency (default: the strict_dependencies "
                   "setting)")
_INCLUDE_Q = _query("include", {"type": "string", "enum": ["removed"]}, "append removed instances (tombstones), "
                    "each with `removed: {reason, at}`; not with limit or cursor")
_PICK_Q = _query("pick", {"type": "string", "enum": list(PICKS)}, "answer one instance chosen among those that "
                 "match (only `up` ones without `status=`); 404 no_instance when none qualifies; not with "
                 "index, wait or include")
# Federation (docs/federation.md): another region's answer, every region's, or a fallback along the policy.
_REGION_Q = _query("region", {"type": "string", "pattern": "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?|[*])$"},
                   "another region's answer (X-Manifest-Region says whose), or `*`: every region's, each record "
                   "labelled `region`, with `regions` and `unavailable`; 503 region_unavailable when none of "
                   "the region's nodes answers")
_FAILOVER_Q = _query("failover", {"type": "string", "enum": ["true", "policy", "nearest"]},
                     "when this region has no `up` instance, the first region along the failover policy that "
                     "has one answers (`region` and `failover` in the body)")
_IMPACT_ID_Q = _query("id", ID, "the removal of this one instance (`has_other_provider` can then be true)")
_PATCH = {"type": "object", "maxProperties": fields.MAX_META_PATCH,
          "propertyNames": {"minLength": 1, "maxLength": model.MAX_META_KEY, "pattern": TEXT},
          "additionalProperties": {"type": ["string", "null"], "maxLength": model.MAX_META_VALUE},
          "description": "keys to set (a string) or remove (null)"}
_HEARTBEAT = _optional({"status": {"type": "string", "enum": list(model.REPORTABLE)}, "generation": _GEN_BODY,
                        "load": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                        "metadata": {**_PATCH, "type": ["object", "null"]}})
_INSTANCE_P = [_NAME_P, _ID_P]


def _lifecycle(summary: str, props: dict) -> dict:
    return {"summary": summary, "parameters": [*_INSTANCE_P, _GEN_Q],
            "requestBody": _optional({**props, "generation": _GEN_BODY}),
            "responses": _ok("the instance", REF["Instance"])}


# (method, path) -> operation, without security (added from auth/permissions.py).
OPERATIONS: dict[tuple[str, str], dict] = {
    ("GET", "/v1/services/{name}"): {"summary": "Instances of one service, or one picked among them", "parameters": [
        _NAME_P, *_READ, *_FILTERS, _INCLUDE_Q, _PICK_Q, _REGION_Q, _FAILOVER_Q], "responses": {**_ok(
            "the service's instances (404 if never registered); with `pick`, the one instance chosen",
            {"anyOf": [REF["Instances"], REF["Instance"]]})}},
    ("POST", "/v1/services"): {"summary": "Register or update one instance", "parameters": [_STRICT_Q],
                               "requestBody": _body("Registration"),
                               "responses": {**_ok("updated", REF["Instance"]),
                                             **_ok("registered", REF["Instance"], "201")}},
    ("POST", "/v1/services/batch"): {"summary": "Register or update up to 500 instances, all or none",
                                     "parameters": [_STRICT_Q], "requestBody": _body("BatchRegistration"),
                                     "responses": {**_ok("all updated", REF["BatchResult"]),
                                                   **_ok("some registered", REF["BatchResult"], "201")}},
    ("GET", "/v1/services"): {"summary": "List instances", "parameters": [*_READ, *_FILTERS, _INCLUDE_Q, _REGION_Q],
                              "responses": _ok("instances", REF["Instances"])},
    ("GET", "/v1/services/{name}/{id}"): {"summary": "One instance", "parameters": [*_INSTANCE_P, _READ[0], _REGION_Q],
                                          "responses": _ok("the instance", REF["Instance"])},
    ("PUT", "/v1/services/{name}/{id}/heartbeat"): {
        "summary": "Heartbeat (404: register again)", "parameters": [*_INSTANCE_P, _GEN_Q],
        "requestBody": _HEARTBEAT, "responses": _ok("the instance", REF["Instance"])},
    ("POST", "/v1/heartbeats"): {"summary": "Many heartbeats in one request", "requestBody": _body("HeartbeatBatch"),
                                 "responses": _ok("a result per item", REF["HeartbeatResults"])},
    ("DELETE", "/v1/services/{name}/{id}"): {"summary": "Deregister", "parameters": [*_INSTANCE_P, _GEN_Q],
                                             "requestBody": _optional({"generation": _GEN_BODY}),
                                             "responses": _ok("removed", REF["Instance"])},
    ("PUT", "/v1/services/{name}/{id}/drain"): _lifecycle(
        "Drain: out of pick and default discovery, removed at the deadline",
        {"deadline": {"type": ["number", "null"], "minimum": 0, "maximum": fields.MAX_DRAIN_S,
                      "description": "seconds until the leader removes it; null: no deadline"}}),
    ("DELETE", "/v1/services/{name}/{id}/drain"): _lifecycle("End a drain", {}),
    ("PUT", "/v1/services/{name}/{id}/maintenance"): _lifecycle(
        "Maintenance: excluded like draining, never expired",
        {"reason": {"type": ["string", "null"], "maxLength": fields.MAX_REASON, "pattern": TEXT}}),
    ("DELETE", "/v1/services/{name}/{id}/maintenance"): _lifecycle("End maintenance, with a fresh ttl", {}),
    ("GET", "/v1/graph"): {"summary": "The dependency graph: services, declared dependencies, cycles",
                           "parameters": [_READ[0]], "responses": _ok("the graph", REF["Graph"])},
    ("GET", "/v1/graph/impact/{name}"): {"summary": "Every service that transitively depends on this one",
                                         "parameters": [_NAME_P, _IMPACT_ID_Q, _READ[0]],
                                         "responses": _ok("the impact", REF["Impact"])},
    ("GET", "/v1/health"): {"summary": "This node's readiness", "responses": {
        **_ok("ready", REF["Health"]), "503": {"description": "not ready", "content": _content(REF["Health"]),
                                               "headers": _RETRY}}},
    ("GET", "/v1/health/live"): {"summary": "Liveness: the process serves HTTP (no leader needed)",
                                 "responses": {"200": {"description": "alive", "content": {_JSON: {"schema": {
                                     "type": "object", "required": ["status"],
                                     "properties": {"status": {"const": "live"}}}}}}}},
    ("GET", "/v1/snapshot"): {"summary": "A backup file of the whole registry at a linearizable point",
                              "responses": {"200": {
                                  "description": "the backup file (docs/operations.md, Backup and restore)",
                                  "content": {"application/vnd.manifest.snapshot": {"schema": {
                                      "type": "string", "contentMediaType": "application/octet-stream"}}}}}},
    ("POST", "/v1/snapshot/restore"): {
        "summary": "Replace the whole registry with a backup's, on every node",
        "parameters": [_query("force", {"type": "string", "enum": ["true", "false", "1", "0"]},
                              "replace a registry that holds instances (else 409 registry_not_empty)")],
        # Any Content-Type is taken (the CLI sends application/vnd.manifest.snapshot); octet-stream
        # is the one generic tools (the schemathesis run in tests/fuzz) know how to send.
        "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {
            "type": "string", "format": "binary"}}}},
        "responses": _ok("restored; 400 invalid_backup names what is wrong with the file", {
            "type": "object", "required": ["restored", "revision"], "properties": {
                "restored": {"type": "object"}, "revision": {"type": "integer"}}})},
    ("GET", "/v1/cluster"): {"summary": "Members, roles, leader, term",
                             "responses": _ok("the cluster", REF["Cluster"])},
    ("POST", "/v1/cluster/members"): {
        "summary": "Add a voter: the node started with --join at this Raft address and API URL",
        "description": "One change at a time (409 `membership_change_in_progress`); refused when the "
                       "reachable voters would not be a majority of the new cluster (409 `would_lose_quorum`), "
                       "when the address is a voter already (409 `already_a_member`), or when the node there "
                       "has another address or is not waiting to join (409 `raft_mismatch`, `not_joining`).",
        "requestBody": _body("MemberRequest"), "responses": _ok("added", REF["Members"], "201")},
    ("DELETE", "/v1/cluster/members/{node}"): {
        "summary": "Remove a voter, by node id or Raft address; the leader hands over first",
        "description": "404 `unknown_member`; 409 `last_member`, `would_lose_quorum`, "
                       "`membership_change_in_progress`; 503 `leadership_transfer_failed`.",
        "parameters": [_path("node", {"type": "string", "pattern": "^[A-Za-z0-9._:\\[\\]-]{1,260}$"},
                             "a member's id or Raft address")],
        "requestBody": _EMPTY, "responses": _ok("removed", REF["Members"])},
    ("GET", "/v1/watch"): {"summary": "Server-Sent Events of every change after a revision", "parameters": [
        _query("since", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "resume after this revision"),
        _query("name", NAME, "only this service"),
        _query("region", {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
               "follow another region's changes (ids are its revisions)"),
        {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "resume after this revision (when `since` is absent)"}],
        "responses": {"200": {"description": "an endless event stream",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}}}},
    ("GET", "/metrics"): {"summary": "Prometheus text exposition", "responses": {"200": _TEXT_BODY}},
    ("POST", "/v1/tokens"): {"summary": "Create a token (the secret is in this answer only)",
                             "requestBody": _body("TokenRequest"), "responses": _ok("created", REF["NewToken"], "201")},
    ("GET", "/v1/tokens"): {"summary": "Every token's metadata", "responses": _ok("tokens", REF["Tokens"])},
    ("DELETE", "/v1/tokens/{id}"): {"summary": "Revoke a token on every node", "parameters": [_TOKEN_P],
                                    "requestBody": _EMPTY, "responses": _ok("revoked", REF["Token"])},
    ("POST", "/v1/tokens/{id}/rotate"): {"summary": "A new secret for the same token", "parameters": [_TOKEN_P],
                                         "requestBody": _EMPTY, "responses": _ok("rotated", REF["NewToken"])},
    ("GET", "/v1/openapi.json"): {"summary": "This description", "responses": {"200": {
        "description": "OpenAPI 3.1", "content": {_JSON: {"schema": {"type": "object"}}}}}},
    ("GET", "/ui"): {"summary": "Redirect to the dashboard", "responses": {"301": {"description": "to /ui/"}}},
    ("GET", "/ui/"): {"summary": "The dashboard", "responses": {"200": {
        "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}, "304": {
        "description": "not modified"}}},
    ("GET", "/ui/{path}"): {"summary": "A dashboard file", "parameters": [_path("path", {"type": "string"}, "file")],
                            "responses": {"200": {"description": "the file", "content": {"*/*": {
                                "schema": {"type": "string"}}}}, "304": {"description": "not modified"}}},
}
# ---- GraphQL (node/api/graphql/, docs/graphql.md): the schema is its own description ----------------
_GQL_TYPES = (_JSON, "application/graphql-response+json")
_GQL_RESPONSE = {"type": "object", "properties": {
    "data": {"type": ["object", "null"]},
    "errors": {"type": "array", "items": {"type": "object", "required": ["message"], "properties": {
        "message": {"type": "string"}, "path": {"type": "array"}, "locations": {"type": "array"},
        "extensions": {"type": "object", "description": "our error shape: `code`, `status`, `field`, `limit`"}}}}}}
_GQL_ANSWERS = {
    "200": {"description": "the query ran: `data`, and `errors` for fields that failed (a permission a root "
                           "field needs, a bad filter)", "content": _content(_GQL_RESPONSE, _GQL_TYPES)},
    "400": {"description": "not a GraphQL request (our error shape, naming the field), or a GraphQL request "
                           "error: syntax, validation, a limit (`errors` without `data`; `extensions.limit` "
                           "names the setting)",
            "content": _content({"anyOf": [REF["Error"], _GQL_RESPONSE]}, _GQL_TYPES)}}
_GQL_DOC = ("GraphQL over HTTP: queries only. The schema: docs/reference/graphql.schema.graphql; "
            "limits: graphql_max_depth, graphql_max_cost, graphql_max_aliases, graphql_max_query_bytes.")
OPERATIONS.update({
    ("POST", "/v1/graphql"): {
        "summary": "Run a GraphQL query", "x-manifest-about": _GQL_DOC,
        "requestBody": {"required": True, "content": {_JSON: {"schema": {
            "type": "object", "required": ["query"], "additionalProperties": False, "properties": {
                "query": {"type": "string"}, "variables": {"type": ["object", "null"]},
                "operationName": {"type": ["string", "null"]}, "extensions": {"type": ["object", "null"]}}}}}},
        "responses": _GQL_ANSWERS},
    ("GET", "/v1/graphql"): {
        "summary": "Run a GraphQL query from the query string, or open a GraphQL WebSocket",
        "x-manifest-about": _GQL_DOC + " With `Upgrade: websocket` and the subprotocol graphql-transport-ws "
                            "(or graphql-ws): subscriptions, the token in the upgrade's Authorization "
                            "header or in connection_init's payload.",
        "parameters": [_query("query", {"type": "string"}, "the GraphQL document", required=True),
                       _query("variables", {"type": "string"}, "a JSON object"),
                       _query("operationName", {"type": "string"}, "which operation of the document"),
                       _query("extensions", {"type": "string"}, "a JSON object")],
        "responses": {**_GQL_ANSWERS, "101": {"description": "switched to a GraphQL WebSocket"}}},
})

# ---- The compatibility views (node/api/compat/, issue 14): only our own, Prometheus HTTP SD. ----
# Consul's and Eureka's APIs are emulated, not ours to describe (their projects do; docs/compat.md
# says what is supported): routes whose permissions.Rule names a ``protocol`` are left out.
_SD_GROUP = {"type": "object", "required": ["targets", "labels"], "properties": {
    "targets": {"type": "array", "items": {"type": "string"}},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
COMPAT_OPERATIONS: dict[tuple[str, str], dict] = {
    ("GET", "/v1/sd/prometheus"): {"summary": "Targets in Prometheus's HTTP service discovery format", "parameters": [
        _query("service", {"type": "array", "items": NAME}, "only these services", style="form", explode=True),
        _FILTERS[1], _FILTERS[0]],
        "responses": {"200": {
            "description": "one target group per instance with an address, labelled __meta_manifest_*",
            "content": _content({"type": "array", "items": _SD_GROUP}, (_JSON,))}}},
}
OPERATIONS.update(COMPAT_OPERATIONS)
# aiohttp's spelling of the dashboard route, OpenAPI's: the one regex route.
_ROUTE_PATH = {"/ui/{path:.+}": "/ui/{path}"}


def openapi_path(path: str) -> str:
    return _ROUTE_PATH.get(path, path)


@functools.lru_cache(maxsize=1)
def document() -> dict:
    """The whole description; routes only nodes call (``/v1/internal/*``) are not part of it, nor
    Consul's and Eureka's emulated APIs (``Rule.protocol``)."""
    paths: dict[str, dict] = {}
    for (method, route), rule in ROUTES.items():
        if rule.permission is P.INTERNAL or rule.protocol is not None:
            continue
        path = openapi_path(route)
        op = dict(OPERATIONS[(method, path)])
        op["operationId"] = f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}"
        op["security"] = [] if rule.permission is P.PUBLIC else [{"bearer": []}]
        if rule.permission is not P.PUBLIC:
            op["description"] = f"Needs a token whose role has `{rule.permission}` (docs/security.md)."
        op["responses"] = {**op["responses"], **{k: v for k, v in ERRORS.items() if k not in op["responses"]}}
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Manifest", "version": "1", "description": "A Raft-replicated service registry: "
                 "the contract in CONTRACT.md, errors as `{\"error\": {\"code\", \"message\", \"field\"?}}`."},
        "paths": paths,
        "components": {"schemas": schemas(), "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <token>` "
            "(`manifest token create`, or the bootstrap token)"}}},
        "security": [{"bearer": []}],
    }


async def serve(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(document()), content_type=_JSON)
