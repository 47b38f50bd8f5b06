"""Validation of client-supplied instance fields, shared by the API and the FSM.

The API validates to answer 400 naming the field; the FSM validates again so a
malformed command that somehow reached the log is rejected the same way on
every node instead of corrupting state.
"""

from __future__ import annotations

import math
import re

from . import deps, fields, model
from .invalid import ValidationError, is_text
from .semver import parse_version

__all__ = ["ValidationError", "is_text", "is_name", "is_id", "validate_registration"]

# Always used with fullmatch(): with match(), "$" also matches just before a
# trailing newline, and "nl\n" was a valid name. The character classes are
# ASCII, so look-alikes from other scripts never match.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
IFACE_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
def is_name(value) -> bool:
    return type(value) is str and NAME_RE.fullmatch(value) is not None


def is_id(value) -> bool:
    return type(value) is str and ID_RE.fullmatch(value) is not None



CLIENT_FIELDS = ("name", "id", "version", "address", "port", "interfaces", "tags",
                 "metadata", "dependencies", "ttl", "weight", "check", "generation")
SERVER_FIELDS = ("status", "registered_at", "last_heartbeat", "revision", "load",
                 "drain", "maintenance", "removed", "warnings")
_CLIENT_SET = frozenset(CLIENT_FIELDS)


def check_name(value, field: str = "name") -> str:
    if not is_name(value):
        raise ValidationError(field, f"{field} must match {NAME_RE.pattern}")
    return value


def check_id(value, field: str = "id") -> str:
    if not is_id(value):
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
    return is_text(item) and 1 <= len(item) <= model.MAX_TAG_LEN


def _str_map(value, field: str, max_items: int, key_ok, key_what: str, max_value: int,
             value_ok=None) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationError(field, f"{field} must be an object of strings")
    if len(value) > max_items:
        raise ValidationError(field, f"{field} holds at most {max_items} entries")
    for k, v in value.items():
        if not key_ok(k):
            raise ValidationError(f"{field}.{k}" if isinstance(k, str) else field, key_what)
        if type(v) is not str or len(v) > max_value:
            raise ValidationError(f"{field}.{k}", f"{field}.{k} must be a string of at most {max_value} chars")
        if value_ok is not None and not value_ok(v):
            raise ValidationError(f"{field}.{k}", f"{field}.{k} must not hold control characters")
    return dict(value)


def _meta_key_ok(k) -> bool:
    return is_text(k) and 1 <= len(k) <= model.MAX_META_KEY


def _iface_key_ok(k) -> bool:
    return type(k) is str and IFACE_NAME_RE.fullmatch(k) is not None


_TAG_WHAT = f"must be a string of 1..{model.MAX_TAG_LEN} chars without control characters"
_NAME_WHAT = f"must match {NAME_RE.pattern}"
_META_KEY_WHAT = f"metadata keys must be strings of 1..{model.MAX_META_KEY} chars without control characters"
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
    if address is not None and (not is_text(address) or not 0 < len(address) <= model.MAX_ADDRESS_LEN):
        raise ValidationError("address", f"address must be a string of 1..{model.MAX_ADDRESS_LEN} chars "
                              "without control characters")
    out["address"] = address
    port = body.get("port")
    if port is not None and (type(port) is not int or not 0 <= port <= 65535):
        raise ValidationError("port", "port must be an integer in 0..65535")
    out["port"] = port
    out["interfaces"] = _str_map(body.get("interfaces", {}), "interfaces", model.MAX_INTERFACES,
                                 _iface_key_ok, _IFACE_KEY_WHAT, model.MAX_INTERFACE_LEN, is_text)
    out["tags"] = _str_list(body.get("tags", []), "tags", model.MAX_TAGS, _tag_ok, _TAG_WHAT)
    out["metadata"] = _str_map(body.get("metadata", {}), "metadata", model.MAX_META, _meta_key_ok,
                               _META_KEY_WHAT, model.MAX_META_VALUE)
    out["dependencies"] = _str_list(body.get("dependencies", []), "dependencies", model.MAX_DEPENDENCIES,
                                    _dependency_ok, _DEP_WHAT)
    check = body.get("check")
    out["check"] = None if check is None else fields.check_spec(check)
    out["weight"] = fields.weight(body.get("weight", model.DEFAULT_WEIGHT))
    if body.get("generation") is not None:  # the registrant refreshing its own record
        out["generation"] = fields.generation(body["generation"])
    # With a check and no ttl, the check alone keeps the instance alive.
    ttl = body.get("ttl", None if out["check"] is not None else model.DEFAULT_TTL)
    if ttl is None and out["check"] is None:
        ttl = model.DEFAULT_TTL
    if ttl is not None and (type(ttl) not in (int, float) or not math.isfinite(ttl)
                            or not model.MIN_TTL <= ttl <= model.MAX_TTL):
        raise ValidationError("ttl", f"ttl must be a number of seconds in {model.MIN_TTL:g}..{model.MAX_TTL:g}")
    out["ttl"] = None if ttl is None else float(ttl)
    return out


def _dependency_ok(item) -> bool:
    return deps.parse(item) is not None


_DEP_WHAT = ("must be a service name, optionally followed by a version range "
             "(n8n, n8n>=1.2, orchestrator^1.4)")


_NODE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_API_URL_RE = re.compile(r"https?://[^\s\x00-\x1f\x7f-\x9f]{1,500}")
_RAFT_ADDR_RE = re.compile(r"[A-Za-z0-9._\[\]:-]{1,300}:[0-9]{1,5}")


def member_problem(command) -> str | None:
    """What is wrong with a MEMBER command's fields (None: nothing). Its API URL
    becomes the X-Manifest-Leader header of every read: no line breaks."""
    if len(command) != 4 or not all(type(x) is str for x in command[1:]):
        return "a member is [MEMBER, node id, API URL, Raft address], all strings"
    _, node_id, api, raft = command
    if not _NODE_ID_RE.fullmatch(node_id):
        return "member node id must be 1..64 of A-Za-z0-9._-"
    if not _API_URL_RE.fullmatch(api):
        return "member API URL must be an http(s) URL without spaces or control characters"
    if not _RAFT_ADDR_RE.fullmatch(raft):
        return "member Raft address must be HOST:PORT"
    return None


def check_reported_status(value, field: str = "status") -> str:
    if value not in model.REPORTABLE:
        raise ValidationError(field, f"{field} must be one of {', '.join(model.REPORTABLE)}")
    return value
