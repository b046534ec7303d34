"""Http behaviour against httpx.MockTransport (retries, rate limits, redirects, limits) and one local server."""

from __future__ import annotations

import email.utils
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.http import BlockedAddress, Http, HttpError, RateLimited, TooLarge
from core.settings import NetworkSettings

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
PUBLIC_IP = "93.184.215.14"
API = "https://mastodon.example/api/v1/timelines/tag/welovebrussels"


class Clock:
    """A fake clock whose sleep records the delay and moves time forward."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Server:
    """A MockTransport handler answering from a script and recording every request it receives."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


def dns(table: dict[str, str] | None = None, calls: list[str] | None = None):
    """A fake getaddrinfo: hosts in the table get their address, every other host a public one."""
    def resolve(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        address = (table or {}).get(host, PUBLIC_IP)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
    return resolve


def make(server: Server, clock: Clock | None = None, resolve=None, **net) -> tuple[Http, Clock]:
    clock = clock or Clock()
    http = Http(NetworkSettings(**net), transport=httpx.MockTransport(server), sleep=clock.sleep,
                clock=clock.time, resolve=resolve or dns())
    return http, clock


def ok(body=None, **headers) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True}, headers=headers)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_user_agent_and_json():
    server = Server(ok([{"id": "1"}]))
    http, _ = make(server, user_agent="wlb-test/9")
    assert http.get_json(API, params={"limit": 40}) == [{"id": "1"}]
    assert server.requests[0].headers["user-agent"] == "wlb-test/9"
    assert server.urls == [API + "?limit=40"]


def test_503_is_retried_with_backoff_then_succeeds():
    server = Server(httpx.Response(503), httpx.Response(502), ok({"n": 3}))
    http, clock = make(server, retries=3)
    assert http.get_json(API) == {"n": 3}
    assert len(server.requests) == 3
    assert clock.sleeps == [1, 2]


def test_5xx_exhausted_raises_with_status():
    server = Server(httpx.Response(503))
    http, clock = make(server, retries=2)
    with pytest.raises(HttpError) as caught:
        http.request("GET", API)
    assert caught.value.status == 503 and caught.value.url == API
    assert "503" in str(caught.value) and "mastodon.example/api/v1/timelines/tag/welovebrussels" in str(caught.value)
    assert len(server.requests) == 3
    assert clock.sleeps == [1, 2]


def test_backoff_is_capped_at_a_minute():
    server = Server(httpx.Response(500))
    http, clock = make(server, retries=9)
    with pytest.raises(HttpError):
        http.request("GET", API)
    assert clock.sleeps == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_retry_false_sends_once():
    server = Server(httpx.Response(503))
    http, clock = make(server, retries=3)
    with pytest.raises(HttpError):
        http.request("POST", API, json={"status": "hi"}, retry=False)
    assert len(server.requests) == 1 and clock.sleeps == []


def test_4xx_is_returned_to_the_caller():
    server = Server(httpx.Response(404, json={"error": "Record not found"}))
    http, clock = make(server)
    response = http.request("GET", API)
    assert response.status_code == 404 and response.json() == {"error": "Record not found"}
    assert len(server.requests) == 1 and clock.sleeps == []


def test_get_json_errors_name_url_status_and_error_field():
    server = Server(httpx.Response(401, json={"error": "The access token is invalid"}))
    http, _ = make(server)
    with pytest.raises(HttpError) as caught:
        http.get_json(API + "?access_token=s3cret", headers={"Authorization": "Bearer s3cret"})
    message = str(caught.value)
    assert message.startswith("https://mastodon.example/api/v1/timelines/tag/welovebrussels answered 401")
    assert "The access token is invalid" in message and "s3cret" not in message
    assert caught.value.status == 401


def test_get_json_rejects_html_after_the_retry_budget():
    server = Server(httpx.Response(200, text="<html>maintenance</html>"))
    http, clock = make(server)
    with pytest.raises(HttpError, match=r"answered with something that is not JSON \(JSONDecodeError\) \(4 attempts\)"):
        http.get_json(API)
    assert len(server.requests) == 4 and clock.sleeps == [1, 2, 4]


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7),
    ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30),
    ({"X-RateLimit-Reset": iso(NOW + 45)}, 45),
    ({"X-RateLimit-Reset": str(int(NOW + 12))}, 12),
    ({"RateLimit-Reset": "9"}, 9),
    ({"x-rate-limit-reset": str(int(NOW + 33)), "x-rate-limit-remaining": "0"}, 33),  # X's spelling, no Retry-After
    ({}, 1),
])
def test_429_waits_as_told_then_retries(headers, expected):
    server = Server(httpx.Response(429, headers=headers), ok())
    http, clock = make(server)
    assert http.get_json(API) == {"ok": True}
    assert clock.sleeps == [pytest.approx(expected)]
    assert len(server.requests) == 2


def test_429_longer_than_max_wait_raises_without_sleeping():
    server = Server(httpx.Response(429, headers={"Retry-After": "3600"}), ok())
    http, clock = make(server, max_wait=300)
    with pytest.raises(RateLimited) as caught:
        http.get_json(API)
    assert "rate-limited until 23:13:20 UTC; try again later" in str(caught.value)
    assert caught.value.status == 429
    assert clock.sleeps == [] and len(server.requests) == 1


def test_429_exhausted_raises_http_error():
    server = Server(httpx.Response(429, headers={"Retry-After": "5"}))
    http, clock = make(server, retries=1)
    with pytest.raises(HttpError) as caught:
        http.request("GET", API)
    assert caught.value.status == 429 and clock.sleeps == [5]


def test_exhausted_budget_delays_the_next_request_to_that_host():
    sleeps_seen: list[int] = []
    clock = Clock()

    def later(request):
        sleeps_seen.append(len(clock.sleeps))
        return ok()

    server = Server(ok(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": iso(NOW + 20)}), later, later)
    http, _ = make(server, clock)
    http.get_json(API)
    assert clock.sleeps == []
    http.get_json("https://other.example/api")
    assert clock.sleeps == []
    http.get_json(API)
    assert clock.sleeps == [pytest.approx(20)]
    assert sleeps_seen == [0, 1]  # the sleep happened before the request was sent


def test_exhausted_budget_past_max_wait_raises():
    server = Server(ok(**{"RateLimit-Remaining": "0", "RateLimit-Reset": "1000"}), ok())
    http, clock = make(server, max_wait=300)
    http.get_json(API)
    with pytest.raises(RateLimited, match="mastodon.example: rate-limited until 22:30:00 UTC; try again later"):
        http.get_json(API)
    assert len(server.requests) == 1 and clock.sleeps == []


def test_remaining_budget_does_not_delay():
    server = Server(ok(**{"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": iso(NOW + 200)}))
    http, clock = make(server)
    http.get_json(API)
    http.get_json(API)
    assert clock.sleeps == []


def test_redirect_to_private_address_is_refused_before_sending():
    server = Server(httpx.Response(302, headers={"Location": "http://127.0.0.1:8080/admin"}), ok())
    http, _ = make(server)
    with pytest.raises(BlockedAddress, match="127.0.0.1 is a loopback address"):
        http.download("https://media.example/a.jpg")
    assert server.urls == ["https://media.example/a.jpg"]


def test_redirect_to_name_resolving_private_is_refused():
    server = Server(httpx.Response(301, headers={"Location": "https://internal.example/meta"}), ok())
    http, _ = make(server, resolve=dns({"internal.example": "169.254.169.254"}))
    with pytest.raises(BlockedAddress, match="169.254.169.254 is a link-local address"):
        http.download("https://media.example/a.jpg")
    assert len(server.requests) == 1


def test_redirect_chain_is_checked_at_every_hop():
    checked: list[str] = []
    server = Server(httpx.Response(301, headers={"Location": "https://b.example/x"}),
                    httpx.Response(307, headers={"Location": "/y?z=1"}),
                    httpx.Response(200, content=b"image"))
    http, _ = make(server, resolve=dns(calls=checked))
    assert http.download("https://a.example/start") == b"image"
    assert server.urls == ["https://a.example/start", "https://b.example/x", "https://b.example/y?z=1"]
    assert checked == ["a.example", "b.example", "b.example"]


def test_too_many_redirects():
    server = Server(lambda request: httpx.Response(302, headers={"Location": f"{request.url}x"}))
    http, _ = make(server)
    with pytest.raises(HttpError, match="too many redirects"):
        http.request("GET", "https://a.example/")
    assert len(server.requests) == 6


def test_303_turns_post_into_get_and_307_keeps_it():
    server = Server(httpx.Response(303, headers={"Location": "/done"}), ok())
    http, _ = make(server)
    http.request("POST", API, json={"status": "hello"})
    second = server.requests[1]
    assert (second.method, second.content, "content-type" in second.headers) == ("GET", b"", False)

    server = Server(httpx.Response(307, headers={"Location": "/again"}), ok())
    http, _ = make(server)
    http.request("POST", API, json={"status": "hello"})
    second = server.requests[1]
    assert second.method == "POST" and json.loads(second.content) == {"status": "hello"}


def test_authorization_does_not_follow_to_another_origin():
    server = Server(httpx.Response(302, headers={"Location": "/same"}),
                    httpx.Response(302, headers={"Location": "https://cdn.example/a.jpg"}),
                    httpx.Response(200, content=b"x"))
    http, _ = make(server)
    http.download("https://mastodon.example/media/1", headers={"Authorization": "Bearer s3cret"})
    assert [r.headers.get("authorization") for r in server.requests] == ["Bearer s3cret", "Bearer s3cret", None]


def test_download_refuses_announced_size_without_reading():
    pulled: list[bytes] = []

    def body():
        for _ in range(10):
            pulled.append(b"x" * 100)
            yield b"x" * 100

    server = Server(httpx.Response(200, headers={"Content-Length": "1000"}, content=body()))
    http, _ = make(server)
    with pytest.raises(TooLarge, match="larger than 500 bytes"):
        http.download("https://media.example/a.jpg", max_bytes=500)
    assert pulled == []


def test_download_stops_streaming_past_the_limit():
    pulled: list[bytes] = []

    def body():
        for _ in range(10):
            pulled.append(b"x" * 100)
            yield b"x" * 100

    server = Server(httpx.Response(200, content=body()))
    http, _ = make(server, max_media_bytes=250)
    with pytest.raises(TooLarge, match="network.max_media_bytes"):
        http.download("https://media.example/a.jpg")
    assert len(pulled) == 3


def test_download_at_the_limit_and_errors():
    http, _ = make(Server(httpx.Response(200, content=b"x" * 250)), max_media_bytes=250)
    assert http.download("https://media.example/a.jpg") == b"x" * 250
    http, _ = make(Server(httpx.Response(410)))
    with pytest.raises(HttpError) as caught:
        http.download("https://media.example/gone.jpg")
    assert caught.value.status == 410


def test_request_max_bytes_bounds_the_body():
    http, _ = make(Server(httpx.Response(200, content=b"y" * 50)))
    assert http.request("GET", API, max_bytes=50).content == b"y" * 50
    with pytest.raises(TooLarge):
        http.request("GET", API, max_bytes=49)


def test_timeouts_are_retried_then_reported():
    server = Server(httpx.ReadTimeout("timed out"))
    http, clock = make(server, retries=2, timeout=5)
    with pytest.raises(HttpError) as caught:
        http.get_json(API)
    assert str(caught.value).startswith("cannot reach mastodon.example: no answer within 5 s (3 attempts)")
    assert len(server.requests) == 3 and clock.sleeps == [1, 2]


def test_connect_error_then_success():
    server = Server(httpx.ConnectError("connection refused"), ok())
    http, clock = make(server)
    assert http.get_json(API) == {"ok": True}
    assert clock.sleeps == [1]


def test_allow_private_origin_permits_loopback_port():
    server = Server(ok())
    http, _ = make(server, allow_private=["http://127.0.0.1:8765"])
    assert http.get_json("http://127.0.0.1:8765/api") == {"ok": True}
    with pytest.raises(BlockedAddress):
        http.get_json("http://127.0.0.1:8766/api")
    assert server.urls == ["http://127.0.0.1:8765/api"]


def test_concurrent_downloads():
    server = Server(lambda request: httpx.Response(200, content=request.url.path.encode()))
    http, _ = make(server)
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(http.download, [f"https://media.example/{i}" for i in range(40)]))
    assert bodies == [f"/{i}".encode() for i in range(40)]


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


@pytest.fixture
def local_origin(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_real_local_server(local_origin):
    with Http(NetworkSettings(allow_private=[local_origin], timeout=5)) as client:
        assert client.download(local_origin + "/x") == b"hello"
    with Http(NetworkSettings(timeout=5)) as client:
        with pytest.raises(BlockedAddress, match="127.0.0.1 is a loopback address"):
            client.download(local_origin + "/x")
