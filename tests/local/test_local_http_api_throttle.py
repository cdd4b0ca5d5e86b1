"""The local receipt API throttles as the template's stage settings say, as API Gateway does."""

from __future__ import annotations

import urllib.error
import urllib.request

from journey_activity_local.engine.http_api import LocalHttpApi
from journey_activity_local.engine.token_bucket import TokenBucket
from journey_activity_local.runtime.lambda_endpoint import LambdaRegistry
from journey_activity_local.template import Template
from tests.lint.test_template import ROOT


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST")) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_requests_beyond_the_burst_get_429_before_any_function_runs():
    registry = LambdaRegistry({})
    with LocalHttpApi(registry, throttle=TokenBucket(rate=0.001, burst=2)) as api:
        statuses = [_status(f"{api.url}/receipts/http") for _ in range(4)]
    assert statuses == [404, 404, 429, 429]  # no route here: the throttle answers first
    assert api.throttle is not None
    assert api.throttle.refused == 2
    assert registry.invocations == {}


def test_the_bucket_refills_at_the_rate():
    throttle = TokenBucket(rate=1000, burst=1)
    assert throttle.admit()
    throttle._at -= 0.01  # ten milliseconds later: ten tokens' worth, capped at the burst
    assert throttle.admit()


def test_the_template_sets_the_stage_throttling():
    template = Template(ROOT / "template.yaml")
    settings = template.resolve(template.resources["ReceiptsApi"]["Properties"]["DefaultRouteSettings"], {})
    assert float(settings["ThrottlingRateLimit"]) > 0
    assert int(settings["ThrottlingBurstLimit"]) >= float(settings["ThrottlingRateLimit"])


def test_the_standins_rate_limit_admits_one_second_at_once_then_the_rate():
    now = [0.0]
    limit = TokenBucket(3.0, clock=lambda: now[0])
    assert [limit.admit() for _ in range(4)] == [True, True, True, False]
    now[0] += 1 / 3
    assert [limit.admit(), limit.admit()] == [True, False]
    assert limit.refused == 2


def test_a_standin_without_a_rate_admits_everything():
    limit = TokenBucket(None)
    assert all(limit.admit() for _ in range(1000))
    assert limit.refused == 0
