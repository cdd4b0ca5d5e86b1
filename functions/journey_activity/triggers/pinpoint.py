"""Amazon Pinpoint custom channel: event in, ``{endpointId: {"EventAttributes": {...}}}`` out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from journey_activity.compile import compile_batch
from journey_activity.errors import PayloadError
from journey_activity.models.batch import Batch, BatchContext, Recipient
from journey_activity.models.pinpoint import PinpointEndpoint, PinpointEvent
from journey_activity.triggers import TriggerAdapter, has_shape
from journey_activity.triggers.common import batch_id_for, describe_validation_error
from journey_activity.triggers.common import is_unicode as _is_unicode
from journey_activity.triggers.common import unusable as _unusable

if TYPE_CHECKING:
    from journey_activity.settings.invoker import InvokerSettings

SOURCE = "pinpoint"
# Pinpoint's endpoints are a few levels deep. A deeper one is skipped as invalid: pydantic's
# serializer gives up near 255 levels, and the batch's execution could not even be started.
MAX_ENDPOINT_DEPTH = 32

__all__ = ["ADAPTER", "batch_id_for", "describe_validation_error", "to_batch", "to_response"]


def _recipient(endpoint_id: str, raw: Any) -> Recipient:
    if not isinstance(raw, dict):
        return Recipient(endpoint_id=endpoint_id, channel="UNKNOWN", invalid="the endpoint is not an object")
    problem = _unusable(raw, MAX_ENDPOINT_DEPTH)
    if problem:
        channel = raw.get("ChannelType")
        if not (isinstance(channel, str) and channel and _is_unicode(channel)):
            channel = "UNKNOWN"
        return Recipient(endpoint_id=endpoint_id, channel=channel[:32], invalid=f"the endpoint {problem}")
    try:
        endpoint = PinpointEndpoint.model_validate(raw)
    except ValidationError as error:
        channel = raw.get("ChannelType")
        return Recipient(
            endpoint_id=endpoint_id,
            channel=str(channel)[:32] if isinstance(channel, str) and channel else "UNKNOWN",
            address=str(raw.get("Address") or ""),
            invalid=describe_validation_error(error)[:500],
            profile=raw,
        )
    profile = endpoint.model_dump(mode="json", exclude_none=True)
    profile.setdefault("Id", endpoint_id)
    profile.setdefault("EndpointId", endpoint_id)
    return Recipient(
        endpoint_id=endpoint_id,
        channel=endpoint.ChannelType.value,
        address=(endpoint.Address or "").strip(),
        opted_out=(endpoint.OptOut or "NONE").upper() == "ALL",
        active=(endpoint.EndpointStatus or "ACTIVE").upper() != "INACTIVE",
        profile=profile,
    )


def to_batch(payload: Any, settings: InvokerSettings | None = None) -> Batch:
    """Parse a Pinpoint custom-channel event. Raises :class:`PayloadError` naming what is wrong."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the event must be a JSON object, not {type(payload).__name__}")
    try:
        event = PinpointEvent.model_validate(payload)
    except ValidationError as error:
        raise PayloadError(describe_validation_error(error)) from None
    for name in ("ApplicationId", "JourneyId", "CampaignId", "ActivityId", "TreatmentId", "ScheduledTime", "Data"):
        value = getattr(event, name)
        if value is not None and not _is_unicode(value):
            raise PayloadError(f"{name} is not valid Unicode (it holds a lone surrogate)")
    unreadable = [endpoint_id for endpoint_id in event.Endpoints if not _is_unicode(endpoint_id)]
    if unreadable:
        raise PayloadError(f"Endpoints: {len(unreadable)} endpoint id(s) are not valid Unicode (a lone surrogate), "
                           f"e.g. {ascii(unreadable[0])[:80]}")
    context = BatchContext(
        batch_id=batch_id_for(payload),
        source=SOURCE,
        application_id=event.ApplicationId,
        journey_id=event.JourneyId,
        campaign_id=event.CampaignId,
        activity_id=event.ActivityId,
        treatment_id=event.TreatmentId,
        scheduled_time=event.ScheduledTime,
        template=event.Data,
    )
    recipients = [_recipient(endpoint_id, raw) for endpoint_id, raw in event.Endpoints.items()]
    return Batch(context=context, recipients=recipients)


def to_response(attributes_by_endpoint: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
    """The synchronous response Pinpoint's journey splits read."""
    return {endpoint_id: {"EventAttributes": dict(attrs)} for endpoint_id, attrs in attributes_by_endpoint.items()}


def recognizes(event: Mapping[str, Any]) -> bool:
    """A Pinpoint event: it has ``Endpoints`` or ``ApplicationId`` (:data:`journey_activity.triggers.SHAPES`)."""
    return has_shape(SOURCE, event)


def endpoint_ids(event: Any) -> list[str]:
    """The event's endpoint ids, in order."""
    endpoints = event.get("Endpoints") if isinstance(event, dict) else None
    return list(endpoints) if isinstance(endpoints, dict) else []


def answered(response: Any) -> dict[str, dict[str, str]]:
    """Each answered endpoint's ``EventAttributes``, by its id."""
    if not isinstance(response, dict):
        return {}
    return {str(key): dict(value.get("EventAttributes") or {}) for key, value in response.items()
            if isinstance(value, dict)}


ADAPTER = TriggerAdapter(
    source=SOURCE,
    name="a Pinpoint custom-channel event",
    expects="ApplicationId and Endpoints",
    recognizes=recognizes,
    to_batch=to_batch,
    to_response=lambda batch, results, settings: to_response(
        compile_batch(batch.recipients, results, settings.event_attributes)),
    batch_id_for=batch_id_for,
    endpoint_ids=endpoint_ids,
    answered=answered,
)
