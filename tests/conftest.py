"""Shared test helpers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The tests run the local engine: refuse, in one line, a moto its patches were not verified on
    (JOURNEY_ACTIVITY_UNVERIFIED_MOTO=1 runs them anyway, as scripts/check-upgrades does)."""
    from journey_activity_local.engine import verified

    try:
        verified.preflight()
    except verified.UnverifiedEngineError as error:
        pytest.exit(str(error), returncode=3)
    # The tests start one local environment after another: each takes a ledger DynamoDB process
    # started while the previous test ran, instead of waiting for one to start.
    from journey_activity_local.engine import dynamodb_process

    dynamodb_process.keep_spares()


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """``load_event(name)``: the JSON document ``tests/events/<name>.json``."""

    def load(name: str) -> Any:
        return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))

    return load


# The ledger table's keys, as template.yaml declares them (the tests that need only the table).
LEDGER_KEYS: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                             {"AttributeName": "sk", "AttributeType": "S"}],
}


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS, with its fake credentials in us-east-1: nothing can reach a real account."""
    from moto import mock_aws

    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def book(fake_aws: None) -> Any:
    """An empty ledger table on moto, and the product's Ledger over it (table ``ledger``)."""
    import boto3

    from journey_activity.ledger import Ledger

    client = boto3.client("dynamodb")
    client.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    return Ledger("ledger", dynamodb=client)
