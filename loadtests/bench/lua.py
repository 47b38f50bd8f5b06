"""Lua request generators for wrk, one per kind of request the benchmarks send.

Each returns the scenario-specific part of a script; ``wrk.script()`` wraps it
with the common ``setup``/``init``/``done``. Globals available to the snippets:
``tag`` (unique per wrk process and scenario), ``tid`` (thread number in the
process), ``proc``/``nprocs`` (this process's index and the number of processes
of the scenario) and ``tpp`` (threads per process). ``__init(args)`` runs once
per thread after those are set.
"""

from __future__ import annotations

import base64
import json

from .wrk import lua_string

# A realistic registration body (~290 bytes), the same record stored in etcd as a value.
RECORD = {
    "version": "1.4.2", "address": "10.0.0.5", "port": 8080,
    "interfaces": {"http": "http://10.0.0.5:8080", "grpc": "10.0.0.5:9090"},
    "tags": ["blue", "canary"], "metadata": {"region": "eu-west-1", "zone": "b", "team": "platform"},
    "dependencies": ["n8n", "postgres"],
}

_PARTITION = """
local __g, __total, __size, __p
local function __partition(n, p0)
  __g = proc * tpp + tid
  __total = nprocs * tpp
  __size = math.max(1, math.ceil((n - __g) / __total))
  __p = p0 or 0
end
local function __next_index(n)
  local i = (__g + (__p %% __size) * __total) %% n
  __p = __p + 1
  return i
end
"""

_BASE64 = """
local __B = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function __c(n) local k = n %% 64 + 1 return __B:sub(k, k) end
local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = __c(math.floor(n / 262144)) .. __c(math.floor(n / 4096)) ..
      (b and __c(math.floor(n / 64)) or "=") .. (c and __c(n) or "=")
  end
  return table.concat(out)
end
"""


def _static(method: str, body: str | None = None, content_type: str = "application/json") -> str:
    out = f'wrk.method = "{method}"\n'
    if body is not None:
        out += f"wrk.body = {lua_string(body)}\nwrk.headers[\"Content-Type\"] = \"{content_type}\"\n"
    return out


def static_get() -> str:
    """The URL's path and query, as given on the command line; built once by wrk."""
    return _static("GET")


def static_post(body: dict | str) -> str:
    return _static("POST", body if isinstance(body, str) else json.dumps(body, separators=(",", ":")))


def manifest_register(service: str, ttl: int = 3600) -> str:
    """POST /v1/services with an id never used before (tag, thread, counter)."""
    rest = json.dumps({**RECORD, "ttl": ttl}, separators=(",", ":"))[1:]
    return f"""
local __n = 0
local __hdr = {{["Content-Type"] = "application/json"}}
local __pre = {lua_string('{"name":"' + service + '","id":"')}
local __post = {lua_string('",' + rest)}
function request()
  __n = __n + 1
  return wrk.format("POST", "/v1/services", __hdr, __pre .. tag .. "-" .. tid .. "-" .. __n .. __post)
end
"""


def manifest_heartbeat(service: str, id_prefix: str, count: int) -> str:
    """PUT .../heartbeat cycling over ``count`` pre-registered ids. Each id belongs to one thread
    (of all processes), so every id is beaten at the same interval whatever the thread count.
    ``args[5]``, when given, is where in its share a thread starts (with one thread per
    process: the requests it made in earlier runs), so that consecutive runs continue the
    rotation instead of starting it over."""
    return _PARTITION % () + f"""
local __hdr = {{}}
local __pre = {lua_string(f"/v1/services/{service}/{id_prefix}")}
function __init(args) __partition({count}, tonumber(args[5] or 0)) end
function request()
  return wrk.format("PUT", __pre .. __next_index({count}) .. "/heartbeat", __hdr, "")
end
"""


def manifest_heartbeat_batch(service: str, id_prefix: str, count: int, batch: int) -> str:
    """POST /v1/heartbeats with ``batch`` ids per request, taken from the thread's share in
    the same rotation as ``manifest_heartbeat`` (so ``args[5]`` counts heartbeats, not requests)."""
    return _PARTITION % () + f"""
local __hdr = {{["Content-Type"] = "application/json"}}
local __item = {lua_string('{"name":"' + service + '","id":"' + id_prefix)}
function __init(args) __partition({count}, tonumber(args[5] or 0)) end
function request()
  local parts = {{}}
  for k = 1, math.min({batch}, __size) do
    parts[k] = __item .. __next_index({count}) .. '"}}'
  end
  return wrk.format("POST", "/v1/heartbeats", __hdr, '{{"heartbeats":[' .. table.concat(parts, ",") .. ']}}')
end
"""


def etcd_put(prefix: str = "bench/put/") -> str:
    """POST /v3/kv/put of a never-used key whose value is the registration record."""
    value = base64.b64encode(json.dumps(RECORD, separators=(",", ":")).encode()).decode()
    return _BASE64 % () + f"""
local __n = 0
local __hdr = {{["Content-Type"] = "application/json"}}
local __value = {lua_string(value)}
function request()
  __n = __n + 1
  local key = b64({lua_string(prefix)} .. tag .. "-" .. tid .. "-" .. __n)
  return wrk.format("POST", "/v3/kv/put", __hdr, '{{"key":"' .. key .. '","value":"' .. __value .. '"}}')
end
"""


def etcd_range(prefix: str, serializable: bool) -> str:
    """POST /v3/kv/range over every key under ``prefix`` (static body)."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = {"key": base64.b64encode(prefix.encode()).decode(),
            "range_end": base64.b64encode(end.encode()).decode(), "serializable": serializable}
    return static_post(body)


def etcd_keepalive(lease_ids: list[str]) -> str:
    """POST /v3/lease/keepalive cycling over pre-granted leases, partitioned like heartbeats."""
    ids = ",".join(lua_string(str(i)) for i in lease_ids)
    return _PARTITION % () + f"""
local __ids = {{{ids}}}
local __hdr = {{["Content-Type"] = "application/json"}}
function __init(args) __partition(#__ids) end
function request()
  return wrk.format("POST", "/v3/lease/keepalive", __hdr, '{{"ID":"' .. __ids[__next_index(#__ids) + 1] .. '"}}')
end
"""
