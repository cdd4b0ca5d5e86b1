"""Reporting's settings: where engagement events go (the compile-and-report step, the finalizer)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from journey_activity.settings.base import FunctionSettings, cached_settings


class ReportSettings(FunctionSettings):
    # Where engagement events go (journey_activity.reporting). REPORT_EVENTS=false, the older
    # switch, still means "none".
    report_sink: Literal["eventbridge", "pinpoint", "none"] = "eventbridge"
    event_bus_name: str | None = None
    report_events: bool = True
    # A "sent" event per endpoint the provider accepted, before its outcome event. Off by default:
    # the outcome event carries sent_at and the provider's message id, and a second event per
    # endpoint doubles what reporting costs.
    report_sent_events: bool = False
    event_type_prefix: str = Field(default="journey_activity", min_length=1, max_length=100)

    @property
    def effective_report_sink(self) -> str:
        return self.report_sink if self.report_events else "none"


def get_report_settings() -> ReportSettings:
    """Reporting's settings, read once per container."""
    return cached_settings(ReportSettings)
