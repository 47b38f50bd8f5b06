"""The component schemas of ``GET /v1/openapi.json`` (openapi.py holds the operations).

Request schemas say what the node's validation accepts (fsm/validation.py,
fsm/fields.py), with its patterns and limits, anchored, in the ECMA dialect
JSON Schema speaks; tests/api/test_openapi.py compares them on generated
registrations. What JSON Schema cannot say is written in ``description``
and left to the node, which answers 400 naming the field: a check's
``timeout`` at most its ``interval``, ``failures_before_down`` at least
``failures_before_unhealthy``, a dependency's exact length limits, and
integers written with a fraction (``80.0``, which JSON Schema's
``integer`` admits and the node refuses). Response schemas say what the
node answers, so the fuzz run (tests/fuzz) can hold every answer to them.
"""

from __future__ import annotations

from ..fsm import fields, model, tokens, tombstones
from ..fsm.batch import MAX_ITEMS
from ..fsm.validation import ID_RE, IFACE_NAME_RE, NAME_RE

TEXT = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"  # no control characters (validation.is_text)
_VERSION = ("v?(0|[1-9][0-9]*)(\\.(0|[1-9][0-9]*))?(\\.(0|[1-9][0-9]*))?(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?"
            "(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?")
SEMVER = f"^{_VERSION}$"
# fsm/deps.py: a name, then at once an operator and a range of semver.parse_range's clauses.
_OP = "(>=|<=|==|!=|>|<|=|\\^|~)"
DEPENDENCY = (f"^[a-z0-9][a-z0-9._-]{{0,62}}({_OP} *{_VERSION} *(, *{_OP}? *{_VERSION} *)*)?$")
# fsm/fields.py: HOST:PORT, the port 1..65535 in at most five digits.
_PORT = ("(0{0,4}[1-9]|0{0,3}[1-9][0-9]|0{0,2}[1-9][0-9]{2}|0?[1-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}"
         "|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])")
_HOST = "(\\[[0-9A-Fa-f:.]{2,45}\\]|[A-Za-z0-9._-]{1,253})"
HOSTPORT = f"^{_HOST}:{_PORT}$"
GRPC = f"^{_HOST}:{_PORT}(/[A-Za-z0-9._]{{1,200}})?$"
NAME = {"type": "string", "pattern": NAME_RE.pattern}
ID = {"type": "string", "pattern": ID_RE.pattern}
TOKEN_ID = {"type": "string", "pattern": f"^{tokens.TOKEN_ID_RE.pattern}$"}
STATUS = {"type": "string", "enum": list(model.STATUSES)}
GENERATION = {"type": "integer", "minimum": 1, "maximum": 2**62 - 1}
NAMES = ("Error", "Instance", "Instances", "Registration", "Check", "BatchRegistration", "BatchResult",
         "Graph", "Impact", "Health", "Cluster", "Token", "NewToken", "TokenRequest", "Tokens",
         "HeartbeatBatch", "HeartbeatResults", "MemberRequest", "Members")
REF = {name: {"$ref": f"#/components/schemas/{name}"} for name in NAMES}
REASONS = [tombstones.OWNER, tombstones.OPERATOR, tombstones.EXPIRED, tombstones.CHECK_FAILED,
           tombstones.FENCED, tombstones.DRAINED]


def obj(props: dict, req=(), extra: bool = True, **more) -> dict:
    return {"type": "object", "properties": props, "required": list(req), "additionalProperties": extra, **more}


def _check() -> dict:
    """fields.check_spec: exactly one of http, tcp, grpc; defaults filled in by the node."""
    seconds = lambda low, high: {"type": "number", "minimum": low, "maximum": high}  # noqa: E731
    count = lambda high: {"type": "integer", "minimum": 1, "maximum": high}  # noqa: E731
    props = {"http": {"type": "string", "pattern": "^https?://[\\x21-\\x7e]{1,500}$"},
             "tcp": {"type": "string", "pattern": HOSTPORT}, "grpc": {"type": "string", "pattern": GRPC},
             "interval": seconds(1, 3600), "timeout": seconds(0.1, 60),
             "success_before_up": count(100), "failures_before_unhealthy": count(100),
             "failures_before_down": count(1000)}
    return obj(props, (), False, oneOf=[{"required": [k]} for k in fields.CHECK_KINDS],
               description="Exactly one of http, tcp, grpc. timeout defaults to min(2, interval) and may not "
               "exceed interval; failures_before_down defaults to max(3, failures_before_unhealthy) and may "
               "not be below it. Who may point a check where: docs/security.md, \"Health-check targets\".")


def _registration() -> dict:
    return obj({
        "name": NAME, "id": {"type": ["string", "null"], "pattern": ID_RE.pattern},
        "version": {"type": ["string", "null"], "maxLength": 128, "pattern": SEMVER},
        "address": {"type": ["string", "null"], "minLength": 1, "maxLength": model.MAX_ADDRESS_LEN, "pattern": TEXT},
        "port": {"type": ["integer", "null"], "minimum": 0, "maximum": 65535},
        "interfaces": {"type": "object", "maxProperties": model.MAX_INTERFACES,
                       "propertyNames": {"pattern": IFACE_NAME_RE.pattern},
                       "additionalProperties": {"type": "string", "maxLength": model.MAX_INTERFACE_LEN,
                                                "pattern": TEXT}},
        "tags": {"type": "array", "maxItems": model.MAX_TAGS, "items": {
            "type": "string", "minLength": 1, "maxLength": model.MAX_TAG_LEN, "pattern": TEXT}},
        "metadata": {"type": "object", "maxProperties": model.MAX_META,
                     "propertyNames": {"minLength": 1, "maxLength": model.MAX_META_KEY, "pattern": TEXT},
                     "additionalProperties": {"type": "string", "maxLength": model.MAX_META_VALUE}},
        "dependencies": {"type": "array", "maxItems": model.MAX_DEPENDENCIES, "items": {
            "type": "string", "pattern": DEPENDENCY, "description": "a service name, optionally followed by a "
            "version range (n8n>=1.2, orchestrator^1.4); the range is at most 200 characters after its "
            "operator, each version at most 128"}},
        "ttl": {"type": ["number", "null"], "minimum": model.MIN_TTL, "maximum": model.MAX_TTL,
                "description": f"null or absent: {model.DEFAULT_TTL:g} s, or none at all with a check"},
        "weight": {"type": "number", "minimum": 0, "maximum": model.MAX_WEIGHT},
        "check": {"oneOf": [{"type": "null"}, REF["Check"]]},
        "generation": {**GENERATION, "type": ["integer", "null"],
                       "description": "the current registrant refreshing its record (409 stale_generation "
                       "when it is not the current one)"}}, ("name",), False)


def _instance() -> dict:
    time = {"type": ["string", "null"]}
    return obj({
        "name": NAME, "id": ID, "version": {"type": ["string", "null"]},
        "address": {"type": ["string", "null"]}, "port": {"type": ["integer", "null"]},
        "interfaces": {"type": "object", "additionalProperties": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "dependencies": {"type": "array", "items": {"type": "string"}}, "ttl": {"type": ["number", "null"]},
        "status": STATUS, "registered_at": time, "last_heartbeat": time, "revision": {"type": "integer"},
        "generation": {"type": "integer", "minimum": 0}, "weight": {"type": "number"},
        "load": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "check": {"oneOf": [{"type": "null"}, REF["Check"]]},
        "drain": obj({"since": {"type": "string"}, "by": {"type": "string", "enum": ["owner", "operator"]},
                      "deadline": time}, ("since", "by")),
        "maintenance": obj({"reason": {"type": "string"}, "since": {"type": "string"}}, ("reason", "since")),
        "removed": obj({"reason": {"type": "string", "enum": REASONS}, "at": {"type": "string"}}, ("reason", "at")),
        "warnings": {"type": "array", "items": {"type": "string"}}}, ("name", "id", "status", "revision"))


def _graph() -> tuple[dict, dict]:
    cycles = {"type": "array", "items": {"type": "array", "items": NAME}}
    count = {"type": "integer", "minimum": 0}
    node = obj({"name": NAME, "counts": {"type": "object", "propertyNames": STATUS, "additionalProperties": count},
                "versions": {"type": "object", "additionalProperties": count}, "registered": {"type": "boolean"},
                "unmet": count, "protected": {"type": "boolean"}}, ("name", "counts"))
    edge = obj({"from": NAME, "to": NAME, "declared": {"type": "string"}, "range": {"type": ["string", "null"]},
                "instances": count, "satisfied": {"type": "boolean"}}, ("from", "to", "satisfied"))
    graph = obj({"nodes": {"type": "array", "items": node}, "edges": {"type": "array", "items": edge},
                 "cycles": cycles, "revision": {"type": "integer"}}, ("nodes", "edges", "revision"))
    impacted = obj({"name": NAME, "depth": {"type": "integer", "minimum": 1}, "via": {"type": "array", "items": NAME},
                    "has_other_provider": {"type": "boolean"}}, ("name", "depth"))
    impact = obj({"service": NAME, "id": {"type": ["string", "null"]},
                  "impacted": {"type": "array", "items": impacted}, "cycles": cycles,
                  "revision": {"type": "integer"}}, ("service", "impacted", "revision"))
    return graph, impact


def schemas() -> dict:
    text = {"type": "string", "pattern": TEXT}
    time = {"type": ["string", "null"]}
    token = obj({"id": TOKEN_ID, "role": {"type": "string", "enum": list(tokens.ROLES)},
                 "services": {"type": "array", "items": {"type": "string"}}, "any_owner": {"type": "boolean"},
                 "description": {"type": "string"}, "created_at": time, "expires_at": time, "rotated_at": time,
                 "expired": {"type": "boolean"}}, ("id",))
    graph, impact = _graph()
    return {
        "Error": obj({"error": obj({"code": {"type": "string"}, "message": {"type": "string"},
                                    "field": {"type": "string"}, "limit": {"type": "string"},
                                    "request_id": {"type": "string"}}, ("code", "message"))}, ("error",)),
        "Instance": _instance(),
        "Instances": obj({"instances": {"type": "array", "items": REF["Instance"]}, "revision": {"type": "integer"},
                          "next_cursor": {"type": "string"}, "protected": {"type": "boolean"},
                          "protection": {"type": "object"}}, ("instances", "revision")),
        "Registration": _registration(),
        "Check": _check(),
        "BatchRegistration": obj({"instances": {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS,
                                                "items": REF["Registration"]}}, ("instances",), False),
        "BatchResult": obj({"instances": {"type": "array", "items": {"allOf": [
            REF["Instance"], obj({"created": {"type": "boolean"}}, ("created",))]}},
            "revision": {"type": "integer"}}, ("instances", "revision")),
        "Graph": graph,
        "Impact": impact,
        "Health": obj({"status": {"type": "string"}, "role": {"type": "string"},
                       "leader": {"type": ["string", "null"]}, "revision": {"type": "integer"}},
                      ("status", "role", "leader", "revision")),
        "Cluster": obj({"id": {"type": "string"}, "leader": {"type": ["string", "null"]},
                        "members": {"type": "array", "items": {"type": "object"}}}, ("members",)),
        "MemberRequest": obj({"raft": {"type": "string", "pattern": "^[A-Za-z0-9.\\-\\[\\]:]{1,253}:[0-9]{1,5}$"},
                              "api": {"type": "string", "pattern": "^https?://[\\x21-\\x2e\\x30-\\x7e]{1,300}/?$"}},
                             ("raft", "api"), False),
        "Members": obj({"leader": {"type": ["string", "null"]},
                        "members": {"type": "array", "items": {"type": "object"}}}, ("members",)),
        "Token": token,
        "NewToken": {"allOf": [REF["Token"], obj({"token": {"type": "string"}}, ("token",))]},
        "Tokens": obj({"tokens": {"type": "array", "items": REF["Token"]}}, ("tokens",)),
        "TokenRequest": obj({
            "role": {"type": "string", "enum": list(tokens.ROLES)},
            "services": {"type": "array", "maxItems": tokens.MAX_PATTERNS,
                         "items": {"type": "string", "pattern": f"^{tokens.PATTERN_RE.pattern}$"}},
            "ttl": {"oneOf": [{"type": "number", "minimum": 1, "maximum": 315_360_000},
                              {"type": "string", "pattern": "^[0-9]{1,9}[smhd]?$"}]},
            "description": {**text, "maxLength": tokens.MAX_DESCRIPTION}, "any_owner": {"type": "boolean"}},
            ("role",), False),
        "HeartbeatBatch": obj({"heartbeats": {"type": "array", "minItems": 1, "maxItems": 500, "items": obj(
            {"name": NAME, "id": ID, "status": {"type": "string", "enum": list(model.REPORTABLE)}},
            ("name", "id"), False)}}, ("heartbeats",), False),
        "HeartbeatResults": obj({"results": {"type": "array", "items": obj({
            "name": NAME, "id": ID, "ok": {"type": "boolean"}, "status": STATUS, "revision": {"type": "integer"},
            "error": {"type": "string"}}, ("name", "id", "ok"))}}, ("results",)),
    }
