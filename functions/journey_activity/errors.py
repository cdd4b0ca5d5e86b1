"""Exception classes whose names are the contract with the state machine.

The ASL ``Retry`` and ``Catch`` blocks match these class names (a Lambda error's
``errorType``), so renaming a class here means changing ``statemachines/`` too.
"""

from __future__ import annotations


class JourneyActivityError(Exception):
    """Base class of every error this package raises on purpose."""


class PayloadError(JourneyActivityError):
    """The trigger payload cannot be used; the message names what is wrong and where."""


class ConfigurationError(JourneyActivityError):
    """The deployment's configuration is invalid."""


class StartUnavailable(JourneyActivityError):  # noqa: N818 - the name is the Lambda error type a journey sees
    """AWS throttled (or failed) the start of the batch's execution until the invoker's deadline:
    nothing was sent, and retrying the same invocation is safe."""


class ProviderError(JourneyActivityError):
    """A provider call did not succeed. ``status`` is the HTTP status, if any."""

    reason = "provider_error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderThrottled(ProviderError):  # noqa: N818 - the name is the ASL contract
    """The provider asked us to slow down (429). Retried by the state machine."""

    reason = "provider_throttled"


class ProviderUnavailable(ProviderError):  # noqa: N818
    """The provider failed or could not be reached (5xx, timeout, connection). Retried."""

    reason = "provider_unavailable"


class ProviderRejected(ProviderError):  # noqa: N818
    """The provider refused the message (4xx other than 429). Never retried."""

    reason = "provider_rejected"


class ProviderOutcomeUnknown(ProviderError):  # noqa: N818
    """The request may have reached the provider (a read timeout, a connection reset after the
    request was sent): never retried, since a retry could send twice. The endpoint waits for a
    receipt and ends ``FAILED send_outcome_unknown`` if none comes."""

    reason = "send_outcome_unknown"


class ProviderOptedOut(ProviderError):  # noqa: N818
    """The destination opted out of this channel: the endpoint ends ``SKIPPED opted_out``, not FAILED."""

    reason = "opted_out"


class AwsThrottled(JourneyActivityError):  # noqa: N818 - the name is the ASL contract
    """An AWS call was throttled after the SDK's own retries. Retried by the state machine with
    backoff: every state's work is idempotent (conditional ledger writes, one send per endpoint
    recorded before the provider is called)."""


class ReportTimedOut(JourneyActivityError):  # noqa: N818 - the name is what report_error says
    """A batch's report was still waiting for its sink when the invocation's time was nearly over:
    never raised, only named in the execution output's ``report_error``; the batch's outcome stands."""


class TemplateError(JourneyActivityError):
    """The activity's message template cannot be parsed or rendered for an endpoint."""

    reason = "template_error"


class ProfileMissing(JourneyActivityError):  # noqa: N818 - the name is the ASL contract
    """The endpoint's address and profile are not in the ledger (expired, or never written)."""

    reason = "profile_missing"
