"""Configuration, read from the function's environment (and the configuration object in S3 that
``CONFIGURATION_OBJECT`` names, when set) once per container.

Every JSON-valued variable is validated here, so a bad deployment fails loudly with the
variable's name rather than deep inside a send.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from journey_activity.errors import ConfigurationError
from journey_activity.models.pinpoint import ChannelType
from journey_activity.security import SECRETS_MANAGER_PREFIX, SSM_PREFIX, is_reference, resolve_reference

EXECUTION_NAME_RESERVED_DAYS = 90
EXECUTION_MAX_DAYS = 3  # the state machine's TimeoutSeconds backstop
LEDGER_TTL_MIN_DAYS = EXECUTION_NAME_RESERVED_DAYS + EXECUTION_MAX_DAYS
LEDGER_TTL_DEFAULT_DAYS = 100
MAX_EVENT_ATTRIBUTES = 5
MAX_ATTRIBUTE_CHARS = 128

# Amazon Connect: each profile's ResultData, name -> jmespath over the endpoint's result; values keep
# their JSON type (a number stays a number), so a Check attributes block can compare them.
DEFAULT_RESULT_DATA: dict[str, str] = {
    "status": "status",
    "reason": "reason",
    "channel": "channel",
    "provider": "provider",
    "attempts": "attempts",
}
MAX_RESULT_DATA_KEYS = 64
# The invoker's answer deadline per trigger: Connect documents that an answer later than 30 s fails
# the action (25 s leaves a cold start and compiling their margin); Pinpoint waits 15 s.
CONNECT_DEADLINE_DEFAULT_SECONDS, CONNECT_DEADLINE_MAX_SECONDS = 25.0, 26.0
PINPOINT_DEADLINE_DEFAULT_SECONDS, PINPOINT_DEADLINE_MAX_SECONDS = 10.0, 12.0

DEFAULT_EVENT_ATTRIBUTES: dict[str, str] = {
    "status": "status",
    "channel": "channel",
    "reason": "reason",
    "provider": "provider",
}


# An AWS provider's call (one attempt, no SDK retries) waits at most this long for the answer:
# the e-mail, SMS/voice and push senders' 30 s Timeout holds it, the connect timeout and the
# ledger writes (tests/lint/test_timeouts_and_concurrency.py).
SDK_TIMEOUT_MAX_SECONDS = 20
SDK_CONNECT_TIMEOUT_SECONDS = 3.0
# A provider's name is the path segment of its receipts route and part of ledger keys.
_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
# boto3 region names (e.g. eu-west-1, us-gov-west-1).
_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"


class HttpProviderConfig(BaseModel):
    """The generic HTTP provider (``type: "http"``, the default when ``type`` is left out)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["http"] = "http"
    name: str = "http"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Messages a second for every sender together (paced through the ledger: journey_activity.pacing);
    # unset: not paced (the provider's throttling is retried).
    send_rate: float | None = Field(default=None, gt=0, le=10_000)
    # Where the provider should post receipts; sent with each message when set.
    callback_url: str | None = None
    # The secret this provider signs receipts with: a Secrets Manager ARN (or
    # "secretsmanager:<arn>") or "ssm:/parameter/name"; unset: CALLBACK_SIGNING_SECRET(_ARN).
    # Its value may hold two comma-separated secrets while one is rotated.
    signing_secret_arn: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # http:// passes here so the local run can use its stand-in; every send checks the
        # scheme and the resolved addresses again (journey_activity.security), where
        # ALLOW_LOCAL_PROVIDERS is known.
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("headers")
    @classmethod
    def _header_references(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if header in (SECRETS_MANAGER_PREFIX, SSM_PREFIX):
                raise ValueError(f"{name}: a secret reference needs a name after {header!r}")
        return value

    @field_validator("signing_secret_arn")
    @classmethod
    def _secret_reference(cls, value: str | None) -> str | None:
        if value is not None and not is_reference(value):
            raise ValueError("must be a Secrets Manager ARN, 'secretsmanager:<arn or name>' or 'ssm:<parameter name>'")
        return value


class SesProviderConfig(BaseModel):
    """Amazon SES v2 ``SendEmail`` (EMAIL). Outcomes come from the configuration set's event
    destination (SNS or EventBridge into the receipt queue), never from a callback URL."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["ses"]
    name: str = Field(default="ses", pattern=_NAME_PATTERN)
    # A verified identity's address, e.g. "News <news@example.com>".
    from_address: str = Field(min_length=3, max_length=320)
    # The configuration set whose event destination feeds the receipt queue: without it SES
    # publishes no events for the message and every send would time out.
    configuration_set: str = Field(min_length=1, max_length=64)
    # For sending authorization (an identity owned by another account).
    from_identity_arn: str | None = None
    reply_to: list[str] = Field(default_factory=list)
    # Used when the message template is plain text (a JSON message may carry its own "subject").
    subject: str = Field(default="", max_length=998)
    region: str | None = Field(default=None, pattern=_REGION_PATTERN)
    timeout_seconds: float = Field(default=5.0, gt=0, le=SDK_TIMEOUT_MAX_SECONDS)
    # Messages a second for every sender together (journey_activity.pacing): "account" is the SES
    # account's own maximum send rate (GetSendQuota, read once per container); null: not paced.
    send_rate: float | Literal["account"] | None = Field(default="account", union_mode="left_to_right")

    @field_validator("send_rate")
    @classmethod
    def _positive_rate(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, float) and not 0 < value <= 10_000:
            raise ValueError('must be a rate above 0 and at most 10000 a second, "account" or null')
        return value


class SmsVoiceProviderConfig(BaseModel):
    """AWS End User Messaging SMS and voice v2 (SMS: ``SendTextMessage``; VOICE: ``SendVoiceMessage``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sms-voice"]
    name: str = Field(default="sms-voice", pattern=_NAME_PATTERN)
    # A phone number, pool or sender id (its id or ARN); required by SendVoiceMessage.
    origination_identity: str | None = Field(default=None, min_length=1, max_length=256)
    # The configuration set whose event destination feeds the receipt queue.
    configuration_set: str = Field(min_length=1, max_length=256)
    message_type: Literal["TRANSACTIONAL", "PROMOTIONAL"] = "TRANSACTIONAL"
    # Voice only: the Amazon Polly voice, and whether the message is plain text or SSML.
    voice_id: str | None = None
    message_body_text_type: Literal["TEXT", "SSML"] = "TEXT"
    # Seconds the service keeps trying to deliver (its default is 72 hours).
    time_to_live: int | None = Field(default=None, ge=5, le=259_200)
    max_price: str | None = Field(default=None, pattern=r"^[0-9]{0,2}\.[0-9]{0,5}$")
    protect_configuration_id: str | None = None
    region: str | None = Field(default=None, pattern=_REGION_PATTERN)
    timeout_seconds: float = Field(default=5.0, gt=0, le=SDK_TIMEOUT_MAX_SECONDS)
    # The origination identity's messages per second (MPS), for every sender together.
    # Paced through the ledger (journey_activity.pacing);
    # unset: not paced (the provider's throttling is retried).
    send_rate: float | None = Field(default=None, gt=0, le=10_000)


class PushProviderConfig(BaseModel):
    """AWS End User Messaging Push (Pinpoint ``SendMessages`` to device tokens): a synchronous outcome."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["push"]
    name: str = Field(default="push", pattern=_NAME_PATTERN)
    application_id: str = Field(min_length=1, max_length=64)
    region: str | None = Field(default=None, pattern=_REGION_PATTERN)
    timeout_seconds: float = Field(default=5.0, gt=0, le=SDK_TIMEOUT_MAX_SECONDS)
    # Messages a second for every sender together (paced through the ledger: journey_activity.pacing);
    # unset: not paced (the provider's throttling is retried).
    send_rate: float | None = Field(default=None, gt=0, le=10_000)


class TwilioProviderConfig(BaseModel):
    """Twilio Programmable Messaging (REST send, ``StatusCallback`` receipts to ``/receipts/{name}``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["twilio"]
    name: str = Field(default="twilio", pattern=_NAME_PATTERN)
    account_sid: str = Field(min_length=1, max_length=64)
    # A secret reference ("secretsmanager:<arn>" / "ssm:<name>") to the account's auth token: it
    # authenticates the sends and is the key of the status callbacks' signatures. Its value may
    # hold two comma-separated tokens while one is rotated (the first one sends).
    auth_token: str = Field(min_length=1)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # Send as WhatsApp ("whatsapp:" before To and From); an address already so prefixed is WhatsApp anyway.
    whatsapp: bool = False
    api_base_url: str = "https://api.twilio.com"
    # The public URL Twilio posts status callbacks to (and signs), exactly as Twilio requests it;
    # unset: PROVIDER_CALLBACK_BASE_URL + "/receipts/<name>" (the callback function rebuilds the same).
    callback_url: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=SDK_TIMEOUT_MAX_SECONDS)
    # Messages a second for every sender together (paced through the ledger: journey_activity.pacing);
    # unset: not paced (the provider's throttling is retried).
    send_rate: float | None = Field(default=None, gt=0, le=10_000)

    @field_validator("auth_token")
    @classmethod
    def _token_reference(cls, value: str) -> str:
        # A token written into CHANNEL_PROVIDERS would sit in the function's configuration in clear.
        if not is_reference(value):
            raise ValueError("must be a secret reference: 'secretsmanager:<arn or name>' or 'ssm:<parameter name>'")
        return value

    @model_validator(mode="after")
    def _sender(self) -> TwilioProviderConfig:
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("from_number or messaging_service_sid is required")
        return self


PROVIDER_TYPES = ("http", "ses", "sms-voice", "push", "twilio")


def _provider_type(value: Any) -> str:
    """The union's tag: ``type``, which the generic HTTP provider may leave out (as before)."""
    if isinstance(value, Mapping):
        return str(value.get("type", "http"))
    return str(getattr(value, "type", "http"))


# How one channel type is sent: ``type`` picks the model (each forbids unknown fields) and the
# adapter (journey_activity.providers.provider_for).
ProviderConfig: TypeAlias = Annotated[
    Annotated[HttpProviderConfig, Tag("http")]
    | Annotated[SesProviderConfig, Tag("ses")]
    | Annotated[SmsVoiceProviderConfig, Tag("sms-voice")]
    | Annotated[PushProviderConfig, Tag("push")]
    | Annotated[TwilioProviderConfig, Tag("twilio")],
    Discriminator(
        _provider_type,
        custom_error_type="unknown_provider_type",
        custom_error_message=f"unknown provider type; use one of {list(PROVIDER_TYPES)}",
    ),
]


# Where an action without "address" finds a profile's address (Customer Profiles' standard fields,
# camelCase as in CustomerData; "email" is what the admin guide's own example uses). First present wins.
DEFAULT_ADDRESS_FIELDS: dict[str, tuple[str, ...]] = {
    ChannelType.EMAIL: ("emailAddress", "personalEmailAddress", "businessEmailAddress", "email"),
    ChannelType.SMS: ("mobilePhoneNumber", "phoneNumber", "homePhoneNumber", "businessPhoneNumber"),
    ChannelType.VOICE: ("mobilePhoneNumber", "phoneNumber", "homePhoneNumber", "businessPhoneNumber"),
}


class ConnectAction(BaseModel):
    """What one Amazon Connect custom action sends: Connect's event names no channel and carries
    no message, so both come from here (``CONNECT_ACTIONS``, keyed by ``ActionId`` or ``"*"``)."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    # Profile fields (dotted paths into CustomerData, e.g. "attributes.pushToken"); first present wins.
    address: list[str] | None = None
    # The message template; a JSON object or array is sent as a JSON document (rendered inside its strings).
    message: str | dict[str, Any] | list[Any] = ""

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        known = sorted(c.value for c in ChannelType)
        if value not in known:
            raise ValueError(f"unknown channel type {value!r}; use one of {known}")
        return value

    @field_validator("address")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or not all(field.strip() for field in value)):
            raise ValueError("must list one or more profile field names")
        return value

    @model_validator(mode="after")
    def _address_known(self) -> ConnectAction:
        if self.address is None and self.channel not in DEFAULT_ADDRESS_FIELDS:
            raise ValueError(f'"address" is required for {self.channel} (there is no standard profile field for it)')
        return self

    def address_fields(self) -> tuple[str, ...]:
        return tuple(self.address) if self.address is not None else DEFAULT_ADDRESS_FIELDS[self.channel]

    def template(self) -> str:
        return self.message if isinstance(self.message, str) else json.dumps(self.message, ensure_ascii=False)


def _check_jmespath(name: str, expression: str) -> None:
    try:
        jmespath.compile(expression)
    except JMESPathError as error:
        # jmespath's message points at the error on a second line; a configuration error is one line.
        raise ValueError(f"{name}: invalid jmespath {expression!r}: {' '.join(str(error).split())}") from None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ledger_table: str = "journey-activity-ledger"
    state_machine_arn: str | None = None
    connect_deadline_seconds: float = Field(default=CONNECT_DEADLINE_DEFAULT_SECONDS, gt=0,
                                            le=CONNECT_DEADLINE_MAX_SECONDS)
    pinpoint_deadline_seconds: float = Field(default=PINPOINT_DEADLINE_DEFAULT_SECONDS, gt=0,
                                             le=PINPOINT_DEADLINE_MAX_SECONDS)
    # When set, the deadline of every trigger (local runs and tests); unset in a deployed stack.
    invoker_deadline_seconds: float | None = Field(default=None, gt=0, le=900)
    # At most a day: two waits in a row must fit the state machine's 3-day TimeoutSeconds backstop.
    receipt_timeout_seconds: int = Field(default=900, ge=2, le=86_400)
    receipt_heartbeat_seconds: int = Field(default=300, ge=1)
    # Step Functions reserves an execution name for 90 days after the execution closes, and an
    # execution runs up to 3 days: a Pinpoint retry of a batch within that time finds its name
    # taken and must find its records, so they are kept at least 93 days.
    ledger_ttl_days: int = Field(default=LEDGER_TTL_DEFAULT_DAYS, ge=LEDGER_TTL_MIN_DAYS)
    # channel type (or "*") -> provider; a channel mapped to null has no provider.
    channel_providers: dict[str, ProviderConfig | None] = Field(default_factory=dict)
    # The provider every channel goes to when CHANNEL_PROVIDERS has no "*" entry.
    provider_url: str | None = None
    # channel type -> regular expression an address must match in full.
    address_rules: dict[str, str] = Field(default_factory=dict)
    event_attributes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_EVENT_ATTRIBUTES))
    result_data: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RESULT_DATA))
    callback_signing_secrets: list[str] = Field(default_factory=list)
    signature_tolerance_seconds: int = Field(default=300, ge=1)
    # Where engagement events go (journey_activity.reporting). REPORT_EVENTS=false, the older
    # switch, still means "none".
    report_sink: Literal["eventbridge", "pinpoint", "none"] = "eventbridge"
    event_bus_name: str | None = None
    report_events: bool = True
    # A "sent" event per endpoint the provider accepted, before its outcome event. Off by default:
    # the outcome event carries sent_at and the provider's message id, and a second event per
    # endpoint doubles what reporting costs.
    report_sent_events: bool = False
    event_type_prefix: str = Field(default="journey_activity", min_length=1, max_length=100)
    # Amazon Connect custom actions: ActionId (or "*") -> what to send.
    connect_actions: dict[str, ConnectAction] = Field(default_factory=dict)
    # Channel family (journey_activity.senders.FAMILIES) -> its sender function's ARN (Validate).
    sender_functions: dict[str, str] = Field(default_factory=dict)

    @field_validator("channel_providers", "address_rules")
    @classmethod
    def _known_channels(cls, value: dict[str, Any]) -> dict[str, Any]:
        known = {c.value for c in ChannelType} | {"*"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown channel types {unknown}; use one of {sorted(known)}")
        return value

    @field_validator("sender_functions")
    @classmethod
    def _families(cls, value: dict[str, str]) -> dict[str, str]:
        from journey_activity.senders import FAMILIES

        unknown = sorted(set(value) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown sender families {unknown}; use {list(FAMILIES)}")
        if value and set(value) != set(FAMILIES):
            raise ValueError(f"a sender function is needed for each of {list(FAMILIES)}")
        return value

    @field_validator("address_rules")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{channel}: {error}") from None
        return value

    @field_validator("event_attributes")
    @classmethod
    def _attributes(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_EVENT_ATTRIBUTES:
            raise ValueError(f"at most {MAX_EVENT_ATTRIBUTES} EventAttributes, got {len(value)}")
        for name, expression in value.items():
            if not name or len(name) > MAX_ATTRIBUTE_CHARS:
                raise ValueError(f"attribute names are 1 to {MAX_ATTRIBUTE_CHARS} characters: {name!r}")
            _check_jmespath(name, expression)
        return value

    @field_validator("result_data")
    @classmethod
    def _result_data(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_RESULT_DATA_KEYS:
            raise ValueError(f"at most {MAX_RESULT_DATA_KEYS} ResultData keys, got {len(value)}")
        if "status" not in value:
            raise ValueError('ResultData must keep "status": journeys branch on it')
        for name, expression in value.items():
            if not name or len(name) > MAX_ATTRIBUTE_CHARS or name == "truncated":
                raise ValueError(f"ResultData keys are 1 to {MAX_ATTRIBUTE_CHARS} characters, not 'truncated': "
                                 f"{name!r}")
            _check_jmespath(name, expression)
        return value

    def deadline_seconds(self, trigger: str) -> float:
        """How long the invoker waits for outcomes before answering ``trigger`` ("connect", "pinpoint")."""
        if self.invoker_deadline_seconds is not None:
            return self.invoker_deadline_seconds
        return self.connect_deadline_seconds if trigger == "connect" else self.pinpoint_deadline_seconds

    @model_validator(mode="after")
    def _one_name_per_event_kind(self) -> Settings:
        # The receipt queue finds an AWS provider's messages by the name the senders recorded
        # them under; its events do not say which CHANNEL_PROVIDERS entry sent them.
        for kind in ("ses", "sms-voice"):
            names = sorted({c.name for c in self.channel_providers.values() if c is not None and c.type == kind})
            if len(names) > 1:
                raise ValueError(f'every "{kind}" provider must have the same name (found {names}): the receipt '
                                 "queue matches their events by it")
        return self

    @model_validator(mode="after")
    def _heartbeat_below_timeout(self) -> Settings:
        if self.receipt_heartbeat_seconds >= self.receipt_timeout_seconds:
            raise ValueError("RECEIPT_HEARTBEAT_SECONDS must be smaller than RECEIPT_TIMEOUT_SECONDS")
        return self

    def connect_action(self, action_id: str) -> ConnectAction | None:
        """The action's own entry, else ``"*"``, else none (its profiles are skipped)."""
        return self.connect_actions.get(action_id) or self.connect_actions.get("*")

    @property
    def effective_report_sink(self) -> str:
        return self.report_sink if self.report_events else "none"

    def provider_for(self, channel: str) -> ProviderConfig | None:
        """The channel's provider: its own entry, else ``"*"``; an explicit null means none."""
        if channel in self.channel_providers:
            return self.channel_providers[channel]
        if "*" in self.channel_providers:
            return self.channel_providers["*"]
        return HttpProviderConfig(url=self.provider_url) if self.provider_url else None


_ENV: dict[str, tuple[str, bool]] = {
    # field: (variable, is JSON)
    "ledger_table": ("LEDGER_TABLE", False),
    "state_machine_arn": ("STATE_MACHINE_ARN", False),
    "connect_deadline_seconds": ("CONNECT_DEADLINE_SECONDS", False),
    "pinpoint_deadline_seconds": ("PINPOINT_DEADLINE_SECONDS", False),
    "invoker_deadline_seconds": ("INVOKER_DEADLINE_SECONDS", False),
    "receipt_timeout_seconds": ("RECEIPT_TIMEOUT_SECONDS", False),
    "receipt_heartbeat_seconds": ("RECEIPT_HEARTBEAT_SECONDS", False),
    "ledger_ttl_days": ("LEDGER_TTL_DAYS", False),
    "channel_providers": ("CHANNEL_PROVIDERS", True),
    "provider_url": ("PROVIDER_URL", False),
    "address_rules": ("ADDRESS_RULES", True),
    "event_attributes": ("EVENT_ATTRIBUTES", True),
    "result_data": ("RESULT_DATA", True),
    "signature_tolerance_seconds": ("SIGNATURE_TOLERANCE_SECONDS", False),
    "report_sink": ("REPORT_SINK", False),
    "event_bus_name": ("EVENT_BUS_NAME", False),
    "report_events": ("REPORT_EVENTS", False),
    "report_sent_events": ("REPORT_SENT_EVENTS", False),
    "event_type_prefix": ("EVENT_TYPE_PREFIX", False),
    "connect_actions": ("CONNECT_ACTIONS", True),
    "sender_functions": ("SENDER_FUNCTIONS", True),
}


def default_signing_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The default receipt secret(s): ``CALLBACK_SIGNING_SECRET`` and the value of
    ``CALLBACK_SIGNING_SECRET_ARN``, read through the same 5-minute cache as provider secrets
    (:func:`journey_activity.security.resolve_reference`), so a rotation reaches warm containers.
    Call it per request, not once per container."""
    environ = os.environ if environ is None else environ
    secrets = [s for s in environ.get("CALLBACK_SIGNING_SECRET", "").split(",") if s]
    arn = environ.get("CALLBACK_SIGNING_SECRET_ARN")
    if arn:
        reference = arn if is_reference(arn) else f"{SECRETS_MANAGER_PREFIX}{arn}"
        secrets.extend(s for s in resolve_reference(reference).split(",") if s)
    return secrets


def settings_from(environ: Mapping[str, str], *, with_secrets: bool = False,
                  document: Mapping[str, Any] | None = None, source: str = "") -> Settings:
    """Build :class:`Settings` from an environment mapping; empty variables mean the default.

    ``document`` is a configuration object's content (:func:`read_configuration_object`, read
    from ``source``): its keys are variable names of :data:`OBJECT_KEYS`, its values JSON values
    (an object, not a string holding one). A key set both there and in ``environ`` is refused."""
    values: dict[str, Any] = {}
    from_object: set[str] = set()
    if document is not None:
        values, from_object = _object_values(environ, document, source)
    for field, (variable, is_json) in _ENV.items():
        raw = environ.get(variable, "").strip()
        if not raw or field in from_object:
            continue
        if is_json:
            try:
                values[field] = json.loads(raw)
            except json.JSONDecodeError as error:
                raise ConfigurationError(f"{variable} is not valid JSON: {error}") from None
        else:
            values[field] = raw
    if with_secrets:
        values["callback_signing_secrets"] = default_signing_secrets(environ)
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        names = {field: variable for field, (variable, _) in _ENV.items()}

        def where(field: str) -> str:
            name = names.get(field, field)
            return f"{source}: {name}" if field in from_object else name

        problems = "; ".join(
            f"{where(str(e['loc'][0])) if e['loc'] else 'configuration'}"
            f"{'.' + '.'.join(map(str, e['loc'][1:])) if len(e['loc']) > 1 else ''}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise ConfigurationError(problems) from None


# -- the configuration object (CONFIGURATION_OBJECT) ------------------------------------------------

CONFIGURATION_OBJECT_VARIABLE = "CONFIGURATION_OBJECT"
# The settings a configuration object may hold: the ones a user writes (the template's parameters
# of the same meaning), which can outgrow Lambda's 4 KB of environment. The variables the template
# sets itself (LEDGER_TABLE, STATE_MACHINE_ARN, SENDER_FUNCTIONS, ...) stay in the environment.
OBJECT_KEYS = ("CONNECT_ACTIONS", "CHANNEL_PROVIDERS", "PROVIDER_URL", "ADDRESS_RULES", "EVENT_ATTRIBUTES",
               "RESULT_DATA")
# Far above any real document (a message template is kept up to ledger.MAX_TEMPLATE_BYTES), and a
# bound on what one read holds in memory.
MAX_CONFIGURATION_OBJECT_BYTES = 4 * 1024 * 1024
# s3://bucket/key: S3's bucket naming rules (3-63 characters, lower case, digits, dots, hyphens).
_OBJECT_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")


def parse_object_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``; a ConfigurationError names what is wrong."""
    found = _OBJECT_URI.match(uri)
    if found is None or "?" in found.group(2):
        raise ConfigurationError(f"{CONFIGURATION_OBJECT_VARIABLE} must be s3://<bucket>/<key> (no version or "
                                 f"query: upload each change under a new key); got {uri!r}")
    return found.group(1), found.group(2)


def _object_values(environ: Mapping[str, str], document: Mapping[str, Any],
                   source: str) -> tuple[dict[str, Any], set[str]]:
    """The fields a configuration object sets, and which they are."""
    unknown = sorted(set(document) - set(OBJECT_KEYS))
    if unknown:
        raise ConfigurationError(f"{source}: unknown keys {unknown}; a configuration object holds "
                                 f"{list(OBJECT_KEYS)}")
    both = sorted(name for name in document if environ.get(name, "").strip())
    if both:
        raise ConfigurationError(
            f"{', '.join(both)} set both in the environment and in {source}: set each in one place "
            "(leave the template parameter empty when the configuration object holds it)")
    fields = {variable: field for field, (variable, _) in _ENV.items()}
    strings = sorted(name for name, value in document.items() if _ENV[fields[name]][1] and isinstance(value, str))
    if strings:
        raise ConfigurationError(f"{source}: {', '.join(strings)} must be a JSON value (an object), not a string "
                                 "holding JSON")
    values = {fields[name]: value for name, value in document.items()}
    return values, set(values)


def read_configuration_object(uri: str) -> dict[str, Any]:
    """The JSON document at ``s3://bucket/key`` (one GetObject). Throttling is raised as it
    comes (the handlers turn it into AwsThrottled, which the state machine retries); anything
    else that keeps it from being read is a ConfigurationError naming the object."""
    from botocore.exceptions import BotoCoreError, ClientError

    from journey_activity import aws

    bucket, key = parse_object_uri(uri)
    try:
        response = aws.client("s3").get_object(Bucket=bucket, Key=key)
        size = int(response.get("ContentLength") or 0)
        if size > MAX_CONFIGURATION_OBJECT_BYTES:
            raise ConfigurationError(f"the configuration object {uri} is {size} bytes; at most "
                                     f"{MAX_CONFIGURATION_OBJECT_BYTES} are read")
        body = response["Body"].read()
    except ClientError as error:
        if aws.is_throttling(error):
            raise
        code = error.response.get("Error", {}).get("Code", "")
        why = {"NoSuchKey": "it does not exist", "NoSuchBucket": f"the bucket {bucket} does not exist",
               "AccessDenied": "access denied (the function's role must allow s3:GetObject on "
                               f"arn:aws:s3:::{bucket}/{key}; the template grants it for ConfigurationObject)"}
        raise ConfigurationError(f"cannot read the configuration object {uri}: "
                                 f"{why.get(code, f'{code}: {error}')}") from None
    except BotoCoreError as error:
        raise ConfigurationError(f"cannot read the configuration object {uri}: {error}") from None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigurationError(f"the configuration object {uri} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"the configuration object {uri} must be a JSON object "
                                 f'{{"CONNECT_ACTIONS": {{...}}, ...}}; got {type(document).__name__}')
    return document


def load_settings(environ: Mapping[str, str], *, with_secrets: bool = False,
                  documents: dict[str, dict[str, Any]] | None = None) -> Settings:
    """The settings from the environment and, when ``CONFIGURATION_OBJECT`` names one, the
    configuration object it names (read once into ``documents``, when given, and kept there)."""
    uri = environ.get(CONFIGURATION_OBJECT_VARIABLE, "").strip()
    if not uri:
        return settings_from(environ, with_secrets=with_secrets)
    document = documents.get(uri) if documents is not None else None
    if document is None:
        document = read_configuration_object(uri)
        if documents is not None:
            documents[uri] = document
    return settings_from(environ, with_secrets=with_secrets, document=document, source=uri)


_settings: dict[bool, Settings] = {}
# The configuration object's document by URI: one GetObject per container, whichever settings ask.
_documents: dict[str, dict[str, Any]] = {}
_settings_lock = threading.Lock()


def _cached(with_secrets: bool) -> Settings:
    found = _settings.get(with_secrets)
    if found is not None:
        return found
    with _settings_lock:  # one reader of the environment (and of the secret), not one per thread
        if with_secrets not in _settings:
            _settings[with_secrets] = load_settings(os.environ, with_secrets=with_secrets, documents=_documents)
        return _settings[with_secrets]


def get_settings() -> Settings:
    """The container's settings (cached: environment variables do not change in a container, and
    the configuration object is read once per container; a failed read is not cached)."""
    return _cached(False)


def get_settings_with_secrets() -> Settings:
    """The settings and the receipt signing secrets as they were first read. The callback reads
    the secrets per request (:func:`default_signing_secrets`), so a rotation is seen."""
    return _cached(True)


def reset_settings_cache() -> None:
    """Forget cached settings (the local runtime and tests change the environment)."""
    with _settings_lock:
        _settings.clear()
        _documents.clear()
