"""Numbers in node settings are ASCII (issue 10, point 5): a clear error naming the setting.

``'²'.isdigit()`` is true and ``int('²')`` raises, so ``--api 127.0.0.1:²``
ended in a traceback; ``int('８５００')`` is 8500, so fullwidth digits were
taken for a port.
"""

import pytest
from click.testing import CliRunner

from manifest_node.entry import cli as manifest
from manifest_node.config import ConfigError
from manifest_node.config_load import load

# Loopback nodes run insecure only on purpose since issue 10; these tests are about addresses and numbers.
ENV = {"MANIFEST_INSECURE": "1"}


@pytest.mark.parametrize("value", ["127.0.0.1:²", "127.0.0.1:８５００", "127.0.0.1:٨٥٠٠", "127.0.0.1:8_500",
                                   "127.0.0.1: 8500", "127.0.0.1:+8500", "127.0.0.1:8500\n"], ids=ascii)
@pytest.mark.parametrize("field", ["api", "raft"])
def test_host_port_settings(field, value):
    with pytest.raises(ConfigError) as err:
        load({field: value}, env=ENV)
    assert err.value.field == field


def test_peer_addresses():
    with pytest.raises(ConfigError) as err:
        load({"peer": ("127.0.0.1:٩٠٠١",)}, env=ENV)
    assert err.value.field == "peer"


@pytest.mark.parametrize("name,value", [
    ("MANIFEST_MAX_BODY", "٣"), ("MANIFEST_MAX_BODY", "６４"), ("MANIFEST_MAX_BODY", "1_000"),
    ("MANIFEST_MAX_BODY", "²"), ("MANIFEST_TICK_INTERVAL", "١.٥"), ("MANIFEST_TICK_INTERVAL", "inf"),
    ("MANIFEST_TICK_INTERVAL", "nan"), ("MANIFEST_DOWN_GRACE", "1_0"),
], ids=ascii)
def test_numbers_from_the_environment(name, value):
    with pytest.raises(ConfigError) as err:
        load({}, env={**ENV, name: value})
    assert err.value.field == name.removeprefix("MANIFEST_").lower()


def test_numbers_from_a_toml_file_are_not_booleans(tmp_path):
    toml = tmp_path / "m.toml"
    toml.write_text("max_body = true\n")
    with pytest.raises(ConfigError) as err:
        load({}, env={}, config_file=str(toml))
    assert err.value.field == "max_body"


def test_node_ids_are_ascii():
    with pytest.raises(ConfigError) as err:
        load({"id": "nodé"}, env=ENV)
    assert err.value.field == "id"


def test_plain_numbers_still_load():
    cfg = load({"api": "127.0.0.1:8600"}, env={**ENV, "MANIFEST_MAX_BODY": "2048", "MANIFEST_TICK_INTERVAL": "0.5",
                                              "MANIFEST_CLOCK_OFFSET": "-1.5"})
    assert (cfg.max_body, cfg.tick_interval, cfg.clock_offset) == (2048, 0.5, -1.5)


def test_a_non_ascii_port_on_the_command_line_is_a_usage_error():
    result = CliRunner().invoke(manifest, ["node", "--api", "127.0.0.1:²"], env=ENV)
    assert result.exit_code == 2 and "api" in result.output and "Traceback" not in result.output


def test_compaction_needs_two_entries():
    """pysyncobj asserts at least 2: a node given 1 stopped with an AssertionError's traceback."""
    with pytest.raises(ConfigError) as err:
        load({"compaction_entries": 1}, env=ENV)
    assert err.value.field == "compaction_entries" and ">= 2" in str(err.value)
    assert load({"compaction_entries": 2}, env=ENV).compaction_entries == 2
