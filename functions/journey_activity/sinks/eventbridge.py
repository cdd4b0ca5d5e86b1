"""Engagement events to an Amazon EventBridge event bus (``REPORT_SINK=eventbridge``, the default).

Each event is one ``PutEvents`` entry: ``Source`` is ``EVENT_TYPE_PREFIX``, ``DetailType`` the
outcome (``delivered``, ``late_failed``, ...), ``Time`` when it happened, ``Detail`` the event's
JSON (:meth:`EngagementEvent.detail`). Limits, as the EventBridge API reference and user guide
state them:

- at most 10 entries a request (``Entries``: 1 to 10 items);
- entries of a request together under 256 KB, each entry's size computed as the user guide's
  "Calculating PutEvents event entry size" does: ``Time`` 14 bytes when set, plus the UTF-8
  bytes of ``Source``, ``DetailType``, ``Detail`` and each of ``Resources``. Whether the 256 KB
  applies to each entry or to the request's sum is worded both ways in AWS's pages; keeping the
  sum under it satisfies both readings.

A request answers per entry: ``FailedEntryCount`` and, per failed entry, ``ErrorCode`` /
``ErrorMessage``. Failed entries, and a request throttled past the SDK's retries, are tried again
with full-jitter backoff (the sink's ``backoff``: a few short pauses by default; a longer one,
bounded by the invocation's remaining time, when a batch is reported) unless their error is
permanent (a malformed or refused entry stays refused); what still fails is accounted for in the
outcome and logged by the caller, never raised: a reporting problem must not fail a batch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from journey_activity.aws import Backoff, is_throttling
from journey_activity.sinks.events import EngagementEvent, ReportOutcome

MAX_ENTRIES_PER_REQUEST = 10
MAX_REQUEST_BYTES = 256 * 1024
TIME_BYTES = 14
# Entries refused for what they are: sending them again cannot help.
PERMANENT_ERRORS = frozenset({"MalformedDetail", "InvalidArgument", "AccessDeniedException",
                              "NotAuthorizedForSourceException", "NotAuthorizedForDetailTypeException"})
# A failed entry or a throttled request is tried this many times in all, pausing up to 0.1 s, then
# twice as long each time, at most 1 s (the finalizer's and a late receipt's report).
DEFAULT_BACKOFF = Backoff(attempts=4, first_pause=0.1, max_pause=1.0)

Entry = dict[str, Any]


def entry_size(entry: Entry) -> int:
    """An entry's size as EventBridge computes it."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    size += len(str(entry.get("Source", "")).encode()) + len(str(entry.get("DetailType", "")).encode())
    if entry.get("Detail") is not None:
        size += len(str(entry["Detail"]).encode())
    size += sum(len(str(resource).encode()) for resource in entry.get("Resources") or [] if resource is not None)
    return size


def _time(timestamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def entry_for(event: EngagementEvent, bus_name: str, source: str) -> Entry:
    """The event as a ``PutEvents`` entry on ``bus_name``."""
    entry: Entry = {
        "EventBusName": bus_name,
        "Source": source,
        "DetailType": event.outcome,
        "Detail": json.dumps(event.detail(), separators=(",", ":"), sort_keys=True),
    }
    when = _time(event.timestamp)
    if when is not None:
        entry["Time"] = when
    return entry


def requests(pairs: Iterable[tuple[EngagementEvent, Entry]]) -> Iterator[list[tuple[EngagementEvent, Entry]]]:
    """Requests in order, each of at most 10 entries whose sizes sum to at most 256 KB."""
    request: list[tuple[EngagementEvent, Entry]] = []
    size = 0
    for event, entry in pairs:
        this = entry_size(entry)
        if request and (len(request) == MAX_ENTRIES_PER_REQUEST or size + this > MAX_REQUEST_BYTES):
            yield request
            request, size = [], 0
        request.append((event, entry))
        size += this
    if request:
        yield request


class EventBridgeSink:
    """``PutEvents`` on the stack's bus: requests of at most 10 entries under 256 KB, failed entries
    retried alone with full-jitter backoff (as ``backoff`` allows), permanent errors not retried."""

    name = "eventbridge"

    def __init__(self, client: Any, bus_name: str, source: str, *, backoff: Backoff = DEFAULT_BACKOFF,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.bus_name = bus_name
        self.source = source
        self.backoff = backoff
        self.sleep = sleep

    def send(self, events: list[EngagementEvent], outcome: ReportOutcome) -> None:
        pairs = []
        for event in events:
            entry = entry_for(event, self.bus_name, self.source)
            if entry_size(entry) > MAX_REQUEST_BYTES:
                outcome.reject(event, "TooLarge", f"the entry is over {MAX_REQUEST_BYTES} bytes")
                continue
            pairs.append((event, entry))
        for request in requests(pairs):
            self._put(request, outcome)

    def _put(self, pending: list[tuple[EngagementEvent, Entry]], outcome: ReportOutcome) -> None:
        failed = 0
        while True:
            try:
                # botocore's standard mode has already retried a throttled or failed request.
                response = self.client.put_events(Entries=[entry for _, entry in pending])
            except Exception as error:
                failed += 1
                pause = self.backoff.pause(failed) if is_throttling(error) else None
                if pause is not None:
                    # Throttled past the SDK's retries: nothing of it was accepted, so this
                    # request alone is sent again (a retry of the invocation would repeat the
                    # requests already accepted).
                    outcome.retried += len(pending)
                    self.sleep(pause)
                    continue
                outcome.request_errors.append(f"{type(error).__name__}: {error}"[:500])
                for event, _ in pending:
                    outcome.reject(event, None, "the request failed")
                return
            answers = response.get("Entries") or []
            retry: list[tuple[EngagementEvent, Entry, dict[str, Any]]] = []
            for index, (event, entry) in enumerate(pending):
                answer = answers[index] if index < len(answers) else {"ErrorCode": "NoAnswer"}
                code = answer.get("ErrorCode")
                if not code:
                    outcome.accepted += 1
                elif code in PERMANENT_ERRORS:
                    outcome.reject(event, code, str(answer.get("ErrorMessage") or code))
                else:
                    retry.append((event, entry, answer))
            if not retry:
                return
            failed += 1
            pause = self.backoff.pause(failed)
            if pause is None:
                for event, _, answer in retry:
                    outcome.reject(event, answer["ErrorCode"], str(answer.get("ErrorMessage") or answer["ErrorCode"]))
                return
            outcome.retried += len(retry)
            pending = [(event, entry) for event, entry, _ in retry]
            self.sleep(pause)
