"""A local HTTP API: real HTTP on 127.0.0.1, turned into API Gateway HTTP API (payload 2.0)
events for the functions whose ``HttpApi`` events in ``template.yaml`` name the route."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from journey_activity_local.runtime.lambda_endpoint import FunctionError, LambdaRegistry
from journey_activity_local.server import LocalServer, TrackingHTTPServer
from journey_activity_local.template import FunctionSpec

log = logging.getLogger(__name__)


def _route_pattern(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


class StageThrottle:
    """An HTTP API stage's default route throttling (``DefaultRouteSettings``): a token bucket
    of ``burst`` tokens refilled at ``rate`` a second; without a token API Gateway answers 429
    before the function runs."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = float(rate), int(burst)
        self._tokens, self._at = float(burst), time.monotonic()
        self._lock = threading.Lock()
        self.refused = 0

    def admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self.refused += 1
            return False


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http api: %s", format % args)

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.server.throttle is not None and not self.server.throttle.admit():
            self._reply(429, b'{"message":"Too Many Requests"}', {"Content-Type": "application/json"})
            return
        split = urlsplit(self.path)
        found = self._route(split.path)
        if found is None:
            self._reply(404, b'{"message":"Not Found"}', {"Content-Type": "application/json"})
            return
        method, path, match, spec = found
        try:
            text = raw.decode("utf-8")
            body, encoded = text, False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode(), True
        event = {
            "version": "2.0",
            "routeKey": f"{method} {path}",
            "rawPath": split.path,
            "rawQueryString": split.query,
            "headers": {key.lower(): value for key, value in self.headers.items()},
            "pathParameters": {key: unquote(value) for key, value in match.groupdict().items()},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": self.headers.get("Host", "127.0.0.1"),
                "http": {"method": self.command, "path": split.path, "protocol": "HTTP/1.1",
                         "sourceIp": self.client_address[0], "userAgent": self.headers.get("User-Agent", "")},
                "requestId": str(uuid.uuid4()),
                "routeKey": f"{method} {path}",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "body": body,
            "isBase64Encoded": encoded,
        }
        try:
            result = self.server.registry.call(spec, event)
        except FunctionError as error:
            log.error("function failed behind the HTTP API", extra={"error": error.payload.get("errorMessage")})
            self._reply(500, b'{"message":"Internal Server Error"}', {"Content-Type": "application/json"})
            return
        status, headers, payload = self._response(result)
        self._reply(status, payload, headers)

    def _route(self, path: str) -> tuple[str, str, re.Match[str], FunctionSpec] | None:
        for method, template, pattern, spec in self.server.routes:
            match = pattern.match(path)
            if match and method in (self.command, "ANY"):
                return method, template, match, spec
        return None

    @staticmethod
    def _response(result: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(result, dict) or "statusCode" not in result:
            return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        return int(result["statusCode"]), headers, payload

    do_POST = do_GET = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815


class _Server(TrackingHTTPServer):
    registry: LambdaRegistry
    routes: list[tuple[str, str, re.Pattern[str], FunctionSpec]]
    throttle: StageThrottle | None


class LocalHttpApi(LocalServer):
    thread_name = "local-http-api"

    def __init__(self, registry: LambdaRegistry, host: str = "127.0.0.1", port: int = 0,
                 throttle: StageThrottle | None = None) -> None:
        server = _Server((host, port), _Handler)
        server.registry = registry
        server.throttle = throttle
        self.throttle = throttle
        server.routes = [
            (method, path, _route_pattern(path), spec)
            for spec in registry.specs.values()
            for method, path in spec.http_routes
        ]
        super().__init__(server)
