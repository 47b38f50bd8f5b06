"""``python -m manifest_node`` is the ``manifest`` command."""

from .entry import main

main()
