"""``python -m manifest_node`` is the ``manifest`` command."""

from .cli import main

main()
