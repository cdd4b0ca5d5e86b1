"""Shared setup of the property tests: moto's DynamoDB (the ledger) and Step Functions, in process.

Step Functions only records executions (no ``execute_state_machine``), so an invocation costs
a few moto calls; the handlers are the real ones, with the real settings read from the
environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "statemachines" / "batch.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
LEDGER_TABLE = "property-ledger"
SIGNING_SECRET = "property-test-secret"
DUMMY_LAMBDA_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:property-dummy"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/property-state-machine"


@dataclass(frozen=True)
class FakeContext:
    """The parts of a Lambda context the handlers (and Powertools) read."""

    function_name: str = "property-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:property-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


@dataclass(frozen=True)
class Stack:
    table: str
    state_machine_arn: str
    signing_secret: str
    context: FakeContext


def _query_one_partition(env: pytest.MonkeyPatch) -> None:
    """moto 5.2's DynamoDB Query sorts the whole table for each query: the ledger grows with every
    example, so each invocation's polls got slower. Apply the engine's patch (a Query reads its one
    partition), as the local DynamoDB process does, after the engine's own check of moto (its
    version and the shapes the patch replaces); until the module's stack ends (``env`` restores moto's
    methods). A moto whose Table.query or Table.all_items changed shape runs unpatched (slower, the
    same answers)."""
    from moto.dynamodb.models.table import Table

    from journey_activity_local.engine import dynamodb_patches, verified

    verified.preflight()  # refuses an unverified moto, unless JOURNEY_ACTIVITY_UNVERIFIED_MOTO=1
    if any(shape.problem() for shape in verified.SHAPES if shape.patch == "query_one_partition"):
        return
    env.setattr(Table, "query", Table.query)  # restored when the stack ends
    env.setattr(Table, "all_items", Table.all_items)
    dynamodb_patches._query_one_partition()


def _reset_caches() -> None:
    from journey_activity import aws
    from journey_activity.config import reset_settings_cache
    from journey_activity.handlers import _runtime

    reset_settings_cache()
    aws.reset_clients()
    _runtime.reset()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """moto's DynamoDB ledger and Step Functions state machine, and the functions' environment."""
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "LEDGER_TABLE": LEDGER_TABLE,
            "INVOKER_DEADLINE_SECONDS": "0.01",
            "CALLBACK_SIGNING_SECRET": SIGNING_SECRET,
            "POWERTOOLS_METRICS_NAMESPACE": "test",
            "POWERTOOLS_SERVICE_NAME": "test",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        }.items():
            env.setenv(name, value)
        for name in ("CALLBACK_SIGNING_SECRET_ARN", "CHANNEL_PROVIDERS", "PROVIDER_URL", "EVENT_ATTRIBUTES",
                     "ADDRESS_RULES", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        _query_one_partition(env)
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            dynamodb.create_table(
                TableName=LEDGER_TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            definition = re.sub(r"\$\{[^}]+\}", DUMMY_LAMBDA_ARN, ASL.read_text(encoding="utf-8"))
            json.loads(definition)  # still a JSON document
            machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
                name="property-batch", definition=definition, roleArn=ROLE_ARN
            )
            env.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
            _reset_caches()
            # The shared logger and metrics were made at import (test collection), before the
            # POWERTOOLS_* variables were set here; in Lambda they are set before any import.
            from journey_activity.handlers._runtime import logger, metrics

            level, namespace = logger.log_level, metrics.namespace
            logger.setLevel("CRITICAL")
            metrics.namespace = "test"
            try:
                yield Stack(LEDGER_TABLE, machine["stateMachineArn"], SIGNING_SECRET, FakeContext())
            finally:
                logger.setLevel(level)
                metrics.namespace = namespace
                _reset_caches()
    _reset_caches()
