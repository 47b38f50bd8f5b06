"""Parsing and checking the federation settings: every refusal names its field."""

import pytest

from manifest_node.config import ConfigError, NodeConfig
from manifest_node.config_load import load
from manifest_node.federation import settings as s

BASE = {"insecure": True}


def test_an_entry_without_equals_continues_the_region_before_it():
    one = s.federate(("eu=http://127.0.0.1:1,http://127.0.0.1:2", "us=http://127.0.0.1:3"), "local")
    split = s.federate(("eu=http://127.0.0.1:1", "http://127.0.0.1:2", "us=http://127.0.0.1:3/"), "local")
    assert one == split == {"eu": ("http://127.0.0.1:1", "http://127.0.0.1:2"), "us": ("http://127.0.0.1:3",)}


@pytest.mark.parametrize("settings,field", [
    ({"region": "EU"}, "region"), ({"region": "-eu"}, "region"), ({"region": "a" * 64}, "region"),
    ({"federate": ("http://127.0.0.1:1",)}, "federate"),
    ({"federate": ("eu=",)}, "federate"),
    ({"federate": ("local=http://127.0.0.1:1",)}, "federate"),
    ({"federate": ("eu=http://127.0.0.1:1", "eu=http://127.0.0.1:2")}, "federate"),
    ({"federate": ("eu=ftp://127.0.0.1:1",)}, "federate"),
    ({"federate": ("eu=http://10.1.2.3:8500",), "federation_token": "t" * 20}, "federate"),
    ({"federate": ("eu=https://10.1.2.3:8500",)}, "federation_token"),
    ({"federation_token": "short"}, "federation_token"),
    ({"failover": ("mars",)}, "failover"),
    ({"failover": ("nearest", "local")}, "failover"),
    ({"federate": ("eu=http://127.0.0.1:1",), "failover": ("eu", "eu")}, "failover"),
    ({"failover_service": ("api=mars",)}, "failover_service"),
    ({"failover_service": ("API=local",)}, "failover_service"),
    ({"failover_service": ("local",)}, "failover_service"),
    ({"federation_timeout": 3.0, "federation_deadline": 2.0}, "federation_deadline"),
], ids=repr)
def test_a_bad_federation_setting_is_refused_naming_it(settings, field):
    with pytest.raises(ConfigError) as err:
        NodeConfig(**BASE, **settings).validate()
    assert err.value.field == field


def test_the_token_never_appears_in_an_error_or_the_repr():
    token = "a-federation-token-that-is-long"
    cfg = NodeConfig(**BASE, federation_token=token, federate=("eu=https://10.1.2.3:8500",)).validate()
    assert token not in repr(cfg)
    with pytest.raises(ConfigError) as err:
        NodeConfig(**BASE, federation_token=token[:10]).validate()
    assert token[:10] not in str(err.value)


def test_https_to_a_remote_region_with_a_token_is_accepted_and_the_policy_parsed():
    cfg = NodeConfig(**BASE, region="us-east", federate=("eu=https://eu1.example:8500,https://eu2.example:8500",
                                                         "ap=https://ap1.example:8500"),
                     federation_token="t" * 16, failover=("eu", "ap"),
                     failover_service=("api=ap", "billing=nearest")).validate()
    assert cfg.federation_regions["eu"] == ("https://eu1.example:8500", "https://eu2.example:8500")
    assert cfg.failover_policy() == (("eu", "ap"), {"api": ("ap",), "billing": ("nearest",)})


def test_the_token_comes_from_the_environment_or_a_file_not_both(tmp_path):
    path = tmp_path / "token"
    path.write_text("x" * 24 + "\n")
    cfg = load({"federation_token_file": str(path)}, env={}, defaults=BASE)
    assert cfg.federation_token == "x" * 24
    cfg = load({}, env={"MANIFEST_FEDERATION_TOKEN": "y" * 24, "MANIFEST_FEDERATE": "eu=http://127.0.0.1:1,"
                        "http://127.0.0.1:2"}, defaults=BASE)
    assert cfg.federation_token == "y" * 24 and cfg.federation_regions["eu"] == ("http://127.0.0.1:1",
                                                                                 "http://127.0.0.1:2")
    # A higher layer's replaces a lower one's, however each is given; one layer may not give both.
    cfg = load({"federation_token_file": str(path)}, env={"MANIFEST_FEDERATION_TOKEN": "y" * 24}, defaults=BASE)
    assert cfg.federation_token == "x" * 24
    with pytest.raises(ConfigError) as err:
        load({}, env={"MANIFEST_FEDERATION_TOKEN": "y" * 24, "MANIFEST_FEDERATION_TOKEN_FILE": str(path)},
             defaults=BASE)
    assert err.value.field == "federation_token_file"


def test_a_toml_file_takes_the_regions_and_lists(tmp_path):
    toml = tmp_path / "node.toml"
    toml.write_text('region = "eu-west"\nfederate = ["us-east=http://127.0.0.1:1,http://127.0.0.1:2"]\n'
                    'failover = ["us-east"]\nfailover_service = ["api=us-east"]\n')
    cfg = load({}, env={}, config_file=str(toml), defaults=BASE)
    assert cfg.region == "eu-west" and cfg.federation_regions == {"us-east": ("http://127.0.0.1:1",
                                                                               "http://127.0.0.1:2")}
    assert cfg.failover_policy() == (("us-east",), {"api": ("us-east",)})
