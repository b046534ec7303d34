"""PinnedTransport: our own httpcore pool behind httpx, mapping requests, answers and errors (local servers only)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.http import Http
from core.settings import NetworkSettings
from core.ssrf import _HTTPX_ERRORS, PinnedTransport, _as_httpx_errors, _Rebound


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def to_loopback(host, port, *args, **kwargs):
    """A fake getaddrinfo sending every host to 127.0.0.1."""
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


class Echo(BaseHTTPRequestHandler):
    """Records what it receives and answers 201 "Made" with a small body, keeping the connection open."""

    protocol_version = "HTTP/1.1"
    seen: list[dict] = []

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                "body": body, "peer": self.client_address})
        self.send_response(201, "Made")
        self.send_header("X-Answer", "yes")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "11")
        self.end_headers()
        self.wfile.write(b'{"ok":true}')

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args):
        pass


@contextmanager
def serving(handler, wrap: ssl.SSLContext | None = None) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if wrap:
        server.socket = wrap.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_request_reaches_the_server_as_sent_and_the_answer_comes_back_whole():
    Echo.seen = []
    with serving(Echo) as port:
        origin = f"http://api.test:{port}"
        with Http(NetworkSettings(allow_private=[origin], retries=0), resolve=to_loopback) as http:
            response = http.request("POST", origin + "/v1/statuses", params={"q": "a b"}, content=b"payload",
                                    headers={"Authorization": "Bearer t0ken"})
    [seen] = Echo.seen
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/v1/statuses?q=a+b", b"payload")
    assert seen["headers"]["Host"] == f"api.test:{port}", "the URL's host name is sent, not the pinned address"
    assert seen["headers"]["Authorization"] == "Bearer t0ken"
    assert seen["headers"]["Accept-Encoding"] == "gzip, deflate"
    assert (response.status_code, response.reason_phrase, response.http_version) == (201, "Made", "HTTP/1.1")
    assert response.headers["x-answer"] == "yes" and response.json() == {"ok": True}
    assert str(response.url) == origin + "/v1/statuses?q=a+b"


def test_connections_are_pooled_and_reused():
    Echo.seen = []
    with serving(Echo) as port:
        origin = f"http://api.test:{port}"
        with Http(NetworkSettings(allow_private=[origin], retries=0), resolve=to_loopback) as http:
            for _ in range(3):
                assert http.request("GET", origin + "/").status_code == 201
    assert len({s["peer"] for s in Echo.seen}) == 1, "one connection for three requests: the body was released"


def test_a_refused_connection_is_an_httpx_connect_error():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    transport = PinnedTransport([f"http://api.test:{port}"], to_loopback)
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://api.test:{port}/")


def test_the_client_timeout_reaches_the_connection():
    done = threading.Event()

    def silent(listener: socket.socket) -> None:
        """Accept, say nothing; hang up after 5 s so a missing timeout fails the test instead of hanging it."""
        connection, _ = listener.accept()
        done.wait(5)
        connection.close()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        threading.Thread(target=silent, args=(listener,), daemon=True).start()
        transport = PinnedTransport([f"http://api.test:{port}"], to_loopback)
        try:
            with httpx.Client(transport=transport, timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
                client.get(f"http://api.test:{port}/")
        finally:
            done.set()


def test_the_ssrf_check_inside_the_transport_is_not_turned_into_an_httpx_error():
    transport = PinnedTransport([], to_loopback)
    with httpx.Client(transport=transport) as client, pytest.raises(_Rebound, match="127.0.0.1, a loopback"):
        client.get("http://rebind.example/")


@pytest.mark.parametrize(("core", "ours"), _HTTPX_ERRORS, ids=lambda e: e.__name__)
def test_each_httpcore_error_becomes_the_httpx_error_of_the_same_name(core, ours):
    assert core.__name__ == ours.__name__
    with pytest.raises(ours) as caught, _as_httpx_errors():
        raise core("boom")
    assert type(caught.value) is ours and str(caught.value) == "boom"
    assert isinstance(caught.value.__cause__, core)


def test_other_errors_pass_unchanged():
    with pytest.raises(KeyError), _as_httpx_errors():
        raise KeyError("x")


# TLS: the certificate is checked against the URL's host name although the TCP connection goes to the pinned address.

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for photos.test: (PEM text, directory holding cert.pem and key.pem)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "photos.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("photos.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (folder / "cert.pem").write_text(pem)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return pem, str(folder)


@pytest.fixture
def tls_port(certificate) -> Iterator[int]:
    _, folder = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{folder}/cert.pem", f"{folder}/key.pem")
    Echo.seen = []
    with serving(Echo, wrap=context) as port:
        yield port


def test_tls_to_the_pinned_address_checks_the_certificate_for_the_url_host(certificate, tls_port):
    trusting = ssl.create_default_context(cadata=certificate[0])
    origins = [f"https://photos.test:{tls_port}", f"https://other.test:{tls_port}"]
    with httpx.Client(transport=PinnedTransport(origins, to_loopback, ssl_context=trusting)) as client:
        assert client.get(origins[0] + "/").status_code == 201
        with pytest.raises(httpx.ConnectError, match="(?i)hostname|doesn't match|not valid for"):
            client.get(origins[1] + "/")
    assert [s["headers"]["Host"] for s in Echo.seen] == [f"photos.test:{tls_port}"]


def test_certificates_are_verified_by_default(tls_port):
    origin = f"https://photos.test:{tls_port}"
    with httpx.Client(transport=PinnedTransport([origin], to_loopback)) as client, \
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(origin + "/")
    assert Echo.seen == []

