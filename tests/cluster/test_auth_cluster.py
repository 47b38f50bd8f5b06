"""Auth and mTLS on a real 3-node cluster: tokens replicate, revocation reaches every node within a
second, and node-to-node traffic (forwarded writes, read-index, divergence polls) runs over mTLS."""

import time

import pytest

from tests.support.certs import CA
from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth-cluster")
    ca = CA(tmp / "pki")
    c = Cluster(tmp, tls=ca, mtls=True, auth=True,
                extra=["--divergence-check-interval", "0.3", "--log-level", "debug"])
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_a_revoked_token_is_refused_by_every_node_within_a_second(cluster):
    leader = cluster.leader()
    follower = cluster.followers()[0]
    made = follower.call("POST", "/v1/tokens", {"role": "read", "description": "revocation"})  # forwarded
    assert made.status == 201, made.body
    token = made.body["token"]
    wait_until(lambda: all(n.get("/v1/services", token=token).status == 200 for n in cluster.nodes), 5,
               what="the new token accepted everywhere")  # and cached by each node's verifier
    assert leader.call("DELETE", f"/v1/tokens/{made.body['id']}").status == 200
    revoked_at = time.monotonic()
    seen: dict[str, float] = {}
    while len(seen) < len(cluster.nodes) and time.monotonic() - revoked_at < 5:
        for n in cluster.nodes:
            if n.id not in seen and n.get("/v1/services", token=token).status == 401:
                seen[n.id] = time.monotonic() - revoked_at
        time.sleep(0.01)
    print(f"\nrevocation seen after {seen} s")
    assert set(seen) == {n.id for n in cluster.nodes} and max(seen.values()) < 1.0, seen


def test_a_service_token_writes_through_a_follower_over_mtls_and_reads_are_linearizable(cluster):
    follower = cluster.followers()[0]
    made = cluster.leader().call("POST", "/v1/tokens", {"role": "service", "services": ["pay*"]})
    token = made.body["token"]
    r = follower.call("POST", "/v1/services", {"name": "payments", "id": "p1"}, token=token)
    assert r.status == 201, r.body
    for n in cluster.nodes:
        got = n.get("/v1/services/payments/p1?consistency=linearizable")
        assert got.status == 200 and got.body["id"] == "p1"
    other = cluster.leader().call("POST", "/v1/tokens", {"role": "service", "services": ["pay*"]}).body["token"]
    r = cluster.nodes[2].call("DELETE", "/v1/services/payments/p1", token=other)
    assert r.status == 403 and r.body["error"]["code"] == "not_owner"


def test_the_divergence_monitor_polls_its_peers_over_mtls(cluster):
    time.sleep(1.0)  # a few polls at 0.3 s
    for n in cluster.nodes:
        log = n.log_text()
        assert "divergence check failed" not in log, log[-2000:]
        assert n.health().body["alarms"] == []


def test_no_token_secret_reaches_a_log_an_answer_the_audit_log_or_a_data_file(cluster):
    made = cluster.leader().call("POST", "/v1/tokens", {"role": "read"}).body
    secret = made["token"].split(".")[2]
    cluster.nodes[1].get("/v1/services", token=made["token"])
    time.sleep(1.2)  # the audit buffer is flushed every second
    for n in cluster.nodes:
        texts = [n.log_text(), n.get("/metrics").raw.decode(), repr(n.get("/v1/tokens").body),
                 repr(n.get("/v1/cluster").body), repr(n.health().body)]
        for path in __import__("pathlib").Path(n.data_dir).rglob("*"):
            if path.is_file():
                texts.append(path.read_bytes().decode("latin-1"))
        assert "--bootstrap-token" not in " ".join(n.args())
        for text in texts:
            assert cluster.token not in text and secret not in text
    assert any("audit.log" in str(p) for p in __import__("pathlib").Path(cluster.nodes[0].data_dir).rglob("*"))


def test_a_service_tokens_batch_through_a_follower_is_owned_item_by_item_and_refused_whole(cluster):
    follower = cluster.followers()[0]
    owner = cluster.leader().call("POST", "/v1/tokens", {"role": "service", "services": ["ship*"]}).body["token"]
    other = cluster.leader().call("POST", "/v1/tokens", {"role": "service", "services": ["ship*"]}).body["token"]
    batch = {"instances": [{"name": "shipping", "id": "s1"}, {"name": "shipping-eu", "id": "e1"}]}
    r = follower.call("POST", "/v1/services/batch", batch, token=owner)  # forwarded to the leader
    assert r.status == 201, r.body
    for n in cluster.nodes:
        for name, iid in (("shipping", "s1"), ("shipping-eu", "e1")):
            assert n.get(f"/v1/services/{name}/{iid}?consistency=linearizable").status == 200
            r = n.call("DELETE", f"/v1/services/{name}/{iid}", token=other)
            assert r.status == 403 and r.body["error"]["code"] == "not_owner"
    touching = {"instances": [{"name": "shipping", "id": "s2"}, {"name": "shipping", "id": "s1", "port": 9}]}
    r = follower.call("POST", "/v1/services/batch", touching, token=other)
    assert r.status == 403 and (r.body["error"]["code"], r.body["error"]["field"]) == ("not_owner",
                                                                                       "instances[1].id")
    outside = {"instances": [{"name": "shipping", "id": "s3"}, {"name": "billing", "id": "b1"}]}
    r = follower.call("POST", "/v1/services/batch", outside, token=owner)
    assert r.status == 403 and r.body["error"]["field"] == "instances[1].name"
    elsewhere = {"instances": [{"name": "shipping", "id": "s4", "address": "10.0.0.5",
                                "check": {"tcp": "10.0.0.6:22"}}]}
    r = follower.call("POST", "/v1/services/batch", elsewhere, token=owner)
    assert r.status == 403 and r.body["error"]["field"] == "instances[0].check.tcp"
    for n in cluster.nodes:  # nothing of the refused batches anywhere
        got = n.get("/v1/services/shipping?consistency=linearizable").body["instances"]
        assert sorted(i["id"] for i in got) == ["s1"] and got[0]["port"] is None
