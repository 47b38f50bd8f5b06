"""Where a health check may point: the registry's answer to SSRF (docs/security.md, "Health-check targets").

The leader probes whatever a registration names, from the leader's own
network position: without a rule, whoever may register an instance makes
the registry's most trusted machine connect to any host and port (a cloud
metadata endpoint, an admin port on the servers' network) and learns one
bit per probe from the instance's status. Consul's agents run checks next to
the service and turn off API-defined script checks by default
(``enable_script_checks``); Manifest probes centrally, so it narrows where
a check may go. With ``check_targets = "own"`` (the default):

- a check registered by a *scoped* caller (a ``service`` token or
  certificate role) must target the instance's own ``address``: the same
  host, any port. Admin callers (and every caller with auth off, who act
  as admin) may name other hosts, e.g. a sidecar;
- nobody's check may target a link-local address (169.254.0.0/16, fe80::/10:
  where cloud metadata lives, and fd00:ec2::254), an unspecified or
  multicast one, or loopback unless this node's own API listens on loopback
  (a dev or test setup, where every instance is local): the leader's
  loopback is a different machine after every election anyway;
- the prober applies the same ranges to what a host name resolves to, just
  before each probe, so a name pointing at a blocked address probes
  nothing.

``check_targets = "any"`` turns all of it off, for a trusted network.
HTTP probes never follow redirects (Consul's CVE-2022-29153). Pure but for
``resolved_refusal``, which asks the event loop's resolver.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import yarl

from ..fsm.fields import CHECK_KINDS

OWN, ANY = "own", "any"
_METADATA = (ipaddress.ip_address("fd00:ec2::254"),)


def host_of(spec: dict) -> tuple[str, str | None]:
    """(kind, host) of a normalized or raw check spec; host None when it cannot be read."""
    kind = next(k for k in CHECK_KINDS if k in spec)
    target = spec[kind]
    if kind == "http":
        try:
            host = yarl.URL(target).host  # the parser the prober's HTTP client connects with
        except (ValueError, TypeError):
            host = None
    else:
        host = target.partition("/")[0].rpartition(":")[0]
    return kind, _normal(host) if host else None


def _normal(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _ip(host: str):
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped if mapped is not None else ip


def blocked(ip, loopback_ok: bool) -> str | None:
    """Why a probe may never go to ``ip`` (an ipaddress object), or None."""
    if ip.is_link_local or ip in _METADATA:
        return "a link-local address (where cloud metadata services live)"
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    if ip.is_loopback and not loopback_ok:
        return "loopback (this node's API does not listen on loopback)"
    return None


def same_host(a: str, b: str) -> bool:
    a, b = _normal(a), _normal(b)
    ia, ib = _ip(a), _ip(b)
    return ia == ib if ia is not None and ib is not None else a == b


def refusal(check: dict | None, address: str | None, scoped: bool, mode: str,
            loopback_ok: bool) -> tuple[str, str] | None:
    """(field, message) when a registration's check may not be probed, else None."""
    if check is None or mode == ANY:
        return None
    kind, host = host_of(check)
    field = f"check.{kind}"
    if host is None:
        return field, f"{field}: its host cannot be read"
    if scoped and (address is None or not same_host(host, address)):
        return field, (f"{field} must target the instance's own address ({address or 'none given'}); "
                       "only an admin may point a check at another host (check_targets)")
    ip = _ip(host)
    why = None if ip is None else blocked(ip, loopback_ok)
    if why is not None:
        return field, f"{field} may not target {why}"
    return None


async def resolved_refusal(host: str, loopback_ok: bool) -> str | None:
    """Why a probe of ``host`` may not go ahead, looking at every address it resolves to; None: go."""
    ip = _ip(host)
    if ip is not None:
        return blocked(ip, loopback_ok)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None  # unresolvable: the probe fails on its own
    for info in infos:
        why = blocked(_ip(info[4][0]), loopback_ok)
        if why is not None:
            return f"{host} resolves to {info[4][0]}, {why}"
    return None
