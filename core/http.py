"""One HTTP client policy for every platform: timeouts, deadlines, retries, rate limits, size limits."""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import math
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, UTC
from typing import Any, NamedTuple

import httpx

from core.redact import shown_url
from core.settings import NetworkSettings
from core.ssrf import (BlockedAddress, Deadline, HttpError, _parse, _Rebound, check_url, is_public_ip,
                       origin_of, pinned_transport)

__all__ = ["BlockedAddress", "Http", "HttpError", "JsonAnswer", "RateLimited", "TooLarge", "check_url",
           "is_public_ip", "origin_of", "pinned_transport"]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_BACKOFF = 60.0
_REDIRECTS = {301, 302, 303, 307, 308}
# Headers that must not follow a redirect to another origin (httpx and browsers do the same).
_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie")
# Only encodings we decode a bounded step at a time (with zlib): zstd and br are refused, since a few kilobytes of
# them expand into gigabytes and httpx would decode each network read in one call.
ACCEPT_ENCODING = "gzip, deflate"
_DECODABLE = {"gzip", "x-gzip", "deflate"}
# Decoded bytes one decompression step may yield: a bomb is stopped at most this far past the limit.
DECODE_STEP = 64 * 1024


class TooLarge(HttpError):
    """A response body was larger than the byte limit."""


class RateLimited(HttpError):
    """The server asked us to wait longer than network.max_wait."""


class TooSlow(HttpError):
    """A response did not finish within network.request_deadline."""


class JsonAnswer(NamedTuple):
    """A response and its parsed JSON body (None when a non-2xx body is not JSON)."""

    response: httpx.Response
    data: Any


class _Malformed(Exception):
    """A 2xx GET body that does not parse: treated like a 5xx (truncated by a proxy, a restarting server)."""


def _backoff(failures: int) -> float:
    """Seconds to wait after the n-th consecutive failure: 1, 2, 4, ... capped at a minute."""
    return min(MAX_BACKOFF, 2.0 ** (failures - 1))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _when(value: str, now: float, *, epoch_allowed: bool) -> float | None:
    """Parse a reset header into a unix time: delta seconds, unix seconds, ISO-8601 or HTTP-date."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        # Unix timestamps are past 2001; a smaller number can only be a delay in seconds.
        return _finite(number if epoch_allowed and number > 1e9 else now + max(number, 0.0))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _reset_at(headers: httpx.Headers, now: float) -> float | None:
    """When a rate-limit window resets, from X-RateLimit-Reset (Mastodon: ISO-8601) or RateLimit-Reset."""
    for name in ("x-ratelimit-reset", "x-rate-limit-reset"):  # X spells it x-rate-limit-reset (unix seconds)
        if name in headers:
            return _when(headers[name], now, epoch_allowed=True)
    if "ratelimit-reset" in headers:
        # The IETF draft says delta-seconds; Bluesky sends a unix time. A number past 1e9 can only be the latter.
        return _when(headers["ratelimit-reset"], now, epoch_allowed=True)
    return None


def _retry_at(headers: httpx.Headers, now: float) -> float | None:
    """When a 429 may be retried: Retry-After (seconds or HTTP-date), else the rate-limit reset."""
    if "retry-after" in headers:
        at = _when(headers["retry-after"], now, epoch_allowed=False)
        if at is not None:
            return at
    return _reset_at(headers, now)


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S UTC")


def _failure_reason(exc: httpx.TransportError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    return str(exc) or type(exc).__name__


def _parsed(response: httpx.Response, method: str, url: str) -> Any:
    """The JSON body; _Malformed for a 2xx GET that does not parse, HttpError for other 2xx, None for non-2xx."""
    if not response.content.strip() and (method != "GET" or response.status_code == 204):
        return None  # No Content, or an action that answers with nothing
    try:
        return jsonlib.loads(response.content)
    except RecursionError:  # a hostile body nested 100,000 deep: not transient, and not worth a retry
        if not response.is_success:
            return None
        raise HttpError(f"{shown_url(url)} answered with JSON nested too deeply to read; the server is broken or "
                        f"hostile: tell its admin, or remove the channel", url=url, status=response.status_code) from None
    except ValueError as exc:  # includes UnicodeDecodeError
        if not response.is_success:
            return None
        if method == "GET":
            raise _Malformed(f"something that is not JSON ({type(exc).__name__})") from None
        raise HttpError(f"{shown_url(url)} answered {method} with something that is not JSON; is this the right "
                        f"address?", url=url, status=response.status_code) from None


def _error_field(body: Any) -> str | None:
    """The "error" field of a JSON error body (Mastodon, Pixelfed), shortened to one line."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return " ".join(str(error).split())[:200] if error else None


def _follows(response: httpx.Response) -> bool:
    return response.status_code in _REDIRECTS and "location" in response.headers


def _retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _inflated(pieces: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """gzip or deflate pieces decompressed lazily, at most DECODE_STEP bytes a step, so a bomb stops early."""
    gzip = encoding in ("gzip", "x-gzip")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
    first = not gzip
    try:
        for data in pieces:
            while data and not inflater.eof:  # after the end, anything left is trailing junk, ignored as httpx does
                try:
                    out = inflater.decompress(data, DECODE_STEP)
                except zlib.error:
                    if not first:
                        raise
                    # Some servers send "deflate" without its zlib wrapper (RFC 9110 8.4.1.2); httpx accepts both.
                    inflater, first = zlib.decompressobj(-zlib.MAX_WBITS), False
                    continue
                first = False
                data = inflater.unconsumed_tail
                if out:
                    yield out
        yield inflater.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(f"{encoding}: {exc}") from None


def _codings(encoding: str) -> list[str]:
    """The content codings a Content-Encoding header lists, in the order applied, identity left out."""
    return [name for name in (e.strip() for e in encoding.lower().split(",")) if name not in ("", "identity")]


def _decoded(raw: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """The body undone through every coding of its Content-Encoding, the last one applied first."""
    pieces = raw
    for name in reversed(_codings(encoding)):
        pieces = _inflated(pieces, name)
    return pieces


def _with_body(response: httpx.Response, body: bytes, encoding: str) -> httpx.Response:
    """A copy of a streamed response that carries its decoded body; .content, .json() and .text read it."""
    headers = response.headers.copy()
    if _codings(encoding):
        # The body is decoded now: an encoding header left in place would make httpx decode it again.
        del headers["content-encoding"]
        headers.pop("content-length", None)  # the compressed size; httpx fills in the decoded one
    answer = httpx.Response(response.status_code, headers=headers, content=body, request=response.request,
                            extensions=response.extensions, default_encoding=response.default_encoding)
    answer.elapsed = response.elapsed
    return answer


class Http:
    """The client every platform module receives; tests swap the transport, sleep, clocks and resolver."""

    def __init__(self, net: NetworkSettings, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 resolve: Callable = socket.getaddrinfo, monotonic: Callable[[], float] = time.monotonic):
        self.net = net
        self._sleep = sleep
        self._clock = clock
        self._resolve = resolve
        self._deadline = Deadline(monotonic)
        self._client = httpx.Client(timeout=net.timeout, follow_redirects=False,
                                    headers={"User-Agent": net.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
                                    transport=transport or pinned_transport(net.allow_private, resolve,
                                                                            deadline=self._deadline))
        self._lock = threading.Lock()
        self._blocked_until: dict[str, float] = {}

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def request(self, method: str, url: str, *, params=None, headers=None, json=None, data=None,
                files=None, content: bytes | None = None, retry: bool = True,
                max_bytes: int | None = None) -> httpx.Response:
        """Send a request under the policy; return the final response (2xx, 3xx without Location, 4xx).

        The body is read in full, up to max_bytes (default network.max_api_bytes) after decompression.
        """
        return self._send(method, url, params=params, headers=headers, body={"json": json, "data": data,
                          "files": files, "content": content}, retry=retry, max_bytes=max_bytes, parse=False).response

    def request_json(self, method: str, url: str, *, params=None, headers=None, json=None, data=None,
                     files=None, content: bytes | None = None, retry: bool = True,
                     max_bytes: int | None = None) -> JsonAnswer:
        """Like request, and parse the body as JSON: what platform clients call for API endpoints.

        A 2xx GET whose body does not parse (truncated, cut by a proxy) is retried like a 5xx within the
        same budget; other 2xx bodies that do not parse raise HttpError; non-2xx bodies parse if they can.
        """
        return self._send(method, url, params=params, headers=headers, body={"json": json, "data": data,
                          "files": files, "content": content}, retry=retry, max_bytes=max_bytes, parse=True)

    def get_json(self, url: str, *, params=None, headers=None) -> Any:
        """GET a JSON document; raise HttpError on a non-2xx status or a body that is not JSON."""
        response, body = self.request_json("GET", url, params=params, headers=headers)
        if not response.is_success:
            error = _error_field(body)
            raise HttpError(f"{shown_url(url)} answered {response.status_code} {response.reason_phrase}"
                            + (f": {error}" if error else ""), url=url, status=response.status_code)
        return body

    def download(self, url: str, *, max_bytes: int | None = None, headers=None) -> bytes:
        """GET a body of at most max_bytes (default network.max_media_bytes), streamed; raise TooLarge past it."""
        limit = self.net.max_media_bytes if max_bytes is None else max_bytes
        response = self.request("GET", url, headers=headers, max_bytes=limit)
        if not response.is_success:
            raise HttpError(f"{shown_url(url)} answered {response.status_code} {response.reason_phrase}",
                            url=url, status=response.status_code)
        return response.content

    def _send(self, method: str, url: str, *, params, headers, body: dict[str, Any], retry: bool,
              max_bytes: int | None, parse: bool) -> JsonAnswer:
        attempts = 1 + (self.net.retries if retry else 0)
        failures = hops = 0
        first = url
        method = method.upper()
        headers = httpx.Headers(headers)
        limit = self.net.max_api_bytes if max_bytes is None else max_bytes
        redirected = False
        try:
            while True:
                check_url(url, self.net.allow_private, self._resolve)
                host = _parse(url).host
                self._wait_for(host, url)
                if not redirected:  # a new attempt; redirect hops share their attempt's deadline
                    self._deadline.start(self.net.request_deadline)
                redirected = False
                try:
                    response = self._attempt(method, url, params, headers, body, limit)
                    parsed = _parsed(response, method, url) if parse and not (_follows(response) or
                                                                             _retryable(response)) else None
                except _Rebound as exc:
                    raise BlockedAddress(f"{exc}; list its origin in network.allow_private if you trust it",
                                         url=url) from None
                except httpx.DecodingError as exc:
                    raise HttpError(f"{shown_url(url)} answered with a body that cannot be decoded ({exc})",
                                    url=url) from exc
                except (httpx.TransportError, _Malformed) as exc:
                    if self._deadline.passed():
                        raise TooSlow(f"{shown_url(url)} did not finish answering within {self.net.request_deadline:g} s; "
                                      f"try again later or raise network.request_deadline", url=url) from None
                    failures += 1
                    reason = str(exc) if isinstance(exc, _Malformed) else _failure_reason(exc, self.net.timeout)
                    if failures >= attempts:
                        if isinstance(exc, _Malformed):
                            raise HttpError(f"{shown_url(url)} answered with {reason} ({failures} attempts); is this the "
                                            f"right address? If so, try again later", url=url) from None
                        where = _parse(url).netloc.decode("ascii", "replace")
                        raise HttpError(f"cannot reach {where}: {reason} ({failures} attempts); check the address "
                                        f"and your connection", url=url) from exc
                    log.debug("%s %s failed (%s); retrying", method, shown_url(url), reason)
                    self._sleep(_backoff(failures))
                    continue
                status = response.status_code
                self._note_limits(host, response)
                if _follows(response):
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        raise HttpError(f"too many redirects from {shown_url(first)} (more than {MAX_REDIRECTS}); "
                                        f"check the URL", url=url, status=status)
                    url, method = self._redirect(response, method, headers, body)
                    params = None  # already part of the first URL; the Location replaces them
                    redirected = True
                    continue
                if _retryable(response):
                    failures += 1
                    waiting = self._pending(host, url, status) if status == 429 else 0.0
                    if failures >= attempts:
                        raise HttpError(f"{shown_url(url)} answered {status} {response.reason_phrase} ({failures} "
                                        f"attempts); try again later", url=url, status=status)
                    log.debug("%s %s answered %s; retrying", method, shown_url(url), status)
                    if waiting <= 0:
                        self._sleep(_backoff(failures))
                    continue
                return JsonAnswer(response, parsed)
        finally:
            self._deadline.clear()

    def _attempt(self, method: str, url: str, params, headers: httpx.Headers, body: dict[str, Any],
                 max_bytes: int) -> httpx.Response:
        """Send once; read the body only if the caller will see it (not for redirects and retries)."""
        request = self._client.build_request(method, url, params=params, headers=headers, **body)
        response = self._client.send(request, stream=True)
        if _follows(response) or _retryable(response):
            response.close()
            return response
        return self._read_bounded(response, max_bytes, url)

    def _read_bounded(self, response: httpx.Response, limit: int, url: str) -> httpx.Response:
        """The response with its body read, stopping once it is over the limit (announced or decoded) or late."""
        hint = {self.net.max_media_bytes: "; raise network.max_media_bytes to accept it",
                self.net.max_api_bytes: "; raise network.max_api_bytes to accept it"}.get(limit, "")
        too_large = TooLarge(f"refused {shown_url(url)}: it is larger than {limit} bytes{hint}",
                             url=url, status=response.status_code)
        try:
            announced = int(response.headers.get("content-length", "0"))
        except ValueError:
            announced = 0
        encoding = response.headers.get("content-encoding", "").lower()
        chunks, size = [], 0
        try:
            if announced > limit:
                raise too_large
            if response.is_stream_consumed:  # built in memory (a test transport), already decoded by httpx
                if len(response.content) > limit:
                    raise too_large
                return response
            if any(coding not in _DECODABLE for coding in _codings(encoding)):
                raise HttpError(f"refused {shown_url(url)}: it is compressed as {encoding[:40]!r}, which wlb did not "
                                f"ask for", url=url, status=response.status_code)
            for chunk in _decoded(self._raw(response), encoding):
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        finally:
            response.close()
        return _with_body(response, b"".join(chunks), encoding)

    def _raw(self, response: httpx.Response) -> Iterator[bytes]:
        """The body as it arrives, abandoned once the request deadline has passed."""
        for read in response.iter_raw():
            yield read
            if self._deadline.passed():
                raise httpx.ReadTimeout("deadline passed", request=response.request)

    def _redirect(self, response: httpx.Response, method: str, headers: httpx.Headers,
                  body: dict[str, Any]) -> tuple[str, str]:
        """Where a redirect leads and with which method; drops the body and cross-origin secrets."""
        try:
            target = response.url.join(response.headers["location"])
        except httpx.InvalidURL:
            raise HttpError(f"{shown_url(response.url)} redirected to an invalid URL", url=str(response.url),
                            status=response.status_code) from None
        status = response.status_code
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method = "GET"
            body.update(json=None, data=None, files=None, content=None)
            for name in ("content-type", "content-length"):
                headers.pop(name, None)
        if origin_of(str(target)) != origin_of(str(response.url)):
            for name in _SECRET_HEADERS:
                headers.pop(name, None)
        return str(target), method

    def _note_limits(self, host: str, response: httpx.Response) -> None:
        """Remember when the host lets us send again: after a 429, or once its budget says 0 remaining."""
        now = self._clock()
        headers = response.headers
        if response.status_code == 429:
            until = _retry_at(headers, now)
        elif "0" in (headers.get("x-ratelimit-remaining", "").strip(), headers.get("x-rate-limit-remaining", "").strip(),
                     headers.get("ratelimit-remaining", "").strip()):
            until = _reset_at(headers, now)
        else:
            return
        if until is not None and until > now:
            with self._lock:
                self._blocked_until[host] = max(until, self._blocked_until.get(host, 0.0))

    def _pending(self, host: str, url: str, status: int | None = None) -> float:
        """Seconds until the host may be contacted; raise RateLimited if that is longer than max_wait."""
        with self._lock:
            until = self._blocked_until.get(host, 0.0)
        wait = until - self._clock()
        if wait > self.net.max_wait:
            raise RateLimited(f"{host}: rate-limited until {_utc(until)}; try again later",
                              url=url, status=status)
        return wait

    def _wait_for(self, host: str, url: str) -> None:
        """Sleep until the host's rate-limit window resets, if we know it is exhausted."""
        wait = self._pending(host, url)
        if wait > 0:
            log.debug("waiting %.0f s for the %s rate limit", wait, host)
            self._sleep(wait)
