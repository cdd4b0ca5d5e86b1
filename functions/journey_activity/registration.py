"""Registering the invoker with Amazon Connect outbound campaigns (v2), which CloudFormation cannot do.

A journey's custom action can invoke a Lambda function only once it is the Connect instance's
Lambda integration: ``connectcampaignsv2`` ``PutConnectInstanceIntegration`` with
``integrationConfig.lambda.functionArn`` (in botocore's model from 1.41.6). The call is idempotent.
"""

from __future__ import annotations

import re
from typing import Any

# The service model's LambdaArn pattern.
LAMBDA_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:([a-z]{2}(?:-gov)?-[a-z]+-\d):\d{12}:function:[a-zA-Z0-9-_]+"
                        r"(?::[a-zA-Z0-9-_]+)?")


def region_of(function_arn: str) -> str:
    """The function's region (the integration lives in the Connect instance's region, the same one)."""
    match = LAMBDA_ARN.fullmatch(function_arn)
    if not match:
        raise ValueError(f"not a Lambda function ARN: {function_arn!r}")
    return match.group(1)


def register(client: Any, instance_id: str, function_arn: str) -> None:
    """Make ``function_arn`` the Lambda integration of the Connect instance ``instance_id``."""
    region_of(function_arn)
    client.put_connect_instance_integration(
        connectInstanceId=instance_id,
        integrationConfig={"lambda": {"functionArn": function_arn}},
    )
