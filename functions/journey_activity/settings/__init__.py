"""Settings per function: each function builds and validates only the settings it reads.

- :mod:`~journey_activity.settings.base`: reading the environment (and the configuration object)
  once per container, and what every function reads (the ledger);
- :mod:`~journey_activity.settings.configuration_object`: the configuration object in S3
  (``CONFIGURATION_OBJECT``), imported only when one is named;
- :mod:`~journey_activity.settings.invoker`: the invoker (triggers, dispatch, deadlines, Connect actions);
- :mod:`~journey_activity.settings.compile`: compiling the outcomes (``EVENT_ATTRIBUTES``; the invoker's too);
- :mod:`~journey_activity.settings.providers`: the senders and the receipt queue (the providers);
- :mod:`~journey_activity.settings.validate`: Validate (providers, address rules, sender functions, receipt wait);
- :mod:`~journey_activity.settings.callback`: the receipt callback (providers, signatures);
- :mod:`~journey_activity.settings.reporting`: reporting them, and the finalizer (the sink).

:mod:`journey_activity.config` holds all of them together (the local engine, tests). This
package's ``__init__`` imports nothing, so a function imports only its own models.
"""
