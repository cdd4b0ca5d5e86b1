"""A journey custom-channel activity run by AWS Step Functions."""

from __future__ import annotations

import time as _time

__version__ = "0.1.0"

# When this package began to load. On a Lambda cold start that is the start of the function's own
# imports, which its trigger already waits for (the invoker counts its deadline from it).
LOADED_AT = _time.monotonic()
