"""Mapping of HTTP answers to the error hierarchy."""

from __future__ import annotations

import json

import pytest

from manifest_client import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    ManifestError,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from manifest_client._errors import error_from_response


def body(code: str, message: str, **extra: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, **extra}}).encode()


@pytest.mark.parametrize(
    ("status", "cls", "retriable"),
    [
        (400, InvalidRequest, False),
        (401, Unauthorized, False),
        (403, Forbidden, False),
        (404, NotFound, False),
        (409, Conflict, False),
        (413, PayloadTooLarge, False),
        (415, UnsupportedMediaType, False),
        (503, Unavailable, True),
        (502, Unavailable, True),
    ],
)
def test_status_maps_to_class(status, cls, retriable):
    err = error_from_response(status, body("some_code", "went wrong"), {}, "http://n1:8500")
    assert type(err) is cls
    assert isinstance(err, ManifestError)
    assert err.status == status and err.code == "some_code" and err.retriable is retriable
    assert err.message == "went wrong" and err.endpoint == "http://n1:8500"
    assert "went wrong" in str(err) and "http://n1:8500" in str(err)


def test_invalid_request_names_the_field():
    err = error_from_response(400, body("invalid", "bad name", field="name"), {})
    assert isinstance(err, InvalidRequest) and err.field == "name"
    assert "field: name" in str(err)


def test_unavailable_reads_retry_after():
    err = error_from_response(503, body("no_leader", "no leader"), {"retry-after": "2"})
    assert isinstance(err, Unavailable) and err.retry_after == 2.0
    assert error_from_response(503, b"", {"retry-after": "Wed, 21 Oct 2015"}).retry_after is None


def test_unknown_status_and_non_json_body():
    err = error_from_response(501, b"<html>boom</html>", {})
    assert type(err) is ManifestError and err.status == 501 and not err.retriable
    assert "boom" in err.message
    assert error_from_response(418, b"", {}).message == "HTTP 418"


def test_defaults_when_body_has_no_code():
    err = error_from_response(404, b"{}", {})
    assert err.code == "not_found" and err.message == "HTTP 404"


def test_connection_errors_are_retriable_and_say_whether_sent():
    refused = ConnectionFailed("refused", sent=False)
    timeout = RequestTimeout("slow", sent=True)
    assert refused.retriable and timeout.retriable
    assert isinstance(timeout, ConnectionFailed)
    assert refused.sent is False and timeout.sent is True
    assert refused.status is None and timeout.code == "timeout"
