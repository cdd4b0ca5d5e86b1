"""The local Lambda runtime behaves like Lambda across many invocations in one process."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from journey_activity.handlers._runtime import metrics
from journey_activity_local.runtime.lambda_endpoint import FunctionError, LambdaRegistry
from journey_activity_local.template import FunctionSpec


@metrics.log_metrics
def counting_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Shaped like the real handlers: the shared metrics object, one metric per invocation."""
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> LambdaRegistry:
    # The local default: metrics disabled; and no namespace, as when the handlers were
    # imported before the environment was set.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.setattr(metrics, "namespace", None)
    spec = FunctionSpec("Counting", f"{__name__}.counting_handler", 30, {})
    return LambdaRegistry({spec.logical_id: spec})


def test_disabled_metrics_do_not_pile_up_into_a_publish(registry, capsys):
    """Powertools serializes a metric once it holds 100 values, disabled or not; Lambda flushes
    per invocation, so the local runtime must too, or the 100th send fails for no reason."""
    spec = registry.specs["Counting"]
    for _ in range(250):
        assert registry.call(spec, {}) == {"ok": True}
    assert registry.errors == []
    assert capsys.readouterr().out == ""  # nothing printed onto the command's stdout


def test_a_failed_invocation_leaves_no_metrics_behind(registry):
    spec = registry.specs["Counting"]
    for _ in range(150):
        with pytest.raises(FunctionError) as raised:
            registry.call(spec, {"fail": True})
        assert raised.value.payload["errorType"] == "ValueError"
    assert [error[1] for error in registry.errors] == ["ValueError"] * 150
    assert registry.call(spec, {}) == {"ok": True}
