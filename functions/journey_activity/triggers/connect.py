"""Amazon Connect outbound campaigns, journey custom action: event in, ``{"Items": {"CustomerProfiles":
[{"Id", "ResultData"}]}}`` out.

Connect's event names no channel and carries no message: the action's entry in ``CONNECT_ACTIONS``
says what to send and where a profile's address is. Every readable ``ProfileId`` is answered exactly
once, in input order (a missing entry fails that profile in Connect, a raised error every profile).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from journey_activity.compile import every_result, fit_result_data, json_size, result_data
from journey_activity.errors import PayloadError
from journey_activity.models.batch import Batch, BatchContext, Recipient
from journey_activity.models.connect import ConnectEvent
from journey_activity.triggers import Results, TriggerAdapter, has_shape
from journey_activity.triggers.common import batch_id_for as _batch_id_for
from journey_activity.triggers.common import describe_validation_error, is_unicode, unusable

if TYPE_CHECKING:
    from journey_activity.settings.invoker import ConnectAction, InvokerSettings

SOURCE = "connect"
MAX_PROFILE_DEPTH = 32
# Connect documents "32 KB per customer profile" (over it "the invocation will be marked as invalid");
# read on the safe side: 32,000 bytes for a profile's whole entry, its Id included.
MAX_PROFILE_ANSWER_BYTES = 32_000
# Lambda's synchronous response is at most 6 MB; the whole answer stays below it with a margin.
MAX_ANSWER_BYTES = 6 * 1024 * 1024 - 64 * 1024
# DynamoDB's limit on a sort key: the profile id is the ledger record's.
MAX_PROFILE_ID_BYTES = 1024
# Customer Profiles' address objects in CustomerData, and the prefix Connect's attribute names give
# their fields ($.Customer.City, $.Customer.ShippingCity, ...).
_ADDRESSES = (("address", ""), ("shippingAddress", "Shipping"), ("mailingAddress", "Mailing"),
              ("billingAddress", "Billing"))

logger = Logger(child=True)


def batch_id_for(payload: Any) -> str:
    """``connect-`` and a hash of the payload: a retried identical invocation joins the same run."""
    return _batch_id_for(payload, SOURCE)


def recognizes(event: Mapping[str, Any]) -> bool:
    """A Connect event: it has ``InvocationMetadata`` or ``Items`` (:data:`journey_activity.triggers.SHAPES`)."""
    return has_shape(SOURCE, event)


def _readable_id(raw: Any) -> str | None:
    profile_id = raw.get("ProfileId") if isinstance(raw, dict) else None
    if isinstance(profile_id, str) and profile_id and is_unicode(profile_id):
        return profile_id
    return None


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def customer_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """The profile as Connect's message templates name it (``{{Attributes.Customer.FirstName}}``):
    Customer Profiles' fields in PascalCase, each address's fields flattened with its prefix
    (``City``, ``ShippingPostalCode``), custom attributes under ``Attributes`` as they are."""
    view: dict[str, Any] = {_pascal(key): value for key, value in data.items() if key}
    for field, prefix in _ADDRESSES:
        address = data.get(field)
        if isinstance(address, dict):
            view.update({prefix + _pascal(key): value for key, value in address.items() if key})
    return view


def _select(profile: Mapping[str, Any], path: str) -> Any:
    value: Any = profile
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part.strip())
    return value


def find_address(profile: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The first of ``fields`` present in the profile ("" when none is)."""
    for field in fields:
        value = _select(profile, field)
        if value is None or isinstance(value, bool):
            continue
        text = value.strip() if isinstance(value, str) else json.dumps(value, ensure_ascii=False)[:256]
        if text:
            return text
    return ""


def _recipient(profile_id: str, raw: dict[str, Any], action: ConnectAction | None, action_id: str) -> Recipient:
    channel = action.channel if action else "UNKNOWN"

    def invalid(reason: str, why: str) -> Recipient:
        return Recipient(endpoint_id=profile_id, channel=channel, invalid=why[:500], invalid_reason=reason)

    if action is None:
        return invalid("action_not_configured", f"CONNECT_ACTIONS has no entry for ActionId {action_id!r} and no '*'")
    if len(profile_id.encode()) > MAX_PROFILE_ID_BYTES:
        return invalid("invalid_profile", f"ProfileId is longer than {MAX_PROFILE_ID_BYTES} bytes")
    token = raw.get("IdempotencyToken")
    if not (isinstance(token, str) and token and is_unicode(token)):
        return invalid("invalid_profile", "IdempotencyToken is missing or not a string")
    text = raw.get("CustomerData")
    if not isinstance(text, str):
        return invalid("invalid_profile", "CustomerData is not a JSON string")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        return invalid("invalid_profile", f"CustomerData is not JSON: {getattr(error, 'msg', 'nested too deep')}")
    if not isinstance(data, dict):
        return invalid("invalid_profile", f"CustomerData is not a JSON object but {type(data).__name__}")
    problem = unusable(data, MAX_PROFILE_DEPTH)
    if problem:
        return invalid("invalid_profile", f"CustomerData {problem}")
    profile = {"ProfileId": profile_id, "Profile": data, "Attributes": {"Customer": customer_view(data)}}
    return Recipient(endpoint_id=profile_id, channel=channel, address=find_address(data, action.address_fields()),
                     profile=profile, claim_key=token)


def to_batch(payload: Any, settings: InvokerSettings) -> Batch:
    """Parse a custom-action event. Raises :class:`PayloadError` when the envelope is unusable;
    a bad profile is skipped with a reason, a profile without a readable ``ProfileId`` cannot be
    answered and is left out (logged)."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the event must be a JSON object, not {type(payload).__name__}")
    try:
        event = ConnectEvent.model_validate(payload)
    except ValidationError as error:
        raise PayloadError(describe_validation_error(error)) from None
    campaign = event.InvocationMetadata.CampaignContext
    for name in ("CampaignId", "RunId", "ActionId", "CampaignName"):
        value = getattr(campaign, name)
        if value is not None and not is_unicode(value):
            raise PayloadError(f"InvocationMetadata.CampaignContext.{name} is not valid Unicode (a lone surrogate)")
    action = settings.connect_action(campaign.ActionId)
    if action is None and event.Items.CustomerProfiles:
        logger.error("Configuration error: CONNECT_ACTIONS has no entry for this ActionId and no '*'; "
                     "its profiles are skipped", extra={"action_id": campaign.ActionId})
    recipients: list[Recipient] = []
    seen: set[str] = set()
    unreadable = duplicates = 0
    for raw in event.Items.CustomerProfiles:
        profile_id = _readable_id(raw)
        if profile_id is None:
            unreadable += 1
        elif profile_id in seen:
            duplicates += 1
        else:
            seen.add(profile_id)
            recipients.append(_recipient(profile_id, raw, action, campaign.ActionId))
    if unreadable or duplicates:
        logger.warning("Profiles left out of the answer (no readable ProfileId) or answered once (repeated)",
                       extra={"unreadable": unreadable, "duplicates": duplicates})
    context = BatchContext(
        batch_id=batch_id_for(payload),
        source=SOURCE,
        campaign_id=campaign.CampaignId,
        run_id=campaign.RunId,
        action_id=campaign.ActionId,
        campaign_name=campaign.CampaignName,
        template=action.template() if action else None,
        wait_mode=action.wait_mode if action else None,
    )
    return Batch(context=context, recipients=recipients)


def answer_budget(profiles: int) -> int:
    """The bytes one profile's entry may take: 32,000, less when the batch is so large that the
    whole answer would not fit Lambda's 6 MB response otherwise."""
    return min(MAX_PROFILE_ANSWER_BYTES, MAX_ANSWER_BYTES // max(profiles, 1))


def to_response(batch: Batch, results: Results, settings: InvokerSettings) -> dict[str, Any]:
    """One entry per profile, in input order, ``ResultData`` a JSON object with typed values
    (``RESULT_DATA``); an entry that would not fit its budget (:func:`answer_budget`) keeps
    ``status`` and ``reason`` and says ``"truncated": true``."""
    budget = answer_budget(len(batch.recipients))
    entries = []
    for endpoint_id, result in every_result(batch.recipients, results).items():
        room = max(budget - json_size({"Id": endpoint_id, "ResultData": {}}), 64)
        entries.append({"Id": endpoint_id, "ResultData": fit_result_data(
            result_data(result.view(), settings.result_data), room)})
    return {"Items": {"CustomerProfiles": entries}}


def endpoint_ids(event: Any) -> list[str]:
    """The readable ``ProfileId`` values of an event, in order, each once."""
    items = event.get("Items") if isinstance(event, dict) else None
    profiles = items.get("CustomerProfiles") if isinstance(items, dict) else None
    ids = (_readable_id(raw) for raw in profiles) if isinstance(profiles, list) else iter(())
    return list(dict.fromkeys(profile_id for profile_id in ids if profile_id is not None))


def answered(response: Any) -> dict[str, dict[str, Any]]:
    """Each answered profile's ``ResultData``, by its ``Id``."""
    items = response.get("Items") if isinstance(response, dict) else None
    profiles = items.get("CustomerProfiles") if isinstance(items, dict) else None
    return {str(entry.get("Id")): dict(entry.get("ResultData") or {}) for entry in profiles or []
            if isinstance(entry, dict)}


ADAPTER = TriggerAdapter(
    source=SOURCE,
    name="an Amazon Connect custom action",
    expects="InvocationMetadata.CampaignContext and Items.CustomerProfiles",
    recognizes=recognizes,
    to_batch=to_batch,
    to_response=to_response,
    batch_id_for=batch_id_for,
    endpoint_ids=endpoint_ids,
    answered=answered,
)
