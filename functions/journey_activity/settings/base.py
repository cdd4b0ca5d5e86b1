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
import re
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


def settings_from(environ: Mapping[str, str], model: type[Model], *, with_secrets: bool = False,
                  document: Mapping[str, Any] | None = None, source: str = "") -> Model:
    """Build ``model`` from an environment mapping; empty variables mean the default. Only the
    variables of the model's fields are read (and validated).

    ``document`` is a configuration object's content (:func:`read_configuration_object`, read
    from ``source``): its keys are variable names of :data:`OBJECT_KEYS`, its values JSON values
    (an object, not a string holding one). A key set both there and in ``environ`` is refused."""
    fields = model.model_fields
    values: dict[str, Any] = {}
    from_object: set[str] = set()
    if document is not None:
        values, from_object = _object_values(environ, document, source)
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


# -- the configuration object (CONFIGURATION_OBJECT) ------------------------------------------------

CONFIGURATION_OBJECT_VARIABLE = "CONFIGURATION_OBJECT"
# The settings a configuration object may hold: the ones a user writes (the template's parameters
# of the same meaning), which can outgrow Lambda's 4 KB of environment. The variables the template
# sets itself (LEDGER_TABLE, STATE_MACHINE_ARN, SENDER_FUNCTIONS, ...) stay in the environment.
# Every function reads the same object and takes the keys it reads.
OBJECT_KEYS = ("CONNECT_ACTIONS", "CHANNEL_PROVIDERS", "PROVIDER_URL", "ADDRESS_RULES", "EVENT_ATTRIBUTES",
               "RESULT_DATA")
# Far above any real document (a message template is kept up to ledger.MAX_TEMPLATE_BYTES), and a
# bound on what one read holds in memory.
MAX_CONFIGURATION_OBJECT_BYTES = 4 * 1024 * 1024
# s3://bucket/key: S3's bucket naming rules (3-63 characters, lower case, digits, dots, hyphens).
_OBJECT_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")


def parse_object_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``; a ConfigurationError names what is wrong."""
    found = _OBJECT_URI.match(uri)
    if found is None or "?" in found.group(2):
        raise ConfigurationError(f"{CONFIGURATION_OBJECT_VARIABLE} must be s3://<bucket>/<key> (no version or "
                                 f"query: upload each change under a new key); got {uri!r}")
    return found.group(1), found.group(2)


def _object_values(environ: Mapping[str, str], document: Mapping[str, Any],
                   source: str) -> tuple[dict[str, Any], set[str]]:
    """The fields a configuration object sets, and which they are (checked whole, whichever
    function reads it, so every function refuses the same document)."""
    unknown = sorted(set(document) - set(OBJECT_KEYS))
    if unknown:
        raise ConfigurationError(f"{source}: unknown keys {unknown}; a configuration object holds "
                                 f"{list(OBJECT_KEYS)}")
    both = sorted(name for name in document if environ.get(name, "").strip())
    if both:
        raise ConfigurationError(
            f"{', '.join(both)} set both in the environment and in {source}: set each in one place "
            "(leave the template parameter empty when the configuration object holds it)")
    fields = {variable: field for field, (variable, _) in ENV.items()}
    strings = sorted(name for name, value in document.items() if ENV[fields[name]][1] and isinstance(value, str))
    if strings:
        raise ConfigurationError(f"{source}: {', '.join(strings)} must be a JSON value (an object), not a string "
                                 "holding JSON")
    values = {fields[name]: value for name, value in document.items()}
    return values, set(values)


def read_configuration_object(uri: str) -> dict[str, Any]:
    """The JSON document at ``s3://bucket/key`` (one GetObject). Throttling is raised as it
    comes (the handlers turn it into AwsThrottled, which the state machine retries); anything
    else that keeps it from being read is a ConfigurationError naming the object."""
    from botocore.exceptions import BotoCoreError, ClientError

    from journey_activity import aws

    bucket, key = parse_object_uri(uri)
    try:
        response = aws.client("s3").get_object(Bucket=bucket, Key=key)
        size = int(response.get("ContentLength") or 0)
        if size > MAX_CONFIGURATION_OBJECT_BYTES:
            raise ConfigurationError(f"the configuration object {uri} is {size} bytes; at most "
                                     f"{MAX_CONFIGURATION_OBJECT_BYTES} are read")
        body = response["Body"].read()
    except ClientError as error:
        if aws.is_throttling(error):
            raise
        code = error.response.get("Error", {}).get("Code", "")
        why = {"NoSuchKey": "it does not exist", "NoSuchBucket": f"the bucket {bucket} does not exist",
               "AccessDenied": "access denied (the function's role must allow s3:GetObject on "
                               f"arn:aws:s3:::{bucket}/{key}; the template grants it for ConfigurationObject)"}
        raise ConfigurationError(f"cannot read the configuration object {uri}: "
                                 f"{why.get(code, f'{code}: {error}')}") from None
    except BotoCoreError as error:
        raise ConfigurationError(f"cannot read the configuration object {uri}: {error}") from None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigurationError(f"the configuration object {uri} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"the configuration object {uri} must be a JSON object "
                                 f'{{"CONNECT_ACTIONS": {{...}}, ...}}; got {type(document).__name__}')
    return document


def load_settings(environ: Mapping[str, str], model: type[Model], *, with_secrets: bool = False,
                  documents: dict[str, dict[str, Any]] | None = None) -> Model:
    """``model`` from the environment and, when ``CONFIGURATION_OBJECT`` names one, the
    configuration object it names (read once into ``documents``, when given, and kept there)."""
    uri = environ.get(CONFIGURATION_OBJECT_VARIABLE, "").strip()
    if not uri:
        return settings_from(environ, model, with_secrets=with_secrets)
    document = documents.get(uri) if documents is not None else None
    if document is None:
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
