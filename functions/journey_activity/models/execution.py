"""The execution's input as the steps read it (Validate, the senders, the finalizer): the batch's
context and its endpoints by reference, validated where each step receives it.

The invoker writes it without building these models (:func:`journey_activity.dispatch.execution_input`):
it never reads an execution's input, so its cold start does not build them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from journey_activity.models.batch import BatchContext


class RecipientRef(BaseModel):
    """An endpoint as the execution carries it: its id, its channel and what Validate decides
    on without reading the ledger. Never personal data: the address and the profile stay in
    the ledger (see :meth:`journey_activity.ledger.Ledger.put_recipients`), out of the
    execution's input, output and history, which anyone with console access can read."""

    # An execution started before recipients went by reference carries more: ignored, so it
    # can still be validated (its endpoints then end profile_missing) and finalized.
    model_config = ConfigDict(extra="ignore")

    endpoint_id: str
    channel: str
    opted_out: bool = False
    active: bool = True
    invalid: str | None = None
    invalid_reason: str | None = None
    # The ledger part that holds this endpoint's address and profile (set by the invoker for
    # the endpoints it kept; None in an execution started before parts: then its own item).
    part: int | None = None


class ExecutionInput(BaseModel):
    """The execution's input: the batch's context and its endpoints by reference."""

    model_config = ConfigDict(extra="forbid")

    context: BatchContext
    recipients: list[RecipientRef]
