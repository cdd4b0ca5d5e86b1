"""The receipt queue's event source mapping, locally: what Lambda does for an SQS event source.

Pollers read the local (moto) queue, ten messages at a time, and invoke the function through the
local Lambda runtime with the SQS event Lambda sends (``Records`` of ``messageId``,
``receiptHandle``, ``body``, ``attributes``, ``eventSource: aws:sqs``...). With
``ReportBatchItemFailures``, the messages the function names in ``batchItemFailures`` stay on the
queue and every other one is deleted; when the invocation fails as a whole none is deleted. A
message left on the queue comes back after the queue's visibility timeout, and after its
``maxReceiveCount`` receives SQS moves it to the dead-letter queue (moto applies the redrive
policy as SQS does).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

BATCH_SIZE = 10
IDLE_SECONDS = 0.05
# Long polling, as Lambda's pollers do: a receive waits (in moto, on the queue's condition) until a
# message arrives or this passes, instead of a short poll every IDLE_SECONDS (which cost the
# engine a tenth of its CPU on an idle queue).
WAIT_SECONDS = 1
# Lambda's SQS event source mapping "starts processing five batches at a time with five concurrent
# invocations" and scales up from there, to ScalingConfig's MaximumConcurrency when set (Lambda
# developer guide, services-sqs-scaling.html): the local one runs five, or MaximumConcurrency when
# that is below five.
INITIAL_CONCURRENT_BATCHES = 5


def lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's SQS event spells it (``stringValue``, ``dataType``...), from
    ReceiveMessage's (``StringValue``, ``DataType``)."""
    shaped: dict[str, Any] = {"stringListValues": list(value.get("StringListValues", [])),
                              "binaryListValues": list(value.get("BinaryListValues", [])),
                              "dataType": value.get("DataType", "String")}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = value["BinaryValue"]
    return shaped


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for these ReceiveMessage results."""
    return {"Records": [{
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {name: lambda_attribute(value)
                              for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for message in messages]}


class QueuePoller:
    """``with QueuePoller(registry, function, queue_url, queue_arn): ...``"""

    def __init__(self, registry: Any, function: str, queue_url: str, queue_arn: str, *, region: str,
                 pollers: int = INITIAL_CONCURRENT_BATCHES, batch_size: int = BATCH_SIZE) -> None:
        self.registry = registry
        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.batch_size = batch_size
        self.invocations = 0
        self.deleted = 0
        # SQS requests for messages (a receive that returned some, a delete batch), as billed;
        # the empty long polls of an idle queue are the mapping's fixed cost, not counted here.
        self.requests = 0
        self.left = 0
        self._lock = threading.Lock()
        self._handled = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"sqs-poller-{index}", daemon=True)
                         for index in range(pollers)]

    def __enter__(self) -> QueuePoller:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._wake()
        for thread in self._threads:
            thread.join(timeout=10)

    def _wake(self) -> None:
        """End the pollers' long polls now: one message each (the stopping poller leaves it)."""
        import boto3

        try:
            sqs = boto3.client("sqs", region_name=self.region)
            for _ in self._threads:
                sqs.send_message(QueueUrl=self.queue_url, MessageBody="{}")
        except Exception as error:  # the queue is already gone: the polls fail at once
            log.debug("wake failed", extra={"error": str(error)})

    def _run(self) -> None:
        import boto3

        sqs = boto3.client("sqs", region_name=self.region)
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                                               WaitTimeSeconds=WAIT_SECONDS, AttributeNames=["All"],
                                               MessageAttributeNames=["All"]).get("Messages", [])
            except Exception as error:  # the queue is gone (the environment is closing)
                log.debug("receive failed", extra={"error": str(error)})
                self._stop.wait(IDLE_SECONDS)
                continue
            if self._stop.is_set():
                return  # the environment is closing: what was received stays on the queue
            if not messages:
                continue
            self._deliver(sqs, messages)

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        from journey_activity_local.runtime.lambda_endpoint import FunctionError

        spec = self.registry.specs[self.function]
        try:
            result = self.registry.call(spec, sqs_event(messages, self.queue_arn, self.region))
        except FunctionError as error:
            log.warning("the receipt queue's function failed; the batch stays on the queue",
                        extra={"error": error.payload})
            with self._lock:
                self.requests += 1
                self.invocations += 1
                self.left += len(messages)
                self._handled.notify_all()
            return
        failed = {str(item.get("itemIdentifier")) for item in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(done)])
        with self._lock:
            self.requests += 2 if done else 1
            self.invocations += 1
            self.deleted += len(done)
            self.left += len(messages) - len(done)
            self._handled.notify_all()

    def wait_deleted(self, count: int, timeout: float = 60) -> bool:
        """Wait until the function has been given and has deleted ``count`` messages in all."""
        with self._handled:
            return self._handled.wait_for(lambda: self.deleted >= count, timeout)
