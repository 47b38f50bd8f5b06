"""A server's 500 is a bug, not an outage: never retried, shown as such (issue 10, point 8)."""

import json

import pytest
from click.testing import CliRunner

from tests.client.mc_fakes import N1, N2, N3, FakeCluster

from manifest_client import InternalError, ManifestError, Registry
from manifest_client._errors import error_from_response
from manifest_client.cli import cli


def test_500_maps_to_internal_error_with_its_request_id():
    body = json.dumps({"error": {"code": "internal", "message": "internal error (request id r1)",
                                 "request_id": "r1"}}).encode()
    err = error_from_response(500, body, {}, "http://n1:8500")
    assert type(err) is InternalError and isinstance(err, ManifestError)
    assert err.status == 500 and err.code == "internal" and err.request_id == "r1"
    assert err.retriable is False


def make(cluster: FakeCluster) -> Registry:
    return Registry([N1, N2, N3], transport=cluster.transport, retry_wait=0.0, discover_members=False)


@pytest.mark.parametrize("write", [
    lambda reg: reg.register_instance({"name": "web", "id": "w1"}),  # idempotent: has an id
    lambda reg: reg.register_instance({"name": "web"}),
    lambda reg: reg.heartbeat("web", "w1"),
    lambda reg: reg.deregister("web", "w1"),
], ids=["register-with-id", "register-without-id", "heartbeat", "deregister"])
def test_writes_answered_500_are_not_retried(write):
    cluster = FakeCluster()
    cluster.broken.add(N1)
    with pytest.raises(InternalError):
        write(make(cluster))
    assert [c[0] for c in cluster.calls if c[1] != "GET"] == [N1]


def test_reads_answered_500_are_not_retried_either():
    cluster = FakeCluster()
    cluster.add("web", "w1")
    cluster.broken.add(N1)
    with pytest.raises(InternalError):
        make(cluster).discover("web")
    assert [c[0] for c in cluster.sent("GET", "/v1/services")] == [N1]


def test_the_cli_says_internal_server_error():
    cluster = FakeCluster()
    cluster.broken.update({N1, N2, N3})

    def factory(url, timeout):
        return Registry([N1, N2, N3], timeout=timeout, transport=cluster.transport, retry_wait=0.0, retries=0)

    result = CliRunner().invoke(cli, ["ls"], obj={"registry_factory": factory})
    assert result.exit_code == 4
    assert result.stderr.startswith("error: internal server error")
    assert "request id r1" in result.stderr and "Traceback" not in result.output
