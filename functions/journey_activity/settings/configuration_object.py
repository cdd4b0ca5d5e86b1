"""The configuration object (``CONFIGURATION_OBJECT``): a JSON document in S3 holding the settings a
user writes that can outgrow Lambda's 4 KB of environment, read once per container
(:func:`journey_activity.settings.base.load_settings`). Imported only when ``CONFIGURATION_OBJECT``
names one: a function configured by its environment alone never loads this module."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from journey_activity import aws
from journey_activity.errors import ConfigurationError
from journey_activity.settings.base import CONFIGURATION_OBJECT_VARIABLE, ENV

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


def object_values(environ: Mapping[str, str], document: Mapping[str, Any],
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
