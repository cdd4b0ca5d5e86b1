"""The local engine reads template.yaml with its conditions evaluated as CloudFormation evaluates
them for the parameters given: ``!If`` takes its branch, ``AWS::NoValue`` removes what it stands
for, and a resource whose condition is false does not exist (nor does its grant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from journey_activity_local.engine.aws_guards import decide
from journey_activity_local.engine.iam_policies import principals
from journey_activity_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SES_ARN = "arn:aws:ses:us-east-1:123456789012:identity/example.com"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template(TEMPLATE)


def test_reserved_concurrency_is_none_by_default_and_the_parameter_when_given(template):
    assert template.functions({})["InvokerFunction"].reserved_concurrency is None
    assert template.functions({})["CallbackFunction"].reserved_concurrency is None
    given = template.functions({"InvokerReservedConcurrency": "5", "CallbackReservedConcurrency": "7"})
    assert given["InvokerFunction"].reserved_concurrency == 5
    assert given["CallbackFunction"].reserved_concurrency == 7


@pytest.mark.parametrize(("resource", "parameters"), [
    ("EmailConfigurationSet", {"SesIdentity": "example.com"}),
    ("EmailConfigurationSetEvents", {"SesIdentity": "example.com"}),
    ("SmsVoiceConfigurationSet", {"SmsVoice": "enabled"}),
    ("InvokerPinpointPermission", {"PinpointApplicationId": "*"}),
])
def test_a_channel_resource_exists_only_with_its_parameter(template, resource, parameters):
    assert not template.exists(resource, {})
    assert template.exists(resource, parameters)
    assert template.exists("LedgerTable", {})
    assert not template.exists("NoSuchResource", parameters)


def test_the_senders_provider_grant_follows_the_channel_parameter():
    """Through the SAM transform, as the local engine enforces IAM: without SesIdentity the e-mail
    sender may not call ses:SendEmail; with it, on the identity and the configuration set."""
    def statements(refs, function):
        return principals(TEMPLATE, refs)[function].statements

    email_off = statements({}, "EmailSendFunction")
    assert decide(email_off, "ses:SendEmail", SES_ARN) != "Allow"
    email_on = statements({"SesIdentity": "example.com"}, "EmailSendFunction")
    assert decide(email_on, "ses:SendEmail", SES_ARN) == "Allow"
    assert decide(email_on, "ses:SendEmail",
                  "arn:aws:ses:us-east-1:123456789012:configuration-set/journey-activity-local-email") == "Allow"
    assert decide(email_on, "ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/other.example") != "Allow"
    pool = "arn:aws:sms-voice:us-east-1:123456789012:pool/pool-1"
    assert decide(statements({}, "SmsVoiceSendFunction"), "sms-voice:SendTextMessage", pool) != "Allow"
    assert decide(statements({"SmsVoice": "enabled"}, "SmsVoiceSendFunction"), "sms-voice:SendTextMessage",
                  pool) == "Allow"
    # The rest of the role is there either way.
    assert decide(email_off, "dynamodb:GetItem", "LedgerTable.Arn") == "Allow"


def test_the_finalizers_asynchronous_invocation_config(template):
    queue = "arn:aws:sqs:us-east-1:123456789012:finalize-dead-letters"
    finalizer = template.functions({"FinalizeDeadLetterQueue.Arn": queue})["FinalizeFunction"]
    assert (finalizer.async_retries, finalizer.on_failure) == (2, queue)
    invoker = template.functions({})["InvokerFunction"]
    assert (invoker.async_retries, invoker.on_failure) == (2, None)


def test_conditions_no_value_and_conditional_resources(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("""
Parameters:
  Flag: {Type: String, Default: "off"}
Conditions:
  FlagOn: !Equals [!Ref Flag, "on"]
  FlagOff: !Not [!Condition FlagOn]
Resources:
  Always:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.handler
      Timeout: !If [FlagOn, 9, !Ref AWS::NoValue]
      Environment:
        Variables:
          KEPT: x
          ONLY_ON: !If [FlagOn, "yes", !Ref AWS::NoValue]
      Tags: [!If [FlagOff, off-tag, !Ref AWS::NoValue], plain]
  OnlyOn:
    Type: AWS::Serverless::Function
    Condition: FlagOn
    Properties: {Handler: b.handler}
""")
    template = Template(path)
    off = template.functions({})
    assert set(off) == {"Always"}
    assert off["Always"].environment == {"KEPT": "x"}
    assert off["Always"].timeout == 3  # the property removed: Lambda's default
    assert template.resolve(template.resources["Always"]["Properties"]["Tags"], {}) == ["off-tag", "plain"]
    on = template.functions({"Flag": "on"})
    assert set(on) == {"Always", "OnlyOn"}
    assert on["Always"].environment == {"KEPT": "x", "ONLY_ON": "yes"}
    assert on["Always"].timeout == 9
    assert template.resolve(template.resources["Always"]["Properties"]["Tags"], {"Flag": "on"}) == ["plain"]
