"""Bounded work per request: malformed JSON retried, body size after decompression, a total deadline."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.http import Http, HttpError, TooLarge, TooSlow
from core.settings import NetworkSettings
from tests.core.test_http import API, Clock, Server, make, ok


def _bomb(size: int) -> bytes:
    """gzip of `size` zero bytes: about 1000 times smaller than what it expands to."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


BOMB = _bomb(64 << 20)  # 64 MB of zeros in about 280 KB of gzip


class Ticks:
    """A monotonic clock that moves one second each time it is read: time passes only as the client looks."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


# A truncated or malformed body on a GET is transient (issue 7): retried like a 5xx, same budget.

def test_a_truncated_json_body_on_a_get_is_retried_like_a_5xx():
    server = Server(httpx.Response(200, content=b'[{"id": "1", "content": "<p>cut'), ok([{"id": "1"}]))
    http, clock = make(server)
    response, data = http.request_json("GET", API, params={"limit": 40})
    assert data == [{"id": "1"}] and response.status_code == 200
    assert len(server.requests) == 2 and clock.sleeps == [1]
    assert all(r.url.params["limit"] == "40" for r in server.requests), "the retry sends the same query"


def test_malformed_json_uses_the_same_retry_budget_as_5xx():
    server = Server(httpx.Response(503), httpx.Response(200, content=b"{"), httpx.Response(502), ok({"a": 1}))
    http, clock = make(server, retries=2)
    with pytest.raises(HttpError, match=r"answered 502 Bad Gateway \(3 attempts\)"):
        http.get_json(API)
    assert len(server.requests) == 3 and clock.sleeps == [1, 2]


def test_a_post_with_a_malformed_answer_is_not_sent_again():
    server = Server(httpx.Response(200, content=b'{"id": '))
    http, clock = make(server)
    with pytest.raises(HttpError, match="answered POST with something that is not JSON"):
        http.request_json("POST", "https://mastodon.example/api/v1/statuses", data={"status": "hi"})
    assert len(server.requests) == 1 and clock.sleeps == []


def test_an_error_status_with_a_non_json_body_is_returned_without_data():
    server = Server(httpx.Response(404, text="<html>not here</html>"))
    http, _ = make(server)
    response, data = http.request_json("GET", API)
    assert (response.status_code, data, len(server.requests)) == (404, None, 1)


def test_json_nested_100000_deep_is_refused_without_retry_or_crash():
    server = Server(httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000))
    http, clock = make(server)
    with pytest.raises(HttpError, match="nested too deeply"):
        http.get_json(API)
    assert len(server.requests) == 1


# Body size: an API answer is bounded by network.max_api_bytes, counted after decompression.

def test_an_api_answer_over_max_api_bytes_is_refused_while_streaming():
    pulled: list[int] = []

    def body():
        for n in itertools.count():
            pulled.append(n)
            yield b"[" + b'"x",' * 2500

    http, _ = make(Server(lambda request: httpx.Response(200, content=body())), max_api_bytes=100_000)
    with pytest.raises(TooLarge, match="larger than 100000 bytes; raise network.max_api_bytes"):
        http.request("GET", API)
    assert len(pulled) <= 11, "reading stopped just past the limit"


def test_an_announced_oversized_answer_is_refused_before_reading():
    def body():
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    http, _ = make(Server(lambda r: httpx.Response(200, headers={"Content-Length": "9000001"}, content=body())))
    with pytest.raises(TooLarge, match="larger than 8000000 bytes"):
        http.get_json(API)


def test_a_gzip_bomb_is_refused_after_a_few_kilobytes_of_it():
    pulled: list[int] = []

    def body():
        for at in range(0, len(BOMB), 1024):
            pulled.append(at)
            yield BOMB[at:at + 1024]

    server = Server(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=body()))
    http, _ = make(server)
    with pytest.raises(TooLarge, match="larger than 8000000 bytes"):
        http.get_json(API)
    assert len(pulled) * 1024 < 64 * 1024, "stopped in the first few kilobytes of a 280 KB bomb"
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_a_small_gzip_answer_is_decoded():
    body = json.dumps([{"id": str(n)} for n in range(500)]).encode()
    server = Server(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip"},
                                             content=iter([gzip.compress(body)])))
    http, _ = make(server)
    assert len(http.get_json(API)) == 500


@pytest.mark.parametrize("encoding", ["zstd", "br", "gzip, zstd"])
def test_encodings_we_did_not_ask_for_are_refused(encoding):
    server = Server(lambda r: httpx.Response(200, headers={"Content-Encoding": encoding}, content=iter([b"xx"])))
    http, _ = make(server)
    with pytest.raises(HttpError, match="which wlb did not ask for"):
        http.request("GET", API)


# A total deadline per request: a server dripping bytes cannot hold it past network.request_deadline.

def test_a_body_streamed_past_the_deadline_is_abandoned_and_not_retried():
    pulled: list[int] = []

    def drip():
        for n in range(1000):
            pulled.append(n)
            yield b" "

    server = Server(lambda r: httpx.Response(200, content=drip()))
    clock = Clock()
    http = Http(NetworkSettings(request_deadline=10), transport=httpx.MockTransport(server), sleep=clock.sleep,
                clock=clock.time, monotonic=Ticks(), resolve=lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))])
    with pytest.raises(TooSlow, match=r"did not finish answering within 10 s.*network.request_deadline"):
        http.get_json(API)
    assert len(pulled) < 12 and len(server.requests) == 1 and clock.sleeps == []


class _Drip(BaseHTTPRequestHandler):
    """Sends its answer one byte at a time, status line and headers included."""

    sent: list[int] = []

    def do_GET(self):
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b" " * 400
        for n, byte in enumerate(answer):
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            type(self).sent.append(n)
            time.sleep(0.001)

    def log_message(self, *args):
        pass


@pytest.fixture
def drip_origin(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    _Drip.sent = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_real_server_dripping_its_headers_is_cut_off_at_the_deadline(drip_origin):
    net = NetworkSettings(allow_private=[drip_origin], timeout=5, request_deadline=20)
    with Http(net, monotonic=Ticks(), sleep=lambda s: None) as http:
        with pytest.raises(TooSlow, match="within 20 s"):
            http.request("GET", drip_origin + "/slow")
    assert len(_Drip.sent) < 60, "cut off while the headers were still arriving"


def test_a_real_gzip_bomb_is_refused_early(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    sent: list[int] = []

    class Bomb(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            for at in range(0, len(BOMB), 16384):
                try:
                    self.wfile.write(BOMB[at:at + 16384])
                except OSError:
                    return
                sent.append(at)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bomb)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with Http(NetworkSettings(allow_private=[origin], timeout=5, max_api_bytes=1_000_000)) as http:
            with pytest.raises(TooLarge, match="larger than 1000000 bytes"):
                http.get_json(origin + "/api")
    finally:
        server.shutdown()
        server.server_close()
