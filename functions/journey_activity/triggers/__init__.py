"""Trigger adapters: a payload in, a :class:`~journey_activity.models.batch.Batch` out, and back."""
