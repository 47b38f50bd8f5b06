"""Node configuration: one frozen dataclass, filled from flags, env and TOML.

Each field is one setting, declared with ``setting()``: its flag (node/cli.py
builds them from the fields), its ``MANIFEST_<NAME>`` env var and its TOML key
all follow from it (node/config_load.py reads them), and a test checks
docs/operations.md's table against the fields. ``validate()`` names the
offending field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .addresses import is_loopback
from .federation import settings as fed_settings
from .federation.settings import SettingError


MIN_SECRET_BYTES = 16  # CONTRACT.md: "at least 16 bytes"


class ConfigError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


# ASCII only: str.isdigit() and int() also take other scripts' digits ('８５００'),
# and isdigit() takes '²', which int() then refuses.
_PORT = re.compile(r"[0-9]{1,5}")
_NODE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Addresses: printable ASCII without spaces (the advertised URL is sent as a header).
_HOST = re.compile(r"\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._:-]{1,253}")
_URL = re.compile(r"https?://[\x21-\x2e\x30-\x7e]{1,300}(?:/[\x21-\x7e]{0,200})?")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){0,8}[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def split_hostport(value: str, field_name: str) -> tuple[str, int]:
    host, sep, port = str(value).rpartition(":")
    if not sep or not _HOST.fullmatch(host) or not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
        raise ConfigError(field_name, f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Check:
    """A bound one setting must keep, with the message ``validate()`` gives when it does not."""

    message: str
    ok: Callable[[Any], bool]
    choices: tuple[str, ...] = ()  # the CLI offers these as a click.Choice
    fold_case: bool = False


# NaN fails every comparison, so each predicate is written to be true only for good values.
POSITIVE = Check("must be positive", lambda v: v > 0)
AT_LEAST_1 = Check("must be >= 1", lambda v: v >= 1)
AT_LEAST_2 = Check("must be >= 2", lambda v: v >= 2)
NOT_NEGATIVE = Check("must not be negative", lambda v: v >= 0)
SECONDS = Check("must be a positive number of seconds", lambda v: 0 < v < math.inf)


def one_of(*choices: str, fold_case: bool = False) -> Check:
    message = ", ".join(choices[:-1]) + " or " + choices[-1]
    return Check(message, lambda v: (str(v).lower() if fold_case else v) in choices, choices, fold_case)


def setting(default: Any, help: str, *, check: Check | None = None, metavar: str | None = None,
            hidden: bool = False, secret: bool = False, negatable: bool = True, flag: bool = True) -> Any:
    """A NodeConfig field. Its flag (``--name-with-dashes``), env var (``MANIFEST_NAME``)
    and TOML key (``name``) are derived from it, so a new setting is this one
    declaration (and the row in docs/operations.md a test asks for).

    ``hidden``: no --help line, nor a row in docs/operations.md (test-only knobs).
    ``secret``: kept out of repr. ``negatable``: a bool gets ``--no-name`` too.
    ``flag`` False: env and TOML only, never argv (a secret every local user could read in ps)."""
    meta = {"help": help, "check": check, "metavar": metavar, "hidden": hidden, "secret": secret,
            "negatable": negatable, "flag": flag}
    return field(default=default, repr=not secret, metadata=meta)


@dataclass(frozen=True)
class NodeConfig:
    id: str = setting("n1", "Node id, unique in the cluster.", metavar="ID")
    api: str = setting("127.0.0.1:8500", "Where the HTTP API listens.", metavar="HOST:PORT")
    raft: str = setting("127.0.0.1:8501", "Raft address; also this node's identity in the log.",
                        metavar="HOST:PORT")
    peer: tuple[str, ...] = setting((), "Another node's Raft address; repeat (env: comma-separated).",
                                    metavar="HOST:PORT")
    replica: bool = setting(False, "Run as a non-voting read replica of the voters --peer lists: it "
                            "follows the log, serves reads and watches, forwards writes, never votes or "
                            "counts for a majority; --raft is not used.", negatable=False)
    join: bool = setting(False, "Start with no peers and wait to be added to a running cluster "
                         "(manifest cluster add RAFT_ADDR --api URL): the leader tells this node the "
                         "members, and it catches up from a snapshot; never elects itself meanwhile.",
                         negatable=False)
    data_dir: str = setting(".manifest/data", "Journal and snapshots live here.", metavar="DIR")
    recover: bool = setting(False, "At start, set damaged Raft state aside (into data_dir/damaged-TIME/) "
                            "and start empty, to rejoin from the leader's snapshot, instead of refusing "
                            "to start (docs/operations.md, 'Damaged state files').", negatable=False)
    cluster_secret: str | None = setting(
        None, "Shared secret (>= 16 bytes) encrypting Raft traffic and signing forwarded writes; "
        "visible in ps, prefer the env var or --cluster-secret-file.", metavar="SECRET", secret=True)
    cluster_secret_file: str | None = setting(None, "Read the cluster secret from this file.", metavar="FILE")
    insecure: bool = setting(False, "Run without a cluster secret: loopback addresses only; anyone who can "
                             "reach the ports controls the node (docs/security.md).", negatable=False)
    advertise_api: str | None = setting(None, "API URL other nodes and clients should use.", metavar="URL")
    fsync: bool = setting(False, "fsync every log entry (survives power loss).")
    slow_fsync: float = setting(0.1, "With --fsync: seconds an fsync may take; five slower ones in a row and "
                                "the node reports a slow disk, stops being ready and hands leadership "
                                "on, until fsyncs are fast again.", check=POSITIVE)
    log_format: str = setting("text", "Log lines as text or one JSON object each.", check=one_of("text", "json"))
    log_level: str = setting("info", "Least severe level logged.",
                             check=one_of("debug", "info", "warning", "error", fold_case=True))
    tick_interval: float = setting(1.0, "Seconds between the leader's expiry ticks.", check=POSITIVE)
    down_grace: float = setting(60.0, "Seconds a down instance is kept before removal.", check=NOT_NEGATIVE)
    max_body: int = setting(64 * 1024, "Largest request body in bytes.", check=AT_LEAST_1)
    propose_timeout: float = setting(2.0, "Seconds a write may wait for its commit before it answers 503.",
                                     check=POSITIVE)
    max_inflight: int = setting(2, "Log entries in flight to Raft at once; more writes queue and coalesce.",
                                check=AT_LEAST_1)
    batch_max: int = setting(1000, "Commands in one log entry.", check=AT_LEAST_1)
    forward_inflight: int = setting(4, "A follower's batches of writes on their way to the leader at once; "
                                    "more queue and coalesce.", check=AT_LEAST_1)
    # pysyncobj asserts at least 2 (a node given 1 died with a traceback at start)
    compaction_entries: int = setting(5000, "Compact the log past this many entries.", check=AT_LEAST_2)
    compaction_interval: float = setting(300.0, "Compact the log at least this often.", check=POSITIVE)
    election_timeout_min: float = setting(0.3, "Shortest Raft election timeout.", check=POSITIVE)
    election_timeout_max: float = setting(0.6, "Longest Raft election timeout.", check=POSITIVE)
    append_entries_period: float = setting(0.05, "Seconds between the leader's Raft heartbeats.", check=POSITIVE)
    leader_fallback: float = setting(1.0, "A leader that heard from no majority for this many seconds "
                                     "steps down.", check=POSITIVE)
    clock_offset: float = setting(0.0, "Test only: seconds added to this node's wall clock (chaos runs).",
                                  hidden=True)
    watch_history: int = setting(10_000, "Changes kept for watchers to resume from.", check=AT_LEAST_1)
    watch_keepalive: float = setting(15.0, "Seconds between keep-alives on idle watch streams.", check=POSITIVE)
    divergence_check_interval: float = setting(5.0, "Seconds between comparing applied-state hashes with "
                                               "peers.", check=POSITIVE)
    raft_protocol: str = setting("v2", "Wire protocol for the Raft connections this node opens: v2 "
                                 "(authenticated handshake, AES-GCM frames of msgpack) or legacy (pysyncobj's "
                                 "pickle framing, for a cluster being upgraded from a release without v2). "
                                 "Both are accepted on the Raft port.", check=one_of("v2", "legacy"))
    # Input handling and resource limits (issue 10).
    body_timeout: float = setting(10.0, "Seconds a request body may take to arrive in full.", check=SECONDS)
    header_timeout: float = setting(10.0, "Seconds from a request's first byte to the end of its head.",
                                    check=SECONDS)
    idle_timeout: float = setting(30.0, "Seconds a keep-alive connection may wait for its next request.",
                                  check=SECONDS)
    max_connections: int = setting(20_000, "Open HTTP connections of this node.", check=AT_LEAST_1)
    fd_headroom: int = setting(128, "Refuse new connections while fewer free file descriptors remain.",
                               check=NOT_NEGATIVE)
    max_watch_streams: int = setting(15_000, "Open watch streams of this node.", check=AT_LEAST_1)
    max_instances: int = setting(1_000_000, "Instances in the registry; set alike on every node.",
                                 check=AT_LEAST_1)
    max_instances_per_service: int = setting(100_000, "Instances of one service; set alike on every node.",
                                             check=AT_LEAST_1)
    # Security (issue 12): docs/security.md.
    auth: bool | None = setting(None, "Require a bearer token on every request but GET /v1/health "
                                "(default: on when api is not loopback).")
    bootstrap_token: str | None = setting(
        None, "An admin token (>= 16 bytes) for creating the others; visible in ps, prefer the env var or "
        "--bootstrap-token-file.", metavar="TOKEN", secret=True)
    bootstrap_token_file: str | None = setting(None, "Read the bootstrap admin token from this file.",
                                               metavar="FILE")
    public_metrics: bool = setting(False, "Serve GET /metrics without a token.")
    tls_cert: str | None = setting(None, "Serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP "
                                   "or when the file changes.", metavar="FILE")
    tls_key: str | None = setting(None, "The private key of --tls-cert (PEM).", metavar="FILE")
    tls_client_ca: str | None = setting(None, "Verify client certificates against this CA bundle (mTLS).",
                                        metavar="FILE")
    tls_client_auth: str = setting("required", "With --tls-client-ca: is a client certificate required or "
                                   "optional?", check=one_of("required", "optional"))
    tls_peer_ca: str | None = setting(None, "CA bundle verifying the other nodes' certificates (default: "
                                      "--tls-client-ca, else the system's).", metavar="FILE")
    tls_cert_roles: tuple[str, ...] = setting((), "A role for clients whose certificate has this subject "
                                              "common name: CN=ROLE or CN=service:PATTERN|PATTERN; repeat.",
                                              metavar="CN=ROLE")
    tls_reload_interval: float = setting(5.0, "Seconds between checks of the certificate files for changes.",
                                         check=POSITIVE)
    audit: bool = setting(True, "Write every write and every denied request to the audit log.")
    audit_log: str | None = setting(None, "The audit log file (default: audit.log in --data-dir).",
                                    metavar="FILE")
    audit_max_bytes: int = setting(100 << 20, "Rotate the audit log past this size.", check=AT_LEAST_1)
    audit_backups: int = setting(5, "Rotated audit logs kept (audit.log.1 ... .N).", check=NOT_NEGATIVE)
    rate_limit: bool | None = setting(None, "Token-bucket limits per token (per address without auth) on "
                                      "writes and expensive reads (default: on with auth; off in dev).")
    rate_writes: float = setting(500.0, "Writes per second each token may send, on average.", check=POSITIVE)
    rate_writes_burst: int = setting(1000, "Writes a token may send at once.", check=AT_LEAST_1)
    rate_reads: float = setting(50.0, "Expensive reads (full lists, watches) per second per token.",
                                check=POSITIVE)
    rate_reads_burst: int = setting(100, "Expensive reads a token may send at once.", check=AT_LEAST_1)
    # Registry features (issue 13). Those decided in apply travel in the
    # commands the receiving node or the leader proposes: set them alike on every node.
    strict_dependencies: bool = setting(False, "Refuse registrations with an unmet dependency (409) unless "
                                        "the request says strict=false.")
    max_batch_body: int = setting(1 << 20, "Largest body of POST /v1/services/batch in bytes.", check=AT_LEAST_1)
    check_concurrency: int = setting(64, "Health-check probes the leader runs at once.", check=AT_LEAST_1)
    check_targets: str = setting("own", "Where checks may point: own (a service token's only at the "
                                 "instance's address; nobody's at link-local, or loopback off a loopback API) "
                                 "or any.", check=one_of("own", "any"))
    load_step: float = setting(0.1, "A heartbeat's load is sent to watchers when it moved this much.",
                               check=POSITIVE)
    load_event_interval: float = setting(1.0, "Seconds between two load events of one instance, at least.",
                                         check=NOT_NEGATIVE)
    protection_fraction: float = setting(0.5, "Protect a service from expiry when more than this fraction "
                                         "of its up instances would expire at once (0..1).", check=POSITIVE)
    protection_min_instances: int = setting(3, "... and more than this many.", check=NOT_NEGATIVE)
    protection_window: float = setting(30.0, "Seconds ahead in which an instance counts as about to expire.",
                                       check=POSITIVE)
    protection_max: float = setting(600.0, "Seconds a service stays protected at most.", check=POSITIVE)
    tombstone_ttl: float = setting(3600.0, "Seconds a removed instance stays queryable.", check=NOT_NEGATIVE)
    max_tombstones: int = setting(10_000, "Removed instances kept for queries.", check=NOT_NEGATIVE)
    # Federation across regions (issue 18): node/federation/, docs/federation.md.
    region: str = setting("local", "This cluster's region: a DNS label; the name other regions list it under "
                          "in their --federate.", metavar="NAME")
    federate: tuple[str, ...] = setting((), "Another region and its nodes' API URLs, REGION=URL[,URL...]; "
                                        "repeat per region. https:// unless loopback.", metavar="REGION=URL")
    federation_token: str | None = setting(
        None, "Shared token (>= 16 bytes) this node sends to other regions and accepts from them, for "
        "read-only requests; env or TOML only (never argv), or --federation-token-file.", metavar="TOKEN",
        secret=True, flag=False)
    federation_token_file: str | None = setting(None, "Read the federation token from this file (or set "
                                                "MANIFEST_FEDERATION_TOKEN; it has no flag).", metavar="FILE")
    federation_ca: str | None = setting(None, "CA bundle verifying other regions' certificates (default: "
                                        "--tls-peer-ca, else --tls-client-ca, else the system's).",
                                        metavar="FILE")
    failover: tuple[str, ...] = setting((), "Regions a discovery read with ?failover= falls back to, in "
                                        "order, when this one has no instance (or the word nearest: by "
                                        "round-trip time).", metavar="REGION")
    failover_service: tuple[str, ...] = setting((), "One service's own failover list, "
                                                "SERVICE=REGION[,REGION...]; repeat.", metavar="SVC=REGION")
    federation_timeout: float = setting(1.0, "Seconds one attempt at another region's node may take before "
                                        "the next node is tried.", check=SECONDS)
    federation_deadline: float = setting(2.0, "Seconds a read of another region (or ?region=* fan-out) "
                                         "may take in all, failover included.", check=SECONDS)
    federation_probe_interval: float = setting(2.0, "Seconds between health probes of other regions' nodes.",
                                               check=SECONDS)
    # The GraphQL API (node/api/graphql/, docs/graphql.md): what one query may ask of a node.
    graphql_max_depth: int = setting(10, "Deepest nesting of fields a GraphQL query may have.", check=AT_LEAST_1)
    # ~10 us of the event loop per field resolved (docs/graphql.md): 25,000 bounds one query to ~0.25 s.
    graphql_max_cost: int = setting(25_000, "Largest estimated cost of a GraphQL query: one per field, times "
                                    "the size of each list it is inside (its limit, else 100).", check=AT_LEAST_1)
    graphql_max_aliases: int = setting(30, "Aliased fields one GraphQL query may have.", check=NOT_NEGATIVE)
    graphql_max_query_bytes: int = setting(16_384, "Longest GraphQL query text, in bytes.", check=AT_LEAST_1)
    graphql_max_subscriptions: int = setting(100, "Operations one GraphQL WebSocket may run at once.",
                                             check=AT_LEAST_1)

    def tick_options(self) -> dict:
        """The TICK command's settings (fsm/expiry.py), in the integers apply expects."""
        return {"protect": [round(self.protection_fraction * 1000), self.protection_min_instances,
                            round(self.protection_window * 1000), round(self.protection_max * 1000)],
                "tomb": [round(self.tombstone_ttl * 1000), self.max_tombstones]}

    @property
    def loopback_checks(self) -> bool:
        """Checks may target loopback only where the node's own API listens on it (dev, tests)."""
        return is_loopback(split_hostport(self.api, "api")[0])

    def load_coalescing(self) -> list[int]:
        return [round(self.load_step * 1000), round(self.load_event_interval * 1000)]

    # The DNS interface (issue 14, node/dns.py).
    dns: str | None = setting(None, "Answer DNS (UDP and TCP) here from this node's state; off by default "
                              "(manifest dev: 127.0.0.1:8600); 'off' turns it off.", metavar="HOST:PORT")
    dns_domain: str = setting("consul", "DNS domain answered: <service>.service.<domain>.", metavar="DOMAIN")
    dns_ttl: int = setting(0, "Seconds DNS answers may be cached.", check=NOT_NEGATIVE)

    # The xDS feed (issue 18, node/mesh/, docs/mesh.md).
    xds: str | None = setting(None, "Serve Envoy's xDS v3 API (LDS, RDS, CDS, EDS over ADS, gRPC) here from "
                              "this node's state; off by default. Off loopback it needs tls_cert and tls_key "
                              "(and takes client certificates with tls_client_ca).", metavar="HOST:PORT")

    @property
    def xds_address(self) -> tuple[str, int] | None:
        """Where the xDS server listens, or None when it is off."""
        if self.xds in (None, "", "off"):
            return None
        return split_hostport(self.xds, "xds")

    @property
    def dns_address(self) -> tuple[str, int] | None:
        """Where the DNS interface listens, or None when it is off."""
        if self.dns in (None, "", "off"):
            return None
        return split_hostport(self.dns, "dns")

    @property
    def api_url(self) -> str:
        if self.advertise_api:
            return self.advertise_api.rstrip("/")
        host, port = split_hostport(self.api, "api")
        if host in ("0.0.0.0", "::"):
            host = split_hostport(self.raft, "raft")[0]
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"

    @property
    def auth_on(self) -> bool:
        """``auth`` as given, else on whenever the API listens off loopback."""
        if self.auth is not None:
            return self.auth
        return not is_loopback(split_hostport(self.api, "api")[0])

    @property
    def rate_limit_on(self) -> bool:
        return self.auth_on if self.rate_limit is None else self.rate_limit

    @property
    def audit_path(self) -> str | None:
        if not self.audit:
            return None
        return self.audit_log or os.path.join(self.data_dir, "audit.log")

    def validate(self) -> "NodeConfig":
        if not isinstance(self.id, str) or not _NODE_ID.fullmatch(self.id):
            raise ConfigError("id", "1..64 characters of letters, digits, '.', '_', '-'")
        api_host, _ = split_hostport(self.api, "api")
        raft_host, _ = split_hostport(self.raft, "raft")
        peer_hosts = [split_hostport(p, "peer")[0] for p in self.peer]
        if self.raft in self.peer and not self.replica:
            raise ConfigError("peer", "lists this node's own --raft address")
        if self.join and (self.peer or self.replica):
            raise ConfigError("join", "a joining node learns its peers from the leader: give no --peer "
                              "and no --replica")
        if self.replica and not self.peer:
            raise ConfigError("peer", "a replica follows a cluster: list its voters' Raft addresses")
        self._validate_secret(api_host, raft_host, peer_hosts)
        for f in dataclasses.fields(self):
            check = f.metadata["check"]
            if check is not None and not check.ok(getattr(self, f.name)):
                raise ConfigError(f.name, check.message)
        # Raft needs these in order: followers must hear several heartbeats per
        # election timeout, and a leader must not step down before an election could replace it.
        if self.election_timeout_min <= 3 * self.append_entries_period:
            raise ConfigError("election_timeout_min", "must exceed 3 x append_entries_period")
        if self.election_timeout_max < self.election_timeout_min:
            raise ConfigError("election_timeout_max", "must be >= election_timeout_min")
        if self.leader_fallback <= self.election_timeout_max:
            raise ConfigError("leader_fallback", "must exceed election_timeout_max")
        if self.protection_fraction > 1:
            raise ConfigError("protection_fraction", "must be at most 1")
        if self.load_step > 1:
            raise ConfigError("load_step", "must be at most 1")
        if self.dns not in (None, "", "off"):
            split_hostport(self.dns, "dns")
        if not isinstance(self.dns_domain, str) or not _DOMAIN.fullmatch(self.dns_domain.lower().rstrip(".")):
            raise ConfigError("dns_domain", "a DNS name: labels of letters, digits and '-', joined by '.'")
        xds = self.xds_address
        if xds is not None and not is_loopback(xds[0]) and not self.tls_cert:
            raise ConfigError("xds", f"{xds[0]!r} is not a loopback address: the xDS server needs TLS there "
                              "(tls_cert and tls_key; tls_client_ca for client certificates)")
        if self.advertise_api is not None and not _URL.fullmatch(self.advertise_api):
            raise ConfigError("advertise_api", "an http:// or https:// URL of printable ASCII, no spaces")
        self._validate_security()
        self._validate_federation()
        return self

    def _validate_federation(self) -> None:
        try:
            fed_settings.validate(self, MIN_SECRET_BYTES)
        except SettingError as exc:
            raise ConfigError(exc.field, str(exc).partition(": ")[2]) from None

    @property
    def federation_regions(self) -> dict[str, tuple[str, ...]]:
        """The other regions and their nodes' API URLs (``federate``, parsed)."""
        return fed_settings.federate(self.federate, fed_settings.check_region(self.region))

    def failover_policy(self) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
        """(the default failover list, per-service lists): node/federation/settings.py."""
        return fed_settings.policy(self.region, self.federation_regions, self.failover, self.failover_service)

    def _validate_security(self) -> None:
        # Like the cluster secret, a bad token is reported by its length, never quoted.
        if self.bootstrap_token is not None and len(self.bootstrap_token.encode()) < MIN_SECRET_BYTES:
            raise ConfigError("bootstrap_token", f"must be at least {MIN_SECRET_BYTES} bytes")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_key" if self.tls_cert else "tls_cert", "tls_cert and tls_key go together")
        for name in ("tls_client_ca", "tls_peer_ca"):
            if getattr(self, name) and not self.tls_cert:
                raise ConfigError(name, "needs tls_cert and tls_key")
        for entry in self.tls_cert_roles:
            if cert_role(entry) is None:
                raise ConfigError("tls_cert_roles", f"expected CN=ROLE or CN=service:PATTERN|PATTERN, got "
                                  f"{entry!r}")
        if self.tls_cert_roles and not self.tls_client_ca:
            raise ConfigError("tls_cert_roles", "needs tls_client_ca: only verified certificates get a role")

    def _validate_secret(self, api_host: str, raft_host: str, peer_hosts: list[str]) -> None:
        # Without a secret pysyncobj unpickles whatever reaches the Raft port
        # (remote code execution) and /v1/internal/* takes unsigned commands,
        # so running without one is an explicit choice, and a loopback-only one.
        # Messages never quote the secret: they end up in logs and terminals.
        if self.cluster_secret is not None:
            if len(self.cluster_secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError("cluster_secret", f"must be at least {MIN_SECRET_BYTES} bytes "
                                  "(docs/security.md shows how to make one)")
            if self.insecure:
                raise ConfigError("insecure", "contradicts cluster_secret: give one or the other")
            return
        for name, host in (("api", api_host), ("raft", raft_host), *(("peer", h) for h in peer_hosts)):
            if not is_loopback(host):
                raise ConfigError("cluster_secret", f"required because {name} {host!r} is not a loopback "
                                  "address (set MANIFEST_CLUSTER_SECRET or --cluster-secret-file); "
                                  "--insecure is for loopback only")
        if not self.insecure:
            raise ConfigError("cluster_secret", "required (set MANIFEST_CLUSTER_SECRET or "
                              "--cluster-secret-file), or pass --insecure to run a loopback-only "
                              "node without one")


FIELDS = {f.name: f for f in dataclasses.fields(NodeConfig)}

_CERT_ROLE = re.compile(r"([^=]{1,64})=(read|operator|admin|service:[a-z0-9._*?|-]{1,512})")


def cert_role(entry: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(common name, role, service patterns) of a ``tls_cert_roles`` entry, or None when malformed."""
    m = _CERT_ROLE.fullmatch(entry)
    if m is None:
        return None
    role, _, patterns = m.group(2).partition(":")
    names = tuple(p for p in patterns.split("|") if p)
    if role == "service" and not names:
        return None
    return m.group(1), role, names
