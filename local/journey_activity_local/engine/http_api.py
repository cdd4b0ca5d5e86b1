"""A local HTTP API: real HTTP on 127.0.0.1, turned into API Gateway HTTP API (payload 2.0)
events for the functions whose ``HttpApi`` events in ``template.yaml`` name the route, and into
AWS service calls for the routes whose integration is one (``AWS::ApiGatewayV2::Route`` and
``AWS::ApiGatewayV2::Integration`` with ``IntegrationSubtype: SQS-SendMessage``): the request
parameters are mapped as API Gateway maps them (``$request.body``, ``${request.header.name}``,
``${request.path.name}``, ``${request.querystring.name}``, ``${context.domainName}``, static text),
and SendMessage is called with the integration's role, which the local IAM enforces like every
function's. The answer is SendMessage's (200), or 500 when the call failed."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from journey_activity_local.engine.token_bucket import TokenBucket
from journey_activity_local.runtime.lambda_endpoint import FunctionError, LambdaRegistry
from journey_activity_local.server import LocalServer, TrackingHTTPServer
from journey_activity_local.template import FunctionSpec

log = logging.getLogger(__name__)


def _route_pattern(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


@dataclass(frozen=True)
class ServiceIntegration:
    """An HTTP API route's AWS service integration, as the template sets it (resolved)."""

    method: str
    path: str
    subtype: str  # "SQS-SendMessage"
    role: str  # the logical id of the role in CredentialsArn (the local IAM's principal)
    parameters: dict[str, str]  # RequestParameters, intrinsics resolved, mapping expressions not


_MAPPING = re.compile(r"\$\{(request\.(?:header|path|querystring)\.[^}]+|context\.\w+)\}")


def map_parameter(value: str, body: str, headers: Mapping[str, str], path: Mapping[str, str],
                  query: str, context: Mapping[str, str]) -> str:
    """One request parameter mapped as API Gateway maps it: a whole ``$request...`` value, or
    ``${...}`` expressions inside static text. A part the request lacks maps to ""; several
    values of one header or query parameter are joined with commas."""
    lowered = {key.lower(): item for key, item in headers.items()}
    queries = parse_qs(query, keep_blank_values=True)

    def lookup(expression: str) -> str:
        kind, _, name = expression.partition(".")
        if kind == "context":
            return str(context.get(name, ""))
        source, _, name = name.partition(".")
        if source == "header":
            return str(lowered.get(name.lower(), ""))
        if source == "path":
            return str(path.get(name, ""))
        return ",".join(queries.get(name, []))

    if value == "$request.body":
        return body
    if value.startswith("$request.") or value.startswith("$context."):
        return lookup(value[1:])
    return _MAPPING.sub(lambda match: lookup(match.group(1)), value)


def send_message(integration: ServiceIntegration, mapped: Mapping[str, str], region: str) -> dict[str, Any]:
    """SendMessage as the integration makes it, under the integration's role (the local IAM
    checks it). Raises ValueError or botocore's ClientError when SQS (or IAM) refuses it."""
    import boto3

    from journey_activity_local.runtime.current_function import CURRENT_FUNCTION

    if not mapped.get("MessageBody"):
        raise ValueError("SQS refuses an empty MessageBody")
    request: dict[str, Any] = {"QueueUrl": mapped["QueueUrl"], "MessageBody": mapped["MessageBody"]}
    if mapped.get("MessageAttributes"):
        attributes = json.loads(mapped["MessageAttributes"])  # a value that broke the JSON fails here
        for name, value in attributes.items():
            if value.get("DataType") == "String" and not value.get("StringValue"):
                raise ValueError(f"SQS refuses the empty value of message attribute {name}")
        request["MessageAttributes"] = attributes
    if mapped.get("DelaySeconds"):
        request["DelaySeconds"] = int(mapped["DelaySeconds"])
    principal = CURRENT_FUNCTION.set(integration.role)
    try:
        return dict(boto3.client("sqs", region_name=region).send_message(**request))
    finally:
        CURRENT_FUNCTION.reset(principal)


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
        integrated = self._integration(split.path)
        if integrated is not None:
            self._integrate(*integrated, split.query, raw)
            return
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

    def _integration(self, path: str) -> tuple[ServiceIntegration, re.Match[str]] | None:
        for integration, pattern in self.server.integrations:
            match = pattern.match(path)
            if match and integration.method in (self.command, "ANY"):
                return integration, match
        return None

    def _integrate(self, integration: ServiceIntegration, match: re.Match[str], query: str, raw: bytes) -> None:
        # SQS keeps text: what is not UTF-8 becomes U+FFFD (a signature over it then fails).
        body = raw.decode("utf-8", errors="replace")
        path = {key: unquote(value) for key, value in match.groupdict().items()}
        context = {"domainName": self.headers.get("Host", "127.0.0.1"), "requestId": str(uuid.uuid4()),
                   "httpMethod": self.command, "stage": "$default"}
        headers = {key: ",".join(self.headers.get_all(key) or []) for key in set(self.headers.keys())}
        mapped = {name: map_parameter(str(value), body, headers, path, query, context)
                  for name, value in integration.parameters.items()}
        try:
            answer = send_message(integration, mapped, self.server.region)
        except Exception as error:  # refused by SQS or IAM, or a mapping that is no JSON
            log.warning("the route's integration failed", extra={"subtype": integration.subtype, "error": str(error)})
            self._reply(500, b'{"message":"Internal Server Error"}', {"Content-Type": "application/json"})
            return
        with self.server.lock:
            self.server.queued += 1
        payload = {"SendMessageResponse": {"SendMessageResult": {
            "MessageId": answer.get("MessageId"), "MD5OfMessageBody": answer.get("MD5OfMessageBody")}}}
        self._reply(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

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
    integrations: list[tuple[ServiceIntegration, re.Pattern[str]]]
    throttle: TokenBucket | None
    region: str
    lock: threading.Lock
    queued: int


class LocalHttpApi(LocalServer):
    thread_name = "local-http-api"

    def __init__(self, registry: LambdaRegistry, host: str = "127.0.0.1", port: int = 0,
                 throttle: TokenBucket | None = None) -> None:
        server = _Server((host, port), _Handler)
        server.registry = registry
        server.throttle = throttle
        server.integrations = []
        server.region = "us-east-1"
        server.lock = threading.Lock()
        server.queued = 0
        self.throttle = throttle
        self._api = server
        server.routes = [
            (method, path, _route_pattern(path), spec)
            for spec in registry.specs.values()
            for method, path in spec.http_routes
        ]
        super().__init__(server)

    def use_integrations(self, integrations: list[ServiceIntegration], region: str) -> None:
        """Serve these routes with their AWS service integrations (before any function route)."""
        self._api.region = region
        self._api.integrations = [(integration, _route_pattern(integration.path)) for integration in integrations]

    @property
    def queued(self) -> int:
        """Requests an integration put on a queue."""
        return self._api.queued
