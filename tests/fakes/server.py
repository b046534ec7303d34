"""Plumbing every fake platform shares: a real HTTP server on 127.0.0.1 that records what it receives."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    json: Any | None = None


class Reply(NamedTuple):
    status: int
    body: Any  # JSON-able, or bytes served as-is
    headers: dict[str, str] = {}
    content_type: str = "application/json; charset=utf-8"


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, list[str]], dict[str, tuple[str, str, bytes]]]:
    """Split a multipart/form-data body into text fields and files (the `cgi` module is gone)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    form: dict[str, list[str]] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    if not found:
        return form, files
    for part in (b"\r\n" + body).split(b"\r\n--" + found.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        params = dict(re.findall(r'(\w+)="([^"]*)"', headers.get("content-disposition", "")))
        if "filename" in params:
            files[params["name"]] = (params["filename"], headers.get("content-type", "application/octet-stream"), data)
        elif "name" in params:
            form.setdefault(params["name"], []).append(data.decode("utf-8", "replace"))
    return form, files


def _read_body(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() != "chunked":
        return handler.rfile.read(int(headers.get("content-length") or 0))
    body = b""
    while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
        body += handler.rfile.read(size)
        handler.rfile.readline()
    handler.rfile.readline()
    return body


def record(handler: BaseHTTPRequestHandler) -> Recorded:
    """The request as tests want to assert on it: path, query, headers, and the decoded body."""
    headers = {k.lower(): v for k, v in handler.headers.items()}
    body = _read_body(handler, headers)
    split = urlsplit(handler.path)
    request = Recorded(handler.command, unquote(split.path), parse_qs(split.query, keep_blank_values=True), headers, body)
    kind = headers.get("content-type", "")
    if kind.startswith("application/x-www-form-urlencoded"):
        request.form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    elif kind.startswith("multipart/form-data"):
        request.form, request.files = parse_multipart(body, kind)
    elif kind.startswith("application/json") and body:
        try:
            request.json = json.loads(body)
        except ValueError:
            pass
    return request


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and httpx pools expect
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    def _serve(self) -> None:
        self.server.fake.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer


class FakeServer:
    """Base for fake platforms: subclasses implement `dispatch` (and may add headers with `headers_for`)."""

    def __init__(self, *, latency: float = 0.0):
        self.latency = latency
        self.requests: list[Recorded] = []
        self._lock = threading.RLock()
        self._faults: list[list] = []  # [remaining, status, path prefix, headers]
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None
        self.base_url = self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self):
        """Serve in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=type(self).__name__,
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, n: int, status: int = 503, *, path_prefix: str = "/") -> None:
        """Answer the next n requests under path_prefix with this error status."""
        with self._lock:
            self._faults.append([n, status, path_prefix, {}])

    def rate_limit_next(self, n: int = 1, *, retry_after: str | None = "2", reset: str | None = None) -> None:
        """Answer the next n requests with 429 and these Retry-After / X-RateLimit-Reset headers."""
        hints = {"Retry-After": retry_after, "X-RateLimit-Reset": reset}
        headers = {"X-RateLimit-Remaining": "0"} | {k: v for k, v in hints.items() if v is not None}
        with self._lock:
            self._faults.append([n, 429, "/", headers])

    def dispatch(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def headers_for(self, request: Recorded, reply: Reply) -> dict[str, str]:
        """Extra headers on every answer (rate-limit budgets, say)."""
        return {}

    def _fault(self, path: str) -> Reply | None:
        for fault in self._faults:
            remaining, status, prefix, headers = fault
            if remaining > 0 and path.startswith(prefix):
                fault[0] -= 1
                message = "Too many requests" if status == 429 else "Injected failure"
                return Reply(status, {"error": message}, headers)
        return None

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Record the request, answer it, and write the reply."""
        if self.latency:
            time.sleep(self.latency)
        request = record(handler)
        with self._lock:
            self.requests.append(request)
            try:
                reply = self._fault(request.path) or self.dispatch(request)
            except Exception as exc:  # a bug in the fake must surface as a clear answer, not a hang-up
                reply = Reply(500, {"error": f"fake server bug: {exc!r}"})
            headers = self.headers_for(request, reply) | reply.headers
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
