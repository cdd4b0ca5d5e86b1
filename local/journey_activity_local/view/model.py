"""An execution as the view shows it: the graph, every endpoint's path and timeline, the summary.

Built from three sources, each optional but the first:

- the execution's history events, exactly as ``GetExecutionHistory`` returns them (AWS's shape:
  ``timestamp`` as epoch seconds, an ISO 8601 string or a ``datetime``; the local engine's history
  has the same shape);
- the state machine's definition (ASL), for the graph;
- the ledger's records of the batch, for final statuses, receipts and heartbeats the history does
  not hold (Step Functions records no event for ``SendTaskHeartbeat``).

In group wait mode (``WaitMode=group``) a Map iteration is a group of endpoints (an item with an
``id``, a ``label`` such as "Send SMS (48 endpoints)" and its ``recipients``), not an endpoint: the
iteration's events are the group's timeline, every endpoint of the group takes the group's path,
and each endpoint's own timeline (its send attempts, the send, progress receipts, the receipt, the
outcome) is drawn from its ledger record, the attempts timed by the group task's tries.

A Map iteration's events are found by following ``previousEventId`` back to their
``MapIterationStarted`` event, which carries the iteration's index; the index names the item of the
Map's ``ItemsPath``, hence the endpoint. Only ids, channels, statuses, reasons and error names are
kept unless personal data is allowed: addresses, attributes, messages and error causes stay out.

A history may be of an earlier definition than the one drawn (a file read without its definition
is drawn with today's): a state it entered that the definition lacks (before 2026-12-08, "Compile
EventAttributes", "Report engagement events" and "Report not sent", since made one task) is drawn
too, after the state its thread was in before it, with the ``Next`` the history took
(``from_history``), so every endpoint's path stays whole.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FINAL = ("DELIVERED", "FAILED", "TIMED_OUT", "SKIPPED")
TASK_FAILURES = ("TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed", "TaskStateAborted")
EXECUTION_ENDS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")
# Context fields that are message content, not ids: shown only when personal data is allowed.
PERSONAL_CONTEXT = frozenset({"template"})


@dataclass
class StateNode:
    """A state of the definition and what the endpoints did there."""

    name: str
    type: str
    parent: str | None
    comment: str = ""
    next: str | None = None
    catches: list[tuple[str, list[str]]] = field(default_factory=list)
    retries: list[list[str]] = field(default_factory=list)
    default: str | None = None
    choices: list[str] = field(default_factory=list)
    entered: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    from_history: bool = False
    """Not a state of the definition drawn: the history entered it (an earlier definition's state)."""


@dataclass
class Endpoint:
    """One endpoint of the batch: its outcome, its path through the states and its timeline."""

    id: str
    channel: str = ""
    status: str = "PENDING"
    reason: str = ""
    attempts: int = 0
    seconds_to_receipt: float | None = None
    error: str = ""
    path: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    group: str = ""


@dataclass
class Group:
    """Group wait mode: one Map iteration, one waiting task for the endpoints of one channel family."""

    id: str
    label: str = ""
    sender: str = ""
    map: str = ""
    task: str = ""
    endpoints: list[str] = field(default_factory=list)
    attempts: int = 0
    error: str = ""
    by_status: dict[str, int] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ExecutionView:
    """Everything the page shows, as plain data."""

    states: list[StateNode]
    endpoints: list[Endpoint]
    summary: dict[str, Any]
    personal_data: bool = False
    groups: list[Group] = field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {
            "states": [vars(state) for state in self.states],
            "endpoints": [vars(endpoint) for endpoint in self.endpoints],
            "groups": [vars(group) for group in self.groups],
            "summary": self.summary,
            "personal_data": self.personal_data,
        }


@dataclass
class _Try:
    """One try of a group's task (its first state's ``TaskScheduled``) and how it ended, if it failed."""

    at: datetime | None
    error: str = ""
    error_at: datetime | None = None


@dataclass
class _Visit:
    """One pass of one thread (the batch, or a Map iteration) through one state."""

    state: str
    first_event: int
    scheduled: int = 0
    failed: bool = False
    done: bool = False
    submitted_at: datetime | None = None
    receipt_seconds: float | None = None


# --- reading the definition ---------------------------------------------------------------


def definition_states(definition: Mapping[str, Any]) -> list[StateNode]:
    """Every state of the definition, outer states first in flow order, nested ones after their parent."""
    nodes: list[StateNode] = []

    def walk(machine: Mapping[str, Any], parent: str | None) -> None:
        states: Mapping[str, Any] = machine.get("States", {})
        for name in _flow_order(machine):
            state = states[name]
            node = StateNode(
                name=name,
                type=str(state.get("Type", "")),
                parent=parent,
                comment=str(state.get("Comment", "")),
                next=state.get("Next"),
                catches=[(str(c.get("Next")), list(c.get("ErrorEquals", []))) for c in state.get("Catch", [])],
                retries=[list(r.get("ErrorEquals", [])) for r in state.get("Retry", [])],
                default=state.get("Default"),
                choices=[str(c.get("Next")) for c in state.get("Choices", []) if c.get("Next")],
            )
            nodes.append(node)
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(processor, Mapping):
                walk(processor, name)
            for branch in state.get("Branches", []) or []:
                walk(branch, name)

    walk(definition, None)
    return nodes


def _flow_order(machine: Mapping[str, Any]) -> list[str]:
    """States in the order a person reads the flow: from StartAt along Next, then the branches."""
    states: Mapping[str, Any] = machine.get("States", {})
    order: list[str] = []
    pending = [str(machine.get("StartAt", ""))]
    while pending:
        name = pending.pop(0)
        if name in order or name not in states:
            continue
        order.append(name)
        state = states[name]
        targets = [state.get("Next"), state.get("Default"), *(c.get("Next") for c in state.get("Choices", [])),
                   *(c.get("Next") for c in state.get("Catch", []))]
        # The main line first (Next), branches (Catch, Choice) after it.
        pending[:0] = [t for t in targets[:1] if t]
        pending.extend(t for t in targets[1:] if t)
    order.extend(name for name in states if name not in order)
    return order


def add_history_states(nodes: list[StateNode], entered: list[tuple[str, str, str | None, str | None]]) -> None:
    """The states the history entered that the definition lacks, as nodes: ``entered`` lists, in
    the order of the history, each state entered (name, its ``…StateEntered`` event's type, its Map
    or None, the state its thread was in before it or None). Each is placed after its predecessor's
    node and the nodes inside it (at the end of its container when it has none drawn), its ``Next``
    the state its thread entered after it."""
    known = {node.name for node in nodes}
    added: dict[str, StateNode] = {}
    for index, (name, kind, parent, before) in enumerate(entered):
        if name in known:
            continue
        node = added.get(name)
        if node is None:
            node = StateNode(name=name, type=kind.removesuffix("StateEntered") or "Task", parent=parent,
                             comment="Not in the definition drawn: a state of the one this execution ran.",
                             from_history=True)
            added[name] = node
            nodes.insert(_position_after(nodes, before, parent), node)
        if node.next is None:
            node.next = next((later for later, _, later_parent, was in entered[index + 1:]
                              if later_parent == parent and was == name), None)


def _position_after(nodes: list[StateNode], before: str | None, parent: str | None) -> int:
    """Where a node goes: after ``before`` and every node inside it, else after its container's last node."""
    names = [node.name for node in nodes]
    if before in names:
        position = names.index(str(before)) + 1
        inside = {str(before)}
        while position < len(nodes) and nodes[position].parent in inside:
            inside.add(nodes[position].name)
            position += 1
        return position
    last = max((i for i, node in enumerate(nodes) if node.parent == parent), default=len(nodes) - 1)
    return last + 1


# --- reading history events --------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """A history timestamp: a datetime (boto3), epoch seconds (the wire), or an ISO 8601 string."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), tz=UTC)
            except ValueError:
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _path_get(document: Any, path: str | None) -> Any:
    """A reference path (``$.a.b``) into a document; ``$`` or no path is the document."""
    if not path or path == "$":
        return document
    current = document
    for part in path.removeprefix("$.").split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _endpoint_ref(item: Any) -> tuple[str | None, str]:
    """The endpoint id and channel an item or state input refers to, in either shape states carry
    (a recipient document, a ``{"recipient": …}`` wrapper, an id and a channel, or a bare id)."""
    if isinstance(item, str):
        return item, ""
    if not isinstance(item, Mapping):
        return None, ""
    for key in ("endpoint_id", "EndpointId", "profile_id", "ProfileId", "id", "Id"):
        if isinstance(item.get(key), str):
            return item[key], str(item.get("channel") or item.get("ChannelType") or "")
    for key in ("recipient", "endpoint", "item", "profile"):
        if key in item:
            found = _endpoint_ref(item[key])
            if found[0]:
                return found
    return None, ""


def _group_ref(item: Any) -> Mapping[str, Any] | None:
    """The group an item or an iteration's input is (group wait mode): ``{"id", "label", "recipients"}``,
    bare or as ``{"group": …}``."""
    if not isinstance(item, Mapping):
        return None
    if isinstance(item.get("id"), str) and isinstance(item.get("recipients"), list):
        return item
    inner = item.get("group")
    return _group_ref(inner) if isinstance(inner, Mapping) else None


def _iterations(events: list[dict[str, Any]]) -> dict[int, tuple[str, int] | None]:
    """Each event's Map iteration (map name, index), or None for the batch's own thread."""
    by_id: dict[int, tuple[str, int] | None] = {}
    for event in events:
        kind = str(event.get("type", ""))
        details = _details(event)
        if kind.startswith("MapIteration"):
            thread: tuple[str, int] | None = (str(details.get("name", "")), int(details.get("index", 0)))
        elif kind.startswith(("MapState", "Execution", "MapRun")):
            thread = None
        else:
            thread = by_id.get(int(event.get("previousEventId") or 0))
        by_id[int(event["id"])] = thread
    return by_id


# --- the model ---------------------------------------------------------------------------------


def build_model(
    events: Iterable[Mapping[str, Any]],
    definition: Mapping[str, Any] | str | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
    execution: Mapping[str, Any] | None = None,
    *,
    personal_data: bool = False,
) -> ExecutionView:
    """The view of one execution. ``records`` are the ledger's records by endpoint id;
    ``execution`` is what ``DescribeExecution`` answered (name, status, ARN)."""
    history = sorted((dict(e) for e in events), key=lambda e: int(e["id"]))
    machine: Mapping[str, Any] = (json.loads(definition) if isinstance(definition, str) else definition) or {}
    nodes = definition_states(machine)
    known = {node.name for node in nodes}
    items_paths = {n.name: _items_path(machine, n.name) for n in nodes if n.type == "Map"}
    thread_of = _iterations(history)
    started = parse_time(history[0].get("timestamp")) if history else None

    endpoints: dict[str, Endpoint] = {}
    groups: dict[str, Group] = {}
    iteration_group: dict[tuple[str, int], str] = {}
    group_tries: dict[tuple[str, int], list[_Try]] = {}

    def endpoint(endpoint_id: str, channel: str = "") -> Endpoint:
        found = endpoints.setdefault(endpoint_id, Endpoint(id=endpoint_id))
        if channel and not found.channel:
            found.channel = channel
        return found

    def group(document: Mapping[str, Any], map_name: str) -> Group:
        found = groups.setdefault(str(document["id"]), Group(id=str(document["id"]), map=map_name))
        found.label = found.label or str(document.get("label") or "")
        sender = document.get("sender")
        found.sender = found.sender or (str(sender).rsplit(":", 1)[-1] if isinstance(sender, str) else "")
        for recipient in document.get("recipients") or []:
            found_id, channel = _endpoint_ref(recipient)
            if found_id:
                endpoint(found_id, channel).group = found.id
                if found_id not in found.endpoints:
                    found.endpoints.append(found_id)
        return found

    def claim(thread: tuple[str, int], document: Any) -> None:
        """Whose iteration ``thread`` is: a group's (group wait mode) or an endpoint's."""
        if thread in iteration_endpoint or thread in iteration_group:
            return
        if (found_group := _group_ref(document)) is not None:
            iteration_group[thread] = group(found_group, thread[0]).id
            return
        found_id, channel = _endpoint_ref(document)
        if found_id:
            iteration_endpoint[thread] = found_id
            endpoint(found_id, channel)

    def offset(at: datetime | None) -> float | None:
        return round((at - started).total_seconds(), 3) if at and started else None

    context: dict[str, Any] = {}
    entered: list[tuple[str, str, str | None, str | None]] = []
    map_items: dict[str, list[Any]] = {}
    results: dict[str, Mapping[str, Any]] = {}
    skipped: dict[str, Mapping[str, Any]] = {}
    visits: dict[tuple[tuple[str, int] | None, str], _Visit] = {}
    current: dict[tuple[str, int] | None, str] = {}
    thread_events: dict[tuple[str, int], list[dict[str, Any]]] = {}
    iteration_endpoint: dict[tuple[str, int], str] = {}
    execution_end: dict[str, Any] = {}
    last_time = started

    for event in history:
        kind = str(event.get("type", ""))
        details = _details(event)
        at = parse_time(event.get("timestamp"))
        last_time = at or last_time
        thread = thread_of[int(event["id"])]
        if kind == "ExecutionStarted":
            document = _json(details.get("input")) or {}
            context = dict(document.get("context") or {}) if isinstance(document, Mapping) else {}
            for recipient in (document.get("recipients") or []) if isinstance(document, Mapping) else []:
                found_id, channel = _endpoint_ref(recipient)
                if found_id:
                    endpoint(found_id, channel)
            continue
        if kind in EXECUTION_ENDS:
            execution_end = {"type": kind, "error": details.get("error"), "at": at}
            for key, name in current.items():
                if kind != "ExecutionSucceeded" and (visit := visits.get((key, name))) and not visit.done:
                    visit.failed = True
            continue
        if kind.endswith("StateEntered"):
            name = str(details.get("name", ""))
            entered.append((name, kind, thread[0] if thread else None, current.get(thread)))
            current[thread] = name
            visits.setdefault((thread, name), _Visit(state=name, first_event=int(event["id"])))
            document = _json(details.get("input"))
            if kind == "MapStateEntered" and isinstance(document, Mapping):
                items = _path_get(document, items_paths.get(name))
                map_items[name] = list(items) if isinstance(items, list) else []
            if thread is not None:
                claim(thread, document)
                if (owner := iteration_group.get(thread)) and not groups[owner].task:
                    groups[owner].task = name  # the iteration's first state: the group's waiting task
        if kind.startswith("MapIteration") and thread is not None:
            items = map_items.get(thread[0], [])
            if thread[1] < len(items):
                claim(thread, items[thread[1]])
            if kind in ("MapIterationFailed", "MapIterationAborted"):
                for (key, _), visit in visits.items():
                    if key == thread and not visit.done:
                        visit.failed = True
        state = current.get(thread)
        visit = visits.get((thread, state)) if state else None
        owner = iteration_group.get(thread) if thread is not None else None
        if owner is not None and thread is not None and state == groups[owner].task:
            tries = group_tries.setdefault(thread, [])
            if kind == "TaskScheduled":
                tries.append(_Try(at=at))
            elif kind in TASK_FAILURES and tries:
                tries[-1].error, tries[-1].error_at = str(details.get("error") or kind), at
        if visit is not None:
            if kind == "TaskScheduled":
                visit.scheduled += 1
                visit.failed = False
                visit.submitted_at = None
            elif kind == "TaskSubmitted":
                visit.submitted_at = at
            elif kind in TASK_FAILURES:
                visit.failed = True
                if visit.submitted_at and at and kind == "TaskFailed":
                    visit.receipt_seconds = round((at - visit.submitted_at).total_seconds(), 3)
            elif kind == "TaskSucceeded":
                visit.failed = False
                if visit.submitted_at and at:
                    visit.receipt_seconds = round((at - visit.submitted_at).total_seconds(), 3)
            elif kind.endswith("StateExited"):
                visit.done = True
                output = _json(details.get("output"))
                if thread is None and isinstance(output, Mapping):
                    _collect_outcomes(output, results, skipped)
                elif isinstance(output, Mapping) and output.get("status") in FINAL:
                    found_id, _ = _endpoint_ref(output)
                    if found_id:
                        results.setdefault(found_id, output)
        if thread is not None:
            entry = _timeline_entry(kind, details, state, visit, personal_data, group=owner is not None)
            if entry:
                entry.update(t=offset(at), at=at.isoformat() if at else "")
                thread_events.setdefault(thread, []).append(entry)

    # Endpoints the history names through the Map's items, the outcomes and the ledger.
    for map_name, items in map_items.items():
        for item in items:
            if (found_group := _group_ref(item)) is not None:
                group(found_group, map_name)
                continue
            found_id, channel = _endpoint_ref(item)
            if found_id:
                endpoint(found_id, channel)
    for source in (skipped, results, records or {}):
        for endpoint_id, data in source.items():
            found = endpoint(endpoint_id, str(data.get("channel") or ""))
            if isinstance(data.get("group"), str) and not found.group:
                found.group = data["group"]

    if nodes:
        add_history_states(nodes, entered)
        known = {node.name for node in nodes}
    batch_path = sorted(((v.first_event, name) for (key, name), v in visits.items() if key is None))
    map_names = {n.name for n in nodes if n.type in ("Map", "Parallel")}
    threads_of: dict[str, list[tuple[str, int]]] = {}
    for thread, endpoint_id in iteration_endpoint.items():
        threads_of.setdefault(endpoint_id, []).append(thread)
    # Group wait mode: an endpoint takes its group's iteration (its path, its counts); its own
    # timeline comes from its ledger record below, not from the group's events.
    group_threads: dict[str, list[tuple[str, int]]] = {}
    for thread, group_id in iteration_group.items():
        group_threads.setdefault(group_id, []).append(thread)
    for item in endpoints.values():
        if item.group and item.group in group_threads:
            threads_of.setdefault(item.id, []).extend(group_threads[item.group])

    for item in endpoints.values():
        if item.group:
            own = group_threads.get(item.group, [])
            _group_endpoint(item, own, batch_path, map_names, visits, known, group_tries,
                            results.get(item.id), skipped.get(item.id), (records or {}).get(item.id),
                            personal_data, offset, groups[item.group].label if item.group in groups else "")
            continue
        own = threads_of.get(item.id, [])
        own_maps = {thread[0] for thread in own}
        steps = [(first, name) for first, name in batch_path if name not in map_names or name in own_maps]
        steps += [(v.first_event, name) for (key, name), v in visits.items() if key in own]
        item.path = [name for _, name in sorted(steps) if name in known or not known]
        _apply_outcome(item, results.get(item.id), skipped.get(item.id), (records or {}).get(item.id),
                       personal_data)
        own_visits = [v for (key, _), v in visits.items() if key in own]
        if not item.attempts:
            item.attempts = max((v.scheduled for v in own_visits), default=0)
        if item.seconds_to_receipt is None:
            item.seconds_to_receipt = next((v.receipt_seconds for v in own_visits if v.receipt_seconds is not None),
                                           None)
        for thread in own:
            item.timeline.extend(thread_events.get(thread, []))
        item.timeline.extend(_ledger_entries(item, (records or {}).get(item.id), skipped.get(item.id), offset))
        item.timeline.sort(key=lambda entry: (entry["t"] is None, entry["t"] or 0))
        item.timeline.append({"t": None, "at": "", "state": "", "kind": "outcome",
                              "text": " ".join(filter(None, [item.status, item.reason]))})

    _count(nodes, list(endpoints.values()), visits, threads_of)
    for each in groups.values():
        own = group_threads.get(each.id, [])
        steps = [(first, name) for first, name in batch_path if name not in map_names or name == each.map]
        steps += [(v.first_event, name) for (key, name), v in visits.items() if key in own]
        each.path = [name for _, name in sorted(steps) if name in known or not known]
        each.attempts = sum(len(group_tries.get(thread, [])) for thread in own)
        each.error = next((t.error for thread in own for t in reversed(group_tries.get(thread, [])) if t.error), "")
        for thread in own:
            each.timeline.extend(thread_events.get(thread, []))
        each.by_status = dict(Counter(endpoints[e].status for e in each.endpoints if e in endpoints))
    summary = _summary(context, list(endpoints.values()), execution or {}, started, last_time, execution_end,
                       personal_data)
    return ExecutionView(states=nodes, endpoints=list(endpoints.values()), summary=summary,
                         personal_data=personal_data, groups=list(groups.values()))


def _items_path(definition: Mapping[str, Any], name: str) -> str | None:
    def find(machine: Mapping[str, Any]) -> Mapping[str, Any] | None:
        for state_name, state in machine.get("States", {}).items():
            if state_name == name:
                return state
            for child in [state.get("ItemProcessor") or state.get("Iterator"), *(state.get("Branches") or [])]:
                if isinstance(child, Mapping) and (found := find(child)):
                    return found
        return None

    state = find(definition) or {}
    return state.get("ItemsPath") or state.get("Items")


def _collect_outcomes(output: Mapping[str, Any], results: dict[str, Mapping[str, Any]],
                      skipped: dict[str, Mapping[str, Any]]) -> None:
    """The batch-level outputs that name outcomes: Validate's ``skipped``, Compile's ``results``."""
    for key, target in (("results", results), ("skipped", skipped)):
        for entry in output.get(key) or []:
            found_id, _ = _endpoint_ref(entry)
            if found_id and isinstance(entry, Mapping):
                target[found_id] = entry


def _apply_outcome(item: Endpoint, result: Mapping[str, Any] | None, skipped: Mapping[str, Any] | None,
                   record: Mapping[str, Any] | None, personal_data: bool) -> None:
    """The final status: the ledger's record first (it is the source of truth), then the compiled
    result, then the iteration's own outcome or Validate's skip."""
    for source in (skipped, result, record):
        if not source:
            continue
        status = str(source.get("status") or "")
        if status:
            item.status = status if status in FINAL else "PENDING"
        item.reason = str(source.get("reason") or item.reason or "")
        item.attempts = int(source.get("attempts") or item.attempts or 0)
        item.channel = str(source.get("channel") or item.channel)
        if personal_data:
            item.error = str(source.get("error") or item.error or "")
        sent = parse_time(source.get("sent_at"))
        done = parse_time(source.get("receipt_at") or source.get("finished_at"))
        if sent and done and source.get("receipt_status"):
            item.seconds_to_receipt = round((done - sent).total_seconds(), 3)


def _function_name(details: Mapping[str, Any]) -> str:
    """The Lambda function a task invoked, by name (the last part of its ARN), if it says."""
    parameters = _json(details.get("parameters"))
    name = parameters.get("FunctionName") if isinstance(parameters, Mapping) else None
    return str(name).rsplit(":", 1)[-1] if isinstance(name, str) else ""


def _timeline_entry(kind: str, details: Mapping[str, Any], state: str | None, visit: _Visit | None,
                    personal_data: bool, *, group: bool = False) -> dict[str, Any] | None:
    """One event of an iteration as a timeline entry; ``group``: a group's iteration (group wait mode),
    whose send answers how many it sent and whose resume is its last endpoint's outcome."""
    state = state or ""
    error = str(details.get("error") or "")
    cause = str(details.get("cause") or "") if personal_data else ""
    text: str
    if kind.endswith("StateEntered"):
        kind_name, text = "entered", f"entered {state}"
    elif kind == "TaskScheduled":
        attempt = visit.scheduled if visit else 1
        kind_name, text = ("scheduled", "task scheduled") if attempt <= 1 else ("retry", f"retry {attempt - 1}")
        function = _function_name(details)
        if function:
            # Which sender ran: the channel family's function the item named (FunctionName.$).
            text += f" ({function})"
    elif kind == "TaskSubmitted":
        payload = (_json(details.get("output")) or {})
        answer = payload.get("Payload", {}) if isinstance(payload, Mapping) else {}
        answer = answer if isinstance(answer, Mapping) else {}
        if group:
            counts = ", ".join(f"{answer[key]} {key}" for key in ("sent", "final", "failed", "left")
                               if isinstance(answer.get(key), int) and (answer[key] or key == "sent"))
            text = "sent" + (f" ({counts})" if counts else "") + ", waiting for the delivery receipts"
            kind_name = "sent"
        else:
            message = answer.get("provider_message_id")
            kind_name, text = "sent", "sent, waiting for the delivery receipt" + (f" ({message})" if message else "")
    elif kind == "TaskSucceeded":
        output = _json(details.get("output")) or {}
        receipt = output.get("receipt_status") if isinstance(output, Mapping) else None
        waited = visit is not None and visit.submitted_at is not None
        kind_name = "receipt" if waited else "succeeded"
        text = f"receipt: {receipt}" if receipt else ("task resumed" if waited else "task succeeded")
        if group and waited and isinstance(output, Mapping) and output.get("complete"):
            text = "task resumed: every endpoint of the group is final"
    elif kind in TASK_FAILURES:
        waited = visit is not None and visit.submitted_at is not None and kind == "TaskFailed"
        kind_name = "failure-receipt" if waited else "error"
        label = "timed out" if kind == "TaskTimedOut" else ("failure receipt" if waited else "failed")
        text = f"{label}: {error or kind}" + (f" — {cause[:300]}" if cause else "")
    elif kind in ("MapIterationFailed", "MapIterationAborted"):
        kind_name, text = "error", kind
    else:
        return None
    return {"state": state, "kind": kind_name, "text": text}


def _group_endpoint(item: Endpoint, own: list[tuple[str, int]], batch_path: list[tuple[int, str]],
                    map_names: set[str], visits: Mapping[tuple[tuple[str, int] | None, str], _Visit],
                    known: set[str], group_tries: Mapping[tuple[str, int], list[_Try]],
                    result: Mapping[str, Any] | None, skipped: Mapping[str, Any] | None,
                    record: Mapping[str, Any] | None, personal_data: bool, offset: Any, label: str) -> None:
    """An endpoint of a group (group wait mode): its group's path; its outcome; its own timeline from
    its ledger record, each send attempt timed by the group task's try that made it (shown under the
    group's ``label``)."""
    own_maps = {thread[0] for thread in own}
    steps = [(first, name) for first, name in batch_path if name not in map_names or name in own_maps]
    steps += [(v.first_event, name) for (key, name), v in visits.items() if key in own]
    item.path = [name for _, name in sorted(steps) if name in known or not known]
    _apply_outcome(item, result, skipped, record, personal_data)
    tries = [attempt for thread in own for attempt in group_tries.get(thread, [])]
    item.timeline.extend(dict(entry, state=label)
                         for entry in _attempt_entries(item, record or {}, tries, personal_data, offset))
    for entry in _ledger_entries(item, record, skipped, offset):
        if entry["kind"] == "heartbeat":  # the group's heartbeat: at most one per group per interval
            entry["text"] = f"progress receipt '{(record or {}).get('last_receipt_status', '')}': its group's heartbeat"
        item.timeline.append(entry)
    item.timeline.sort(key=lambda entry: (entry["t"] is None, entry["t"] or 0))
    if record is None and item.status != "SKIPPED":
        item.timeline.append({"t": None, "at": "", "state": label, "kind": "note",
                              "text": "its attempts, send and receipts are in its ledger record, not read here"})
    item.timeline.append({"t": None, "at": "", "state": "", "kind": "outcome",
                          "text": " ".join(filter(None, [item.status, item.reason]))})


def _entry(kind: str, text: str, at: datetime | None, offset: Any) -> dict[str, Any]:
    return {"t": offset(at), "at": at.isoformat() if at else "", "state": "", "kind": kind, "text": text}


def _error_name(text: Any) -> str:
    """An error's name (``ProviderUnavailable`` of ``ProviderUnavailable: http failed (503): …``): the
    rest may quote the provider's answer, which may hold personal data."""
    name = str(text or "").split(":", 1)[0].strip()
    return name if name.replace(".", "").replace("_", "").isalnum() else ""


def _attempt_entries(item: Endpoint, record: Mapping[str, Any], tries: list[_Try], personal_data: bool,
                     offset: Any) -> list[dict[str, Any]]:
    """An endpoint's send attempts, its send and its final write, from its ledger record. The record
    counts attempts; they are timed by the group task's tries up to its send or its final write
    when they match: one attempt a try, or two in some (a send the provider failed or throttled is
    sent again once within its try, after a pause; which tries did is not recorded). Otherwise only
    the first is timed (the record's creation)."""
    entries: list[dict[str, Any]] = []
    attempts = int(record.get("attempts") or 0)
    sent = parse_time(record.get("sent_at"))
    last_error = str(record.get("last_error") or "")
    error = last_error[:300] if personal_data else _error_name(last_error)
    # Timed only when the attempts are exactly the tries up to its send (or its final write): an
    # endpoint a try left unsent (its send window was over) made no attempt in it.
    end = sent or parse_time(record.get("receipt_at") or record.get("finished_at"))
    made = [t for t in tries if t.at is not None and (end is None or t.at <= end)]
    timed = 0 < len(made) <= attempts <= 2 * len(made) and all(t.at is not None for t in tries)
    if timed and attempts > len(made):
        # Sent again within some tries: the tries are timed, the attempts counted.
        for number, attempt in enumerate(made, start=1):
            text = (f"send attempt 1 (its group's task; {attempts} attempts in {len(made)} "
                    f"{'try' if len(made) == 1 else 'tries'}: a failed send is sent again once within its try)"
                    if number == 1 else f"retry {number - 1}: its group's task's try {number}")
            entries.append(_entry("scheduled" if number == 1 else "retry", text, attempt.at, offset))
            if number < len(made):
                why = attempt.error or error
                entries.append(_entry("error", f"try {number} not sent" + (f": {why}" if why else ""),
                                      attempt.error_at, offset))
    elif timed:
        for number, attempt in enumerate(tries[:attempts], start=1):
            if number == 1:
                entries.append(_entry("scheduled", "send attempt 1 (its group's task)", attempt.at, offset))
            else:
                entries.append(_entry("retry", f"retry {number - 1}: send attempt {number}", attempt.at, offset))
            if number < attempts:
                why = attempt.error or error
                if personal_data and last_error and number == attempts - 1:
                    why = f"{why} — {last_error[:300]}" if why else last_error[:300]
                entries.append(_entry("error", f"attempt {number} not sent" + (f": {why}" if why else ""),
                                      attempt.error_at, offset))
    elif attempts:
        first = parse_time(record.get("created_at"))
        text = "send attempt 1" + (f" ({attempts} attempts in all; last error: {error or 'none'})"
                                   if attempts > 1 else "")
        entries.append(_entry("scheduled", text, first, offset))
    if sent:
        provider, message = record.get("provider"), record.get("provider_message_id")
        text = (f"sent via {provider}" if provider else "sent") + (
            ", the provider's answer lost: waiting for a receipt" if record.get("outcome_unknown")
            else ", waiting for the delivery receipt" + (f" ({message})" if message else ""))
        entries.append(_entry("sent", text, sent, offset))
    done = parse_time(record.get("receipt_at") or record.get("finished_at"))
    if record.get("receipt_status"):
        kind = "receipt" if item.status == "DELIVERED" else "failure-receipt"
        entries.append(_entry(kind, f"receipt: {record['receipt_status']}", done, offset))
    elif item.status in ("FAILED", "TIMED_OUT") and attempts:
        why = " ".join(filter(None, [item.status, item.reason]))
        task_error = next((attempt.error for attempt in reversed(tries) if attempt.error), "")
        cause = f"its group's task: {task_error}" if task_error and not error else (
            f"last error: {error}" if error else "")
        entries.append(_entry("error", f"recorded {why}" + (f" ({cause})" if cause else ""), done, offset))
    return entries


def _ledger_entries(item: Endpoint, record: Mapping[str, Any] | None, skipped: Mapping[str, Any] | None,
                    offset: Any) -> list[dict[str, Any]]:
    """What only the ledger knows: progress receipts (heartbeats), the receipt's arrival, the skip."""
    entries: list[dict[str, Any]] = []
    record = record or {}
    if record.get("last_receipt_at"):
        at = parse_time(record["last_receipt_at"])
        entries.append({"t": offset(at), "at": at.isoformat() if at else "", "state": "", "kind": "heartbeat",
                        "text": f"progress receipt '{record.get('last_receipt_status', '')}': heartbeat sent"})
    if record.get("late_receipt_at"):
        at = parse_time(record["late_receipt_at"])
        entries.append({"t": offset(at), "at": at.isoformat() if at else "", "state": "", "kind": "receipt",
                        "text": f"late receipt '{record.get('late_receipt_status', '')}' (acknowledged)"})
    if item.status == "SKIPPED":
        source = skipped or record
        at = parse_time(source.get("finished_at")) if source else None
        entries.append({"t": offset(at), "at": at.isoformat() if at else "", "state": "", "kind": "skipped",
                        "text": f"skipped: {item.reason}"})
    return entries


def _count(nodes: list[StateNode], endpoints: list[Endpoint],
           visits: Mapping[tuple[tuple[str, int] | None, str], _Visit],
           threads_of: Mapping[str, list[tuple[str, int]]]) -> None:
    """How many endpoints entered, succeeded in, failed in and were retried in each state (in group
    wait mode, a state of the group's iteration counts each endpoint of the group)."""
    by_state: dict[str, Counter[str]] = {node.name: Counter() for node in nodes}
    for item in endpoints:
        threads: list[tuple[str, int] | None] = [None, *threads_of.get(item.id, [])]
        for name in set(item.path):
            visit = next((visits[(t, name)] for t in threads if (t, name) in visits), None)
            counter = by_state.setdefault(name, Counter())
            counter["entered"] += 1
            if visit is None:
                continue
            if visit.failed:
                counter["failed"] += 1
            elif visit.done:
                counter["succeeded"] += 1
            if visit.scheduled > 1:
                counter["retried"] += 1
    for node in nodes:
        counter = by_state.get(node.name, Counter())
        node.entered, node.succeeded = counter["entered"], counter["succeeded"]
        node.failed, node.retried = counter["failed"], counter["retried"]


def _summary(context: Mapping[str, Any], endpoints: list[Endpoint], execution: Mapping[str, Any],
             started: datetime | None, last: datetime | None, end: Mapping[str, Any],
             personal_data: bool) -> dict[str, Any]:
    by_channel: dict[str, Counter[str]] = {}
    for item in endpoints:
        by_channel.setdefault(item.channel or "?", Counter())[item.status] += 1
    ended = end.get("at") or parse_time(execution.get("stopDate"))
    finish: datetime | None = ended or last
    status = str(execution.get("status") or {
        "ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionTimedOut": "TIMED_OUT",
        "ExecutionAborted": "ABORTED"}.get(str(end.get("type")), "RUNNING"))
    ids = {key: value for key, value in context.items()
           if value not in (None, "") and (personal_data or key not in PERSONAL_CONTEXT)
           and isinstance(value, str | int | float | bool)}
    return {
        "execution": str(execution.get("name") or context.get("batch_id") or ""),
        "execution_arn": str(execution.get("executionArn") or ""),
        "status": status,
        "error": str(end.get("error") or ""),
        "trigger": str(context.get("source") or ""),
        "ids": ids,
        "started": started.isoformat() if started else "",
        "wall_seconds": round((finish - started).total_seconds(), 3) if started and finish else None,
        "endpoints": len(endpoints),
        "by_status": dict(Counter(item.status for item in endpoints)),
        "by_channel": {channel: dict(counts) for channel, counts in sorted(by_channel.items())},
    }
