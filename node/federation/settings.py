"""Parsing the federation settings: region names, ``--federate REGION=URL[,URL...]`` and failover lists.

Pure (standard library only): node/config.py calls these from ``validate()``
and turns a ``SettingError`` into its ConfigError naming the same field.
Lists arrive as tuples of strings from flags, env (split on commas) and
TOML alike, so an entry without ``=`` continues the entry before it:
``("eu=https://a", "https://b")`` and ``("eu=https://a,https://b",)`` are
the same setting.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..addresses import is_loopback

# A DNS label: regions name URLs, metrics labels and log fields.
REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
NEAREST = "nearest"  # a failover list of this one word: healthy regions by round-trip time
_URL = re.compile(r"https?://[\x21-\x2e\x30-\x7e]{1,300}/?")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class SettingError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def groups(entries, field_name: str) -> list[tuple[str, tuple[str, ...]]]:
    """``KEY=V[,V...]`` entries as (key, values) in order; an entry without ``=`` continues the last."""
    out: list[tuple[str, list[str]]] = []
    for entry in entries:
        for part in str(entry).split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            if sep and "://" not in key:
                out.append((key.strip(), [value.strip()] if value.strip() else []))
            elif out:
                out[-1][1].append(part)
            else:
                raise SettingError(field_name, f"expected KEY=VALUE[,VALUE...], got {part!r}")
    return [(k, tuple(v)) for k, v in out]


def is_loopback_url(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")


def check_region(name: str, field_name: str = "region") -> str:
    if not isinstance(name, str) or not REGION.fullmatch(name):
        raise SettingError(field_name, f"a region name is a DNS label (a-z, 0-9, '-', at most 63), got {name!r}")
    return name


def federate(entries, own: str) -> dict[str, tuple[str, ...]]:
    """region -> its nodes' API URLs; refuses plain http:// off loopback (the token would travel in clear)."""
    regions: dict[str, tuple[str, ...]] = {}
    for region, urls in groups(entries, "federate"):
        check_region(region, "federate")
        if region == own:
            raise SettingError("federate", f"{region!r} is this node's own region")
        if region in regions:
            raise SettingError("federate", f"region {region!r} is given twice")
        if not urls:
            raise SettingError("federate", f"region {region!r} lists no URL")
        clean = []
        for url in urls:
            if not _URL.fullmatch(url) or not urlsplit(url).hostname:
                raise SettingError("federate", f"expected an http(s)://HOST:PORT URL for {region!r}, got {url!r}")
            if url.startswith("http://") and not is_loopback_url(url):
                raise SettingError("federate", f"{url} is not loopback: remote regions are reached over "
                                   "https:// only (set federation_ca to trust their certificates)")
            clean.append(url.rstrip("/"))
        regions[region] = tuple(clean)
    return regions


def failover_list(entries, known, field_name: str = "failover") -> tuple[str, ...]:
    """An ordered list of known regions, or ``("nearest",)``."""
    names = tuple(p.strip() for e in entries for p in str(e).split(",") if p.strip())
    if names == (NEAREST,):
        return names
    for name in names:
        if name == NEAREST:
            raise SettingError(field_name, "nearest stands alone: it orders every region by round-trip time")
        check_region(name, field_name)
        if name not in known:
            raise SettingError(field_name, f"region {name!r} is not this node's nor one in federate")
    if len(set(names)) != len(names):
        raise SettingError(field_name, "a region is listed twice")
    return names


def failover_services(entries, known) -> dict[str, tuple[str, ...]]:
    """service -> its ordered failover list (``SERVICE=REGION[,REGION...]``)."""
    out: dict[str, tuple[str, ...]] = {}
    for service, regions in groups(entries, "failover_service"):
        if not _SERVICE.fullmatch(service):
            raise SettingError("failover_service", f"{service!r} is not a service name")
        if service in out:
            raise SettingError("failover_service", f"service {service!r} is given twice")
        out[service] = failover_list(regions, known, "failover_service")
        if not out[service]:
            raise SettingError("failover_service", f"service {service!r} lists no region")
    return out


def policy(own: str, regions, failover, failover_service) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """(the default failover list, per-service lists), every region checked against those known."""
    known = {own, *regions}
    return failover_list(failover, known), failover_services(failover_service, known)


def validate(cfg, min_token_bytes: int) -> None:
    """The federation settings of a NodeConfig (duck-typed: this module imports nothing of the node)."""
    regions = cfg.federation_regions
    cfg.failover_policy()
    token = cfg.federation_token
    if token is not None and len(token.encode()) < min_token_bytes:  # reported by its length, never quoted
        raise SettingError("federation_token", f"must be at least {min_token_bytes} bytes")
    remote = [u for urls in regions.values() for u in urls if not is_loopback_url(u)]
    if remote and token is None:
        raise SettingError("federation_token", f"required because federate lists {remote[0]}, which is not "
                           "loopback (set MANIFEST_FEDERATION_TOKEN or --federation-token-file)")
    if cfg.federation_deadline < cfg.federation_timeout:
        raise SettingError("federation_deadline", "must be >= federation_timeout")


# The names other regions' nodes see (docs/reference/contract-additions.md).
TOKEN_HEADER = "X-Manifest-Federation-Token"  # the shared federation token: read-only access
FROM_HEADER = "X-Manifest-Federated-From"  # the asking region: a forwarded read is never forwarded again
REGION_HEADER = "X-Manifest-Region"  # which region an answer comes from ("*": merged)
NODE_HEADER = "X-Manifest-Region-Node"  # the remote node that served a forwarded read
