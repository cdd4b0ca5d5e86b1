"""The trigger-agnostic batch the state machine runs on, and an endpoint's outcome.

Triggers (Pinpoint's custom channel, Amazon Connect's custom action) are adapters that
turn their payload into a :class:`Batch` and an :class:`EndpointResult` list back into
their own response shape. A :class:`Batch` and its :class:`Recipient` list are plain data the
invoker makes and reads; what the steps receive from outside (the context, an outcome) are
pydantic models, and the execution's input is in :mod:`journey_activity.models.execution`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Status(StrEnum):
    """What the journey branches on (Connect's ``ResultData.status``, Pinpoint's ``status`` EventAttribute).

    ``DELIVERED``, ``FAILED``, ``SKIPPED`` and ``TIMED_OUT`` are final. ``SENT``: the provider accepted
    the message (or may have: its answer was lost) and its delivery receipt has not arrived yet; a
    fallback could reach a person who has the first message. ``PENDING``: not sent yet when the
    invoker answered (its execution sends it later, or, with the reason ``not_started``, its
    execution could not be started: nothing was sent).
    """

    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    TIMED_OUT = "TIMED_OUT"
    SENT = "SENT"
    PENDING = "PENDING"


class LedgerStatus(StrEnum):
    """The ledger's finer states; ``SENDING`` shows as ``PENDING`` to a journey, ``SENT`` as ``SENT``."""

    SENDING = "SENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    TIMED_OUT = "TIMED_OUT"


FINAL_STATUSES = frozenset({LedgerStatus.DELIVERED, LedgerStatus.FAILED, LedgerStatus.SKIPPED, LedgerStatus.TIMED_OUT})


def journey_status(ledger_status: str | None) -> Status:
    """Map a ledger status to what the journey sees."""
    if ledger_status in FINAL_STATUSES or ledger_status == LedgerStatus.SENT:
        return Status(ledger_status)
    return Status.PENDING


@dataclass(kw_only=True)
class Recipient:
    """One endpoint of a batch, as the core sees it. Plain data: a trigger adapter makes it from
    an event its pydantic models have validated, and it never leaves the invoker as it is (the
    ledger keeps its address and profile, the execution a reference:
    :class:`journey_activity.models.execution.RecipientRef`)."""

    endpoint_id: str
    channel: str
    address: str = ""
    opted_out: bool = False
    active: bool = True
    # Why the trigger adapter could not read this endpoint (it is then skipped), and the skip
    # reason a journey sees (``invalid_endpoint`` when unset).
    invalid: str | None = None
    invalid_reason: str | None = None
    # The trigger's idempotency key for this endpoint's send (Connect's IdempotencyToken): claimed
    # in the ledger before the execution starts, so no other batch sends it again. None: the
    # execution name (a hash of the payload) alone de-duplicates, as for Pinpoint.
    claim_key: str | None = None
    # The endpoint's own document (Pinpoint's endpoint object), for message templates.
    profile: dict[str, Any] = field(default_factory=dict)


class BatchContext(BaseModel):
    """What every step needs to know about the batch, without its endpoints."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    source: str
    application_id: str | None = None
    journey_id: str | None = None
    campaign_id: str | None = None
    activity_id: str | None = None
    treatment_id: str | None = None
    # Amazon Connect custom action: CampaignId is campaign_id; the run, the flow block and the
    # campaign's name. Plain fields, so ledger records, logs and engagement events carry them by name.
    run_id: str | None = None
    action_id: str | None = None
    campaign_name: str | None = None
    scheduled_time: str | None = None
    template: str | None = None
    # Set when the template is too large to travel through every state: it is in the ledger.
    template_ref: str | None = None
    # The trigger's own wait mode (a Connect action's wait_mode), over the deployment's WaitMode.
    wait_mode: Literal["endpoint", "group"] | None = None


@dataclass(kw_only=True)
class Batch:
    """A batch as a trigger adapter reads it: every endpoint with its address and profile."""

    context: BatchContext
    recipients: list[Recipient]


# The receipt's status is the provider's word for the outcome ("delivered", "bounced"), never its detail.
SUMMARY_FIELDS = frozenset({"endpoint_id", "channel", "status", "reason", "provider", "attempts", "receipt_status"})


class EndpointResult(BaseModel):
    """An endpoint's outcome: the record that EventAttributes and engagement events are made from."""

    model_config = ConfigDict(extra="ignore")

    endpoint_id: str
    channel: str
    status: LedgerStatus | Status
    reason: str | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    attempts: int = 0
    error: str | None = None
    receipt_status: str | None = None
    sent_at: str | None = None
    finished_at: str | None = None

    @property
    def journey_status(self) -> Status:
        return journey_status(str(self.status))

    def summary(self) -> dict[str, Any]:
        """What a person needs in the console, and all a state carries of an outcome: no error
        text (a provider's answer may quote the address), no message id, no receipt detail."""
        return self.model_dump(mode="json", include=set(SUMMARY_FIELDS), exclude_none=True)

    def view(self) -> dict[str, Any]:
        """The result as compile expressions see it: journey status, no empty fields."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["status"] = self.journey_status.value
        return data
