"""The provider port: send one message, get the provider's message id back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
class SendResult:
    message_id: str
    status: str = "accepted"


class Provider(Protocol):
    name: str

    def send(self, request: SendRequest) -> SendResult:
        """Send one message. Raises ProviderThrottled / ProviderUnavailable (retried) or
        ProviderRejected (not retried)."""
        ...
