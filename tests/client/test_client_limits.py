"""A 429 from a cap: TooManyRequests naming the limit, not retried (issue 10, point 10)."""

import json

import pytest

from manifest_client import Registry, TooManyRequests
from manifest_client._errors import error_from_response
from manifest_client import MockTransport, Response


def body(code: str, limit: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": f"at the maximum ({limit})", "limit": limit}}).encode()


def test_429_maps_to_too_many_requests():
    err = error_from_response(429, body("too_many_instances", "max_instances"), {"retry-after": "30"})
    assert type(err) is TooManyRequests and err.code == "too_many_instances"
    assert err.limit == "max_instances" and err.retry_after == 30.0 and err.retriable is False


def test_a_capped_registration_is_not_sent_again():
    sent = []

    def handler(request):
        sent.append(request.endpoint)
        return Response(429, {"retry-after": "30", "content-type": "application/json"},
                        body("too_many_instances", "max_instances_per_service"))

    reg = Registry(["http://n1:1", "http://n2:1"], transport=MockTransport(handler), retry_wait=0.0,
                   discover_members=False)
    with pytest.raises(TooManyRequests) as info:
        reg.register_instance({"name": "web", "id": "w1"})
    assert info.value.limit == "max_instances_per_service" and sent == ["http://n1:1"]
