"""Series read from the store at scrape time: Raft, replication lag, storage, the registry's contents.

Everything is computed when Prometheus asks (in the scrape's executor
thread), from values the Raft thread and the event loop keep anyway; the
request path does no extra work for them. Parts a store does not have (the
API tests' fake store has no Raft, no disk) are left out, except the
expiry counters, which read 0 there.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .fsm.graph import unmet_by_service
from .fsm.query import counts_by_status

ROLE_VALUES = ("leader", "follower", "candidate")


class StoreCollector:
    def __init__(self, store):
        self._store = store

    def collect(self):
        st = self._store.status()
        monitoring = getattr(self._store, "monitoring", None)
        mon = monitoring() if monitoring is not None else None
        yield from _raft(st, mon)
        if mon is not None:
            yield from _files(mon)
        yield from _alarms(self._store)
        yield from _registry(self._store)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _raft(st, mon):
    role = GaugeMetricFamily("manifest_raft_role", "1 for this node's current Raft role", labels=["role"])
    for r in ROLE_VALUES:
        role.add_metric([r], 1.0 if st.role == r else 0.0)
    yield role
    yield _gauge("manifest_raft_term", "Current Raft term", st.term)
    yield _gauge("manifest_raft_commit_index", "Raft commit index known here", st.commit)
    yield _gauge("manifest_raft_applied_index", "Raft index applied here", st.applied)
    yield _gauge("manifest_raft_leader_known", "1 while this node knows a leader",
                 1.0 if st.leader_api is not None else 0.0)
    yield _gauge("manifest_registry_revision", "Registry revision applied here", st.revision)
    yield _gauge("manifest_ready", "1 when this node is ready to serve", 1.0 if st.ready else 0.0)
    if mon is None:
        return
    if mon.last_contact is not None:
        yield _gauge("manifest_raft_leader_last_contact_seconds",
                     "Seconds since this node last heard from the leader (0 on the leader)", mon.last_contact)
    commit = GaugeMetricFamily("manifest_raft_follower_commit_lag_entries",
                               "On the leader: entries it committed that the follower does not hold yet",
                               labels=["follower"])
    apply = GaugeMetricFamily("manifest_raft_follower_apply_lag_entries",
                              "On the leader: committed entries the follower had not applied when it last "
                              "reported (every divergence_check_interval)", labels=["follower"])
    for lag in mon.followers:
        commit.add_metric([lag.follower], lag.commit)
        if lag.apply is not None:
            apply.add_metric([lag.follower], lag.apply)
    yield commit
    yield apply


def _files(mon):
    yield _gauge("manifest_journal_size_bytes", "Size of the Raft journal file", mon.journal_bytes)
    yield _gauge("manifest_journal_entries", "Entries in the Raft journal (since the last compaction)",
                 mon.journal_entries)
    yield _gauge("manifest_journal_age_seconds",
                 "Seconds since the journal last started afresh at a snapshot", mon.journal_age)
    if mon.snapshot_bytes is not None:
        yield _gauge("manifest_snapshot_size_bytes", "Size of the snapshot file on disk", mon.snapshot_bytes)
        yield _gauge("manifest_snapshot_age_seconds", "Seconds since the snapshot on disk was written",
                     mon.snapshot_age)
    yield CounterMetricFamily("manifest_snapshots_written", "Snapshots this node wrote since start",
                              value=mon.snapshots_written)
    yield CounterMetricFamily("manifest_snapshot_failures", "Snapshots this node failed to write since start",
                              value=mon.snapshot_failures)
    yield _gauge("manifest_snapshot_failing", "1 while this node's latest snapshot attempt failed",
                 1.0 if mon.snapshot_failing else 0.0)
    yield CounterMetricFamily("manifest_snapshot_installs",
                              "Snapshots loaded since start: its own at start-up, or one sent by the leader",
                              value=mon.snapshot_installs)


def _alarms(store):
    disk = getattr(store, "disk", None)
    if disk is not None:
        failing = {p["file"] for p in disk.problems()}
        ok = GaugeMetricFamily("manifest_storage_ok", "0 while this node cannot write a state file",
                               labels=["file"])
        errs = CounterMetricFamily("manifest_storage_errors", "Failed writes of a state file since start",
                                   labels=["file"])
        for file, count in disk.errors.items():
            ok.add_metric([file], 0.0 if file in failing else 1.0)
            errs.add_metric([file], count)
        yield ok
        yield errs
    alarms = getattr(store, "alarms", None)
    if alarms is not None:
        yield _gauge("manifest_raft_divergence_alarms",
                     "Peers whose applied-state hash differs from this node's at the same index",
                     len(alarms.divergence))
        yield CounterMetricFamily("manifest_raft_divergences_detected",
                                  "Divergences from a peer detected since start", value=alarms.detected)
        yield CounterMetricFamily("manifest_raft_applied_entries_replaced",
                                  "Journal conflicts that replaced entries this node had applied",
                                  value=alarms.replacements)


def _registry(store):
    applied = getattr(store, "applied", None)
    yield CounterMetricFamily("manifest_expirations",
                              "Instances this node, as leader, turned down for missed heartbeats",
                              value=getattr(applied, "expirations", 0))
    yield CounterMetricFamily("manifest_removals",
                              "Down instances this node, as leader, removed after the grace period",
                              value=getattr(applied, "removals", 0))
    unmet, shielded = store.read(lambda s: (unmet_by_service(s), sorted(s.protection.items())))
    gauge = GaugeMetricFamily("manifest_unmet_dependencies",
                              "Declared dependencies of a service that no up instance meets", labels=["service"])
    for service, n in sorted(unmet.items()):
        gauge.add_metric([service], n)
    yield gauge
    prot = GaugeMetricFamily("manifest_service_protected",
                             "1 while a service is protected from mass expiry", labels=["service"])
    for service, entry in shielded:
        prot.add_metric([service], 0.0 if entry["exhausted"] else 1.0)
    yield prot
    yield _gauge("manifest_services_protected", "Services currently protected from mass expiry",
                 sum(1 for _, entry in shielded if not entry["exhausted"]))
    counts = store.read(counts_by_status)
    inst = GaugeMetricFamily("manifest_instances", "Instances by status", labels=["status"])
    for status, n in counts.items():
        inst.add_metric([status], n)
    yield inst
