"""Where engagement events go: one module per transport, the same events for each.

:mod:`~journey_activity.sinks.events` makes the events (what happened to an endpoint, with the
trigger's ids and no personal data); :mod:`~journey_activity.sinks.eventbridge` and
:mod:`~journey_activity.sinks.pinpoint` carry them; ``REPORT_SINK`` chooses one
(:mod:`journey_activity.reporting`).
"""
