"""The SAM template and the ASL pass the AWS tools: samtranslator, cfn-lint, asl-validator, statelint.

Each tool runs once (on every state machine at a time). The ASL linters come from package.json:
`npm ci` installs them into node_modules/.bin; without them these tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lint

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
NODE_BIN = ROOT / "node_modules" / ".bin"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

# The functions the state machine and the local runtime know by these logical ids and handlers.
CONTRACT = {
    "InvokerFunction": "journey_activity.handlers.invoker.handler",
    "ValidateFunction": "journey_activity.handlers.validate.handler",
    "SendFunction": "journey_activity.handlers.send.handler",
    "EmailSendFunction": "journey_activity.handlers.send.handler",
    "SmsVoiceSendFunction": "journey_activity.handlers.send.handler",
    "PushSendFunction": "journey_activity.handlers.send.handler",
    "RecordOutcomeFunction": "journey_activity.handlers.record_outcome.handler",
    "CompileFunction": "journey_activity.handlers.compile.handler",
    "CallbackFunction": "journey_activity.handlers.callback.handler",
}


def asl_files() -> list[Path]:
    return sorted((ROOT / "statemachines").glob("*.asl.json"))


def parsed_template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


def resources_of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == type_}


def node_tool(name: str) -> str:
    tool = NODE_BIN / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: run `npm ci` (the ASL linters come from package.json)")
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the ASL linters need Node.js 18 or later")
    return str(tool)


def test_there_is_a_state_machine_to_lint():
    assert asl_files(), "statemachines/*.asl.json is empty"


def test_the_template_keeps_the_function_contract():
    functions = resources_of_type(parsed_template(), "AWS::Serverless::Function")
    for name, handler in CONTRACT.items():
        assert name in functions, name
        assert functions[name]["Properties"]["Handler"] == handler, name


def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation gets: the template after the SAM transform, as `sam deploy` sends it."""
    from samtranslator.translator.transform import transform

    # `sam deploy` uploads the code and sends an S3 location; the transform accepts no local path.
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/functions.zip"
    # The definition inline, as read from DefinitionUri (the document `sam deploy` would upload).
    machine = template["Resources"]["BatchStateMachine"]["Properties"]
    machine["Definition"] = json.loads((ROOT / machine.pop("DefinitionUri")).read_text())

    class NoManagedPolicies:  # every policy in the template is a SAM policy template or inline
        def load(self) -> dict[str, str]:
            return {}

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(template, {}, NoManagedPolicies())


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return transformed(parsed_template())


def references(value: Any) -> set[str]:
    """The logical ids and parameters a value names with Ref, Fn::GetAtt and Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text, local = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!][^}]*)\}", text)} - set(local)
                found |= references(local)
            else:
                found |= references(inner)
    return found


def test_the_template_transforms_with_samtranslator(cloudformation):
    resources = cloudformation["Resources"]
    types = [resource["Type"] for resource in resources.values()]
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    serverless_functions = resources_of_type(parsed_template(), "AWS::Serverless::Function")
    assert types.count("AWS::Lambda::Function") == len(serverless_functions)
    for name in CONTRACT:
        assert resources[name]["Type"] == "AWS::Lambda::Function"
        assert resources[name]["Properties"]["Runtime"] == "python3.12"
        assert resources[name]["Properties"]["Architectures"] == ["arm64"]
        assert resources[f"{name}Role"]["Type"] == "AWS::IAM::Role"
    assert resources["InvokerFunction"]["Properties"]["Timeout"] == 28
    assert "AWS::ApiGatewayV2::Api" in types
    assert resources["InvokerPinpointPermission"]["Type"] == "AWS::Lambda::Permission"
    for name in ("LedgerTable", "CallbackSigningSecret"):
        assert name in resources

    machine = resources["BatchStateMachine"]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ERROR"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert "DefinitionString" in machine
    assert set(machine["DefinitionSubstitutions"]) == {
        "Partition", "ValidateFunctionArn", "RecordOutcomeFunctionArn", "CompileFunctionArn",
    }


def test_every_reference_resolves_and_no_dependency_is_circular(cloudformation):
    """cfn-lint checks a SAM template without transforming it and finds neither of these."""
    resources = cloudformation["Resources"]
    known = set(resources) | set(cloudformation.get("Parameters", {}))
    for where, value in [*resources.items(), *cloudformation.get("Outputs", {}).items()]:
        unknown = {name for name in references(value) - known if not name.startswith("AWS::")}
        assert not unknown, f"{where} names {sorted(unknown)}, which the template does not define"

    def depends_on(name: str) -> set[str]:
        explicit = resources[name].get("DependsOn", [])
        return (references(resources[name]) | set([explicit] if isinstance(explicit, str) else explicit)) & set(
            resources)

    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, "circular dependency: " + " -> ".join((*path, name))
        if name not in done:
            for dependency in sorted(depends_on(name)):
                visit(dependency, (*path, name))
            done.add(name)

    for name in resources:
        visit(name, ())


# The commercial Regions where Amazon Connect outbound campaigns is offered: the Connect
# administrator guide's "Availability of Amazon Connect features by Region"
# (https://docs.aws.amazon.com/connect/latest/adminguide/regions.html, read 2026-12-07), the same ten
# Regions botocore 1.44.18's endpoints.json lists for connect-campaigns in the aws partition.
CONNECT_CAMPAIGN_REGIONS = (
    "us-east-1", "us-west-2", "af-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
    "ap-southeast-2", "ca-central-1", "eu-central-1", "eu-west-2",
)
# The channel resources behind a condition: cfn-lint checks every resource whatever its condition.
CHANNEL_RESOURCES = {"EmailConfigurationSet": "HasSesIdentity", "EmailConfigurationSetEvents": "HasSesIdentity",
                     "SmsVoiceConfigurationSet": "UseSmsVoice"}


def cfn_lint(*args: str) -> subprocess.CompletedProcess[str]:
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    return subprocess.run([cfn_lint, "--format", "parseable", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def test_cfn_lint_finds_no_error_in_any_region_of_connect_outbound_campaigns(tmp_path):
    """Once with the defaults, once with the e-mail and SMS/voice channels switched on (their
    parameters' defaults changed), in every Region of CONNECT_CAMPAIGN_REGIONS: one cfn-lint run."""
    channels_on = tmp_path / "template-channels-on.yaml"
    text = TEMPLATE.read_text()
    for old, new in (('  SesIdentity:\n    Type: String\n    Default: ""', '  SesIdentity:\n    Type: String\n'
                      '    Default: example.com'),
                     ("  SmsVoice:\n    Type: String\n    Default: disabled", "  SmsVoice:\n    Type: String\n"
                      "    Default: enabled")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    channels_on.write_text(text)
    result = cfn_lint("--regions", *CONNECT_CAMPAIGN_REGIONS, "--", str(TEMPLATE), str(channels_on))
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational; only errors fail.
    assert not result.returncode & ~(4 | 8), result.stdout + result.stderr


def test_only_the_channel_resources_are_missing_where_ses_or_smsvoice_is():
    """ap-east-1 has no AWS::SES::ConfigurationSet(EventDestination) or AWS::SMSVOICE::ConfigurationSet
    (cfn-lint's provider data): every resource it reports there is one the channels' conditions leave out."""
    result = cfn_lint("--regions", "ap-east-1", "--", str(TEMPLATE))
    reported = [line for line in result.stdout.splitlines() if ":E" in line]
    assert reported, result.stdout + result.stderr
    template = parsed_template()
    line_of = {}
    for number, line in enumerate(TEMPLATE.read_text().splitlines(), start=1):
        match = re.fullmatch(r"  (\w+):", line)
        if match and match.group(1) in template["Resources"]:
            line_of[number + 1] = match.group(1)  # cfn-lint reports the resource's Type line
    for line in reported:
        assert ":E3006:" in line, line
        resource = line_of.get(int(line.split(":")[1]))
        assert resource in CHANNEL_RESOURCES, line
        assert template["Resources"][resource]["Condition"] == CHANNEL_RESOURCES[resource]


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_asl_validator_accepts_the_state_machines(partition, tmp_path):
    # As deployed: ${Partition} substituted (asl-validator checks a Resource is an ARN). The
    # functions' ${...} placeholders sit in Parameters, which it does not read as ARNs.
    # Exit code 0 valid, 1 invalid (the reasons on stderr), 2 the validator itself failed.
    args = []
    for path in asl_files():
        deployed = tmp_path / path.name
        deployed.write_text(path.read_text().replace("${Partition}", partition))
        args += ["--json-path", str(deployed)]
    result = subprocess.run([node_tool("asl-validator"), *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_accepts_the_state_machines():
    # Exit code 0 valid, 1 invalid (the problems on stdout). With no file it exits 0: always pass some.
    result = subprocess.run([node_tool("statelint"), *map(str, asl_files())], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_placeholder_is_bound_and_every_binding_used():
    machine = parsed_template()["Resources"]["BatchStateMachine"]["Properties"]
    placeholders = set(PLACEHOLDER.findall((ROOT / machine["DefinitionUri"]).read_text()))
    assert placeholders == set(machine["DefinitionSubstitutions"])


def test_ledger_records_outlive_the_execution_name_reservation():
    """StartExecution: a name can be reused 90 days after its execution closes. A batch retried
    within that time gets ExecutionAlreadyExists and must find its records in the ledger."""
    import math

    from journey_activity.config import LEDGER_TTL_MIN_DAYS, Settings

    definition = json.loads((ROOT / "statemachines" / "batch.asl.json").read_text())
    needed = 90 + math.ceil(definition["TimeoutSeconds"] / 86_400)
    parameter = parsed_template()["Parameters"]["LedgerTtlDays"]
    assert parameter["MinValue"] >= needed
    assert parameter["Default"] >= parameter["MinValue"]
    assert parameter["MinValue"] == LEDGER_TTL_MIN_DAYS
    assert Settings().ledger_ttl_days == parameter["Default"]


@pytest.mark.parametrize("logical_id", ["LedgerTable", "CallbackSigningSecret"])
def test_stateful_resources_outlive_the_stack(logical_id):
    resource = parsed_template()["Resources"][logical_id]
    assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain")


def test_the_asl_hard_codes_no_partition():
    """Its ARNs take the partition from the template (aws-cn, aws-us-gov), and the local loader
    substitutes it like CloudFormation does."""
    from journey_activity_local.template import Template

    text = (ROOT / "statemachines" / "batch.asl.json").read_text()
    assert "arn:aws:" not in text
    assert "arn:${Partition}:states:::lambda:invoke" in text
    machine = parsed_template()["Resources"]["BatchStateMachine"]["Properties"]
    assert machine["DefinitionSubstitutions"]["Partition"] == {"Ref": "AWS::Partition"}
    resolved = Template(ROOT / "template.yaml").definition({})
    assert "${Partition}" not in resolved
    assert "arn:aws:states:::lambda:invoke" in resolved


def test_functions_that_need_the_state_machine_arn_build_it_from_its_name():
    """The state machine references the functions: a !Ref or !GetAtt back would be a circular dependency."""
    template = parsed_template()
    name = template["Resources"]["BatchStateMachine"]["Properties"]["Name"]
    assert name == {"Fn::Sub": "${AWS::StackName}-batch"}
    substitutions = template["Resources"]["BatchStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for function in {value["Fn::GetAtt"][0] for value in substitutions.values() if "Fn::GetAtt" in value}:
        text = json.dumps(template["Resources"][function])
        assert "BatchStateMachine" not in text, function


def test_every_function_has_a_log_group_with_a_retention():
    template = parsed_template()
    groups = {json.dumps(g["Properties"]["LogGroupName"]): g["Properties"]
              for g in resources_of_type(template, "AWS::Logs::LogGroup").values()}
    for name in resources_of_type(template, "AWS::Serverless::Function"):
        group = groups.get(json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"}))
        assert group is not None, f"{name} has no log group"
        assert group["RetentionInDays"] > 0


def test_every_wait_for_a_callback_has_a_timeout_and_a_heartbeat():
    def tasks(states: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for state in states.values():
            found.append(state)
            if "ItemProcessor" in state:
                found.extend(tasks(state["ItemProcessor"]["States"]))
        return found

    for path in asl_files():
        definition = json.loads(path.read_text())
        waits = [s for s in tasks(definition["States"]) if str(s.get("Resource", "")).endswith(".waitForTaskToken")]
        assert waits, path
        for state in waits:
            assert {"TimeoutSeconds", "TimeoutSecondsPath"} & set(state)
            assert {"HeartbeatSeconds", "HeartbeatSecondsPath"} & set(state)


def test_every_handler_in_the_template_is_importable():
    handlers = [(name, resource["Properties"]["Handler"]) for name, resource in
                resources_of_type(parsed_template(), "AWS::Serverless::Function").items()]
    for name, handler in handlers:
        module, _, attribute = handler.rpartition(".")
        # Skips only while the module is not written; a module that fails to import fails the test.
        loaded = pytest.importorskip(module, reason=f"{name}'s module {module} is not written yet",
                                     exc_type=ModuleNotFoundError)
        assert callable(getattr(loaded, attribute, None)), f"{name}: {handler}"


def test_the_package_is_typed():
    """The product ships its type information (``py.typed``); what ``sam build`` packages is checked in
    tests/lint/test_packaging.py."""
    assert os.path.exists(ROOT / "functions" / "journey_activity" / "py.typed")


def _send_task() -> dict[str, Any]:
    definition = json.loads((ROOT / "statemachines" / "batch.asl.json").read_text())
    iteration = definition["States"]["Send to each endpoint"]["ItemProcessor"]["States"]
    return iteration["Send and wait for delivery receipt"]


def test_throttling_and_outages_are_retried_with_backoff_and_jitter_and_rejections_never():
    from journey_activity import errors

    retries = {name: retrier for retrier in _send_task()["Retry"] for name in retrier["ErrorEquals"]}
    for name in (errors.ProviderThrottled.__name__, errors.ProviderUnavailable.__name__,
                 "Lambda.ServiceException", "Lambda.TooManyRequestsException"):
        assert retries[name]["BackoffRate"] > 1, name
        assert retries[name]["JitterStrategy"] == "FULL", name
        assert retries[name]["MaxAttempts"] >= 2, name
    assert errors.ProviderRejected.__name__ not in retries
    assert "States.ALL" not in retries
    assert "States.TaskFailed" not in retries


def test_every_error_of_the_sender_ends_in_a_status():
    catchers = _send_task()["Catch"]
    assert [c["ErrorEquals"] for c in catchers] == [["States.ALL"]]
    assert catchers[0]["Next"] == "Record failed delivery"


def test_the_execution_timeout_outlasts_the_longest_legitimate_run():
    """Every execution ends (so FinalizeFunction runs) and no legitimate one is cut short: the
    backstop outlasts two receipt waits in a row (50 endpoints, 40 at once) plus a minute of
    sender retries each, at the largest ReceiptTimeoutSeconds the template and settings allow."""
    from journey_activity.config import Settings

    parameters = parsed_template()["Parameters"]
    longest_wait = parameters["ReceiptTimeoutSeconds"]["MaxValue"]
    assert parameters["ReceiptHeartbeatSeconds"]["MaxValue"] <= longest_wait
    assert Settings.model_fields["receipt_timeout_seconds"].metadata[-1].le == longest_wait
    for path in asl_files():
        timeout = json.loads(path.read_text())["TimeoutSeconds"]
        assert timeout >= 2 * (longest_wait + 60), path.name


def test_connect_may_invoke_the_invoker_when_its_instance_is_given(cloudformation):
    resources = cloudformation["Resources"]
    connect = resources["InvokerConnectPermission"]
    campaigns = resources["InvokerConnectCampaignsPermission"]
    assert connect["Condition"] == campaigns["Condition"] == "ConnectInvokes"
    assert connect["Properties"]["Principal"] == "connect.amazonaws.com"
    assert campaigns["Properties"]["Principal"] == "connect-campaigns.amazonaws.com"
    # As AWS documents the campaigns' grant: SourceAccount and SourceArn, the Connect instance's ARN.
    for permission in (connect, campaigns):
        assert permission["Properties"]["SourceArn"] == {"Ref": "ConnectInstanceArn"}
    for permission in (connect, campaigns):
        assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert permission["Properties"]["Action"] == "lambda:InvokeFunction"
    assert resources["InvokerPinpointPermission"]["Type"] == "AWS::Lambda::Permission"  # Pinpoint's stays
    variables = resources["InvokerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["CONNECT_ACTIONS"] == {"Ref": "ConnectActions"}
    pattern = re.compile(parsed_template()["Parameters"]["ConnectInstanceArn"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("arn:aws:connect:eu-west-2:123456789012:instance/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111")
    assert not pattern.fullmatch("*")


def test_the_channel_resources_exist_only_with_their_channel(cloudformation):
    """The SES and SMS/voice configuration sets (and what names them: the senders' grants, the
    outputs) depend on SesIdentity and SmsVoice; they publish only after the topic's policy exists."""
    template = parsed_template()
    assert template["Conditions"]["HasSesIdentity"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SesIdentity"}, ""]}]}
    assert template["Conditions"]["UseSmsVoice"] == {"Fn::Equals": [{"Ref": "SmsVoice"}, "enabled"]}
    assert template["Parameters"]["SmsVoice"]["Default"] == "disabled"
    resources = cloudformation["Resources"]
    for name, condition in CHANNEL_RESOURCES.items():
        assert resources[name]["Condition"] == condition, name
        assert template["Outputs"].get(f"{name}Name", {"Condition": condition})["Condition"] == condition
    for name in ("EmailConfigurationSetEvents", "SmsVoiceConfigurationSet"):
        assert resources[name]["DependsOn"] == "ProviderEventsTopicPolicy", name
    # Anything else naming them sits inside an Fn::If on the same condition.
    for where, value in [*resources.items(), *cloudformation["Outputs"].items()]:
        if where in CHANNEL_RESOURCES or value.get("Condition") in CHANNEL_RESOURCES.values():
            continue
        for name, condition in CHANNEL_RESOURCES.items():
            if name in references(value):
                assert name not in references(_without_if(value, condition)), f"{where} names {name} unconditionally"


def _without_if(value: Any, condition: str) -> Any:
    """``value`` with the true branch of every ``Fn::If`` on ``condition`` removed."""
    if isinstance(value, list):
        return [_without_if(item, condition) for item in value]
    if isinstance(value, dict):
        if set(value) == {"Fn::If"} and value["Fn::If"][0] == condition:
            return _without_if(value["Fn::If"][2], condition)
        return {key: _without_if(inner, condition) for key, inner in value.items()}
    return value


def test_pinpoint_may_invoke_only_when_a_project_is_named():
    template = parsed_template()
    assert template["Parameters"]["PinpointApplicationId"]["Default"] == ""
    assert template["Resources"]["InvokerPinpointPermission"]["Condition"] == "PinpointInvokes"
    assert re.fullmatch(template["Parameters"]["PinpointApplicationId"]["AllowedPattern"], "")


def test_a_finalizer_event_that_keeps_failing_ends_in_an_alarmed_queue(cloudformation):
    """EventBridge invokes the finalizer asynchronously: after Lambda's retries the invocation
    record goes to an SQS queue (the function's role may send to it), which raises an alarm."""
    resources = cloudformation["Resources"]
    config = resources["FinalizeFunctionEventInvokeConfig"]["Properties"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FinalizeDeadLetterQueue", "Arn"]}
    assert resources["FinalizeDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    role = resources["FinalizeFunctionRole"]["Properties"]["Policies"]
    statements = [s for policy in role if "PolicyDocument" in policy for s in policy["PolicyDocument"]["Statement"]]
    assert {"Action": "sqs:SendMessage", "Effect": "Allow",
            "Resource": {"Fn::GetAtt": ["FinalizeDeadLetterQueue", "Arn"]}} in statements
    alarm = resources["FinalizeDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FinalizeDeadLetterQueue",
                                                                                  "QueueName"]}}]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
