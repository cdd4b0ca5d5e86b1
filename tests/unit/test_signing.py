"""HMAC-SHA256 receipt signatures with a timestamp and a replay window."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_activity.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
    sign,
    signed_headers,
    verify,
)

NOW = 1_700_000_000
SECRET = "s3cret"
BODY = '{"message_id": "m-1", "status": "delivered"}'


def rejected(secrets, timestamp, signature, body=BODY, **kwargs) -> SignatureRejected:
    with pytest.raises(SignatureRejected) as caught:
        verify(secrets, timestamp, signature, body, **kwargs)
    return caught.value


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.{BODY}".encode(), hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"
    assert sign(SECRET.encode(), str(NOW), BODY.encode()) == f"v1={expected}"


def test_round_trip():
    headers = signed_headers(SECRET, BODY, now=NOW)
    assert headers[TIMESTAMP_HEADER] == str(NOW)
    verify([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY, now=NOW)
    verify([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY.encode(), now=NOW + 10)


def test_round_trip_with_the_real_clock():
    headers = signed_headers(SECRET, BODY)
    verify([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY)


@given(st.text(min_size=1), st.binary(), st.integers(min_value=0, max_value=2**40))
def test_round_trip_property(secret, body, timestamp):
    headers = signed_headers(secret, body, now=timestamp)
    verify([secret], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body, now=timestamp)


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [(None, "v1=abc"), (str(NOW), None), (None, None), ("", "v1=abc"), (str(NOW), "")],
)
def test_missing_headers(timestamp, signature):
    error = rejected([SECRET], timestamp, signature, now=NOW)
    assert error.code == "missing_signature"
    assert str(error).startswith("missing_signature: ")


def test_wrong_secret():
    headers = signed_headers("another secret", BODY, now=NOW)
    error = rejected([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=NOW)
    assert error.code == "invalid_signature"


def test_tampered_body():
    headers = signed_headers(SECRET, BODY, now=NOW)
    tampered = BODY.replace("delivered", "failed")
    error = rejected([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], tampered, now=NOW)
    assert error.code == "invalid_signature"


def test_timestamp_is_part_of_the_signature():
    signature = sign(SECRET, NOW, BODY)
    error = rejected([SECRET], str(NOW + 1), signature, now=NOW)
    assert error.code == "invalid_signature"


def test_no_secrets_verify_nothing():
    headers = signed_headers(SECRET, BODY, now=NOW)
    assert rejected([], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=NOW).code == "invalid_signature"


@pytest.mark.parametrize("offset", [301, -301, 10_000, -10_000])
def test_stale_timestamp(offset):
    signed_at = NOW - offset
    headers = signed_headers(SECRET, BODY, now=signed_at)
    error = rejected([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=NOW)
    assert error.code == "stale_timestamp"


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_inside_the_window(offset):
    headers = signed_headers(SECRET, BODY, now=NOW - offset)
    verify([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY, now=NOW)


def test_tolerance_is_configurable():
    headers = signed_headers(SECRET, BODY, now=NOW - 61)
    error = rejected([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=NOW, tolerance_seconds=60)
    assert error.code == "stale_timestamp"
    verify([SECRET], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY, now=NOW, tolerance_seconds=61)


@pytest.mark.parametrize("timestamp", ["yesterday", "1700000000.5", "1.7e9", "0x10", "12 34"])
def test_malformed_timestamp(timestamp):
    error = rejected([SECRET], timestamp, sign(SECRET, NOW, BODY), now=NOW)
    assert error.code == "malformed_signature"


@pytest.mark.parametrize(
    "signature",
    [
        sign(SECRET, NOW, BODY).removeprefix("v1="),
        "v2=" + sign(SECRET, NOW, BODY).removeprefix("v1="),
        "sha256=abcdef",
        ",,,",
    ],
)
def test_header_without_v1(signature):
    error = rejected([SECRET], str(NOW), signature, now=NOW)
    assert error.code == "malformed_signature"


def test_rotation_two_secrets_either_verifies():
    secrets = ["new-secret", "old-secret"]
    for secret in secrets:
        headers = signed_headers(secret, BODY, now=NOW)
        verify(secrets, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY, now=NOW)
    headers = signed_headers("retired-secret", BODY, now=NOW)
    error = rejected(secrets, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=NOW)
    assert error.code == "invalid_signature"


def test_rotation_several_v1_values_in_the_header():
    old, new = sign("old-secret", NOW, BODY), sign("new-secret", NOW, BODY)
    header = f"{old}, {new}"
    verify(["new-secret"], str(NOW), header, BODY, now=NOW)
    verify(["old-secret"], str(NOW), header, BODY, now=NOW)
    verify(["new-secret"], str(NOW), f"v0=legacy,{new}", BODY, now=NOW)
    error = rejected(["third-secret"], str(NOW), header, now=NOW)
    assert error.code == "invalid_signature"
