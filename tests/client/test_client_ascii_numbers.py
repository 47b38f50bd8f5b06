"""Numbers the client reads from a server are ASCII digits only (issue 10, point 5)."""

import pytest

from manifest_client._endpoints import EndpointPool
from manifest_client._errors import error_from_response
from manifest_client._watch import WatchSession

NOT_ASCII = ["²", "٣", "３", "1_0", "inf", "nan", "-1", "1e3", ""]


@pytest.mark.parametrize("value", NOT_ASCII, ids=ascii)
def test_retry_after_that_is_not_ascii_digits_is_ignored(value):
    assert error_from_response(503, b"", {"retry-after": value}).retry_after is None


def test_retry_after_in_ascii_digits():
    assert error_from_response(503, b"", {"retry-after": "2"}).retry_after == 2.0
    assert error_from_response(429, b"", {"retry-after": "30"}).status == 429


@pytest.mark.parametrize("value", NOT_ASCII, ids=ascii)
def test_watch_event_ids_that_are_not_ascii_digits_are_skipped(value):
    s = WatchSession(EndpointPool(["http://a:1"]), since=4)
    for line in (f"id: {value}", "event: registered", 'data: {"name": "web", "id": "w1"}', ""):
        event = s.feed(line)
    assert event is None and s.since == 4
    for line in ("id: 5", "event: registered", 'data: {"name": "web", "id": "w1"}', ""):
        event = s.feed(line)
    assert event.revision == 5 and s.since == 5


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e300, 1.5], ids=ascii)
def test_records_with_numbers_that_are_not_integers_do_not_crash(value):
    from manifest_client import Instance

    inst = Instance.from_dict({"name": "web", "id": "w1", "port": value, "revision": value})
    assert inst.port is None or isinstance(inst.port, int)
    assert inst.revision is None or isinstance(inst.revision, int)


@pytest.mark.parametrize("load", ["٣", "３", "1_0", "inf", "-inf", "nan", "", " 1"], ids=ascii)
def test_least_loaded_ignores_loads_that_are_not_ascii_numbers(load):
    from manifest_client import Instance, pick

    odd = Instance(name="svc", id="odd", metadata={"load": load})
    plain = Instance(name="svc", id="plain", metadata={"load": "5"})
    assert pick([odd, plain], "least_loaded").id == "plain"
