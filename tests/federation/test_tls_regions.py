"""Regions over HTTPS with the federation token: certificates verified against the CA, auth on both sides."""

import secrets

import pytest

from tests.support.certs import CA
from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster


def test_a_region_is_read_over_verified_tls_and_a_foreign_ca_is_refused(tmp_path):
    ca, other = CA(tmp_path / "ca"), CA(tmp_path / "other-ca", "other-ca")
    token = secrets.token_urlsafe(32)

    def region(name: str, extra=()) -> Cluster:
        c = Cluster(tmp_path / name, size=1, auth=True, tls=ca,
                    extra=["--region", name, "--federation-probe-interval", "0.5", *extra])
        c.nodes[0].environ["MANIFEST_FEDERATION_TOKEN"] = token
        return c

    eu = region("eu")
    with eu:
        record = {"name": "api", "id": "api-eu", "address": "127.0.0.1", "port": 80, "ttl": 60}
        assert eu.nodes[0].call("POST", "/v1/services", record).status == 201
        target = eu.nodes[0].url
        assert target.startswith("https://")
        us = region("us", ["--federate", f"eu={target}"])  # trusts ca: --tls-peer-ca, the default
        strict = region("ap", ["--federate", f"eu={target}", "--federation-ca", other.cert])
        with us, strict:
            reply = us.nodes[0].get("/v1/services/api?region=eu")
            assert reply.status == 200 and [r["id"] for r in reply.body["instances"]] == ["api-eu"]
            assert reply.headers["x-manifest-region"] == "eu"
            refused = strict.nodes[0].get("/v1/services/api?region=eu")
            assert refused.status == 503 and refused.body["error"]["code"] == "region_unavailable"

            def eu_node():
                return strict.nodes[0].get("/v1/cluster").body["regions"][1]["nodes"][0]

            node = wait_until(lambda: eu_node()["error"] and eu_node(), 10, what="a probe of eu")
            assert node["healthy"] is False and "certificate" in node["error"].lower(), node
            # The token reads there, and it writes nowhere.
            fed = {"X-Manifest-Federation-Token": token}
            assert eu.nodes[0].call("GET", "/v1/services/api", token=False, headers=fed).status == 200
            write = eu.nodes[0].call("POST", "/v1/services", {**record, "id": "x"}, token=False, headers=fed)
            assert write.status == 403
            for node in (us.nodes[0], strict.nodes[0], eu.nodes[0]):
                assert token not in node.log_text()
