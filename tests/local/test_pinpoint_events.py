"""The local Pinpoint ``PutEvents`` endpoint, driven by a real boto3 ``pinpoint`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import urllib3
from botocore.config import Config

from journey_activity_local.engine.pinpoint_events import LocalPinpointEvents

APP = "app-1"
TIMESTAMP = "2026-11-23T09:00:00Z"


@pytest.fixture
def server() -> Iterator[LocalPinpointEvents]:
    with LocalPinpointEvents() as events:
        yield events


def client(server: LocalPinpointEvents, **config: Any) -> Any:
    return boto3.client(
        "pinpoint", region_name="us-east-1", endpoint_url=server.url,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, **config),
    )


def event(event_type: str = "journey_activity.delivered", **extra: Any) -> dict[str, Any]:
    return {"EventType": event_type, "Timestamp": TIMESTAMP, **extra}


def batch(events_by_endpoint: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"BatchItem": {endpoint_id: {"Endpoint": {}, "Events": events}
                          for endpoint_id, events in events_by_endpoint.items()}}


def put(server: LocalPinpointEvents, request: dict[str, Any], application_id: str = APP, **config: Any) -> Any:
    return client(server, **config).put_events(ApplicationId=application_id, EventsRequest=request)


def test_put_events_accepts_and_keeps_the_events(server):
    request = batch({
        "ep-1": {"e-1": event("journey_activity.sent", Attributes={"status": "SENT"}, Metrics={"attempts": 1.0}),
                 "e-2": event()},
        "ep-2": {"e-3": event("journey_activity.skipped")},
    })
    response = put(server, request)

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    results = response["EventsResponse"]["Results"]
    assert set(results) == {"ep-1", "ep-2"}
    assert results["ep-1"]["EndpointItemResponse"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["ep-1"]["EventsItemResponse"] == {"e-1": {"StatusCode": 202, "Message": "Accepted"},
                                                    "e-2": {"StatusCode": 202, "Message": "Accepted"}}
    assert server.requests == 1
    assert server.rejected == []
    kept = {(e["application_id"], e["endpoint_id"], e["event_id"]): e["event"] for e in server.events}
    assert set(kept) == {(APP, "ep-1", "e-1"), (APP, "ep-1", "e-2"), (APP, "ep-2", "e-3")}
    assert kept[(APP, "ep-1", "e-1")]["Attributes"] == {"status": "SENT"}
    assert kept[(APP, "ep-1", "e-1")]["Metrics"] == {"attempts": 1.0}


def test_one_bad_event_is_a_partial_failure(server):
    request = batch({"ep-1": {"good": event(), "long-value": event(Attributes={"reason": "x" * 201}),
                              "also-good": event(Attributes={"reason": "x" * 200})}})
    results = put(server, request)["EventsResponse"]["Results"]["ep-1"]["EventsItemResponse"]
    assert results["good"]["StatusCode"] == 202
    assert results["also-good"]["StatusCode"] == 202
    assert results["long-value"]["StatusCode"] == 400
    assert "200 characters" in results["long-value"]["Message"]
    assert sorted(e["event_id"] for e in server.events) == ["also-good", "good"]
    [rejected] = server.rejected
    assert (rejected["endpoint_id"], rejected["event_id"]) == ("ep-1", "long-value")
    assert rejected["message"] == results["long-value"]["Message"]


@pytest.mark.parametrize(
    ("bad_event", "words"),
    [
        (event(Attributes={f"a{i}": "v" for i in range(21)}, Metrics={f"m{i}": 1.0 for i in range(20)}), "41"),
        (event(Attributes={"k" * 51: "v"}), "Attribute key"),
        (event(Metrics={"m" * 51: 1.0}), "Metric key"),
        ({"Timestamp": TIMESTAMP}, "EventType"),
        ({"EventType": "journey_activity.sent"}, "Timestamp"),
    ],
)
def test_per_event_limits(server, bad_event, words):
    at_the_limits = event(Attributes={f"{'k' * 48}{i:02}": "v" * 200 for i in range(20)},
                          Metrics={f"{'m' * 48}{i:02}": 1.0 for i in range(20)})
    request = batch({"ep-1": {"bad": bad_event, "fine": at_the_limits}})
    # Missing required members would be caught by botocore before sending: let the server judge them.
    results = put(server, request, parameter_validation=False)["EventsResponse"]["Results"]["ep-1"]
    assert results["EventsItemResponse"]["fine"]["StatusCode"] == 202
    assert results["EventsItemResponse"]["bad"]["StatusCode"] == 400
    assert words in results["EventsItemResponse"]["bad"]["Message"]


def test_more_than_100_events_is_a_bad_request(server):
    request = batch({f"ep-{n}": {f"e-{i}": event() for i in range(20)} for n in range(5)})
    request["BatchItem"]["ep-extra"] = {"Endpoint": {}, "Events": {"one-too-many": event()}}
    pinpoint = client(server)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.put_events(ApplicationId=APP, EventsRequest=request)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "101" in error["Error"]["Message"]
    assert server.events == []
    assert server.requests == 1


def test_exactly_100_events_is_fine(server):
    request = batch({f"ep-{n}": {f"e-{i}": event() for i in range(25)} for n in range(4)})
    put(server, request)
    assert len(server.events) == 100


def test_unknown_application_is_not_found():
    with LocalPinpointEvents(applications={APP}) as server:
        pinpoint = client(server)
        with pytest.raises(pinpoint.exceptions.NotFoundException):
            pinpoint.put_events(ApplicationId="someone-else", EventsRequest=batch({"ep": {"e": event()}}))
        put(server, batch({"ep": {"e": event()}}))
        assert [e["application_id"] for e in server.events] == [APP]


def test_the_endpoint_url_environment_variable_is_enough(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_PINPOINT", server.url)
    pinpoint = boto3.client("pinpoint", region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    pinpoint.put_events(ApplicationId="app/with space", EventsRequest=batch({"ep": {"e": event()}}))
    assert [e["application_id"] for e in server.events] == ["app/with space"]


def test_raw_http_errors_and_health(server):
    http = urllib3.PoolManager(retries=False)
    response = http.request("POST", f"{server.url}/v1/apps/{APP}/events", body=b"{not json")
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert set(json.loads(response.data)) == {"Message", "RequestID"}
    assert http.request("GET", f"{server.url}/v1/apps/{APP}/events").status == 405
    assert http.request("POST", f"{server.url}/v1/elsewhere").status == 404
    assert http.request("GET", f"{server.url}/health").status == 200
    assert http.request("HEAD", f"{server.url}/").status == 200


def test_stop_is_safe_twice():
    server = LocalPinpointEvents().start()
    server.stop()
    server.stop()
    LocalPinpointEvents().stop()  # never started
