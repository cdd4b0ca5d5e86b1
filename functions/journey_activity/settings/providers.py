"""The providers' settings: how each channel is sent (``CHANNEL_PROVIDERS``, ``PROVIDER_URL``), one
model per provider type, read by the functions that send or take receipts (the senders, the receipt
queue, the callback) and Validate. The invoker never imports this module."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from journey_activity.models.channels import ChannelType
from journey_activity.security import SECRETS_MANAGER_PREFIX, SSM_PREFIX, is_reference
from journey_activity.settings.base import FunctionSettings, cached_settings

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


def known_channels(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` when its keys are channel types (or ``"*"``)."""
    known = {c.value for c in ChannelType} | {"*"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown channel types {unknown}; use one of {sorted(known)}")
    return value


class ProviderSettings(FunctionSettings):
    """What the senders and the receipt queue read: the providers."""

    # channel type (or "*") -> provider; a channel mapped to null has no provider.
    channel_providers: dict[str, ProviderConfig | None] = Field(default_factory=dict)
    # The provider every channel goes to when CHANNEL_PROVIDERS has no "*" entry.
    provider_url: str | None = None

    @field_validator("channel_providers")
    @classmethod
    def _known_channels(cls, value: dict[str, Any]) -> dict[str, Any]:
        return known_channels(value)

    @model_validator(mode="after")
    def _one_name_per_event_kind(self) -> ProviderSettings:
        # The receipt queue finds an AWS provider's messages by the name the senders recorded
        # them under; its events do not say which CHANNEL_PROVIDERS entry sent them.
        for kind in ("ses", "sms-voice"):
            names = sorted({c.name for c in self.channel_providers.values() if c is not None and c.type == kind})
            if len(names) > 1:
                raise ValueError(f'every "{kind}" provider must have the same name (found {names}): the receipt '
                                 "queue matches their events by it")
        return self

    def provider_for(self, channel: str) -> ProviderConfig | None:
        """The channel's provider: its own entry, else ``"*"``; an explicit null means none."""
        if channel in self.channel_providers:
            return self.channel_providers[channel]
        if "*" in self.channel_providers:
            return self.channel_providers["*"]
        return HttpProviderConfig(url=self.provider_url) if self.provider_url else None


def get_provider_settings() -> ProviderSettings:
    """The senders' and the receipt queue's settings, read once per container."""
    return cached_settings(ProviderSettings)
