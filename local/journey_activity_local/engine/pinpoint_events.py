"""A local Amazon Pinpoint ``PutEvents`` endpoint: moto does not implement it, so the local run
points boto3's ``pinpoint`` client here (``endpoint_url`` or ``AWS_ENDPOINT_URL_PINPOINT``).

It speaks the service's restJson1 wire format (``POST /v1/apps/{application-id}/events``, body
``EventsRequest``, answer 202 ``EventsResponse``) and enforces the documented limits the way the
service does: too many events fail the whole request with ``BadRequestException``; an event that
breaks a per-event limit gets its own 400 in the results while the others are accepted.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from journey_activity_local.server import LocalServer, TrackingHTTPServer

log = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 100
MAX_ATTRIBUTES_AND_METRICS = 40
MAX_KEY_LENGTH = 50
MAX_ATTRIBUTE_VALUE_LENGTH = 200
_EVENTS_ROUTE = re.compile(r"^/v1/apps/(?P<application_id>[^/]+)/events$")


@dataclass(frozen=True)
class Reply:
    """What the handler writes back: kept apart from the socket so the logic is plain code."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _service_error(status: int, error_type: str, message: str) -> Reply:
    """An error as the service sends it, so botocore raises the modelled exception class."""
    request_id = str(uuid.uuid4())
    return Reply(status, {"Message": message, "RequestID": request_id},
                 {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": request_id})


def event_problem(event: Any) -> str | None:
    """Why Pinpoint would refuse this one event, or None when it is acceptable."""
    if not isinstance(event, Mapping):
        return "Event must be an object"
    for required in ("EventType", "Timestamp"):
        if not event.get(required):
            return f"{required} is required"
    attributes = event.get("Attributes") or {}
    metrics = event.get("Metrics") or {}
    if not isinstance(attributes, Mapping) or not isinstance(metrics, Mapping):
        return "Attributes and Metrics must be maps"
    if len(attributes) + len(metrics) > MAX_ATTRIBUTES_AND_METRICS:
        return (f"Event has {len(attributes) + len(metrics)} attributes and metrics; "
                f"the maximum is {MAX_ATTRIBUTES_AND_METRICS} combined")
    for kind, keys in (("Attribute", attributes), ("Metric", metrics)):
        for key in keys:
            if len(str(key)) > MAX_KEY_LENGTH:
                return f"{kind} key '{str(key)[:20]}...' is longer than {MAX_KEY_LENGTH} characters"
    for key, value in attributes.items():
        if len(str(value)) > MAX_ATTRIBUTE_VALUE_LENGTH:
            return f"Attribute value of '{key}' is longer than {MAX_ATTRIBUTE_VALUE_LENGTH} characters"
    return None


def _batch_items(request: Any) -> dict[str, Any]:
    """``EventsRequest.BatchItem``, or ValueError saying why the request has none."""
    if not isinstance(request, Mapping) or not isinstance(request.get("BatchItem"), Mapping):
        raise ValueError("EventsRequest must be an object with a BatchItem map")
    items = dict(request["BatchItem"])
    for endpoint_id, item in items.items():
        if not isinstance(item, Mapping) or not isinstance(item.get("Events") or {}, Mapping):
            raise ValueError(f"BatchItem '{endpoint_id}' must be an object with an Events map")
    return items


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("pinpoint events: " + format, *args)

    def _reply(self, reply: Reply) -> None:
        payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if path in ("/", "/health") and self.command in ("GET", "HEAD"):
            self._reply(Reply(200, {"status": "ok"}))
            return
        match = _EVENTS_ROUTE.match(path)
        if match is None:
            self._reply(_service_error(404, "NotFoundException", f"No route for {self.command} {path}"))
            return
        if self.command != "POST":
            self._reply(_service_error(405, "MethodNotAllowedException", f"{self.command} is not allowed"))
            return
        self._reply(self.server.events.put_events(unquote(match["application_id"]), raw))

    do_POST = do_GET = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815


class _Server(TrackingHTTPServer):
    events: LocalPinpointEvents


class LocalPinpointEvents(LocalServer):
    """``with LocalPinpointEvents() as pinpoint: boto3.client("pinpoint", endpoint_url=pinpoint.url)``

    Inspection (snapshots, safe to read from any thread): :attr:`events` (accepted),
    :attr:`rejected` (answered 400 one by one) and :attr:`requests`.
    """

    def __init__(self, *, applications: set[str] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.applications = applications
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._rejected: list[dict[str, Any]] = []
        self._requests = 0
        server = _Server((host, port), _Handler)
        server.events = self
        super().__init__(server)

    # -- inspection -------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """Accepted events: ``{"application_id", "endpoint_id", "event_id", "event"}``."""
        with self._lock:
            return list(self._events)

    @property
    def rejected(self) -> list[dict[str, Any]]:
        """Events answered 400: ``{"application_id", "endpoint_id", "event_id", "event", "message"}``."""
        with self._lock:
            return list(self._rejected)

    @property
    def requests(self) -> int:
        """``PutEvents`` requests received, refused ones included."""
        with self._lock:
            return self._requests

    # -- the operation ----------------------------------------------------------------------

    def put_events(self, application_id: str, raw: bytes) -> Reply:
        """One ``PutEvents`` call: request-level checks first, then a verdict per event."""
        with self._lock:
            self._requests += 1
        if self.applications is not None and application_id not in self.applications:
            return _service_error(404, "NotFoundException", f"Application '{application_id}' not found")
        try:
            items = _batch_items(json.loads(raw or b"null"))
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
            return _service_error(400, "BadRequestException", f"Invalid EventsRequest: {error}")
        count = sum(len(item.get("Events") or {}) for item in items.values())
        if count > MAX_EVENTS_PER_REQUEST:
            log.info("put_events refused", extra={"application_id": application_id, "events": count})
            return _service_error(
                400, "BadRequestException",
                f"The request contains {count} events; the maximum is {MAX_EVENTS_PER_REQUEST} per request",
            )
        results = {endpoint_id: self._put_endpoint(application_id, endpoint_id, item)
                   for endpoint_id, item in items.items()}
        return Reply(202, {"Results": results})

    def _put_endpoint(self, application_id: str, endpoint_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
        verdicts: dict[str, dict[str, Any]] = {}
        for event_id, event in (item.get("Events") or {}).items():
            record = {"application_id": application_id, "endpoint_id": endpoint_id, "event_id": event_id,
                      "event": event}
            problem = event_problem(event)
            with self._lock:
                if problem is None:
                    self._events.append(record)
                else:
                    self._rejected.append({**record, "message": problem})
            verdicts[event_id] = ({"StatusCode": 202, "Message": "Accepted"} if problem is None
                                  else {"StatusCode": 400, "Message": problem})
            if problem is not None:
                log.info("event rejected", extra={"application_id": application_id, "endpoint_id": endpoint_id,
                                                  "event_id": event_id, "problem": problem})
        return {"EndpointItemResponse": {"StatusCode": 202, "Message": "Accepted"}, "EventsItemResponse": verdicts}
