"""A burst of receipts faster than the receipts API's configured rate loses none.

The API's stage throttle stays (a flood of forged requests must not cost without bound), so the
reading of "faster than the rate" that can be made true is: the template's steady rate is set
to 1 request a second with a burst that holds the test's burst, and every receipt of a batch is
posted at once, far faster than 1 a second. Each request only puts its receipt on the callback
queue (SQS-SendMessage with the API's role, which the local IAM enforces) and is answered 200
before any function runs; the callback function then drains the queue at its own pace. Every
receipt is answered 200 (none 429, none 5xx), every one is applied and every endpoint ends final.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import urllib3

from journey_activity.signing import signed_headers
from tests.integration.conftest import endpoint, event_with
from tests.lint.test_template import ROOT

pytestmark = pytest.mark.integration

# Two batches of 40 (a batch's inline Map sends at most 40 endpoints before receipts come back).
BATCHES, PER_BATCH = 2, 20
ENDPOINTS = BATCHES * PER_BATCH
RATE = 1


def template_with_rate(directory: Path, rate: int, burst: int) -> Path:
    """template.yaml with the receipts API's throttle defaults changed, beside what it names."""
    text = (ROOT / "template.yaml").read_text()
    for name, value in (("ReceiptsRateLimit", rate), ("ReceiptsBurstLimit", burst)):
        text, count = re.subn(rf"(  {name}:\n    Type: Number\n    Default: )\d+", rf"\g<1>{value}", text)
        assert count == 1, name
    for linked in ("statemachines", "functions"):
        (directory / linked).symlink_to(ROOT / linked)
    path = directory / "template.yaml"
    path.write_text(text)
    return path


def test_a_burst_above_the_apis_rate_is_queued_and_every_receipt_applied(make_local, invoke, tmp_path):
    addresses = [f"https://hooks.example.com/user/{index}" for index in range(ENDPOINTS)]
    local = make_local(template=template_with_rate(tmp_path, RATE, ENDPOINTS),
                       behaviours=dict.fromkeys(addresses, "never"),
                       environment={"ADDRESS_RULES": json.dumps({"CUSTOM": r"^https://.+"})},
                       receipt_timeout_seconds=60, receipt_heartbeat_seconds=50)
    assert (local.http_api.throttle.rate, local.http_api.throttle.burst) == (RATE, ENDPOINTS)
    runs = [invoke(local, event_with({f"ep-{index:02d}": endpoint("CUSTOM", address)
                                      for index, address in enumerate(addresses[start:start + PER_BATCH])},
                                     JourneyId=f"journey-{start}"))
            for start in range(0, ENDPOINTS, PER_BATCH)]
    # Every endpoint sent, none confirmed: the provider stand-in posts no receipt ("never").
    records = [record for run in runs for record in run.ledger().values()]
    assert len(records) == ENDPOINTS, [run.response for run in runs]
    assert {record["status"] for record in records} == {"SENT"}
    message_ids = [record["provider_message_id"] for record in records]

    pool = urllib3.PoolManager(maxsize=ENDPOINTS)

    def post(message_id: str) -> int:
        body = json.dumps({"message_id": message_id, "status": "delivered"})
        headers = {"Content-Type": "application/json", **signed_headers(local.signing_secret, body)}
        return int(pool.request("POST", local.receipts_url, body=body, headers=headers, retries=False).status)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as threads:
        statuses = list(threads.map(post, message_ids))
    posted_in = time.monotonic() - started
    applied_when_answered = local.callback_poller.deleted
    print(f"{ENDPOINTS} receipts posted in {posted_in:.2f} s (the API's rate: {RATE}/s); "
          f"{applied_when_answered} consumed when the last was answered")

    assert statuses == [200] * ENDPOINTS
    assert local.http_api.throttle.refused == 0
    assert local.http_api.queued == ENDPOINTS
    # The premise: the receipts came faster than the API's steady rate (60 at 1 a second would take a minute).
    assert posted_in < ENDPOINTS / RATE
    assert local.callback_poller.wait_deleted(ENDPOINTS)
    for run in runs:
        run.finish()
        assert {record["status"] for record in run.ledger().values()} == {"DELIVERED"}
    assert local.callback_poller.left == 0
    assert local.guards.snapshot().get("denied", 0) == 0
