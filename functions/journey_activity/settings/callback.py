"""The receipt callback's settings: the providers (whose secrets sign their receipts) and the
signatures' tolerance."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import Field

from journey_activity.settings.base import cached_settings
from journey_activity.settings.providers import ProviderSettings


class CallbackSettings(ProviderSettings):
    # Filled only when asked (default_signing_secrets).
    callback_signing_secrets: list[str] = Field(default_factory=list)
    signature_tolerance_seconds: int = Field(default=300, ge=1)


def get_callback_settings() -> CallbackSettings:
    """The callback's settings, read once per container."""
    return cached_settings(CallbackSettings)


def default_signing_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The default receipt secret(s): ``CALLBACK_SIGNING_SECRET`` and the value of
    ``CALLBACK_SIGNING_SECRET_ARN``, read through the same 5-minute cache as provider secrets
    (:func:`journey_activity.security.resolve_reference`), so a rotation reaches warm containers.
    Call it per request, not once per container."""
    from journey_activity.security import SECRETS_MANAGER_PREFIX, is_reference, resolve_reference

    environ = os.environ if environ is None else environ
    secrets = [s for s in environ.get("CALLBACK_SIGNING_SECRET", "").split(",") if s]
    arn = environ.get("CALLBACK_SIGNING_SECRET_ARN")
    if arn:
        reference = arn if is_reference(arn) else f"{SECRETS_MANAGER_PREFIX}{arn}"
        secrets.extend(s for s in resolve_reference(reference).split(",") if s)
    return secrets
