"""Receiving a snapshot on a failing disk (vendored pysyncobj serializer.py, "quiet snapshot receipt").

A leader restarts the transmission of its snapshot to a follower that could
not store it, over and over; the follower's disk error is one warning per
new error and one line when it works again, never a traceback per try, and
an error on closing the file (a full disk shows at the last flush) is a
failed receipt, not an exception on pysyncobj's tick thread.
"""

from __future__ import annotations

import logging
import os

from node.consensus.pysyncobj.serializer import Serializer

LOGGER = "node.consensus.pysyncobj.serializer"


def _serializer(path: str) -> Serializer:
    return Serializer(path, 2 ** 16, False, None, None, None)


def _send(ser: Serializer, chunks: list[bytes]) -> bool:
    done = False
    for i, chunk in enumerate(chunks):
        done = ser.setTransmissionData((chunk, i == 0, i == len(chunks) - 1))
    return done


def _lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.endswith("pysyncobj.serializer")]


def test_a_missing_directory_is_one_line_until_it_works_and_one_line_then(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    folder = tmp_path / "gone"
    ser = _serializer(str(folder / "raft.snapshot"))
    for _ in range(10):  # the leader starts over ten times
        assert _send(ser, [b"a" * 100, b"b" * 100]) is False
    lines = _lines(caplog)
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING and lines[0].exc_info is None
    assert "cannot open the snapshot received from the leader" in lines[0].getMessage()
    folder.mkdir()
    assert _send(ser, [b"a" * 100, b"b" * 100]) is True
    assert (folder / "raft.snapshot").read_bytes() == b"a" * 100 + b"b" * 100
    lines = _lines(caplog)
    assert len(lines) == 2 and "works again" in lines[1].getMessage()
    assert _send(ser, [b"c"]) is True and len(_lines(caplog)) == 2  # nothing more to say


def test_a_full_disk_at_write_or_at_the_last_flush_fails_the_receipt_quietly(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    path = str(tmp_path / "raft.snapshot")
    os.symlink("/dev/full", path + ".1.tmp")  # every write to it is ENOSPC, once it reaches the device
    ser = _serializer(path)
    assert _send(ser, [b"x" * 100, b"y" * 100]) is False  # small: buffered, fails at the close
    for _ in range(5):
        assert _send(ser, [b"x" * (1 << 20), b"y"]) is False  # large: fails in write
    lines = _lines(caplog)
    assert [r.exc_info for r in lines] == [None] * len(lines)
    assert 1 <= len(lines) <= 2  # one per new error: the close's, then the write's
    assert all("No space left on device" in r.getMessage() for r in lines)
    assert not os.path.exists(path)
