"""The SSRF guard (public http(s) addresses only, checked again by our transport on the address it connects to)
and request deadlines."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import httpcore
import httpx

from core.errors import PlatformError
from core.redact import shown_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}

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
        raise HttpError(f"{shown_url(url)} is not a valid URL ({exc}); check it", url=url) from None


def origin_of(url: str) -> str:
    """Return "scheme://host:port" in lowercase, with the default port filled in and IPv6 in brackets."""
    parsed = _parse(url)
    host = parsed.host.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme)
    return f"{parsed.scheme}://{host}:{port}" if port else f"{parsed.scheme}://{host}"


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
        raise BlockedAddress(f"refused to contact {shown_url(url)}: only http and https URLs are allowed", url=url)
    if not parsed.host:
        raise BlockedAddress(f"refused to contact {shown_url(url)}: the URL has no host", url=url)
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
            raise BlockedAddress(f"refused to contact {shown_url(url)}: {ip} is {why}; list its origin in "
                                 f"network.allow_private if you trust it", url=url)



class _Rebound(Exception):
    """A host that passed check_url now resolves somewhere it may not: raised from inside the connection."""


class Deadline(threading.local):
    """When the request this thread is sending must be over; every socket read and write is held to it."""

    at: float | None = None

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock

    def start(self, seconds: float) -> None:
        self.at = self.clock() + seconds

    def clear(self) -> None:
        self.at = None

    def passed(self) -> bool:
        return self.at is not None and self.clock() >= self.at

    def cap(self, timeout: float | None) -> float | None:
        """The socket timeout to use: the given one, shortened to what is left; raise once nothing is left."""
        if self.at is None:
            return timeout
        left = self.at - self.clock()
        if left <= 0:
            raise httpcore.ReadTimeout("the request deadline passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the deadline: a server dripping a byte a second cannot
    hold a request past it, headers included."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline):
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.cap(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.cap(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, self._deadline.cap(timeout)),
                               self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects in one step, so the address checked is the address used (no DNS rebinding)."""

    def __init__(self, allow_private: Collection[str], resolve: Callable, deadline: Deadline):
        self._inner = httpcore.SyncBackend()
        self._allowed = {o.split("://", 1)[1] for o in allow_private}
        self._resolve = resolve
        self._deadline = deadline

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
                stream = self._inner.connect_tcp(str(ip), port, self._deadline.cap(timeout), local_address,
                                                 socket_options)
                return _DeadlineStream(stream, self._deadline)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {shown}")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's exceptions as httpx raises them, most specific first (as httpx's own HTTPTransport maps them).
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
_HTTPCORE_ERRORS = tuple(core for core, _ in _HTTPX_ERRORS)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """Raise httpcore's errors as the httpx errors callers catch; anything else (_Rebound) passes unchanged."""
    try:
        yield
    except _HTTPCORE_ERRORS as exc:
        mapped = next(ours for core, ours in _HTTPX_ERRORS if isinstance(exc, core))
        raise mapped(str(exc)) from exc


class _Body(httpx.SyncByteStream):
    """An httpcore response body as httpx reads it: raw bytes, then close to release the connection."""

    def __init__(self, answer: httpcore.Response):
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._answer.iter_stream()

    def close(self) -> None:
        with _as_httpx_errors():
            self._answer.close()


# httpx's default pool size (httpx.HTTPTransport uses the same numbers).
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport over our own httpcore pool, whose connections are made by _PinnedBackend.

    TLS still checks the certificate against the host name in the URL; only the TCP address is pinned.
    """

    def __init__(self, allow_private: Collection[str], resolve: Callable = socket.getaddrinfo, *,
                 deadline: Deadline | None = None, ssl_context: ssl.SSLContext | None = None,
                 limits: httpx.Limits = DEFAULT_LIMITS):
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),  # certifi, or SSL_CERT_FILE/DIR, as httpx
            max_connections=limits.max_connections, max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, http1=True, http2=False,
            retries=0,  # Http retries with its own budget and backoff
            network_backend=_PinnedBackend(allow_private, resolve, deadline or Deadline()))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request on a pooled connection; the body is left to stream."""
        url = request.url
        outgoing = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw, content=request.stream,
            extensions=request.extensions)  # the timeouts httpx.Client puts there
        with _as_httpx_errors():
            answer = self._pool.handle_request(outgoing)
        return httpx.Response(answer.status, headers=answer.headers, stream=_Body(answer),
                              extensions=answer.extensions)

    def close(self) -> None:
        """Close every pooled connection."""
        with _as_httpx_errors():
            self._pool.close()


def pinned_transport(allow_private: Collection[str], resolve: Callable = socket.getaddrinfo, *,
                     deadline: Deadline | None = None) -> PinnedTransport:
    """The transport Http uses unless a test passes its own: connections only to the checked addresses."""
    return PinnedTransport(allow_private, resolve, deadline=deadline)
