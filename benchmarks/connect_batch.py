"""Amazon Connect custom-action batches of any size on the embedded engine.

Connect waits 30 s (documented) for a custom action's answer; the invoker answers by its Connect
deadline (25 s by default: ``deadline_seconds=None`` here, so the product's own value applies).
A batch larger than one execution carries runs as parts (``dispatch.split``: at most 124
profiles, 118 with Connect's 32-character ids), each its own execution ``<batch id>-N``, all
started first and then waited for together (``dispatch.wait_for_parts``).

For each size (``--sizes``), in a fresh local environment (one small batch first, to warm the
functions' environments as a warm Lambda fleet would be): one Connect event of that many
profiles (as ``tests/integration/test_connect_workflow.py``'s ``event_of``: Connect-like
32-character profile ids, an SMS action from ``CONNECT_ACTIONS``), provider stand-in with
``--latency`` per request and receipts after ``--receipt-delay``.

Measured:

- answer_seconds: ``local.invoke`` call to its answer, on this machine's clock; ``within_30s``
  whether it is under Connect's 30 s;
- every profile answered: the answer's entries against the input's ids (``missing``,
  ``duplicates``), and its statuses counted (DELIVERED, SENT, PENDING, ...; ``not_started``:
  profiles of parts that could not be started before the deadline);
- executions: the batch's executions (ListExecutions: ``<batch id>`` or ``<batch id>-N``);
- after every execution ended: profiles whose ledger record is final (DELIVERED, FAILED,
  SKIPPED, TIMED_OUT); state transitions per profile (every ``...StateEntered`` event of all the
  batch's executions over the profiles); the largest history of one execution (events);
  ``drain_seconds``, the invoke to the last execution's end;
- the invoker's progress polls: ``progress_reads`` of its "Answering" log line (the functions'
  logs go to a file at INFO here), the number of GetItem calls on progress items it made; its
  ``seconds`` and the "Started" line's ``seconds`` give ``wait_seconds``, how long it waited
  after starting every part; ``poll_rcu_metered`` / ``poll_calls_metered``: the read units and
  calls DynamoDB's rules give the invoker's polling reads during the invocation
  (``journey_activity_local.engine.dynamodb_units``: the progress GetItems and the queries of
  newly final records), for comparison;
- warnings: the functions' WARNING and ERROR log lines from the invocation on, counted by message;
- the machine's one-minute load average before and after (other work on it slows every figure).

Computed, not measured:

- ``progress_rcu``: one read unit per progress poll (a strongly consistent GetItem of an item
  of some 60 bytes);
- ``old_polls``: what the invoker before the parts (commit eb27cb8: one execution, one GetItem
  per pause, pauses from 0.05 s growing 1.5x to 0.25 s) would have made over the same
  ``wait_seconds`` (its first read, then one per pause that fits: 43 in 10 s, 103 in 25 s), and
  ``new_over_old``, the measured polls over that. The old invoker could not run the larger
  batches (one execution a batch: it refused, as a payload error, one whose states would pass
  Step Functions' 256 KiB, about 118 profiles with Connect's ids): the figure compares only the
  polling schedules over the same wait.
- ``schedule_polls_per_part``: the new schedule's reads (0.05 s growing to 0.25 s in the first
  5 s, then to 1 s) of one part open for the same ``wait_seconds``, reads taking no time. The
  invoker reads every open part once per pause, so its polls are at most this times the parts.

The schedules count pauses only; the measured polls also wait for each read (and for every
part's read of one round), which on a loaded 2-core machine, with DynamoDB and the engine in
local processes, takes far longer than on AWS: measured polls fall below what the schedule
alone gives, and below what the same code would make on AWS.

``--largest``: sizes from ``--largest-from`` growing by ``--largest-step`` (a fresh environment
each) until one is not answered in full within 30 s (an invocation error, an answer at 30 s or
later, a profile missing, or a profile ``not_started``), then ``--refine`` sizes halving the step
between the last size answered in full and the first not; reports the largest answered in full.
After a failed invocation the batch's executions are listed again until no new one appears;
``profiles_in_executions`` counts the profiles their inputs carry (the rest were never started).

Prints figures per size; the last line is one JSON object.
Run: python benchmarks/connect_batch.py [--sizes 50,500,2000] [--receipt-delay 0.2] [--largest]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from journey_activity import dispatch
from journey_activity.triggers import connect
from journey_activity_local.engine.dynamodb_units import metered
from journey_activity_local.stack import LocalEnvironment, LocalInvokeError, LocalOptions

CONNECT_LIMIT_SECONDS = 30.0
LATENCY = 0.1
ACTIONS = {"Renewal reminder": {"channel": "SMS", "message": "Hi {{Attributes.Customer.FirstName|there}}, your "
                                                              "{{Profile.attributes.plan|}} plan renews soon."}}
FINAL = {"DELIVERED", "FAILED", "SKIPPED", "TIMED_OUT"}
# The old invoker's polling (commit eb27cb8): 0.05 s growing 1.5x a pause up to 0.25 s.
OLD_FIRST_PAUSE, OLD_LAST_PAUSE = 0.05, 0.25


def profile(index: int) -> dict[str, Any]:
    profile_id = hashlib.md5(str(index).encode()).hexdigest()  # 32 hex characters, like Connect's ids
    data = {"profileId": profile_id, "firstName": f"P{index}", "mobilePhoneNumber": f"+1{4155550000 + index}"}
    return {"ProfileId": profile_id, "CustomerData": json.dumps(data),
            "IdempotencyToken": hashlib.sha256(f"token-{index}".encode()).hexdigest()}


def event_of(indexes: range, run: str = "2026-12-07T09-00-00Z") -> dict[str, Any]:
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "c-1", "RunId": f"c-1#{run}",
                                                       "ActionId": "Renewal reminder", "CampaignName": "renewals"}},
            "Items": {"CustomerProfiles": [profile(index) for index in indexes]}}


def schedule_polls(wait: float, first: float, quick: float, last: float, quick_seconds: float) -> int:
    """Progress reads of one execution over ``wait`` seconds by a pause schedule alone (reads
    taking no time): one at once, then one after each pause that fits; the pause grows 1.5x up
    to ``quick`` while the wait is younger than ``quick_seconds``, then up to ``last``."""
    reads, elapsed, pause = 1, 0.0, first
    while elapsed + pause < wait:
        ceiling = quick if elapsed < quick_seconds else last
        elapsed += pause
        reads += 1
        pause = min(pause * 1.5, ceiling)
    return reads


def old_polls(wait: float) -> int:
    """The old invoker's reads over ``wait`` seconds (0.05 s growing to 0.25 s): 43 in 10 s, 103 in 25 s."""
    return schedule_polls(wait, OLD_FIRST_PAUSE, OLD_LAST_PAUSE, OLD_LAST_PAUSE, 0.0)


def new_schedule_polls(wait: float) -> int:
    """The new schedule's reads of one part open for ``wait`` seconds (dispatch's pauses)."""
    return schedule_polls(wait, dispatch._FIRST_PAUSE_SECONDS, dispatch._QUICK_PAUSE_SECONDS,
                          dispatch._LAST_PAUSE_SECONDS, dispatch._QUICK_SECONDS)


def log_records(path: Path, offset: int) -> list[dict[str, Any]]:
    """The functions' JSON log lines written after ``offset``."""
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    records = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def invoker_line(records: list[dict[str, Any]], message: str, batch_id: str) -> dict[str, Any]:
    return next((r for r in records if r.get("message") == message and r.get("batch_id") == batch_id), {})


def measure(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """One batch of ``size`` profiles in a fresh environment (see the module's notes)."""
    log_path = Path(tempfile.mkstemp(prefix=f"connect-batch-{size}-", suffix=".log")[1])
    options = LocalOptions(receipt_delay=args.receipt_delay, latency=args.latency, deadline_seconds=None,
                           receipt_timeout_seconds=args.receipt_timeout, receipt_heartbeat_seconds=args.heartbeat,
                           environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)}, log_level="INFO",
                           function_log=log_path)
    event = event_of(range(size))
    batch_id = connect.batch_id_for(event)
    ids = [item["ProfileId"] for item in event["Items"]["CustomerProfiles"]]
    figures: dict[str, Any] = {"profiles": size, "load_average_before": round(os.getloadavg()[0], 2)}
    # Handlers log to stdout as in Lambda; keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        warm = event_of(range(1_000_000, 1_000_003), run="2026-12-07T08-00-00Z")
        local.invoke(warm)
        for name in local.batch_execution_names(connect.batch_id_for(warm)):
            local.wait_for_execution(local.execution_arn(name), timeout=120)
        offset = log_path.stat().st_size
        error = None
        with metered() as used:
            started = time.perf_counter()
            try:
                response = local.invoke(event)
            except LocalInvokeError as failed:
                response, error = {}, str(failed)
            answer_seconds = time.perf_counter() - started
        entries = (response.get("Items") or {}).get("CustomerProfiles") or []
        answered = [entry["Id"] for entry in entries]
        statuses = Counter(str(entry["ResultData"].get("status")) for entry in entries)
        not_started = sum(1 for entry in entries if entry["ResultData"].get("reason") == "not_started")
        names = local.batch_execution_names(batch_id)
        print(f"{size} profiles: answered in {answer_seconds:.2f} s, {dict(statuses)}, {len(names)} executions; "
              "waiting for them to end", file=sys.stderr)
        limit = time.monotonic() + args.drain_timeout
        ended: dict[str, str] = {}
        carried = 0  # profiles in the batch's executions' input
        # Listed again until no new one appears: a StartExecution still in flight when an
        # invocation failed shows up only later.
        while pending := [name for name in names if name not in ended]:
            for name in pending:
                left = max(1.0, limit - time.monotonic())
                described = local.wait_for_execution(local.execution_arn(name), timeout=left)
                ended[name] = described["status"]
                carried += len(json.loads(described.get("input") or "{}").get("recipients") or [])
            time.sleep(1.0)
            names = local.batch_execution_names(batch_id)
        drain_seconds = time.perf_counter() - started
        records = local.batch_records(batch_id)
        final = sum(1 for endpoint_id in ids if records.get(endpoint_id, {}).get("status") in FINAL)
        entered, largest_history = 0, 0
        for name in names:
            history = local.history(local.execution_arn(name))
            entered += sum(1 for e in history if e["type"].endswith("StateEntered"))
            largest_history = max(largest_history, len(history))
        # Late lines (the last receipts') are in the log once the executions have ended.
        logged = log_records(log_path, offset)
    answering = invoker_line(logged, "Answering", batch_id)
    began = invoker_line(logged, "Started", batch_id)
    warnings = Counter(f"{r.get('level')}: {r.get('message')}" for r in logged
                       if r.get("level") in ("WARNING", "ERROR", "CRITICAL"))
    reads = answering.get("progress_reads")
    wait = (answering["seconds"] - began["seconds"]) if answering and began else None
    baseline = old_polls(wait) if wait is not None else None
    figures.update({
        "answer_seconds": round(answer_seconds, 3),
        "within_30s": error is None and answer_seconds < CONNECT_LIMIT_SECONDS,
        "error": error,
        "answered": len(answered),
        "missing": len(set(ids) - set(answered)),
        "duplicates": len(answered) - len(set(answered)),
        "statuses": dict(sorted(statuses.items())),
        "not_started": not_started,
        "executions": len(names),
        "executions_ended": dict(sorted(Counter(ended.values()).items())),
        "profiles_in_executions": carried,
        "final_afterwards": final,
        "drain_seconds": round(drain_seconds, 1),
        "transitions_per_profile": round(entered / size, 3),
        "max_history_events": largest_history,
        "invoker": {key: answering.get(key) for key in ("executions", "final", "seconds", "progress_reads")},
        "start_seconds": began.get("seconds"),
        "wait_seconds": round(wait, 3) if wait is not None else None,
        "progress_reads": reads,
        "progress_rcu": float(reads) if reads is not None else None,
        "poll_rcu_metered": used.get("poll_rcu", 0.0),
        "poll_calls_metered": int(used.get("poll_calls", 0)),
        "old_polls": baseline,
        "new_over_old": round(reads / baseline, 2) if reads is not None and baseline else None,
        "schedule_polls_per_part": new_schedule_polls(wait) if wait is not None else None,
        "warnings": dict(warnings.most_common()),
        "invoker_errors": [{key: r.get(key) for key in ("timestamp", "message", "execution", "endpoints")}
                           for r in logged if r.get("function_name") == "InvokerFunction"
                           and r.get("level") in ("ERROR", "CRITICAL")][:10],
        "load_average_after": round(os.getloadavg()[0], 2),
        "function_log": str(log_path),
    })
    figures["answered_in_full"] = (figures["within_30s"] and figures["missing"] == 0
                                   and figures["duplicates"] == 0 and not_started == 0)
    report(figures)
    if not args.keep_logs and figures["answered_in_full"] and final == size:
        log_path.unlink(missing_ok=True)
        figures["function_log"] = None
    return figures


def report(f: dict[str, Any]) -> None:
    print(f"{f['profiles']} profiles: answered in {f['answer_seconds']} s "
          f"(answered within Connect's 30 s: {'yes' if f['within_30s'] else 'no'}"
          f"{'; error ' + f['error'] if f['error'] else ''}); {f['answered']} entries, {f['missing']} missing, "
          f"{f['duplicates']} twice; statuses {f['statuses']}, not_started {f['not_started']}; "
          f"{f['executions']} executions")
    print(f"  afterwards ({f['drain_seconds']} s from the invocation): {f['final_afterwards']}/{f['profiles']} "
          f"final in the ledger, executions {f['executions_ended']} carrying {f['profiles_in_executions']} profiles; "
          f"{f['transitions_per_profile']} state "
          f"transitions per profile; largest history {f['max_history_events']} events")
    print(f"  invoker: started in {f['start_seconds']} s, waited {f['wait_seconds']} s, {f['progress_reads']} progress "
          f"polls ({f['progress_rcu']} RCU; metered polling reads {f['poll_rcu_metered']} RCU in "
          f"{f['poll_calls_metered']} calls) vs the old invoker's {f['old_polls']} over the same wait "
          f"(new/old {f['new_over_old']}); the new schedule alone: {f['schedule_polls_per_part']} a part open "
          f"that long")
    if f["warnings"]:
        print(f"  warnings: {f['warnings']}")
    for line in f["invoker_errors"]:
        print(f"  invoker error: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,500,2000", help="profiles per batch, comma-separated")
    parser.add_argument("--receipt-delay", type=float, default=0.2)
    parser.add_argument("--latency", type=float, default=LATENCY, help="the provider stand-in's seconds per send")
    parser.add_argument("--receipt-timeout", type=int, default=900, help="RECEIPT_TIMEOUT_SECONDS (product default)")
    parser.add_argument("--heartbeat", type=int, default=300, help="RECEIPT_HEARTBEAT_SECONDS (product default)")
    parser.add_argument("--drain-timeout", type=float, default=1800,
                        help="how long to wait for a batch's executions to end")
    parser.add_argument("--largest", action="store_true",
                        help="instead of --sizes: the largest batch answered in full within 30 s")
    parser.add_argument("--largest-from", type=int, default=2000)
    parser.add_argument("--largest-step", type=int, default=1000)
    parser.add_argument("--largest-max", type=int, default=20000)
    parser.add_argument("--refine", type=int, default=1,
                        help="then halve the step this many times between the last size answered in full and the "
                             "first not")
    parser.add_argument("--keep-logs", action="store_true", help="keep the functions' log of every size")
    args = parser.parse_args()

    results: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"receipt_delay": args.receipt_delay, "latency": args.latency,
                               "connect_limit_seconds": CONNECT_LIMIT_SECONDS}
    if args.largest:
        largest = None
        for size in range(args.largest_from, args.largest_max + 1, args.largest_step):
            figures = measure(size, args)
            results.append(figures)
            if not figures["answered_in_full"]:
                break
            largest = size
        failed = results[-1]["profiles"] if results and not results[-1]["answered_in_full"] else None
        step = args.largest_step
        for _ in range(args.refine if largest is not None and failed is not None else 0):
            step //= 2
            if step < 1:
                break
            figures = measure(largest + step, args)
            results.append(figures)
            if figures["answered_in_full"]:
                largest = largest + step
            else:
                failed = largest + step
        summary["largest_answered_in_full"] = largest
        summary["first_not_answered_in_full"] = failed
        print(f"largest batch answered in full within {CONNECT_LIMIT_SECONDS:.0f} s: {largest} profiles "
              f"(tried {', '.join(str(r['profiles']) for r in results)})")
    else:
        for size in (int(part) for part in args.sizes.split(",") if part.strip()):
            results.append(measure(size, args))
    summary["sizes"] = results
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
