"""The non-linearizability checkers on small hand-made runs they must pass or fail."""

from tests.chaos.checks import deposed_leader, lost_writes
from tests.chaos.checks_lifecycle import lifecycle
from tests.chaos.checks_watch import expiry, replay, watch
from tests.chaos.history import Op, RunData


def op(i, kind, key, start, end, outcome="ok", value=None, flag=None, proc="w0", node="n1", status=200):
    return Op(i, proc, kind, key, node, start, end, outcome, value, flag, status)


def ev(rev, kind, key, status="up", v=None):
    return {"rev": rev, "kind": kind, "key": key, "state": [status, v], "reason": None, "node": "n1", "t": rev}


def test_lost_write_is_detected_and_an_unknown_write_may_be_last():
    k = "chaos/k0"
    base = [op(1, "put", k, 0, 1, value="a", flag=True), op(2, "put", k, 2, 3, value="b", flag=False)]
    good = RunData(ops=base + [op(3, "get", k, 10, 11, value="b", proc="final")])
    assert lost_writes(good).ok
    lost = RunData(ops=base + [op(3, "get", k, 10, 11, value="a", proc="final")])
    assert not lost_writes(lost).ok
    maybe = RunData(ops=base + [op(3, "put", k, 4, 5, "unknown", value="c"),
                                op(4, "get", k, 10, 11, value="c", proc="final")])
    assert lost_writes(maybe).ok
    nothing = RunData(ops=[op(1, "put", k, 0, 1, "unknown", value="a"),
                           op(2, "get", k, 5, 6, value=None, proc="final")])
    assert lost_writes(nothing).ok  # the only write may never have happened


def test_watch_streams_must_be_gapless_agree_and_match_the_final_state():
    items = [ev(1, "registered", "chaos/k0", v="a"), ev(2, "updated", "chaos/k0", v="b"),
             ev(3, "deregistered", "chaos/k0", v="b"), ev(4, "registered", "chaos/k1", v="c")]
    final = {"revision": 4, "instances": {"chaos/k1": ["up", "c"]}}
    ok = RunData(watchers={"a": {"items": items}, "b": {"items": list(items)}}, final={"state": final})
    assert watch(ok).ok, watch(ok).violations
    gap = RunData(watchers={"a": {"items": items[:1] + items[2:]}}, final={"state": final})
    assert any("gap" in v for v in watch(gap).violations)
    dup = RunData(watchers={"a": {"items": items[:2] + items[1:]}}, final={"state": final})
    assert any("duplicate" in v for v in watch(dup).violations)
    other = [*items[:3], ev(4, "registered", "chaos/k1", v="zzz")]
    disagree = RunData(watchers={"a": {"items": items}, "b": {"items": other}}, final={"state": final})
    assert not watch(disagree).ok


def test_a_reset_replaces_the_state_and_may_not_go_back():
    reset = {"reset": 3, "instances": {"chaos/k0": ["up", "b"]}, "node": "n2", "t": 0}
    items = [ev(1, "registered", "chaos/k0", v="a"), reset, ev(4, "updated", "chaos/k0", v="c")]
    assert replay(items, 4) == ({"chaos/k0": ["up", "c"]}, 4)
    final = {"revision": 4, "instances": {"chaos/k0": ["up", "c"]}}
    assert watch(RunData(watchers={"a": {"items": items}}, final={"state": final})).ok
    back = [*items, {**reset, "reset": 2}]
    assert any("reset to 2" in v for v in watch(RunData(watchers={"a": {"items": back}})).violations)


def test_failed_write_that_shows_up_in_a_stream_is_a_violation():
    data = RunData(ops=[op(1, "put", "chaos/k0", 0, 1, "fail", value="a", status=503)],
                   watchers={"a": {"items": [ev(1, "registered", "chaos/k0", v="a")]}})
    assert any("certainly not committed" in v for v in watch(data).violations)


def test_expiry_of_a_live_instance_and_late_expiry_of_a_stopped_one():
    meta = {"hb": {"h0": {"stop_at": None}, "h1": {"stop_at": 5.0}}}
    fine = RunData(meta=meta, samples=[{"t": 1, "node": "n1", "statuses": {"h0": "up", "h1": "down"}}],
                   final={"expiry": {"h1": {"stopped_at": 5, "deadline": 20, "down_at": 16}}})
    assert expiry(fine).ok
    down = RunData(meta=meta, samples=[{"t": 1, "node": "n2", "statuses": {"h0": "down"}}])
    assert not expiry(down).ok
    late = RunData(meta=meta, final={"expiry": {"h1": {"stopped_at": 5, "deadline": 20, "down_at": 25}}})
    assert not expiry(late).ok


def test_deposed_leader_must_refuse_and_step_down():
    probe = {"node": "n1", "t_cut": 10.0, "t_heal": 14.0,
             "health": [[10.0, "leader", 200], [11.3, "leader", 200], [11.4, "follower", 503]]}
    refused = op(1, "get", "chaos/probe", 10.5, 11.9, "fail", proc="prober", status=503)
    assert deposed_leader(RunData(ops=[refused], probes=[probe])).ok
    slow_refusal = op(3, "get", "chaos/probe", 10.5, 12.1, "fail", proc="prober", status=503)
    assert not deposed_leader(RunData(ops=[slow_refusal], probes=[probe])).ok
    slow_before_heal = op(4, "get", "chaos/probe", 12.0, 14.5, "fail", proc="prober", status=503)
    assert not deposed_leader(RunData(ops=[slow_before_heal], probes=[probe])).ok  # 2.0 s while cut off
    pending_at_heal = op(5, "get", "chaos/probe", 13.2, 15.3, "fail", proc="prober", status=503)
    assert deposed_leader(RunData(ops=[pending_at_heal], probes=[probe])).ok  # 0.8 s while cut off
    served = op(2, "get", "chaos/probe", 10.5, 11.0, "ok", proc="prober")
    assert not deposed_leader(RunData(ops=[served], probes=[probe])).ok
    slow = {**probe, "health": [[10.0, "leader", 200], [11.7, "follower", 503]]}
    assert not deposed_leader(RunData(probes=[slow])).ok


def test_unknown_writes_are_settled_by_complete_watch_streams():
    from tests.chaos.resolve import resolve, watch_facts

    k = "chaos/k0"
    ops = [op(1, "put", k, 0, 1, value="a", flag=True), op(2, "put", k, 2, 3, "unknown", value="b"),
           op(3, "put", k, 4, 5, "unknown", value="c"), op(4, "del", k, 6, 7, "unknown")]
    stream = [ev(1, "registered", k, v="a"), {**ev(2, "updated", k, v="c"), "t": 4.5}]
    data = RunData(ops=ops, watchers={"a": {"items": stream}},
                   final={"state": {"revision": 2, "instances": {k: ["up", "c"]}}})
    settled, stats = resolve(data, k, ops, watch_facts(data))
    assert [(o.id, o.outcome, o.end) for o in settled] == [(1, "ok", 1), (3, "ok", 4.5)]
    assert stats == {"put dropped": 1, "put bounded": 1, "del dropped": 1}
    partial = RunData(ops=ops, watchers={"a": {"items": stream[1:]}},
                      final={"state": {"revision": 2, "instances": {}}})
    settled, _ = resolve(partial, k, ops, watch_facts(partial))  # revision 1 unseen: drop nothing
    assert [o.id for o in settled] == [1, 2, 3, 4]


def test_convergence_compares_applied_histories_and_divergence_reads_the_alarms():
    from tests.chaos.checks import convergence, divergence

    conv = {"took": 0.5, "limit": 10, "revision": 7}
    same = {"n1": {"applied_index": 9, "applied_hash": "aa", "alarms": []},
            "n2": {"applied_index": 9, "applied_hash": "aa", "alarms": []}}
    ok = RunData(final={"convergence": conv, "hashes": {"nodes": same, "alarm_lines": []}})
    assert convergence(ok).ok and divergence(ok).ok
    differ = {**same, "n2": {"applied_index": 9, "applied_hash": "bb", "alarms": []}}
    bad = RunData(final={"convergence": conv, "hashes": {"nodes": differ, "alarm_lines": []}})
    assert any("histories differ" in v for v in convergence(bad).violations)
    logged = RunData(final={"convergence": conv, "hashes": {
        "nodes": same, "alarm_lines": ["n2: CRITICAL manifest.divergence: an applied entry was replaced"]}})
    assert convergence(logged).ok and not divergence(logged).ok
    alarmed = {**same, "n1": {**same["n1"], "alarms": [{"kind": "divergence", "peer": "n2"}]}}
    still = RunData(final={"convergence": conv, "hashes": {"nodes": alarmed, "alarm_lines": []}})
    assert not divergence(still).ok


def test_a_checked_instance_may_not_flap_on_a_node_but_a_lagging_node_may_show_it_starting():
    def sample(t, node, status):
        return {"t": t, "node": node, "statuses": {}, "checked": {"c1": status}}
    meta = {"checked": ["c1"]}
    # n3 was down while c1 came up: its local view lags until it catches up (CI seed 5).
    lagging = RunData(meta=meta, samples=[sample(1, "n1", "starting"), sample(2, "n1", "up"),
                                          sample(3, "n3", "starting"), sample(4, "n3", "up")])
    assert lifecycle(lagging).ok, lifecycle(lagging).violations
    flap = RunData(meta=meta, samples=[sample(1, "n1", "up"), sample(2, "n2", "up"), sample(3, "n1", "unhealthy")])
    assert any("n1 reported checked c1 unhealthy" in v for v in lifecycle(flap).violations)
    never = RunData(meta=meta, samples=[sample(1, "n1", "starting")])
    assert any("never reported up" in v for v in lifecycle(never).violations)
