"""One ADS stream's subscriptions, versions and nonces, per type URL (state of the world).

No I/O: ``on_request`` takes a DiscoveryRequest and ``on_change`` the services
that changed, and both return the DiscoveryResponses to send, so the protocol
rules are tested without a socket:

- A request whose ``response_nonce`` is not the last one sent for its type is
  stale (a newer response is on its way, the client will answer that one) and
  is ignored.
- The latest nonce with ``error_detail`` is a NACK: the client kept its previous
  resources; it is counted and logged, and nothing is resent until something
  changes (sending the same thing again would only be refused again).
- Without ``error_detail`` it is an ACK of ``version_info``.
- Either way its ``resource_names`` are the client's subscription now: names
  added are answered at once. Listener and Cluster are wildcard when the first
  request names nothing or any request names ``*`` (Envoy's CDS); their
  responses carry the whole subscribed set, the other types only what changed.

A request may name at most ``MAX_NAMES`` resources of its type: each name costs
a store read and a resource built on the event loop, and a 4 MB request holds
hundreds of thousands. Past it ``on_request`` raises ``TooManyNames`` before any
work, and the servicer ends the stream with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

from envoy.service.discovery.v3 import discovery_pb2

from . import resources as res

log = logging.getLogger("manifest.mesh")
WILDCARD = "*"
MAX_NAMES = 10_000  # resource names of one type one stream may subscribe to (a mesh of 10,000 services)
_nonces = itertools.count(1)


class TooManyNames(Exception):
    """A request named more than MAX_NAMES resources of one type."""


@dataclass
class TypeState:
    names: set[str] = field(default_factory=set)
    wildcard: bool = False
    legacy_wildcard: bool = False  # the first request named nothing: an empty list stays "everything"
    version: int = 0
    nonce: str | None = None
    acked: str | None = None  # the last version_info the client accepted
    sent: dict[str, int] = field(default_factory=dict)  # resource -> what it was built from (Catalog.version)


class Subscriptions:
    def __init__(self, catalog, peer: str = "", on_nack=None):
        self._catalog = catalog
        self.peer = peer
        self.node_id = ""
        self.types: dict[str, TypeState] = {}
        self._on_nack = on_nack or (lambda type_url: None)

    def on_request(self, req) -> list:
        type_url = req.type_url
        if req.node.id:
            self.node_id = req.node.id
        if type_url not in res.TYPES:
            log.debug("xDS request for a type not served", extra={"type_url": type_url, "client": self.node_id})
            return []
        if len(req.resource_names) > MAX_NAMES:
            raise TooManyNames(f"a request names {len(req.resource_names)} resources of {type_url}; at most "
                               f"{MAX_NAMES} per type on one stream")
        st = self.types.get(type_url)
        first = st is None
        if first:
            st = self.types[type_url] = TypeState()
        elif req.response_nonce != st.nonce:
            return []  # stale, or a nonce we never sent
        elif req.HasField("error_detail"):
            self._on_nack(type_url)
            log.warning("xDS client refused a response (NACK)", extra={
                "client": self.node_id, "peer": self.peer, "type_url": type_url, "version": st.version,
                "error": req.error_detail.message[:500]})
        else:
            st.acked = req.version_info
        names = set(req.resource_names)
        before = self._wanted(type_url, st)
        if first and not names and type_url in res.FULL_STATE:
            st.legacy_wildcard = True
        st.wildcard = type_url in res.FULL_STATE and (WILDCARD in names or (st.legacy_wildcard and not names))
        st.names = names - {WILDCARD}
        if not st.wildcard:
            st.legacy_wildcard = False
        wanted = self._wanted(type_url, st)
        for gone in before - wanted:
            st.sent.pop(gone, None)
        added = wanted - before
        if first or added:
            return self._respond(type_url, st, wanted if type_url in res.FULL_STATE or first else added)
        return []

    def on_change(self, services: set[str] | None) -> list:
        """Responses for what changed in ``services`` (None: anything may have).

        Only two things change with the registry: a load assignment's endpoints, and
        which clusters a wildcard CDS subscription covers; the rest depend on names only."""
        out = []
        eds = self.types.get(res.ENDPOINT)
        if eds is not None:
            names = eds.names if services is None else eds.names & services
            changed = {n for n in names if eds.sent.get(n) != self._catalog.version(res.ENDPOINT, n)}
            if changed:
                out += self._respond(res.ENDPOINT, eds, changed)
        cds = self.types.get(res.CLUSTER)
        if cds is not None and cds.wildcard:
            known = self._catalog.services()
            touched = set(cds.sent) | known if services is None else services
            if any((n in known or n in cds.names) != (n in cds.sent) for n in touched):
                out += self._respond(res.CLUSTER, cds, self._wanted(res.CLUSTER, cds))
        return out

    def _wanted(self, type_url: str, st: TypeState) -> set[str]:
        if st.wildcard and type_url == res.CLUSTER:
            # Envoy asks for every cluster; an API listener is gRPC's and named, so a
            # wildcard Listener subscription gets only the names it lists.
            return st.names | self._catalog.services()
        return set(st.names)

    def _respond(self, type_url: str, st: TypeState, names) -> list:
        resources = []
        if type_url in res.FULL_STATE:
            st.sent = {}  # the whole set: what is not in it, the client drops
        for name in sorted(names):
            version = self._catalog.version(type_url, name)
            if version is None:
                st.sent.pop(name, None)
                continue  # no such resource: the client's does-not-exist timer tells it so
            resources.append(self._catalog.resource(type_url, name))
            st.sent[name] = version
        st.version += 1
        st.nonce = str(next(_nonces))
        return [discovery_pb2.DiscoveryResponse(version_info=str(st.version), resources=resources,
                                                type_url=type_url, nonce=st.nonce)]
