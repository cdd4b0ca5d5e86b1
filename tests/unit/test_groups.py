"""Group wait mode on moto's DynamoDB: the group's counter on the batch's progress item, the
check of its records before a resume, and the resumes' races (a count lowered twice, a count
never lowered, a last receipt between two attempts of the group's task)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from journey_activity import groups
from journey_activity.ledger import InvokerLedger, Ledger
from journey_activity.models.batch import LedgerStatus
from journey_activity.receipts import Target, apply_receipt

BATCH = "batch-g"


class Sfn:
    """Step Functions' task calls as the service answers them: a token resumed once; a second
    resume, or a token of an attempt that ended, is refused as a gone task."""

    def __init__(self, live: set[str] | None = None) -> None:
        self.live = set(live or ())
        self.resumed: list[str] = []
        self.heartbeats: list[str] = []

    def _gone(self, token: str, operation: str) -> ClientError:
        return ClientError({"Error": {"Code": "TaskTimedOut", "Message": f"{token} is closed"}}, operation)

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        if taskToken not in self.live:
            raise self._gone(taskToken, "SendTaskSuccess")
        self.live.discard(taskToken)
        self.resumed.append(taskToken)
        return {}

    def send_task_heartbeat(self, taskToken: str) -> dict[str, Any]:  # noqa: N803
        if taskToken not in self.live:
            raise self._gone(taskToken, "SendTaskHeartbeat")
        self.heartbeats.append(taskToken)
        return {}


def _sent(book: Ledger, endpoint_id: str, group: str = "g0") -> None:
    assert book.begin_send(BATCH, endpoint_id, channel="SMS", provider="http", about={"group": group})[0]
    book.mark_sent(BATCH, endpoint_id, provider="http", message_id=f"msg-{endpoint_id}", task_token=None, group=group)


def _deliver(book: Ledger, sfn: Sfn, endpoint_id: str, status: str = "delivered") -> str:
    target = Target(BATCH, endpoint_id, None, group="g0")
    return apply_receipt(book, sfn, target, {"message_id": f"msg-{endpoint_id}", "status": status},
                         clock=lambda: 0.0).value


@pytest.fixture
def group(book: Ledger) -> Ledger:
    assert book.open_group(BATCH, "g0", size=3, task_token="token-1", label="Send SMS (3 endpoints)") == 3
    for endpoint_id in ("a", "b", "c"):
        _sent(book, endpoint_id)
    return book


def test_the_last_final_endpoint_resumes_the_group_once(group):
    sfn = Sfn({"token-1"})
    assert _deliver(group, sfn, "a") == "delivered"
    assert _deliver(group, sfn, "b", "bounced") == "failed"
    assert sfn.resumed == []
    assert group.group_remaining(BATCH, "g0") == 1
    assert _deliver(group, sfn, "c") == "delivered"
    assert sfn.resumed == ["token-1"]
    assert group.group_remaining(BATCH, "g0") == 0
    # The batch's progress moved with every count: the invoker's hint still works.
    assert group.progress(BATCH) == 3


def test_the_invoker_closing_a_group_s_record_counts_it_off_as_every_writer_does(group):
    """The invoker's ledger holds no group items (its execution failed: it closes the open records);
    a record of a group still lowers the group's counter with the batch's progress."""
    invoker_book = InvokerLedger("ledger", dynamodb=group.dynamodb)
    applied, record = invoker_book.finish(BATCH, "a", LedgerStatus.FAILED, reason="execution_failed")
    assert applied
    assert (record["group"], record["group_remaining"]) == ("g0", 2)
    assert group.group_remaining(BATCH, "g0") == 2
    assert group.progress(BATCH) == 1
    assert not hasattr(invoker_book, "open_group")


def test_the_same_receipt_again_resumes_a_complete_group_whose_resume_was_lost(group):
    # The last receipt's resume failed after its write (here: no task was live then); its retry
    # by the provider finds the record final and resumes the group.
    sfn = Sfn()
    for endpoint_id in ("a", "b", "c"):
        _deliver(group, sfn, endpoint_id)
    assert sfn.resumed == []
    sfn.live.add("token-1")
    assert _deliver(group, sfn, "c") == "delivered"
    assert sfn.resumed == ["token-1"]
    # An open or a click after that is a duplicate with no call.
    assert _deliver(group, sfn, "a", "opened") == "duplicate"
    assert sfn.resumed == ["token-1"]


def test_a_count_lowered_twice_resumes_nothing_while_an_endpoint_is_open(group):
    sfn = Sfn({"token-1"})
    _deliver(group, sfn, "a")
    group.count_off(BATCH, "g0")  # a write retried after its answer was lost: counted twice
    _deliver(group, sfn, "b")
    assert group.group_remaining(BATCH, "g0") == 0
    assert sfn.resumed == []  # "c" is still open: the records decide, not the counter
    _deliver(group, sfn, "c")
    assert sfn.resumed == ["token-1"]


def test_a_last_receipt_between_two_attempts_is_resumed_by_the_next_attempt(group):
    # The group's first attempt failed (its token is gone) and its retry has not begun: the last
    # receipt's resume is refused. The retry writes its token, then reads the counter, and
    # resumes itself.
    sfn = Sfn()
    for endpoint_id in ("a", "b", "c"):
        _deliver(group, sfn, endpoint_id)
    assert sfn.resumed == []
    sfn.live.add("token-2")
    assert group.open_group(BATCH, "g0", size=3, task_token="token-2") == 0
    assert groups.resume_if_complete(group, sfn, BATCH, "g0", token="token-2")
    assert sfn.resumed == ["token-2"]


def test_a_resume_refused_for_an_old_token_goes_to_the_new_attempts(group):
    # The last receipt read the token before a retried attempt wrote its own.
    sfn = Sfn({"token-2"})
    _deliver(group, sfn, "a")
    _deliver(group, sfn, "b")
    group.open_group(BATCH, "g0", size=3, task_token="token-2")
    _deliver(group, sfn, "c")
    assert sfn.resumed == ["token-2"]


def test_an_endpoint_failed_without_a_send_counts_off_its_group(group):
    sfn = Sfn({"token-1"})
    _deliver(group, sfn, "a")
    _deliver(group, sfn, "b")
    applied, record = group.finish(BATCH, "never-begun", LedgerStatus.FAILED, reason="provider_rejected",
                                   group="g0")
    assert applied
    assert record["group"] == "g0"
    assert record["group_remaining"] == 0
    groups.settle(group, sfn, record, counted=True)
    assert sfn.resumed == []  # "c" is open
    _deliver(group, sfn, "c")
    assert sfn.resumed == ["token-1"]


def test_progress_and_counted_off_receipts_send_one_heartbeat_an_interval(group):
    sfn = Sfn({"token-1"})
    target = Target(BATCH, "a", None, group="g0")
    for _ in range(3):
        apply_receipt(group, sfn, target, {"message_id": "msg-a", "status": "sent"}, clock=lambda: 1000.0)
    assert sfn.heartbeats == ["token-1"]
    applied, record = group.finish(BATCH, "b", LedgerStatus.DELIVERED)
    assert applied
    groups.settle(group, sfn, record, counted=True, clock=lambda: 1000.0 + 500, interval=100)
    assert sfn.heartbeats == ["token-1", "token-1"]
    assert sfn.resumed == []


def test_a_group_id_is_only_what_validate_makes(book):
    with pytest.raises(ValueError, match="not a group id"):
        book.count_off(BATCH, "g0 = :x, #y")


def _refs(channel: str, count: int, sender: str) -> list[dict[str, Any]]:
    return [{"endpoint_id": f"{channel.lower()}-{index}", "channel": channel, "sender": sender}
            for index in range(count)]


def test_groups_are_a_familys_endpoints_in_chunks_named_for_channel_and_size():
    from journey_activity.handlers.validate import make_groups

    sendable = _refs("SMS", 5, "sms-fn") + _refs("EMAIL", 2, "email-fn") + _refs("VOICE", 1, "sms-fn")
    made = make_groups(sendable, size=4)
    assert [(g["id"], g["sender"], len(g["recipients"]), g["label"]) for g in made] == [
        ("g0", "sms-fn", 4, "Send SMS (4 endpoints)"),
        ("g1", "sms-fn", 2, "Send SMS and voice (2 endpoints)"),
        ("g2", "email-fn", 2, "Send e-mail (2 endpoints)"),
    ]
    assert sorted(r["endpoint_id"] for g in made for r in g["recipients"]) == sorted(r["endpoint_id"]
                                                                                     for r in sendable)


def test_a_group_stays_within_its_bytes():
    import json

    from journey_activity.handlers.validate import make_groups

    sendable = [{**ref, "endpoint_id": ref["endpoint_id"] + "x" * 900} for ref in _refs("GCM", 200, "push-fn")]
    made = make_groups(sendable, size=1000, max_bytes=64_000)
    assert len(made) > 1
    assert all(len(json.dumps(g["recipients"])) <= 64_000 for g in made)
    assert made[0]["label"].startswith("Send push (")


def test_a_retried_attempt_leaves_alone_only_what_an_earlier_one_finished(group):
    from journey_activity.handlers.send import _done_earlier
    from journey_activity.ledger.keys import record_key
    from journey_activity.ledger.table import _to_item

    sfn = Sfn({"token-1"})
    _deliver(group, sfn, "a")
    records = {record["sk"]: record for record in group.group_records(BATCH, "g0")}
    assert _done_earlier(group, records["a"]) == "final"
    assert _done_earlier(group, records["b"]) == "sent"  # SENT, and its pointer linked
    assert _done_earlier(group, None) is None  # never begun
    # SENT, but the attempt stopped before linking its pointer: sent again? No: linked again.
    assert group.begin_send(BATCH, "d", channel="SMS", provider="http", about={"group": "g0"})[0]
    group._update(_to_item(record_key(BATCH, "d")), {"status": "SENT", "provider_message_id": "msg-d"})
    assert _done_earlier(group, group.get(BATCH, "d")) is None
    assert group.begin_send(BATCH, "e", channel="SMS", provider="http", about={"group": "g0"})[0]
    assert _done_earlier(group, group.get(BATCH, "e")) is None  # SENDING: its lease decides


def test_a_group_whose_counter_reached_zero_early_waits_for_an_endpoint_not_begun_yet(book):
    """An endpoint its sender has not begun has no record: a counter at zero early (a count made
    twice) finds no open record, and the group is still not complete, since fewer records than the
    group's size are final."""
    sfn = Sfn({"token-1"})
    book.open_group(BATCH, "g0", size=3, task_token="token-1")
    _sent(book, "a")
    _sent(book, "b")
    _deliver(book, sfn, "a")
    book.count_off(BATCH, "g0")  # counted twice
    _deliver(book, sfn, "b")
    assert book.group_remaining(BATCH, "g0") == 0
    assert sfn.resumed == []
    _sent(book, "c")  # its sender begins it only now
    _deliver(book, sfn, "c")
    assert sfn.resumed == ["token-1"]
