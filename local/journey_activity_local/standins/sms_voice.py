"""AWS End User Messaging SMS and voice v2 locally: a real HTTP endpoint speaking the service's
protocol (awsJson1.0: ``POST /``, ``X-Amz-Target: PinpointSMSVoiceV2.<Operation>``, SigV4 for the
signing name ``sms-voice``), reached by the senders through ``AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2``
as botocore reaches any service's endpoint override; moto has no such service.

``SendTextMessage`` and ``SendVoiceMessage`` are checked against botocore's service model (types,
required members, the E.164 pattern): a bad request gets ``ValidationException``, an unknown
configuration set ``ResourceNotFoundException``, as the service answers. The recipient's behaviour
(``--behave``) decides the rest: ``reject`` is a ``ValidationException``
(``DESTINATION_COUNTRY_BLOCKED``), ``optout`` a ``ConflictException``
(``DESTINATION_PHONE_NUMBER_OPTED_OUT``), ``throttle``/``throttled:N`` ``ThrottlingException``,
``outage``/``flaky:N`` ``InternalServerException`` (500), ``stall:S`` answers after S seconds.

An accepted message gets the service's event records, published to the local provider-events SNS
topic (which feeds the receipt queue), in the documented format (``eventType``, ``isFinal``,
``messageId``, ``context``...; see ``tests/events/sms_voice/``): SMS ``TEXT_SUCCESSFUL`` (not final)
at once, then ``TEXT_DELIVERED`` (deliver), ``TEXT_UNREACHABLE`` (bounce) or ``TEXT_CARRIER_BLOCKED``
(fail); voice ``VOICE_INITIATED``, then ``VOICE_COMPLETED``, ``VOICE_NO_ANSWER`` or ``VOICE_FAILED``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from journey_activity_local.server import LocalServer, TrackingHTTPServer
from journey_activity_local.standins.http import Behaviour
from journey_activity_local.standins.registry import SendLog, StandInSetup, publish_event, register, service_model

TARGET_PREFIX = "PinpointSMSVoiceV2."
OPERATIONS = {"SendTextMessage": "send_text_message", "SendVoiceMessage": "send_voice_message"}
ORIGINATION_NUMBER = "+12065550152"
CONTENT_TYPE = "application/x-amz-json-1.0"

# behaviour -> (final event for text, final event for voice); None: no final event.
_FINAL = {"deliver": ("TEXT_DELIVERED", "VOICE_COMPLETED"), "flaky": ("TEXT_DELIVERED", "VOICE_COMPLETED"),
          "throttled": ("TEXT_DELIVERED", "VOICE_COMPLETED"), "stall": ("TEXT_DELIVERED", "VOICE_COMPLETED"),
          "early": ("TEXT_DELIVERED", "VOICE_COMPLETED"), "duplicate": ("TEXT_DELIVERED", "VOICE_COMPLETED"),
          "bounce": ("TEXT_UNREACHABLE", "VOICE_NO_ANSWER"), "fail": ("TEXT_CARRIER_BLOCKED", "VOICE_FAILED")}
_DESCRIPTIONS = {"TEXT_SUCCESSFUL": "Message has been accepted by phone carrier",
                 "TEXT_DELIVERED": "Message has been accepted by phone",
                 "TEXT_UNREACHABLE": "Phone is currently unreachable/unavailable",
                 "TEXT_CARRIER_BLOCKED": "Carrier has blocked this message",
                 "VOICE_INITIATED": "The call has been initiated", "VOICE_COMPLETED": "The message was played",
                 "VOICE_NO_ANSWER": "The recipient did not answer", "VOICE_FAILED": "The call failed"}


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.fields = status, code, fields

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "message": str(self), "Message": str(self), **self.fields}


def _validate(operation: str, params: Any) -> None:
    """What the service checks before anything else, from botocore's own model of it."""
    import re

    from botocore.validate import ParamValidator

    if not isinstance(params, dict):
        raise ServiceError(400, "SerializationException", "the request body is not a JSON object")
    model = service_model("pinpoint-sms-voice-v2")
    shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ServiceError(400, "ValidationException", report.generate_report()[:1000],
                           Reason="FIELD_VALIDATION_FAILED")
    pattern = model.shape_for("PhoneNumber").metadata["pattern"]
    if not re.fullmatch(pattern, str(params.get("DestinationPhoneNumber", ""))):
        raise ServiceError(400, "ValidationException", "DestinationPhoneNumber is not a valid phone number",
                           Reason="INVALID_PARAMETER", Fields=[{"Name": "DestinationPhoneNumber",
                                                                "Message": f"must match {pattern}"}])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any], error: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = self.server.standin.handle(self.headers.get("X-Amz-Target", ""),
                                              self.headers.get("Authorization", ""), raw)
        except ServiceError as error:
            self._answer(error.status, error.body(), error.code)
            return
        self._answer(200, body)


class _Server(TrackingHTTPServer):
    standin: SmsVoiceStandIn


class SmsVoiceStandIn(SendLog, LocalServer):
    """Kind ``sms-voice``: ``provider_config`` points SMS and VOICE at this endpoint's service."""

    thread_name = "sms-voice-standin"

    def __init__(self, setup: StandInSetup, host: str = "127.0.0.1", port: int = 0) -> None:
        self.setup = setup
        self.configuration_set = setup.sms_voice_configuration_set or "journey-activity-local-sms-voice"
        SendLog.__init__(self, setup.behaviours, setup.send_rate)
        self._accepted: dict[str, str] = {}
        self._events: list[dict[str, Any]] = []
        self._timers: set[threading.Timer] = set()
        self._stopping = threading.Event()
        server = _Server((host, port), _Handler)
        server.standin = self
        LocalServer.__init__(self, server)

    # -- the StandIn protocol ---------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def provider_config(self, channel: str) -> dict[str, Any]:
        return self._paced({"type": "sms-voice", "name": "sms-voice", "configuration_set": self.configuration_set,
                            "origination_identity": ORIGINATION_NUMBER, "voice_id": "JOANNA",
                            "region": self.setup.region})

    def _paced(self, config: dict[str, Any]) -> dict[str, Any]:
        """The product paces its sends at the stand-in's rate, when it has one."""
        return {**config, "send_rate": self.setup.send_rate} if self.setup.send_rate else config

    def environment(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": self.url}

    def template_parameters(self) -> dict[str, str]:
        """The template parameters this stand-in stands for: the SMS and voice channel switched on
        (the configuration set made, the sender granted sms-voice:SendTextMessage/SendVoiceMessage)."""
        return {"SmsVoice": "enabled"}

    def describe(self) -> dict[str, Any]:
        return {"kind": "sms-voice", "url": self.url, "region": self.setup.region,
                "endpoint_variable": "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2",
                "credentials": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                "configuration_set": self.configuration_set, "origination_identity": ORIGINATION_NUMBER,
                "events_topic_arn": self.setup.receipt_topic_arn}

    def stop(self) -> None:
        if self._closed:
            return
        self._stopping.set()
        with self._lock:
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        super().stop()

    # -- the service ------------------------------------------------------------------------

    def handle(self, target: str, authorization: str, raw: bytes) -> dict[str, Any]:
        signed = authorization.startswith("AWS4-HMAC-SHA256 Credential=") and "/sms-voice/aws4_request" in authorization
        if not signed:
            raise ServiceError(403, "IncompleteSignatureException", "the request is not signed (SigV4, sms-voice)")
        operation = target.removeprefix(TARGET_PREFIX)
        if not target.startswith(TARGET_PREFIX) or operation not in OPERATIONS:
            raise ServiceError(400, "UnknownOperationException", f"unknown operation {target!r}")
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            raise ServiceError(400, "SerializationException", "the request body is not JSON") from None
        _validate(operation, params)
        if params.get("ConfigurationSetName") not in (None, self.configuration_set):
            raise ServiceError(400, "ResourceNotFoundException", "Configuration set not found",
                               ResourceType="configuration-set", ResourceId=params["ConfigurationSetName"])
        voice = operation == "SendVoiceMessage"
        address = str(params["DestinationPhoneNumber"])
        key = str((params.get("Context") or {}).get("ja_key") or address)
        behaviour = self.admit(address)
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
            if key in self._accepted:
                self._duplicates += 1  # no idempotency key: a second request is a second message
        _refuse(behaviour, attempt, address)
        if behaviour.kind == "stall" and attempt == 1:
            time.sleep(behaviour.stall_seconds)
        message_id = str(uuid.uuid4())
        message = {"message_id": message_id, "address": address, "idempotency_key": key, "voice": voice,
                   "operation": operation, "params": params, "requested_at": int(time.time() * 1000)}
        with self._lock:
            self._sends.append(message)
            self._accepted.setdefault(key, message_id)
        self._publish(message, "VOICE_INITIATED" if voice else "TEXT_SUCCESSFUL", final=False)
        finals = _FINAL.get(behaviour.kind)
        if finals is not None:
            event_type = finals[1] if voice else finals[0]
            if behaviour.kind == "early":
                self._publish(message, event_type, final=True)
            else:
                self._later(message, event_type, 2 if behaviour.kind == "duplicate" else 1)
        return {"MessageId": message_id}

    def _later(self, message: dict[str, Any], event_type: str, times: int) -> None:
        def run() -> None:
            with self._lock:
                self._timers.discard(timer)
            for _ in range(times):
                if not self._stopping.is_set():
                    self._publish(message, event_type, final=True)

        timer = threading.Timer(self.setup.receipt_delay, run)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _publish(self, message: dict[str, Any], event_type: str, *, final: bool) -> None:
        record = event_record(message, event_type, final=final)
        with self._lock:
            self._events.append(record)
        publish_event(self.setup, record)


def _refuse(behaviour: Behaviour, attempt: int, address: str) -> None:
    if behaviour.kind == "reject":
        raise ServiceError(400, "ValidationException", f"The destination country is blocked for {address}",
                           Reason="DESTINATION_COUNTRY_BLOCKED")
    if behaviour.kind == "optout":
        raise ServiceError(400, "ConflictException", "The destination phone number is opted out",
                           Reason="DESTINATION_PHONE_NUMBER_OPTED_OUT", ResourceType="opt-out-list",
                           ResourceId="Default")
    if behaviour.kind == "throttle" or (behaviour.kind == "throttled" and attempt <= behaviour.failures):
        raise ServiceError(400, "ThrottlingException", "Rate exceeded")
    if behaviour.kind == "outage" or (behaviour.kind == "flaky" and attempt <= behaviour.failures):
        raise ServiceError(500, "InternalServerException", "Internal server error", RequestId=str(uuid.uuid4()))


def event_record(message: dict[str, Any], event_type: str, *, final: bool) -> dict[str, Any]:
    """An event record as the service publishes it to the configuration set's SNS destination."""
    params = message["params"]
    status = event_type.split("_", 1)[1]
    record: dict[str, Any] = {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": int(time.time() * 1000),
        "isFinal": final,
        "originationPhoneNumber": str(params.get("OriginationIdentity") or ORIGINATION_NUMBER),
        "destinationPhoneNumber": message["address"],
        "isInternationalSend": False,
        "isoCountryCode": "US",
        "mcc": "310",
        "mnc": "800",
        "messageId": message["message_id"],
        "messageRequestTimestamp": message["requested_at"],
        "messageStatus": status,
        "messageStatusDescription": _DESCRIPTIONS.get(event_type, status.replace("_", " ").title()),
        "context": dict(params.get("Context") or {}),
    }
    if message["voice"]:
        record.update({"messageType": "TRANSACTIONAL", "totalDurationSeconds": 12 if final else 0,
                       "totalMessagePrice": 0.013})
    else:
        record.update({"messageEncoding": "GSM", "messageType": str(params.get("MessageType") or "TRANSACTIONAL"),
                       "totalMessageParts": 1, "totalMessagePrice": 0.00581, "totalCarrierFee": 0.0})
    return record


register("sms-voice", SmsVoiceStandIn)
