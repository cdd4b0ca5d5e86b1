"""What ``sam build`` packages into every Lambda: the product alone, at the locked versions.

- functions/requirements.txt is exported from uv.lock (scripts/lock): every package the product
  needs on Lambda, at the locked version, with hashes; nothing of the developer's tool.
- The function code (the template's ``CodeUri``) holds the product package and nothing else: no
  module of the local engine, no moto, no command line.
- Nothing in the product imports the developer's tool or its libraries (an import graph read from
  the source, so a lazy import inside a function counts too).
- The invoker, whose cold start counts against the trigger's answer deadline, imports none of the
  modules its path never calls (the senders, providers, receipts, templates, provider guards,
  Pinpoint's event models, the sender's part of the ledger, the steps' models of the execution's
  input, the configuration object's reader when none is named), and a Connect event, answered in
  full, imports no part of the Pinpoint trigger and none of those either.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

pytestmark = pytest.mark.lint

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "functions" / "journey_activity"
# Lambda's Python runtime ships boto3 and what it needs; the function package does not carry its own.
FROM_THE_RUNTIME = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"})
# The developer's tool and the libraries only it uses: never imported by what runs on Lambda.
NOT_ON_LAMBDA = frozenset({"journey_activity_local", "moto", "typer", "rich", "yaml", "pytest", "hypothesis",
                           "twilio", "cfnlint", "samtranslator"})


def _locked() -> dict[str, dict]:
    return {package["name"]: package for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}


def _packaged() -> dict[str, str]:
    """name -> pinned version, from functions/requirements.txt (each pin carries its hashes)."""
    found: dict[str, str] = {}
    text = (ROOT / "functions" / "requirements.txt").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *hashes = line.split(" --hash=")
        parsed = Requirement(requirement.strip())
        assert hashes, f"{parsed.name} is not pinned with its hashes"
        (pin,) = parsed.specifier
        assert pin.operator == "==", f"{parsed.name} is not pinned exactly: {parsed.specifier}"
        found[parsed.name.lower()] = pin.version
    return found


def _closure(locked: dict[str, dict], root: str) -> set[str]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(dependency["name"] for dependency in locked[name].get("dependencies", []))
    return seen - {root}


def test_the_function_package_installs_the_locked_versions_of_what_the_product_needs():
    locked = _locked()
    packaged = _packaged()
    needed = _closure(locked, "journey-activity") - FROM_THE_RUNTIME
    assert set(packaged) == needed, "run scripts/lock: functions/requirements.txt is not the lock's export"
    for name, version in packaged.items():
        assert locked[name]["version"] == version, f"{name}: {version} packaged, {locked[name]['version']} locked"
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in map(Requirement, declared):
        name = requirement.name.lower()
        if name in packaged:
            assert Version(packaged[name]) in requirement.specifier, f"{name} {packaged[name]} outside {requirement}"


def test_the_function_package_carries_no_part_of_the_developers_tool():
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=yaml.BaseLoader)  # noqa: S506 - tags as text
    code_uris = {template["Globals"]["Function"]["CodeUri"]} | {
        resource["Properties"]["CodeUri"] for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in resource.get("Properties", {})}
    assert code_uris == {"functions/"}
    shipped = sorted(path.relative_to(ROOT / "functions").as_posix() for path in (ROOT / "functions").rglob("*")
                     if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in path.as_posix())
    assert shipped, "nothing under functions/"
    assert all(path == "requirements.txt" or path.startswith("journey_activity/") for path in shipped), shipped
    assert not [path for path in shipped if "local" in Path(path).parts or path.endswith(("cli.py", "/view"))]
    assert "moto" not in (ROOT / "functions" / "requirements.txt").read_text()


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_nothing_in_the_product_imports_the_developers_tool():
    offenders = {path.relative_to(ROOT).as_posix(): sorted(_imports(path) & NOT_ON_LAMBDA)
                 for path in PRODUCT.rglob("*.py")}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_import_check_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from journey_activity_local.engine import limits\n    import moto.core\n")
    assert _imports(module) & NOT_ON_LAMBDA == {"journey_activity_local", "moto"}


# What the invoker's path never calls: imported by it, each would only lengthen its cold start
# (benchmarks/batch.py --imports-only measures it). A module named here imports none of its own
# dependencies into the invoker either, as the check is on the whole of sys.modules.
NOT_IN_THE_INVOKER = (
    "journey_activity.security", "journey_activity.senders", "journey_activity.receipts",
    "journey_activity.templating", "journey_activity.validation", "journey_activity.signing",
    "journey_activity.pacing", "journey_activity.reporting", "journey_activity.provider_events",
    "journey_activity.config", "journey_activity.providers", "journey_activity.sinks",
    "journey_activity.settings.providers", "journey_activity.settings.validate",
    "journey_activity.settings.callback", "journey_activity.settings.reporting",
    "journey_activity.models.pinpoint", "journey_activity.triggers.pinpoint",
    # The ledger's sends, pointers, heartbeats and the whole Ledger: the invoker's is InvokerLedger. The
    # group waits too (imported when the invoker closes a group's record of an execution that failed).
    "journey_activity.ledger.book", "journey_activity.ledger.sends", "journey_activity.ledger.pointers",
    "journey_activity.ledger.heartbeats", "journey_activity.ledger.groups",
    # The steps' models of the execution's input: the invoker writes it without them.
    "journey_activity.models.execution",
    # Read only when CONFIGURATION_OBJECT names an object (none here).
    "journey_activity.settings.configuration_object",
    "twilio", "requests",
)


def _modules_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``code`` (the product's, and any named above)."""
    listing = ("import sys, json; print(json.dumps(sorted(m for m in sys.modules if m.startswith("
               f"{tuple(sorted({name.split('.')[0] for name in NOT_IN_THE_INVOKER}))!r}))))")
    output = subprocess.run([sys.executable, "-c", f"{code}\n{listing}"], check=True, capture_output=True,
                            text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _named(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(f"{name}.") for name in NOT_IN_THE_INVOKER)]


def test_the_invoker_imports_nothing_its_path_never_calls():
    modules = _modules_after("import journey_activity.handlers.invoker")
    assert "journey_activity.handlers.invoker" in modules
    assert _named(modules) == []


def test_a_connect_event_imports_no_part_of_the_pinpoint_trigger():
    event = {"InvocationMetadata": {}, "Items": {"CustomerProfiles": []}}
    modules = _modules_after("import journey_activity.handlers.invoker\n"
                             "from journey_activity.triggers import adapter_for\n"
                             f"assert adapter_for({event!r}).source == 'connect'")
    assert "journey_activity.triggers.connect" in modules
    assert _named(modules) == []


# A Connect invocation answered in full, in a fresh interpreter, its AWS calls to moto: every
# module the path needs is imported by then, those named above are not (so none was only deferred).
FIRST_CONNECT_INVOCATION = """
import json, os
from pathlib import Path
action = {"channel": "SMS", "message": "Hi {{Attributes.Customer.FirstName}}"}
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "LEDGER_TABLE": "ledger", "INVOKER_DEADLINE_SECONDS": "4.5",
                   "CONNECT_ACTIONS": json.dumps({"*": action})})
for name in ("CONFIGURATION_OBJECT", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(name, None)
from moto import mock_aws
import boto3
with mock_aws():
    keys = {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]}
    boto3.client("dynamodb").create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **keys)
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    machine = sfn.create_state_machine(name="batch", roleArn="arn:aws:iam::123456789012:role/sfn",
                                       definition=json.dumps(definition))
    os.environ["STATE_MACHINE_ARN"] = machine["stateMachineArn"]
    import journey_activity.handlers.invoker as invoker

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "invoker", 1024, "first"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:invoker"

        def get_remaining_time_in_millis(self):
            return 30_000

    event = json.loads(Path(EVENT).read_text())
    answer = invoker.handler(event, Context())
    started = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    assert len(started) == 1, started
    assert len(answer["Items"]["CustomerProfiles"]) == len(event["Items"]["CustomerProfiles"]), answer
"""


def test_a_connect_invocation_answered_in_full_imports_nothing_its_path_never_calls():
    event = ROOT / "tests" / "events" / "connect_journey.json"
    modules = _modules_after(f"EVENT = {str(event)!r}\n{FIRST_CONNECT_INVOCATION}")
    assert {"journey_activity.triggers.connect", "journey_activity.ledger.invoker",
            "journey_activity.claims"} <= set(modules)
    # moto itself needs requests: only the product's modules are looked at here.
    assert _named([m for m in modules if m.startswith("journey_activity.")]) == []
