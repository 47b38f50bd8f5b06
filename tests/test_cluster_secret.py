"""Issue 10.3: when a node may run without a cluster secret, and how the secret is given."""

import logging

import pytest
from click.testing import CliRunner

from manifest_node.entry import cli as manifest
from manifest_node import server
from manifest_node.config import ConfigError, NodeConfig
from manifest_node.config_load import load

SECRET = "a-secret-of-24-bytes-yes"


def refused(flags: dict, env: dict | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load(flags, env=env or {})
    return err.value


@pytest.mark.parametrize("flags", [
    {"api": "0.0.0.0:8500"},  # the audit's case: loopback Raft, public API, no secret
    {"api": "10.0.0.1:8500"},
    {"raft": "10.0.0.1:8501"},
    {"peer": ("10.0.0.2:8501",)},
    {"api": "myhost:8500"},  # a name is not known to be loopback
])
def test_a_node_off_loopback_needs_a_secret_even_with_insecure(flags):
    for extra in ({}, {"insecure": True}):
        err = refused({**flags, **extra})
        assert err.field == "cluster_secret" and "loopback" in str(err)
    assert load({**flags, "cluster_secret": SECRET}, env={}).cluster_secret == SECRET


def test_a_loopback_node_needs_a_secret_or_an_explicit_insecure():
    err = refused({})
    assert err.field == "cluster_secret" and "--insecure" in str(err)
    cfg = load({"insecure": True, "api": "[::1]:8500", "raft": "localhost:8501"}, env={})
    assert cfg.insecure and cfg.cluster_secret is None
    assert load({}, env={"MANIFEST_INSECURE": "1"}).insecure


@pytest.mark.parametrize("secret", ["", "x", "fifteen-bytes!!", "é" * 7])  # 'é' is 2 bytes: 14
def test_short_secrets_are_refused_without_echoing_them(secret):
    with pytest.raises(ConfigError) as err:
        NodeConfig(cluster_secret=secret).validate()
    assert err.value.field == "cluster_secret" and "16 bytes" in str(err.value)
    assert secret == "" or secret not in str(err.value)
    NodeConfig(cluster_secret="sixteen-bytes!!!").validate()


def test_insecure_and_a_secret_contradict():
    assert refused({"insecure": True, "cluster_secret": SECRET}).field == "insecure"


def test_the_secret_can_come_from_a_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")  # as `echo` or an editor leaves it
    cfg = load({"cluster_secret_file": str(path)}, env={})
    assert cfg.cluster_secret == SECRET and cfg.cluster_secret_file == str(path)
    assert SECRET not in repr(cfg)
    assert load({}, env={"MANIFEST_CLUSTER_SECRET_FILE": str(path)}).cluster_secret == SECRET


@pytest.mark.parametrize("content,words", [(None, "cannot read"), ("\n", "empty"), ("short\n", "16 bytes")])
def test_a_bad_secret_file_names_the_setting(tmp_path, content, words):
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    err = refused({"cluster_secret_file": str(path)})
    assert err.field in ("cluster_secret_file", "cluster_secret") and words in str(err)


def test_a_higher_layer_secret_replaces_a_lower_one_however_given(tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-the-file-from-the-file\n")
    env = {"MANIFEST_CLUSTER_SECRET": SECRET}
    assert load({"cluster_secret_file": str(path)}, env=env).cluster_secret == "from-the-file-from-the-file"
    assert load({}, env=env, config_file=None, defaults={"cluster_secret": "x" * 32}).cluster_secret == SECRET
    both = {"MANIFEST_CLUSTER_SECRET": SECRET, "MANIFEST_CLUSTER_SECRET_FILE": str(path)}
    assert refused({}, env=both).field == "cluster_secret_file"


@pytest.fixture
def served(monkeypatch):
    """Run the CLI without serving: the configurations it would have served."""
    seen = []
    monkeypatch.setattr(server, "run", seen.append)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield seen
    root.handlers[:], root.level = handlers, level  # logs.setup pointed them at CliRunner's stream


def test_manifest_node_without_a_secret_exits_2_with_one_line(served):
    result = CliRunner().invoke(manifest, ["node"], env={})
    assert result.exit_code == 2 and "cluster_secret" in result.output and not served
    result = CliRunner().invoke(manifest, ["node", "--api", "0.0.0.0:8500", "--insecure"], env={})
    assert result.exit_code == 2 and "not a loopback address" in result.output and not served


def test_manifest_dev_makes_a_fresh_secret_unless_given_one(served):
    for _ in range(2):
        assert CliRunner().invoke(manifest, ["dev"], env={}).exit_code == 0
    first, second = (cfg.cluster_secret for cfg in served)
    assert first != second and len(first) >= 32
    CliRunner().invoke(manifest, ["dev"], env={"MANIFEST_CLUSTER_SECRET": SECRET})
    assert served[-1].cluster_secret == SECRET
    result = CliRunner().invoke(manifest, ["dev", "--insecure"], env={})
    assert result.exit_code == 2 and "insecure" in result.output


def test_a_secret_on_the_command_line_is_warned_about(served):
    result = CliRunner().invoke(manifest, ["node", "--cluster-secret", SECRET], env={})
    assert result.exit_code == 0 and served[-1].cluster_secret == SECRET
    assert "visible to every local user" in result.output and SECRET not in result.output
