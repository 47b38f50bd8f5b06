"""Raft wire protocol v2 (consensus/wire.py): handshake, frames, and what it refuses."""

import struct

import pytest

from manifest_node.consensus.wire import LEGACY, MAGIC, MAX_FRAME, CodecFactory, WireError

SECRET = "s" * 32


def connect(initiator_secret=SECRET, acceptor_secret=SECRET):
    a, b = CodecFactory(initiator_secret)(True), CodecFactory(acceptor_secret)(False)
    to_b = bytearray(a.opening())
    _, reply = b.feed(to_b)
    to_a = bytearray(reply)
    _, proof = a.feed(to_a)
    to_b = bytearray(proof)
    b.feed(to_b)
    return a, b


def test_both_sides_end_up_with_a_session_and_messages_cross_as_sent():
    a, b = connect()
    assert a.ready and b.ready
    message = {"type": "append_entries", "term": 3, "entries": ((b"\x00cmd", 7, 3),), "prevLogIdx": 6,
               "serialized": None, "snapshot_last": (5, 2), "ok": True}
    got, _ = b.feed(bytearray(a.encode(message)))
    assert got == [message]  # arrays come back as tuples, as pysyncobj keeps them
    back, _ = a.feed(bytearray(b.encode({"type": "next_node_idx", "term": 3})))
    assert back == [{"type": "next_node_idx", "term": 3}]


def test_frames_split_anywhere_are_reassembled():
    a, b = connect()
    wire = b"".join(a.encode({"n": i}) for i in range(5))
    buf, seen = bytearray(), []
    for byte in wire:
        buf.append(byte)
        seen += b.feed(buf)[0]
    assert seen == [{"n": i} for i in range(5)]


@pytest.mark.parametrize("side", ["initiator", "acceptor"])
def test_a_peer_without_the_secret_is_refused(side):
    other = "t" * 32
    with pytest.raises(WireError, match="secret"):
        if side == "initiator":
            connect(initiator_secret=other)  # the acceptor rejects the initiator's proof
        else:
            connect(acceptor_secret=other)  # the initiator rejects the acceptor's answer


def test_a_replayed_or_reordered_frame_fails():
    a, b = connect()
    first, second = a.encode({"n": 1}), a.encode({"n": 2})
    with pytest.raises(WireError):
        b.feed(bytearray(second + first))
    a, b = connect()
    frame = a.encode({"n": 1})
    b.feed(bytearray(frame))
    with pytest.raises(WireError):
        b.feed(bytearray(frame))


def test_a_tampered_frame_fails():
    a, b = connect()
    frame = bytearray(a.encode({"n": 1}))
    frame[-1] ^= 1
    with pytest.raises(WireError):
        b.feed(frame)


def test_an_oversized_frame_is_refused_from_its_length_alone():
    _, b = connect()
    with pytest.raises(WireError, match="bytes announced"):
        b.feed(bytearray(struct.pack("<I", MAX_FRAME + 1)))


def test_the_acceptor_sniffs_a_legacy_peer_when_it_admits_them():
    legacy_frame = struct.pack("i", 12) + b"x" * 12
    assert CodecFactory(SECRET)(False).feed(bytearray(legacy_frame)) is LEGACY
    with pytest.raises(WireError):  # no secret: the legacy framing would unpickle a stranger's bytes
        CodecFactory(None)(False).feed(bytearray(legacy_frame))
    assert CodecFactory(None, "legacy")(False).feed(bytearray(legacy_frame)) is LEGACY
    assert CodecFactory(SECRET, "legacy")(True) is None  # it connects out with the legacy framing


def test_an_unknown_version_is_refused():
    b = CodecFactory(SECRET)(False)
    with pytest.raises(WireError, match="version"):
        b.feed(bytearray(MAGIC + bytes([9]) + b"n" * 16))


def test_the_magic_can_never_be_a_legacy_length():
    assert struct.unpack("i", MAGIC)[0] > MAX_FRAME
