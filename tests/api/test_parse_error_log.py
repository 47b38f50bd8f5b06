"""The rate limit on aiohttp's parse-error lines (issue 10, point 9); the flood test is in tests/cluster."""

import logging

from manifest_node.api.parse_errors import ParseErrorLog


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def records(caplog):
    return [r for r in caplog.records if r.name == "manifest.http"]


def test_one_line_then_a_count_of_what_was_left_out(caplog):
    caplog.set_level(logging.INFO)
    clock, refused = Clock(), []
    plog = ParseErrorLog(every=10.0, clock=clock, on_refused=lambda: refused.append(1))
    bad = ValueError("400, message:\n  Invalid method encountered:\n\n  b'B\\x00D'\n  \x1b[31m")
    for _ in range(50):
        plog.exception("Error handling request from %s", "10.0.0.9", exc_info=bad)
    clock.now += 10.5
    plog.exception("Error handling request from %s", "10.0.0.9", exc_info=bad)
    lines = records(caplog)
    assert len(lines) == 2 and len(refused) == 51
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in lines)
    assert lines[0].suppressed == 0 and lines[1].suppressed == 49 and lines[0].remote == "10.0.0.9"
    message = lines[0].getMessage()
    assert "\n" not in message and "\x1b" not in message and "Invalid method" in message


def test_other_server_messages_pass_through_unchanged(caplog):
    caplog.set_level(logging.DEBUG)
    plog = ParseErrorLog()
    try:
        raise RuntimeError("a real bug in a handler")
    except RuntimeError as exc:
        plog.exception("Unhandled exception", exc_info=exc)
    plog.debug("Error handling request from %s", "1.2.3.4", exc_info=ValueError("first request, not HTTP"))
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelno, r.getMessage()) for r in server] == [
        (logging.ERROR, "Unhandled exception"), (logging.DEBUG, "Error handling request from 1.2.3.4")]
    assert server[0].exc_info is not None and records(caplog) == []
