"""Read ``template.yaml`` the way the local runtime needs it: functions, their handlers,
timeouts and environment, the HTTP API routes, the state machine's definition.

Intrinsic functions are resolved against local stand-ins: ``!Ref`` of a parameter gives its
override or default, ``!Ref``/``!GetAtt`` of a resource gives the local name or ARN, ``!Sub``
substitutes both. Conditions are evaluated as CloudFormation evaluates them for the parameters
given: ``!If`` takes its branch, ``!Ref AWS::NoValue`` removes the list item or property it
stands for, and a resource whose ``Condition`` is false does not exist (:meth:`Template.exists`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"


class _NoValue:
    """What ``!Ref AWS::NoValue`` resolves to: removed from the list or mapping that holds it."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

# Resource types whose ``!Ref`` is the name the template gives them (CloudFormation's return
# values), by the property holding it.
_REF_IS_NAME = {"AWS::SES::ConfigurationSet": "Name", "AWS::SMSVOICE::ConfigurationSet": "ConfigurationSetName",
                "AWS::Events::EventBus": "Name"}


class _Tag:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


# libyaml's scanner and parser when pyyaml was built with it (the wheels are): the same safe
# constructors, the template read several times faster.
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # a pyyaml built without libyaml
    from yaml import SafeLoader as _SafeLoader


class _Loader(_SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _Tag(tag_suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load_yaml(path: Path) -> dict[str, Any]:
    """The document, parsed once per text (a test session loads the same template many times)."""
    return copy.deepcopy(_parsed(path.read_text()))


@lru_cache(maxsize=8)
def _parsed(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loader with CFN tags only


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    timeout: int
    environment: dict[str, Any]
    http_routes: list[tuple[str, str]] = field(default_factory=list)  # (METHOD, /path/{param})
    event_patterns: list[dict[str, Any]] = field(default_factory=list)  # EventBridgeRule patterns
    memory: int = 128  # MemorySize (MB)
    architecture: str = "x86_64"  # Architectures[0] (Lambda bills arm64 a fifth less per GB-second)
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions
    # EventInvokeConfig: Lambda's retries of an asynchronous invocation (2 unless set) and the ARN
    # of its on-failure destination (None: a failed event is discarded).
    async_retries: int = 2
    on_failure: str | None = None

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def named_resource(value: Any) -> str | None:
    """The logical id a ``!Ref`` / ``!GetAtt`` (tag or ``Ref`` / ``Fn::GetAtt`` mapping) names, else None."""
    if isinstance(value, _Tag):
        tag, inner = value.tag, value.value
    elif isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        tag = tag.removeprefix("Fn::")
    else:
        return None
    if tag == "Ref":
        return str(inner)
    if tag == "GetAtt":
        return str(inner[0]) if isinstance(inner, list) else str(inner).split(".")[0]
    return None


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the pattern forms a template uses: a list is any-of, an
    object matches field by field."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(key in event and matches(value, event[key])
                                               for key, value in pattern.items())
    if isinstance(pattern, list):
        return any(matches(option, event) for option in pattern)
    return bool(pattern == event)


def _optional_int(value: Any) -> int | None:
    return None if value is NO_VALUE or value in (None, "", "AWS::NoValue") else int(value)


class Template:
    """The parts of the SAM template the local runtime uses."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = path.parent
        self.document = load_yaml(path)
        self.resources: dict[str, Any] = self.document.get("Resources", {})
        self.parameters: dict[str, Any] = self.document.get("Parameters", {})

    # -- intrinsic functions -----------------------------------------------------------------

    def resolve(self, value: Any, refs: Mapping[str, Any]) -> Any:
        if isinstance(value, _Tag):
            return self._intrinsic(value.tag, value.value, refs)
        if isinstance(value, dict):
            if len(value) == 1:
                (key, inner), = value.items()
                if key == "Ref" or key.startswith("Fn::"):
                    return self._intrinsic(key.removeprefix("Fn::"), inner, refs)
            resolved = {k: self.resolve(v, refs) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(v, refs) for v in value) if item is not NO_VALUE]
        return value

    def _intrinsic(self, tag: str, value: Any, refs: Mapping[str, Any]) -> Any:
        if tag == "Ref":
            return self._ref(str(value), refs)
        if tag == "GetAtt":
            name = value if isinstance(value, str) else ".".join(value)
            return refs.get(name, refs.get(name.split(".")[0], name))
        if tag == "Sub":
            text, extra = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1], refs))
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(extra.get(m.group(1), self._ref(m.group(1), refs))), text)
        if tag == "Join":
            separator, items = value
            return separator.join(str(self.resolve(item, refs)) for item in items)
        if tag == "If":
            return self.resolve(value[1] if self.condition(value[0], refs) else value[2], refs)
        if tag == "Split":
            separator, text = value
            return str(self.resolve(text, refs)).split(separator)
        if tag == "Select":
            index, items = value
            return self.resolve(items, refs)[int(self.resolve(index, refs))]
        return self.resolve(value, refs)

    def condition(self, name: str, refs: Mapping[str, Any]) -> bool:
        """A template condition (Equals, Not, And, Or, Condition) against the parameters' defaults."""
        return self._truth(self.document.get("Conditions", {}).get(name, True), refs)

    def _truth(self, value: Any, refs: Mapping[str, Any]) -> bool:
        tag, inner = (value.tag, value.value) if isinstance(value, _Tag) else (None, value)
        if tag is None and isinstance(value, dict) and len(value) == 1:
            (key, inner), = value.items()
            tag = key.removeprefix("Fn::")
        if tag == "Equals":
            left, right = (self.resolve(item, refs) for item in inner)
            return str(left) == str(right)
        if tag == "Not":
            return not self._truth(inner[0], refs)
        if tag == "And":
            return all(self._truth(item, refs) for item in inner)
        if tag == "Or":
            return any(self._truth(item, refs) for item in inner)
        if tag == "Condition":
            return self.condition(str(inner), refs)
        return bool(value)

    def exists(self, logical_id: str, refs: Mapping[str, Any]) -> bool:
        """Whether CloudFormation would make the resource: it has no ``Condition``, or a true one."""
        condition = self.resources.get(logical_id, {}).get("Condition")
        return logical_id in self.resources and (condition is None or self.condition(str(condition), refs))

    def _ref(self, name: str, refs: Mapping[str, Any]) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in refs:
            return refs[name]
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "journey-activity-local"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name].get("Default", "")
        resource = self.resources.get(name, {})
        named_by = _REF_IS_NAME.get(resource.get("Type", ""))
        if named_by and named_by in resource.get("Properties", {}):
            return self.resolve(resource["Properties"][named_by], refs)
        if "." in name:  # ${Resource.Attribute} inside !Sub
            return refs.get(name.split(".")[0], name)
        return name

    # -- what the runtime needs ------------------------------------------------------------------

    def functions(self, refs: Mapping[str, Any]) -> dict[str, FunctionSpec]:
        globals_ = self.document.get("Globals", {}).get("Function", {})
        global_env = globals_.get("Environment", {}).get("Variables", {})
        specs = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function" or not self.exists(logical_id, refs):
                continue
            props = resource.get("Properties", {})

            def setting(name: str, lambda_default: Any, props: Mapping[str, Any] = props) -> Any:
                # SAM puts Globals under the function's own value; AWS::NoValue leaves Lambda's default.
                value = self.resolve(props.get(name, globals_.get(name)), refs)
                return lambda_default if value is None or value is NO_VALUE else value

            env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            environment = {k: self.resolve(v, refs) for k, v in env.items()}
            invoke_config = self.resolve(props.get("EventInvokeConfig") or {}, refs)
            on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
            routes, patterns = [], []
            for event in props.get("Events", {}).values():
                event_props = event.get("Properties", {})
                if event.get("Type") in ("HttpApi", "Api"):
                    routes.append((str(event_props.get("Method", "ANY")).upper(), str(event_props.get("Path", "/"))))
                elif event.get("Type") == "EventBridgeRule":
                    patterns.append(self.resolve(event_props.get("Pattern", {}), refs))
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                handler=str(props.get("Handler", globals_.get("Handler", ""))),
                timeout=int(setting("Timeout", 3)),
                environment={k: str(v) for k, v in environment.items() if v is not NO_VALUE},
                http_routes=routes,
                event_patterns=patterns,
                memory=int(setting("MemorySize", 128)),
                architecture=str((setting("Architectures", None) or ["x86_64"])[0]),
                reserved_concurrency=_optional_int(setting("ReservedConcurrentExecutions", None)),
                async_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
                on_failure=str(on_failure["Destination"]) if on_failure.get("Destination") else None,
            )
        return specs

    def state_machine(self, logical_id: str | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(logical id, ASL document, DefinitionSubstitutions as written)."""
        for name, resource in self.resources.items():
            if resource.get("Type") == "AWS::Serverless::StateMachine" and logical_id in (None, name):
                props = resource["Properties"]
                definition = json.loads((self.root / props["DefinitionUri"]).read_text())
                return name, definition, props.get("DefinitionSubstitutions", {})
        raise LookupError("template.yaml has no AWS::Serverless::StateMachine")

    def definition(self, refs: Mapping[str, Any], logical_id: str | None = None) -> str:
        """The ASL with its ``${Placeholders}`` bound as ``DefinitionSubstitutions`` say."""
        _, definition, substitutions = self.state_machine(logical_id)
        bound = {key: str(self.resolve(value, refs)) for key, value in substitutions.items()}
        text = json.dumps(definition)
        unbound = set(re.findall(r"\$\{(\w+)\}", text)) - bound.keys()
        if unbound:
            raise LookupError(f"DefinitionSubstitutions does not bind {sorted(unbound)}")
        return re.sub(r"\$\{(\w+)\}", lambda m: bound[m.group(1)], text)

    def table_properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id]["Properties"])
