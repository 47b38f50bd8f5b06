"""Manifest node: a Raft-replicated service registry server (import name ``manifest_node``)."""

__version__ = "0.1.0"
