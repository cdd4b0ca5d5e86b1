"""The trigger port: each journey product that can invoke the invoker is one adapter here.

An adapter turns its event into the core's :class:`~journey_activity.models.batch.Batch` and the
batch's results back into its own response; nothing else knows a trigger's shape. The invoker
picks the adapter by the event's shape (:func:`adapter_for`); the state machine and the handlers
behind it see the trigger only through the batch context's ids.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from journey_activity.errors import PayloadError

if TYPE_CHECKING:
    from journey_activity.models.batch import Batch, EndpointResult
    from journey_activity.settings.invoker import InvokerSettings

Results = Mapping[str, "EndpointResult"]
"""Each recipient's outcome by its id (endpoint id or profile id), as the ledger knows it when the
invoker answers; a recipient missing here is answered ``PENDING``."""


class TriggerAdapter(NamedTuple):
    """One journey product's adapter: how its event becomes a :class:`~journey_activity.models.batch.Batch`
    and the batch's results its synchronous response. A module per trigger builds one (``ADAPTER``)
    and :data:`SHAPES` names it. The functions are plain module functions; an adapter holds no state.
    (A named tuple: immutable, and far cheaper than a dataclass for the invoker's cold start to make.)
    """

    source: str
    """The trigger's short name ("connect", "pinpoint"): the batch context's ``source``, the prefix
    of its batch ids, and what the trigger's settings are named after (its deadline)."""
    name: str
    """Said in messages: "an Amazon Connect custom action", "a Pinpoint custom-channel event"."""
    expects: str
    """What the event must look like to be this trigger's, said in a sentence (for errors)."""
    recognizes: Callable[[Mapping[str, Any]], bool]
    """Whether the event has this trigger's shape (its top-level keys); the adapter then owns it,
    and a malformed one gets that adapter's error."""
    to_batch: Callable[[Any, InvokerSettings], Batch]
    """The event as the core's batch. Raises :class:`~journey_activity.errors.PayloadError` (one
    line, naming what is wrong) for an unusable envelope; a bad recipient becomes a recipient
    skipped with a reason, never an error for the whole batch."""
    to_response: Callable[[Batch, Results, InvokerSettings], Any]
    """The synchronous answer: every recipient exactly once, in input order, with what the journey
    branches on (Connect's ``ResultData``, Pinpoint's ``EventAttributes``), within the trigger's limits."""
    batch_id_for: Callable[[Any], str]
    """The batch id (execution name) a payload gives, without parsing it in full: the same payload
    (a retried invocation) gives the same id."""
    endpoint_ids: Callable[[Any], list[str]]
    """For people (the command line): the ids an event holds, in order."""
    answered: Callable[[Any], dict[str, dict[str, Any]]]
    """For people (the command line): what a response says of each id."""


SHAPES: dict[str, tuple[str, ...]] = {
    "pinpoint": ("Endpoints", "ApplicationId"),
    "connect": ("InvocationMetadata", "Items"),
}
"""Every trigger by its source (its module ``journey_activity.triggers.<source>``), in the order
:func:`adapter_for` tries them, with the top-level keys that make an event its own. An event is
recognized here, so an invocation imports only its own trigger's adapter and models (a Connect
container never builds Pinpoint's)."""


def has_shape(source: str, event: Mapping[str, Any]) -> bool:
    """Whether ``event`` has one of the top-level keys of ``source``'s trigger (:data:`SHAPES`)."""
    return any(key in event for key in SHAPES[source])


def adapter(source: str) -> TriggerAdapter:
    """The adapter of one trigger, by its source; its module is imported on first use."""
    module = importlib.import_module(f"{__name__}.{source}")
    found: TriggerAdapter = module.ADAPTER
    return found


def adapters() -> tuple[TriggerAdapter, ...]:
    """Every trigger adapter, in the order :func:`adapter_for` tries them."""
    return tuple(adapter(source) for source in SHAPES)


def adapter_for(event: Any) -> TriggerAdapter:
    """The adapter whose shape the event has. Raises :class:`PayloadError` naming what was expected."""
    if not isinstance(event, dict):
        raise PayloadError(f"the event must be a JSON object, not {type(event).__name__}")
    matching = [adapter(source) for source in SHAPES if has_shape(source, event)]
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise PayloadError("the event has the keys of more than one trigger: "
                           + "; ".join(f"{a.name} ({a.expects})" for a in matching))
    keys = ", ".join(sorted(ascii(key)[1:-1][:40] for key in event)[:8]) or "none"
    raise PayloadError("the event is neither " + " nor ".join(f"{a.name} ({a.expects})" for a in adapters())
                       + f"; its keys: {keys}")
