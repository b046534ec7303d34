"""One HTTP client policy for every platform: timeouts, retries, rate limits, SSRF guard, size limits."""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime, UTC
from typing import Any

import httpcore
import httpx

from core.errors import PlatformError
from core.settings import NetworkSettings

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 5
MAX_BACKOFF = 60.0
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers that must not follow a redirect to another origin (httpx and browsers do the same).
_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie")

# First match wins, so 255.255.255.255 comes before 240.0.0.0/4. IANA special-purpose registries:
# https://www.iana.org/assignments/iana-ipv4-special-registry and .../iana-ipv6-special-registry
_V4_RANGES = [(ipaddress.ip_network(net), why) for net, why in [
    ("0.0.0.0/8", "a 'this network' address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a reserved address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "a broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
]]
_V6_RANGES = [(ipaddress.ip_network(net), why) for net, why in [
    ("::1/128", "a loopback address"),
    ("64:ff9b:1::/48", "a private address"),
    ("100::/64", "a discard-only address"),
    ("2001::/32", "a Teredo tunnel address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("fc00::/7", "a private address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


class HttpError(PlatformError):
    """An HTTP exchange failed; the message says what to do about it."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class BlockedAddress(HttpError):
    """The SSRF guard refused to contact a URL."""


class TooLarge(HttpError):
    """A response body was larger than the byte limit."""


class RateLimited(HttpError):
    """The server asked us to wait longer than network.max_wait."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address that an IPv4-mapped, NAT64 or 6to4 address reaches, and the form's name."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour:
        return ip.sixtofour, "6to4"
    return None


def _why_not_public(ip: IPAddress) -> str | None:
    """Why an address is not on the public internet ("a loopback address"), or None if it is."""
    if ip.version == 6:
        embedded = _embedded_v4(ip)
        if embedded:
            why = _why_not_public(embedded[0])
            return why and f"{why} ({embedded[1]} form of {embedded[0]})"
    if ip.is_unspecified:
        return "an unspecified address"
    for net, why in _V4_RANGES if ip.version == 4 else _V6_RANGES:
        if ip in net:
            return why
    # The stdlib tables catch what ours leave out (ORCHID, AS112, future IANA reservations).
    if not ip.is_global or ip.is_reserved or (ip.version == 6 and ip not in _GLOBAL_UNICAST):
        return "a reserved address"
    return None


def is_public_ip(ip: IPAddress) -> bool:
    """True if the address is on the public internet, including embedded IPv4 in IPv6 forms."""
    return _why_not_public(ip) is None


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise HttpError(f"{_shown(url)} is not a valid URL ({exc}); check it", url=url) from None


def origin_of(url: str) -> str:
    """Return "scheme://host:port" in lowercase, with the default port filled in and IPv6 in brackets."""
    parsed = _parse(url)
    host = parsed.host.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme)
    return f"{parsed.scheme}://{host}:{port}" if port else f"{parsed.scheme}://{host}"


def _shown(url: str | httpx.URL) -> str:
    """The URL as safe to print: no user info, query or fragment, which may carry tokens."""
    try:
        parsed = httpx.URL(str(url))
        return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{parsed.path}"
    except (httpx.InvalidURL, TypeError, UnicodeDecodeError):
        return str(url).split("?", 1)[0].split("#", 1)[0]


def _addresses(host: str, port: int, resolve: Callable) -> list[IPAddress]:
    """The addresses a host name resolves to; a literal IP resolves to itself without DNS."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = resolve(host, port)
        found = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    except (OSError, UnicodeError, ValueError, IndexError, TypeError):
        found = []
    if not found:
        raise HttpError(f"cannot resolve host {host}; check the address and your DNS")
    return found


def check_url(url: str, allow_private: Collection[str], resolve: Callable = socket.getaddrinfo) -> None:
    """Raise BlockedAddress unless the URL is http(s) and every address of its host is public or allowed."""
    parsed = _parse(url)
    if parsed.scheme not in _DEFAULT_PORTS:
        raise BlockedAddress(f"refused to contact {_shown(url)}: only http and https URLs are allowed", url=url)
    if not parsed.host:
        raise BlockedAddress(f"refused to contact {_shown(url)}: the URL has no host", url=url)
    if origin_of(url) in allow_private:
        return
    # This check names the problem early and for every hop; _PinnedBackend repeats it on the addresses
    # actually connected to, so a DNS answer that changes in between (rebinding) is caught too.
    host = parsed.raw_host.decode("ascii")
    try:
        addresses = _addresses(host, parsed.port or _DEFAULT_PORTS[parsed.scheme], resolve)
    except HttpError as exc:
        exc.url = url
        raise
    for ip in addresses:
        why = _why_not_public(ip)
        if why:
            raise BlockedAddress(f"refused to contact {_shown(url)}: {ip} is {why}; list its origin in "
                                 f"network.allow_private if you trust it", url=url)


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
    if "x-ratelimit-reset" in headers:
        return _when(headers["x-ratelimit-reset"], now, epoch_allowed=True)
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


def _error_field(response: httpx.Response) -> str | None:
    """The "error" field of a JSON error body (Mastodon, Pixelfed), shortened to one line."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return " ".join(str(error).split())[:200] if error else None


def _follows(response: httpx.Response) -> bool:
    return response.status_code in _REDIRECTS and "location" in response.headers


def _retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


class _Rebound(Exception):
    """A host that passed check_url now resolves somewhere it may not: raised from inside the connection."""


class _PinnedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects in one step, so the address checked is the address used (no DNS rebinding)."""

    def __init__(self, allow_private: Collection[str], resolve: Callable):
        self._inner = httpcore.SyncBackend()
        self._allowed = {o.split("://", 1)[1] for o in allow_private}
        self._resolve = resolve

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        addresses = _addresses(host, port, self._resolve)
        if shown.lower() not in self._allowed:
            for ip in addresses:
                why = _why_not_public(ip)
                if why:
                    raise _Rebound(f"refused to connect to {shown}: it now resolves to {ip}, {why}")
        error: Exception | None = None
        for ip in addresses:
            try:
                return self._inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {shown}")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def pinned_transport(allow_private: Collection[str], resolve: Callable = socket.getaddrinfo) -> httpx.HTTPTransport:
    """httpx's own transport, with connections made by _PinnedBackend (TLS still checks the host name)."""
    transport = httpx.HTTPTransport()
    pool = transport._pool  # httpx has no public hook for the network backend; keep its request mapping
    transport._pool = httpcore.ConnectionPool(ssl_context=pool._ssl_context, network_backend=_PinnedBackend(
        allow_private, resolve))
    return transport


class Http:
    """The client every platform module receives; tests swap the transport, sleep, clock and resolver."""

    def __init__(self, net: NetworkSettings, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 resolve: Callable = socket.getaddrinfo):
        self.net = net
        self._sleep = sleep
        self._clock = clock
        self._resolve = resolve
        self._client = httpx.Client(timeout=net.timeout, headers={"User-Agent": net.user_agent},
                                    follow_redirects=False,
                                    transport=transport or pinned_transport(net.allow_private, resolve))
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
        """Send a request under the policy; return the final response (2xx, 3xx without Location, 4xx)."""
        attempts = 1 + (self.net.retries if retry else 0)
        failures = hops = 0
        first = url
        method = method.upper()
        headers = httpx.Headers(headers)
        body: dict[str, Any] = {"json": json, "data": data, "files": files, "content": content}
        while True:
            check_url(url, self.net.allow_private, self._resolve)
            host = _parse(url).host
            self._wait_for(host, url)
            try:
                response = self._attempt(method, url, params, headers, body, max_bytes)
            except _Rebound as exc:
                raise BlockedAddress(f"{exc}; list its origin in network.allow_private if you trust it",
                                     url=url) from None
            except httpx.DecodingError as exc:
                raise HttpError(f"{_shown(url)} answered with a body that cannot be decoded ({exc})",
                                url=url) from exc
            except httpx.TransportError as exc:
                failures += 1
                reason = _failure_reason(exc, self.net.timeout)
                if failures >= attempts:
                    where = _parse(url).netloc.decode("ascii", "replace")
                    raise HttpError(f"cannot reach {where}: {reason} ({failures} attempts); check the address "
                                    f"and your connection", url=url) from exc
                log.debug("%s %s failed (%s); retrying", method, _shown(url), reason)
                self._sleep(_backoff(failures))
                continue
            status = response.status_code
            self._note_limits(host, response)
            if _follows(response):
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise HttpError(f"too many redirects from {_shown(first)} (more than {MAX_REDIRECTS}); "
                                    f"check the URL", url=url, status=status)
                url, method = self._redirect(response, method, headers, body)
                params = None  # already part of the first URL; the Location replaces them
                continue
            if _retryable(response):
                failures += 1
                waiting = self._pending(host, url, status) if status == 429 else 0.0
                if failures >= attempts:
                    raise HttpError(f"{_shown(url)} answered {status} {response.reason_phrase} ({failures} "
                                    f"attempts); try again later", url=url, status=status)
                log.debug("%s %s answered %s; retrying", method, _shown(url), status)
                if waiting <= 0:
                    self._sleep(_backoff(failures))
                continue
            return response

    def get_json(self, url: str, *, params=None, headers=None) -> Any:
        """GET a JSON document; raise HttpError on a non-2xx status or a body that is not JSON."""
        response = self.request("GET", url, params=params, headers=headers)
        if not response.is_success:
            error = _error_field(response)
            raise HttpError(f"{_shown(url)} answered {response.status_code} {response.reason_phrase}"
                            + (f": {error}" if error else ""), url=url, status=response.status_code)
        try:
            return response.json()
        except ValueError:
            raise HttpError(f"{_shown(url)} answered with something that is not JSON; is this the right "
                            f"address?", url=url, status=response.status_code) from None

    def download(self, url: str, *, max_bytes: int | None = None, headers=None) -> bytes:
        """GET a body of at most max_bytes (default network.max_media_bytes), streamed; raise TooLarge past it."""
        limit = self.net.max_media_bytes if max_bytes is None else max_bytes
        response = self.request("GET", url, headers=headers, max_bytes=limit)
        if not response.is_success:
            raise HttpError(f"{_shown(url)} answered {response.status_code} {response.reason_phrase}",
                            url=url, status=response.status_code)
        return response.content

    def _attempt(self, method: str, url: str, params, headers: httpx.Headers, body: dict[str, Any],
                 max_bytes: int | None) -> httpx.Response:
        """Send once; read the body only if the caller will see it (not for redirects and retries)."""
        request = self._client.build_request(method, url, params=params, headers=headers, **body)
        response = self._client.send(request, stream=True)
        if _follows(response) or _retryable(response):
            response.close()
        elif max_bytes is None:
            response.read()
        else:
            self._read_bounded(response, max_bytes, url)
        return response

    def _read_bounded(self, response: httpx.Response, limit: int, url: str) -> None:
        """Read the body, stopping as soon as it is over the limit (announced or actual, after decoding)."""
        hint = "; raise network.max_media_bytes to accept it" if limit == self.net.max_media_bytes else ""
        too_large = TooLarge(f"refused {_shown(url)}: it is larger than {limit} bytes{hint}",
                             url=url, status=response.status_code)
        try:
            announced = int(response.headers.get("content-length", "0"))
        except ValueError:
            announced = 0
        chunks, size = [], 0
        try:
            if announced > limit:
                raise too_large
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        finally:
            response.close()
        # httpx.Response.read() does exactly this assignment; there is no public bounded read.
        response._content = b"".join(chunks)

    def _redirect(self, response: httpx.Response, method: str, headers: httpx.Headers,
                  body: dict[str, Any]) -> tuple[str, str]:
        """Where a redirect leads and with which method; drops the body and cross-origin secrets."""
        try:
            target = response.url.join(response.headers["location"])
        except httpx.InvalidURL:
            raise HttpError(f"{_shown(response.url)} redirected to an invalid URL", url=str(response.url),
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
        elif "0" in (headers.get("x-ratelimit-remaining", "").strip(),
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
