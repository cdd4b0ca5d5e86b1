"""What AWS checks before a call reaches a service, enforced on every boto3 client of a process.

- **IAM**: every AWS call a handler makes is authorized against its function's role, as the SAM
  transform of ``template.yaml`` produces it (:mod:`journey_activity_local.engine.iam_policies`):
  explicit Deny wins, then an Allow whose actions and resources match (``*`` and ``?``
  wildcards), else the implicit deny. A refused call fails as the service answers it:
  ``AccessDeniedException``, with a message naming the role, the action and the resource.
- **Throttling on demand**: at ``fault_rate`` a handler's call fails with the service's own
  throttling error (``ProvisionedThroughputExceededException`` for DynamoDB,
  ``TooManyRequestsException`` for Pinpoint and Lambda, ``ThrottlingException`` elsewhere).
  The fault is the call's final answer, as when throttling outlasts the SDK's retries.

Both answer in botocore's ``before-call`` event, so nothing reaches moto or the network. The
hook is registered in botocore's builtin handlers, so every client made after :func:`install`
carries it, including those Powertools' parameters utilities make. Which function is calling
comes from :data:`journey_activity_local.runtime.current_function.CURRENT_FUNCTION`; a call outside an
invocation (the harness, the engine) is not guarded. One :func:`install` call with a plain,
picklable :class:`GuardConfig` sets up any process (worker processes included).

Condition keys are not evaluated: no statement of the template's roles has a ``Condition``
today; :func:`skipped_condition_keys` lists any that appear, and such an Allow counts as if its
condition held.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from journey_activity_local.runtime import current_function

_PARAMS_KEY = "journey_activity_api_params"


@dataclass(frozen=True)
class Principal:
    """A role's identity policies, intrinsics resolved: plain JSON statements."""

    role: str
    statements: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class GuardConfig:
    """Everything a process needs to guard its clients: plain data, picklable."""

    # Keyed by the logical id of the function (or state machine) that assumes the role.
    principals: dict[str, Principal] = field(default_factory=dict)
    # Access key id -> principal, for callers that identify themselves by their credentials
    # (the engine's Lambda client calling the local Lambda endpoint).
    access_keys: dict[str, str] = field(default_factory=dict)
    enforce_iam: bool = True
    fault_rate: float = 0.0
    seed: int = 0
    region: str = "us-east-1"
    account: str = "123456789012"
    partition: str = "aws"


@dataclass(frozen=True)
class Denial:
    principal: str
    action: str
    resource: str


_config: GuardConfig | None = None
_random = random.Random(0)
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_denials: list[Denial] = []
# (principal, action) of every call allowed: what each function actually uses of its role.
_allowed: Counter[tuple[str, str]] = Counter()


# -- installation --------------------------------------------------------------------------------


def install(config: GuardConfig) -> None:
    """Guard every boto3 client this process makes from now on (call once per process; a
    second call replaces the configuration)."""
    global _config, _random
    from botocore.handlers import BUILTIN_HANDLERS

    with _lock:
        _config = config
        # Each process its own sequence (worker processes all install the same configuration).
        _random = random.Random(f"{config.seed}/{os.getpid()}")
        _counts.clear()
        _denials.clear()
        _allowed.clear()
    if (_BEFORE_CALL, _before_call) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append((_BEFORE_PARAMETERS, _keep_params))
        BUILTIN_HANDLERS.append((_BEFORE_CALL, _before_call))
    _forget_clients()


def uninstall() -> None:
    global _config
    with _lock:
        _config = None


def _forget_clients() -> None:
    """Clients made before installation carry no guard: make the product's and Powertools'
    again (boto3's default session too)."""
    import boto3

    from journey_activity import aws

    aws.reset_clients()
    boto3.DEFAULT_SESSION = None
    try:
        from aws_lambda_powertools.utilities.parameters import base

        base.DEFAULT_PROVIDERS.clear()
    except ImportError:  # Powertools without the parameters utility: nothing cached
        pass


def counts() -> dict[str, int]:
    """Calls refused (``denied``) and throttled (``throttled``) in this process since install."""
    with _lock:
        return dict(_counts)


def denials() -> list[Denial]:
    with _lock:
        return list(_denials)


@dataclass(frozen=True)
class GuardReport:
    """What a process's guards saw since its last report (sent from worker processes to the engine)."""

    counts: dict[str, int]
    denials: tuple[Denial, ...]
    allowed: dict[tuple[str, str], int]


def take_report() -> GuardReport | None:
    """Counts, denials and allowed calls since the last call (then forgotten); ``None`` when
    nothing happened. Module-level, so a worker's setup can name it (it is pickled)."""
    with _lock:
        if not (_counts or _denials or _allowed):
            return None
        report = GuardReport(dict(_counts), tuple(_denials), dict(_allowed))
        _counts.clear()
        _denials.clear()
        _allowed.clear()
    return report


class GuardTotals:
    """The engine's sum of every process's reports (``LambdaRegistry(absorb=totals.absorb)``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.denials: list[Denial] = []
        self.allowed: Counter[tuple[str, str]] = Counter()

    def absorb(self, report: Any) -> None:
        if not isinstance(report, GuardReport):
            return
        with self._lock:
            self.counts.update(report.counts)
            self.denials.extend(report.denials)
            self.allowed.update(report.allowed)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"denied": self.counts.get("denied", 0), "throttled": self.counts.get("throttled", 0),
                    "denials": [f"{d.principal}: {d.action} on {d.resource}" for d in self.denials[:50]]}


def skipped_condition_keys(config: GuardConfig) -> set[str]:
    keys: set[str] = set()
    for principal in config.principals.values():
        for statement in principal.statements:
            for operator in (statement.get("Condition") or {}).values():
                keys |= set(operator)
    return keys


# -- policy evaluation ---------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(patterns: Iterable[Any], value: str, *, ignore_case: bool) -> bool:
    return any(isinstance(p, str) and _pattern(p, ignore_case).fullmatch(value) for p in patterns)


def decide(statements: Iterable[Mapping[str, Any]], action: str, resource: str | None) -> str:
    """``"Allow"``, ``"Deny"`` (an explicit deny) or ``"ImplicitDeny"``, as IAM evaluates one
    identity policy set. Actions match case-insensitively, resources case-sensitively; a
    ``resource`` of ``None`` (a call whose resource is not known here) matches on the action.
    An action with no resource-level permissions is requested on ``"*"``: only statements
    whose Resource matches ``"*"`` allow it."""
    allowed = False
    for statement in statements:
        if "NotAction" in statement or "NotResource" in statement:
            continue  # not used by the template (the IAM lint forbids them)
        if not _matches(_as_list(statement.get("Action", [])), action, ignore_case=True):
            continue
        if resource is not None and not _matches(_as_list(statement.get("Resource", [])), resource,
                                                 ignore_case=False):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        allowed = allowed or statement.get("Effect") == "Allow"
    return "Allow" if allowed else "ImplicitDeny"


def denial_message(config: GuardConfig, principal_id: str, action: str, resource: str | None,
                   verdict: str) -> str:
    """IAM's own wording ("User: <assumed role> is not authorized to perform: ...")."""
    principal = config.principals.get(principal_id)
    role = principal.role if principal else f"{principal_id}Role"
    who = f"arn:{config.partition}:sts::{config.account}:assumed-role/{role}/{principal_id}"
    why = ("with an explicit deny in an identity-based policy" if verdict == "Deny"
           else f"because no identity-based policy allows the {action} action")
    return f"User: {who} is not authorized to perform: {action} on resource: {resource or '*'} {why}"


def check(config: GuardConfig, principal_id: str, action: str, resources: list[str | None]) -> str | None:
    """``None`` when every resource is allowed, else the denial message (and the denial noted)."""
    principal = config.principals.get(principal_id)
    statements = principal.statements if principal else ()
    for resource in resources or [None]:
        verdict = decide(statements, action, resource)
        if verdict != "Allow":
            with _lock:
                _counts["denied"] += 1
                _denials.append(Denial(principal_id, action, resource or "*"))
            return denial_message(config, principal_id, action, resource, verdict)
    with _lock:
        _allowed[(principal_id, action)] += 1
    return None


def authorize_invoke(access_key: str | None, function_arn: str) -> str | None:
    """For the local Lambda endpoint: ``None`` when the caller (known by its access key) may
    invoke the function, else the denial message. A caller this configuration does not know
    (the harness standing in for the trigger) is not checked."""
    config = _config
    if config is None or not config.enforce_iam or access_key not in config.access_keys:
        return None
    return check(config, config.access_keys[str(access_key)], "lambda:InvokeFunction", [function_arn])


# -- what a call asks for ------------------------------------------------------------------------


def _arn(config: GuardConfig, service: str, resource: str, *, region: bool = True) -> str:
    return f"arn:{config.partition}:{service}:{config.region if region else ''}:{config.account}:{resource}"


def _table(config: GuardConfig, name: str, index: str | None = None) -> str:
    arn = name if name.startswith("arn:") else _arn(config, "dynamodb", f"table/{name}")
    return f"{arn}/index/{index}" if index else arn


_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
# Step Functions actions the Service Authorization Reference lists with no resource type.
_STATES_WITHOUT_RESOURCE = frozenset({"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"})


def requested(config: GuardConfig, prefix: str, operation: str,
              params: Mapping[str, Any]) -> list[tuple[str, list[str | None]]]:
    """The (IAM action, resource ARNs) a call needs. ``[None]`` when this module does not know
    the operation's resource: the action alone is then checked."""
    action = f"{prefix}:{operation}"
    if prefix == "dynamodb":
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return [(action, [_table(config, name) for name in params.get("RequestItems", {})])]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            needs: list[tuple[str, list[str | None]]] = []
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    needs.append((f"dynamodb:{_TRANSACT_ACTIONS.get(kind, kind)}",
                                  [_table(config, str(body.get("TableName", "")))]))
            return needs
        if "TableName" in params:
            return [(action, [_table(config, str(params["TableName"]), params.get("IndexName"))])]
    elif prefix == "states":
        if operation in _STATES_WITHOUT_RESOURCE:
            return [(action, ["*"])]
        for key in ("executionArn", "stateMachineArn", "activityArn", "mapRunArn"):
            if key in params:
                return [(action, [str(params[key])])]
    elif prefix == "secretsmanager" and "SecretId" in params:
        secret = str(params["SecretId"])
        # A name stands for the secret's ARN without its random suffix; prefix grants match both.
        return [(action, [secret if secret.startswith("arn:") else _arn(config, "secretsmanager", f"secret:{secret}")])]
    elif prefix == "ssm" and ("Name" in params or "Names" in params):
        names = [params["Name"]] if "Name" in params else list(params["Names"])
        return [(action, [_arn(config, "ssm", f"parameter/{str(n).lstrip('/')}") for n in names])]
    elif prefix == "mobiletargeting" and "ApplicationId" in params:
        # Pinpoint's developer guide names these resources: apps/<id>/events for PutEvents,
        # apps/<id>/messages for SendMessages (the push sender); the project itself otherwise.
        suffix = {"PutEvents": "/events", "SendMessages": "/messages",
                  "SendUsersMessages": "/users-messages"}.get(operation, "")
        return [(action, [_arn(config, "mobiletargeting", f"apps/{params['ApplicationId']}{suffix}")])]
    elif prefix == "events" and operation == "PutEvents":
        buses = {str(entry.get("EventBusName") or "default") for entry in params.get("Entries", [])} or {"default"}
        return [(action, [b if b.startswith("arn:") else _arn(config, "events", f"event-bus/{b}")
                          for b in sorted(buses)])]
    elif prefix == "s3" and "Bucket" in params:
        # An object's ARN has neither region nor account: arn:aws:s3:::bucket/key (the bucket's: arn:aws:s3:::bucket).
        target = f"{params['Bucket']}/{params['Key']}" if "Key" in params else str(params["Bucket"])
        return [(action, [f"arn:{config.partition}:s3:::{target}"])]
    elif prefix == "sqs" and "QueueUrl" in params:
        # https://sqs.<region>.amazonaws.com/<account>/<name> (any endpoint): the queue's ARN.
        parts = str(params["QueueUrl"]).rstrip("/").split("/")
        return [(action, [_arn(config, "sqs", parts[-1]) if len(parts) >= 2 else None])]
    elif prefix == "lambda" and "FunctionName" in params:
        name = str(params["FunctionName"])
        return [("lambda:InvokeFunction" if operation == "Invoke" else action,
                 [name if name.startswith("arn:") else _arn(config, "lambda", f"function:{name}")])]
    return [(action, [None])]


# -- the service's answers -----------------------------------------------------------------------

# Each service's throttling error, from its botocore model (and botocore's retry handlers):
# DynamoDB's item operations (the modelled error its legacy retry config names "throughput_exceeded"),
# Pinpoint and Lambda model TooManyRequestsException (HTTP 429); Step Functions, Secrets Manager,
# SSM, EventBridge and Connect answer ThrottlingException ("Rate exceeded").
_THROTTLING = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400,
                 "The level of configured provisioned throughput for the table was exceeded. "
                 "Consider increasing your provisioning level with the UpdateTable API."),
    "pinpoint": ("TooManyRequestsException", 429, "Too many requests"),
    "lambda": ("TooManyRequestsException", 429, "Rate Exceeded."),
    "connect": ("ThrottlingException", 429, "Rate exceeded"),
}
_DEFAULT_THROTTLING = ("ThrottlingException", 400, "Rate exceeded")


def _error_response(code: str, status: int, message: str, model: Any) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse

    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code, "Content-Type": "application/json"}
    body = json.dumps({"__type": code, "message": message}).encode()
    http = AWSResponse(url="", status_code=status, headers=headers, raw=_Body(body))
    parsed = {"Error": {"Code": code, "Message": message}, "message": message,
              "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": headers,
                                   "RetryAttempts": 0}}
    return http, parsed


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._content


def _access_denied(model: Any, message: str) -> tuple[Any, dict[str, Any]]:
    # JSON-protocol services answer 400; REST services (Pinpoint, Lambda, Connect) 403; S3 403 with its own
    # code, "AccessDenied" (its message names the principal and the action, as since 2024 for a caller of the account).
    if model.service_model.service_name == "s3":
        return _error_response("AccessDenied", 403, message, model)
    status = 400 if model.service_model.metadata.get("protocol") == "json" else 403
    return _error_response("AccessDeniedException", status, message, model)


def _throttled(model: Any) -> tuple[Any, dict[str, Any]]:
    code, status, message = _THROTTLING.get(model.service_model.service_name, _DEFAULT_THROTTLING)
    return _error_response(code, status, message, model)


# -- botocore hooks ------------------------------------------------------------------------------

_BEFORE_PARAMETERS = "before-parameter-build"
_BEFORE_CALL = "before-call"


def _keep_params(params: Mapping[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
    """The call's own parameters, for ``before-call`` (which sees the serialized request)."""
    if context is not None and _config is not None:
        context[_PARAMS_KEY] = dict(params)


def _before_call(model: Any, context: Mapping[str, Any] | None = None, **_: Any) -> Any:
    config = _config
    principal = current_function.current()
    if config is None or principal is None:
        return None
    params = (context or {}).get(_PARAMS_KEY, {})
    if config.enforce_iam:
        prefix = model.service_model.signing_name
        for action, resources in requested(config, prefix, model.name, params):
            refused = check(config, principal, action, resources)
            if refused is not None:
                return _access_denied(model, refused)
    if config.fault_rate > 0:
        with _lock:
            fault = _random.random() < config.fault_rate
            if fault:
                _counts["throttled"] += 1
        if fault:
            return _throttled(model)
    return None
