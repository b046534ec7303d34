"""The SSRF guard: which addresses count as public, and what check_url refuses (no network used)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from core.http import BlockedAddress, Http, HttpError, check_url, is_public_ip, origin_of
from core.settings import NetworkSettings


def resolver(*addresses: str, calls: list[str] | None = None):
    """A fake getaddrinfo answering with the given addresses for any host."""
    def resolve(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]
    return resolve


def no_dns(host, port, *args, **kwargs):
    raise AssertionError(f"DNS was queried for {host}")


def unresolvable(host, port, *args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


NOT_PUBLIC = [
    "127.0.0.1", "127.0.0.2", "127.255.255.254",                       # loopback
    "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1",  # private
    "169.254.169.254", "169.254.0.1",                                  # link-local, cloud metadata
    "100.64.0.1", "100.127.255.254",                                   # CGNAT
    "0.0.0.0", "0.1.2.3",                                              # unspecified, this network
    "255.255.255.255", "240.0.0.1",                                    # broadcast, reserved
    "224.0.0.251", "239.255.255.250",                                  # multicast
    "192.0.2.1", "198.51.100.7", "203.0.113.9",                        # documentation
    "198.18.0.1", "192.0.0.8",                                         # benchmarking, IETF
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "ff0e::1",
    "2001:db8::1", "3fff::1", "100::1", "2001::1", "64:ff9b:1::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::c0a8:101",      # NAT64 of loopback, metadata, private
    "2002:7f00:1::", "2002:c0a8:101::1", "2002:a9fe:a9fe::",           # 6to4 of the same
    "::7f00:1",                                                        # deprecated IPv4-compatible
]

PUBLIC = [
    "93.184.215.14", "8.8.8.8", "1.1.1.1",
    "172.32.0.1", "172.15.255.255", "100.128.0.1", "100.63.255.255", "192.169.0.1", "11.0.0.1",
    "2606:4700::1", "2a00:1450:4001:80b::200e",
    "::ffff:93.184.215.14", "64:ff9b::5db8:d70e", "2002:5db8:d70e::1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address):
    assert not is_public_ip(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address):
    assert is_public_ip(ipaddress.ip_address(address))


@pytest.mark.parametrize("url, origin", [
    ("HTTPS://Mastodon.Example/api/v1?x=1", "https://mastodon.example:443"),
    ("http://pixelfed.example", "http://pixelfed.example:80"),
    ("https://pixelfed.example:8443/", "https://pixelfed.example:8443"),
    ("http://[::1]:8080/x", "http://[::1]:8080"),
    ("https://[2606:4700::1]/", "https://[2606:4700::1]:443"),
    ("http://user:pw@127.0.0.1:5000/x", "http://127.0.0.1:5000"),
])
def test_origin_of(url, origin):
    assert origin_of(url) == origin


def test_message_names_url_address_and_remedy():
    with pytest.raises(BlockedAddress) as caught:
        check_url("http://127.0.0.2:8080/x", [], resolve=no_dns)
    assert str(caught.value) == ("refused to contact http://127.0.0.2:8080/x: 127.0.0.2 is a loopback address; "
                                 "list its origin in network.allow_private if you trust it")
    assert caught.value.url == "http://127.0.0.2:8080/x"


def test_literal_ips_are_checked_without_dns():
    check_url("https://93.184.215.14/a.jpg", [], resolve=no_dns)
    check_url("https://[2606:4700::1]/a.jpg", [], resolve=no_dns)
    for url in ("http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(BlockedAddress):
            check_url(url, [], resolve=no_dns)


def test_host_names_are_resolved_and_checked():
    calls: list[str] = []
    check_url("https://Media.Example/a.jpg", [], resolve=resolver("93.184.215.14", "2606:4700::1", calls=calls))
    assert calls == ["media.example"]
    with pytest.raises(BlockedAddress, match="169.254.169.254 is a link-local address"):
        check_url("https://media.example/a.jpg", [], resolve=resolver("169.254.169.254"))


def test_any_private_address_blocks_the_host():
    with pytest.raises(BlockedAddress, match="10.0.0.7 is a private address"):
        check_url("https://media.example/", [], resolve=resolver("93.184.215.14", "10.0.0.7"))
    with pytest.raises(BlockedAddress, match="fd00::7 is a private address"):
        check_url("https://media.example/", [], resolve=resolver("2606:4700::1", "fd00::7"))


def test_embedded_ipv4_is_named():
    with pytest.raises(BlockedAddress, match=r"loopback address \(NAT64 form of 127.0.0.1\)"):
        check_url("https://media.example/", [], resolve=resolver("64:ff9b::7f00:1"))
    with pytest.raises(BlockedAddress, match=r"shared \(carrier-grade NAT\) address"):
        check_url("https://media.example/", [], resolve=resolver("100.100.1.1"))


def test_scope_id_from_getaddrinfo_is_ignored():
    with pytest.raises(BlockedAddress, match="link-local"):
        check_url("https://media.example/", [], resolve=resolver("fe80::1%eth0"))


@pytest.mark.parametrize("url", ["ftp://93.184.215.14/x", "file:///etc/passwd", "gopher://127.0.0.1:70/"])
def test_only_http_and_https(url):
    with pytest.raises(BlockedAddress, match="only http and https"):
        check_url(url, ["gopher://127.0.0.1:70"], resolve=no_dns)


def test_allow_private_is_per_origin():
    check_url("http://127.0.0.1:8080/x", ["http://127.0.0.1:8080"], resolve=no_dns)
    check_url("HTTP://LocalHost:8080/x", ["http://localhost:8080"], resolve=no_dns)
    check_url("http://[::1]:8080/", ["http://[::1]:8080"], resolve=no_dns)
    with pytest.raises(BlockedAddress):
        check_url("http://127.0.0.1:8081/x", ["http://127.0.0.1:8080"], resolve=no_dns)
    with pytest.raises(BlockedAddress):
        check_url("https://127.0.0.1:8080/x", ["http://127.0.0.1:8080"], resolve=no_dns)
    with pytest.raises(BlockedAddress):
        check_url("http://localhost:8080/x", ["http://127.0.0.1:8080"], resolve=resolver("127.0.0.1"))


def test_unresolvable_host_is_an_http_error_not_a_block():
    with pytest.raises(HttpError) as caught:
        check_url("https://nowhere.example/", [], resolve=unresolvable)
    assert not isinstance(caught.value, BlockedAddress)
    assert "cannot resolve host nowhere.example" in str(caught.value)
    with pytest.raises(HttpError, match="cannot resolve host"):
        check_url("https://empty.example/", [], resolve=resolver())


def test_message_hides_query_and_credentials():
    with pytest.raises(BlockedAddress) as caught:
        check_url("http://admin:hunter2@10.0.0.1/x?access_token=s3cret#frag", [], resolve=no_dns)
    message = str(caught.value)
    assert "http://10.0.0.1/x:" in message
    assert "s3cret" not in message and "hunter2" not in message


def test_a_host_that_rebinds_to_loopback_between_check_and_connect_is_refused():
    # DNS rebinding: the first answer (checked) is public, the answer at connect time is loopback.
    answers = iter(["93.184.215.14", "127.0.0.2"])
    asked = []

    def rebinding(host, port, *args):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    http = Http(NetworkSettings(retries=0), resolve=rebinding)
    with pytest.raises(BlockedAddress, match="now resolves to 127.0.0.2"):
        http.request("GET", "http://rebind.example:8080/photo.jpg")
    assert asked == ["rebind.example", "rebind.example"], "checked once by check_url, once when connecting"


def test_the_pinned_connection_goes_to_the_checked_loopback_address_when_allowed():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        local = lambda host, p, *a: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))]  # noqa: E731
        http = Http(NetworkSettings(allow_private=[f"http://photos.test:{port}"], retries=0), resolve=local)
        response = http.request("GET", f"http://photos.test:{port}/")
        assert response.status_code == 200 and response.content == b"hi"
    finally:
        server.shutdown()
        server.server_close()
