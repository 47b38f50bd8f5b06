"""The node side of the ``manifest`` command: flags, env, TOML, dev mode, deploy files."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from manifest_node import cli as node_cli
from manifest_node.config import ConfigError, NodeConfig, load
from tests.support.cluster import free_port, wait_until
from tests.support.http import call

ROOT = Path(__file__).resolve().parent.parent


def test_precedence_is_flag_then_env_then_file(tmp_path):
    toml = tmp_path / "m.toml"
    toml.write_text('id = "from-file"\ntick_interval = 2.5\npeer = ["127.0.0.1:9001"]\nfsync = true\n')
    env = {"MANIFEST_ID": "from-env", "MANIFEST_DOWN_GRACE": "5"}
    cfg = load({"id": "from-flag"}, env=env, config_file=str(toml))
    assert (cfg.id, cfg.tick_interval, cfg.down_grace, cfg.peer, cfg.fsync) == (
        "from-flag", 2.5, 5.0, ("127.0.0.1:9001",), True)
    assert load({}, env=env, config_file=str(toml)).id == "from-env"
    assert load({}, env={"MANIFEST_PEER": "127.0.0.1:1,127.0.0.1:2"}).peer == ("127.0.0.1:1", "127.0.0.1:2")


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
        load(flags, env={})
    assert err.value.field == field


def test_non_loopback_raft_is_accepted_with_a_secret():
    cfg = load({"raft": "10.1.2.3:8501", "cluster_secret": "hunter2-secret"}, env={})
    assert cfg.cluster_secret == "hunter2-secret" and "hunter2" not in repr(cfg)


def test_unknown_toml_key_is_refused(tmp_path):
    toml = tmp_path / "m.toml"
    toml.write_text("speed = 11\n")
    with pytest.raises(ConfigError) as err:
        load({}, env={}, config_file=str(toml))
    assert err.value.field == "speed"


def test_bad_flag_is_a_usage_error_with_exit_2():
    result = CliRunner().invoke(node_cli.cli, ["node", "--raft", "10.0.0.1:9"], env={})
    assert result.exit_code == 2 and "cluster_secret" in result.output


def test_api_url_uses_a_reachable_host():
    assert NodeConfig(api="0.0.0.0:8500", raft="127.0.0.1:8501").api_url == "http://127.0.0.1:8500"
    assert NodeConfig(advertise_api="http://n1:8500/").api_url == "http://n1:8500"


def test_local_cluster_layout():
    args = node_cli.local_cluster_args(3, "127.0.0.1:8500", "/d")
    assert args[0][:6] == ["--id", "n1", "--api", "127.0.0.1:8500", "--raft", "127.0.0.1:8501"]
    assert args[2].count("--peer") == 2 and "127.0.0.1:8505" not in args[2][6:]


def test_every_flag_in_the_deploy_files_is_accepted():
    help_text = CliRunner().invoke(node_cli.cli, ["node", "--help"]).output
    deploy = (ROOT / "Dockerfile").read_text() + (ROOT / "cluster" / "docker-compose.yml").read_text()
    flags = set(re.findall(r'"(--[a-z-]+)"', deploy))
    assert {"--id", "--api", "--raft", "--peer", "--data-dir", "--advertise-api"} <= flags
    for flag in flags:
        assert flag in help_text, flag
    fields = {f.upper() for f in NodeConfig.__dataclass_fields__}
    for env in set(re.findall(r"MANIFEST_([A-Z_]+)", deploy)) - {"URL"}:  # URL is the client's
        assert env in fields, env


def test_dev_node_is_ready_quickly_and_stops_on_sigterm(tmp_path):
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "manifest_node", "dev", "--api", f"127.0.0.1:{port}",
                             "--raft", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: call(f"http://127.0.0.1:{port}", "GET", "/v1/health", timeout=0.5).status == 200,
                   10, interval=0.02, what="dev node ready")
        ready_s = time.monotonic() - started
        print(f"manifest dev ready in {ready_s:.2f}s")
        assert ready_s < 5  # the target is 2 s; shared CI machines get slack here
        r = call(f"http://127.0.0.1:{port}", "POST", "/v1/services", {"name": "web"})
        assert r.status == 201
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode()
    assert proc.returncode == 0, out
    assert "became leader" in out and "node stopped" in out


def test_json_logs_are_one_object_per_line(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "manifest_node", "dev", "--api", f"127.0.0.1:{port}",
                             "--raft", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"),
                             "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: call(f"http://127.0.0.1:{port}", "GET", "/v1/health", timeout=0.5).status == 200,
                   10, what="dev node ready")
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode()
    import json
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert any(line["msg"] == "became leader" and line["node"] == "dev" for line in lines)
