"""What the invoker does with a batch: split it into executions, start them, wait for outcomes.

A batch runs as one Step Functions execution per **part** of at most :data:`MAX_PART_PROFILES`
endpoints (fewer when long ids would make a part's states exceed Step Functions' 256 KiB): one
part keeps the batch id as its execution name, several are named ``<batch id>-1``,
``<batch id>-2`` … The parts follow the input order, so a retried identical invocation (same
payload, same batch id) joins the same executions and sends nothing twice; endpoints carrying the
trigger's idempotency key (Connect's ``IdempotencyToken``) are claimed too, so a retry that
regroups them sends none twice (:mod:`journey_activity.claims`).

Every part is claimed and started first, then all are waited for together until every endpoint is
final or the deadline passes. An endpoint whose id cannot key the ledger (over 1,024 bytes) is
answered ``SKIPPED`` here and enters no execution; a part that AWS would not start before the
deadline is answered ``PENDING`` with the reason ``not_started`` (nothing of it was sent; when no
part starts at all the invocation fails with :class:`StartUnavailable`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from journey_activity import aws, claims
from journey_activity.errors import ConfigurationError, PayloadError, StartUnavailable
from journey_activity.handlers._runtime import ledger_of, logger
from journey_activity.ledger.invoker import InvokerLedger
from journey_activity.ledger.keys import TEMPLATE_SK, key_problem
from journey_activity.ledger.recipients import pack_recipient, recipient_problem
from journey_activity.ledger.records import result_from_record
from journey_activity.ledger.templates import MAX_TEMPLATE_BYTES
from journey_activity.models.batch import (
    FINAL_STATUSES,
    Batch,
    BatchContext,
    EndpointResult,
    LedgerStatus,
    Recipient,
    Status,
)
from journey_activity.settings.invoker import InvokerSettings
from journey_activity.transient import error_code, is_transient

T = TypeVar("T")

MAX_EXECUTION_INPUT_BYTES = 256 * 1024
# See peak_state_bytes: a compiled result (≈ 600 bytes) and its EventAttributes (5 x 2 x 128
# characters at most), rounded up; an endpoint id appears in the input, the Map's items and
# results, and Compile's results and attributes.
STATE_BYTES_PER_ENDPOINT = 2048
_ID_COPIES = 5
# What one execution carries: with short ids its states stay below 256 KiB, and its history (about
# 20 events per endpoint, a few more per retried send) far below Step Functions' 25,000 events.
MAX_PART_PROFILES = 124
# A template larger than this travels by reference (in the ledger), not through every state.
INLINE_TEMPLATE_BYTES = 8 * 1024
_CLOSED_RUN_FAILURES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# Polling: one GetItem of each open part's progress version per pause (1 read unit), the pause
# growing to _QUICK_PAUSE_SECONDS while answers come fast, then to _LAST_PAUSE_SECONDS once the
# wait is _QUICK_SECONDS old (a 25 s wait stays cheap); a part's records are queried only when
# its version moved.
_FIRST_PAUSE_SECONDS, _QUICK_PAUSE_SECONDS, _LAST_PAUSE_SECONDS = 0.05, 0.25, 1.0
_QUICK_SECONDS = 5.0
# The one look at each open execution (DescribeExecution) comes this long before the deadline.
_LOOK_BEFORE_DEADLINE_SECONDS = 1.0
# How long after the deadline a slow call to AWS may still hold the answer (see wait_for_parts).
ANSWER_SLACK_SECONDS = 1.0
# No part is claimed this close to the deadline: one part's writes may take a while on a loaded
# table, and the answer must still go out in time (the part is answered PENDING not_started).
_START_MARGIN_SECONDS = 3.0
# A throttled start is tried again after a pause growing to this, while the deadline allows.
_START_RETRY_MAX_PAUSE_SECONDS = 1.0
# Left to the function after the deadline to compile and answer before it times out.
_ANSWER_SECONDS = 1.0
# Left after the start, at the latest, for the last look at the parts and the answer.
START_ANSWER_MARGIN_SECONDS = 1.5
# The function's remaining time in milliseconds (Lambda's context.get_remaining_time_in_millis).
Remaining = Callable[[], int]


def ledger() -> InvokerLedger:
    """The container's ledger, as far as the invoker uses it."""
    return ledger_of(InvokerLedger)


def execution_arn(state_machine_arn: str, name: str) -> str:
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def part_name(batch_id: str, index: int, count: int) -> str:
    """The execution name of part ``index`` (from 1) of ``count``: the batch id when it is the only one."""
    return batch_id if count == 1 else f"{batch_id}-{index}"


def peak_state_bytes(batch: Batch) -> int:
    """A bound on the largest state of the batch's execution (Compile's output): the context,
    and per endpoint its id a few times, its flags and a compiled result with EventAttributes."""
    context = len(batch.context.model_dump_json().encode())
    return context + sum(_endpoint_state_bytes(r.endpoint_id, r.invalid) for r in batch.recipients)


def execution_input(batch: Batch, parts: Mapping[str, int]) -> str:
    """The execution's input, as :class:`journey_activity.models.execution.ExecutionInput` reads
    it: the context, and each endpoint by reference (its id, channel and flags, and ``parts``:
    the ledger part holding its address and profile, for the endpoints the ledger keeps). JSON
    as pydantic writes it (compact, UTF-8), made here without building the steps' models."""
    references = [{"endpoint_id": r.endpoint_id, "channel": r.channel, "opted_out": r.opted_out, "active": r.active,
                   "invalid": r.invalid, "invalid_reason": r.invalid_reason, "part": parts.get(r.endpoint_id)}
                  for r in batch.recipients]
    return (f'{{"context":{batch.context.model_dump_json()},"recipients":'
            f'{json.dumps(references, ensure_ascii=False, separators=(",", ":"))}}}')


def _endpoint_state_bytes(endpoint_id: str, invalid: str | None) -> int:
    return _ID_COPIES * len(endpoint_id.encode()) + len((invalid or "").encode()) + STATE_BYTES_PER_ENDPOINT


def template_problem(context: BatchContext) -> str | None:
    """Why the batch's template cannot be kept (too large even for the ledger), if it cannot."""
    size = len((context.template or "").encode())
    return f"Data is {size} bytes; at most {MAX_TEMPLATE_BYTES} are supported" if size > MAX_TEMPLATE_BYTES else None


def travelling(context: BatchContext) -> BatchContext:
    """The context as the execution carries it: a template over :data:`INLINE_TEMPLATE_BYTES`
    travels by reference (it is in the ledger), not through every state."""
    if len((context.template or "").encode()) <= INLINE_TEMPLATE_BYTES:
        return context
    return context.model_copy(update={"template": None, "template_ref": TEMPLATE_SK})


def unkeyable(batch: Batch) -> tuple[Batch, dict[str, EndpointResult]]:
    """The batch without the endpoints whose id cannot key a ledger record (empty, over 1,024
    bytes), and those endpoints answered ``SKIPPED`` with the reason: they enter no execution."""
    kept, answered = [], {}
    for recipient in batch.recipients:
        problem = key_problem(recipient.endpoint_id)
        if problem is None:
            kept.append(recipient)
            continue
        reason = recipient.invalid_reason or "invalid_endpoint"
        answered[recipient.endpoint_id] = EndpointResult(
            endpoint_id=recipient.endpoint_id, channel=recipient.channel, status=Status.SKIPPED, reason=reason,
            error=(recipient.invalid or problem)[:500])
    if answered:
        logger.warning("Endpoints whose id cannot key the ledger are answered SKIPPED", extra={"count": len(answered)})
    return dataclasses.replace(batch, recipients=kept), answered


def split(batch: Batch) -> list[Batch]:
    """The batch's parts, in input order: at most :data:`MAX_PART_PROFILES` endpoints each, and
    no more than keeps a part's states within Step Functions' payload limit. Deterministic: the
    same batch gives the same parts with the same names."""
    context_bytes = len(travelling(batch.context).model_dump_json().encode())
    groups: list[list[Recipient]] = [[]]
    size = context_bytes
    for recipient in batch.recipients:
        needed = _endpoint_state_bytes(recipient.endpoint_id, recipient.invalid)
        group = groups[-1]
        if group and (len(group) >= MAX_PART_PROFILES or size + needed > MAX_EXECUTION_INPUT_BYTES):
            groups.append([])
            group, size = groups[-1], context_bytes
        group.append(recipient)
        size += needed
    count = len(groups)
    return [Batch(context=batch.context.model_copy(update={"batch_id": part_name(batch.context.batch_id, i, count)}),
                  recipients=group) for i, group in enumerate(groups, start=1) if group]


def keep_recipients(batch: Batch) -> tuple[Batch, dict[str, Recipient]]:
    """The endpoints that may be sent, whose address and profile the ledger keeps for the steps;
    an endpoint the ledger cannot keep is skipped as invalid, with the reason."""
    kept: dict[str, Recipient] = {}
    recipients = []
    for recipient in batch.recipients:
        if recipient.invalid or recipient.opted_out or not recipient.active:
            recipients.append(recipient)
            continue
        problem = recipient_problem(pack_recipient(recipient))
        if problem:
            recipient = dataclasses.replace(recipient, invalid=problem)
        else:
            kept[recipient.endpoint_id] = recipient
        recipients.append(recipient)
    return dataclasses.replace(batch, recipients=recipients), kept


def prepare(batch: Batch, settings: InvokerSettings) -> tuple[str, str]:
    """Write what one part's steps need into the ledger; returns its execution's name and input.

    The execution carries ids, channels and flags only; each endpoint's address and profile (and a
    large template) go into the ledger first. Every write is keyed by the part's name, which the
    payload determines, so a retried invocation rewrites the same items.
    """
    if not settings.state_machine_arn:
        raise ConfigurationError("STATE_MACHINE_ARN is not set")
    for recipient in batch.recipients:
        problem = key_problem(recipient.endpoint_id)
        if problem:
            raise PayloadError(f"{problem} (one starts {recipient.endpoint_id[:40]!r})")
    problem = template_problem(batch.context)
    if problem:
        raise PayloadError(problem)
    template = batch.context.template or ""
    context = travelling(batch.context)
    large_template = context is not batch.context
    batch, kept = keep_recipients(dataclasses.replace(batch, context=context))
    peak = peak_state_bytes(batch)
    if peak > MAX_EXECUTION_INPUT_BYTES:
        raise PayloadError(
            f"the part's endpoint ids would make its states about {peak} bytes, above Step Functions' "
            "256 KiB payload limit")
    book = ledger()
    if large_template:
        book.put_template(batch.context.batch_id, template)
    parts = book.put_recipients(batch.context.batch_id, kept) if kept else {}
    return batch.context.batch_id, execution_input(batch, parts)


def launch(name: str, execution_input: str, settings: InvokerSettings) -> str:
    """StartExecution, or join the execution of that name (a retried invocation); returns its ARN."""
    if not settings.state_machine_arn:
        raise ConfigurationError("STATE_MACHINE_ARN is not set")
    try:
        response = aws.client("stepfunctions").start_execution(
            stateMachineArn=settings.state_machine_arn, name=name, input=execution_input
        )
        return str(response["executionArn"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("The part's execution already exists; joining it (a retried invocation)",
                    extra={"execution": name})
        return execution_arn(settings.state_machine_arn, name)


def start(batch: Batch, settings: InvokerSettings) -> str:
    """Start (or join) one part's execution: :func:`prepare`, then :func:`launch`; returns its ARN."""
    return launch(*prepare(batch, settings), settings)


def before(deadline: float, call: Callable[[], T]) -> T:
    """``call``, tried again while AWS throttles it (or answers 5xx) and the deadline allows.

    For calls safe to repeat: every write :func:`prepare` makes is keyed by the part's name, and
    StartExecution with the same name and input joins the running execution
    (``ExecutionAlreadyExists`` once it has closed), so a repeat, here or by the journey, never
    sends twice. When the deadline passes first, :class:`StartUnavailable` is raised: nothing
    of the part is in flight.
    """
    pause, attempts = 0.1, 0
    while True:
        attempts += 1
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            if not is_transient(error):
                raise
            left = deadline - time.monotonic()
            logger.warning("Starting an execution failed; trying again", extra={
                "error_code": error_code(error), "attempt": attempts, "seconds_left": round(left, 3)})
            if left <= pause:
                raise StartUnavailable(
                    f"AWS refused to start the batch's execution ({error_code(error)}) for {attempts} attempts "
                    "until the deadline; nothing was sent. Retrying the same invocation is safe: it sends "
                    "nothing twice") from error
            time.sleep(pause)
            pause = min(pause * 2, _START_RETRY_MAX_PAUSE_SECONDS)


def start_before(deadline: float, batch: Batch, settings: InvokerSettings) -> str:
    """:func:`start` within the deadline (see :func:`before`)."""
    return before(deadline, lambda: start(batch, settings))


@dataclass
class Started:
    """What the invoker started: each part's execution, the endpoints other executions send
    (endpoint id -> claim key), and the endpoints already answered (never started, unkeyable)."""

    runs: list[tuple[Batch, str]] = field(default_factory=list)
    foreign: dict[str, str] = field(default_factory=dict)
    answered: dict[str, EndpointResult] = field(default_factory=dict)
    # Held while any of the above changes, and while the part in flight is named: the answer may be
    # taken on another thread while the start still runs (see start_parts_by).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # The part whose StartExecution is in flight, if any.
    launching: Batch | None = None
    # The answer could not wait for the start to end (see start_parts_by).
    overran: bool = False


def not_started(recipients: Iterable[Recipient]) -> dict[str, EndpointResult]:
    return {r.endpoint_id: EndpointResult(endpoint_id=r.endpoint_id, channel=r.channel, status=Status.PENDING,
                                          reason="not_started") for r in recipients}


def _already_started(exists: Callable[[str], bool], name: str) -> bool:
    try:
        return exists(name)
    except (ClientError, BotoCoreError) as error:  # cannot tell: claim and start as for a new batch
        logger.warning("Could not tell whether the part's execution exists", extra={"error_code": error_code(error)})
        return False


def start_parts(batch: Batch, settings: InvokerSettings, deadline: float, *, into: Started | None = None,
                stop: threading.Event | None = None) -> Started:
    """Claim and start every part of the batch (see the module's notes), in three rounds: every
    part's claims, then every part's ledger writes, then every StartExecution. A running
    execution loads the ledger with its sends; claiming and writing before any of them runs keeps
    a large batch's start short. Raises :class:`StartUnavailable` when no part could be started.

    ``into`` receives what is started as it is (under its lock), and ``stop`` ends the start
    between two calls: the answer was given meanwhile (:func:`start_parts_by`)."""
    if not settings.state_machine_arn:
        raise ConfigurationError("STATE_MACHINE_ARN is not set")
    stop = stop or threading.Event()
    batch, answered = unkeyable(batch)
    started = into if into is not None else Started()
    with started.lock:
        started.answered.update(answered)
    exists = claims.execution_exists(settings.state_machine_arn)
    unavailable: StartUnavailable | None = None

    def give_up(part: Batch, why: str, error: StartUnavailable | None = None) -> None:
        nonlocal unavailable
        unavailable = error or unavailable
        logger.error(f"{why}; its endpoints are answered PENDING not_started",
                     extra={"execution": part.context.batch_id, "endpoints": len(part.recipients)})
        with started.lock:
            started.answered.update(not_started(part.recipients))

    planned: list[Batch] = []
    start_by = deadline - min(_START_MARGIN_SECONDS, max(0.0, deadline - time.monotonic()) / 4)
    problem = template_problem(batch.context)
    if problem:
        # Before any part: the answer must not depend on how far the parts got in time.
        raise PayloadError(problem)
    for index, part in enumerate(split(batch) if batch.recipients else []):
        if stop.is_set() or (index and time.monotonic() >= start_by):
            # The first part is always tried; a later one only while the answer can still go out in time.
            give_up(part, "The deadline was near before the part could be claimed")
            continue
        if _already_started(exists, part.context.batch_id):
            # The same batch invoked again: its execution holds its claims and input already.
            with started.lock:
                started.runs.append((part, execution_arn(settings.state_machine_arn, part.context.batch_id)))
            continue
        plan = claims.plan(ledger(), part, exists, deadline)
        with started.lock:
            started.foreign.update(plan.foreign)
        if plan.batch.recipients:
            planned.append(plan.batch)
    prepared: list[tuple[Batch, tuple[str, str]]] = []
    for index, part in enumerate(planned):
        if stop.is_set() or (index and time.monotonic() >= start_by):
            give_up(part, "The deadline was near before the part's ledger writes")
            continue
        try:
            prepared.append((part, before(deadline, functools.partial(prepare, part, settings))))
        except StartUnavailable as error:
            give_up(part, "The part's ledger writes were refused until the deadline", error)
    for index, (part, (name, execution_input)) in enumerate(prepared):
        with started.lock:
            # Checked and named together: an answer taken meanwhile either sees this part in
            # flight (start_unconfirmed) or stops it here.
            go = not stop.is_set() and not (index and time.monotonic() >= start_by)
            started.launching = part if go else None
        if not go:
            give_up(part, "The deadline was near before the part's execution could be started")
            continue
        try:
            arn = before(deadline, functools.partial(launch, name, execution_input, settings))
            with started.lock:
                started.runs.append((part, arn))
        except StartUnavailable as error:
            give_up(part, "AWS would not start the part's execution before the deadline", error)
        finally:
            with started.lock:
                started.launching = None
    if unavailable is not None and not started.runs:
        raise unavailable
    return started


def start_parts_by(batch: Batch, settings: InvokerSettings, deadline: float, answer_at: float) -> Started:
    """:func:`start_parts`, on a thread of its own, waited for until ``answer_at`` at most.

    Each call the start makes is bounded by the SDK's timeouts and retries (tens of seconds), not
    by the trigger's deadline: a loaded or throttled table could hold one past the time the
    function must answer, and a function that times out fails the whole batch (Connect marks every
    profile failed). So when the start has not ended by ``answer_at``, it is told to stop before
    its next call, and the answer says what is known then: the parts started so far (waited for as
    usual), the endpoints another execution owns, a part whose StartExecution is still in flight
    ``PENDING start_unconfirmed`` (it may yet start and send), and every other endpoint
    ``PENDING not_started`` (nothing of it will be sent: its claims lapse, and a retried invocation
    starts it). An error raised by the start before ``answer_at`` is raised here."""
    started = Started()
    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            start_parts(batch, settings, deadline, into=started, stop=stop)
        except BaseException as error:  # handed to the caller, if it still waits
            failure.append(error)

    worker = threading.Thread(target=work, name="start-parts", daemon=True)
    worker.start()
    worker.join(timeout=max(0.0, answer_at - time.monotonic()))
    if not worker.is_alive():
        if failure:
            raise failure[0]
        return started
    with started.lock:
        stop.set()
        answer = Started(runs=list(started.runs), foreign=dict(started.foreign), answered=dict(started.answered),
                         overran=True)
        in_flight = {r.endpoint_id for r in started.launching.recipients} if started.launching else set()
    covered = set(answer.answered) | set(answer.foreign) | {r.endpoint_id for part, _ in answer.runs
                                                              for r in part.recipients}
    for recipient in batch.recipients:
        if recipient.endpoint_id not in covered:
            answer.answered[recipient.endpoint_id] = EndpointResult(
                endpoint_id=recipient.endpoint_id, channel=recipient.channel, status=Status.PENDING,
                reason="start_unconfirmed" if recipient.endpoint_id in in_flight else "not_started")
    logger.error("The start was still running when the answer was due; its endpoints are answered PENDING",
                 extra={"started": len(answer.runs), "in_flight": len(in_flight)})
    return answer


def close_open_endpoints(book: InvokerLedger, batch: Batch, final: Iterable[str],
                         status: str) -> dict[str, EndpointResult]:
    """The execution ended (failed, timed out, aborted) with endpoints still open: they end ``FAILED``
    in the ledger, as FinalizeFunction does; whichever of the two writes first, both answer the same.
    A write that fails leaves its endpoint out (``PENDING``): FinalizeFunction closes it."""
    done, closed = set(final), {}
    for recipient in batch.recipients:
        if recipient.endpoint_id in done:
            continue
        try:
            _, record = book.finish(batch.context.batch_id, recipient.endpoint_id, LedgerStatus.FAILED,
                                    reason=f"execution_{status.lower()}", error=f"the execution ended {status}",
                                    extra={"channel": recipient.channel})
        except (ClientError, BotoCoreError) as error:
            logger.warning("An endpoint of the ended execution was left PENDING", extra={
                "endpoint_id": recipient.endpoint_id, "error_code": error_code(error)})
            continue
        closed[recipient.endpoint_id] = result_from_record(record)
    return closed


class _Poll:
    """What one invocation knows of one part: the final results read so far, the progress
    version they were read at, the endpoints the provider accepted (``SENT``) at the last look,
    and whether the ledger can still be read at all."""

    def __init__(self, book: InvokerLedger, batch: Batch, arn: str, lock: threading.Lock | None = None) -> None:
        self.book, self.batch, self.arn, self.batch_id = book, batch, arn, batch.context.batch_id
        # Held while the results change: the answer may be read from another thread (see gather).
        self.lock = lock or threading.Lock()
        self.wanted = {r.endpoint_id for r in batch.recipients}
        self.results: dict[str, EndpointResult] = {}
        self.sent: dict[str, EndpointResult] = {}
        self.version = 0
        self.readable = True
        self.reads = 0

    @property
    def complete(self) -> bool:
        return self.wanted <= self.results.keys()

    @property
    def waiting(self) -> bool:
        return self.readable and not self.complete

    def read(self, *, last_look: bool = False) -> None:
        """One small read of the progress version; the part's records only when it moved (or at
        the last look, whatever the version, the ``SENT`` ones too). Any failure keeps what is
        known; a failure that waiting will not cure (access denied, no table) stops further reads."""
        if not self.readable:
            return
        try:
            self.reads += 1
            version = self.book.progress(self.batch_id)
            if version == self.version and not last_look:
                return
            records = self.book.final_results(self.batch_id, known=self.results.keys(), sent=last_look)
        except (ClientError, BotoCoreError) as error:
            self.readable = is_transient(error)
            logger.warning("Reading the ledger failed; answering what is known", extra={
                "error_code": error_code(error), "will_retry": self.readable})
            return
        # The version is taken only once the records it counts were read.
        self.version = max(self.version, version)
        with self.lock:
            for endpoint_id, record in records.items():
                if endpoint_id not in self.wanted:
                    continue
                result = result_from_record(record)
                if result.status == LedgerStatus.SENT:
                    self.sent[endpoint_id] = result
                else:
                    self.results[endpoint_id] = result

    def look(self) -> None:
        """Shortly before the deadline: the part's records whatever the version (a writer that
        stopped between its record and the version is answered now), and, while endpoints are
        still open, the execution's status: one that ended failed closes them."""
        self.read(last_look=True)
        if not self.waiting:
            return
        status = look_at_execution(self.arn)
        if status in _CLOSED_RUN_FAILURES:
            logger.error("An execution of the batch ended without every outcome",
                         extra={"status": status, "execution": self.batch_id})
            closed = close_open_endpoints(self.book, self.batch, list(self.results), str(status))
            with self.lock:
                self.results.update(closed)

    def answer(self) -> dict[str, EndpointResult]:
        with self.lock:
            return {**{k: v for k, v in self.sent.items() if k not in self.results}, **self.results}


def look_at_execution(arn: str) -> str | None:
    """The execution's status, or None when it cannot be told (throttled, failed): never raises."""
    try:
        return str(aws.client("stepfunctions").describe_execution(executionArn=arn)["status"])
    except (ClientError, BotoCoreError) as error:
        logger.warning("Could not look at the batch's execution", extra={"error_code": error_code(error)})
        return None


class Waited(NamedTuple):
    """What the wait answers. (A named tuple: it costs the invoker's cold start far less than a dataclass.)"""

    results: dict[str, EndpointResult]
    progress_reads: int
    # The wait was still in a call to AWS when the answer was due (a slow ledger): answered without it.
    overran: bool = False


def _wait(polls: list[_Poll], deadline: float) -> None:
    began = time.monotonic()
    pause, looked = _FIRST_PAUSE_SECONDS, False
    while True:
        for poll in polls:
            if poll.waiting and time.monotonic() < deadline:
                poll.read()
        if not any(poll.waiting for poll in polls):
            return
        now = time.monotonic()
        if not looked and now + pause >= deadline - _LOOK_BEFORE_DEADLINE_SECONDS:
            looked = True
            for poll in polls:
                if poll.waiting and time.monotonic() < deadline:
                    poll.look()
            if not any(poll.waiting for poll in polls):
                return
            now = time.monotonic()
        if now + pause >= deadline:
            return
        time.sleep(pause)
        ceiling = _QUICK_PAUSE_SECONDS if now - began < _QUICK_SECONDS else _LAST_PAUSE_SECONDS
        pause = min(pause * 1.5, ceiling)


def wait_for_parts(book: InvokerLedger, runs: list[tuple[Batch, str]], deadline: float, *,
                   answer_by: float | None = None, then: Callable[[], None] | None = None) -> Waited:
    """Wait until every endpoint of every part is final in the ledger or the deadline passes.

    Each poll reads each open part's progress version (one small item); a part's records are read
    only when its version moved, and then only the endpoints newly final. FinalizeFunction writes
    the outcome of an execution that failed, timed out or was aborted into the ledger, so there is
    no DescribeExecution per poll: one look per open part, shortly before the deadline, reads its
    records whatever the version (the ``SENT`` ones too: the answer tells them from the not yet
    sent) and closes the endpoints of an execution that ended before the finalizer ran.

    The waiting runs on a thread of its own (and ``then`` after it, on the same thread): a call
    to AWS that is slow at the deadline (a throttled or loaded ledger) cannot hold the answer past
    ``answer_by`` (default: a second after the deadline), which answers what is known by
    then. Nothing here raises: an endpoint not known by the deadline is answered ``PENDING``.
    """
    polls = [_Poll(book, batch, arn) for batch, arn in runs]

    def work() -> None:
        try:
            _wait(polls, deadline)
            if then is not None:
                then()
        except Exception:
            logger.exception("Waiting for outcomes failed; answering what is known")

    worker = threading.Thread(target=work, name="wait-for-outcomes", daemon=True)
    worker.start()
    worker.join(timeout=max(0.0, (deadline + ANSWER_SLACK_SECONDS if answer_by is None else answer_by)
                            - time.monotonic()))
    overran = worker.is_alive()
    if overran:
        logger.warning("A call to AWS was still running when the answer was due; answering what is known")
    results: dict[str, EndpointResult] = {}
    for poll in polls:
        results.update(poll.answer())
    return Waited(results, sum(poll.reads for poll in polls), overran)


def wait_for_results(book: InvokerLedger, batch: Batch, arn: str, deadline: float) -> dict[str, EndpointResult]:
    """:func:`wait_for_parts` for a single execution."""
    return wait_for_parts(book, [(batch, arn)], deadline).results


def deadline_for(seconds: float, remaining: Remaining | None, started: float) -> float:
    """The trigger's deadline: ``seconds`` after ``started``, and at least a second before the function times out."""
    if remaining is not None:
        seconds = min(seconds, remaining() / 1000 - _ANSWER_SECONDS)
    return started + max(seconds, 0.0)


def answer_by(deadline: float, remaining: Remaining | None) -> float:
    """When the answer goes out even if a call to AWS is still running: a little after the
    deadline, never later than half a second before the function times out."""
    latest = deadline + ANSWER_SLACK_SECONDS
    if remaining is not None:
        latest = min(latest, time.monotonic() + remaining() / 1000 - 0.5)
    return latest


def start_answer_by(deadline: float, remaining: Remaining | None) -> float:
    """How long the answer may wait for the start: until the function's last 1.5 s (a start slower
    than the deadline, on a loaded service, still starts its parts); without the function's
    remaining time, a little after the deadline. A call that hangs past it no longer holds the
    answer (:func:`start_parts_by`)."""
    if remaining is None:
        return deadline + ANSWER_SLACK_SECONDS
    return time.monotonic() + remaining() / 1000 - START_ANSWER_MARGIN_SECONDS


def start_and_wait(batch: Batch, settings: InvokerSettings, seconds: float, *, started: float,
                   remaining: Remaining | None = None) -> dict[str, EndpointResult]:
    """The invoker's service: start the batch's parts and wait for their outcomes until the
    trigger's deadline (``seconds`` after ``started``, capped by the function's ``remaining`` time).
    Returns what is known then, by endpoint id: the endpoints answered without an execution, those
    of the started parts, and those another execution owns (answered with its outcome). An endpoint
    left out is ``PENDING``. Raises :class:`PayloadError`, :class:`ConfigurationError` or
    :class:`StartUnavailable` when the batch cannot start at all."""
    if not batch.recipients:
        logger.info("Answering an empty batch")
        return {}
    deadline = deadline_for(seconds, remaining, started)
    begun = start_parts_by(batch, settings, deadline, answer_at=start_answer_by(deadline, remaining))
    logger.info("Started", extra={"executions": len(begun.runs), "seconds": round(time.monotonic() - started, 3),
                                  "deadline_in": round(deadline - time.monotonic(), 3)})
    foreign: dict[str, EndpointResult] = {}
    if begun.foreign:
        logger.info("Endpoints another execution sends are answered with its outcome",
                    extra={"foreign": len(begun.foreign)})

    def owners() -> None:
        if begun.foreign:
            foreign.update(claims.foreign_results(ledger(), begun.foreign, deadline))

    waited = wait_for_parts(ledger(), begun.runs, deadline, answer_by=answer_by(deadline, remaining), then=owners)
    results = {**begun.answered, **waited.results, **dict(foreign)}
    final = sum(1 for result in results.values() if result.journey_status in FINAL_STATUSES)
    logger.info("Answering", extra={"endpoints": len(batch.recipients), "final": final,
                                    "executions": len(begun.runs), "progress_reads": waited.progress_reads,
                                    "seconds": round(time.monotonic() - started, 3)})
    return results
