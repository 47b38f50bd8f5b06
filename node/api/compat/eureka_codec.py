"""Eureka's instance documents in and out, as JSON or XML, and its status words.

An instance arrives as ``{"instance": {...}}`` (JSON, with Eureka's ``$`` text
and ``@attribute`` keys) or ``<instance>...</instance>`` (XML), and becomes a
Manifest registration: app -> name (lower case: Eureka's app names are
case-blind and shown upper case), instanceId -> id, ipAddr -> address, the
enabled port -> port, durationInSecs -> ttl, metadata -> metadata, page URLs
and ports -> interfaces (``home``, ``status``, ``health``, ``secure-health``,
``http``, ``https``). What Manifest has no field for (hostName, vipAddress,
secureVipAddress) is kept under metadata keys ``eureka.*``, which Eureka
clients get back in their own fields.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import orjson

from ... import errors
from ...fsm import model

# Theirs -> ours. Every word but UP means "not taking traffic" and is an instance's own report.
TO_MANIFEST = {"UP": model.UP, "DOWN": model.UNHEALTHY, "STARTING": model.UNHEALTHY,
               "OUT_OF_SERVICE": model.UNHEALTHY, "UNKNOWN": model.UNHEALTHY}
# Ours -> theirs: unhealthy reads as OUT_OF_SERVICE, so a status override reads back as it was set.
# Starting (a check that has not passed yet) is Eureka's STARTING; draining and maintenance, out of
# discovery while still registered, are what Eureka calls OUT_OF_SERVICE.
FROM_MANIFEST = {model.UP: "UP", model.UNHEALTHY: "OUT_OF_SERVICE", model.DOWN: "DOWN", model.STARTING: "STARTING",
                 model.DRAINING: "OUT_OF_SERVICE", model.MAINTENANCE: "OUT_OF_SERVICE"}
assert set(FROM_MANIFEST) == set(model.STATUSES)
RESERVED = "eureka."
_KEPT = {"hostName": "eureka.hostName", "vipAddress": "eureka.vipAddress",
         "secureVipAddress": "eureka.secureVipAddress"}
_PAGES = {"homePageUrl": "home", "statusPageUrl": "status", "healthCheckUrl": "health",
          "secureHealthCheckUrl": "secure-health"}
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
DEFAULT_DURATION = 90
MAX_XML_DEPTH = 8


def _bad(message: str, field: str) -> errors.InvalidInput:
    return errors.InvalidInput(message, field)


# ---- in ------------------------------------------------------------------------
def _xml_value(el: ET.Element, depth: int = 0):
    if depth > MAX_XML_DEPTH:
        raise _bad("XML nested too deeply", "body")
    children = list(el)
    if not children:
        text = (el.text or "").strip()
        return {**{f"@{k}": v for k, v in el.attrib.items()}, "$": text} if el.attrib else text
    out: dict = {f"@{k}": v for k, v in el.attrib.items()}
    for child in children:
        out[child.tag] = _xml_value(child, depth + 1)
    return out


def parse_instance(raw: bytes, content_type: str) -> dict:
    """The ``instance`` object of a registration body, JSON or XML (refusing DTDs and entities)."""
    if "xml" in content_type:
        if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
            raise _bad("XML with a DOCTYPE or entities is refused", "body")
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as exc:
            raise errors.InvalidInput(f"body is not valid XML: {exc}", "body", code="malformed") from None
        if root.tag != "instance":
            raise _bad("an XML registration is one <instance> element", "body")
        return _xml_value(root)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidInput(f"body is not valid JSON: {exc}", "body", code="malformed") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("instance"), dict):
        raise _bad('a JSON registration is {"instance": {...}}', "instance")
    return doc["instance"]


def _text(inst: dict, key: str) -> str:
    value = inst.get(key)
    if value is None:
        return ""
    if isinstance(value, (dict, list)) or isinstance(value, bool):
        raise _bad(f"instance.{key} must be a string", f"instance.{key}")
    return str(value).strip()


def _port(inst: dict, key: str) -> int | None:
    """The port of ``port``/``securePort`` when enabled (``{"$": 8080, "@enabled": "true"}``)."""
    value = inst.get(key)
    if value in (None, ""):
        return None
    enabled = "true"
    if isinstance(value, dict):
        enabled = str(value.get("@enabled", "true")).lower()
        value = value.get("$")
    if enabled not in ("true", "false"):
        raise _bad(f"instance.{key}.@enabled must be true or false", f"instance.{key}")
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,5}", str(value)) or int(value) > 65535:
        raise _bad(f"instance.{key} must be a port number", f"instance.{key}")
    return int(value) if enabled == "true" else None


def status_word(value, field: str) -> str:
    word = str(value or "").upper()
    if word not in TO_MANIFEST:
        raise _bad(f"{field} must be one of {', '.join(TO_MANIFEST)}", field)
    return word


def registration(app: str, inst: dict) -> tuple[dict, str]:
    """(Manifest registration fields, the Eureka status word the instance takes)."""
    given_app = _text(inst, "app")
    if given_app and given_app.lower() != app.lower():
        raise _bad(f"instance.app {given_app!r} differs from the path's {app!r}", "instance.app")
    host, ip = _text(inst, "hostName"), _text(inst, "ipAddr")
    address = ip or host
    port, secure = _port(inst, "port"), _port(inst, "securePort")
    interfaces = {}
    if port is not None and address:
        interfaces["http"] = f"http://{host or address}:{port}"
    if secure is not None and address:
        interfaces["https"] = f"https://{host or address}:{secure}"
    for key, name in _PAGES.items():
        if _text(inst, key):
            interfaces[name] = _text(inst, key)
    metadata = inst.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _bad("instance.metadata must be an object", "instance.metadata")
    meta = {}
    for key, value in metadata.items():
        if str(key).startswith("@"):
            continue  # Jackson's "@class" of an empty map
        if str(key).startswith(RESERVED):
            raise _bad(f"metadata keys starting with {RESERVED!r} are Manifest's", f"instance.metadata.{key}")
        meta[key] = value if isinstance(value, str) else "" if value is None else str(value)
    for key, kept in _KEPT.items():
        if _text(inst, key):
            meta[kept] = _text(inst, key)
    lease = inst.get("leaseInfo") or {}
    duration = lease.get("durationInSecs", DEFAULT_DURATION) if isinstance(lease, dict) else None
    if isinstance(duration, bool) or not re.fullmatch(r"[0-9]{1,6}", str(duration)):
        raise _bad("instance.leaseInfo.durationInSecs must be a number of seconds", "instance.leaseInfo")
    status = _text(inst, "status") or "UP"
    override = _text(inst, "overriddenstatus").upper()
    word = status_word(override if override not in ("", "UNKNOWN") else status, "instance.status")
    fields = {"name": app.lower(), "id": _text(inst, "instanceId") or host, "address": address or None,
              "port": port if port is not None else secure, "interfaces": interfaces, "metadata": meta,
              "ttl": int(duration)}
    return fields, word


# ---- out -----------------------------------------------------------------------
def _ms(iso: str | None) -> int:
    if not iso:
        return 0
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _url_port(url: str | None) -> int | None:
    try:
        return urlsplit(url).port if url else None
    except ValueError:
        return None


def instance(record: dict, action: str = "ADDED") -> dict:
    """A Manifest record as Eureka's instance document (JSON shape; ``to_xml`` renders it too)."""
    meta, ifaces = record["metadata"], record["interfaces"]
    eureka_made = "http" in ifaces or "https" in ifaces or any(k.startswith(RESERVED) for k in meta)
    port = record["port"]
    port_on = "http" in ifaces if eureka_made else port is not None
    secure = _url_port(ifaces.get("https"))
    registered, renewed = _ms(record["registered_at"]), _ms(record["last_heartbeat"])
    name = record["name"]
    shown = {k: v for k, v in meta.items() if not k.startswith(RESERVED)}
    return {
        "instanceId": record["id"], "hostName": meta.get(_KEPT["hostName"], record["address"] or ""),
        "app": name.upper(), "ipAddr": record["address"] or "", "status": FROM_MANIFEST[record["status"]],
        "overriddenstatus": "UNKNOWN",
        "port": {"$": port if port_on and port is not None else 0, "@enabled": "true" if port_on else "false"},
        "securePort": {"$": secure or 443, "@enabled": "true" if secure else "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": int(record["ttl"]),
                      "registrationTimestamp": registered, "lastRenewalTimestamp": renewed,
                      "evictionTimestamp": 0, "serviceUpTimestamp": registered},
        "metadata": shown or {"@class": "java.util.Collections$EmptyMap"},
        "homePageUrl": ifaces.get("home", ifaces.get("http", "")), "statusPageUrl": ifaces.get("status", ""),
        "healthCheckUrl": ifaces.get("health", ""), "secureHealthCheckUrl": ifaces.get("secure-health", ""),
        "vipAddress": meta.get(_KEPT["vipAddress"], name), "secureVipAddress": meta.get(_KEPT["secureVipAddress"], name),
        "isCoordinatingDiscoveryServer": "false", "lastUpdatedTimestamp": str(renewed),
        "lastDirtyTimestamp": str(registered), "actionType": action,
    }


def hash_code(counts: dict[str, int]) -> str:
    """Eureka's apps__hashcode: ``STATUS_count_`` for each status present, in name order."""
    words: dict[str, int] = {}
    for status, n in counts.items():
        if n:
            word = FROM_MANIFEST[status]
            words[word] = words.get(word, 0) + n
    return "".join(f"{word}_{n}_" for word, n in sorted(words.items()))


def _xml(tag: str, value, out: list) -> None:
    if isinstance(value, list):
        for item in value:
            _xml(tag, item, out)
        return
    if not isinstance(value, dict):
        out.append(f"<{tag}>{escape(str(value))}</{tag}>")
        return
    attrs = "".join(f" {k[1:]}={quoteattr(str(v))}" for k, v in value.items() if k.startswith("@"))
    inner = [(k, v) for k, v in value.items() if not k.startswith("@")]
    if inner == [("$", value.get("$"))]:
        out.append(f"<{tag}{attrs}>{escape(str(value['$']))}</{tag}>")
        return
    out.append(f"<{tag}{attrs}>")
    for k, v in inner:
        if _XML_NAME.fullmatch(k):  # a metadata key that is no XML name cannot be an element
            _xml(k, v, out)
    out.append(f"</{tag}>")


def to_xml(root: str, value) -> bytes:
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
    _xml(root, value, out)
    return "".join(out).encode()
