"""Addresses in node settings hold no spaces, line breaks or look-alikes (issue 10, point 6's class).

The API URL a node advertises becomes the X-Manifest-Leader header of every
read in the cluster, so a line break there would break them all.
"""

import pytest

from manifest_node.config import ConfigError
from manifest_node.config_load import load

# Loopback nodes run insecure only on purpose since issue 10; these tests are about addresses and numbers.
ENV = {"MANIFEST_INSECURE": "1"}


@pytest.mark.parametrize("value", ["127.0.0.1\n:8500", "exa mple:8500", "host\x00:8500", "h\u0430st:8500",
                                   ":8500", "\n:8500"], ids=ascii)
@pytest.mark.parametrize("field", ["api", "raft"])
def test_hosts(field, value):
    with pytest.raises(ConfigError) as err:
        load({field: value}, env=ENV)
    assert err.value.field == field


@pytest.mark.parametrize("value", ["http://n1:8500\r\nX-Evil: 1", "http://n1:8500\n", "ftp://n1:8500",
                                   "n1:8500", "http://n 1:8500", "http://"], ids=ascii)
def test_advertised_api_urls(value):
    with pytest.raises(ConfigError) as err:
        load({"advertise_api": value}, env=ENV)
    assert err.value.field == "advertise_api"


@pytest.mark.parametrize("api,raft", [("127.0.0.1:8500", "127.0.0.1:8501"), ("localhost:8500", "[::1]:8501"),
                                      ("0.0.0.0:8500", "127.0.0.1:8501")])
def test_plain_addresses_still_load(api, raft):
    secret = {"MANIFEST_CLUSTER_SECRET": "s" * 32}  # 0.0.0.0 is off loopback: a secret is required
    assert load({"api": api, "raft": raft}, env=secret).api == api
    assert load({"advertise_api": "https://registry.example.com:8500/"}, env=ENV).api_url == \
        "https://registry.example.com:8500"
