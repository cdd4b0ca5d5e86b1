"""The local IAM and throttling guards on every boto3 client: what AWS checks before a call
reaches the service, answered as the service answers it."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from journey_activity import aws
from journey_activity_local.engine import aws_guards
from journey_activity_local.engine.aws_guards import GuardConfig, Principal, decide, requested
from journey_activity_local.runtime.current_function import running

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/ledger"
READ_ONLY = Principal(role="ReaderRole", statements=(
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": TABLE},
    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
     "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:journey-activity/*"},
))


@pytest.fixture
def guarded(fake_aws: None) -> Iterator[None]:
    yield
    aws_guards.uninstall()
    aws.reset_clients()


def _ledger_table() -> None:
    boto3.client("dynamodb").create_table(
        TableName="ledger", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])


def test_explicit_deny_wins_and_wildcards_match():
    statements = [
        {"Effect": "Allow", "Action": "dynamodb:*Item", "Resource": "arn:aws:dynamodb:*:*:table/led?er"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
    ]
    assert decide(statements, "dynamodb:GetItem", TABLE) == "Allow"
    assert decide(statements, "DynamoDB:getitem", TABLE) == "Allow"  # actions are case-insensitive
    assert decide(statements, "dynamodb:GetItem", TABLE.upper()) == "ImplicitDeny"  # resources are not
    assert decide(statements, "dynamodb:DeleteItem", TABLE) == "Deny"
    assert decide(statements, "dynamodb:Query", TABLE) == "ImplicitDeny"
    assert decide(statements, "dynamodb:GetItem", TABLE + "-other") == "ImplicitDeny"


def test_an_action_without_resource_types_needs_resource_star():
    scoped = [{"Effect": "Allow", "Action": "states:SendTaskSuccess",
               "Resource": "arn:aws:states:us-east-1:123456789012:stateMachine:m"}]
    config = GuardConfig()
    [(action, resources)] = requested(config, "states", "SendTaskSuccess", {"taskToken": "t", "output": "{}"})
    assert (action, resources) == ("states:SendTaskSuccess", ["*"])
    assert decide(scoped, action, "*") == "ImplicitDeny"
    assert decide([{**scoped[0], "Resource": "*"}], action, "*") == "Allow"


def test_each_call_names_its_resources():
    config = GuardConfig()
    assert requested(config, "dynamodb", "BatchWriteItem", {"RequestItems": {"ledger": []}}) == [
        ("dynamodb:BatchWriteItem", [TABLE])]
    assert requested(config, "dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "ledger"}}, {"ConditionCheck": {"TableName": "ledger"}}]}) == [
        ("dynamodb:PutItem", [TABLE]), ("dynamodb:ConditionCheckItem", [TABLE])]
    assert requested(config, "ssm", "GetParameter", {"Name": "/journey-activity/x"}) == [
        ("ssm:GetParameter", ["arn:aws:ssm:us-east-1:123456789012:parameter/journey-activity/x"])]
    assert requested(config, "mobiletargeting", "PutEvents", {"ApplicationId": "app1"}) == [
        ("mobiletargeting:PutEvents", ["arn:aws:mobiletargeting:us-east-1:123456789012:apps/app1/events"])]
    assert requested(config, "mobiletargeting", "SendMessages", {"ApplicationId": "app1"}) == [
        ("mobiletargeting:SendMessages", ["arn:aws:mobiletargeting:us-east-1:123456789012:apps/app1/messages"])]
    assert requested(config, "events", "PutEvents", {"Entries": [{"Detail": "{}"}]}) == [
        ("events:PutEvents", ["arn:aws:events:us-east-1:123456789012:event-bus/default"])]
    assert requested(config, "lambda", "Invoke", {"FunctionName": "F"}) == [
        ("lambda:InvokeFunction", ["arn:aws:lambda:us-east-1:123456789012:function:F"])]


def test_the_configuration_is_plain_picklable_data():
    config = GuardConfig(principals={"Reader": READ_ONLY}, access_keys={"AK": "Reader"}, fault_rate=0.1, seed=3)
    assert pickle.loads(pickle.dumps(config)) == config  # noqa: S301 - our own data


def test_a_call_the_role_does_not_allow_fails_as_the_service_answers(guarded):
    _ledger_table()
    aws_guards.install(GuardConfig(principals={"Reader": READ_ONLY}))
    dynamodb = aws.client("dynamodb")
    with running("Reader"):
        dynamodb.get_item(TableName="ledger", Key={"pk": {"S": "a"}})  # allowed: reaches moto
        with pytest.raises(ClientError) as refused:
            dynamodb.put_item(TableName="ledger", Item={"pk": {"S": "a"}})
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/ReaderRole/Reader is not authorized to perform: "
        f"dynamodb:PutItem on resource: {TABLE} because no identity-based policy allows the dynamodb:PutItem action")
    # Refused before moto: nothing was written.
    assert "Item" not in dynamodb.get_item(TableName="ledger", Key={"pk": {"S": "a"}})
    assert aws_guards.counts() == {"denied": 1}
    # Outside an invocation (the harness) nothing is guarded.
    dynamodb.put_item(TableName="ledger", Item={"pk": {"S": "b"}})


def test_an_s3_object_is_granted_by_its_arn_and_refused_as_s3_refuses(guarded):
    config = GuardConfig()
    assert requested(config, "s3", "GetObject", {"Bucket": "cfg", "Key": "a/c.json"}) == [
        ("s3:GetObject", ["arn:aws:s3:::cfg/a/c.json"])]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="cfg")
    for key in ("a/c.json", "a/other.json"):
        s3.put_object(Bucket="cfg", Key=key, Body=b"{}")
    reader = Principal(role="ReaderRole", statements=(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cfg/a/c.json"},))
    aws_guards.install(GuardConfig(principals={"Reader": reader}))
    client = aws.client("s3")
    with running("Reader"):
        assert client.get_object(Bucket="cfg", Key="a/c.json")["Body"].read() == b"{}"
        with pytest.raises(ClientError) as refused:
            client.get_object(Bucket="cfg", Key="a/other.json")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "s3:GetObject on resource: arn:aws:s3:::cfg/a/other.json" in refused.value.response["Error"]["Message"]


def test_powertools_parameter_clients_are_guarded_too(guarded):
    from aws_lambda_powertools.utilities import parameters

    secrets = boto3.client("secretsmanager")
    allowed = secrets.create_secret(Name="journey-activity/token", SecretString="s1")["ARN"]
    other = secrets.create_secret(Name="elsewhere/token", SecretString="s2")["ARN"]
    aws_guards.install(GuardConfig(principals={"Reader": READ_ONLY}))
    with running("Reader"):
        assert parameters.get_secret(allowed, force_fetch=True) == "s1"
        with pytest.raises(Exception, match=r"AccessDeniedException.*secretsmanager:GetSecretValue on resource: "
                                            r"arn:aws:secretsmanager:us-east-1:123456789012:secret:elsewhere/token"):
            parameters.get_secret(other, force_fetch=True)


def test_a_function_with_no_role_statements_can_call_nothing(guarded):
    _ledger_table()
    aws_guards.install(GuardConfig(principals={}))
    with running("Nobody"), pytest.raises(ClientError, match="AccessDeniedException"):
        aws.client("dynamodb").get_item(TableName="ledger", Key={"pk": {"S": "a"}})


@pytest.mark.parametrize(("service", "call", "code", "status"), [
    ("dynamodb", lambda c: c.get_item(TableName="ledger", Key={"pk": {"S": "a"}}),
     "ProvisionedThroughputExceededException", 400),
    ("stepfunctions", lambda c: c.send_task_heartbeat(taskToken="t"), "ThrottlingException", 400),
    ("secretsmanager", lambda c: c.get_secret_value(SecretId="journey-activity/x"), "ThrottlingException", 400),
    ("ssm", lambda c: c.get_parameter(Name="/journey-activity/x"), "ThrottlingException", 400),
    ("pinpoint", lambda c: c.put_events(ApplicationId="a", EventsRequest={"BatchItem": {}}),
     "TooManyRequestsException", 429),
    ("events", lambda c: c.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}]),
     "ThrottlingException", 400),
])
def test_faults_answer_with_the_services_own_throttling_error(guarded, service, call, code, status):
    aws_guards.install(GuardConfig(enforce_iam=False, fault_rate=1.0))
    client = aws.client(service)
    with running("Any"), pytest.raises(ClientError) as throttled:
        call(client)
    assert throttled.value.response["Error"]["Code"] == code
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert aws_guards.counts() == {"throttled": 1}


def test_faults_are_seeded_and_at_the_rate(guarded):
    _ledger_table()

    def pattern(seed: int) -> list[bool]:
        aws_guards.install(GuardConfig(enforce_iam=False, fault_rate=0.3, seed=seed))
        dynamodb, outcomes = aws.client("dynamodb"), []
        with running("Any"):
            for _ in range(200):
                try:
                    dynamodb.get_item(TableName="ledger", Key={"pk": {"S": "a"}})
                    outcomes.append(False)
                except ClientError:
                    outcomes.append(True)
        return outcomes

    first = pattern(5)
    assert first == pattern(5)
    assert first != pattern(6)
    assert 30 < sum(first) < 90
