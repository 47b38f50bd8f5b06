"""The ``manifest`` console command: the client's commands and the node's in one group.

This is the one place where the node package uses the client package, and it
changes neither: the group here is a copy of the client's with the node's
commands added, so importing manifest_node or manifest_client alone leaves the
other's click objects as they are.
"""

from __future__ import annotations

import copy

import click
from manifest_client.cli import cli as client_cli

from .cli import dev_cmd, node_cmd

NODE_COMMANDS = (node_cmd, dev_cmd)


def build() -> click.Group:
    """The ``manifest`` group: the client's options and commands, plus ``node`` and ``dev``."""
    clash = {c.name for c in NODE_COMMANDS} & set(client_cli.commands)
    if clash:  # add_command would silently replace the client's command
        raise RuntimeError(f"the client and the node both define {sorted(clash)}")
    # A shallow copy keeps whatever the client's group carries (its options,
    # callback, help, context settings); only the command table is new.
    group = copy.copy(client_cli)
    group.commands = dict(client_cli.commands)
    for command in NODE_COMMANDS:
        group.add_command(command)
    return group


cli = build()


def main() -> None:
    cli(prog_name="manifest")
