"""AWS End User Messaging Push locally: a real HTTP endpoint speaking the Pinpoint API's
``SendMessages`` (restJson1: ``POST /v1/apps/{application-id}/messages``, body ``MessageRequest``,
answer ``MessageResponse``; SigV4 for the signing name ``mobiletargeting``), reached by the push
sender through ``AWS_ENDPOINT_URL_PINPOINT`` as botocore reaches any service's endpoint override;
moto answers ``SendMessages`` with 404.

The same variable points every function's ``pinpoint`` client here, so the stand-in also answers
``PutEvents`` (``/v1/apps/{id}/events``), by handing the request to the stack's local Pinpoint
events endpoint (:class:`journey_activity_local.engine.pinpoint_events.LocalPinpointEvents`).

The request is checked against botocore's model of ``MessageRequest``, an unknown application is
``NotFoundException``, an unsigned request ``ForbiddenException``. The device token's behaviour
(``--behave``) decides the per-address ``DeliveryStatus`` in a 200 answer, or a request-level error,
as the service answers: ``deliver``, ``early``, ``duplicate`` ``SUCCESSFUL``; ``bounce``
``PERMANENT_FAILURE`` (410 Unregistered); ``fail`` ``PERMANENT_FAILURE`` (400 BadDeviceToken);
``optout`` ``OPT_OUT``; ``never`` ``UNKNOWN_FAILURE``; ``reject`` ``BadRequestException``;
``throttle`` ``TooManyRequestsException``; ``throttled:N`` ``THROTTLED`` for the first N attempts;
``outage`` ``InternalServerErrorException``; ``flaky:N`` ``TEMPORARY_FAILURE`` for the first N
attempts; ``stall:S`` answers the first attempt after S seconds. Nothing is published afterwards:
push has no delivery events.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from journey_activity_local.server import LocalServer, TrackingHTTPServer
from journey_activity_local.standins.registry import SendLog, StandInSetup, register, service_model

APPLICATION_ID = "journeyactivitylocalpush"
_ROUTE = re.compile(r"^/v1/apps/(?P<application_id>[^/]+)/(?P<operation>messages|events)$")
_PUSH_CHANNELS = frozenset({"GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU"})
# behaviour -> (DeliveryStatus, StatusCode, StatusMessage) of an answered attempt.
_ANSWER: dict[str, tuple[str, int, str]] = {
    "deliver": ("SUCCESSFUL", 200, "MessageId: {message_id}"),
    "early": ("SUCCESSFUL", 200, "MessageId: {message_id}"),
    "duplicate": ("SUCCESSFUL", 200, "MessageId: {message_id}"),
    "stall": ("SUCCESSFUL", 200, "MessageId: {message_id}"),
    "flaky": ("SUCCESSFUL", 200, "MessageId: {message_id}"),
    "throttled": ("SUCCESSFUL", 200, "MessageId: {message_id}"),
    "bounce": ("PERMANENT_FAILURE", 410, "Unregistered"),
    "fail": ("PERMANENT_FAILURE", 400, "BadDeviceToken"),
    "optout": ("OPT_OUT", 200, "The endpoint is opted out"),
    "never": ("UNKNOWN_FAILURE", 500, "The push service gave no answer"),
}


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code

    def body(self) -> dict[str, Any]:
        return {"Message": str(self), "RequestID": str(uuid.uuid4())}


def _validate(params: Any) -> None:
    """What the service checks first, from botocore's own model of ``MessageRequest``."""
    from botocore.validate import ParamValidator

    if not isinstance(params, dict):
        raise ServiceError(400, "BadRequestException", "the request body is not a JSON object")
    model = service_model("pinpoint")
    report = ParamValidator().validate(params, model.shape_for("MessageRequest"))
    if report.has_errors():
        raise ServiceError(400, "BadRequestException", report.generate_report()[:1000])
    addresses = params.get("Addresses") or {}
    if len(addresses) != 1 or params.get("Endpoints"):
        raise ServiceError(400, "BadRequestException", "this stand-in takes exactly one address per request")
    for address, config in addresses.items():
        if config.get("ChannelType") not in _PUSH_CHANNELS:
            raise ServiceError(400, "BadRequestException", f"ChannelType of {address[:8]}... is not a push channel")
    if "DefaultPushNotificationMessage" not in (params.get("MessageConfiguration") or {}):
        raise ServiceError(400, "BadRequestException", "MessageConfiguration has no push message")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {"x-amzn-RequestId": str(uuid.uuid4())}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _ROUTE.match(urlsplit(self.path).path)
        if match is None:
            self._answer(404, {"Message": f"No route for POST {self.path}"}, {"x-amzn-ErrorType": "NotFoundException"})
            return
        application_id = unquote(match["application_id"])
        standin = self.server.standin
        if match["operation"] == "events":
            events = standin.setup.pinpoint_events
            if events is None:
                self._answer(404, {"Message": "no local PutEvents endpoint"}, {"x-amzn-ErrorType": "NotFoundException"})
                return
            reply = events.put_events(application_id, raw)
            self._answer(reply.status, reply.body, reply.headers or None)
            return
        try:
            body = standin.handle(application_id, self.headers.get("Authorization", ""), raw)
        except ServiceError as error:
            self._answer(error.status, error.body(), {"x-amzn-ErrorType": error.code})
            return
        self._answer(200, body)


class _Server(TrackingHTTPServer):
    standin: PushStandIn


class PushStandIn(SendLog, LocalServer):
    """Kind ``push``: ``provider_config`` points the push channels at this endpoint's application."""

    thread_name = "push-standin"

    def __init__(self, setup: StandInSetup, host: str = "127.0.0.1", port: int = 0) -> None:
        self.setup = setup
        self.application_id = APPLICATION_ID
        SendLog.__init__(self, setup.behaviours, setup.send_rate)
        self._accepted: set[str] = set()
        server = _Server((host, port), _Handler)
        server.standin = self
        LocalServer.__init__(self, server)

    # -- the StandIn protocol ---------------------------------------------------------------

    def provider_config(self, channel: str) -> dict[str, Any]:
        return self._paced({"type": "push", "name": "push", "application_id": self.application_id,
                            "region": self.setup.region})

    def _paced(self, config: dict[str, Any]) -> dict[str, Any]:
        """The product paces its sends at the stand-in's rate, when it has one."""
        return {**config, "send_rate": self.setup.send_rate} if self.setup.send_rate else config

    def environment(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_PINPOINT": self.url}

    def template_parameters(self) -> dict[str, str]:
        """The template parameters this stand-in stands for (the push sender's IAM resource)."""
        return {"PushApplicationId": self.application_id}

    def describe(self) -> dict[str, Any]:
        return {"kind": "push", "url": self.url, "region": self.setup.region,
                "endpoint_variable": "AWS_ENDPOINT_URL_PINPOINT",
                "credentials": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                "application_id": self.application_id}

    # -- the service ------------------------------------------------------------------------

    def handle(self, application_id: str, authorization: str, raw: bytes) -> dict[str, Any]:
        signed = (authorization.startswith("AWS4-HMAC-SHA256 Credential=")
                  and "/mobiletargeting/aws4_request" in authorization)
        if not signed:
            raise ServiceError(403, "ForbiddenException", "the request is not signed (SigV4, mobiletargeting)")
        if application_id != self.application_id:
            raise ServiceError(404, "NotFoundException", "Resource not found")
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            raise ServiceError(400, "BadRequestException", "the request body is not JSON") from None
        _validate(params)
        address, config = next(iter(params["Addresses"].items()))
        context = config.get("Context") or {}
        key = str(context.get("ja_key") or params.get("TraceId") or address)
        behaviour = self.admit(address)
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
        if behaviour.kind == "reject":
            raise ServiceError(400, "BadRequestException", "Invalid device token")
        if behaviour.kind == "throttle":
            raise ServiceError(429, "TooManyRequestsException", "Too many requests")
        if behaviour.kind == "outage":
            raise ServiceError(500, "InternalServerErrorException", "Internal server error")
        message_id = str(uuid.uuid4())
        if behaviour.kind == "throttled" and attempt <= behaviour.failures:
            status, code, text = "THROTTLED", 429, "Too many requests for this device"
        elif behaviour.kind == "flaky" and attempt <= behaviour.failures:
            status, code, text = "TEMPORARY_FAILURE", 503, "Unavailable"
        else:
            status, code, text = _ANSWER[behaviour.kind]
        if status == "SUCCESSFUL":
            with self._lock:
                if key in self._accepted:
                    self._duplicates += 1  # no idempotency key: a second request is a second message
                self._accepted.add(key)
                self._sends.append({"message_id": message_id, "address": address, "idempotency_key": key,
                                    "channel": config.get("ChannelType"), "params": params})
        if behaviour.kind == "stall" and attempt == 1:
            time.sleep(behaviour.stall_seconds)  # taken, and answered late
        result = {"DeliveryStatus": status, "StatusCode": code, "StatusMessage": text.format(message_id=message_id)}
        if status == "SUCCESSFUL":
            result["MessageId"] = message_id
        return {"ApplicationId": application_id, "RequestId": str(uuid.uuid4()), "Result": {address: result}}


register("push", PushStandIn)
