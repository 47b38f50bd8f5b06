"""Consul requests in: service registrations, check updates, query strings, Go durations.

Consul decodes JSON keys without regard to case or underscores (``Name``,
``name``, ``tagged_addresses``), and so do we. Errors name the field as
Consul spells it (``Check.TTL``, ``Tags[2]``), a 400, and nothing is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from multidict import MultiMapping

from ... import errors
from ...fsm import model
from ...fsm.validation import ValidationError, validate_registration
from .. import params

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_WAIT = 600.0  # Consul caps a blocking query's wait at 10 minutes

# Consul's check states and ours (docs/compat.md, "Status words").
TO_MANIFEST = {"passing": model.UP, "warning": model.UNHEALTHY, "critical": model.UNHEALTHY}

_CONSUL_FIELD = {"name": "Name", "id": "ID", "address": "Address", "port": "Port", "tags": "Tags",
                 "metadata": "Meta"}
_SERVICE_KEYS = {"name", "id", "address", "port", "tags", "meta", "weights", "check", "checks",
                 "enabletagoverride", "kind", "taggedaddresses", "proxy", "connect", "socketpath", "locality",
                 "namespace", "partition"}
_ONLY_EMPTY = {"kind": "Kind", "taggedaddresses": "TaggedAddresses", "proxy": "Proxy", "connect": "Connect",
               "socketpath": "SocketPath", "locality": "Locality"}
_CHECK_KEYS = {"ttl", "checkid", "id", "name", "notes", "status", "interval", "timeout",
               "deregistercriticalserviceafter", "serviceid"}
# Probes the leader runs (node/checks/): Consul's check type -> ours.
_PROBE_KEYS = {"http": "HTTP", "tcp": "TCP", "grpc": "GRPC"}
_PROBE_NOT_RUN = {"h2ping": "H2PING", "udp": "UDP"}
# Consul's probe counters -> ours (fsm/fields.check_spec). An instance leaves "passing" at the
# first of warning and critical: that is where ours becomes unhealthy (both are out of discovery).
_PROBE_COUNTS = {"successbeforepassing": ("SuccessBeforePassing", "success_before_up"),
                 "failuresbeforewarning": ("FailuresBeforeWarning", "failures_before_unhealthy"),
                 "failuresbeforecritical": ("FailuresBeforeCritical", "failures_before_unhealthy")}
# Probe options Manifest's probes do not have: refused unless they say what ours do anyway.
_PROBE_DEFAULTS = {"method": ("Method", ("", "GET")), "header": ("Header", (None, {})), "body": ("Body", ("",)),
                   "tlsskipverify": ("TLSSkipVerify", (False,)), "tlsservername": ("TLSServerName", ("",)),
                   "grpcusetls": ("GRPCUseTLS", (False,)), "h2pingusetls": ("H2PingUseTLS", (False,)),
                   "disableredirects": ("DisableRedirects", (False,)), "outputmaxsize": ("OutputMaxSize", (0,))}
# Checks Manifest will never run: they execute code on the agent's machine.
_NEVER = {"args": "Args", "scriptargs": "ScriptArgs", "script": "Script", "dockercontainerid": "DockerContainerID",
          "shell": "Shell", "osservice": "OSService", "aliasnode": "AliasNode", "aliasservice": "AliasService"}


def go_duration(value, field: str) -> float:
    """Seconds of a Go duration string ("10s", "1m30s", "250ms", "0")."""
    if not isinstance(value, str) or not value:
        raise errors.InvalidInput(f"{field} must be a duration like 10s, 1m30s or 500ms", field)
    if value == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(value):
        m = _DURATION_PART.match(value, pos)
        if m is None:
            raise errors.InvalidInput(f"{field} must be a duration like 10s, 1m30s or 500ms", field)
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not math.isfinite(total):
        raise errors.InvalidInput(f"{field} is too long", field)
    return total


def folded(obj, where: str) -> tuple[dict, dict]:
    """``obj``'s items with keys folded as Consul folds them, and each folded key's spelling."""
    if not isinstance(obj, dict):
        raise errors.InvalidInput(f"{where} must be an object", where)
    out, spelled = {}, {}
    for key, value in obj.items():
        k = str(key).replace("_", "").lower()
        if k in out:
            raise errors.InvalidInput(f"{where} gives {spelled[k]!r} twice (as {key!r})", f"{where}.{key}")
        out[k], spelled[k] = value, str(key)
    return out, spelled


def _name(where: str, spelled: dict, key: str, fallback: str) -> str:
    inner = spelled.get(key, fallback)
    return inner if where == "body" else f"{where}.{inner}"


def _unknown(svc: dict, spelled: dict, allowed: set, where: str) -> None:
    for key in svc:
        if key not in allowed:
            field = _name(where, spelled, key, key)
            raise errors.InvalidInput(f"unknown field {spelled[key]!r}", field, code="unknown_field")


def registration(body) -> dict:
    """The Manifest fields of ``PUT /v1/agent/service/register``'s body (validated)."""
    svc, spelled = folded(body, "body")
    _unknown(svc, spelled, _SERVICE_KEYS, "body")
    for key, label in _ONLY_EMPTY.items():
        if svc.get(key) not in (None, "", {}, []):
            raise errors.Unsupported(f"{label} (Consul service mesh and addressing) is not supported", label)
    for key, label in (("namespace", "Namespace"), ("partition", "Partition")):
        if svc.get(key) not in (None, "", "default"):
            raise errors.Unsupported(f"{label}: only the default one exists", label)
    if svc.get("enabletagoverride") not in (None, True, False):
        raise errors.InvalidInput("EnableTagOverride must be a boolean", "EnableTagOverride")
    fields = {"name": svc.get("name"), "id": svc.get("id") or svc.get("name"),
              "address": svc.get("address") or None, "port": svc.get("port") or None,
              "tags": svc.get("tags") or [], "metadata": svc.get("meta") or {}}
    weight = _weights(svc.get("weights"))
    if weight is not None:
        fields["weight"] = weight
    if "name" not in svc:
        raise errors.InvalidInput("Name is required", "Name", code="required")
    ttl, probe, check_field = _check(svc)
    if ttl is not None:
        fields["ttl"] = ttl
    if probe is not None:
        fields["check"] = probe
    try:
        return validate_registration(fields)
    except ValidationError as exc:
        raise _consul_error(exc, check_field) from None


_CHECK_FIELD = {"http": "HTTP", "tcp": "TCP", "grpc": "GRPC", "interval": "Interval", "timeout": "Timeout",
                "success_before_up": "SuccessBeforePassing", "failures_before_unhealthy": "FailuresBeforeCritical"}


def _consul_error(exc: ValidationError, check_field: str) -> errors.InvalidInput:
    field = exc.field or "body"
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    if head == "ttl":
        renamed = f"{check_field}.TTL"
    elif head == "check":
        inner = field[len("check."):] if field.startswith("check.") else ""
        renamed = f"{check_field}.{_CHECK_FIELD.get(inner, inner)}" if inner else check_field
    elif head == "weight":
        renamed = "Weights.Passing"
    else:
        renamed = _CONSUL_FIELD.get(head, head) + field[len(head):]
    message = exc.message.replace(field, renamed, 1) if exc.message.startswith(field) else exc.message
    return errors.InvalidInput(message, renamed, code=exc.code)


def _weights(value) -> int | None:
    """The instance weight of Consul's ``Weights``: ``Passing`` (``Warning`` is accepted and unused:
    an instance that is not up gets no traffic from Manifest, whatever its weight)."""
    if value is None:
        return None
    weights, spelled = folded(value, "Weights")
    _unknown(weights, spelled, {"passing", "warning"}, "Weights")
    for key, label in (("passing", "Passing"), ("warning", "Warning")):
        if key in weights and (type(weights[key]) is not int or weights[key] < 0):
            raise errors.InvalidInput(f"Weights.{label} must be a non-negative integer", f"Weights.{label}")
    return weights.get("passing")


def _check(svc: dict) -> tuple[float | None, dict | None, str]:
    """(ttl, probe check, how the check is named in errors) of the service's one check."""
    checks = []
    if svc.get("check"):
        checks.append(("Check", svc["check"]))
    if svc.get("checks") is not None:
        if not isinstance(svc["checks"], list):
            raise errors.InvalidInput("Checks must be a list", "Checks")
        checks += [(f"Checks[{i}]", c) for i, c in enumerate(svc["checks"]) if c]
    if len(checks) > 1:
        raise errors.Unsupported("one check per service: a Manifest instance has one health", checks[1][0])
    if not checks:
        # No check: Consul calls the service passing for ever. A Manifest instance needs
        # heartbeats, so it gets the longest ttl and stays up for a day after each registration.
        return model.MAX_TTL, None, "Check"
    where, raw = checks[0]
    check, spelled = folded(raw, where)
    for key, label in _NEVER.items():
        if key in check:
            raise errors.Unsupported(f"{where}.{label}: Manifest runs no commands; use a TTL, HTTP, TCP or gRPC "
                                     "check", f"{where}.{label}")
    for key, label in _PROBE_NOT_RUN.items():
        if key in check:
            raise errors.Unsupported(f"{where}.{label}: Manifest's leader runs HTTP, TCP and gRPC checks only",
                                     f"{where}.{label}")
    probes = [key for key in _PROBE_KEYS if key in check]
    allowed = _CHECK_KEYS | (set(_PROBE_KEYS) | set(_PROBE_COUNTS) | set(_PROBE_DEFAULTS) if probes else set())
    for key in check:
        if key not in allowed and (key in _PROBE_COUNTS or key in _PROBE_DEFAULTS):
            raise errors.InvalidInput(f"{where}.{spelled[key]} applies to HTTP, TCP and gRPC checks",
                                      _name(where, spelled, key, key))
    _unknown(check, spelled, allowed, where)
    if len(probes) + ("ttl" in check) > 1:
        raise errors.InvalidInput(f"{where} must be one kind of check: TTL, HTTP, TCP or gRPC", where)
    if not probes and "ttl" not in check:
        raise errors.InvalidInput(f"{where}.TTL is required (or HTTP, TCP, GRPC)", f"{where}.TTL",
                                  code="required")
    service_id = svc.get("id") or svc.get("name")
    given_id = check.get("checkid") or check.get("id")
    if given_id not in (None, "", f"service:{service_id}"):
        raise errors.Unsupported(f"{where}.CheckID: only the default service:<ID> is supported "
                                 "(one check per instance)", f"{where}.CheckID")
    status = check.get("status")
    if status not in (None, "", "passing", "critical"):
        if status == "warning":
            raise errors.Unsupported(f"{where}.Status: a check starts passing (TTL) or critical (until its first "
                                     "pass); register, then PUT /v1/agent/check/warn", f"{where}.Status")
        raise errors.InvalidInput(f"{where}.Status must be passing, warning or critical", f"{where}.Status")
    if status == "critical" and not probes:
        raise errors.Unsupported(f"{where}.Status: Manifest counts a TTL check's registration as its first pass; "
                                 "register, then PUT /v1/agent/check/fail", f"{where}.Status")
    if check.get("deregistercriticalserviceafter") not in (None, ""):
        go_duration(check["deregistercriticalserviceafter"], f"{where}.DeregisterCriticalServiceAfter")  # ignored
    for key, label in (("name", "Name"), ("notes", "Notes"), ("serviceid", "ServiceID")):
        if check.get(key) is not None and not isinstance(check[key], str):
            raise errors.InvalidInput(f"{where}.{label} must be a string", f"{where}.{label}")
    if not probes:
        for key, label in (("interval", "Interval"), ("timeout", "Timeout")):
            if check.get(key) not in (None, ""):
                go_duration(check[key], f"{where}.{label}")  # checked, then ignored: a TTL check is not run
        return go_duration(check["ttl"], f"{where}.TTL"), None, where
    return None, _probe(check, spelled, probes[0], where), where


def _probe(check: dict, spelled: dict, kind: str, where: str) -> dict:
    """Our check spec (fsm/fields.check_spec, validated with the registration) of a Consul probe."""
    for key, (label, defaults) in _PROBE_DEFAULTS.items():
        if key in check and check[key] not in defaults:
            raise errors.Unsupported(f"{where}.{label}: Manifest's probes do not have this option "
                                     "(HTTP probes are a GET that passes on 2xx)", f"{where}.{label}")
    spec = {kind: check[kind]}
    if check.get("interval") in (None, ""):
        raise errors.InvalidInput(f"{where}.Interval is required for {_PROBE_KEYS[kind]} checks",
                                  f"{where}.Interval", code="required")
    spec["interval"] = go_duration(check["interval"], f"{where}.Interval")
    if check.get("timeout") not in (None, ""):
        spec["timeout"] = go_duration(check["timeout"], f"{where}.Timeout")
    for key, (label, ours) in _PROBE_COUNTS.items():
        value = check.get(key)
        if value in (None, 0):
            continue
        if type(value) is not int or value < 0:
            raise errors.InvalidInput(f"{where}.{label} must be a non-negative integer", f"{where}.{label}")
        spec[ours] = min(spec.get(ours, value), value)
    return spec


def check_update(body) -> str:
    """The Manifest status of ``PUT /v1/agent/check/update/{id}``'s body."""
    upd, spelled = folded(body, "body")
    _unknown(upd, spelled, {"status", "output"}, "body")
    if upd.get("output") is not None and not isinstance(upd["output"], str):
        raise errors.InvalidInput("Output must be a string", "Output")
    status = upd.get("status")
    if status not in TO_MANIFEST:
        raise errors.InvalidInput("Status must be passing, warning or critical", "Status")
    return TO_MANIFEST[status]


# ---- query strings ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A Consul read's query string, parsed once. ``view`` is what the answer's body depends on."""

    consistent: bool = False
    max_stale: float | None = None
    index: int | None = None  # Consul's (ours + 1)
    wait: float | None = None
    passing: bool = False
    tags: tuple[str, ...] = ()
    filter: str | None = None
    pretty: bool = False

    @property
    def view(self) -> tuple:
        return (self.passing, self.tags, self.filter, self.pretty)


_READ_KEYS = {"dc", "index", "wait", "stale", "consistent", "cached", "max_stale", "token", "pretty", "ns",
              "partition", "filter"}
_REFUSED = {"near": "sorting by network distance", "node-meta": "node metadata (Manifest has no Consul nodes)",
            "peer": "cluster peering", "merge-central-config": "central service configuration",
            "sampling": "sampling", "hash": "hash-based blocking"}


def _flag(q: MultiMapping, key: str) -> bool:
    """Consul's boolean parameters: present and empty means true."""
    raw = params._one(q, key)
    if raw is None:
        return False
    word = raw.lower()
    if word in ("", "1", "true", "t"):
        return True
    if word in ("0", "false", "f"):
        return False
    raise errors.InvalidInput(f"invalid value for ?{key}", key)


def read_query(q: MultiMapping, extra: frozenset = frozenset(), datacenter: str = "dc1") -> ReadQuery:
    for key in q:
        if key in _REFUSED:
            raise errors.Unsupported(f"?{key} ({_REFUSED[key]}) is not supported", key)
        if key not in _READ_KEYS and key not in extra:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")
    dc = params._one(q, "dc")
    if dc not in (None, "", datacenter):
        raise errors.InvalidInput(f"unknown datacenter {dc!r}: this registry is {datacenter!r}", "dc")
    for key in ("ns", "partition"):
        if params._one(q, key) not in (None, "", "default"):
            raise errors.Unsupported(f"?{key}: only the default one exists", key)
    stale, consistent = _flag(q, "stale"), _flag(q, "consistent")
    if stale and consistent:
        raise errors.InvalidInput("cannot specify ?stale with ?consistent, conflicting semantics", "consistent")
    _flag(q, "cached")
    max_stale = None
    if (raw := params._one(q, "max_stale")) is not None:
        max_stale = go_duration(raw, "max_stale")
    index = wait = None
    if (raw := params._one(q, "index")) is not None:
        index = params.parse_uint(raw, "index")
    if (raw := params._one(q, "wait")) is not None:
        wait = min(go_duration(raw, "wait"), MAX_WAIT)
    tags = tuple(q.getall("tag", [])) if "tag" in extra else ()
    if any(not t for t in tags):
        raise errors.InvalidInput("tag must not be empty", "tag")
    passing = _flag(q, "passing") if "passing" in extra else False
    filter_text = params._one(q, "filter") or None
    return ReadQuery(consistent, max_stale, index, wait, passing, tags, filter_text, _flag(q, "pretty"))
