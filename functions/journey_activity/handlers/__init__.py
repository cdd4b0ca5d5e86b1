"""Lambda entry points: thin functions that parse, call the domain, and answer."""

from __future__ import annotations

import time

# When a handler's imports began. Lambda imports this package first, then the handler's module and
# what it imports (boto3, pydantic, Powertools): on a cold start, the start of the function's init,
# which its trigger already waits for (the invoker counts its deadline from it).
IMPORTS_BEGAN = time.monotonic()
