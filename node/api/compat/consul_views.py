"""Manifest instance records as Consul sees services: catalog entries, health entries, checks.

Consul hangs every service on a node (an agent's machine); Manifest has no
such nodes, so each instance gets one named after its address (or
``manifest`` when it has none), in the one datacenter ``dc1``. Every
instance has exactly one check ``service:<ID>``, a TTL check or the HTTP,
TCP or gRPC check the leader runs for it, whose status is the instance's
(docs/compat.md, "Status words"); an instance in maintenance has Consul's
critical ``_service_maintenance:<ID>`` check beside it.
"""

from __future__ import annotations

import uuid

from ...fsm import model

DATACENTER = "dc1"
NO_ADDRESS_NODE = "manifest"
# Ours -> Consul's. An unhealthy instance reads as critical, not warning: integrations that
# accept warning (Traefik's default) would otherwise route to an instance that reported failing.
# Everything not up is out of discovery here, so it is critical there (as a Consul service whose
# check has not passed yet is, or one in maintenance).
STATUS = {model.UP: "passing", model.UNHEALTHY: "critical", model.DOWN: "critical", model.STARTING: "critical",
          model.DRAINING: "critical", model.MAINTENANCE: "critical"}
assert set(STATUS) == set(model.STATUSES)
MAINTENANCE_PREFIX = "_service_maintenance:"
_NODE_IDS: dict[str, str] = {}


def index_of(revision: int) -> int:
    """X-Consul-Index for a Manifest revision: one more, since Consul clients take 0 for "none"."""
    return revision + 1


def node_name(record: dict) -> str:
    return record["address"] or NO_ADDRESS_NODE


def _node_id(name: str) -> str:
    found = _NODE_IDS.get(name)
    if found is None:
        if len(_NODE_IDS) > 100_000:
            _NODE_IDS.clear()
        found = _NODE_IDS[name] = str(uuid.uuid5(uuid.NAMESPACE_DNS, name + ".node.manifest"))
    return found


def check_id(record: dict) -> str:
    return f"service:{record['id']}"


def _output(record: dict) -> str:
    status = record["status"]
    if status == model.UNHEALTHY:
        return "the instance reported itself unhealthy, or its check failed"
    if status == model.DOWN:
        return f"TTL expired: no heartbeat for {record['ttl']:g}s" if record["ttl"] else "the check concluded down"
    if status == model.STARTING:
        return "the check has not passed yet"
    if status == model.DRAINING:
        return "the instance is draining"
    if status == model.MAINTENANCE:
        return "the instance is in maintenance"
    return ""


def _duration(seconds: float) -> str:
    """A Go duration string for Consul's clients: 10s, 1.5s."""
    return f"{seconds:g}s"


def _kind(check: dict | None) -> tuple[str, dict]:
    """Consul's Type and Definition of the instance's check."""
    if not check:
        return "ttl", {}
    for kind, consul_key in (("http", "HTTP"), ("tcp", "TCP"), ("grpc", "GRPC")):
        if kind in check:
            return kind, {consul_key: check[kind], "Interval": _duration(check["interval"]),
                          "Timeout": _duration(check["timeout"])}
    return "ttl", {}


def check(record: dict) -> dict:
    index = index_of(record["revision"])
    kind, definition = _kind(record.get("check"))
    return {"Node": node_name(record), "CheckID": check_id(record), "Name": f"Service '{record['name']}' check",
            "Status": STATUS[record["status"]], "Notes": "", "Output": _output(record),
            "ServiceID": record["id"], "ServiceName": record["name"], "ServiceTags": record["tags"],
            "Type": kind, "Interval": definition.get("Interval", ""), "Timeout": definition.get("Timeout", ""),
            "ExposedPort": 0, "Definition": definition, "CreateIndex": index, "ModifyIndex": index}


def checks(record: dict) -> list[dict]:
    """The instance's check, and Consul's maintenance check while it is in maintenance."""
    own = check(record)
    info = record.get("maintenance")
    if record["status"] != model.MAINTENANCE or info is None:
        return [own]
    reason = info.get("reason") or "Maintenance mode is enabled for this service, but no reason was provided."
    return [{**own, "CheckID": MAINTENANCE_PREFIX + record["id"], "Name": "Service Maintenance Mode",
             "Status": "critical", "Notes": reason, "Output": "", "Type": "maintenance", "Interval": "",
             "Timeout": "", "Definition": {}}, own]


def weights(record: dict) -> dict:
    """Consul's Weights (integers) from the instance's weight; Warning has no use here."""
    return {"Passing": max(0, round(record.get("weight", 1.0))), "Warning": 1}


def agent_service(record: dict) -> dict:
    return {"ID": record["id"], "Service": record["name"], "Tags": record["tags"], "Meta": record["metadata"],
            "Port": record["port"] or 0, "Address": record["address"] or "", "Weights": weights(record),
            "EnableTagOverride": False, "Datacenter": DATACENTER}


def _node(record: dict) -> dict:
    name, index = node_name(record), index_of(record["revision"])
    return {"ID": _node_id(name), "Node": name, "Address": record["address"] or "", "Datacenter": DATACENTER,
            "TaggedAddresses": {}, "Meta": {}, "CreateIndex": index, "ModifyIndex": index}


def health_entry(record: dict) -> dict:
    index = index_of(record["revision"])
    service = {**agent_service(record), "CreateIndex": index, "ModifyIndex": index}
    del service["Datacenter"]
    return {"Node": _node(record), "Service": service, "Checks": checks(record)}


def catalog_entry(record: dict) -> dict:
    name, index = node_name(record), index_of(record["revision"])
    return {"ID": _node_id(name), "Node": name, "Address": record["address"] or "", "Datacenter": DATACENTER,
            "TaggedAddresses": {}, "NodeMeta": {}, "ServiceKind": "", "ServiceID": record["id"],
            "ServiceName": record["name"], "ServiceTags": record["tags"], "ServiceAddress": record["address"] or "",
            "ServiceWeights": weights(record), "ServiceMeta": record["metadata"], "ServicePort": record["port"] or 0,
            "ServiceEnableTagOverride": False, "CreateIndex": index, "ModifyIndex": index}


# What filter selectors may name, per kind of answer (consul_filter checks them at parse time).
_SAMPLE = {"name": "s", "id": "s", "address": "a", "port": 1, "tags": ["t"], "metadata": {}, "ttl": 1.0,
           "status": model.UP, "revision": 1, "weight": 1.0, "check": None}
SHAPES = {"health": health_entry(_SAMPLE), "catalog": catalog_entry(_SAMPLE), "check": check(_SAMPLE),
          "agent": agent_service(_SAMPLE)}
MAPS = frozenset({"Service.Meta", "Node.Meta", "Node.TaggedAddresses", "ServiceMeta", "NodeMeta",
                  "TaggedAddresses", "Meta", "Definition"})
