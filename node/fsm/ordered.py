"""The instances' keys kept in order, for the walk of a list no index narrows (pure: standard library).

A page of ``?status=up`` or of an unfiltered list is its first ``limit``
matches in (name, id) order; with the keys in order that is a walk from the
page's start that stops at its end, instead of a pass over the whole
registry. A plain sorted list would move every key after a new one at each
registration (a million references, ~1 ms); this one holds the keys in
blocks of ``block`` to ``2 * block`` and moves at most one block, and finds
a key by bisecting the blocks' last keys, then the block.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

BLOCK = 1000


class OrderedKeys:
    """A set of keys that iterates in order; ``add`` and ``discard`` cost O(log n + block)."""

    __slots__ = ("_blocks", "_maxes", "_len", "_block")

    def __init__(self, keys=(), block: int = BLOCK) -> None:
        ordered = sorted(keys)  # a snapshot's keys arrive in order: the sort is one linear pass
        if any(a == b for a, b in zip(ordered, ordered[1:])):
            ordered = [k for i, k in enumerate(ordered) if i == 0 or k != ordered[i - 1]]
        self._block = block
        self._blocks = [ordered[i:i + block] for i in range(0, len(ordered), block)]
        self._maxes = [b[-1] for b in self._blocks]
        self._len = len(ordered)

    def __len__(self) -> int:
        return self._len

    def __iter__(self):
        for b in self._blocks:
            yield from b

    def _locate(self, key) -> tuple[int, int]:
        """(block, position) where ``key`` is or would go; block == len(blocks) past the last key.

        Within a block the position is always valid: ``key`` is at most the block's last key."""
        i = bisect_left(self._maxes, key)
        return i, (bisect_left(self._blocks[i], key) if i < len(self._blocks) else 0)

    def __contains__(self, key) -> bool:
        i, j = self._locate(key)
        return i < len(self._blocks) and self._blocks[i][j] == key

    def add(self, key) -> None:
        if not self._blocks:
            self._blocks.append([key])
            self._maxes.append(key)
            self._len = 1
            return
        i, j = self._locate(key)
        if i == len(self._blocks):  # past the last key: the end of the last block
            i, j = i - 1, len(self._blocks[-1])
        block = self._blocks[i]
        if j < len(block) and block[j] == key:
            return
        block.insert(j, key)
        self._len += 1
        self._maxes[i] = block[-1]
        if len(block) > 2 * self._block:
            upper = block[self._block:]
            del block[self._block:]
            self._blocks.insert(i + 1, upper)
            self._maxes[i] = block[-1]
            self._maxes.insert(i + 1, upper[-1])

    def discard(self, key) -> None:
        i, j = self._locate(key)
        if i == len(self._blocks) or self._blocks[i][j] != key:
            return
        block = self._blocks[i]
        del block[j]
        self._len -= 1
        if block:
            self._maxes[i] = block[-1]
        else:
            del self._blocks[i]
            del self._maxes[i]

    def from_key(self, key, inclusive: bool = False):
        """The keys after ``key`` (from it, when ``inclusive``), in order."""
        i, start = self._locate(key)
        if i == len(self._blocks):
            return
        block = self._blocks[i]
        if not inclusive:
            start = bisect_right(block, key, start)
        for j in range(start, len(block)):
            yield block[j]
        for k in range(i + 1, len(self._blocks)):
            yield from self._blocks[k]
