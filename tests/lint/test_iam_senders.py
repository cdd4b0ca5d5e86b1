"""The per-channel senders and the receipt queue function: each gets its providers' actions on the
named resources only, the ledger actions its code uses, and the queue on that queue only."""

from __future__ import annotations

import json

import pytest

from tests.lint.test_iam import _actions_of, transformed  # noqa: F401 - the module's fixture

pytestmark = pytest.mark.lint

LEDGER = [{"Fn::GetAtt": ["LedgerTable", "Arn"]}]
SENDERS = ("EmailSendFunctionRole", "SmsVoiceSendFunctionRole", "PushSendFunctionRole")
PROVIDER_ACTIONS = {
    "EmailSendFunctionRole": {"ses:SendEmail", "ses:GetSendQuota"},
    "SmsVoiceSendFunctionRole": {"sms-voice:SendTextMessage", "sms-voice:SendVoiceMessage"},
    "PushSendFunctionRole": {"mobiletargeting:SendMessages"},
}


@pytest.mark.parametrize("role", [*SENDERS, "ReceiptQueueFunctionRole"])
def test_ledger_and_task_actions(transformed, role):  # noqa: F811
    actions = _actions_of(transformed, role)
    # A sender reads its recipients' parts at once (BatchGetItem); the receipt queue's function does not.
    parts = {"dynamodb:BatchGetItem"} if role in SENDERS else set()
    assert {a for a in actions if a.startswith("dynamodb:")} == {"dynamodb:GetItem", "dynamodb:UpdateItem",
                                                                  "dynamodb:Query", *parts}
    for action in parts:
        assert actions[action] == LEDGER
    assert actions["dynamodb:GetItem"] == LEDGER
    assert actions["dynamodb:Query"] == LEDGER  # group wait mode: a group's open records
    assert actions["dynamodb:UpdateItem"] == LEDGER
    for action in ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"):
        assert actions[action] == ["*"], action


@pytest.mark.parametrize("role", SENDERS)
def test_each_sender_may_call_its_own_providers_only(transformed, role):  # noqa: F811
    actions = _actions_of(transformed, role)
    provider_actions = {a for a in actions
                        if a.split(":")[0] in ("ses", "sms-voice") or a == "mobiletargeting:SendMessages"}
    assert provider_actions == PROVIDER_ACTIONS[role]


def test_ses_is_allowed_on_the_identity_and_the_configuration_set_only(transformed):  # noqa: F811
    resources = json.dumps(_actions_of(transformed, "EmailSendFunctionRole")["ses:SendEmail"])
    assert "identity/${SesIdentity}" in resources
    assert "configuration-set/${EmailConfigurationSet}" in resources
    assert "*" not in resources


def test_the_receipt_queue_is_read_by_its_function_only(transformed):  # noqa: F811
    actions = _actions_of(transformed, "ReceiptQueueFunctionRole")
    assert {a for a in actions if a.startswith("sqs:")} >= {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    assert "ReceiptQueue" in json.dumps(actions["sqs:ReceiveMessage"])
    for role in SENDERS:
        assert not any(a.startswith("sqs:") for a in _actions_of(transformed, role))
    mapping = transformed["Resources"]["ReceiptQueueEventSource"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = transformed["Resources"]["ReceiptQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5


@pytest.mark.parametrize(("role", "condition"), [("EmailSendFunctionRole", "HasSesIdentity"),
                                                 ("SmsVoiceSendFunctionRole", "UseSmsVoice")])
def test_the_provider_grant_exists_only_with_its_channel(transformed, role, condition):  # noqa: F811
    """SesIdentity empty or SmsVoice disabled: no configuration set, no grant (the sends are refused)."""
    policies = transformed["Resources"][role]["Properties"]["Policies"]
    # The configuration object's grant is a whole policy under its own condition; the provider's is a
    # statement under the channel's.
    unconditional = [p for p in policies if "PolicyDocument" in p]
    conditional = [s for p in unconditional for s in p["PolicyDocument"]["Statement"] if set(s) == {"Fn::If"}]
    assert len(conditional) == 1
    name, granted, otherwise = conditional[0]["Fn::If"]
    assert (name, otherwise) == (condition, {"Ref": "AWS::NoValue"})
    # The send actions; the SES account's rate (GetSendQuota, "*") is read whether or not SES is configured.
    assert set(granted["Action"] if isinstance(granted["Action"], list) else [granted["Action"]]) == PROVIDER_ACTIONS[
        role] - {"ses:GetSendQuota"}
