"""A token bucket, as AWS and providers meter requests: an HTTP API stage's throttle, a provider's send rate.

``rate`` tokens a second, refilled continuously, up to ``burst`` held at once (by default one
second's worth, at least one); :meth:`TokenBucket.admit` takes a token or says the request is over
the rate (``refused`` counts those answers). ``rate=None`` admits everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float | None, burst: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("a rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("a burst must be at least one request")
        self.rate = None if rate is None else float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate or 1.0)
        self._clock = clock or time.monotonic
        self._tokens, self._at = self.burst, self._clock()
        self._lock = threading.Lock()
        self.refused = 0

    def admit(self) -> bool:
        if self.rate is None:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self.refused += 1
            return False
