"""The local run's provider stand-ins, by kind: ``journey-activity run --provider CHANNEL=KIND``.

Each kind (``http``, ``ses``, ``sms-voice``, ``push``, ``twilio``) registers a factory here; the
stack starts one stand-in per kind in use (channels of one kind share it) and gives the functions
each stand-in's ``provider_config(channel)`` as that channel's ``CHANNEL_PROVIDERS`` entry and its
``environment()`` (e.g. ``AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2``). Every stand-in obeys the same
behaviour words as the generic one (:data:`journey_activity_local.standins.http.BEHAVIOURS`),
keyed by recipient address, so ``--behave`` means the same whatever the provider.

A module registers its kind at import (``register(KIND, factory)``); :data:`MODULES` says which
module holds each kind, so only the kinds in use are imported.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, runtime_checkable

from journey_activity_local.engine.token_bucket import TokenBucket

KINDS = ("http", "ses", "sms-voice", "push", "twilio")
# kind -> the module whose import registers it.
MODULES: dict[str, str] = {
    "http": "journey_activity_local.standins.http",
    "ses": "journey_activity_local.standins.ses",
    "sms-voice": "journey_activity_local.standins.sms_voice",
    "push": "journey_activity_local.standins.push",
    "twilio": "journey_activity_local.standins.twilio",
}


@dataclass(frozen=True)
class StandInSetup:
    """What the stack knows when it starts the stand-ins: where receipts go, and how to behave."""

    # The local HTTP API's base URL (``POST {receipts_base_url}/receipts/{provider}``).
    receipts_base_url: str
    # The default receipt signing secret (the generic provider's receipts are signed with it).
    signing_secret: str
    # moto's server (the local AWS: SNS, SQS, SES...) and the region.
    aws_endpoint: str = ""
    region: str = "us-east-1"
    receipt_delay: float = 0.2
    latency: float = 0.0
    behaviours: Mapping[str, str] = field(default_factory=dict)
    progress_receipts: bool = False
    # The local provider-events SNS topic (it feeds the receipt queue), where AWS providers' stand-ins
    # publish their events; empty when the template has no receipt queue.
    receipt_topic_arn: str = ""
    # The template's configuration sets, by the names the stack gives them.
    email_configuration_set: str = ""
    sms_voice_configuration_set: str = ""
    # Messages a second the provider accepts (all senders together; one second's worth may come at
    # once); past it a send is answered with the provider's own throttling error. None: no limit.
    send_rate: float | None = None
    # The stack's local Pinpoint PutEvents endpoint (``LocalPinpointEvents``): a stand-in that takes
    # over ``AWS_ENDPOINT_URL_PINPOINT`` (push) hands ``PutEvents`` to it.
    pinpoint_events: Any = None


@runtime_checkable
class StandIn(Protocol):
    """A provider stand-in: a context manager serving the provider's real wire format."""

    @property
    def url(self) -> str: ...

    @property
    def sends(self) -> list[dict[str, Any]]:
        """Every message accepted, once each."""
        ...

    @property
    def duplicate_sends(self) -> int:
        """Requests for a message already accepted (the same idempotency key or recipient and body)."""
        ...

    def set_behaviour(self, address: str, behaviour: str) -> None: ...

    def provider_config(self, channel: str) -> dict[str, Any]:
        """The channel's ``CHANNEL_PROVIDERS`` entry pointing at this stand-in."""
        ...

    def environment(self) -> dict[str, str]:
        """Variables the functions need to reach this stand-in (per-service endpoint URLs)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Its URL and credentials, for ``journey-activity serve``."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class SendLog:
    """What every provider stand-in keeps: the ``--behave`` word per address, each accepted message
    once (``sends``), attempts per idempotency key, and requests for a message already accepted
    (``duplicate_sends``: the provider would send it twice, none of these APIs de-duplicates)."""

    def __init__(self, behaviours: Mapping[str, str], send_rate: float | None = None) -> None:
        from journey_activity_local.standins.http import Behaviour

        self._behaviours = {address: Behaviour.parse(value) for address, value in behaviours.items()}
        self.rate_limit = TokenBucket(send_rate)
        self._lock = threading.Lock()
        self._sends: list[dict[str, Any]] = []
        self._attempts: defaultdict[str, int] = defaultdict(int)
        self._duplicates = 0

    @property
    def sends(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._sends)

    @property
    def duplicate_sends(self) -> int:
        with self._lock:
            return self._duplicates

    def set_behaviour(self, address: str, behaviour: str) -> None:
        from journey_activity_local.standins.http import Behaviour

        parsed = Behaviour.parse(behaviour)
        with self._lock:
            self._behaviours[address] = parsed

    def behaviour_for(self, address: str) -> Any:
        """The address's :class:`~journey_activity_local.standins.http.Behaviour` (default: deliver)."""
        from journey_activity_local.standins.http import DEFAULT_BEHAVIOUR, Behaviour

        with self._lock:
            return self._behaviours.get(address, Behaviour(DEFAULT_BEHAVIOUR))

    def admit(self, address: str) -> Any:
        """The behaviour for this send request: the address's, or ``throttle`` (the provider's own
        throttling answer) when the request is over the stand-in's send rate."""
        from journey_activity_local.standins.http import Behaviour

        return self.behaviour_for(address) if self.rate_limit.admit() else Behaviour("throttle")


Factory = Callable[[StandInSetup], StandIn]
_FACTORIES: dict[str, Factory] = {}


def register(kind: str, factory: Factory) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown provider kind {kind!r}; use one of {list(KINDS)}")
    _FACTORIES[kind] = factory


def factory_for(kind: str) -> Factory:
    """The kind's factory, importing its module on first use."""
    if kind not in KINDS:
        raise ValueError(f"unknown provider kind {kind!r}; use one of {list(KINDS)}")
    if kind not in _FACTORIES:
        try:
            importlib.import_module(MODULES[kind])
        except ModuleNotFoundError as error:
            if error.name != MODULES[kind]:
                raise
            raise ValueError(f"provider kind {kind!r} has no local stand-in in this build") from None
    if kind not in _FACTORIES:
        raise ValueError(f"provider kind {kind!r} has no local stand-in in this build")
    return _FACTORIES[kind]


@functools.lru_cache(maxsize=8)
def service_model(service: str) -> Any:
    """botocore's model of a service, loaded once per process: the stand-ins check every request
    against it, and loading it took 15 ms of the engine's CPU per request."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def publish_event(setup: StandInSetup, record: Mapping[str, Any]) -> None:
    """Publish a provider's event record to the local provider-events topic, as the service
    publishes to its configuration set's SNS destination (which delivers it to the receipt queue)."""
    import json
    import logging

    import boto3

    if not setup.receipt_topic_arn:
        logging.getLogger(__name__).warning("no provider-events topic: the event is not published")
        return
    try:
        boto3.client("sns", region_name=setup.region).publish(TopicArn=setup.receipt_topic_arn,
                                                             Message=json.dumps(record))
    except Exception as error:  # the environment is closing
        logging.getLogger(__name__).debug("publish failed", extra={"error": str(error)})


def parse_provider_options(values: list[str] | None) -> dict[str, str]:
    """``["EMAIL=ses", "SMS=sms-voice"]`` -> ``{"EMAIL": "ses", "SMS": "sms-voice"}``, checked:
    the channel must be a known channel type and the kind a registered kind."""
    from journey_activity.models.channels import ChannelType

    channels = sorted(c.value for c in ChannelType)
    chosen: dict[str, str] = {}
    for value in values or []:
        channel, sep, kind = value.partition("=")
        channel, kind = channel.strip().upper(), kind.strip().lower()
        if not sep or not channel or not kind:
            raise ValueError(f"--provider {value!r}: expected CHANNEL=KIND, e.g. EMAIL=ses")
        if channel not in channels:
            raise ValueError(f"--provider {value!r}: unknown channel {channel!r}; use one of {channels}")
        if kind not in KINDS:
            raise ValueError(f"--provider {value!r}: unknown kind {kind!r}; use one of {list(KINDS)}")
        if chosen.get(channel, kind) != kind:
            raise ValueError(f"--provider: {channel} is given twice ({chosen[channel]} and {kind})")
        chosen[channel] = kind
    return chosen


def _http_factory(setup: StandInSetup) -> StandIn:
    from journey_activity_local.standins.http import ProviderStandIn

    return ProviderStandIn(
        callback_url=f"{setup.receipts_base_url}/receipts/http",
        signing_secret=setup.signing_secret,
        receipt_delay=setup.receipt_delay,
        latency=setup.latency,
        behaviours=dict(setup.behaviours),
        progress_receipts=setup.progress_receipts,
        send_rate=setup.send_rate,
    )


# Today's generic stand-in; registered here (not in its module) so the registry never imports
# the module for the default kind before it is needed.
_FACTORIES["http"] = _http_factory
