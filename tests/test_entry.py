"""The ``manifest`` command assembles the client's and the node's commands without either mutating the other."""

import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from manifest_client.cli import cli as client_cli
from manifest_node import entry

ROOT = Path(__file__).resolve().parent.parent
CLIENT_COMMANDS = {"ls", "get", "register", "deregister", "heartbeat", "watch", "health", "cluster", "stats",
                   "token", "graph", "drain", "maintenance", "pick", "register-many", "snapshot"}


def test_manifest_has_every_client_command_and_option_and_the_node_commands():
    assert set(entry.cli.commands) == CLIENT_COMMANDS | {"node", "dev"}
    assert {p.name for p in entry.cli.params} == {"url", "as_json", "timeout"}
    for command in entry.cli.commands.values():
        assert CliRunner().invoke(entry.cli, [command.name, "--help"]).exit_code == 0, command.name


def test_the_client_group_is_left_as_the_client_made_it():
    assert set(client_cli.commands) == CLIENT_COMMANDS
    assert entry.build().commands is not client_cli.commands


def test_the_dependency_runs_one_way():
    """manifest_node's node commands do not import the client, and the client never imports the node."""
    for module, absent in [("manifest_node.cli", "manifest_client"), ("manifest_client.cli", "manifest_node")]:
        code = f"import sys, {module}; sys.exit({absent!r} in sys.modules)"
        assert subprocess.run([sys.executable, "-c", code]).returncode == 0, module


def test_client_options_still_reach_client_commands():
    result = CliRunner().invoke(entry.cli, ["--url", "http://127.0.0.1:1", "--timeout", "0.2", "ls"])
    assert result.exit_code == 3 and "Traceback" not in result.output  # nothing listens on port 1


def test_the_console_script_is_the_assembled_group():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"manifest": "manifest_node.entry:main"}
    out = subprocess.run([sys.executable, "-m", "manifest_node", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and all(f"  {name} " in out.stdout for name in CLIENT_COMMANDS | {"node", "dev"})
