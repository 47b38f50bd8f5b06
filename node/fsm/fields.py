"""Validation of the fields issue 13 added: checks, weights, heartbeat extras, drain and maintenance.

Like validation.py, shared by the API (to answer 400 naming the field) and
by apply (so a malformed command is refused alike on every node). Every
function returns the normalized value or raises ValidationError.
"""

from __future__ import annotations

import math
import re

from . import model
from .invalid import ValidationError, is_text

CHECK_KINDS = ("http", "tcp", "grpc")
_CHECK_KEYS = frozenset(CHECK_KINDS + ("interval", "timeout", "success_before_up",
                                       "failures_before_unhealthy", "failures_before_down"))
_URL = re.compile(r"https?://[\x21-\x7e]{1,500}")
_HOSTPORT = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253}):[0-9]{1,5}")
_GRPC = re.compile(r"((?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253}):[0-9]{1,5})(?:/([A-Za-z0-9._]{1,200}))?")
MAX_META_PATCH = 16
MAX_REASON = 256
MAX_DRAIN_S = 86_400.0


def _number(value, field: str, low: float, high: float, what: str = "a number") -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or not low <= value <= high:
        raise ValidationError(field, f"{field} must be {what} in {low:g}..{high:g}")
    return float(value)


def _count(value, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(field, f"{field} must be an integer in {low}..{high}")
    return value


def _port_ok(hostport: str) -> bool:
    return 0 < int(hostport.rpartition(":")[2]) < 65536


def check_spec(value, field: str = "check") -> dict:
    """``{http|tcp|grpc: target, interval, timeout, success_before_up, failures_before_*}``, defaults filled."""
    if not isinstance(value, dict):
        raise ValidationError(field, f"{field} must be an object with one of http, tcp or grpc")
    for key in value:
        if key not in _CHECK_KEYS:
            raise ValidationError(f"{field}.{key}", f"unknown field {key!r} in {field}", "unknown_field")
    kinds = [k for k in CHECK_KINDS if k in value]
    if len(kinds) != 1:
        raise ValidationError(field, f"{field} needs exactly one of http, tcp or grpc")
    kind, target = kinds[0], value[kinds[0]]
    where = f"{field}.{kind}"
    if type(target) is not str:
        raise ValidationError(where, f"{where} must be a string")
    if kind == "http" and not _URL.fullmatch(target):
        raise ValidationError(where, f"{where} must be an http:// or https:// URL of printable ASCII")
    if kind == "tcp" and not (_HOSTPORT.fullmatch(target) and _port_ok(target)):
        raise ValidationError(where, f"{where} must be HOST:PORT")
    if kind == "grpc":
        m = _GRPC.fullmatch(target)
        if m is None or not _port_ok(m.group(1)):
            raise ValidationError(where, f"{where} must be HOST:PORT or HOST:PORT/service")
    out = {kind: target}
    out["interval"] = _number(value.get("interval", 10), f"{field}.interval", 1, 3600, "seconds")
    out["timeout"] = _number(value.get("timeout", min(2.0, out["interval"])), f"{field}.timeout", 0.1, 60,
                             "seconds")
    if out["timeout"] > out["interval"]:
        raise ValidationError(f"{field}.timeout", f"{field}.timeout must not exceed {field}.interval")
    out["success_before_up"] = _count(value.get("success_before_up", 1), f"{field}.success_before_up", 1, 100)
    out["failures_before_unhealthy"] = _count(value.get("failures_before_unhealthy", 1),
                                              f"{field}.failures_before_unhealthy", 1, 100)
    out["failures_before_down"] = _count(value.get("failures_before_down", max(3, out["failures_before_unhealthy"])),
                                         f"{field}.failures_before_down", 1, 1000)
    if out["failures_before_down"] < out["failures_before_unhealthy"]:
        raise ValidationError(f"{field}.failures_before_down",
                              f"{field}.failures_before_down must be >= failures_before_unhealthy")
    return out


def weight(value, field: str = "weight") -> float:
    return _number(value, field, 0, model.MAX_WEIGHT)


def generation(value, field: str = "generation") -> int:
    if type(value) is not int or not 1 <= value < 2**62:
        raise ValidationError(field, f"{field} must be a positive integer (the one registration returned)")
    return value


def load(value, field: str = "load") -> float:
    return _number(value, field, 0, 1)


def metadata_patch(value, field: str = "metadata") -> dict:
    """Keys to set (string values) or remove (null), at most MAX_META_PATCH of them."""
    if not isinstance(value, dict):
        raise ValidationError(field, f"{field} must be an object of strings or nulls")
    if len(value) > MAX_META_PATCH:
        raise ValidationError(field, f"{field} patches at most {MAX_META_PATCH} keys per heartbeat")
    for k, v in value.items():
        if not is_text(k) or not 1 <= len(k) <= model.MAX_META_KEY:
            raise ValidationError(f"{field}.{k}" if isinstance(k, str) else field,
                                  f"metadata keys must be strings of 1..{model.MAX_META_KEY} chars "
                                  "without control characters")
        if v is not None and (type(v) is not str or len(v) > model.MAX_META_VALUE):
            raise ValidationError(f"{field}.{k}", f"{field}.{k} must be null or a string of at most "
                                  f"{model.MAX_META_VALUE} chars")
    return dict(value)


HEARTBEAT_EXTRAS = frozenset(("generation", "load", "metadata", "coalesce"))


def heartbeat_extras(extras) -> dict:
    """The optional fifth item of a HEARTBEAT command (commands.heartbeat)."""
    if extras is None:
        return {}
    if not isinstance(extras, dict) or not HEARTBEAT_EXTRAS.issuperset(extras):
        raise ValidationError(None, "malformed heartbeat extras")
    out = {}
    if extras.get("generation") is not None:
        out["generation"] = generation(extras["generation"])
    if extras.get("load") is not None:
        out["load"] = load(extras["load"])
    if extras.get("metadata") is not None:
        out["metadata"] = metadata_patch(extras["metadata"])
    coalesce = extras.get("coalesce")
    if coalesce is not None:
        if (type(coalesce) is not list or len(coalesce) != 2
                or any(type(n) is not int or n < 0 for n in coalesce)):
            raise ValidationError(None, "malformed load coalescing")
        out["coalesce"] = coalesce
    return out


def reason(value, field: str = "reason") -> str:
    if value is None:
        return ""
    if not is_text(value) or len(value) > MAX_REASON:
        raise ValidationError(field, f"{field} must be a string of at most {MAX_REASON} chars "
                              "without control characters")
    return value


def drain_deadline(value, field: str = "deadline") -> float | None:
    """Seconds from now until a draining instance is removed; None: no deadline."""
    if value is None:
        return None
    return _number(value, field, 0, MAX_DRAIN_S, "seconds")
