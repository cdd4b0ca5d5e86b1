"""Least privilege: every IAM statement the SAM transform produces (inline policies and the
expanded policy templates) names its actions and resources."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lint.test_template import parsed_template

pytestmark = pytest.mark.lint

# Actions that have no resource-level permissions: IAM only accepts "Resource": "*" for them.
RESOURCE_STAR_ALLOWED = frozenset({
    # CloudWatch Logs log delivery, which Step Functions needs for the state machine's logging
    # configuration ("Logging" on BatchStateMachine); AWS documents these with Resource "*".
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # Resuming a task by its token: the Service Authorization Reference lists no resource type for
    # these actions, "If there is no value for this column, you must specify all resources ("*")"
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
    # Evidence conflicts (CDK's grantTaskResponse names the state machine); "*" is the safe side.
    "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
    # The SES account's sending quota (an SES provider's send_rate "account"): an account-level read
    # with no resource type in the Service Authorization Reference (list_amazonses.html).
    "ses:GetSendQuota",
    # X-Ray segment upload and sampling (tracing), should a template expand them inline.
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
})

NAMED_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+")

# AWS managed policies SAM attaches (they cannot be inspected here): basic logging for every
# function, X-Ray write access because Tracing is Active. Any other managed policy is a change
# to review.
MANAGED_POLICIES_ALLOWED = frozenset({
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
})


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        template = parsed_template()
        template["Globals"]["Function"]["CodeUri"] = "s3://bucket/functions.zip"
        template["Resources"]["BatchStateMachine"]["Properties"]["DefinitionUri"] = {
            "Bucket": "bucket", "Key": "batch.asl.json"}

        class NoManagedPolicies:
            def load(self) -> dict[str, str]:
                return {}

        return dict(transform(template, {}, NoManagedPolicies()))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _branches(statement: Any) -> list[dict[str, Any]]:
    """A statement, or the statements either branch of its ``Fn::If`` gives (``AWS::NoValue``: none):
    every statement some parameters make."""
    if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
        _, if_true, if_false = statement["Fn::If"]
        return [s for branch in (if_true, if_false) if branch != {"Ref": "AWS::NoValue"} for s in _branches(branch)]
    return [statement]


def _policies(policies: list[Any]) -> Iterator[dict[str, Any]]:
    """Every policy a role may have: both branches of a policy under a condition (``Fn::If``)."""
    for policy in policies:
        if "Fn::If" in policy:
            yield from (branch for branch in policy["Fn::If"][1:] if branch != {"Ref": "AWS::NoValue"})
        else:
            yield policy


def statements(output: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every statement of every role's inline policies and of every
    standalone policy resource (both branches of a conditional one)."""
    for logical_id, resource in output["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in _policies(props.get("Policies", [])):
                for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                    for made in _branches(statement):
                        yield f"{logical_id}/{policy['PolicyName']}", made
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in _as_list(props["PolicyDocument"]["Statement"]):
                for made in _branches(statement):
                    yield logical_id, made


def test_there_are_statements_to_check(transformed):
    found = list(statements(transformed))
    assert len(found) > 10
    roles = {where.split("/")[0] for where, _ in found}
    assert {"SendFunctionRole", "CallbackFunctionRole", "BatchStateMachineRole"} <= roles


def test_no_wildcard_actions(transformed):
    for where, statement in statements(transformed):
        assert "NotAction" not in statement, where
        for action in _as_list(statement["Action"]):
            assert isinstance(action, str), (where, action)
            # "service:Name" with no wildcard at all: neither "*", "service:*" nor "service:Get*".
            assert NAMED_ACTION.fullmatch(action), f"{where}: wildcard or malformed action {action!r}"


def test_no_wildcard_resources_except_actions_without_resource_level_permissions(transformed):
    for where, statement in statements(transformed):
        assert "NotResource" not in statement, where
        if statement.get("Effect") != "Allow":
            continue
        resources = _as_list(statement["Resource"])
        if "*" in resources:
            actions = set(_as_list(statement["Action"]))
            assert actions <= RESOURCE_STAR_ALLOWED, (
                f"{where}: Resource '*' for {sorted(actions - RESOURCE_STAR_ALLOWED)}; name the resources"
            )


def test_only_reviewed_managed_policies(transformed):
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            managed = set(resource["Properties"].get("ManagedPolicyArns", []))
            assert managed <= MANAGED_POLICIES_ALLOWED, (logical_id, managed - MANAGED_POLICIES_ALLOWED)


def _actions_of(output: dict[str, Any], role: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for where, statement in statements(output):
        if where.startswith(f"{role}/"):
            for action in _as_list(statement["Action"]):
                found.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return found


@pytest.mark.parametrize("role", ["SendFunctionRole", "EmailSendFunctionRole", "SmsVoiceSendFunctionRole",
                                  "PushSendFunctionRole", "CallbackFunctionRole"])
def test_provider_secrets_are_readable_only_under_the_prefix(transformed, role):
    actions = _actions_of(transformed, role)
    secret_resources = json.dumps(actions["secretsmanager:GetSecretValue"])
    assert "secret:${ProviderSecretsPrefix}*" in secret_resources
    assert json.dumps(actions["ssm:GetParameter"]) == json.dumps(
        [{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${ProviderSecretsPrefix}*"}]
    )
    assert "ssm:GetParameters" not in actions  # one parameter at a time is all the code does
    assert "ssm:GetParametersByPath" not in actions


def test_functions_without_provider_secrets_cannot_read_them(transformed):
    for role in ("InvokerFunctionRole", "ValidateFunctionRole", "RecordOutcomeFunctionRole",
                 "CompileFunctionRole"):
        actions = _actions_of(transformed, role)
        assert not any(a.startswith(("secretsmanager:", "ssm:")) for a in actions), role


def test_the_prefix_parameter_cannot_widen_the_grant():
    parameter = parsed_template()["Parameters"]["ProviderSecretsPrefix"]
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("journey-activity/")
    for widening in ("", "*", "a*", "/journey-activity/", "x?"):
        assert not pattern.fullmatch(widening), widening


# What each function's code does with the ledger (journey_activity.ledger and claims): Query for
# batch reads (and, in group wait mode, a group's open records), GetItem for single records and
# the progress item, UpdateItem for every state
# change, PutItem for a large template and the claims, BatchWriteItem for recipients and skipped endpoints,
# BatchGetItem for addresses, claims and a sender's recipient parts. No Scan, no DeleteItem, nothing more. The local run
# enforces these grants on every call (journey_activity_local.engine.aws_guards).
LEDGER_ACTIONS = {
    "InvokerFunctionRole": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                            "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"},
    "ValidateFunctionRole": {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"},
    "SendFunctionRole": {"dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"},
    "RecordOutcomeFunctionRole": {"dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"},
    "CompileFunctionRole": {"dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:GetItem"},
    "CallbackFunctionRole": {"dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"},
    "FinalizeFunctionRole": {"dynamodb:UpdateItem", "dynamodb:GetItem"},
}


@pytest.mark.parametrize("role", sorted(LEDGER_ACTIONS))
def test_each_function_gets_the_ledger_actions_its_code_uses_and_no_more(transformed, role):
    actions = _actions_of(transformed, role)
    assert {a for a in actions if a.startswith("dynamodb:")} == LEDGER_ACTIONS[role]
    for action in LEDGER_ACTIONS[role]:
        assert actions[action] == [{"Fn::GetAtt": ["LedgerTable", "Arn"]}], (role, action)


@pytest.mark.parametrize("role", ["SendFunctionRole", "CallbackFunctionRole"])
def test_task_tokens_are_resumed_with_resource_star(transformed, role):
    """No resource type exists for these actions: a state machine ARN may match nothing."""
    actions = _actions_of(transformed, role)
    for action in ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"):
        assert actions[action] == ["*"], action


FUNCTION_ROLES = ("InvokerFunctionRole", "ValidateFunctionRole", "SendFunctionRole", "EmailSendFunctionRole",
                  "SmsVoiceSendFunctionRole", "PushSendFunctionRole", "RecordOutcomeFunctionRole",
                  "CompileFunctionRole", "CallbackFunctionRole", "ReceiptQueueFunctionRole",
                  "FinalizeFunctionRole")


def test_every_function_role_is_listed(transformed):
    roles = {logical_id for logical_id, resource in transformed["Resources"].items()
             if resource["Type"] == "AWS::IAM::Role" and logical_id.endswith("FunctionRole")}
    assert roles == set(FUNCTION_ROLES)


@pytest.mark.parametrize("role", FUNCTION_ROLES)
def test_the_configuration_object_is_readable_only_when_named_and_only_that_object(transformed, role):
    """Every function reads its settings (journey_activity.config.get_settings), so each may read the
    configuration object: s3:GetObject on the one object ConfigurationObject names, in a policy that
    exists only when it is set; no other S3 action, no bucket, no prefix."""
    policies = transformed["Resources"][role]["Properties"]["Policies"]
    conditional = [p["Fn::If"] for p in policies if "Fn::If" in p]
    assert len(conditional) == 1
    condition, policy, otherwise = conditional[0]
    assert condition == "HasConfigurationObject"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert policy["PolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Object}", {
            "Object": {"Fn::Select": [1, {"Fn::Split": ["s3://", {"Fn::Sub": "${ConfigurationObject}s3://"}]}]}}]},
    }]
    assert [a for a in _actions_of(transformed, role) if a.startswith("s3:")] == ["s3:GetObject"]


def test_the_configuration_object_parameter_cannot_widen_the_grant():
    template = parsed_template()
    parameter = template["Parameters"]["ConfigurationObject"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("s3://my-config.bucket/journey-activity/configuration-3f2a.json")
    for widening in ("s3://bucket/*", "s3://bucket/a*", "s3://bucket/", "s3://bucket", "bucket/key", "s3://*/key",
                     "s3://bucket/key?versionId=1", "arn:aws:s3:::bucket/key"):
        assert not pattern.fullmatch(widening), widening
    assert template["Conditions"]["HasConfigurationObject"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ConfigurationObject"}, ""]}]}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["CONFIGURATION_OBJECT"] == {
        "Ref": "ConfigurationObject"}


def test_the_compile_function_reports_on_the_stacks_bus_or_to_pinpoint_and_does_nothing_else(transformed):
    """"Compile and report the outcomes" reads and closes the batch's records and reports each outcome:
    PutEvents on the stack's bus (ReportSink eventbridge) or to a Pinpoint project's events (ReportSink
    pinpoint), nothing more (the configuration object's read apart, checked above)."""
    actions = _actions_of(transformed, "CompileFunctionRole")
    assert set(actions) - {"s3:GetObject"} == LEDGER_ACTIONS["CompileFunctionRole"] | {
        "events:PutEvents", "mobiletargeting:PutEvents"}
    assert actions["events:PutEvents"] == [{"Fn::GetAtt": ["EngagementEventBus", "Arn"]}]
    assert actions["mobiletargeting:PutEvents"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:mobiletargeting:${AWS::Region}:${AWS::AccountId}:apps/*/events"}]
