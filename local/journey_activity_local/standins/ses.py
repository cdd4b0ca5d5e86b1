"""Amazon SES v2 locally: moto's sesv2 sends, this stand-in publishes the events SES would.

The e-mail sender calls ``SendEmail`` on moto's server (the local AWS endpoint), as it calls SES.
moto sends but publishes no events and ignores the configuration set and the tags, so while the
stand-in runs, moto's ``SendEmail`` handler is wrapped (a documented local patch, undone on stop):

- the request must name an existing configuration set (SES answers ``NotFoundException``);
- the recipient's behaviour (``--behave ADDRESS=BEHAVIOUR``, the generic stand-in's words) decides
  the answer: ``reject`` is ``MessageRejected`` (400), ``throttle``/``throttled:N`` are
  ``TooManyRequestsException`` (429), ``outage``/``flaky:N`` a 503, ``stall:S`` answers after S s;
- once moto has accepted the message, the stand-in publishes SES's event records for it (the
  documented record format, built from the real send's ``MessageId``, its tags and configuration
  set) to the local provider-events SNS topic, which delivers them to the receipt queue:
  ``Send`` at once, then after ``receipt_delay`` the final event: ``Delivery`` (deliver, flaky,
  throttled, stall, early, duplicate), ``Bounce`` (bounce), ``Reject`` (fail); ``never`` gets
  ``Send`` only, ``duplicate`` its final event twice, ``early`` its final event before the answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, Self

from journey_activity_local.standins.http import Behaviour
from journey_activity_local.standins.registry import SendLog, StandInSetup, publish_event, register

log = logging.getLogger(__name__)

FROM_ADDRESS = "journeys@example.com"
SUBJECT = "A message from your journey"
KEY_TAG = "ja_key"
# GetSendQuota's MaxSendRate without a stand-in rate: the product paces SES at it (send_rate "account").
UNLIMITED_SEND_RATE = 1000.0
_active: SesStandIn | None = None
_patch_lock = threading.Lock()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(code: str, message: str, status: int) -> Exception:
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(code, message)
    error.code = status
    return error


def _wrapped_get_send_quota(original: Any) -> Any:
    """GetSendQuota's MaxSendRate is the stand-in's rate (moto answers 1 a second): the product reads
    it for an SES provider's send_rate "account", its default."""

    def get_send_quota(backend: Any) -> Any:
        quota = original(backend)
        standin = _active
        if standin is not None:
            quota.max_send_rate = standin.setup.send_rate or UNLIMITED_SEND_RATE
        return quota

    get_send_quota._journey_activity_patch = True  # type: ignore[attr-defined]
    return get_send_quota


def _wrapped_send_email(original: Any) -> Any:
    def send_email(response: Any) -> str:
        standin = _active
        if standin is None:
            return str(original(response))
        return standin.handle_send(response, original)

    send_email._journey_activity_patch = True  # type: ignore[attr-defined]
    return send_email


class SesStandIn(SendLog):
    """Kind ``ses``: ``provider_config`` points the channel at SES with the local configuration set."""

    def __init__(self, setup: StandInSetup) -> None:
        self.setup = setup
        self.configuration_set = setup.email_configuration_set or "journey-activity-local-email"
        SendLog.__init__(self, setup.behaviours, setup.send_rate)
        self._accepted: dict[str, str] = {}
        self._events: list[dict[str, Any]] = []
        self._timers: set[threading.Timer] = set()
        self._stopping = threading.Event()
        self._original: Any = None

    # -- the StandIn protocol ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.setup.aws_endpoint

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event record published, in order."""
        with self._lock:
            return list(self._events)

    def provider_config(self, channel: str) -> dict[str, Any]:
        return {"type": "ses", "name": "ses", "from_address": FROM_ADDRESS,
                "configuration_set": self.configuration_set, "subject": SUBJECT, "region": self.setup.region}

    def environment(self) -> dict[str, str]:
        # The senders reach moto's sesv2 through AWS_ENDPOINT_URL, like every other local service.
        return {}

    def template_parameters(self) -> dict[str, str]:
        """The template parameters this stand-in stands for: the verified identity (with it the
        stack makes the configuration set and grants the e-mail sender ses:SendEmail)."""
        return {"SesIdentity": FROM_ADDRESS.split("@", 1)[1]}

    def describe(self) -> dict[str, Any]:
        return {"kind": "ses", "url": self.url, "region": self.setup.region,
                "credentials": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                "from_address": FROM_ADDRESS, "configuration_set": self.configuration_set,
                "events_topic_arn": self.setup.receipt_topic_arn}

    def __enter__(self) -> Self:
        global _active
        import boto3
        from moto.ses.models import SESBackend
        from moto.sesv2.responses import SESV2Response

        sesv2 = boto3.client("sesv2", region_name=self.setup.region)
        sesv2.create_email_identity(EmailIdentity=FROM_ADDRESS)
        sesv2.create_configuration_set(ConfigurationSetName=self.configuration_set)
        with _patch_lock:
            if _active is not None:
                raise RuntimeError("one SES stand-in at a time")
            self._original = SESV2Response.send_email
            if not getattr(self._original, "_journey_activity_patch", False):
                SESV2Response.send_email = _wrapped_send_email(self._original)  # type: ignore[method-assign]
            self._original_quota = SESBackend.get_send_quota
            if not getattr(self._original_quota, "_journey_activity_patch", False):
                SESBackend.get_send_quota = _wrapped_get_send_quota(self._original_quota)  # type: ignore[method-assign]
            _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        from moto.ses.models import SESBackend
        from moto.sesv2.responses import SESV2Response

        self._stopping.set()
        with self._lock:
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        with _patch_lock:
            if _active is self:
                _active = None
                SESV2Response.send_email = self._original  # type: ignore[method-assign]
                SESBackend.get_send_quota = self._original_quota  # type: ignore[method-assign]

    # -- moto's SendEmail, wrapped ----------------------------------------------------------

    def handle_send(self, response: Any, original: Any) -> str:
        params = json.loads(response.body or b"{}")
        addresses = list((params.get("Destination") or {}).get("ToAddresses") or [])
        address = addresses[0] if addresses else ""
        tags = {tag.get("Name"): tag.get("Value") for tag in params.get("EmailTags") or []}
        key = str(tags.get(KEY_TAG) or address)
        configuration_set = params.get("ConfigurationSetName")
        if configuration_set != self.configuration_set:
            raise _error("NotFoundException", f"Configuration set <{configuration_set}> does not exist.", 404)
        behaviour = self.admit(address)
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
            if key in self._accepted:
                # SES takes no idempotency key: a second request is a second e-mail.
                self._duplicates += 1
        refusal = _refusal(behaviour, attempt, address)
        if refusal is not None:
            raise refusal
        if behaviour.kind == "stall" and attempt == 1:
            time.sleep(behaviour.stall_seconds)
        answer = str(original(response))
        message_id = json.loads(answer)["MessageId"]
        message = {"message_id": message_id, "address": address, "idempotency_key": key,
                   "configuration_set": configuration_set, "tags": tags, "from": params.get("FromEmailAddress"),
                   "subject": ((params.get("Content") or {}).get("Simple") or {}).get("Subject", {}).get("Data")}
        with self._lock:
            self._sends.append(message)
            self._accepted.setdefault(key, message_id)
        self._publish(message, "Send")
        final = _FINAL_EVENT.get(behaviour.kind)
        if final is not None:
            if behaviour.kind == "early":
                self._publish(message, final)
            else:
                self._later(message, final, 2 if behaviour.kind == "duplicate" else 1)
        return answer

    def _later(self, message: dict[str, Any], event_type: str, times: int) -> None:
        def run() -> None:
            with self._lock:
                self._timers.discard(timer)
            for _ in range(times):
                if not self._stopping.is_set():
                    self._publish(message, event_type)

        timer = threading.Timer(self.setup.receipt_delay, run)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _publish(self, message: dict[str, Any], event_type: str) -> None:
        record = event_record(message, event_type, self.setup.region)
        with self._lock:
            self._events.append(record)
        publish_event(self.setup, record)


# "optout": SES has no opt-out answer at send time; an address on the account's suppression list
# is accepted, then bounced with bounceSubType OnAccountSuppressionList.
_FINAL_EVENT = {"deliver": "Delivery", "flaky": "Delivery", "throttled": "Delivery", "stall": "Delivery",
                "early": "Delivery", "duplicate": "Delivery", "bounce": "Bounce", "fail": "Reject",
                "optout": "Bounce:OnAccountSuppressionList"}


def _refusal(behaviour: Behaviour, attempt: int, address: str) -> Exception | None:
    if behaviour.kind == "reject":
        return _error("MessageRejected", f"Email address is not verified. The following identities failed the "
                                         f"check in region US-EAST-1: {address}", 400)
    if behaviour.kind == "throttle" or (behaviour.kind == "throttled" and attempt <= behaviour.failures):
        return _error("TooManyRequestsException", "Maximum sending rate exceeded.", 429)
    if behaviour.kind == "outage" or (behaviour.kind == "flaky" and attempt <= behaviour.failures):
        return _error("ServiceUnavailable", "Service Unavailable", 503)
    return None


def event_record(message: dict[str, Any], event_type: str, region: str) -> dict[str, Any]:
    """An SES event record as SES publishes it to SNS (the documented format; see
    tests/events/ses/ for the documentation's own examples)."""
    now = _now()
    event_type, _, bounce_subtype = event_type.partition(":")
    source = str(message.get("from") or FROM_ADDRESS)
    domain = source.rsplit("@", 1)[-1].rstrip(">")
    address = str(message["address"])
    tags: dict[str, list[str]] = {
        "ses:configuration-set": [str(message["configuration_set"])],
        "ses:source-ip": ["127.0.0.1"],
        "ses:from-domain": [domain],
        "ses:caller-identity": ["journey-activity-local"],
    }
    tags.update({str(name): [str(value)] for name, value in message.get("tags", {}).items()})
    record: dict[str, Any] = {
        "eventType": event_type,
        "mail": {
            "timestamp": now,
            "source": source,
            "sourceArn": f"arn:aws:ses:{region}:123456789012:identity/{source}",
            "sendingAccountId": "123456789012",
            "messageId": message["message_id"],
            "destination": [address],
            "headersTruncated": False,
            "headers": [{"name": "From", "value": source}, {"name": "To", "value": address},
                        {"name": "Subject", "value": str(message.get("subject") or "")},
                        {"name": "MIME-Version", "value": "1.0"},
                        {"name": "Content-Type", "value": "text/plain; charset=UTF-8"}],
            "commonHeaders": {"from": [source], "to": [address], "messageId": message["message_id"],
                              "subject": str(message.get("subject") or "")},
            "tags": tags,
        },
    }
    if event_type == "Send":
        record["send"] = {}
    elif event_type == "Delivery":
        record["delivery"] = {"timestamp": now, "processingTimeMillis": 200, "recipients": [address],
                              "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a8-1.smtp-out.local"}
    elif event_type == "Bounce":
        record["bounce"] = {"bounceType": "Permanent", "bounceSubType": bounce_subtype or "General",
                            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1",
                                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                            "timestamp": now, "feedbackId": f"local-{message['message_id']}",
                            "reportingMTA": "dsn; a8-1.smtp-out.local"}
    elif event_type == "Reject":
        record["reject"] = {"reason": "Bad content"}
    return record


register("ses", SesStandIn)
