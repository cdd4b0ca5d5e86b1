"""Reading settings: from the function's environment (and the configuration object in S3 that
``CONFIGURATION_OBJECT`` names, when set), once per container and per settings model.

Every function's model derives from :class:`FunctionSettings` and holds only the settings that
function reads; :func:`settings_from` reads the variables of the model's fields (:data:`ENV`), so a
function never validates, nor fails on, a setting it does not read. Every JSON-valued variable is
validated where it is read, so a bad deployment fails loudly with the variable's name rather than
deep inside a send.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from journey_activity.errors import ConfigurationError

EXECUTION_NAME_RESERVED_DAYS = 90
EXECUTION_MAX_DAYS = 3  # the state machine's TimeoutSeconds backstop
LEDGER_TTL_MIN_DAYS = EXECUTION_NAME_RESERVED_DAYS + EXECUTION_MAX_DAYS
LEDGER_TTL_DEFAULT_DAYS = 100

ENV: dict[str, tuple[str, bool]] = {
    # field: (variable, is JSON); every function's fields, whichever model holds them
    "ledger_table": ("LEDGER_TABLE", False),
    "state_machine_arn": ("STATE_MACHINE_ARN", False),
    "connect_deadline_seconds": ("CONNECT_DEADLINE_SECONDS", False),
    "pinpoint_deadline_seconds": ("PINPOINT_DEADLINE_SECONDS", False),
    "invoker_deadline_seconds": ("INVOKER_DEADLINE_SECONDS", False),
    "receipt_timeout_seconds": ("RECEIPT_TIMEOUT_SECONDS", False),
    "receipt_heartbeat_seconds": ("RECEIPT_HEARTBEAT_SECONDS", False),
    "wait_mode": ("WAIT_MODE", False),
    "group_size": ("GROUP_SIZE", False),
    "ledger_ttl_days": ("LEDGER_TTL_DAYS", False),
    "channel_providers": ("CHANNEL_PROVIDERS", True),
    "provider_url": ("PROVIDER_URL", False),
    "address_rules": ("ADDRESS_RULES", True),
    "event_attributes": ("EVENT_ATTRIBUTES", True),
    "result_data": ("RESULT_DATA", True),
    "signature_tolerance_seconds": ("SIGNATURE_TOLERANCE_SECONDS", False),
    "report_sink": ("REPORT_SINK", False),
    "event_bus_name": ("EVENT_BUS_NAME", False),
    "report_events": ("REPORT_EVENTS", False),
    "report_sent_events": ("REPORT_SENT_EVENTS", False),
    "event_type_prefix": ("EVENT_TYPE_PREFIX", False),
    "connect_actions": ("CONNECT_ACTIONS", True),
    "sender_functions": ("SENDER_FUNCTIONS", True),
}


class FunctionSettings(BaseModel):
    """What every function reads: the ledger."""

    model_config = ConfigDict(extra="forbid")

    ledger_table: str = "journey-activity-ledger"
    # Step Functions reserves an execution name for 90 days after the execution closes, and an
    # execution runs up to 3 days: a Pinpoint retry of a batch within that time finds its name
    # taken and must find its records, so they are kept at least 93 days.
    ledger_ttl_days: int = Field(default=LEDGER_TTL_DEFAULT_DAYS, ge=LEDGER_TTL_MIN_DAYS)


Model = TypeVar("Model", bound=FunctionSettings)


def settings_from(environ: Mapping[str, str], model: type[Model], *, with_secrets: bool = False,
                  document: Mapping[str, Any] | None = None, source: str = "") -> Model:
    """Build ``model`` from an environment mapping; empty variables mean the default. Only the
    variables of the model's fields are read (and validated).

    ``document`` is a configuration object's content
    (:func:`~journey_activity.settings.configuration_object.read_configuration_object`, read from
    ``source``): its keys are variable names of
    :data:`~journey_activity.settings.configuration_object.OBJECT_KEYS`, its values JSON values (an
    object, not a string holding one). A key set both there and in ``environ`` is refused."""
    fields = model.model_fields
    values: dict[str, Any] = {}
    from_object: set[str] = set()
    if document is not None:
        from journey_activity.settings.configuration_object import object_values

        values, from_object = object_values(environ, document, source)
        values = {field: value for field, value in values.items() if field in fields}
    for field, (variable, is_json) in ENV.items():
        raw = environ.get(variable, "").strip()
        if field not in fields or not raw or field in from_object:
            continue
        if is_json:
            try:
                values[field] = json.loads(raw)
            except json.JSONDecodeError as error:
                raise ConfigurationError(f"{variable} is not valid JSON: {error}") from None
        else:
            values[field] = raw
    if with_secrets and "callback_signing_secrets" in fields:
        from journey_activity.settings.callback import default_signing_secrets

        values["callback_signing_secrets"] = default_signing_secrets(environ)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        names = {field: variable for field, (variable, _) in ENV.items()}

        def where(field: str) -> str:
            name = names.get(field, field)
            return f"{source}: {name}" if field in from_object else name

        problems = "; ".join(
            f"{where(str(e['loc'][0])) if e['loc'] else 'configuration'}"
            f"{'.' + '.'.join(map(str, e['loc'][1:])) if len(e['loc']) > 1 else ''}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise ConfigurationError(problems) from None


# The variable naming the configuration object (s3://bucket/key), read by
# journey_activity.settings.configuration_object when it is set.
CONFIGURATION_OBJECT_VARIABLE = "CONFIGURATION_OBJECT"


def load_settings(environ: Mapping[str, str], model: type[Model], *, with_secrets: bool = False,
                  documents: dict[str, dict[str, Any]] | None = None) -> Model:
    """``model`` from the environment and, when ``CONFIGURATION_OBJECT`` names one, the
    configuration object it names (read once into ``documents``, when given, and kept there)."""
    uri = environ.get(CONFIGURATION_OBJECT_VARIABLE, "").strip()
    if not uri:
        return settings_from(environ, model, with_secrets=with_secrets)
    document = documents.get(uri) if documents is not None else None
    if document is None:
        from journey_activity.settings.configuration_object import read_configuration_object

        document = read_configuration_object(uri)
        if documents is not None:
            documents[uri] = document
    return settings_from(environ, model, with_secrets=with_secrets, document=document, source=uri)


_settings: dict[tuple[type[FunctionSettings], bool], FunctionSettings] = {}
# The configuration object's document by URI: one GetObject per container, whichever settings ask.
_documents: dict[str, dict[str, Any]] = {}
_settings_lock = threading.Lock()


def cached_settings(model: type[Model], with_secrets: bool = False) -> Model:
    """The container's ``model`` (cached: environment variables do not change in a container, and
    the configuration object is read once per container; a failed read is not cached)."""
    found = _settings.get((model, with_secrets))
    if found is None:
        with _settings_lock:  # one reader of the environment (and of the secret), not one per thread
            found = _settings.get((model, with_secrets))
            if found is None:
                found = load_settings(os.environ, model, with_secrets=with_secrets, documents=_documents)
                _settings[(model, with_secrets)] = found
    return cast("Model", found)


def get_function_settings() -> FunctionSettings:
    """The settings every function shares (the ledger's)."""
    return cached_settings(FunctionSettings)


def reset_settings_cache() -> None:
    """Forget cached settings (the local runtime and tests change the environment)."""
    with _settings_lock:
        _settings.clear()
        _documents.clear()
