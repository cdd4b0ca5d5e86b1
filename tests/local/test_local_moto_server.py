"""The handlers' AWS (moto's server, over HTTP) is the engine's AWS (moto in-process): one state."""

from __future__ import annotations

import boto3

from journey_activity_local.engine.moto_server import MotoServer
from tests.conftest import LEDGER_KEYS


def test_the_server_and_the_in_process_mock_share_their_backends(fake_aws):
    with MotoServer() as server:
        over_http = boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1")
        in_process = boto3.client("dynamodb", region_name="us-east-1")
        in_process.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
        over_http.put_item(TableName="ledger", Item={"pk": {"S": "b"}, "sk": {"S": "e"}, "status": {"S": "SENT"}})
        item = in_process.get_item(TableName="ledger", Key={"pk": {"S": "b"}, "sk": {"S": "e"}})["Item"]
        assert item["status"] == {"S": "SENT"}
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="s", SecretString="v")
        http_secrets = boto3.client("secretsmanager", endpoint_url=server.url, region_name="us-east-1")
        assert http_secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"] == "v"
    assert server.url.startswith("http://127.0.0.1:")
