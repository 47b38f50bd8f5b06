"""ChangeHub's live delivery to subscribed watch streams, with fake subscribers."""

import asyncio

from manifest_node.api.changes import ChangeHub
from manifest_node.api.history import EventRing
from manifest_node.fsm.registry import Event
from tests.support.eventually import eventually


def ev(revision, name="web"):
    return Event(revision, "registered", {"name": name, "id": f"i{revision}"})


class Sub:
    def __init__(self, service=None, accept=True):
        self.service, self.accept = service, accept
        self.got, self.keepalives, self.woken = [], 0, 0

    def push(self, events):
        if self.accept:
            self.got += [e.revision for e in events]
        return self.accept

    def keepalive(self):
        self.keepalives += 1
        return self.accept

    def wake(self):
        self.woken += 1


async def test_subscribers_get_their_services_new_events_in_order():
    hub = ChangeHub()
    every, web, db = Sub(), Sub("web"), Sub("db")
    for s in (every, web, db):
        hub.subscribe(s, 60)
    hub.on_events(1, [ev(1, "web"), ev(2, "db"), ev(3, "web")])
    hub.on_events(2, [ev(3, "web")])  # a replay: nothing new
    hub.on_events(3, [ev(4, "api")])
    assert every.got == [1, 2, 3, 4] and web.got == [1, 3] and db.got == [2]
    hub.close()


async def test_a_subscriber_that_cannot_take_a_write_is_dropped_and_woken():
    hub = ChangeHub()
    slow, ok = Sub(accept=False), Sub()
    hub.subscribe(slow, 60)
    hub.subscribe(ok, 60)
    hub.on_events(1, [ev(1)])
    hub.on_events(2, [ev(2)])
    assert slow.woken == 1 and slow.got == [] and ok.got == [1, 2]
    hub.close()


async def test_one_timer_sends_every_subscribers_keepalive_until_none_is_left():
    hub = ChangeHub()
    a, b = Sub(), Sub("web")
    hub.subscribe(a, 0.01)
    timer = hub._keepalive
    hub.subscribe(b, 0.01)
    assert timer is not None and hub._keepalive is timer  # the second stream shares the first's timer
    # More than one round each: the timer re-arms itself while anyone is subscribed.
    await eventually(lambda: a.keepalives >= 2 and b.keepalives >= 2, what="two keep-alive rounds")
    hub.unsubscribe(a)
    hub.unsubscribe(b)
    assert hub.waiting() == 0
    await eventually(lambda: hub._keepalive is None, what="the timer to stop once nobody is subscribed")
    sent = (a.keepalives, b.keepalives)
    await asyncio.sleep(0.05)  # five periods: a timer still running would have sent more
    assert (a.keepalives, b.keepalives) == sent and hub._keepalive is None
    assert a.got == b.got == [] and a.woken == b.woken == 0  # keep-alives neither deliver nor drop
    hub.close()


async def test_restore_and_close_hand_every_stream_back_to_its_task():
    hub = ChangeHub()
    a, b = Sub(), Sub("web")
    hub.subscribe(a, 60)
    hub.subscribe(b, 60)
    hub.on_restore(10)
    assert (a.woken, b.woken) == (1, 1) and hub.waiting() == 0
    hub.on_events(1, [ev(9)])  # not after the restored revision
    hub.subscribe(a, 60)
    hub.on_events(2, [ev(11)])
    assert a.got == [11]
    hub.close()
    assert a.woken == 2


def test_ring_encodes_each_event_once_and_forgets_evicted_frames():
    ring = EventRing(2)
    batch = [ev(1), ev(2), ev(3)]
    ring.on_events(1, batch)
    data = ring.frames(batch)
    assert data.startswith(b"id: 1\nevent: registered\ndata: {") and data.count(b"\n\n") == 3
    assert ring.frames(batch) is data
    assert ring.replay(1) == (ring.frame(batch[1]) + ring.frame(batch[2]), 3)
    assert set(ring._frames) == {2, 3}
    ring.on_events(2, [ev(4)])
    assert set(ring._frames) == {3}
