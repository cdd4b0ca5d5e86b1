"""A local AWS Lambda ``Invoke`` endpoint on 127.0.0.1 that runs the handlers named in ``template.yaml``.

The embedded Step Functions engine (and boto3's ``lambda`` client, through
``AWS_ENDPOINT_URL_LAMBDA``, or ``aws lambda invoke --endpoint-url``) call it exactly as they
call AWS Lambda. Each function runs in its own execution environments (worker processes, see
:mod:`journey_activity_local.runtime.lambda_runtime`). A handler's exception becomes a function error
the way Lambda reports it: HTTP 200, ``X-Amz-Function-Error: Unhandled`` and ``errorType`` =
the exception's class name (``Sandbox.Timedout`` past the function's ``Timeout``), so the
ASL's ``Retry`` and ``Catch`` match on it. An invocation with no concurrency left (the
function's reserved concurrency all in use, or for a function without one the account's
unreserved concurrency) is answered 429 ``TooManyRequestsException`` with Lambda's ``Reason``,
as Lambda does: boto3 raises ``TooManyRequestsException`` and Step Functions' Lambda
integration names the error ``Lambda.TooManyRequestsException``. An asynchronous invocation
(``InvocationType=Event``) is accepted (202) and, when throttled, retried until it runs, as
Lambda's event queue retries throttled events.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from journey_activity_local.engine import aws_guards
from journey_activity_local.runtime.lambda_runtime import (
    ACCOUNT_CONCURRENCY,
    CURRENT_FUNCTION,
    DEFAULT_CAP,
    Initializer,
    LambdaRuntime,
    LocalContext,
    ThrottledInvocation,
    WorkerSetup,
    inherited_sys_path,
    lambda_environment,
)
from journey_activity_local.server import LocalServer, TrackingHTTPServer
from journey_activity_local.template import FunctionSpec

log = logging.getLogger(__name__)
_INVOKE_PATH = "/2015-03-31/functions/"
# Lambda's synchronous invocation payload quota (request and response): 6 MB.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# A throttled asynchronous invocation is tried again after this pause, growing to the last.
ASYNC_THROTTLE_PAUSES = (0.05, 0.1, 0.2, 0.5, 1.0)
__all__ = ["CURRENT_FUNCTION", "FunctionError", "LambdaRegistry", "LocalContext", "LocalLambdaEndpoint",
           "ThrottledError"]


class FunctionError(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage"))
        self.payload = payload


class ThrottledError(FunctionError):
    """No concurrency left for the invocation (Lambda's 429 TooManyRequestsException); the
    payload's ``Reason`` says which (see :class:`ThrottledInvocation`)."""


class LambdaRegistry:
    """The template's functions, callable by name or ARN, each run in its own execution
    environments (:mod:`journey_activity_local.runtime.lambda_runtime`).

    ``environment`` is what Lambda's runtime gives every function (credentials, region, the
    local endpoints); each function's own variables come on top, then ``overrides`` (the local
    run's settings). Without ``environment`` the workers inherit this process's environment.
    ``initializers`` run once in every worker (see :class:`WorkerSetup`). Concurrency: the
    account's ``account_limit`` and each function's reserved concurrency (its spec's), enforced
    as Lambda does (:class:`~journey_activity_local.runtime.lambda_runtime.AccountConcurrency`);
    ``cap`` environments per function at most, or its entry in ``caps``.
    """

    def __init__(self, specs: Mapping[str, FunctionSpec], *, environment: Mapping[str, str] | None = None,
                 overrides: Mapping[str, str] | None = None, initializers: Sequence[Initializer] = (),
                 cap: int = DEFAULT_CAP, log_path: str | None = None,
                 report: Callable[[], Any] | None = None, absorb: Callable[[Any], None] | None = None,
                 caps: Mapping[str, int] | None = None, account_limit: int = ACCOUNT_CONCURRENCY) -> None:
        self.specs = dict(specs)
        self.caps = dict(caps or {})
        self.account_limit = account_limit
        self.environment = dict(environment) if environment is not None else None
        self.overrides = dict(overrides or {})
        self.initializers = tuple(initializers)
        self.cap = cap
        self.log_path = log_path
        # Per-process state the workers report after each invocation, absorbed here.
        self.report, self.absorb = report, absorb
        self.invocations: Counter[str] = Counter()
        # Per function: the invocations' durations as Lambda bills them (ms, each rounded up), measured
        # here around the environment's answer (so including the local engine's own slowness).
        self.billed_ms: Counter[str] = Counter()
        # Every function error: (function, errorType, errorMessage).
        self.errors: list[tuple[str, str, str]] = []
        self._runtime: LambdaRuntime | None = None
        self._lock = threading.Lock()

    def find(self, name_or_arn: str) -> FunctionSpec | None:
        name = unquote(name_or_arn)
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        return self.specs.get(name.split(":")[0])

    def _setups(self) -> dict[str, WorkerSetup]:
        base = self.environment if self.environment is not None else dict(os.environ)
        return {
            spec.logical_id: WorkerSetup(
                function=spec.logical_id,
                handler=spec.handler,
                timeout=float(spec.timeout),
                memory_mb=spec.memory,
                environment={**lambda_environment(spec.logical_id, spec.handler, spec.memory,
                                                  {**spec.environment, **self.overrides}, base),
                             "_LOCAL_FUNCTION_ARN": spec.arn},
                sys_path=inherited_sys_path(),
                initializers=self.initializers,
                log_path=self.log_path,
                report=self.report,
            )
            for spec in self.specs.values()
        }

    @property
    def runtime(self) -> LambdaRuntime:
        with self._lock:
            if self._runtime is None:
                self._runtime = LambdaRuntime(self._setups(),
                                              {s.logical_id: s.reserved_concurrency for s in self.specs.values()},
                                              cap=self.cap, caps=self.caps, account_limit=self.account_limit)
            return self._runtime

    def configure(self, *, specs: Mapping[str, FunctionSpec] | None = None,
                  environment: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None,
                  initializers: Sequence[Initializer] | None = None,
                  report: Callable[[], Any] | None = None, absorb: Callable[[Any], None] | None = None) -> None:
        """Change the functions' configuration: later invocations get new environments."""
        with self._lock:
            if initializers is not None:
                self.initializers = tuple(initializers)
            if report is not None:
                self.report, self.absorb = report, absorb
            if specs is not None:
                self.specs = dict(specs)
            if environment is not None:
                self.environment = dict(environment)
            if overrides is not None:
                self.overrides.update(overrides)
            runtime = self._runtime
        if runtime is not None:
            runtime.reconfigure(self._setups())

    def invoke(self, spec: FunctionSpec, raw: bytes) -> bytes:
        """Run one invocation with the raw event; raises :class:`FunctionError` (or
        :class:`ThrottledError`) with Lambda's error payload."""
        with self._lock:
            self.invocations[spec.logical_id] += 1
        started = time.perf_counter()
        try:
            outcome = self.runtime.invoke(spec.logical_id, raw)
        except ThrottledInvocation as throttled:
            raise ThrottledError({"Reason": throttled.reason, "Type": "User",
                                  "message": "Rate Exceeded.", "errorType": "TooManyRequestsException",
                                  "errorMessage": str(throttled)}) from None
        elapsed = time.perf_counter() - started
        with self._lock:
            # Lambda bills each invocation's duration rounded up to the millisecond (init included).
            self.billed_ms[spec.logical_id] += max(1, math.ceil(elapsed * 1000))
        if outcome.report is not None and self.absorb is not None:
            self.absorb(outcome.report)
        if outcome.error is not None:
            with self._lock:
                self.errors.append((spec.logical_id, str(outcome.error.get("errorType")),
                                    str(outcome.error.get("errorMessage"))[:500]))
            raise FunctionError(outcome.error)
        return outcome.payload

    def invoke_async(self, spec: FunctionSpec, raw: bytes) -> bytes:
        """An asynchronous invocation as Lambda's event queue runs it: throttled, it is tried
        again (pauses growing to 1 s) until it runs; raises :class:`FunctionError` if it fails."""
        attempt = 0
        while True:
            try:
                return self.invoke(spec, raw)
            except ThrottledError:
                time.sleep(ASYNC_THROTTLE_PAUSES[min(attempt, len(ASYNC_THROTTLE_PAUSES) - 1)])
                attempt += 1

    def provision(self, function: str, count: int) -> int:
        """Initialize ``count`` environments of ``function`` ahead of invocations, as Lambda's
        provisioned concurrency does (locally at most the function's environment cap); returns
        how many are ready. What a function sees is unchanged: each was initialized as a cold start."""
        return self.runtime.provision(function, count)

    def in_flight(self, function: str) -> int:
        """The function's invocations running now (or waiting for an environment)."""
        return self.runtime.in_flight(function)

    def call(self, spec: FunctionSpec, event: Any, *, asynchronous: bool = False) -> Any:
        """Run the handler with ``event``; raises :class:`FunctionError` with Lambda's error payload.
        ``asynchronous``: as Lambda runs an event (a throttle is waited out, see :meth:`invoke_async`)."""
        raw = json.dumps(event).encode()
        if asynchronous:
            return json.loads(self.invoke_async(spec, raw) or b"null")
        return json.loads(self.invoke(spec, raw) or b"null")

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per function: invocations, cold starts, timeouts, throttles (see LambdaRuntime.summary)."""
        with self._lock:
            runtime = self._runtime
        return runtime.summary() if runtime is not None else {}

    def close(self) -> None:
        with self._lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.close()


def _access_key(authorization: str | None) -> str | None:
    """The caller's access key id, from its SigV4 ``Authorization`` header."""
    found = re.search(r"Credential=([^/,\s]+)/", authorization or "")
    return found.group(1) if found else None


class _InvokeHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("lambda endpoint: %s", format % args)

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        # Lambda names every answer's request (errors included); Step Functions' Lambda
        # integration quotes it in a failed task's cause (moto's reads it: a 429 without it
        # would end the execution with a KeyError instead of Lambda.TooManyRequestsException).
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
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
        # The caller's identity policies (the state machine's role, for the engine's calls).
        refused = aws_guards.authorize_invoke(_access_key(self.headers.get("Authorization")), spec.arn)
        if refused is not None:
            self._error(403, "AccessDeniedException", refused)
            return
        if length > MAX_PAYLOAD_BYTES:
            self._error(413, "RequestTooLargeException",
                        f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation")
            return
        try:
            json.loads(raw or b"{}")
        except json.JSONDecodeError as error:
            self._error(400, "InvalidRequestContentException", f"Could not parse request body into json: {error}")
            return
        if self.headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self._call_quietly, args=(spec, raw), daemon=True).start()
            self._reply(202, b"")
            return
        if self.headers.get("X-Amz-Invocation-Type") == "DryRun":
            self._reply(204, b"")
            return
        try:
            result = registry.invoke(spec, raw or b"{}")
        except ThrottledError as error:
            self._reply(429, json.dumps({k: error.payload[k] for k in ("Reason", "Type", "message")}).encode(),
                        {"x-amzn-ErrorType": "TooManyRequestsException"})
            return
        except FunctionError as error:
            self._reply(200, json.dumps(error.payload).encode(),
                        {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"})
            return
        self._reply(200, result, {"X-Amz-Executed-Version": "$LATEST"})

    def _call_quietly(self, spec: FunctionSpec, raw: bytes) -> None:
        try:
            self.server.registry.invoke_async(spec, raw or b"{}")
        except RuntimeError:  # the runtime closed while the event waited
            return
        except FunctionError as error:
            log.warning("asynchronous invocation failed", extra={"function": spec.logical_id,
                                                                  "error": error.payload.get("errorMessage")})


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
