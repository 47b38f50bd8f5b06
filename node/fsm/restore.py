"""The RESTORE command: the whole state replaced by a backup's, on every node alike.

The command carries the backup's state (``pack_snapshot`` bytes, zlib-compressed
to keep the log entry small) and their sha256; apply checks both before
touching anything, so a damaged entry fails on every node the same way and
changes nothing. What is *not* taken from the backup, because it describes
the cluster now rather than the registry then:

- ``members``: the API addresses of this cluster's nodes (followers forward
  writes there); a backup of another cluster names other machines;
- the clocks' tie to this cluster's terms: ``epoch`` becomes the restoring
  entry's term and the held clock continues from the backup's ``held``, so
  each instance keeps the ttl it had left when the backup was taken;
- ``revision`` never goes back: it becomes max(backup's, current + 1), so
  blocking reads and watchers see the restore as a change.

Without ``force``, a registry that holds any instance refuses (checked here,
at commit, so a registration racing the restore cannot be overwritten
silently).
"""

from __future__ import annotations

import hashlib
import zlib

from .results import DONE, Code, Result, failed

# A decompressed state larger than this is refused before it is built (a zip bomb in a forged entry).
MAX_STATE_BYTES = 1 << 30


def apply(state, cmd: list, ts_ms: int, term: int, held_ms: int) -> Result:
    """Replace ``state`` (a RegistryState) with the command's; the caller reports the restore."""
    if len(cmd) != 4 or not isinstance(cmd[1], bytes) or not isinstance(cmd[2], bytes) \
            or not isinstance(cmd[3], dict):
        return failed(Code.BAD_COMMAND, "malformed restore command")
    force = cmd[3].get("force") is True
    if state.instances and not force:
        return failed(Code.NOT_EMPTY, f"the registry holds {len(state.instances)} instances; restoring "
                      "would replace them (use force)", "force")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(cmd[1], MAX_STATE_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            return failed(Code.BAD_COMMAND, "the restored state is too large or incomplete")
    except zlib.error as exc:
        return failed(Code.BAD_COMMAND, f"the restored state does not decompress: {exc}")
    if hashlib.sha256(raw).digest() != cmd[2]:
        return failed(Code.BAD_COMMAND, "the restored state does not match its checksum")
    # This cluster's configuration, not the backup's: its members' addresses and its voters.
    members, voters, revision = state.members, state.member_rafts, state.revision
    try:
        state.restore(raw)  # builds a fresh state and swaps it in only when complete
    except Exception as exc:  # msgpack and a malformed state raise many types; nothing was changed
        return failed(Code.BAD_COMMAND, f"the restored state is not a snapshot: {exc}")
    state.members, state.member_rafts = members, voters
    state.revision = max(state.revision, revision + 1)
    state.clock = ts_ms
    state.epoch, state._held_base = term, state.held - held_ms
    return DONE
