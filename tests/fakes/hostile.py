"""A hostile Mastodon-API-shaped instance on 127.0.0.1: what anyone who runs a fediverse server can send.

Statuses are seeded with helpers (each well-formed except for what it attacks):
  add_status         a plain status with one photo (a control for the attacks)
  add_terminal_attack  control/escape sequences, bidi overrides and rich markup in every text field
                     (display_name, acct, content, spoiler_text, media description, url), around readable
                     emoji, Arabic, Hebrew and combining marks
  add_forged         an account and post uri on another domain (acct alice@real.example with that domain's
                     uri), a url on a phishing host, dated 2001
  add_wrong_types    one status per wrong JSON type: content list, meta list, description object, uri object

`mode` (switchable between requests) says how API answers (tag timeline, status lookup) are sent:
  normal     as JSON, like FakeMastodon
  deep       a body of `depth` (100,000) nested arrays: "[[[…]]]"
  huge       a valid timeline of one status whose content pads the body to `huge_bytes`, streamed; with
             declare_length=False there is no Content-Length and the body ends when the connection closes
  gzip_bomb  Content-Encoding: gzip, about 1 MB on the wire for 1 GiB (`bomb_bytes`) of JSON: "[   …   ]"
  drip       the normal body, one byte per `drip_interval` seconds (`sleep` is injectable for tests)
  endless    every timeline request answers a full page of brand-new statuses, each newer than any
             served before, with Link rel="next"/"prev" (what a collector following min_id never escapes)

Shapes: mastodon/documentation content/en/entities/{Status,Account,MediaAttachment}.md and
content/en/methods/timelines.md at commit 2903485da54a20f1da5e7dfb8b34712e6196e8f7.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import re
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlencode

from tests.fakes import images
from tests.fakes.server import FakeServer, Recorded, Reply, record

MODES = ("normal", "deep", "huge", "gzip_bomb", "drip", "endless")
_STREAMED = ("deep", "huge", "gzip_bomb", "drip")
_FIRST_ID = 114_000_000_000_000_000
_CHUNK = 1 << 20

# What a reader must still see after sanitizing: a family emoji (ZWJ sequence), a heart with VS16, a
# flag, Arabic and Hebrew (right to left), and e + U+0301 COMBINING ACUTE ACCENT.
READABLE = ("👩\u200d👩\u200d👧", "❤\ufe0f", "🇧🇪", "مرحبا بروكسل", "שלום", "cafe\u0301")
# Rich markup that must print as these very characters, never as a link or a style.
MARKUP = ("[link=https://evil.example/]click[/link]", "x[/bold]", "[bold red]ADMIN[/bold red]", ":skull:")
OSC8 = "\x1b]8;;https://evil.example/phish\x1b\\"  # a hyperlink
ATTACKS = {  # what each field carries; ESC, C1 and bidi controls in every one
    "display_name": f"\x1b]0;pwned title\x07Mallory \x1b[2J\x1b[H{MARKUP[2]}{MARKUP[1]} \u202egnp.exe\u202c 🇧🇪 שלום",
    "acct": f"mallory{MARKUP[1]}\x1b[8m\x9b31m\u2066",
    "content": (f"{READABLE[3]} {READABLE[0]} {READABLE[1]} {READABLE[2]} {READABLE[4]} {READABLE[5]} "
                f"\x1b]52;c;cm0gLXJmIH4K\x07{OSC8}{MARKUP[0]}\x1b]8;;\x1b\\ \x9b2J\x1bc\x90qpayload\x9c"
                f" {MARKUP[3]} \u202eevil\u202c\x7f\x08\x0d"),
    "spoiler_text": f"\x1b[5m{MARKUP[2]}\x1b[0m \x9d0;cw title\x07 {READABLE[3]}",
    "description": f"\x1b]52;c;ZXZpbA==\x07alt {MARKUP[0]} \x9b6n{READABLE[0]}",
    "url": f"?q=\x1b]8;;https://evil.example/\x1b\\{MARKUP[0]}\x9b2J",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _deflated(data: bytes, mode: int) -> bytes:
    """Raw deflate of `data` from a clean state, ending byte-aligned (full flush) or final (finish)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(mode)


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """A gzip stream that decompresses to `size` bytes of JSON: "[", spaces, "]" (an empty list).

    Full flushes reset deflate's state, so every 1 MiB of spaces compresses to the same ~1 KB: they are
    compressed once and repeated (RFC 1951 blocks concatenate; RFC 1952 header, CRC-32 and size around).
    """
    if size < 2:
        raise ValueError("a gzip bomb needs at least 2 bytes of JSON")
    whole, rest = divmod(size - 2, _CHUNK)
    spaces, crc = b" " * _CHUNK, zlib.crc32(b"[")
    for _ in range(whole):
        crc = zlib.crc32(spaces, crc)
    crc = zlib.crc32(b"]", zlib.crc32(spaces[:rest], crc))
    body = [_deflated(b"[", zlib.Z_FULL_FLUSH), _deflated(spaces, zlib.Z_FULL_FLUSH) * whole,
            _deflated(spaces[:rest], zlib.Z_FULL_FLUSH), _deflated(b"]", zlib.Z_FINISH)]
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, no mtime, best compression
    return header + b"".join(body) + struct.pack("<II", crc, size & 0xFFFFFFFF)


@functools.lru_cache(maxsize=1)
def _one_photo() -> bytes:
    return images.jpeg(1)


class HostileMastodon(FakeServer):
    """A Mastodon-compatible instance run by an attacker, on a free local port."""

    def __init__(self, *, domain: str = "hostile.example", mode: str = "normal", depth: int = 100_000,
                 huge_bytes: int = 400 << 20, declare_length: bool = True, bomb_bytes: int = 1 << 30,
                 drip_interval: float = 1.0, sleep: Callable[[float], None] = time.sleep):
        super().__init__()
        self.domain, self.depth, self.huge_bytes, self.declare_length = domain, depth, huge_bytes, declare_length
        self.bomb_bytes, self.drip_interval, self.sleep = bomb_bytes, drip_interval, sleep
        self.mode = mode
        self.statuses: list[dict] = []  # ascending id order
        self.dripped: list[bytes] = []  # each write in drip mode, for smoke tests
        self._files: dict[str, bytes] = {}
        self._accounts: dict[tuple[str, str], str] = {}  # (acct, home) -> account id
        self._ids = itertools.count(_FIRST_ID, 65537)
        self._seeds = itertools.count(9000)
        self._server.handle_error = self._handle_error  # type: ignore[method-assign]

    def _handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up on a hostile answer is the point; anything else is reported as socketserver does."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            ThreadingHTTPServer.handle_error(self._server, request, client_address)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {value!r}")
        self._mode = value

    # ---- statuses ------------------------------------------------------------------------------

    def add_status(self, *, username: str = "mallory", display_name: str = "Mallory", acct: str | None = None,
                   home: str | None = None, text: str = "Grand-Place", spoiler_text: str = "", alt: str | None = None,
                   url: str | None = None, uri: str | None = None, created_at: datetime | None = None,
                   image: bytes | None = None) -> dict:
        """Store a status with one photo; `home` is the domain the account and post claim to live on."""
        with self._lock:
            sid = str(next(self._ids))
            home = home or self.domain
            acct = acct if acct is not None else username
            account = {"id": self._accounts.setdefault((acct, home), str(200 + len(self._accounts))), "username": username,
                       "acct": acct, "display_name": display_name,
                       "locked": False, "bot": False, "group": False, "discoverable": True, "note": "",
                       "created_at": "2024-01-01T00:00:00.000Z", "url": f"https://{home}/@{username}",
                       "uri": f"https://{home}/users/{username}", "avatar": f"https://{home}/avatars/original/missing.png",
                       "avatar_static": f"https://{home}/avatars/original/missing.png", "header": "", "header_static": "",
                       "followers_count": 0, "following_count": 0, "statuses_count": 1, "emojis": [], "fields": []}
            media_url = self._serve_image(sid, image or images.jpeg(next(self._seeds)))
            status = {
                "id": sid, "uri": uri or f"https://{home}/users/{username}/statuses/{sid}",
                "url": url or f"https://{home}/@{username}/{sid}", "created_at": _iso(created_at or datetime.now(UTC)),
                "edited_at": None, "account": account, "visibility": "public", "sensitive": bool(spoiler_text),
                "spoiler_text": spoiler_text, "language": "en", "in_reply_to_id": None, "in_reply_to_account_id": None,
                "reblog": None, "mentions": [], "emojis": [], "card": None, "poll": None, "reblogs_count": 0,
                "favourites_count": 0, "replies_count": 0,
                "content": f'<p>{html.escape(text)} <a href="https://{self.domain}/tags/welovebrussels" '
                           f'class="mention hashtag" rel="tag">#<span>welovebrussels</span></a></p>',
                "tags": [{"name": "welovebrussels", "url": f"https://{self.domain}/tags/welovebrussels"}],
                "media_attachments": [{"id": sid, "type": "image", "url": media_url, "preview_url": media_url,
                                       "remote_url": None, "text_url": None, "description": alt, "blurhash": None,
                                       "meta": {"original": {"width": 1080, "height": 1350, "size": "1080x1350",
                                                             "aspect": 0.8}}}],
            }
            self.statuses.append(status)
            return status

    def add_terminal_attack(self, acct: str = ATTACKS["acct"], **kw) -> dict:
        """A status with control sequences and markup in every text field (ATTACKS), well-formed otherwise.

        The default acct and url carry them too, which the collector refuses as malformed (an acct is
        user[@domain], a permalink has no control characters); pass acct="mallory" for a record that is stored,
        with its name, text, content warning and alt text carrying the attack."""
        status = self.add_status(username="mallory", acct=acct, display_name=ATTACKS["display_name"],
                                 text=ATTACKS["content"], spoiler_text=ATTACKS["spoiler_text"],
                                 alt=ATTACKS["description"], **kw)
        if acct == ATTACKS["acct"]:
            status["url"] += ATTACKS["url"]
        return status

    def add_forged(self, *, domain: str = "real.example", username: str = "alice", phish: str = "phish.example",
                   created_at: datetime = datetime(2001, 1, 1, tzinfo=UTC), display_name: str | None = None,
                   **kw) -> dict:
        """A status claiming to be `username@domain`'s, on that domain's uri (pass a real post's), linking to phish."""
        status = self.add_status(username=username, acct=f"{username}@{domain}", home=domain, created_at=created_at,
                                 display_name=display_name or username.title(), **kw)
        status["url"] = f"https://{phish}/@{username}/{status['id']}"
        return status

    def add_wrong_types(self) -> dict[str, dict]:
        """One status per wrong JSON type, keyed by what is wrong; each is otherwise well-formed."""
        bad = {"content": self.add_status(text="content as a list"), "meta": self.add_status(text="meta as a list"),
               "description": self.add_status(text="description as an object"),
               "uri": self.add_status(text="uri as an object")}
        bad["content"]["content"] = ["<p>content</p>", "<p>as a list</p>"]
        bad["meta"]["media_attachments"][0]["meta"] = [1080, 1350]
        bad["description"]["media_attachments"][0]["description"] = {"en": "alt text"}
        bad["uri"]["uri"] = {"href": f"https://{self.domain}/users/mallory/statuses/1"}
        return bad

    def _serve_image(self, name: str, data: bytes) -> str:
        self._files[f"{name}.jpg"] = data
        return f"{self.base_url}/system/media_attachments/files/{name}.jpg"

    # ---- answers -------------------------------------------------------------------------------

    def dispatch(self, req: Recorded) -> Reply:
        if req.method == "GET" and (found := re.fullmatch(r"/api/v1/timelines/tag/([^/]+)", req.path)):
            return self._endless(req, found.group(1)) if self.mode == "endless" else self._timeline(req, found.group(1))
        if req.method == "GET" and (found := re.fullmatch(r"/api/v1/statuses/(\d+)", req.path)):
            status = next((s for s in self.statuses if s["id"] == found.group(1)), None)
            return Reply(200, status) if status else Reply(404, {"error": "Record not found"})
        if req.method == "GET" and (found := re.fullmatch(r"/system/media_attachments/files/(.+)", req.path)):
            data = self._files.get(found.group(1))
            return Reply(200, data, content_type="image/jpeg") if data else Reply(404, {"error": "Record not found"})
        if req.method == "GET" and req.path == "/api/v2/instance":
            return Reply(200, {"domain": self.domain, "title": ATTACKS["display_name"], "version": "4.5.0",
                               "description": ATTACKS["content"]})
        return Reply(404, {"error": "Record not found"})

    def _timeline(self, req: Recorded, tag: str) -> Reply:
        """Id pagination, newest first, with a Link header as Mastodon's tag timeline sends it."""
        def bound(name: str) -> int | None:
            value = (req.query.get(name) or [""])[0]
            return int(value) if value.isdigit() else None

        limit = min(max(bound("limit") or 20, 1), 40)
        max_id, low = bound("max_id"), bound("min_id") or bound("since_id")
        chosen = [s for s in self.statuses if (max_id is None or int(s["id"]) < max_id) and (low is None or int(s["id"]) > low)]
        page = (chosen[:limit] if bound("min_id") is not None else chosen[-limit:])[::-1]
        return Reply(200, page, self._link(tag, page, limit) if page else {})

    def _endless(self, req: Recorded, tag: str) -> Reply:
        """A full page of statuses newer than any served before, whatever was asked."""
        limit = min(max(int((req.query.get("limit") or ["20"])[0] or 20), 1), 40)
        image = _one_photo()  # one photo for all: the attack is the count, not the pixels
        page = [self.add_status(text=f"endless {n}", image=image) for n in range(limit)][::-1]
        return Reply(200, page, self._link(tag, page, limit))

    def _link(self, tag: str, page: list[dict], limit: int) -> dict[str, str]:
        base = f"{self.base_url}/api/v1/timelines/tag/{quote(tag)}?"
        return {"Link": f'<{base}{urlencode({"limit": limit, "max_id": page[-1]["id"]})}>; rel="next", '
                        f'<{base}{urlencode({"limit": limit, "min_id": page[0]["id"]})}>; rel="prev"'}

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Stream API answers in the hostile body modes; everything else as the plain fake does."""
        if self.mode not in _STREAMED or not handler.path.startswith("/api/v1/"):
            return super().serve(handler)
        request = record(handler)
        with self._lock:
            self.requests.append(request)
            reply = self.dispatch(request)
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        if self.mode == "deep":
            self._send(handler, [b"[" * self.depth, b"]" * self.depth], self.depth * 2)
        elif self.mode == "huge":
            self._send(handler, self._huge(), self.huge_bytes if self.declare_length else None)
        elif self.mode == "gzip_bomb":
            bomb = gzip_bomb(self.bomb_bytes)
            self._send(handler, [bomb], len(bomb), {"Content-Encoding": "gzip"})
        else:  # drip
            self._send(handler, self._drip(body), len(body), status=reply.status)

    def _huge(self) -> Iterator[bytes]:
        """One valid status whose content is padded with "A" until the body is huge_bytes long."""
        status = self.statuses[-1] if self.statuses else self.add_status(text="huge")
        head, tail = json.dumps([status | {"content": "<p>"}]).encode().split(b'"<p>"')
        head, tail = head + b'"<p>', b'</p>"' + tail
        left = self.huge_bytes - len(head) - len(tail)
        if left < 0:
            raise ValueError(f"huge_bytes must be at least {len(head) + len(tail)}")
        yield head
        block = b"A" * _CHUNK
        while left > 0:
            yield block[:min(left, _CHUNK)]
            left -= _CHUNK
        yield tail

    def _drip(self, body: bytes) -> Iterator[bytes]:
        for n in range(len(body)):
            if n:
                self.sleep(self.drip_interval)
            yield body[n:n + 1]

    def _send(self, handler: BaseHTTPRequestHandler, chunks: Iterable[bytes], length: int | None,
              headers: dict[str, str] = {}, status: int = 200) -> None:  # noqa: B006 - never mutated
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            handler.send_header(name, value)
        if length is None:  # HTTP/1.1 without a length: the body ends when the connection closes
            handler.send_header("Connection", "close")
            handler.close_connection = True
        else:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        try:
            for chunk in chunks:
                if self.mode == "drip":
                    self.dripped.append(chunk)
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
            handler.close_connection = True
