"""Settings per function: each function builds and validates only the settings it reads.

- :mod:`journey_activity.settings.base`: reading the environment and the configuration object
  (``CONFIGURATION_OBJECT``) once per container, and the settings every function shares (the ledger);
- :mod:`journey_activity.settings.invoker`: the invoker's (the triggers, dispatch, deadlines, Connect actions);
- :mod:`journey_activity.config`: every other function's (providers, senders, receipts, reporting), a
  superset of the invoker's.

This package's ``__init__`` imports nothing, so the invoker builds none of the others' models.
"""
