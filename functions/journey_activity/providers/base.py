"""The provider port: send one message, get the provider's message id (or its final answer) back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class SendRequest:
    batch_id: str
    endpoint_id: str
    channel: str
    address: str
    message: Any
    # The same for every attempt of one (batch, endpoint), so the provider can de-duplicate.
    idempotency_key: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # time.monotonic() by which the call must be over (the invocation's remaining time, less
    # what the sender needs after it); None: only the provider's own timeouts apply.
    deadline: float | None = None


@dataclass(frozen=True)
class SyncOutcome:
    """The provider's answer is already final (e.g. push): the sender records it and resumes its
    own task at once; nothing waits for a receipt. ``reason`` is the ledger's reason for a
    FAILED or SKIPPED endpoint; ``receipt_status`` is the provider's own word, kept for the record."""

    status: Literal["DELIVERED", "FAILED", "SKIPPED"]
    reason: str | None = None
    receipt_status: str | None = None


@dataclass(frozen=True)
class SendResult:
    message_id: str
    status: str = "accepted"
    # Set when the provider's answer is final; None: a receipt will tell.
    outcome: SyncOutcome | None = None


class Provider(Protocol):
    name: str

    def send(self, request: SendRequest) -> SendResult:
        """Send one message. Raises ProviderThrottled / ProviderUnavailable (retried),
        ProviderRejected (not retried), ProviderOptedOut (the endpoint is SKIPPED) or
        ProviderOutcomeUnknown (not retried: the endpoint waits for a receipt)."""
        ...
