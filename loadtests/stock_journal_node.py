"""Run ``manifest`` with pysyncobj's own FileJournal: for the durability comparison only.

Used by ``python -m loadtests.durability --stock-journal`` to show what the
project's journal (manifest_node.consensus.journal) fixes. Never use it to
run a registry.
"""

from manifest_node.consensus.pysyncobj.journal import FileJournal

import manifest_node.consensus.adapter as adapter


def _stock(path, fsync=False):
    return FileJournal(path)


adapter.DurableJournal = _stock

from manifest_node.entry import main  # noqa: E402  (after the swap on purpose)

main()
