"""The generic HTTP provider: POST one message as JSON, read the provider's message id back.

Request body: ``{"idempotency_key", "channel", "address", "message", "endpoint_id",
"batch_id", "callback_url", "metadata"}`` plus the ``Idempotency-Key`` header. A 2xx answer
must carry ``message_id`` (or ``id`` / ``messageId``). 429 is throttling and 5xx or a
network failure is an outage (both retried by the state machine); any other 4xx is a
rejection (never retried).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import urllib3

from journey_activity.config import ProviderConfig
from journey_activity.errors import ProviderRejected, ProviderThrottled, ProviderUnavailable
from journey_activity.providers.base import SendRequest, SendResult

_MESSAGE_ID_FIELDS = ("message_id", "messageId", "id", "MessageId")


@lru_cache(maxsize=1)
def _pool() -> urllib3.PoolManager:
    # Retries belong to the state machine (visible in the console), not to the HTTP client.
    return urllib3.PoolManager(num_pools=8, maxsize=40, retries=False)


def _detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text[:300] if text else "(empty body)"


class HttpProvider:
    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name

    def send(self, request: SendRequest) -> SendResult:
        body = {
            "idempotency_key": request.idempotency_key,
            "channel": request.channel,
            "address": request.address,
            "message": request.message,
            "endpoint_id": request.endpoint_id,
            "batch_id": request.batch_id,
            "metadata": request.metadata,
        }
        if self.config.callback_url:
            body["callback_url"] = self.config.callback_url
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.idempotency_key,
            **self.config.headers,
        }
        try:
            response = _pool().request(
                "POST",
                self.config.url,
                body=json.dumps(body).encode(),
                headers=headers,
                timeout=urllib3.Timeout(
                    connect=min(3.0, self.config.timeout_seconds), read=self.config.timeout_seconds
                ),
            )
        except urllib3.exceptions.HTTPError as error:
            raise ProviderUnavailable(f"{self.name}: {type(error).__name__}: {error}") from None
        status = response.status
        if status == 429:
            raise ProviderThrottled(f"{self.name} throttled the send (429): {_detail(response.data)}", status)
        if status >= 500:
            raise ProviderUnavailable(f"{self.name} failed ({status}): {_detail(response.data)}", status)
        if status >= 400:
            raise ProviderRejected(f"{self.name} rejected the message ({status}): {_detail(response.data)}", status)
        if status >= 300:
            raise ProviderRejected(f"{self.name} answered a redirect ({status}); configure the final URL", status)
        return SendResult(message_id=self._message_id(response.data, status))

    def _message_id(self, data: bytes, status: int) -> str:
        try:
            payload: Any = json.loads(data or b"{}")
        except json.JSONDecodeError:
            raise ProviderUnavailable(f"{self.name} answered {status} with a body that is not JSON", status) from None
        if isinstance(payload, dict):
            for field in _MESSAGE_ID_FIELDS:
                value = payload.get(field)
                if isinstance(value, str | int) and str(value):
                    return str(value)
        raise ProviderUnavailable(f"{self.name} answered {status} without a message id", status)
