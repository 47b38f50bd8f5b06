"""Raft's wire protocol v2: one authenticated handshake per connection, then AEAD frames of msgpack.

pysyncobj's own framing pickles every message, compresses it and, with a
password, wraps it in a Fernet token (AES-CBC + HMAC + base64, in Python):
about 100 us of CPU per append on each side, and whatever reaches the port is
unpickled once it verifies. v2 instead:

- **Handshake** (the connecting side first): ``MNF2 | version | nonce_i``;
  the acceptor answers ``nonce_a | HMAC(K, "acc" | nonce_i | nonce_a)``; the
  initiator proves itself with ``HMAC(K, "ini" | nonce_i | nonce_a)``. ``K`` is
  derived from the cluster secret; both nonces are fresh, so an old session
  cannot be replayed. Session keys (one per direction) come from HKDF over the
  secret and both nonces.
- **Frames**: ``u32 length | AES-GCM(key, nonce = frame counter, msgpack(message))``.
  The counter is implicit: a frame replayed, dropped or reordered within a
  session fails to decrypt and closes the connection. Lengths are checked
  before anything is buffered: 64 bytes during the handshake, then
  ``MAX_FRAME``.
- **msgpack**, not pickle: nothing received is ever executed. Arrays decode
  as tuples, which is what pysyncobj's messages hold.

Without a secret (``--insecure``, loopback only) the handshake runs with an
empty key: the frames are still checked for integrity, but anyone can join;
and the legacy framing, which would unpickle what a stranger sends, is refused
unless the node itself is set to speak it.

A node accepts both protocols on its Raft port (v2 starts with the magic;
a legacy frame starts with a length that can never equal it within the 16 MiB
cap) and connects out with the one ``raft_protocol`` names, so a cluster is
upgraded from a release without v2 node by node (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"MNF2"
VERSION = 1
NONCE = 16
TAG = 32
MAX_FRAME = 16 * 1024 * 1024
_HELLO = len(MAGIC) + 1 + NONCE
_LEN = struct.Struct("<I")
LEGACY = None  # feed()'s answer when an incoming connection speaks the old protocol
_SPEAKS_LEGACY = object()


class WireError(Exception):
    """The peer broke the protocol, or failed to authenticate: drop the connection."""


def _hkdf(key: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, key, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def cluster_key(secret: str | None) -> bytes:
    return _hkdf((secret or "").encode(), b"manifest raft v2", b"cluster key", 32)


class _Session:
    """AES-GCM both ways, nonces from per-direction frame counters."""

    def __init__(self, key: bytes, nonce_i: bytes, nonce_a: bytes, initiator: bool):
        keys = _hkdf(key, nonce_i + nonce_a, b"session keys", 64)
        send, recv = (keys[:32], keys[32:]) if initiator else (keys[32:], keys[:32])
        self._send, self._recv = AESGCM(send), AESGCM(recv)
        self._sent = self._received = 0

    def seal(self, message) -> bytes:
        nonce = self._sent.to_bytes(12, "big")
        self._sent += 1
        body = self._send.encrypt(nonce, msgpack.packb(message, use_bin_type=True), None)
        return _LEN.pack(len(body)) + body

    def open(self, body: bytes):
        nonce = self._received.to_bytes(12, "big")
        self._received += 1
        try:
            plain = self._recv.decrypt(nonce, body, None)
        except InvalidTag:
            raise WireError("a frame failed to authenticate") from None
        return msgpack.unpackb(plain, raw=False, use_list=False, strict_map_key=False)


class Codec:
    """One connection's v2 state: the handshake, then frames. Driven by TcpConnection."""

    def __init__(self, key: bytes, initiator: bool, sniff: bool = False):
        """``sniff``: an acceptor that lets a legacy-protocol peer through (see CodecFactory)."""
        self._key, self._initiator, self._sniff = key, initiator, sniff
        self._nonce_i = os.urandom(NONCE) if initiator else None
        self._nonce_a = None if initiator else os.urandom(NONCE)
        self._session: _Session | None = None
        self._stage = "hello"  # hello -> (initiator) challenge | (acceptor) proof -> frames

    @property
    def ready(self) -> bool:
        return self._session is not None

    def opening(self) -> bytes:
        """What the connecting side sends first."""
        return MAGIC + bytes([VERSION]) + self._nonce_i if self._initiator else b""

    def encode(self, message) -> bytes:
        return self._session.seal(message)

    def feed(self, buf: bytearray):
        """Consume what ``buf`` holds: (messages, bytes to send back), or LEGACY.

        Raises WireError to have the connection dropped."""
        messages, reply = [], b""
        while True:
            if self._session is not None:
                if len(buf) < _LEN.size:
                    break
                (length,) = _LEN.unpack_from(buf)
                if length > MAX_FRAME:
                    raise WireError(f"a frame of {length} bytes announced")
                if len(buf) < _LEN.size + length:
                    break
                body = bytes(buf[_LEN.size:_LEN.size + length])
                del buf[:_LEN.size + length]
                messages.append(self._session.open(body))
                continue
            step = self._handshake(buf)
            if step is _SPEAKS_LEGACY:
                return LEGACY
            if step is None:
                break
            reply += step
        return messages, reply

    def _handshake(self, buf: bytearray):
        """One handshake step from ``buf``: the bytes to answer, _SPEAKS_LEGACY, or None (need more)."""
        if not self._initiator and self._stage == "hello":
            if len(buf) < len(MAGIC):
                return None
            if bytes(buf[:len(MAGIC)]) != MAGIC:
                if self._sniff:
                    return _SPEAKS_LEGACY
                raise WireError("not the v2 protocol")
            if len(buf) < _HELLO:
                return None
            if buf[len(MAGIC)] != VERSION:
                raise WireError(f"protocol version {buf[len(MAGIC)]} not spoken here")
            self._nonce_i = bytes(buf[len(MAGIC) + 1:_HELLO])
            del buf[:_HELLO]
            self._stage = "proof"
            return self._nonce_a + self._mac(b"acc")
        if self._initiator and self._stage == "hello":
            if len(buf) < NONCE + TAG:
                return None
            self._nonce_a = bytes(buf[:NONCE])
            if not hmac.compare_digest(bytes(buf[NONCE:NONCE + TAG]), self._mac(b"acc")):
                raise WireError("the peer does not know the cluster secret")
            del buf[:NONCE + TAG]
            self._session = _Session(self._key, self._nonce_i, self._nonce_a, initiator=True)
            return self._mac(b"ini")
        if self._stage == "proof":
            if len(buf) < TAG:
                return None
            if not hmac.compare_digest(bytes(buf[:TAG]), self._mac(b"ini")):
                raise WireError("the peer does not know the cluster secret")
            del buf[:TAG]
            self._session = _Session(self._key, self._nonce_i, self._nonce_a, initiator=False)
            return b""
        return None

    def _mac(self, role: bytes) -> bytes:
        return hmac.new(self._key, role + self._nonce_i + self._nonce_a, hashlib.sha256).digest()


class CodecFactory:
    """What the fork's transport asks for each connection (SyncObjConf.connectionCodec)."""

    def __init__(self, secret: str | None, protocol: str = "v2"):
        self._key = cluster_key(secret)
        self._protocol = protocol
        # The legacy framing unpickles what arrives; only a secret (checked by
        # Fernet first) makes that safe. Without one, legacy peers are let in
        # only when this node speaks legacy itself (an insecure cluster mid-upgrade).
        self._admit_legacy = bool(secret) or protocol == "legacy"

    def __call__(self, outgoing: bool):
        if outgoing:
            return Codec(self._key, initiator=True) if self._protocol == "v2" else None
        return Codec(self._key, initiator=False, sniff=self._admit_legacy)
