"""boto3 clients, made lazily once per container with botocore's standard retry mode."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


@lru_cache(maxsize=16)
def client(service: str) -> Any:
    """A shared client; boto3 clients are thread-safe once made, the making is not."""
    import boto3
    from botocore.config import Config

    with _lock:
        return boto3.session.Session().client(
            service, config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
        )


def reset_clients() -> None:
    """Forget clients (the local runtime points them at other endpoints between runs)."""
    client.cache_clear()
