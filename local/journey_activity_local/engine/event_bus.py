"""The template's engagement event bus, on moto's EventBridge, observed through EventBridge itself.

The bus is created under the name the functions get as ``EVENT_BUS_NAME``; a rule on it matching
every event of the account targets an SQS queue (moto's), and :meth:`LocalEventBus.events` reads
that queue. So an event counts as received only when EventBridge accepted it and routed it, as
a rule on the real bus would. A background reader drains the queue as events arrive: moto's SQS
scans every message in a queue on each SendMessage, so a queue left to fill makes each routed
event slower than the last (the run grew quadratically with the events it reported).

moto checks the 10-entry limit of ``PutEvents`` but not the size limit: :func:`enforce_entry_size`
adds it (the entries of a request together at most 256 KB, sized as EventBridge documents).
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

from journey_activity.sinks.eventbridge import MAX_REQUEST_BYTES, entry_size

RULE_NAME = "journey-activity-local-observe"
QUEUE_NAME = "journey-activity-local-engagement-events"


def enforce_entry_size() -> None:
    """Refuse a PutEvents request whose entries total over 256 KB, as EventBridge does."""
    from moto.events.exceptions import ValidationException
    from moto.events.models import EventsBackend

    original = EventsBackend.put_events
    if getattr(original, "_enforces_size", False):
        return

    @functools.wraps(original)
    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        total = sum(entry_size(event) for event in events)
        if total > MAX_REQUEST_BYTES:
            raise ValidationException(f"Total size of the entries in the request is over the limit "
                                      f"({total} > {MAX_REQUEST_BYTES} bytes).")
        return original(self, events)

    put_events._enforces_size = True  # type: ignore[attr-defined]
    EventsBackend.put_events = put_events  # type: ignore[method-assign]


class LocalEventBus:
    """``bus = LocalEventBus(name); bus.create(); ...; bus.events()``"""

    def __init__(self, name: str, account: str) -> None:
        self.name = name
        self.account = account
        self.arn = ""
        self._queue_url = ""
        # Each routed event as the queue delivered it (its JSON text): a fifth of the memory of the
        # parsed event, which a long run would keep for every event; parsed when read.
        self._received: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None

    def create(self) -> LocalEventBus:
        import boto3

        enforce_entry_size()
        events, sqs = boto3.client("events"), boto3.client("sqs")
        self.arn = events.create_event_bus(Name=self.name)["EventBusArn"]
        self._queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        events.put_rule(Name=RULE_NAME, EventBusName=self.name, State="ENABLED",
                        EventPattern=json.dumps({"account": [self.account]}))
        events.put_targets(Rule=RULE_NAME, EventBusName=self.name, Targets=[{"Id": "observe", "Arn": queue_arn}])
        self._sqs = sqs
        return self

    def start_reading(self, interval: float = 0.5) -> LocalEventBus:
        """Drain the observing queue every ``interval`` seconds until :meth:`close`."""
        if self._reader is None:
            def read() -> None:
                while not self._stopping.wait(interval):
                    try:
                        self._drain()
                    except Exception:  # the environment is closing under us
                        if self._stopping.is_set():
                            return

            self._reader = threading.Thread(target=read, name="event-bus-reader", daemon=True)
            self._reader.start()
        return self

    def close(self) -> None:
        self._stopping.set()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def events(self) -> list[dict[str, Any]]:
        """Every event the bus routed so far (EventBridge's envelope: source, detail-type, detail)."""
        return [json.loads(body) for body in self._drain()]

    def _drain(self) -> list[str]:
        with self._lock:
            while True:
                messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=0).get("Messages", [])
                if not messages:
                    return list(self._received)
                self._received.extend(message["Body"] for message in messages)
                self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)])
