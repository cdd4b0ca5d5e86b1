"""Provider URLs: https only, every resolved address checked before each send, no redirects, a
bounded answer, and TLS verified against the URL's host name while connecting to the checked IP."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from journey_activity.config import HttpProviderConfig
from journey_activity.errors import ProviderRejected, ProviderUnavailable
from journey_activity.providers.base import SendRequest
from journey_activity.providers.http import MAX_RESPONSE_BYTES, HttpProvider
from journey_activity.security import address_problem, resolve_provider_target

REQUEST = SendRequest(batch_id="b-1", endpoint_id="e-1", channel="SMS", address="+14155550123",
                      message="hello", idempotency_key="key-1")

Reply = tuple[int, dict[str, str], bytes]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[dict[str, Any]]
    answer: Callable[[dict[str, Any]], Reply]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = {"path": self.path, "headers": dict(self.headers.items()),
                   "body": self.rfile.read(length).decode()}
        self.server.seen.append(request)
        status, headers, body = self.server.answer(request)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def accepted(_request: dict[str, Any]) -> Reply:
    return 202, {"Content-Type": "application/json"}, b'{"message_id": "m-1"}'


@pytest.fixture
def serve() -> Iterator[Callable[..., _Server]]:
    """``server = serve(answer, tls=context)``: a real HTTP(S) server on 127.0.0.1."""
    servers: list[_Server] = []

    def start(answer: Callable[[dict[str, Any]], Reply] = accepted, tls: ssl.SSLContext | None = None) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.seen, server.answer = [], answer
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_LOCAL_PROVIDERS", "true")


def provider(url: str, **fields: Any) -> HttpProvider:
    return HttpProvider(HttpProviderConfig(url=url, **fields))


# -- the address rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped: judged as the IPv4 address it reaches
        ("::ffff:169.254.169.254", "metadata"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("192.0.2.1", "private"),  # documentation (the ipaddress module counts it as private)
    ],
)
def test_forbidden_addresses(address, problem):
    found = address_problem(ipaddress.ip_address(address))
    assert found is not None
    assert problem in found


@pytest.mark.parametrize("address", ["93.184.215.14", "52.94.236.248", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address)) is None


def test_loopback_only_is_what_the_local_run_adds():
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_problem(ipaddress.ip_address("::1"), allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "fd00:ec2::254", "0.0.0.0"):
        assert address_problem(ipaddress.ip_address(other), allow_loopback=True) is not None


# -- resolution before each send (real getaddrinfo on literals and localhost) -----------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/send",
        "https://localhost:8443/send",  # a name that resolves to loopback
        "https://[::1]/send",
        "https://10.0.0.8/send",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://0.0.0.0/",
        "https://224.0.0.251/",
        "https://[::ffff:127.0.0.1]/",
    ],
)
def test_sends_to_forbidden_hosts_are_rejected_before_connecting(url):
    with pytest.raises(ProviderRejected) as caught:
        provider(url).send(REQUEST)
    assert "sends never go there" in str(caught.value)
    assert caught.value.status is None  # nothing was sent


def test_http_is_refused_outside_the_local_run(monkeypatch):
    monkeypatch.delenv("ALLOW_LOCAL_PROVIDERS", raising=False)
    with pytest.raises(ProviderRejected, match=r"must be https://.*ALLOW_LOCAL_PROVIDERS=true"):
        provider("http://provider.example.com/send").send(REQUEST)


def test_the_setting_defaults_to_off_and_allows_only_http_and_loopback(monkeypatch):
    monkeypatch.setenv("ALLOW_LOCAL_PROVIDERS", "false")
    with pytest.raises(ProviderRejected, match="https://"):
        resolve_provider_target("http://127.0.0.1:9/")
    monkeypatch.setenv("ALLOW_LOCAL_PROVIDERS", "true")
    assert resolve_provider_target("http://127.0.0.1:9/x?y=1").path == "/x?y=1"
    with pytest.raises(ProviderRejected, match="private"):
        resolve_provider_target("http://10.0.0.1/")
    with pytest.raises(ProviderRejected, match="https://"):
        resolve_provider_target("ftp://127.0.0.1/")


def test_an_unresolvable_host_is_rejected():
    with pytest.raises(ProviderRejected, match="does not resolve"):
        resolve_provider_target("https://no-such-host.invalid/send", allow_local=False)


def test_one_bad_address_among_good_ones_rejects_the_host(monkeypatch):
    # The resolver is the input here (a host publishing a public and a private address); the
    # check under test is the real one.
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("52.94.236.248", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(ProviderRejected, match=r"resolves to 10\.0\.0\.5, a private address"):
        resolve_provider_target("https://mixed.example.com/send", allow_local=False)


def test_a_rejected_url_is_a_rejection_the_state_machine_never_retries():
    retries = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "batch.asl.json").read_text())
    assert ProviderRejected.__name__ not in json.dumps(
        [state.get("Retry", []) for state in _states(retries)]
    )


def _states(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in document.get("States", {}).values():
        yield state
        for nested in ("Iterator", "ItemProcessor"):
            if nested in state:
                yield from _states(state[nested])
        for branch in state.get("Branches", []):
            yield from _states(branch)


# -- sends over real HTTP (the local run's allowance) -----------------------------------------


def test_a_send_reaches_the_checked_address_with_the_url_host(serve, local_run):
    server = serve()
    port = server.server_address[1]
    result = provider(f"http://localhost:{port}/messages?tenant=7").send(REQUEST)
    assert result.message_id == "m-1"
    (seen,) = server.seen
    assert seen["path"] == "/messages?tenant=7"
    # The socket went to 127.0.0.1 (the checked address); the request still names the URL's host.
    assert seen["headers"]["Host"] == f"localhost:{port}"
    assert json.loads(seen["body"])["address"] == "+14155550123"


def test_redirects_are_rejected_not_followed(serve, local_run):
    target = serve()
    redirecting = serve(lambda _r: (307, {"Location": f"http://127.0.0.1:{target.server_address[1]}/"}, b""))
    with pytest.raises(ProviderRejected, match=r"redirect \(307\)"):
        provider(f"http://127.0.0.1:{redirecting.server_address[1]}/send").send(REQUEST)
    assert target.seen == []


def test_an_answer_over_the_limit_is_not_read(serve, local_run):
    big = b'{"message_id": "m-1", "pad": "' + b"x" * MAX_RESPONSE_BYTES + b'"}'
    server = serve(lambda _r: (200, {"Content-Type": "application/json"}, big))
    with pytest.raises(ProviderUnavailable, match=f"more than {MAX_RESPONSE_BYTES} bytes"):
        provider(f"http://127.0.0.1:{server.server_address[1]}/send").send(REQUEST)


def test_an_answer_over_the_limit_without_content_length_is_cut_off(serve, local_run):
    def chunked(_request: dict[str, Any]) -> Reply:
        # No Content-Length: the body runs until the connection closes; the limit still holds.
        return 200, {"Content-Type": "application/json", "Connection": "close", "Content-Length": ""}, \
            b"[" + b"1," * MAX_RESPONSE_BYTES + b"1]"

    server = serve(chunked)
    with pytest.raises(ProviderUnavailable, match="more than"):
        provider(f"http://127.0.0.1:{server.server_address[1]}/send").send(REQUEST)


def test_an_answer_under_the_limit_is_read(serve, local_run):
    body = json.dumps({"message_id": "m-2", "pad": "x" * (MAX_RESPONSE_BYTES - 100)}).encode()
    server = serve(lambda _r: (200, {"Content-Type": "application/json"}, body))
    assert provider(f"http://127.0.0.1:{server.server_address[1]}/send").send(REQUEST).message_id == "m-2"


# -- TLS: connect to the checked IP, verify the certificate against the URL's host --------------


def _certificates(tmp_path: Path, hostname: str) -> tuple[Path, ssl.SSLContext, list[str]]:
    """A CA (written to a file clients trust) and a server context whose certificate names ``hostname``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "server.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    names: list[str] = []

    def remember(_socket: Any, server_name: str | None, _context: Any) -> None:
        names.append(server_name or "")

    context.sni_callback = remember
    return ca_file, context, names


def test_tls_goes_to_the_checked_ip_with_sni_and_verification_of_the_host_name(serve, local_run, tmp_path,
                                                                                monkeypatch):
    ca_file, context, sni = _certificates(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the client trusts the test CA (system default paths)
    server = serve(tls=context)
    port = server.server_address[1]
    assert provider(f"https://localhost:{port}/send").send(REQUEST).message_id == "m-1"
    assert sni == ["localhost"]
    assert server.seen[0]["headers"]["Host"] == f"localhost:{port}"


def test_tls_refuses_a_certificate_for_another_host(serve, local_run, tmp_path, monkeypatch):
    ca_file, context, _ = _certificates(tmp_path, "provider.example.com")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    server = serve(tls=context)
    with pytest.raises(ProviderUnavailable, match="SSLError"):
        provider(f"https://localhost:{server.server_address[1]}/send").send(REQUEST)
    assert server.seen == []
