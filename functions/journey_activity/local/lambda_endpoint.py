"""A local AWS Lambda ``Invoke`` endpoint on 127.0.0.1 that runs the handlers named in ``template.yaml``.

The embedded Step Functions engine (and boto3's ``lambda`` client, through
``AWS_ENDPOINT_URL_LAMBDA``) call it exactly as they call AWS Lambda. A handler's exception
becomes a function error the way Lambda reports it: HTTP 200, ``X-Amz-Function-Error:
Unhandled`` and ``errorType`` = the exception's class name, so the ASL's ``Retry`` and
``Catch`` match on it.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import logging
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from journey_activity.local.server import LocalServer, TrackingHTTPServer
from journey_activity.local.template import FunctionSpec

log = logging.getLogger(__name__)
_INVOKE_PATH = "/2015-03-31/functions/"


class LocalContext:
    """What a Lambda handler reads from its context object."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


class FunctionError(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage"))
        self.payload = payload


def _drop_disabled_metrics() -> None:
    """Lambda publishes a function's metrics at the end of every invocation. With metrics
    disabled (the local default) Powertools never empties its process-wide metric set, and
    once one metric holds 100 values it serializes and prints the set anyway (onto the
    command's stdout, and failing if no namespace is set). Locally they are dropped instead."""
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        from aws_lambda_powertools import Metrics

        Metrics().clear_metrics()


class LambdaRegistry:
    """The template's functions, importable and callable by name or ARN."""

    def __init__(self, specs: Mapping[str, FunctionSpec]) -> None:
        self.specs = dict(specs)
        self.invocations: Counter[str] = Counter()
        # Every function error: (function, errorType, errorMessage).
        self.errors: list[tuple[str, str, str]] = []
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    def find(self, name_or_arn: str) -> FunctionSpec | None:
        name = unquote(name_or_arn)
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        return self.specs.get(name.split(":")[0])

    def handler(self, spec: FunctionSpec) -> Callable[..., Any]:
        with self._lock:
            if spec.logical_id not in self._handlers:
                module_name, _, attribute = spec.handler.rpartition(".")
                self._handlers[spec.logical_id] = getattr(importlib.import_module(module_name), attribute)
            return self._handlers[spec.logical_id]

    def call(self, spec: FunctionSpec, event: Any) -> Any:
        """Run the handler; raises :class:`FunctionError` with Lambda's error payload."""
        with self._lock:
            self.invocations[spec.logical_id] += 1
        context = LocalContext(spec)
        try:
            # A fresh context per invocation, as each Lambda invocation starts clean: the log keys
            # a handler adds (context variables) belong to this invocation and this thread only.
            return contextvars.Context().run(self.handler(spec), event, context)
        except Exception as error:  # every handler error becomes a function error
            with self._lock:
                self.errors.append((spec.logical_id, type(error).__name__, str(error)[:500]))
            raise FunctionError(
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_exception(error)[-6:],
                }
            ) from error
        finally:
            _drop_disabled_metrics()


class _InvokeHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("lambda endpoint: %s", format % args)

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, kind: str, message: str) -> None:
        self._reply(status, json.dumps({"Type": "User", "message": message}).encode(), {"x-amzn-ErrorType": kind})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.startswith(_INVOKE_PATH) or not self.path.split("?")[0].endswith("/invocations"):
            self._error(404, "UnknownOperationException", f"not a Lambda Invoke path: {self.path}")
            return
        name = self.path.split("?")[0][len(_INVOKE_PATH) : -len("/invocations")]
        registry = self.server.registry
        spec = registry.find(name)
        if spec is None:
            self._error(404, "ResourceNotFoundException", f"Function not found: {unquote(name)}")
            return
        try:
            event = json.loads(raw or b"{}")
        except json.JSONDecodeError as error:
            self._error(400, "InvalidRequestContentException", f"Could not parse request body into json: {error}")
            return
        if self.headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self._call_quietly, args=(spec, event), daemon=True).start()
            self._reply(202, b"")
            return
        try:
            result = registry.call(spec, event)
        except FunctionError as error:
            self._reply(200, json.dumps(error.payload).encode(),
                        {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"})
            return
        self._reply(200, json.dumps(result).encode(), {"X-Amz-Executed-Version": "$LATEST"})

    def _call_quietly(self, spec: FunctionSpec, event: Any) -> None:
        try:
            self.server.registry.call(spec, event)
        except FunctionError as error:
            log.warning("asynchronous invocation failed", extra={"function": spec.logical_id,
                                                                  "error": error.payload["errorMessage"]})


class _Server(TrackingHTTPServer):
    registry: LambdaRegistry


class LocalLambdaEndpoint(LocalServer):
    """``with LocalLambdaEndpoint(registry) as endpoint: endpoint.url``"""

    thread_name = "local-lambda"

    def __init__(self, registry: LambdaRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = registry
        server = _Server((host, port), _InvokeHandler)
        server.registry = registry
        super().__init__(server)
