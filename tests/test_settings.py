"""Every node setting is declared once, on NodeConfig, and reachable by flag, env var and TOML key."""

import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from manifest_node import cli as node_cli
from manifest_node import config, config_load, server
from manifest_node.entry import cli as manifest
from manifest_node.config import ConfigError, NodeConfig
from manifest_node.config_load import load

ROOT = Path(__file__).resolve().parent.parent
FIELDS = dataclasses.fields(NodeConfig)
INSECURE = {"insecure": True}  # loopback without a secret; these tests are not about the secret

# A value each kind of bound refuses.
BAD = {config.POSITIVE: 0, config.AT_LEAST_1: 0, config.AT_LEAST_2: 1, config.NOT_NEGATIVE: -1, config.SECONDS: 0}


@pytest.mark.parametrize("f", [f for f in FIELDS if f.metadata["check"] is not None], ids=lambda f: f.name)
def test_every_bounded_setting_is_checked_by_validate_naming_it(f):
    check = f.metadata["check"]
    bad = "nope" if check.choices else BAD[check]
    with pytest.raises(ConfigError) as err:
        load({f.name: bad}, env={}, defaults=INSECURE)
    assert err.value.field == f.name and check.message in str(err.value)


def test_every_setting_has_help_text():
    assert all(f.metadata["help"].strip() for f in FIELDS)


@pytest.mark.parametrize("word", ["ture", "2", "enabled"])
def test_a_boolean_that_is_neither_true_nor_false_is_refused(word):
    with pytest.raises(ConfigError) as err:
        load({}, env={"MANIFEST_FSYNC": word}, defaults=INSECURE)
    assert err.value.field == "fsync"


def test_boolean_words():
    for word, value in [("1", True), ("Yes", True), ("on", True), ("0", False), ("false", False), ("off", False)]:
        assert load({}, env={"MANIFEST_FSYNC": word}, defaults=INSECURE).fsync is value, word


def test_the_log_level_is_case_blind_and_the_log_format_is_not():
    assert load({}, env={"MANIFEST_LOG_LEVEL": "DEBUG"}, defaults=INSECURE).log_level == "DEBUG"
    with pytest.raises(ConfigError) as err:
        load({}, env={"MANIFEST_LOG_FORMAT": "JSON"}, defaults=INSECURE)
    assert err.value.field == "log_format"


def test_the_secret_stays_out_of_repr():
    secret = "a-secret-of-24-bytes-yes"
    assert secret not in repr(NodeConfig(cluster_secret=secret, bootstrap_token=secret))
    assert [f.name for f in FIELDS if not f.repr] == ["cluster_secret", "bootstrap_token", "federation_token"]


SECRET = "a-secret-of-24-bytes-yes"
# A valid value other than the default for each setting, given alone.
SAMPLES = {
    "id": "n7", "api": "127.0.0.1:9500", "raft": "127.0.0.1:9501", "peer": ("127.0.0.1:9601", "127.0.0.1:9602"),
    "data_dir": "/srv/manifest", "cluster_secret": SECRET, "insecure": True, "advertise_api": "http://n7:9500",
    "fsync": True, "log_format": "json", "log_level": "debug", "clock_offset": -1.5,
    "election_timeout_min": 0.4, "election_timeout_max": 0.9, "append_entries_period": 0.08,
    "raft_protocol": "legacy", "recover": True, "replica": True, "join": True,
    "auth": True, "bootstrap_token": "a-bootstrap-token-of-28bytes", "public_metrics": True,
    "tls_cert": "/etc/manifest/node.pem", "tls_key": "/etc/manifest/node.key", "tls_client_ca": "/etc/manifest/ca.pem",
    "tls_client_auth": "optional", "tls_peer_ca": "/etc/manifest/peers.pem", "tls_cert_roles": ("ops=operator",),
    "audit": False, "audit_log": "/var/log/manifest/audit.log", "rate_limit": True,
    "strict_dependencies": True, "check_targets": "any", "dns": "127.0.0.1:8653", "dns_domain": "example",
    "xds": "127.0.0.1:18000",
    "region": "eu-west", "federate": ("us-east=http://127.0.0.1:9700", "ap=http://127.0.0.1:9800"),
    "federation_token": "a-federation-token-28-bytes", "federation_ca": "/etc/manifest/regions.pem",
    "failover": ("local",), "failover_service": ("api=local",),
}
# Settings that need others beside them to be valid.
_TLS = {"tls_cert": "/etc/manifest/node.pem", "tls_key": "/etc/manifest/node.key"}
COMPANIONS = {"tls_cert": {"tls_key": _TLS["tls_key"]}, "tls_key": {"tls_cert": _TLS["tls_cert"]},
              "tls_client_ca": _TLS, "tls_peer_ca": _TLS, "tls_cert_roles": {**_TLS, "tls_client_ca": "/ca.pem"}}


def sample(f):
    if f.name in SAMPLES:
        return SAMPLES[f.name]
    return f.default + 1 if f.type == "int" else f.default * 1.5


def base(f) -> dict:
    """What a node needs besides ``f`` to be valid: a secret or --insecure, unless ``f`` is one of them
    (a replica, voters to follow; TLS files, their companions)."""
    own = {} if f.name in ("cluster_secret", "cluster_secret_file", "insecure") else dict(INSECURE)
    if f.name == "replica":
        own["peer"] = ("127.0.0.1:9601",)
    return {**own, **COMPANIONS.get(f.name, {})}


def expected(f, tmp_path):
    if f.name in ("cluster_secret_file", "bootstrap_token_file", "federation_token_file"):
        path = tmp_path / "secret"
        path.write_text(SECRET + "\n")
        return str(path)
    return sample(f)


def as_env(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value).lower() if isinstance(value, bool) else str(value)


def as_toml(value) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)  # JSON scalars and arrays are TOML


@pytest.fixture
def served(monkeypatch):
    """Run the CLI without serving: the configurations it would have served."""
    seen = []
    monkeypatch.setattr(server, "run", seen.append)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield seen
    root.handlers[:], root.level = handlers, level  # logs.setup pointed them at CliRunner's stream


@pytest.mark.parametrize("f", FIELDS, ids=lambda f: f.name)
def test_every_setting_is_reachable_by_flag_env_and_toml(f, tmp_path, served):
    value = expected(f, tmp_path)
    extra = [arg for name, v in base(f).items() for arg in node_cli.flag_args(name, v)]
    result = CliRunner().invoke(manifest, ["node", *extra, *node_cli.flag_args(f.name, value)], env={})
    if not f.metadata["flag"]:  # env and TOML only: the command line is refused
        assert result.exit_code == 2 and "No such option" in result.output, result.output
        served.append(load({}, env={config_load.env_name(f.name): as_env(value)}, defaults=base(f)))
    else:
        assert result.exit_code == 0, result.output
    from_env = load({}, env={config_load.env_name(f.name): as_env(value)}, defaults=base(f))
    toml = tmp_path / "node.toml"
    toml.write_text(f"{f.name} = {as_toml(value)}\n")
    from_toml = load({}, env={}, config_file=str(toml), defaults=base(f))
    for cfg in (served[-1], from_env, from_toml):
        assert getattr(cfg, f.name) == value != f.default
    if f.name == "cluster_secret_file":
        assert served[-1].cluster_secret == from_env.cluster_secret == from_toml.cluster_secret == SECRET
    if f.name == "bootstrap_token_file":
        assert served[-1].bootstrap_token == from_env.bootstrap_token == from_toml.bootstrap_token == SECRET
    if f.name == "federation_token_file":
        assert served[-1].federation_token == from_env.federation_token == from_toml.federation_token == SECRET


def test_help_lists_every_setting_but_the_hidden_ones():
    help_text = CliRunner().invoke(manifest, ["node", "--help"]).output
    for f in FIELDS:
        flag = node_cli.flag_name(f.name)
        listed = re.search(rf"^  {flag}\b", help_text, re.M) is not None
        if not f.metadata["flag"]:
            own_line = re.search(rf"^  {flag}(?![\w-])", help_text, re.M)
            assert own_line is None and config_load.env_name(f.name) in help_text, flag  # in its _file help
            continue
        assert listed is not f.metadata["hidden"], flag
        assert f.metadata["hidden"] or config_load.env_name(f.name) in help_text
    assert [f.name for f in FIELDS if f.metadata["hidden"]] == ["clock_offset"]


def test_the_flags_the_contract_names_keep_their_spelling(served):
    argv = ["node", "--config", "/dev/null", "--id", "n2", "--api", "127.0.0.1:9500", "--raft", "127.0.0.1:9501",
            "--peer", "127.0.0.1:9601", "--peer", "127.0.0.1:9602", "--data-dir", "/srv/m", "--fsync", "--insecure"]
    assert CliRunner().invoke(manifest, argv, env={}).exit_code == 0
    cfg = served[-1]
    assert (cfg.id, cfg.api, cfg.raft, cfg.peer, cfg.data_dir, cfg.fsync, cfg.insecure) == (
        "n2", "127.0.0.1:9500", "127.0.0.1:9501", ("127.0.0.1:9601", "127.0.0.1:9602"), "/srv/m", True, True)
    assert CliRunner().invoke(manifest, ["node", "--cluster-secret", SECRET], env={}).exit_code == 0
    toml_says_fsync = {"MANIFEST_FSYNC": "1", "MANIFEST_INSECURE": "1"}
    assert CliRunner().invoke(manifest, ["node", "--no-fsync"], env=toml_says_fsync).exit_code == 0
    assert served[-1].fsync is False
    assert CliRunner().invoke(manifest, ["node", "--no-insecure"], env={}).exit_code == 2  # never had one


@pytest.mark.parametrize("argv,name", [(["--max-body", "６４"], "max_body"), (["--propose-timeout", "inf"],
                                       "propose_timeout"), (["--max-inflight", "0"], "max_inflight")], ids=ascii)
def test_a_bad_number_on_the_command_line_is_refused_like_one_in_the_environment(argv, name, served):
    result = CliRunner().invoke(manifest, ["node", "--insecure", *argv], env={})
    assert result.exit_code == 2 and name in result.output and "Traceback" not in result.output and not served


def test_manifest_dev_takes_its_addresses_from_the_environment_too(served):
    env = {"MANIFEST_API": "127.0.0.1:9600", "MANIFEST_DATA_DIR": "/srv/dev", "MANIFEST_PROPOSE_TIMEOUT": "3"}
    assert CliRunner().invoke(manifest, ["dev"], env=env).exit_code == 0
    cfg = served[-1]
    assert (cfg.id, cfg.api, cfg.raft, cfg.data_dir, cfg.propose_timeout) == (
        "dev", "127.0.0.1:9600", "127.0.0.1:9601", "/srv/dev", 3.0)
    assert CliRunner().invoke(manifest, ["dev", "--api", "127.0.0.1:9700"], env=env).exit_code == 0
    assert (served[-1].api, served[-1].raft) == ("127.0.0.1:9700", "127.0.0.1:9701")


def test_manifest_dev_hands_every_setting_given_to_its_nodes(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(node_cli, "_run_local_cluster", lambda *args: started.append(args))
    toml = tmp_path / "m.toml"
    toml.write_text("watch_history = 50\n")
    argv = ["dev", "--nodes", "3", "--config", str(toml), "--api", "127.0.0.1:9800", "--max-body", "2048",
            "--no-fsync", "--election-timeout-max", "0.9", "--cluster-secret", SECRET]
    result = CliRunner().invoke(manifest, argv, env={})
    assert result.exit_code == 0, result.output
    (nodes, cfg, passthrough), = started
    assert nodes == 3 and cfg.api == "127.0.0.1:9800" and cfg.cluster_secret == SECRET
    assert passthrough[:2] == ["--config", str(toml)] and "--no-fsync" in passthrough
    rest = [arg for arg in passthrough[2:] if arg != "--no-fsync"]
    assert dict(zip(rest[::2], rest[1::2])) == {"--max-body": "2048", "--election-timeout-max": "0.9"}


def documented_settings() -> dict[str, str]:
    """docs/operations.md's settings table: setting -> its default cell."""
    text = (ROOT / "docs" / "operations.md").read_text()
    table = text[text.index("| setting | default | meaning |"):].split("\n\n")[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    names = [row[0].strip("| `") for row in rows]
    assert len(names) == len(set(names)), "a setting has two rows"
    return {name: row[1] for name, row in zip(names, rows)}


def shown(default, kind: str = "") -> str:
    if default is None and kind == "bool | None":
        return "auto"
    if default in (None, ()):
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"{default:g}" if isinstance(default, float) else str(default)


def first_value(cell: str) -> str:
    """The value a default cell starts with: `quoted`, or its first word."""
    if cell.startswith("`"):
        return cell[1:cell.index("`", 1)]
    return cell.split()[0].rstrip(":,;")


def test_the_operations_table_documents_every_setting_with_its_real_default():
    documented = documented_settings()
    visible = [f for f in FIELDS if not f.metadata["hidden"]]
    assert set(documented) == {f.name for f in visible}, "rows for settings that do not exist, or missing ones"
    for f in visible:
        assert first_value(documented[f.name]) == shown(f.default, f.type), f.name


@pytest.mark.parametrize("argv,name", [(["--dns-domain", "bad..domain"], "dns_domain"),
                                       (["--dns-domain", "-x.consul"], "dns_domain"),
                                       (["--dns-domain", "a" * 64], "dns_domain"),
                                       (["--dns", "127.0.0.1"], "dns"), (["--dns", "127.0.0.1:70000"], "dns"),
                                       (["--dns-ttl", "-1"], "dns_ttl")], ids=ascii)
def test_a_bad_dns_setting_is_refused_with_its_name(argv, name, served):
    result = CliRunner().invoke(manifest, ["node", "--insecure", *argv], env={})
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and len(errors) == 1 and errors[0].startswith(f"Error: {name}") and not served, \
        result.output


def test_manifest_dev_answers_dns_by_default_and_off_turns_it_off(served):
    assert CliRunner().invoke(manifest, ["dev"], env={}).exit_code == 0
    assert served[-1].dns_address == ("127.0.0.1", 8600)
    assert CliRunner().invoke(manifest, ["dev", "--dns", "off"], env={}).exit_code == 0
    assert served[-1].dns_address is None
    assert CliRunner().invoke(manifest, ["node", "--insecure"], env={}).exit_code == 0
    assert served[-1].dns_address is None  # off by default outside dev


def test_join_takes_no_peers_and_no_replica():
    for extra in ({"peer": ("127.0.0.1:9601",)}, {"replica": True, "peer": ("127.0.0.1:9601",)}):
        with pytest.raises(config.ConfigError) as err:
            config.NodeConfig(insecure=True, join=True, **extra).validate()
        assert err.value.field == "join"
