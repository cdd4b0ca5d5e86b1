"""Property tests of the REAL callback verification against arbitrary HTTP API (payload format 2.0)
events, and of the REAL queue consumer against arbitrary queue messages.

Whatever request reaches ``POST /receipts/{provider}`` (the API queues it; the consumer rebuilds
the request from the message and verifies it with :func:`callback.answer`), the verdict is a
dict with an int ``statusCode`` below 500 (the secret is configured, so nothing here is the
server's fault) and a JSON body with an ``error`` or ``result`` key; a well-formed, correctly
signed receipt for a message nobody sent is parked (202). Whatever message is on the queue, the
consumer never raises and leaves none of them for redelivery (each is refused or applied).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from journey_activity.handlers import callback
from journey_activity.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers
from tests.property import strategies
from tests.property.conftest import Stack
from tests.property.strategies import EXAMPLES, PROPERTY, any_char, any_text

# The callback flushes metrics on every call; most answers add none, and Powertools warns each time.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

MAX_BODY_BYTES = 64 * 1024

# How many inputs each property really ran (checked by the test at the end of the module).
RUNS: Counter[str] = Counter()

# -- strategies ---------------------------------------------------------------------------------

printable_text = st.text(st.characters(codec="utf-8"), max_size=40)
json_values = strategies.json_values(max_size=4, max_leaves=8)

statuses = st.sampled_from(["delivered", "DELIVERED", " Read ", "opened", "failed", "bounced", "queued", "sent",
                            "accepted", "weird", "\u0130", "x" * 64, "x" * 65, ""]) | any_text
message_ids = st.sampled_from(["m-1", "", " ", "x" * 256, "x" * 257, "\u00e9" * 256, "#pointer", "a#b"]) | any_text
# Receipts: every field well typed or not, present or not, plus extras.
receipts = st.fixed_dictionaries(
    {},
    optional={"message_id": message_ids | json_values, "status": statuses | json_values,
              "timestamp": any_text | json_values, "error_code": any_text | json_values,
              "detail": any_text | st.just("d" * 1001) | json_values, "extra": json_values},
)
well_formed_receipts = st.fixed_dictionaries(
    {"message_id": st.text(st.characters(codec="utf-8"), min_size=1, max_size=256).filter(str.strip),
     "status": st.text(st.characters(codec="utf-8"), min_size=1, max_size=64).filter(str.strip)},
    optional={"timestamp": printable_text, "error_code": st.text(st.characters(codec="utf-8"), max_size=256),
              "detail": st.text(st.characters(codec="utf-8"), max_size=1000)},
)


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Text holding a lone surrogate (the JSON escape "\ud800" in the event): no UTF-8 byte holds it.
with_surrogate = st.builds(lambda text, at, char: text[:at] + char + text[at:], any_text, st.integers(0, 40),
                           st.characters(categories=["Cs"]))
text_bodies = (
    st.just("")
    | any_text
    | with_surrogate
    | receipts.map(lambda r: json.dumps(r, ensure_ascii=False)).flatmap(
        lambda text: st.integers(0, len(text)).map(lambda at: text[:at] + "\udc80" + text[at:]))
    | receipts.map(json.dumps)
    | receipts.map(lambda r: json.dumps(r, ensure_ascii=False))
    | json_values.map(json.dumps)
    | st.builds(_repeat, st.text(any_char, min_size=1, max_size=4),
                st.sampled_from([MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1]) | st.integers(0, 300_000))
)


class Body:
    """A request body: what the event carries (``raw``, ``base64``) and what a provider signed (``signed``)."""

    def __init__(self, raw: str | None, base64_encoded: bool, signed: bytes | str) -> None:
        self.raw, self.base64_encoded, self.signed = raw, base64_encoded, signed

    def __repr__(self) -> str:
        shown = self.raw if self.raw is None or len(self.raw) < 300 else f"{self.raw[:300]}...({len(self.raw)})"
        return f"Body(raw={shown!r}, base64_encoded={self.base64_encoded})"


def _text_body(text: str) -> Body:
    return Body(text, False, text.encode("utf-8", "surrogatepass"))


def _base64_body(data: bytes) -> Body:
    return Body(base64.b64encode(data).decode(), True, data)


bodies = (
    text_bodies.map(_text_body)
    | st.just(Body(None, False, b""))
    | st.just(Body(None, True, b""))
    # Bytes, base64 encoded: UTF-8 text (receipts) or anything (not UTF-8).
    | text_bodies.map(lambda t: _base64_body(t.encode("utf-8", "surrogatepass")))
    | st.binary(max_size=200).map(_base64_body)
    # Base64 that is not: wrong padding, characters outside the alphabet, plain text.
    | st.builds(lambda t: Body(t, True, t.encode("utf-8", "surrogatepass")), any_text | st.sampled_from(
        ["a", "ab=", "abc", "====", "@@@@", "YQ", "YQ=", "Y Q = =", "\u00e9\u00e9\u00e9\u00e9", "YWJj\n", "-_-_"]))
)

header_names = (st.sampled_from([TIMESTAMP_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.upper(),
                                 "content-type", "Content-Length", "host"]) | any_text)
junk_signatures = st.sampled_from(["", "v1=", "v1=abc", "v2=" + "0" * 64, "v1=" + "0" * 64, ",,,", "v1=" * 100,
                                   "sha256=deadbeef"]) | any_text
junk_timestamps = (st.sampled_from(["", "0", "-1", "1e9", " 12 ", "nan", "9" * 400, "\u0661\u0662\u0663"])
                   | st.integers().map(str) | any_text)


def event_for(provider: str, body: Body, headers: dict[str, str] | None, *, method: str = "POST",
              omit_headers: bool = False) -> dict[str, Any]:
    path = f"/receipts/{provider}"
    built: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /receipts/{provider}",
        "rawPath": path,
        "rawQueryString": "",
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                     "userAgent": "property"},
            "requestId": "request",
            "routeKey": "POST /receipts/{provider}",
            "stage": "$default",
            "time": "23/Nov/2026:09:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": {"provider": provider},
        "isBase64Encoded": body.base64_encoded,
    }
    if body.raw is not None:
        built["body"] = body.raw
    if not omit_headers:
        built["headers"] = headers
    return built


# The route's parameter as Powertools matches it (a path segment of these characters, \w being unicode).
ROUTE_PARAMETER = re.compile(r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+")
providers = (st.sampled_from(["http", "sms-co", "", "a/b", "%2F", "..", "x" * 3000, "\u00e9", "e\u0301", "#",
                              "msg#http", " ", "a?b", "\ud800"])
             | any_text
             | st.builds(_repeat, st.text(any_char, min_size=1, max_size=3), st.integers(50, 3000)))


def routable(provider: str) -> str:
    """``provider`` with every character the route refuses replaced: a segment API Gateway can route."""
    return "".join(c if ROUTE_PARAMETER.fullmatch(c) else "_" for c in provider) or "p"


def unroutable(provider: str, method: str) -> bool:
    return method.upper() != "POST" or not ROUTE_PARAMETER.fullmatch(provider)


@st.composite
def requests(draw: st.DrawFn, *, routed: bool) -> tuple[dict[str, Any], Body, str]:
    """An event: arbitrary headers, some of them signature headers: junk, stale, or valid over the body.

    ``routed``: the method and path are what the HTTP API's ``POST /receipts/{provider}`` route lets
    through; otherwise they are not (another method, an empty provider, a slash, ...).
    """
    provider = draw(providers)
    if draw(st.integers(0, 3)) == 0:  # a receipt the ledger will see, once the signature is right
        receipt = json.dumps(draw(well_formed_receipts), ensure_ascii=draw(st.booleans()))
        body = _base64_body(receipt.encode()) if draw(st.booleans()) else _text_body(receipt)
    else:
        body = draw(bodies)
    method = draw(st.sampled_from(["POST", "GET", "post", "", "PUT"]) if not routed else st.sampled_from(["POST"]))
    if routed:
        provider = routable(provider)
    elif not unroutable(provider, method):
        provider = draw(st.sampled_from(["", "a/b", "/", "a?b", "\n", "\u2028", "#\x00"]))
    headers = draw(st.dictionaries(header_names, any_text, max_size=5))
    kind = draw(st.sampled_from(["none", "junk", "valid", "stale", "other secret", "duplicated", "valid, lowercase"]))
    secret = draw(st.just("property-test-secret")) if kind != "other secret" else draw(any_text.filter(bool))
    now = time.time()
    if kind == "junk":
        headers |= {TIMESTAMP_HEADER: draw(junk_timestamps), SIGNATURE_HEADER: draw(junk_signatures)}
    elif kind in ("valid", "other secret", "valid, lowercase"):
        signed = signed_headers(secret.encode("utf-8", "surrogatepass"), body.signed, now=now)
        if kind == "valid, lowercase":
            signed = {name.lower(): value for name, value in signed.items()}
        headers |= signed
    elif kind == "stale":
        stamp = int(now) + draw(st.sampled_from([-1, 1])) * draw(st.integers(301, 10**12))
        headers |= {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign("property-test-secret", stamp, body.signed)}
    elif kind == "duplicated":  # the same header twice, in two casings, one junk
        good = signed_headers("property-test-secret", body.signed, now=now)
        pairs = [(SIGNATURE_HEADER, good[SIGNATURE_HEADER]), (SIGNATURE_HEADER.lower(), draw(junk_signatures))]
        headers |= {TIMESTAMP_HEADER: good[TIMESTAMP_HEADER], **dict(draw(st.permutations(pairs)))}
    event(f"signature: {kind}")
    omit = draw(st.booleans()) if kind == "none" else False
    return event_for(provider, body, headers or None, method=method, omit_headers=omit), body, provider


# -- checks ------------------------------------------------------------------------------------


def answer(stack: Stack, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    shown = {k: (v if k != "body" or len(str(v)) < 500 else f"{str(v)[:500]}...") for k, v in request.items()}
    note(f"event: {shown!r}")
    response = callback.answer(request, stack.context)
    note(f"response: {response!r}")
    assert isinstance(response, dict), response
    status = response.get("statusCode")
    assert isinstance(status, int), response
    assert not isinstance(status, bool), response
    assert 200 <= status < 500, response
    body = response.get("body")
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    assert isinstance(body, str), response
    document = json.loads(body)
    assert isinstance(document, dict), response
    assert "error" in document or "result" in document, response
    event(f"status {status}: {document.get('error') or document.get('result')}")
    return status, document


# -- properties --------------------------------------------------------------------------------


@PROPERTY
@given(request=requests(routed=True))
def test_any_routed_request_gets_a_json_answer_below_500(
    stack: Stack, request: tuple[dict[str, Any], Body, str]
) -> None:
    RUNS["any routed request"] += 1
    answer(stack, request[0])


@PROPERTY
@given(request=requests(routed=False))
def test_an_unroutable_request_gets_a_json_404(stack: Stack, request: tuple[dict[str, Any], Body, str]) -> None:
    """Not through API Gateway's route, but through the local HTTP API or a test: still a JSON error."""
    RUNS["unroutable request"] += 1
    status, _ = answer(stack, request[0])
    assert status in (404, 405, 413), status


@PROPERTY
@given(receipt=well_formed_receipts, provider=st.sampled_from(["http", "sms-co"]) | printable_text.filter(
    lambda p: p and all(c.isalnum() or c in "-._~" for c in p)), base64_encoded=st.booleans(),
    lowercase=st.booleans(), ascii_only=st.booleans())
def test_a_signed_receipt_for_an_unknown_message_is_parked(
    stack: Stack, receipt: dict[str, Any], provider: str, base64_encoded: bool, lowercase: bool, ascii_only: bool
) -> None:
    RUNS["signed unknown receipt"] += 1
    message_id = f"unknown-{RUNS['signed unknown receipt']}-{receipt['message_id']}"[:256]
    raw = json.dumps({**receipt, "message_id": message_id}, ensure_ascii=ascii_only)
    body = _base64_body(raw.encode()) if base64_encoded else _text_body(raw)
    headers = signed_headers(stack.signing_secret, raw)
    if lowercase:
        headers = {name.lower(): value for name, value in headers.items()}
    status, document = answer(stack, event_for(provider, body, {"content-type": "application/json", **headers}))
    assert status == 202, document
    assert document.get("result") == "parked", document


# What SQS can carry: its message bodies and string attributes are Unicode without lone surrogates
# (SendMessage refuses them), so a queue message never holds one.
queue_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
attribute_values = st.none() | queue_text | st.sampled_from(["v=", "v=http", "http", "v=" + "x" * 300])
message_attributes = st.dictionaries(
    st.sampled_from(["provider", "signature", "timestamp", "twilio_signature", "ja_key", "domain", "other"]),
    st.builds(lambda value, kind: {"stringValue": value, "dataType": kind}, attribute_values,
              st.sampled_from(["String", "Number", "Binary"])), max_size=7)


@PROPERTY
@given(body=queue_text, attributes=message_attributes, signed=st.booleans())
def test_any_queue_message_is_refused_or_applied_never_left_for_redelivery(
    stack: Stack, body: str, attributes: dict[str, Any], signed: bool
) -> None:
    RUNS["any queue message"] += 1
    if signed:  # signed over the body: verification passes and the body is judged as a receipt
        headers = signed_headers(stack.signing_secret, body)
        attributes = {**attributes, "provider": {"stringValue": "v=http", "dataType": "String"},
                      "signature": {"stringValue": "v=" + headers[SIGNATURE_HEADER], "dataType": "String"},
                      "timestamp": {"stringValue": "v=" + headers[TIMESTAMP_HEADER], "dataType": "String"}}
    message = {"messageId": "m-1", "receiptHandle": "h", "body": body, "attributes": {},
               "messageAttributes": attributes, "eventSource": "aws:sqs"}
    note(f"message: {message!r}")
    answer = callback.handler({"Records": [message]}, stack.context)
    assert answer == {"batchItemFailures": []}, answer


# -- the properties really ran ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["any routed request", "unroutable request", "signed unknown receipt",
                                  "any queue message"])
def test_each_property_ran_at_least_1000_inputs(name: str) -> None:
    if not RUNS:
        pytest.skip("the properties were not run in this session")
    assert RUNS[name] >= EXAMPLES, dict(RUNS)
