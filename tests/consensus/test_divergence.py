"""The applied-state hash chain, its comparison with peers, and the replaced-entry alarm."""

from manifest_node.consensus.divergence import GENESIS, Alarms, AppliedHash, DivergenceMonitor, chain
from manifest_node.consensus.journal import DurableJournal


def fed(envelopes, start=1):
    h = AppliedHash()
    for i, env in enumerate(envelopes, start):
        h.advance(i, env)
    return h


def test_equal_logs_give_equal_digests_at_every_index():
    a, b = fed([b"x", b"y", b"z"]), fed([b"x", b"y", b"z"])
    assert a.published() == b.published()
    assert all(a.at(i) == b.at(i) for i in (1, 2, 3))
    assert a.at(1) == chain(GENESIS, 1, b"x")


def test_one_different_entry_changes_every_later_digest():
    a, b = fed([b"x", b"y", b"z"]), fed([b"x", b"Y", b"z"])
    assert a.at(1) == b.at(1)
    assert a.at(2) != b.at(2) and a.at(3) != b.at(3)


def test_the_same_envelope_at_another_index_is_a_difference():
    a = AppliedHash()
    a.advance(5, b"x")
    b = AppliedHash()
    b.advance(6, b"x")
    assert a.digest != b.digest


def test_digest_at_an_index_without_an_envelope_is_the_previous_one():
    h = AppliedHash()
    h.advance(3, b"x")
    h.advance(7, b"y")  # 4..6 were pysyncobj no-ops
    assert h.at(5) == h.at(3)
    assert h.at(8) is False  # not applied yet: cannot tell
    assert h.at(2) is False  # before what we remember


def test_a_snapshot_continues_the_chain():
    full = fed([b"a", b"b", b"c", b"d"])
    installed = AppliedHash()
    installed.reset(2, full.at(2))
    installed.advance(3, b"c")
    installed.advance(4, b"d")
    assert installed.published() == full.published()


def test_an_unknown_chain_is_never_compared():
    h = AppliedHash()
    h.reset(10, None)
    h.advance(11, b"x")
    assert h.published() == (11, None)
    assert h.at(11) is False


def test_monitor_raises_an_alarm_on_a_mismatch_and_clears_it_on_agreement():
    ours = fed([b"x", b"y", b"z"])
    alarms = Alarms()
    monitor = DivergenceMonitor(ours, alarms, lambda: [])
    assert monitor.compare("n2", 3, fed([b"x", b"y", b"z"]).at(3).hex())
    assert alarms.divergence == {}
    assert monitor.compare("n2", 3, fed([b"x", b"q", b"z"]).at(3).hex())
    assert alarms.divergence["n2"].index == 3 and alarms.detected == 1
    assert [a["kind"] for a in alarms.current()] == ["divergence"]
    assert not monitor.compare("n3", 9, "00")  # n3 is ahead of us: checked later
    assert monitor.compare("n2", 2, ours.at(2).hex())
    assert alarms.divergence == {}


async def test_monitor_polls_peers_health(aiohttp_server):
    from aiohttp import web

    theirs = fed([b"x", b"other"])

    async def health(request):
        index, digest = theirs.published()
        return web.json_response({"applied_index": index, "applied_hash": digest})

    app = web.Application()
    app.router.add_get("/v1/health", health)
    server = await aiohttp_server(app)
    ours = fed([b"x", b"y"])
    alarms = Alarms()
    monitor = DivergenceMonitor(ours, alarms, lambda: [("n2", str(server.make_url("")).rstrip("/"))])
    monitor.start()
    try:
        await monitor.check_once()
    finally:
        await monitor.stop()
    assert alarms.divergence["n2"].index == 2


def test_journal_reports_a_conflict_but_not_an_identical_reappend(tmp_path):
    cuts = []
    j = DurableJournal(str(tmp_path / "j"), on_cut=cuts.append)
    for i in range(1, 6):
        j.add(f"c{i}".encode(), i, 1)
    j.setCurrentTerm(2, None)
    j.deleteEntriesFrom(2)  # an append with prevLogIdx=2
    j.add(b"c3", 3, 1)  # the same entry again: no cut
    assert cuts == []
    j.add(b"new4", 4, 2)  # a different entry at index 4
    assert cuts == [4]
    j._destroy()


def test_replaced_alarm_is_kept_and_counted():
    alarms = Alarms()
    alarms.entry_replaced(7, 9)
    alarms.entry_replaced(8, 9)
    assert alarms.replacements == 2
    assert alarms.current() == [alarms.replaced.as_dict()] and alarms.replaced.index == 7
