"""The client's credentials (token, CA, client certificate, from arguments or the environment),
Retry-After on 429 rate_limited, token administration, and the ``manifest token`` commands."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from manifest_client import MockTransport, Registry, Response, TooManyRequests
from manifest_client import _sync_client
from manifest_client._credentials import Credentials
from manifest_client.cli import cli

U = "http://n1:8500"


def ok(body: dict, status: int = 200) -> Response:
    return Response(status, {"content-type": "application/json"}, json.dumps(body).encode())


def limited(after: str = "2") -> Response:
    body = {"error": {"code": "rate_limited", "message": "slow down", "limit": "rate_writes"}}
    return Response(429, {"content-type": "application/json", "retry-after": after}, json.dumps(body).encode())


RECORD = {"name": "web", "id": "w1", "status": "up", "revision": 1}


def test_the_token_comes_from_the_environment_and_goes_on_every_request_and_stream(monkeypatch):
    monkeypatch.setenv("MANIFEST_TOKEN", "tok-env")
    event = b'id: 1\nevent: registered\ndata: {"name": "web", "id": "w1", "status": "up", "revision": 1}\n\n'
    transport = MockTransport(lambda r: ok({"instances": [], "revision": 1}) if r.target.startswith("/v1/services")
                              else Response(200, {"content-type": "text/event-stream"}, event))
    reg = Registry(U, transport=transport, discover_members=False)
    reg.discover("web")
    stream = reg.watch(since=0)
    assert next(stream).revision == 1
    stream.close()
    assert {r.target.split("?")[0] for r in transport.requests} == {"/v1/services/web", "/v1/watch"}
    assert all(r.headers["Authorization"] == "Bearer tok-env" for r in transport.requests)
    assert Registry(U, token="tok-arg", transport=transport)._core.headers["Authorization"] == "Bearer tok-arg"
    assert "tok-env" not in repr(Credentials.resolve())


def test_a_ca_bundle_and_a_client_certificate_from_the_environment_make_the_tls_context(monkeypatch, tmp_path):
    from tests.support.certs import CA

    ca = CA(tmp_path)
    client = ca.issue("me")
    monkeypatch.setenv("MANIFEST_CACERT", ca.cert)
    monkeypatch.setenv("MANIFEST_CLIENT_CERT", client.cert)
    monkeypatch.setenv("MANIFEST_CLIENT_KEY", client.key)
    creds = Credentials.resolve()
    assert (creds.cacert, creds.client_cert, creds.client_key) == (ca.cert, client.cert, client.key)
    ctx = creds.ssl_context()
    assert ctx is not None and ctx.get_ca_certs()[0]["subject"][0][0][1] == "manifest-test-ca"
    reg = Registry("https://n1:8500")
    assert reg._transport._ssl_context is not None
    with pytest.raises(ValueError):
        Credentials.resolve(env={"MANIFEST_CLIENT_KEY": client.key})


@pytest.mark.parametrize("with_id", [True, False])
def test_429_rate_limited_waits_retry_after_and_tries_again_even_an_unsafe_write(monkeypatch, with_id):
    sleeps: list[float] = []
    monkeypatch.setattr(_sync_client.time, "sleep", sleeps.append)
    answers = [limited("2"), limited("1"), ok(RECORD, 201)]
    transport = MockTransport(lambda r: answers.pop(0))
    reg = Registry(U, transport=transport, discover_members=False, retries=0)
    got = reg.register_instance({"name": "web", **({"id": "w1"} if with_id else {})})
    assert got.id == "w1" and sleeps == [2.0, 1.0] and len(transport.requests) == 3


def test_a_caller_still_limited_after_three_waits_gets_the_429(monkeypatch):
    monkeypatch.setattr(_sync_client.time, "sleep", lambda s: None)
    transport = MockTransport(lambda r: limited("1"))
    with pytest.raises(TooManyRequests) as err:
        Registry(U, transport=transport, discover_members=False).heartbeat("web", "w1")
    assert err.value.code == "rate_limited" and err.value.retry_after == 1.0 and len(transport.requests) == 4


def test_token_administration_through_the_client():
    seen = []

    def answer(r):
        seen.append((r.method, r.target, json.loads(r.body) if r.body else None))
        if r.method == "POST" and r.target == "/v1/tokens":
            return ok({"id": "0123456789abcdef", "token": "mnf1.0123456789abcdef.s", "role": "service",
                       "services": ["orch*"], "expires_at": None}, 201)
        return ok({"tokens": []} if r.method == "GET" else {"id": "0123456789abcdef"})

    reg = Registry(U, transport=MockTransport(answer), discover_members=False)
    assert reg.tokens.create("service", services=["orch*"], ttl="90d")["token"].startswith("mnf1.")
    reg.tokens.list()
    reg.tokens.rotate("0123456789abcdef")
    reg.tokens.revoke("0123456789abcdef")
    assert seen == [("POST", "/v1/tokens", {"role": "service", "services": ["orch*"], "ttl": "90d"}),
                    ("GET", "/v1/tokens", None), ("POST", "/v1/tokens/0123456789abcdef/rotate", None),
                    ("DELETE", "/v1/tokens/0123456789abcdef", None)]


def test_manifest_token_create_list_revoke_commands():
    sent = []

    def answer(r):
        sent.append((r.method, r.target, json.loads(r.body) if r.body else None))
        if r.method == "POST":
            return ok({"id": "00000000000000aa", "token": "mnf1.00000000000000aa.secret", "role": "service",
                       "services": ["orchestrator*"], "expires_at": "2027-03-01T00:00:00.000Z"}, 201)
        if r.method == "GET":
            return ok({"tokens": [{"id": "00000000000000aa", "role": "service", "services": ["orchestrator*"],
                                   "expires_at": None, "expired": False, "description": ""}]})
        return ok({"id": "00000000000000aa"})

    def factory(url, timeout):
        return Registry(U, transport=MockTransport(answer), discover_members=False)

    def run(*args):
        return CliRunner().invoke(cli, list(args), obj={"registry_factory": factory})

    created = run("token", "create", "--role", "service", "--services", "orchestrator*", "--ttl", "90d")
    assert created.exit_code == 0 and "mnf1.00000000000000aa.secret" in created.output
    listed = run("token", "list")
    assert listed.exit_code == 0 and "orchestrator*" in listed.output and "secret" not in listed.output
    assert run("token", "revoke", "00000000000000aa").exit_code == 0
    assert sent[0] == ("POST", "/v1/tokens", {"role": "service", "services": ["orchestrator*"], "ttl": "90d"})
    assert sent[-1][:2] == ("DELETE", "/v1/tokens/00000000000000aa")
