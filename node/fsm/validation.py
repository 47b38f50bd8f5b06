"""Validation of client-supplied instance fields, shared by the API and the FSM.

The API validates to answer 400 naming the field; the FSM validates again so a
malformed command that somehow reached the log is rejected the same way on
every node instead of corrupting state.
"""

from __future__ import annotations

import math
import re

from . import model
from .semver import parse_version

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
IFACE_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CLIENT_FIELDS = ("name", "id", "version", "address", "port", "interfaces", "tags",
                 "metadata", "dependencies", "ttl")
SERVER_FIELDS = ("status", "registered_at", "last_heartbeat", "revision")
_CLIENT_SET = frozenset(CLIENT_FIELDS)


class ValidationError(ValueError):
    """Input rejected; ``field`` names the offending field (dotted for nested ones)."""

    def __init__(self, field: str | None, message: str, code: str = "invalid"):
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


def check_name(value, field: str = "name") -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValidationError(field, f"{field} must match {NAME_RE.pattern}")
    return value


def check_id(value, field: str = "id") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ValidationError(field, f"{field} must match {ID_RE.pattern}")
    return value


# Every registration passes here on the receiving node and again in every
# node's apply, so the checks are predicates and the dotted field names of
# error messages are only built for the item that failed.

def _str_list(value, field: str, max_items: int, item_ok, what: str) -> list[str]:
    if not isinstance(value, list):
        raise ValidationError(field, f"{field} must be a list of strings")
    if len(value) > max_items:
        raise ValidationError(field, f"{field} holds at most {max_items} items")
    for i, item in enumerate(value):
        if not item_ok(item):
            raise ValidationError(f"{field}[{i}]", f"{field}[{i}] {what}")
    if len(set(value)) == len(value):
        return list(value)
    return list(dict.fromkeys(value))  # duplicates carry no meaning; keep first-seen order


def _tag_ok(item) -> bool:
    return type(item) is str and 1 <= len(item) <= model.MAX_TAG_LEN


def _name_ok(item) -> bool:
    return type(item) is str and NAME_RE.match(item) is not None


def _str_map(value, field: str, max_items: int, key_ok, key_what: str, max_value: int) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationError(field, f"{field} must be an object of strings")
    if len(value) > max_items:
        raise ValidationError(field, f"{field} holds at most {max_items} entries")
    for k, v in value.items():
        if not key_ok(k):
            raise ValidationError(f"{field}.{k}" if isinstance(k, str) else field, key_what)
        if type(v) is not str or len(v) > max_value:
            raise ValidationError(f"{field}.{k}", f"{field}.{k} must be a string of at most {max_value} chars")
    return dict(value)


def _meta_key_ok(k) -> bool:
    return type(k) is str and 1 <= len(k) <= model.MAX_META_KEY


def _iface_key_ok(k) -> bool:
    return type(k) is str and IFACE_NAME_RE.match(k) is not None


_TAG_WHAT = f"must be a string of 1..{model.MAX_TAG_LEN} chars"
_NAME_WHAT = f"must match {NAME_RE.pattern}"
_META_KEY_WHAT = f"metadata keys must be strings of 1..{model.MAX_META_KEY} chars"
_IFACE_KEY_WHAT = f"interface names must match {IFACE_NAME_RE.pattern}"


def validate_registration(body) -> dict:
    """Return the normalized client fields of a registration, or raise ValidationError.

    ``id`` may be absent: the proposing node generates one before the command
    enters the log.
    """
    if not isinstance(body, dict):
        raise ValidationError(None, "body must be a JSON object")
    if not _CLIENT_SET.issuperset(body):
        for key in body:
            if key in SERVER_FIELDS:
                raise ValidationError(key, f"{key} is set by the server", "read_only")
            if key not in _CLIENT_SET:
                raise ValidationError(str(key), f"unknown field {key!r}", "unknown_field")
    if "name" not in body:
        raise ValidationError("name", "name is required", "required")
    out: dict = {"name": check_name(body["name"])}
    if body.get("id") is not None:
        out["id"] = check_id(body["id"])
    version = body.get("version")
    if version is not None:
        if not isinstance(version, str) or parse_version(version) is None:
            raise ValidationError("version", "version must be a semantic version like 1.4.2")
    out["version"] = version
    address = body.get("address")
    if address is not None and (not isinstance(address, str) or not 0 < len(address) <= model.MAX_ADDRESS_LEN):
        raise ValidationError("address", f"address must be a string of 1..{model.MAX_ADDRESS_LEN} chars")
    out["address"] = address
    port = body.get("port")
    if port is not None and (type(port) is not int or not 0 <= port <= 65535):
        raise ValidationError("port", "port must be an integer in 0..65535")
    out["port"] = port
    out["interfaces"] = _str_map(body.get("interfaces", {}), "interfaces", model.MAX_INTERFACES,
                                 _iface_key_ok, _IFACE_KEY_WHAT, model.MAX_INTERFACE_LEN)
    out["tags"] = _str_list(body.get("tags", []), "tags", model.MAX_TAGS, _tag_ok, _TAG_WHAT)
    out["metadata"] = _str_map(body.get("metadata", {}), "metadata", model.MAX_META, _meta_key_ok,
                               _META_KEY_WHAT, model.MAX_META_VALUE)
    out["dependencies"] = _str_list(body.get("dependencies", []), "dependencies", model.MAX_DEPENDENCIES,
                                    _name_ok, _NAME_WHAT)
    ttl = body.get("ttl", model.DEFAULT_TTL)
    if type(ttl) not in (int, float) or not math.isfinite(ttl) or not model.MIN_TTL <= ttl <= model.MAX_TTL:
        raise ValidationError("ttl", f"ttl must be a number of seconds in {model.MIN_TTL:g}..{model.MAX_TTL:g}")
    out["ttl"] = float(ttl)
    return out


def check_reported_status(value, field: str = "status") -> str:
    if value not in model.REPORTABLE:
        raise ValidationError(field, f"{field} must be one of {', '.join(model.REPORTABLE)}")
    return value
