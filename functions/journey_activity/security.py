"""Guards for what crosses the trust boundary: provider URLs, secret references, personal data in logs.

- :func:`resolve_provider_target` resolves a provider URL's host before each send and refuses
  any address a send must never reach (loopback, private, link-local, the cloud metadata
  service, unspecified, multicast, anything not globally routable). The caller connects to
  the address that was checked, so a DNS answer that changes between the check and the
  connection (DNS rebinding) cannot redirect the send.
- :func:`resolve_reference` turns ``secretsmanager:<arn>`` / ``ssm:<name>`` references into
  their values through Powertools ``parameters`` (cached), so configuration and execution
  input only ever carry the reference.
- :class:`RedactingFormatter` (from :mod:`journey_activity.redaction`, where every function's
  logger takes it without importing the guards above) masks endpoint addresses and user
  attributes in log records.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from journey_activity.errors import ProviderRejected, ProviderUnavailable

# Re-exported: the log formatter lives apart, so a function's logger imports none of the guards here.
from journey_activity.redaction import LOG_PERSONAL_DATA_VARIABLE as LOG_PERSONAL_DATA_VARIABLE
from journey_activity.redaction import PERSONAL_KEYS as PERSONAL_KEYS
from journey_activity.redaction import REDACTED as REDACTED
from journey_activity.redaction import RedactingFormatter as RedactingFormatter
from journey_activity.redaction import redact as redact
from journey_activity.transient import is_transient

ALLOW_LOCAL_PROVIDERS_VARIABLE = "ALLOW_LOCAL_PROVIDERS"
SECRET_MAX_AGE_SECONDS = 300

SECRETS_MANAGER_PREFIX = "secretsmanager:"
SSM_PREFIX = "ssm:"

# The instance metadata service (IPv4 and the Nitro IPv6 address): credentials live there.
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get(name, "").strip().lower() in ("1", "true", "yes")


def local_providers_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """True only in the local run, which sets ``ALLOW_LOCAL_PROVIDERS=true`` for its stand-in."""
    return _flag(ALLOW_LOCAL_PROVIDERS_VARIABLE, environ)


# -- provider URLs -------------------------------------------------------------------------------


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a send must not reach ``address``, or None when it may."""
    # An IPv4-mapped IPv6 address (::ffff:10.0.0.1) reaches the IPv4 address: judge that one.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA:
        return "the cloud metadata service"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL):
        return "a private address"
    if not address.is_global or address.is_reserved:
        # Shared (100.64/10), documentation, benchmarking and reserved ranges: never a provider.
        return "an address that is not globally routable"
    return None


@dataclass(frozen=True)
class ProviderTarget:
    """Where one send goes: the URL's parts and the checked addresses to connect to."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ProviderRejected(f"the provider host {host!r} does not resolve: {error}") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # Drop an IPv6 scope id ("fe80::1%eth0"): the address itself is what is judged.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise ProviderRejected(f"the provider host {host!r} has no address")
    return found


def resolve_provider_target(url: str, *, allow_local: bool | None = None) -> ProviderTarget:
    """Check ``url`` and resolve its host; raise :class:`ProviderRejected` (never retried).

    Only ``https://`` outside the local run; every address the host resolves to must pass
    :func:`address_problem` (one bad address rejects the host: a resolver may hand out any of
    them). The local run (``ALLOW_LOCAL_PROVIDERS=true``) also accepts ``http://`` and loopback.
    """
    local = local_providers_allowed() if allow_local is None else allow_local
    split = urlsplit(url)
    scheme = split.scheme.lower()
    allowed = ("https", "http") if local else ("https",)
    if scheme not in allowed:
        raise ProviderRejected(
            f"provider URLs must be https:// (got {scheme or 'no'} scheme); "
            f"http:// is accepted only with {ALLOW_LOCAL_PROVIDERS_VARIABLE}=true (the local run)"
        )
    host = split.hostname
    if not host:
        raise ProviderRejected("the provider URL has no host")
    try:
        port = split.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ProviderRejected("the provider URL has an invalid port") from None
    addresses = _resolve(host, port)
    for address in addresses:
        problem = address_problem(address, allow_loopback=local)
        if problem:
            raise ProviderRejected(
                f"the provider host {host!r} resolves to {address}, {problem}; sends never go there"
            )
    # IPv4 first: a Lambda function outside a dual-stack VPC has no IPv6 route.
    ordered = sorted(addresses, key=lambda a: a.version)
    path = (split.path or "/") + (f"?{split.query}" if split.query else "")
    return ProviderTarget(scheme, host, port, path, tuple(str(a) for a in ordered))


# -- secret references ---------------------------------------------------------------------------


def is_reference(value: str) -> bool:
    """``secretsmanager:<arn or name>``, ``ssm:<parameter name>``, or a Secrets Manager / SSM ARN."""
    return reference_kind(value) is not None


def reference_kind(value: str) -> str | None:
    if value.startswith(SECRETS_MANAGER_PREFIX) and len(value) > len(SECRETS_MANAGER_PREFIX):
        return "secretsmanager"
    if value.startswith(SSM_PREFIX) and len(value) > len(SSM_PREFIX):
        return "ssm"
    parts = value.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] in ("secretsmanager", "ssm"):
        return parts[2]
    return None


def _use_project_client(kind: str) -> None:
    """Powertools' ``get_secret`` / ``get_parameter`` make their own clients with botocore's
    default (legacy) retries; give its default provider for ``kind`` (``secretsmanager`` or
    ``ssm``) the project's client instead, so a throttled read is retried as every other call is
    (standard mode, 4 attempts). Only the kind being read: making a client is slow."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from journey_activity import aws

    name, maker = ("secrets", SecretsProvider) if kind == "secretsmanager" else ("ssm", SSMProvider)
    wanted = aws.client(kind)
    provider = DEFAULT_PROVIDERS.get(name)
    if provider is None or getattr(provider, "client", None) is not wanted:
        DEFAULT_PROVIDERS[name] = maker(boto3_client=wanted)


def resolve_reference(reference: str) -> str:
    """The value a reference points at, cached for :data:`SECRET_MAX_AGE_SECONDS` (so a rotated
    value is picked up within minutes, without a call per send)."""
    # Imported here: only the functions that read secrets pay for the import.
    from aws_lambda_powertools.utilities import parameters

    kind = reference_kind(reference)
    if kind is None:
        raise ValueError("not a secretsmanager: or ssm: reference")
    _use_project_client(kind)
    name = reference.removeprefix(SECRETS_MANAGER_PREFIX) if kind == "secretsmanager" else reference
    if kind == "secretsmanager":
        value: Any = parameters.get_secret(name, max_age=SECRET_MAX_AGE_SECONDS)
    else:
        value = parameters.get_parameter(reference.removeprefix(SSM_PREFIX), decrypt=True,
                                         max_age=SECRET_MAX_AGE_SECONDS)
    return value.decode() if isinstance(value, bytes) else str(value)


def secret_read_is_transient(error: BaseException) -> bool:
    """Whether a failed read of a secret is worth trying again: AWS throttled it, answered with a
    5xx, or did not answer. Powertools wraps the SDK's error in its ``GetParameterError`` (raised
    while handling it), so the chain of causes is followed; a missing secret or a refused
    permission is not transient."""
    current: BaseException | None = error
    for _ in range(5):
        if current is None:
            return False
        if is_transient(current):
            return True
        current = current.__cause__ or current.__context__
    return False


T = TypeVar("T")


def read_before_send(read: Callable[[], T], what: str) -> T:
    """``read()`` of the secrets a send needs, before anything is sent. A transient failure
    (:func:`secret_read_is_transient`: throttled past the SDK's retries, or unanswered) is
    ProviderUnavailable, which the state machine retries as after a refused connection; any other
    (a missing secret, a refused permission) is ProviderRejected. The messages name the error's
    type only: a secret's value must never reach the ledger or the logs."""
    try:
        return read()
    except Exception as error:
        if secret_read_is_transient(error):
            raise ProviderUnavailable(
                f"{what} could not be read now ({type(error).__name__}); nothing was sent") from None
        raise ProviderRejected(f"{what} could not be read ({type(error).__name__})") from None


def resolve_headers(headers: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Headers with every reference replaced by its value, and the values that came from secrets
    (so error messages can be scrubbed of them)."""
    resolved: dict[str, str] = {}
    secret_values: list[str] = []
    for name, value in headers.items():
        if is_reference(value):
            value = resolve_reference(value)
            if value:
                secret_values.append(value)
        resolved[name] = value
    return resolved, secret_values


def scrub(text: str, secret_values: Iterable[str]) -> str:
    """``text`` with every secret value masked: a provider may echo a header back in an error."""
    for value in secret_values:
        if value:
            text = text.replace(value, "***")
    return text


def split_secrets(value: str) -> list[str]:
    """A signing secret's value: one secret, or two comma-separated during a rotation."""
    return [part.strip() for part in value.split(",") if part.strip()]
