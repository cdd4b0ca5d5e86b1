"""A batch's executions on the local engine: the batch id's own, its parts and its sub-executions."""

from __future__ import annotations

import json

import boto3

from journey_activity_local.stack import batch_executions, execution_suffix, is_batch_execution

LONG = "L" * 70  # a batch id over 63 characters: its sub-executions are named from its first 63
SUB = "L" * 63 + "-0123456789abcdef"


def test_the_batch_executions_are_its_own_its_parts_and_its_sub_executions_in_order(fake_aws):
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="batch", roleArn="arn:aws:iam::123456789012:role/machine",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    other = sfn.create_state_machine(
        name="another", roleArn="arn:aws:iam::123456789012:role/machine",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    for name in ("b-10", "b-2", "other", "b", "bx", "b-1", "b-0123456789abcdef", "a-b", LONG, SUB, "L" * 63 + "-x"):
        sfn.start_execution(stateMachineArn=machine, name=name, input="{}")
    sfn.start_execution(stateMachineArn=other, name="b-3", input="{}")  # another state machine's

    names = [execution["name"] for execution in batch_executions(sfn, machine, "b")]
    assert names == ["b", "b-1", "b-2", "b-10", "b-0123456789abcdef"]
    assert all(execution["executionArn"].endswith(f":{execution['name']}")
               for execution in batch_executions(sfn, machine, "b"))
    assert [execution["name"] for execution in batch_executions(sfn, machine, LONG)] == [LONG, SUB]
    assert batch_executions(sfn, machine, "none") == []


def test_names_and_suffixes():
    assert is_batch_execution("b", "b")
    assert is_batch_execution("b-1", "b")
    assert not is_batch_execution("bx", "b")
    assert not is_batch_execution("other", "b")
    assert not is_batch_execution("b", "b-1")
    assert is_batch_execution(SUB, LONG)
    assert not is_batch_execution("L" * 63 + "-0123456789ABCDEF", LONG)
    assert [execution_suffix(name, "b") for name in ("b", "b-1", "b-12", "b-0123456789abcdef")] == [
        "", "1", "12", "0123456789abcdef"]
    assert execution_suffix(SUB, LONG) == "0123456789abcdef"


class FakeLocal:
    """The parts of a LocalEnvironment the command line reads after a run: each execution's ledger partition."""

    def __init__(self, partitions: dict[str, dict[str, dict[str, str]]]) -> None:
        self.partitions = partitions

    def ledger_records(self, name: str) -> dict[str, dict[str, str]]:
        return self.partitions.get(name, {})

    def client(self, service: str) -> str:
        return f"{service} client"

    def history(self, arn: str) -> list[dict[str, str]]:
        return [{"id": 1, "type": "ExecutionStarted", "of": arn.rsplit(":", 1)[1]}]


def test_the_command_line_reads_every_execution_of_a_batch(tmp_path, monkeypatch):
    from journey_activity_local import cli
    from journey_activity_local.view import sources

    executions = [{"name": name, "executionArn": f"arn:aws:states:us-east-1:1:execution:m:{name}", "status": status}
                  for name, status in (("b-1", "SUCCEEDED"), ("b-2", "FAILED"), ("b-0123456789abcdef", "RUNNING"))]
    local = FakeLocal({"b-1": {"p-1": {"status": "DELIVERED"}, "p-3": {"status": "SENDING"}},
                       "b-2": {"p-2": {"status": "FAILED"}},
                       "b-0123456789abcdef": {"p-3": {"status": "DELIVERED"}}})
    # The union of the partitions; a final status wins over one still pending.
    assert cli._records(local, executions) == {"p-1": {"status": "DELIVERED"}, "p-2": {"status": "FAILED"},
                                               "p-3": {"status": "DELIVERED"}}
    assert cli._executions_line(executions) == "3 executions: b-1 SUCCEEDED, b-2 FAILED, b-0123456789abcdef RUNNING"
    assert cli._executions_line(executions[:1]) == "execution b-1: SUCCEEDED"
    assert cli._executions_line([]) == "no execution (nothing to send)"

    assert cli._histories(local, executions) == {
        name: [{"id": 1, "type": "ExecutionStarted", "of": name}] for name in ("b-1", "b-2", "b-0123456789abcdef")}
    assert cli._histories(local, executions[:1]) == [{"id": 1, "type": "ExecutionStarted", "of": "b-1"}]

    drawn = {}
    monkeypatch.setattr(sources, "load_execution", lambda sfn, arn: arn)
    monkeypatch.setattr(sources, "write_view", lambda path, data, records, personal_data: drawn.update({
        path.name: (data.rsplit(":", 1)[1], sorted(records))}))
    written = cli._write_views(local, tmp_path / "run.html", executions, "b", {}, personal_data=False)
    assert [path.name for path in written] == ["run-1.html", "run-2.html", "run-0123456789abcdef.html"]
    assert drawn == {"run-1.html": ("b-1", ["p-1", "p-3"]), "run-2.html": ("b-2", ["p-2"]),
                     "run-0123456789abcdef.html": ("b-0123456789abcdef", ["p-3"])}
    drawn.clear()
    one = [{**executions[0], "name": "b"}]
    assert cli._write_views(local, tmp_path / "run.html", one, "b", {"p-1": {}}, personal_data=False) == [
        tmp_path / "run.html"]
    assert drawn == {"run.html": ("b-1", ["p-1"])}  # one execution: the run's records, the path as given
