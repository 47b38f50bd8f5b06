"""The DNS interface: ``<service>.service.<domain>`` answered from this node's state, over UDP and TCP.

    web.service.consul        A / AAAA of every up instance of ``web`` with an IP address
    blue.web.service.consul   the same, tagged ``blue``      (also _web._blue.service.consul)
    web.service.consul  SRV   port, weight and target of each up instance; the target is the
                              instance's host name, or ``<hex ip>.addr.dc1.consul`` with its
                              A / AAAA record alongside, as Consul names them

Only ``up`` instances are answered, in a fresh random order each time, with
``--dns-ttl`` (0: resolvers do not cache). A service unknown here, or with no
up instance (with that tag), is NXDOMAIN, as in Consul; a name outside the
domain is REFUSED (no recursion). An answer holds at most 64 records over
UDP (fewer when the client's size does not take them) and sets TC when it
left any out, so resolvers ask again over TCP, where it holds at most 256.
Answers come from this node's applied
state with no Raft round trip, like ``consistency=local`` reads, rendered by
dnspython (wire format, name compression, EDNS, truncation). Each service's
up list is built once per change of the service (its revision) and reused,
and so are the first 8 renderings of each distinct query: later answers are
one of those 8 random orders, picked at random, sent with the query's id.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import struct

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV

from .config import NodeConfig
from .fsm import model
from .fsm.query import Query, run
from .fsm.validation import is_name

log = logging.getLogger("manifest.dns")

DATACENTER = b"dc1"
# Most records in one answer, a random pick of the up instances: rendering stays well under a
# millisecond. Over UDP, leaving some out sets TC (as Consul's enable_truncate), so resolvers ask
# again over TCP; over TCP the pick is all the client gets.
UDP_ANSWERS, TCP_ANSWERS = 64, 256
VARIANTS = 8  # renderings kept per query while its service is unchanged: each answer picks one at random
RENDERED = 2048  # queries kept; past that the store starts afresh
TCP_IDLE = 10.0
IN = dns.rdataclass.IN
_A, _AAAA, _SRV, _ANY = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.SRV, dns.rdatatype.ANY


class Answers:
    """Builds DNS responses from the store; no I/O, so tests call ``respond`` directly."""

    def __init__(self, store, domain: str, ttl: int):
        self._store = store
        self.domain = dns.name.from_text(domain.lower().rstrip(".") + ".")
        self._ttl = ttl
        self._soa = SOA(IN, dns.rdatatype.SOA, dns.name.from_text("ns", self.domain),
                        dns.name.from_text("hostmaster", self.domain), 1, 3600, 600, 86400, ttl)
        self._up: dict[tuple[str, str | None], tuple[int, list]] = {}
        # query without its id -> (service or None, its revision, rendered answers without the id)
        self._rendered: dict[tuple, tuple[str | None, int | None, list[bytes]]] = {}

    def respond(self, wire: bytes, udp: bool = True) -> bytes | None:
        """The response to the query ``wire`` (None: not a DNS message; nothing to answer)."""
        key = (udp, wire[2:])  # all of the query but its id: the response depends on nothing else
        hit = self._rendered.get(key)
        if hit is not None and len(hit[2]) >= VARIANTS and (
                hit[0] is None or self._store.service_revision(hit[0]) == hit[1]):
            return wire[:2] + random.choice(hit[2])
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return self._formerr(wire)
        if query.flags & dns.flags.QR:
            # A response, not a query: answering it could ping-pong with another server
            # (a forged source address makes that a reflection loop); drop it, as resolvers do.
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        service = None
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1 or query.question[0].rdclass not in (IN, dns.rdataclass.ANY):
            response.set_rcode(dns.rcode.FORMERR if len(query.question) != 1 else dns.rcode.REFUSED)
        else:
            service = self._answer(response, query.question[0].name, query.question[0].rdtype, udp)
        # Over UDP an answer fits 512 bytes, or what the client's EDNS says it takes (at most
        # 4096); dnspython leaves out what does not fit and sets TC, so the client asks over TCP.
        max_size = (max(512, min(query.payload, 4096)) if query.edns >= 0 else 512) if udp else 65535
        out = response.to_wire(max_size=max_size, prefer_truncation=True)
        self._keep(key, service, out)
        return out

    def _keep(self, key: tuple, service: str | None, out: bytes) -> None:
        """Keep up to VARIANTS renderings (random orders) of this query's answer while its service
        is unchanged: dnspython takes ~50 us a record to render, a kept one is sent as it is."""
        if len(out) > 4096:
            return
        revision = self._store.service_revision(service) if service is not None else None
        hit = self._rendered.get(key)
        if hit is None or hit[:2] != (service, revision):
            if len(self._rendered) >= RENDERED:
                self._rendered.clear()
            hit = self._rendered[key] = (service, revision, [])
        if len(hit[2]) < VARIANTS:
            hit[2].append(out[2:])

    @staticmethod
    def _formerr(wire: bytes) -> bytes | None:
        if len(wire) < 12:
            return None  # not even a header: no id to answer to
        reply = dns.message.Message(id=struct.unpack("!H", wire[:2])[0])
        reply.flags = dns.flags.QR
        reply.set_rcode(dns.rcode.FORMERR)
        return reply.to_wire()

    def _negative(self, response, rcode) -> None:
        response.set_rcode(rcode)
        response.authority.append(dns.rrset.from_rdata(self.domain, self._ttl, self._soa))

    def _answer(self, response, qname: dns.name.Name, qtype, udp: bool) -> str | None:
        """Fill ``response``; the service the answer depends on (None: on nothing that changes)."""
        if not qname.is_subdomain(self.domain):
            response.set_rcode(dns.rcode.REFUSED)
            return None
        labels = [label.lower() for label in qname.relativize(self.domain).labels]
        if len(labels) > 1 and labels[-1] == DATACENTER:
            labels.pop()
        if len(labels) == 2 and labels[1] == b"addr":
            self._addr(response, qname, qtype, labels[0])
            return None
        target = self._service_labels(labels)
        if target is None:
            self._negative(response, dns.rcode.NXDOMAIN if labels else dns.rcode.NOERROR)
            return None
        up = self._up_instances(*target)
        if not up:
            self._negative(response, dns.rcode.NXDOMAIN)
            return target[0]
        limit = UDP_ANSWERS if udp else TCP_ANSWERS
        picked = random.sample(up, min(len(up), limit))
        if udp and len(up) > limit:
            response.flags |= dns.flags.TC  # more than one UDP answer holds: the client may ask over TCP
        if qtype == _SRV:
            self._srv(response, qname, picked)
        elif qtype in (_A, _AAAA, _ANY):
            for kind, rdtype in ((4, _A), (6, _AAAA)):
                if qtype in (rdtype, _ANY):
                    rdatas = [rd for k, rd, *_ in picked if k == kind]
                    if rdatas:
                        response.answer.append(dns.rrset.from_rdata_list(qname, self._ttl, rdatas))
        if not response.answer:
            self._negative(response, dns.rcode.NOERROR)  # the name exists, not with this type
        return target[0]

    @staticmethod
    def _service_labels(labels: list[bytes]) -> tuple[str, str | None] | None:
        """(service, tag or None) of ``[tag.]service.service`` or ``_service._tag.service``."""
        if not labels or labels[-1] != b"service" or len(labels) not in (2, 3):
            return None
        parts = [label.decode("ascii", "replace") for label in labels[:-1]]
        if len(parts) == 2 and parts[0].startswith("_") and parts[1].startswith("_"):
            service, tag = parts[0][1:], parts[1][1:]
            tag = None if tag in ("tcp", "udp") else tag
        else:
            service, tag = parts[-1], parts[0] if len(parts) == 2 else None
        return (service, tag) if is_name(service) else None

    def _up_instances(self, service: str, tag: str | None) -> list:
        """(4 | 6 | 0, rdata | None, port, address, SRV weight) of each up instance, cached per revision."""
        key, revision = (service, tag), self._store.service_revision(service)
        hit = self._up.get(key)
        if hit is not None and hit[0] == revision:
            return hit[1]
        query = Query(name=service, statuses=(model.UP,), tags=(tag,) if tag else ())
        records = self._store.read(lambda state: run(state, query)[0])
        up = [(*_entry(r["address"], r["port"]), _srv_weight(r.get("weight", 1.0))) for r in records if r["address"]]
        if len(self._up) > 4096:
            self._up.clear()
        self._up[key] = (revision, up)
        return up

    def _srv(self, response, qname, picked: list) -> None:
        records, extra = [], []
        for kind, rdata, port, address, weight in picked:
            if port is None:
                continue
            if kind:
                hexed = ipaddress.ip_address(address).packed.hex()
                target = dns.name.Name((hexed.encode(), b"addr", DATACENTER) + self.domain.labels)
                extra.append(dns.rrset.from_rdata(target, self._ttl, rdata))
            else:
                target = dns.name.from_text(address.rstrip(".") + ".")
            records.append(SRV(IN, _SRV, 1, weight, port, target))
        if records:
            response.answer.append(dns.rrset.from_rdata_list(qname, self._ttl, records))
            response.additional.extend(extra)

    def _addr(self, response, qname, qtype, hexed: bytes) -> None:
        try:
            address = ipaddress.ip_address(bytes.fromhex(hexed.decode("ascii")))
        except ValueError:
            return self._negative(response, dns.rcode.NXDOMAIN)
        kind, rdata = _entry(str(address), None)[:2]
        if (kind == 4 and qtype in (_A, _ANY)) or (kind == 6 and qtype in (_AAAA, _ANY)):
            response.answer.append(dns.rrset.from_rdata(qname, self._ttl, rdata))
        else:
            self._negative(response, dns.rcode.NOERROR)


def _srv_weight(weight: float) -> int:
    """The instance's weight (0..1000) as an SRV weight (0..65535, RFC 2782: relative)."""
    return max(0, min(65535, round(weight)))


def _entry(address: str, port: int | None) -> tuple:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (0, None, port, address)  # a host name: SRV targets it, A/AAAA cannot
    if ip.version == 4:
        return (4, A(IN, _A, str(ip)), port, address)
    return (6, AAAA(IN, _AAAA, str(ip)), port, address)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, answers: Answers):
        self._answers = answers
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            reply = self._answers.respond(data, udp=True)
        except Exception:  # a bug must not end the server; the query simply gets no answer
            log.exception("DNS query failed")
            return
        if reply is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """UDP and TCP listeners on the node's event loop; each answer is computed inline (no I/O)."""

    def __init__(self, store, cfg: NodeConfig):
        self.answers = Answers(store, cfg.dns_domain, cfg.dns_ttl)
        self._where = cfg.dns_address
        self._udp = self._tcp = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self._where
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self.answers), local_addr=(host, port))
        self._tcp = await asyncio.start_server(self._serve_tcp, host, port)
        log.info("DNS listening", extra={"dns": f"{host}:{port}", "domain": self.answers.domain.to_text()})

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                wire = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE)
                reply = self.answers.respond(wire, udp=False)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)  # RFC 1035 4.2.2 framing
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("DNS query over TCP failed")
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
