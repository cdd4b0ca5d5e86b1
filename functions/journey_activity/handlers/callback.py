"""The delivery-receipt endpoint: ``POST /receipts/{provider}`` behind an HTTP API.

Answers: 200 applied (or a duplicate or late receipt: acknowledged so the provider stops
retrying), 202 parked (the sender has not recorded the message id yet), 400 a body that is
not a receipt, 401 a missing, wrong or stale signature, 500 a server without a secret.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from journey_activity import aws
from journey_activity.config import get_settings_with_secrets
from journey_activity.handlers._runtime import ledger, logger, metrics
from journey_activity.receipts import Receipt, apply_receipt
from journey_activity.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRejected, verify
from journey_activity.triggers.pinpoint import describe_validation_error


def _answer(status: int, **body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in (headers or {}).items() if key.lower() == lowered), None)


def receive(provider: str, raw: str, headers: dict[str, str] | None) -> Response:
    settings = get_settings_with_secrets()
    if not settings.callback_signing_secrets:
        logger.error("No signing secret is configured; every receipt is refused")
        return _answer(500, error="not_configured", message="the receipt endpoint has no signing secret")
    try:
        verify(settings.callback_signing_secrets, _header(headers, TIMESTAMP_HEADER),
               _header(headers, SIGNATURE_HEADER), raw, tolerance_seconds=settings.signature_tolerance_seconds)
    except SignatureRejected as rejected:
        logger.warning("Receipt refused", extra={"provider": provider, "code": rejected.code})
        metrics.add_metric(name="ReceiptsRefused", unit=MetricUnit.Count, value=1)
        return _answer(401, error=rejected.code, message=rejected.message)
    try:
        receipt = Receipt.model_validate_json(raw)
    except ValidationError as error:
        return _answer(400, error="bad_receipt", message=describe_validation_error(error))

    book = ledger()
    stored = receipt.model_dump(mode="json", exclude_none=True)
    pointer = book.park_receipt(provider, receipt.message_id, stored)
    if not pointer.get("batch_id"):
        logger.info("Receipt before the message id was recorded; parked", extra={"message_id": receipt.message_id})
        metrics.add_metric(name="ReceiptsParked", unit=MetricUnit.Count, value=1)
        return _answer(202, result="parked", message_id=receipt.message_id)
    record = book.get(pointer["batch_id"], pointer["endpoint_id"])
    if record is None:
        return _answer(202, result="parked", message_id=receipt.message_id)
    outcome = apply_receipt(book, aws.client("stepfunctions"), record, stored)
    logger.info("Receipt applied", extra={"message_id": receipt.message_id, "outcome": outcome.value,
                                          "receipt_status": receipt.status, "endpoint_id": pointer["endpoint_id"]})
    metrics.add_metric(name=f"Receipts{outcome.value.title()}", unit=MetricUnit.Count, value=1)
    return _answer(200, result=outcome.value, message_id=receipt.message_id, endpoint_id=pointer["endpoint_id"])


def build_app() -> APIGatewayHttpResolver:
    """A resolver per invocation: its ``current_event`` is per request, so concurrent
    invocations in one process (the local runtime) never read each other's body."""
    app = APIGatewayHttpResolver()

    @app.post("/receipts/<provider>")
    def _receive(provider: str) -> Response:
        return receive(provider, app.current_event.decoded_body or "", app.current_event.headers)

    return app


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return build_app().resolve(event, context)
