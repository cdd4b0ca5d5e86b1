"""The roles ``template.yaml`` gives its functions and its state machine, as AWS would see them:
the template goes through the SAM transform (samtranslator, as ``sam deploy`` sends it), then
each role's statements have their intrinsics (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` on a
policy or a value, ``Fn::Split``, ``Fn::Select``) resolved
with the local stack's names, account, region and partition.

AWS managed policies (``AWSLambdaBasicExecutionRole``, ``AWSXrayWriteOnlyAccess``) are left
out: they grant CloudWatch Logs and X-Ray, which the handlers do not call through boto3.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from journey_activity_local.engine.aws_guards import Principal
from journey_activity_local.template import Template


def transformed(template_path: Path) -> dict[str, Any]:
    """The template after the SAM transform (once per template text: it takes a second or two)."""
    return copy.deepcopy(_transformed(template_path.read_text()))


@lru_cache(maxsize=8)
def _transformed(text: str) -> dict[str, Any]:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse(text)
    # `sam deploy` uploads the code and the definition and sends their S3 locations.
    document.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/functions.zip"
    for resource in document.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://bucket/functions.zip"
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["DefinitionUri"] = {"Bucket": "bucket", "Key": props["DefinitionUri"]}

    class NoManagedPolicies:  # every policy in the template is a SAM policy template or inline
        def load(self) -> dict[str, str]:
            return {}

    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        return dict(transform(document, {}, NoManagedPolicies()))
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(props: Mapping[str, Any], key: str) -> str | None:
    role = props.get(key)
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


def principals(template_path: Path, refs: Mapping[str, Any]) -> dict[str, Principal]:
    """Per function and state machine (by logical id): its role's identity statements."""
    output = transformed(template_path)
    resolver = Template(template_path)
    resources: dict[str, Any] = output.get("Resources", {})

    statements: dict[str, list[dict[str, Any]]] = {}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            inline = statements.setdefault(logical_id, [])
            for policy in props.get("Policies", []):
                if isinstance(policy, dict) and "Fn::If" in policy:  # a policy only under a condition
                    condition, when_true, when_false = policy["Fn::If"]
                    policy = when_true if resolver.condition(condition, refs) else when_false
                if not isinstance(policy, dict) or "PolicyDocument" not in policy:  # AWS::NoValue
                    continue
                inline.extend(_as_list(policy["PolicyDocument"]["Statement"]))
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in props.get("Roles", []):
                name = role.get("Ref") if isinstance(role, dict) else role
                statements.setdefault(str(name), []).extend(_as_list(props["PolicyDocument"]["Statement"]))

    found: dict[str, Principal] = {}
    for logical_id, resource in resources.items():
        # A role API Gateway assumes (an integration's credentials): the principal is the role itself.
        trust = json.dumps(resource.get("Properties", {}).get("AssumeRolePolicyDocument", {}))
        if resource["Type"] == "AWS::IAM::Role" and "apigateway.amazonaws.com" in trust:
            resolved = resolver.resolve(copy.deepcopy(statements.get(logical_id, [])), refs)
            found[logical_id] = Principal(role=logical_id, statements=tuple(json.loads(json.dumps(resolved))))
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        key = {"AWS::Lambda::Function": "Role", "AWS::StepFunctions::StateMachine": "RoleArn"}.get(resource["Type"])
        role = _role_of(props, key) if key else None
        if role is None:
            continue
        resolved = resolver.resolve(copy.deepcopy(statements.get(role, [])), refs)
        # Plain JSON only (the configuration crosses process boundaries).
        found[logical_id] = Principal(role=role, statements=tuple(json.loads(json.dumps(resolved))))
    return found
