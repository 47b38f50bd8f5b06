"""The node side of the ``manifest`` command: flags, env, TOML, dev mode (deploy files: tests/deploy/)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from manifest_node import cli as node_cli
from manifest_node.entry import cli as manifest
from manifest_node.config import ConfigError, NodeConfig
from manifest_node.config_load import load
from tests.support.cluster import free_port, wait_until
from tests.support.http import call

ROOT = Path(__file__).resolve().parent.parent


def test_precedence_is_flag_then_env_then_file(tmp_path):
    toml = tmp_path / "m.toml"
    toml.write_text('id = "from-file"\ntick_interval = 2.5\npeer = ["127.0.0.1:9001"]\nfsync = true\n')
    env = {"MANIFEST_ID": "from-env", "MANIFEST_DOWN_GRACE": "5", "MANIFEST_INSECURE": "1"}
    cfg = load({"id": "from-flag"}, env=env, config_file=str(toml))
    assert (cfg.id, cfg.tick_interval, cfg.down_grace, cfg.peer, cfg.fsync) == (
        "from-flag", 2.5, 5.0, ("127.0.0.1:9001",), True)
    assert load({}, env=env, config_file=str(toml)).id == "from-env"
    assert load({}, env={"MANIFEST_PEER": "127.0.0.1:1,127.0.0.1:2", "MANIFEST_INSECURE": "true"}).peer == (
        "127.0.0.1:1", "127.0.0.1:2")


@pytest.mark.parametrize("flags,field", [
    ({"api": "nope"}, "api"),
    ({"raft": "10.1.2.3:8501"}, "cluster_secret"),
    ({"peer": ("10.1.2.4:8501",)}, "cluster_secret"),
    ({"raft": "127.0.0.1:8501", "peer": ("127.0.0.1:8501",)}, "peer"),
    ({"log_format": "xml"}, "log_format"),
    ({"tick_interval": "0"}, "tick_interval"),
    ({"id": "bad id!"}, "id"),
])
def test_validation_names_the_field(flags, field):
    with pytest.raises(ConfigError) as err:
        load({"insecure": True, **flags}, env={})
    assert err.value.field == field


def test_non_loopback_raft_is_accepted_with_a_secret():
    cfg = load({"raft": "10.1.2.3:8501", "cluster_secret": "hunter2-hunter2-hunter2"}, env={})
    assert cfg.cluster_secret == "hunter2-hunter2-hunter2" and "hunter2" not in repr(cfg)


def test_unknown_toml_key_is_refused(tmp_path):
    toml = tmp_path / "m.toml"
    toml.write_text("speed = 11\n")
    with pytest.raises(ConfigError) as err:
        load({}, env={}, config_file=str(toml))
    assert err.value.field == "speed"


def test_bad_flag_is_a_usage_error_with_exit_2():
    result = CliRunner().invoke(manifest, ["node", "--raft", "10.0.0.1:9"], env={})
    assert result.exit_code == 2 and "cluster_secret" in result.output


def test_api_url_uses_a_reachable_host():
    assert NodeConfig(api="0.0.0.0:8500", raft="127.0.0.1:8501").api_url == "http://127.0.0.1:8500"
    assert NodeConfig(advertise_api="http://n1:8500/").api_url == "http://n1:8500"


def test_local_cluster_layout():
    args = node_cli.local_cluster_args(3, "127.0.0.1:8500", "/d")
    assert args[0][:6] == ["--id", "n1", "--api", "127.0.0.1:8500", "--raft", "127.0.0.1:8501"]
    assert args[2].count("--peer") == 2 and "127.0.0.1:8505" not in args[2][6:]
    assert "--dns" not in args[0]
    dns = [a[a.index("--dns") + 1] for a in node_cli.local_cluster_args(3, "127.0.0.1:8500", "/d", "127.0.0.1:8600")]
    assert dns == ["127.0.0.1:8600", "127.0.0.1:8601", "127.0.0.1:8602"]


def python_start_s() -> float:
    """How long starting Python and importing the node takes on this machine as loaded now."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import manifest_node.server, manifest_node.entry"], check=True)
    return time.monotonic() - started


def test_dev_node_is_ready_quickly_and_stops_on_sigterm(tmp_path):
    port = free_port()
    imports_s = python_start_s()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "manifest_node", "dev", "--api", f"127.0.0.1:{port}",
                             "--raft", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"),
                             "--dns", "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # manifest dev runs with auth on and says its fresh admin token first, on the terminal.
        first = proc.stdout.readline().decode()
        token = re.search(r"export MANIFEST_TOKEN=(\S+)", first).group(1)
        # Generous: a loaded 2-core machine. How fast it is ready is a figure, not a test.
        wait_until(lambda: call(f"http://127.0.0.1:{port}", "GET", "/v1/health", timeout=0.5).status == 200,
                   45, interval=0.02, what="dev node ready")
        print(f"manifest dev ready in {time.monotonic() - started:.2f}s, of which {imports_s:.2f}s starting Python")
        assert call(f"http://127.0.0.1:{port}", "POST", "/v1/services", {"name": "web"}).status == 401
        r = call(f"http://127.0.0.1:{port}", "POST", "/v1/services", {"name": "web"},
                 headers={"Authorization": f"Bearer {token}"})
        assert r.status == 201
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode()
    assert proc.returncode == 0, out
    assert "became leader" in out and "node stopped" in out
    assert token not in out  # said once, on the terminal; never logged


def test_json_logs_are_one_object_per_line(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "manifest_node", "dev", "--api", f"127.0.0.1:{port}",
                             "--raft", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"),
                             "--log-format", "json", "--dns", "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "MANIFEST_BOOTSTRAP_TOKEN": "a-given-token-is-not-printed"})
    try:
        wait_until(lambda: call(f"http://127.0.0.1:{port}", "GET", "/v1/health", timeout=0.5).status == 200,
                   45, what="dev node ready")
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode()
    import json
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert any(line["msg"] == "became leader" and line["node"] == "dev" for line in lines)
