"""Claims: an endpoint carrying a trigger's idempotency key is sent by one execution only, however
the trigger's retries regroup endpoints into batches.

Amazon Connect gives each profile of a custom action an ``IdempotencyToken``. A retried invocation
may group the profiles differently, so the execution name (a hash of the payload) cannot tell that
a profile was already sent. Before its execution starts, the invoker claims each profile's token in
the ledger for that execution. It writes first: a write that fails says who holds the claim, so
nothing is read before the fence.

- every claim is written, one conditional write each, under the execution's name: it is taken
  when nobody holds it, or when it points at one of this invocation's names (the same batch
  invoked again finds its own claims and joins its execution: same name, same input);
- a write that fails hands back the claim as it is (its owner, since when, its version), with no
  read: a claim another execution holds is not sent here, and that profile is answered with the
  owner's outcome, read from the owner's ledger records;
- a claim whose execution never started (its invoker crashed between claiming and starting) is
  taken over once it is ``GRACE_SECONDS`` old and its execution still does not exist, by a second
  conditional write at the version its failed write handed back (of two takers, one wins; a
  claim moved meanwhile is another's); a fresh one is waited for up to that age (within the
  deadline), so a quick retry does not leave it behind;
- when some profiles are another's, this invocation's execution runs the rest under a name of its
  own (the batch id and a hash of the tokens it holds): its claims are written again, pointed at
  that name, in a next round (at most ``_ROUNDS``; contention that does not settle starts nothing,
  and every keyed profile is answered from its owner);
- then every claim is read (the fence: strongly consistent): one taken over meanwhile (this
  invoker was slower than the grace) is dropped from the execution, so the two can never both
  send it.

Recipients without a key (Pinpoint's endpoints) are left as they are: the execution name is their
idempotency record.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from botocore.exceptions import ClientError

from journey_activity import aws
from journey_activity.ledger.invoker import InvokerLedger
from journey_activity.ledger.records import result_from_record
from journey_activity.models.batch import Batch, EndpointResult, Recipient

# Longer than an invoker takes between claiming and starting (a few writes and StartExecution).
GRACE_SECONDS = 5.0
_ROUNDS = 8


class ClaimPlan(NamedTuple):
    """What the claims decided. (A named tuple: it costs the invoker's cold start far less than a dataclass.)"""

    # What this invocation's execution runs: its own and its unclaimable recipients (may be none).
    batch: Batch
    # Endpoint id -> its claim's key: another invocation's execution sends it. Its owner is read
    # from the claim when answering (an owner may still move its claims to a name of its own).
    foreign: dict[str, str]


def sub_name(batch_id: str, keys: Iterable[str]) -> str:
    """The execution name for part of a batch: the batch id and a hash of the keys it holds (≤ 80)."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
    return f"{batch_id[:63]}-{digest}"


def execution_exists(state_machine_arn: str) -> Callable[[str], bool]:
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    known: dict[str, bool] = {}

    def exists(name: str) -> bool:
        if not known.get(name):
            try:
                aws.client("stepfunctions").describe_execution(executionArn=f"{prefix}:execution:{machine}:{name}")
                known[name] = True
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                    raise
                known[name] = False
        return known[name]

    return exists


def _abandoned(claim: Mapping[str, object], exists: Callable[[str], bool], deadline: float) -> str | None:
    """The claim's version when its execution never started and never will, else None (its owner
    is alive, or may be: answer from it)."""
    execution = str(claim.get("execution", ""))
    claimed_at = float(str(claim.get("claimed_at", 0))) / 1000
    while True:
        if exists(execution):
            return None
        if time.time() - claimed_at >= GRACE_SECONDS:
            return str(claim.get("version", ""))
        if time.monotonic() + 0.2 >= deadline:
            return None
        time.sleep(0.2)


def plan(book: InvokerLedger, batch: Batch, exists: Callable[[str], bool], deadline: float) -> ClaimPlan:
    """Claim the batch's keyed recipients; see the module's documentation."""
    keys = {r.endpoint_id: r.claim_key for r in batch.recipients if r.claim_key}
    if not keys:
        return ClaimPlan(batch, {})
    foreign: dict[str, str] = {}
    used: set[str] = set()
    for _ in range(_ROUNDS):
        included = [r for r in batch.recipients if r.endpoint_id not in foreign]
        held = [keys[r.endpoint_id] for r in included if r.endpoint_id in keys]
        name = batch.context.batch_id if not foreign else sub_name(batch.context.batch_id, held)
        used.add(name)
        wanted = [(r.endpoint_id, keys[r.endpoint_id], None) for r in included if r.endpoint_id in keys]
        # Written first, not read: a claim held elsewhere comes back as it is, from its failed write.
        lost = {key: claim for key, claim in book.take_claims(wanted, execution=name, mine=used).items()
                if claim is not None}
        changed = False
        takeovers: list[tuple[str, str, str | None]] = []
        for endpoint_id, key, _ in wanted:
            if key not in lost:
                continue
            claim, version = lost[key], None
            if claim.get("execution") in used:
                # This invocation's own (the condition lets its names through: not expected). It
                # wrote it, so there is no grace to wait for: moved at the version it is at.
                version = str(claim.get("version", ""))
            elif claim.get("execution"):
                version = _abandoned(claim, exists, deadline)
            if version is None:
                foreign[endpoint_id] = key
                changed = True
            else:
                takeovers.append((endpoint_id, key, version))
        if takeovers:
            taken_over = book.take_claims(takeovers, execution=name, mine=used)
            for endpoint_id, key, _ in takeovers:
                if taken_over[key] is not None:
                    # Another invocation wrote it since (a taker, or its owner moving it to a name of
                    # its own): it is alive, and sends it.
                    foreign[endpoint_id] = key
                    changed = True
        if changed:
            continue
        # The fence: a claim taken over while this invoker was slow is not sent here.
        final = book.claims(held)
        lost_since = {eid: k for eid, k in keys.items()
                      if eid not in foreign and final.get(k, {}).get("execution") != name}
        if lost_since:
            foreign.update(lost_since)
            continue
        return ClaimPlan(_part(batch, name, included), foreign)
    # Contention that does not settle: start nothing; every keyed profile is answered from its owner
    # (a claim left pointing at a name never started is taken over by a retry after the grace).
    rest = [r for r in batch.recipients if r.endpoint_id not in keys]
    foreign.update(keys)
    return ClaimPlan(_part(batch, sub_name(batch.context.batch_id, ["-"]), rest), foreign)


def _part(batch: Batch, name: str, recipients: list[Recipient]) -> Batch:
    if name == batch.context.batch_id and len(recipients) == len(batch.recipients):
        return batch
    return Batch(context=batch.context.model_copy(update={"batch_id": name}), recipients=recipients)


def foreign_results(book: InvokerLedger, foreign: Mapping[str, str], deadline: float) -> dict[str, EndpointResult]:
    """The owners' outcomes of the endpoints other executions send (``foreign``: endpoint id -> claim
    key), polled until each is final or the deadline passes (a final status never changes)."""
    results: dict[str, EndpointResult] = {}
    pause = 0.05
    while foreign:
        waiting = {eid: key for eid, key in foreign.items() if eid not in results}
        owners = book.claims(waiting.values())
        by_execution: dict[str, set[str]] = {}
        for endpoint_id, key in waiting.items():
            execution = owners.get(key, {}).get("execution")
            if execution:
                by_execution.setdefault(str(execution), set()).add(endpoint_id)
        for execution, wanted in by_execution.items():
            if time.monotonic() >= deadline:
                break
            records = book.final_results(execution)
            results.update({eid: result_from_record(record) for eid, record in records.items() if eid in wanted})
        if len(results) == len(foreign) or time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)
    return results
