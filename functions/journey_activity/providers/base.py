"""The provider port: send one message, get the provider's message id (or its final answer) back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class SendRequest:
    """One message to one endpoint, as the sender hands it to a provider."""

    batch_id: str
    """The batch (the Step Functions execution's name)."""
    endpoint_id: str
    """The endpoint's id (Pinpoint) or the profile's id (Connect)."""
    channel: str
    """The endpoint's channel type (``SMS``, ``EMAIL``, ``GCM``...)."""
    address: str
    """Where to send: a phone number, an e-mail address, a device token... (personal data: never log it)."""
    message: Any
    """The rendered template: text, or a JSON document rendered inside its strings."""
    idempotency_key: str
    """The same for every attempt of one (batch, endpoint), so the provider can de-duplicate. SES,
    SMS and voice and Twilio carry it back in their events (a tag, a context, the status callback's
    URL), so a send whose answer was lost is still settled by its receipt."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The trigger's ids (``journey_id``, ``campaign_id``, ``activity_id``, ``treatment_id``); the
    generic HTTP provider sends them as its body's ``metadata``."""
    deadline: float | None = None
    """``time.monotonic()`` by which the call must be over (the invocation's remaining time, less
    what the sender needs after it); None: only the provider's own timeouts apply."""


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
    """The provider took the message."""

    message_id: str
    """The provider's id of the message: its receipts name it (the ledger's message pointer)."""
    status: str = "accepted"
    """The provider's own word for what it did (``accepted``, Twilio's ``queued``...)."""
    outcome: SyncOutcome | None = None
    """Set when the provider's answer is final; None: a receipt will tell."""


class Provider(Protocol):
    """What a provider adapter is: one class per module in ``journey_activity.providers``, built
    from its own configuration model (the ``ChannelProviders`` entry) and named in
    :data:`~journey_activity.providers.ADAPTERS`.

    The contract: :meth:`send` makes **one attempt** (retries are the state machine's, visible in
    the console) and carries the request's ``idempotency_key`` where the provider can read it back;
    it answers a :class:`SendResult` or raises one of the provider errors, whose class names are
    what the ASL's ``Retry`` and ``Catch`` match. It never waits for delivery: a provider that
    reports later sends a receipt (``POST /receipts/{name}`` or an event through the receipt
    queue), one that answers at once sets :attr:`SendResult.outcome`.
    """

    name: str
    """The provider's name in results, events and the receipts route (``/receipts/<name>``)."""

    def send(self, request: SendRequest) -> SendResult:
        """Send one message. Raises ProviderThrottled / ProviderUnavailable (retried),
        ProviderRejected (not retried), ProviderOptedOut (the endpoint is SKIPPED) or
        ProviderOutcomeUnknown (not retried: the endpoint waits for a receipt)."""
        ...
