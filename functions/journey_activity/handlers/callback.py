"""The delivery-receipt consumer: the callback queue's messages, which the receipts API writes.

``POST /receipts/{provider}`` is an API Gateway HTTP API AWS service integration
(``SQS-SendMessage``, template.yaml ``ReceiptsIntegration``): API Gateway puts every request on the
callback queue and answers 200 at once, whatever the load behind it, so a provider's burst is never
refused for it. The message carries what verification needs: the raw body as the message body,
and as message attributes (each value ``v=`` + the request's part, so a part the request lacks is
``v=``, which SQS accepts where it refuses an empty value) the provider from the path, our HMAC
headers, ``X-Twilio-Signature``, the ``ja_key`` query parameter and the API's domain name.

This function is the queue's consumer (an SQS event source mapping with ReportBatchItemFailures).
Each message is rebuilt into the request it was and verified exactly as the endpoint verified it
before (:func:`verdict`): the size first (nothing reads a huge body), then the signature
(nothing parses a body nobody signed), then the receipt. A message that is forged, unsigned,
stale, too large, not a receipt or for no route is refused: logged, counted in
``ReceiptsRefused``, deleted, never applied. A verified receipt is parked or applied. Only a
message that failed for a reason that passes (throttled past the retries here, a DynamoDB
error, a secret that cannot be read yet) is reported in ``batchItemFailures``: the queue delivers
it again, and after ``maxReceiveCount`` receives keeps it in the callback dead-letter queue.

The HMAC's timestamp must be within ``SIGNATURE_TOLERANCE_SECONDS`` (5 minutes) of the moment the
API queued the request (SQS's ``SentTimestamp``), so a captured receipt cannot be replayed later;
within the window a replay is a duplicate, which the ledger makes harmless. A message the queue
delivers again after its visibility timeout (180 s, up to 5 receives) is judged against that
moment too, never against its redelivery. Each provider may have its own secret
(``signing_secret_arn`` in its configuration).

A route named after a Twilio provider (``/receipts/twilio``) takes Twilio's StatusCallbacks
instead: form-encoded, verified with ``X-Twilio-Signature`` over the public URL Twilio requested,
which is rebuilt from configuration, never from the request's Host header: the provider's
``callback_url`` if set (a custom domain or base-path mapping must set it), else
``PROVIDER_CALLBACK_BASE_URL`` + ``/receipts/<name>``, else ``https://`` + the API's own domain
name + ``/receipts/<name>``; then the query the sender gave Twilio (the configured URL's own
query and our idempotency key ``ja_key``). Twilio signs no timestamp: a replay is a duplicate
receipt, which the ledger makes harmless.
"""

from __future__ import annotations

import binascii
import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from journey_activity import aws, groups
from journey_activity.handlers._runtime import ledger, logger, metrics
from journey_activity.providers import twilio
from journey_activity.receipts import APPLY_ATTEMPTS, APPLY_FIRST_PAUSE_SECONDS, Receipt, park_or_apply_retrying
from journey_activity.security import resolve_reference, secret_read_is_transient, split_secrets
from journey_activity.settings.callback import CallbackSettings, default_signing_secrets, get_callback_settings
from journey_activity.settings.providers import HttpProviderConfig, TwilioProviderConfig
from journey_activity.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRejected, verify
from journey_activity.triggers.pinpoint import describe_validation_error

# A receipt is a few hundred bytes; 64 KiB leaves room for provider extras and bounds the
# work (and the HMAC) an unauthenticated caller can cause.
MAX_BODY_BYTES = 64 * 1024


def _answer(status: int, **body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in (headers or {}).items() if key.lower() == lowered), None)


def _too_large(size: int) -> Response:
    logger.warning("Receipt refused: body too large", extra={"size": size, "limit": MAX_BODY_BYTES})
    return _answer(413, error="too_large", message=f"the body is over {MAX_BODY_BYTES} bytes")


def _provider_secret_references(settings: CallbackSettings, provider: str) -> list[str]:
    """The signing secrets configured for ``provider`` (by its name in the receipt's path)."""
    configs = [c for c in settings.channel_providers.values()
               if isinstance(c, HttpProviderConfig) and c.name == provider]
    return sorted({c.signing_secret_arn for c in configs if c.signing_secret_arn})


def _read_retrying(read: Callable[[], list[str]]) -> list[str]:
    """A secret read, tried again here while AWS throttles it past the SDK's retries (it saves the
    queue's redelivery, which comes only after the visibility timeout)."""
    return aws.retry_throttled(read, attempts=APPLY_ATTEMPTS, first_pause=APPLY_FIRST_PAUSE_SECONDS,
                               retryable=secret_read_is_transient)


def signing_secrets_for(provider: str) -> list[str]:
    """The provider's own secret(s) when configured, else the default receipt secret(s).

    Each value may hold two comma-separated secrets, so a secret is rotated without downtime:
    add the new one, switch the provider, drop the old one. Every secret, the default one too,
    is cached for five minutes (Powertools parameters), so a rotated value is seen without a
    redeploy within five minutes.
    """
    references = _provider_secret_references(get_callback_settings(), provider)
    if references:
        return [secret for reference in references for secret in split_secrets(resolve_reference(reference))]
    # Per request through the 5-minute cache: a rotation of the default secret reaches warm containers.
    return default_signing_secrets()


def receive(provider: str, raw: str, headers: dict[str, str] | None, received_at: float | None = None) -> Response:
    """An HMAC-signed receipt. ``received_at``: when the receipts API took the request (Unix
    seconds; the queue's SentTimestamp), which the signature's timestamp must be within the
    tolerance of, so a message the queue delivers again minutes later is not stale for that."""
    if len(provider.encode()) > 256:  # keeps the pointer key "msg#<provider>#<message id>" under 2048 bytes
        return _answer(404, error="unknown_provider", message="the provider name is over 256 bytes")
    size = len(raw.encode())
    if size > MAX_BODY_BYTES:
        return _too_large(size)
    settings = get_callback_settings()
    try:
        secrets = _read_retrying(lambda: signing_secrets_for(provider))
    except Exception as error:  # a 500 verdict: the message stays on the queue for redelivery
        # The type only: an error about a secret must not carry its value into the logs.
        logger.error("The provider's signing secret could not be read",
                     extra={"provider": provider, "error_type": type(error).__name__})
        return _answer(500, error="secret_unavailable", message="the receipt endpoint could not read its secret")
    if not secrets:
        logger.error("No signing secret is configured; every receipt is refused", extra={"provider": provider})
        return _answer(500, error="not_configured", message="the receipt endpoint has no signing secret")
    try:
        # Verified on the raw body, before it is parsed: a forged body is never read as JSON.
        verify(secrets, _header(headers, TIMESTAMP_HEADER),
               _header(headers, SIGNATURE_HEADER), raw, tolerance_seconds=settings.signature_tolerance_seconds,
               now=received_at)
    except SignatureRejected as rejected:
        logger.warning("Receipt refused", extra={"provider": provider, "code": rejected.code})
        metrics.add_metric(name="ReceiptsRefused", unit=MetricUnit.Count, value=1)
        return _answer(401, error=rejected.code, message=rejected.message)
    try:
        receipt = Receipt.model_validate_json(raw)
    except ValidationError as error:
        return _answer(400, error="bad_receipt", message=describe_validation_error(error))

    result, target = park_or_apply_retrying(ledger(), aws.client("stepfunctions"), provider, receipt)
    if target is None:
        logger.info("Receipt before the message id was recorded; parked", extra={"message_id": receipt.message_id})
        metrics.add_metric(name="ReceiptsParked", unit=MetricUnit.Count, value=1)
        return _answer(202, result="parked", message_id=receipt.message_id)
    logger.info("Receipt applied", extra={"message_id": receipt.message_id, "outcome": result,
                                          "receipt_status": receipt.status, "endpoint_id": target.endpoint_id})
    metrics.add_metric(name=f"Receipts{result.title()}", unit=MetricUnit.Count, value=1)
    return _answer(200, result=result, message_id=receipt.message_id, endpoint_id=target.endpoint_id)


def twilio_config(settings: CallbackSettings, provider: str) -> TwilioProviderConfig | None:
    """The Twilio provider whose receipts route this is, if any."""
    return next((c for c in settings.channel_providers.values()
                 if isinstance(c, TwilioProviderConfig) and c.name == provider), None)


def twilio_public_url(config: TwilioProviderConfig, domain_name: str | None, raw_query: str) -> str:
    """The URL Twilio requested (and signed), rebuilt from configuration (see the module's doc)."""
    configured = config.callback_url
    if not configured:
        base = os.environ.get("PROVIDER_CALLBACK_BASE_URL", "").rstrip("/") or (
            f"https://{domain_name}" if domain_name else "")
        configured = f"{base}/receipts/{config.name}"
    parts = urlsplit(configured)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, raw_query, ""))


def twilio_signature_valid(tokens: list[str], url: str, params: list[tuple[str, str]], given: str | None) -> bool:
    """The signature over the URL Twilio requested, with or without the connection-override
    fragment the sender added (Twilio does not document which form it signs)."""
    return any(twilio.signature_valid(tokens, signed, params, given)
               for signed in (url, url + twilio.CONNECTION_OVERRIDES))


def receive_twilio(config: TwilioProviderConfig, raw: str, headers: dict[str, str] | None,
                   domain_name: str | None, raw_query: str) -> Response:
    """A Twilio StatusCallback: verify ``X-Twilio-Signature``, then park or apply its receipt."""
    size = len(raw.encode())
    if size > MAX_BODY_BYTES:
        return _too_large(size)
    try:
        tokens = _read_retrying(lambda: split_secrets(resolve_reference(config.auth_token)))
    except Exception as error:  # a 500 verdict: the message stays on the queue for redelivery
        logger.error("The provider's auth token could not be read",
                     extra={"provider": config.name, "error_type": type(error).__name__})
        return _answer(500, error="secret_unavailable", message="the receipt endpoint could not read its secret")
    params = parse_qsl(raw, keep_blank_values=True)
    url = twilio_public_url(config, domain_name, raw_query)
    if not twilio_signature_valid(tokens, url, params, _header(headers, twilio.SIGNATURE_HEADER)):
        # Nothing is parsed or recorded for a request nobody signed.
        logger.warning("Receipt refused", extra={"provider": config.name, "code": "bad_signature"})
        metrics.add_metric(name="ReceiptsRefused", unit=MetricUnit.Count, value=1)
        return _answer(401, error="bad_signature", message="X-Twilio-Signature does not match the request")
    try:
        receipts = twilio.receipts_from(dict(params), dict(parse_qsl(raw_query, keep_blank_values=True)))
    except (ValueError, ValidationError) as error:
        return _answer(400, error="bad_receipt", message=str(error)[:300])
    book, sfn = ledger(), aws.client("stepfunctions")
    results = []
    for receipt in receipts:
        result, _ = park_or_apply_retrying(book, sfn, config.name, receipt)
        logger.info("Receipt applied", extra={"provider": config.name, "message_id": receipt.message_id,
                                              "receipt_status": receipt.status, "result": result})
        metrics.add_metric(name=f"Receipts{result.title()}", unit=MetricUnit.Count, value=1)
        results.append(result)
    status = 202 if results == ["parked"] else 200
    return _answer(status, result=results[0], message_id=receipts[0].message_id)


def build_app() -> APIGatewayHttpResolver:
    """A resolver per invocation: its ``current_event`` is per request, so concurrent
    invocations in one process (the local runtime) never read each other's body."""
    app = APIGatewayHttpResolver()

    @app.post("/receipts/<provider>")
    def _receive(provider: str) -> Response:
        if app.current_event.path != f"/receipts/{provider}":
            # The route's regular expression ends in "$", which also matches before a final newline.
            return _not_found(LookupError(app.current_event.path))
        try:
            raw = app.current_event.decoded_body or ""
            raw.encode()  # a lone surrogate (the JSON escape "\ud800") is no UTF-8 text either
        except (binascii.Error, ValueError):  # not base64, not UTF-8: UnicodeError is a ValueError
            return _answer(400, error="bad_body", message="the body is not valid base64-encoded UTF-8 text")
        event = app.current_event
        config = twilio_config(get_callback_settings(), provider)
        if config is not None:
            return receive_twilio(config, raw, event.headers, event.request_context.domain_name,
                                  event.raw_query_string or "")
        epoch = event.request_context.raw_event.get("timeEpoch")
        received_at = epoch / 1000 if isinstance(epoch, int | float) and not isinstance(epoch, bool) else None
        return receive(provider, raw, event.headers, received_at)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return _answer(404, error="not_found", message="only POST /receipts/{provider} is served here")

    return app


def _raw_body_size(event: dict[str, Any]) -> int:
    """The body's size from the event as it arrives, before anything decodes it."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        return 0
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body.encode(errors="surrogatepass"))


# What the receipts API's integration puts on each message (template.yaml, ReceiptsIntegration).
ATTRIBUTE_PREFIX = "v="
# Message attribute -> the request header it carries.
QUEUED_HEADERS = {"signature": SIGNATURE_HEADER, "timestamp": TIMESTAMP_HEADER,
                  "twilio_signature": twilio.SIGNATURE_HEADER}
# Statuses of a verdict that refuse the message for good: deleted, never applied.
REFUSED = frozenset({400, 401, 404, 413})


def attribute(message: dict[str, Any], name: str) -> str:
    """A message attribute's value without the integration's ``v=`` prefix ("" when absent)."""
    value = (message.get("messageAttributes") or {}).get(name) or {}
    text = str(value.get("stringValue") or "")
    return text.removeprefix(ATTRIBUTE_PREFIX)


def _query(provider: str, key: str) -> str:
    """The query the sender gave Twilio: the configured URL's own, then our idempotency key."""
    config = twilio_config(get_callback_settings(), provider)
    own = urlsplit(config.callback_url).query if config is not None and config.callback_url else ""
    return "&".join(part for part in (own, urlencode({twilio.KEY_PARAMETER: key}) if key else "") if part)


def _sent_timestamp(message: dict[str, Any]) -> int:
    """SQS's SentTimestamp of the message (Unix milliseconds), else now (a message without it)."""
    sent = str((message.get("attributes") or {}).get("SentTimestamp") or "")
    return int(sent) if sent.isdigit() else int(time.time() * 1000)


def request_event(message: dict[str, Any]) -> dict[str, Any]:
    """The HTTP API request (payload 2.0) a queue message stands for."""
    provider = attribute(message, "provider")
    headers = {header.lower(): value for name, header in QUEUED_HEADERS.items()
               if (value := attribute(message, name))}
    path = f"/receipts/{provider}"
    return {
        "version": "2.0",
        "routeKey": "POST /receipts/{provider}",
        "rawPath": path,
        "rawQueryString": _query(provider, attribute(message, "ja_key")),
        "headers": headers,
        "pathParameters": {"provider": provider},
        "requestContext": {"domainName": attribute(message, "domain") or None,
                           "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "", "userAgent": ""},
                           "routeKey": "POST /receipts/{provider}", "stage": "$default",
                           # When the API queued it: SQS's SentTimestamp (milliseconds).
                           "timeEpoch": _sent_timestamp(message)},
        "body": str(message.get("body") or ""),
        "isBase64Encoded": False,
    }


def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The verdict on one request, as the endpoint answered it before: size, signature, receipt."""
    size = _raw_body_size(event)
    if size > MAX_BODY_BYTES:
        refused = _too_large(size)
        return {"statusCode": refused.status_code, "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": refused.body}
    return build_app().resolve(event, context)


def verdict(message: dict[str, Any], context: Any) -> tuple[int, dict[str, Any]]:
    """One queue message verified and, when genuine, applied: (status, body) as the endpoint
    answered them. Raises when an AWS call failed past its retries (the message is retried)."""
    result = answer(request_event(message), context)
    return int(result["statusCode"]), json.loads(result.get("body") or "{}")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    # The batch's final statuses are counted (the batches' progress, the groups' counters) once per
    # batch and group, after the batch's receipts: see journey_activity.groups.flush_counts.
    batch = groups.CountedBatch(ledger(), aws.client("stepfunctions"), context)
    for message_id, message in batch.messages(event):
        try:
            status, body = verdict(message, context)
        except Exception as error:  # one message's failure is that message's: delivered again
            logger.warning("Receipt not applied; the queue delivers it again",
                           extra={"sqs_message_id": message_id, "error_type": type(error).__name__,
                                  "error": str(error)[:300]})
            failures.append({"itemIdentifier": message_id})
            continue
        if status in REFUSED:
            if status != 401:  # a bad signature was counted where it was found
                logger.warning("Receipt refused", extra={"provider": attribute(message, "provider")[:256],
                                                         "code": body.get("error"), "sqs_message_id": message_id})
                metrics.add_metric(name="ReceiptsRefused", unit=MetricUnit.Count, value=1)
            continue
        if status >= 500:  # no secret (yet): kept on the queue, then in its dead-letter queue
            failures.append({"itemIdentifier": message_id})
    failures = batch.left(failures)
    if failures:
        logger.info("Messages left on the queue", extra={"failed": len(failures),
                                                          "received": len(event.get("Records", []))})
    # Lambda deletes every message of the batch but these (ReportBatchItemFailures).
    return {"batchItemFailures": failures}
