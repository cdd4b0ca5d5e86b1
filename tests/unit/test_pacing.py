"""Provider send pacing on moto's DynamoDB: the shared slot item, and the stand-ins' send rates."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from journey_activity.pacing import FALLBACK_SES_RATE, Pacer, forget_account_rates, pace_key, ses_account_rate


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pacer(book: Any, clock: Clock) -> Pacer:
    return Pacer(book.table_name, book.dynamodb, clock=clock)


def test_an_idle_provider_sends_now_and_the_next_send_one_interval_later(pacer, clock):
    first = pacer.take("ses", 4.0, within=10)
    second = pacer.take("ses", 4.0, within=10)
    third = pacer.take("ses", 4.0, within=10)
    assert first is not None
    assert second is not None
    assert third is not None
    assert first.at == clock.now
    assert second.at == clock.now + 0.25
    assert third.at == clock.now + 0.5


def test_a_full_schedule_refuses_and_reserves_nothing(pacer, book, clock):
    taken = [pacer.take("sms", 2.0, within=1.0) for _ in range(4)]
    # Slots at +0, +0.5 and +1.0 fit within a second; +1.5 does not.
    assert [slot.at - clock.now for slot in taken[:3] if slot] == [0.0, 0.5, 1.0]
    assert taken[3] is None
    item = book.dynamodb.get_item(TableName=book.table_name, Key=pace_key("sms"), ConsistentRead=True)["Item"]
    assert int(item["next_at"]["N"]) == int(clock.now * 1000) + 1500


def test_a_provider_idle_again_starts_from_now(pacer, clock):
    pacer.take("push", 1.0, within=5)
    clock.now += 60
    slot = pacer.take("push", 1.0, within=5)
    assert slot is not None
    assert slot.at == clock.now


def test_providers_are_paced_apart(pacer, clock):
    pacer.take("ses", 1.0, within=5)
    slot = pacer.take("twilio", 1.0, within=5)
    assert slot is not None
    assert slot.at == clock.now


def test_concurrent_senders_each_get_a_slot_of_their_own(pacer, clock):
    # DynamoDB applies each item's writes one at a time; moto does too once the local engine's patch
    # (the local DynamoDB process's) is applied.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from journey_activity_local.engine.dynamodb_patches import _serialize_dynamodb

    _serialize_dynamodb(dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"])
    slots: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        slot = pacer.take("ses", 100.0, within=60)
        assert slot is not None
        with lock:
            slots.append(slot.at)

    threads = [threading.Thread(target=take) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round((at - clock.now) * 1000) for at in slots) == [10 * i for i in range(40)]


def test_a_slot_is_the_takers_own_even_when_the_next_write_lands_before_its_answer(pacer, clock):
    # moto's handler turns the backend's live item into the answer after the write: a second
    # taker's write landing in between gave both takers its slot (a clean-clone CI run). Here the
    # first taker, its write done, waits up to half a second for the second taker's write before
    # it answers. Serialized as DynamoDB serializes an item's writes, the second waits instead.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from journey_activity_local.engine.dynamodb_patches import _serialize_dynamodb

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    assert pacer.take("ses", 100.0, within=60) is not None  # the item exists: the next takes update it
    _serialize_dynamodb(backend)
    write, first_written, second_done = backend.update_item, threading.Event(), threading.Event()
    writes: list[int] = []

    def update_item(*args: Any, **kwargs: Any) -> Any:
        item = write(*args, **kwargs)
        writes.append(1)
        if len(writes) == 1:
            first_written.set()
            second_done.wait(timeout=0.5)
        return item

    backend.update_item = update_item
    slots: list[float] = []

    def take() -> None:
        slot = pacer.take("ses", 100.0, within=60)
        assert slot is not None
        slots.append(slot.at)

    first = threading.Thread(target=take)
    first.start()
    assert first_written.wait(timeout=10)
    take()
    second_done.set()
    first.join()
    assert sorted(round((at - clock.now) * 1000) for at in slots) == [10, 20]


def test_a_slot_waits_until_its_time(clock):
    from journey_activity.pacing import Slot

    pauses: list[float] = []
    Slot(clock.now + 0.75).wait(clock=clock, sleep=pauses.append)
    Slot(clock.now - 1).wait(clock=clock, sleep=pauses.append)
    assert pauses == [0.75]


def test_a_rate_must_be_positive(pacer):
    with pytest.raises(ValueError, match="positive"):
        pacer.take("ses", 0, within=1)


class Quota:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    def get_send_quota(self) -> Any:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_ses_account_rate_is_read_once_per_container():
    forget_account_rates()
    quota = Quota({"Max24HourSend": 50_000.0, "MaxSendRate": 14.0, "SentLast24Hours": 0.0})
    assert ses_account_rate("eu-west-1", lambda: quota) == 14.0
    assert ses_account_rate("eu-west-1", lambda: quota) == 14.0
    assert quota.calls == 1
    forget_account_rates()


def test_an_unreadable_ses_account_rate_paces_at_the_sandbox_rate(caplog):
    from botocore.exceptions import ClientError

    forget_account_rates()
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "GetSendQuota")
    assert ses_account_rate(None, lambda: Quota(denied)) == FALLBACK_SES_RATE
    assert "could not be read" in caplog.text
    forget_account_rates()
