"""HMAC-SHA256 signatures of delivery receipts, with a timestamp and a replay window.

A provider signs ``f"{timestamp}.{body}"`` with the shared secret and sends two headers:
``X-Signature-Timestamp`` (Unix seconds) and ``X-Signature`` (``v1=<hex digest>``).
Several ``v1=`` values separated by commas are accepted, so a secret can be rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Signature-Timestamp"
SIGNATURE_HEADER = "X-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureRejected(Exception):  # noqa: N818 - read as a verdict, not a failure
    """The receipt's signature is missing, malformed, wrong or outside the replay window."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def sign(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """Return the ``X-Signature`` header value for ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    payload = str(timestamp).encode() + b"." + (body.encode() if isinstance(body, str) else body)
    return f"{SCHEME}={hmac.new(key, payload, hashlib.sha256).hexdigest()}"


def signed_headers(secret: str | bytes, body: str | bytes, now: float | None = None) -> dict[str, str]:
    """The two headers a provider sends with ``body``."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secrets: list[str],
    timestamp_header: str | None,
    signature_header: str | None,
    body: str | bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureRejected` unless one of ``secrets`` signed ``body`` recently."""
    if not timestamp_header or not signature_header:
        raise SignatureRejected(
            "missing_signature", f"headers {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required"
        )
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        raise SignatureRejected("malformed_signature", f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    current = time.time() if now is None else now
    if abs(int(current) - timestamp) > tolerance_seconds:  # int arithmetic: no OverflowError
        raise SignatureRejected(
            "stale_timestamp", f"{TIMESTAMP_HEADER} is more than {tolerance_seconds} seconds from now"
        )
    offered = [part.strip() for part in signature_header.split(",") if part.strip().startswith(f"{SCHEME}=")]
    if not offered:
        raise SignatureRejected("malformed_signature", f"{SIGNATURE_HEADER} must hold '{SCHEME}=<hex digest>'")
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise SignatureRejected("invalid_signature", "the signature does not match the body")
