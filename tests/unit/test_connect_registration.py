"""``journey-activity connect register``: PutConnectInstanceIntegration as the service model defines it."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.stub import Stubber

from journey_activity.registration import region_of, register

ARN = "arn:aws:lambda:eu-west-2:123456789012:function:journey-activity-InvokerFunction-Ab12"


@pytest.fixture
def client():
    made = boto3.client("connectcampaignsv2", region_name="eu-west-2", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
    with Stubber(made) as stubber:
        yield made, stubber


def test_the_lambda_integration_is_put_on_the_instance(client):
    made, stubber = client
    stubber.add_response("put_connect_instance_integration", {},
                         {"connectInstanceId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                          "integrationConfig": {"lambda": {"functionArn": ARN}}})
    register(made, "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", ARN)
    stubber.assert_no_pending_responses()


def test_the_service_model_has_the_lambda_integration():
    model = boto3.client("connectcampaignsv2", region_name="us-east-1").meta.service_model
    shape = model.operation_model("PutConnectInstanceIntegration").input_shape.members["integrationConfig"]
    assert "lambda" in shape.members
    assert shape.members["lambda"].required_members == ["functionArn"]


def test_a_service_error_reaches_the_caller(client):
    made, stubber = client
    stubber.add_client_error("put_connect_instance_integration", "ResourceNotFoundException", "no such instance",
                             404)
    with pytest.raises(ClientError, match="no such instance"):
        register(made, "missing", ARN)


def test_what_the_model_refuses_is_refused_before_any_call(client):
    made, stubber = client
    with pytest.raises(ValueError, match="not a Lambda function ARN"):
        register(made, "instance-1", "arn:aws:lambda:eu-west-2:123456789012:layer:x")
    stubber.assert_no_pending_responses()
    # The model's own check (made before anything is sent), as register's call meets it.
    bare = boto3.client("connectcampaignsv2", region_name="eu-west-2", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
    with pytest.raises(ParamValidationError, match="functionArn"):
        bare.put_connect_instance_integration(connectInstanceId="instance-1", integrationConfig={"lambda": {}})


def test_region_comes_from_the_function_arn():
    assert region_of(ARN) == "eu-west-2"
    assert region_of("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:live") == "us-gov-west-1"
    with pytest.raises(ValueError, match="not a Lambda function ARN"):
        region_of("arn:aws:states:us-east-1:123456789012:stateMachine:x")
