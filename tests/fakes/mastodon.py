"""A fake Mastodon/Pixelfed server on 127.0.0.1 serving the documented shapes and quirks.

Mastodon's tag timeline is modelled on mastodon/mastodon (commit 0486db9f):
app/controllers/api/v1/timelines/tag_controller.rb, app/controllers/concerns/api/pagination.rb,
app/models/tag_feed.rb + public_feed.rb (public visibility only), app/serializers/rest/media_attachment_serializer.rb
(`url` null while processing, the media proxy when a remote file needs redownloading). Pixelfed's side is in
tests/fakes/pixelfed.py.
"""

from __future__ import annotations

import html
import json
import io
import re
import struct
from datetime import datetime, timedelta, UTC
from typing import Any
from collections.abc import Callable
from urllib.parse import quote, urlencode, urlsplit

from PIL import Image

from tests.fakes import pixelfed
from tests.fakes.server import FakeServer, Recorded, Reply

OWN_ACCOUNT_ID = "1"
OWN_USERNAME = "welovebrussels"
_FIRST_ID = 113_000_000_000_000_000  # snowflake-sized, like Mastodon's 18-digit ids
_BLURHASH = "UeKUpFxuo~R%0nW;WCnhF6RjaypIo#ofWBay"
_MIME = {"mastodon": ["image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp",
                      "image/avif", "video/mp4", "video/quicktime", "audio/mpeg"],
         "pixelfed": ["image/jpeg", "image/png", "image/gif"]}
_MAGIC = {b"\xff\xd8": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF8": "image/gif"}
_SMALL_PIXELS = 640 * 360  # Mastodon's preview ("small") size budget
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@(\w+)@[\w.-]+\w")
_HASHTAG = re.compile(r"(?<![\w/])#(\w+)")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _sniff(data: bytes) -> str | None:
    """The image type the bytes really are, as a server's content check would see it."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)


def _dimensions(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG") and len(data) >= 24:  # header only: bombs must not be opened
        return struct.unpack(">II", data[16:24])
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:  # truncated or not an image: the meta is simply unknown
        return None


def _meta(data: bytes, focus: str | None = None) -> dict:
    size = _dimensions(data)
    meta: dict = {}
    if size and min(size) > 0:
        w, h = size
        scale = min(1.0, (_SMALL_PIXELS / (w * h)) ** 0.5)
        small = (max(1, round(w * scale)), max(1, round(h * scale)))
        meta = {name: {"width": a, "height": b, "size": f"{a}x{b}", "aspect": a / b}
                for name, (a, b) in (("original", size), ("small", small))}
    if focus:
        x, _, y = focus.partition(",")
        meta["focus"] = {"x": float(x or 0), "y": float(y or 0)}
    return meta


def _length(text: str) -> int:
    """Characters as Mastodon counts them: a URL is 23, a remote mention counts only its username."""
    return len(_MENTION.sub(r"@\1", _URL.sub("x" * 23, text)))


def _truthy(values: list[str] | None, default: bool) -> bool:
    return default if not values else values[0].lower() in ("1", "true", "t", "on", "yes")


class FakeMastodon(FakeServer):
    """A Mastodon-compatible server (or Pixelfed, with its quirks) on a free local port."""

    def __init__(self, *, flavor: str = "mastodon", domain: str | None = "fake.social", token: str | None = None,
                 max_characters: int = 500, max_media: int = 4, latency: float = 0.0, web_domain: str | None = None,
                 page_cap: int = 40, clock: Callable[[], datetime] = pixelfed.now):
        """domain=None: the instance is its own address (http://127.0.0.1:PORT), to be asked as an origin.
        web_domain: Mastodon's WEB_DOMAIN (uri and profile host) when it differs from LOCAL_DOMAIN.
        page_cap: the most statuses a page holds, whatever `limit` asks (Mastodon: 40; some instances 20)."""
        if flavor not in _MIME:
            raise ValueError(f"flavor must be 'mastodon' or 'pixelfed', not {flavor!r}")
        super().__init__(latency=latency)
        self.flavor, self.token = flavor, token
        self.domain = domain or urlsplit(self.base_url).netloc
        self.web = f"https://{web_domain or domain}" if domain else self.base_url
        self.page_cap, self.clock = page_cap, clock
        self.own_account_id = OWN_ACCOUNT_ID
        self.following: set[str] = set()  # accts the token's user follows (Pixelfed shows their private posts)
        self.filtered_accounts: set[str] = set()  # blocked or muted accts
        self.domain_blocks: set[str] = set()
        self.banned_tags: set[str] = set()
        self.hide_sensitive = False
        self.dropped_after_limit: set[str] = set()  # ids the page loses after `limit` was taken (see _tag_timeline)
        self._raw_tags: dict[str, str] = {}  # injected records (any shape) -> the tag they are served under
        self.max_characters, self.max_media = max_characters, max_media
        self.published: list[dict] = []
        self.uploads: list[dict] = []
        self.deleted_by_api: list[str] = []  # ids DELETE /api/v1/statuses/:id removed
        self._statuses: dict[str, dict] = {}  # id -> Status, in creation (= id) order
        self._created: dict[str, datetime] = {}
        self._deleted: set[str] = set()
        self._media: dict[str, dict] = {}  # id -> MediaAttachment from /api/v2/media
        self._attached: set[str] = set()
        self._files: dict[str, tuple[bytes, str]] = {}  # /media/<name> -> (data, content type)
        self._accounts: dict[str, str] = {OWN_USERNAME: OWN_ACCOUNT_ID}  # acct -> account id
        self._idempotency: dict[str, str] = {}  # key -> status id
        self._idempotency_at: dict[str, datetime] = {}  # key -> when it was stored (Mastodon keeps it an hour)
        self.peers: list[FakeMastodon] = []  # other instances a resolving search fetches posts from
        self.comments_disabled: set[str] = set()  # Pixelfed: status ids whose author turned comments off
        self._resolved: dict[str, str] = {}  # a peer's status uri -> our copy's id
        self.lose_answers = 0  # statuses posted whose answer is lost (a 502 from the proxy in front, say)
        self._next_id = _FIRST_ID
        self._remaining = 300
        self.account_fields: dict[str, dict] = {}  # acct -> Account fields it serves (SIGNAL_ACCOUNTS: opt-outs)

    # ---- test set-up -------------------------------------------------------------------------

    def add_image(self, data: bytes, *, content_type: str = "image/jpeg", name: str | None = None) -> str:
        """Serve bytes under /media/<name> with the given content type; return the full URL."""
        with self._lock:
            if name is None:
                ext = {"image/png": "png", "image/gif": "gif", "image/webp": "webp"}.get(content_type, "jpg")
                name = f"{len(self._files) + 1:06d}.{ext}"
            self._files[name] = (data, content_type)
        return f"{self.base_url}/media/{quote(name)}"

    def add_status(self, *, tag: str = "welovebrussels", text: str = "Grand-Place at night", images: list[bytes] = (),
                   acct: str = "alice", display_name: str = "Alice", created_at: datetime | None = None,
                   sensitive: bool = False, spoiler_text: str = "", language: str | None = "en",
                   alt: list[str | None] | None = None, media_type: str = "image", reblog_of: dict | None = None,
                   uri: str | None = None, extra_tags: list[str] = (),
                   content_type_override: str | None = None, visibility: str = "public") -> dict:
        """Store a status as another account posted it (or boosted `reblog_of`); return the Status dict.

        media_type "unknown": a remote file the instance failed to cache (url: its media proxy, which fails;
        remote_url: the original); "processing": url null, remote_url set.
        """
        with self._lock:
            sid = self._new_id()
            account = self._account(acct, display_name)
            remote = "@" in acct
            home = self.web if not remote else f"https://{acct.partition('@')[2]}"  # the author's own server
            if reblog_of is not None:
                activity = f"{home}/users/{account['username']}/statuses/{sid}/activity"
                status = self._status_shell(sid, account, uri or activity, activity, created_at)
                status["reblog"] = reblog_of
            else:
                status = self._status_shell(sid, account, uri or f"{home}/users/{account['username']}/statuses/{sid}",
                                            f"{home}/@{account['username']}/{sid}", created_at)
                tags = [t for t in (tag, *extra_tags) if t]
                links = "".join(f' <a href="{self.web}/tags/{t.lower()}" class="mention hashtag" '
                                f'rel="tag">#<span>{html.escape(t)}</span></a>' for t in tags)
                alts = list(alt or [])
                media = [self._attachment(data, media_type, alts[i] if i < len(alts) else None, content_type_override)
                         for i, data in enumerate(images)]
                status.update(content=f"<p>{html.escape(text)}{links}</p>", sensitive=sensitive,
                              spoiler_text=spoiler_text, language=language, media_attachments=media,
                              visibility=visibility,
                              tags=[{"name": t, "url": f"{self.web}/tags/{t.lower()}"} for t in tags])
            if self.flavor == "pixelfed":
                pixelfed.shape_status(status, self, remote)
            self._statuses[sid] = status
            self._created[sid] = created_at or datetime.now(UTC)
            return status

    def federate(self, status: dict, origin: FakeMastodon, **changes: Any) -> dict:
        """Serve another instance's status as this one does after federation: our id, the origin's uri and url,
        the author as a remote account (acct user@origin-domain). `changes` overwrite fields (forgeries)."""
        with self._lock:
            sid = self._new_id()
            copy = json.loads(json.dumps(status))
            copy["id"] = sid
            account = copy["account"]
            account["acct"] = f"{account['username']}@{origin.domain}"
            account["id"] = self._accounts.setdefault(account["acct"], str(100 + len(self._accounts)))
            for media in copy["media_attachments"]:  # cached here, the original kept as remote_url
                media["remote_url"] = media["url"]
            copy.update(changes)
            self._statuses[sid] = copy
            self._created[sid] = datetime.now(UTC)
            return copy

    def inject(self, record: dict, *, tag: str = "welovebrussels") -> str:
        """Serve any record (a malformed one, a forgery) in the tag timeline as is, under a fresh id."""
        with self._lock:
            sid = self._new_id()
            record["id"] = sid
            self._statuses[sid] = record
            self._raw_tags[sid] = tag.lower()
            return sid

    def delete_status(self, status_id: str) -> None:
        """Make a status disappear: 404 on lookup, gone from timelines."""
        with self._lock:
            self._deleted.add(status_id)

    # ---- entities ----------------------------------------------------------------------------

    def _new_id(self) -> str:
        if self.flavor == "pixelfed":  # minted from the clock, as SnowflakeService::next does
            self._next_id = max(self._next_id + 1, pixelfed.snowflake(self.clock()))
        else:
            self._next_id += 65536 + 1  # strictly increasing, like snowflakes from one node
        return str(self._next_id)

    def _account(self, acct: str, display_name: str) -> dict:
        username, _, remote = acct.partition("@")
        web = f"https://{remote}" if remote else self.web
        aid = self._accounts.setdefault(acct, str(100 + len(self._accounts)))
        account = {"id": aid, "username": username, "acct": acct, "display_name": display_name, "locked": False,
                "bot": False, "group": False, "discoverable": True, "created_at": "2024-01-01T00:00:00.000Z",
                "note": "", "url": f"{web}/@{username}", "uri": f"{web}/users/{username}",
                "avatar": f"{web}/avatars/{username}.png",
                "avatar_static": f"{web}/avatars/{username}.png", "header": "", "header_static": "",
                "followers_count": 0, "following_count": 0, "statuses_count": 0, "emojis": [], "fields": []}
        account = pixelfed.shape_account(account, self, bool(remote)) if self.flavor == "pixelfed" else account
        return account | self.account_fields.get(acct, {})

    def _status_shell(self, sid: str, account: dict, uri: str, url: str, created_at: datetime | None) -> dict:
        return {"id": sid, "uri": uri, "url": url, "created_at": _iso(created_at or datetime.now(UTC)),
                "edited_at": None, "account": account, "content": "", "visibility": "public", "sensitive": False,
                "spoiler_text": "", "language": None, "in_reply_to_id": None, "in_reply_to_account_id": None,
                "reblog": None, "media_attachments": [], "mentions": [], "tags": [], "emojis": [], "card": None,
                "poll": None, "reblogs_count": 0, "favourites_count": 0, "replies_count": 0, "quotes_count": 0}

    def _attachment(self, data: bytes, kind: str, description: str | None, content_type: str | None,
                    focus: str | None = None) -> dict:
        mid = self._new_id()
        served = content_type or _sniff(data) or "application/octet-stream"
        ext = served.rsplit("/", 1)[-1].replace("jpeg", "jpg")
        url = self.add_image(data, content_type=served, name=f"original/{mid}.{ext}")
        attachment = {"id": mid, "type": kind, "url": url,
                      "preview_url": self.add_image(data, content_type=served, name=f"small/{mid}.{ext}"),
                      "remote_url": None, "text_url": None, "meta": _meta(data, focus), "description": description,
                      "blurhash": _BLURHASH}
        if kind == "unknown":  # needs_redownload?: url is the media proxy (failing here), remote_url the original
            attachment.update(url=f"{self.base_url}/media_proxy/{mid}/original", remote_url=url, meta=None,
                              preview_url=f"{self.base_url}/media_proxy/{mid}/small")
        elif kind == "processing":  # not_processed?: no url yet
            attachment.update(type="image", url=None, remote_url=url, preview_url=None)
        return attachment

    def headers_for(self, request: Recorded, reply: Reply) -> dict[str, str]:
        if reply.status == 429:  # an injected 429 carries exactly the hints the test asked for
            return {"X-RateLimit-Limit": "300"}
        if not request.path.startswith("/api/"):
            return {}
        self._remaining = max(0, self._remaining - 1)
        reset = datetime.now(UTC) + timedelta(minutes=5)
        return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(self._remaining),
                "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    def dispatch(self, req: Recorded) -> Reply:
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/api/v1/timelines/tag/([^/]+)", self._tag_timeline),
            ("GET", r"/api/v1/statuses/(\d+)", self._get_status),
            ("GET", r"/api/v2/instance", self._instance),
            ("GET", r"/api/v1/instance", self._instance_v1),
            ("GET", r"/api/v1/accounts/verify_credentials", self._verify_credentials),
            ("GET", r"/api/v1/accounts/(\d+)/statuses", self._account_statuses),
            ("POST", r"/api/v2/media", self._upload),
            ("POST", r"/api/v1/statuses", self._post_status),
            ("DELETE", r"/api/v1/statuses/(\d+)", self._delete_status),
            ("GET", r"/media/(.+)", self._media_file),
            # Replies and threads (the consent stage): see the "replies" section below.
            ("GET", r"/api/v2/search", self._search),
            ("GET", r"/api/v1/statuses/(\d+)/context", self._context),
        ]
        for method, pattern, answer in routes:
            found = re.fullmatch(pattern, req.path)
            if found and req.method == method:
                return answer(req, *found.groups())
        return Reply(404, {"error": "Record not found"})

    def _auth(self, req: Recorded, *, always: bool, denied: int = 401) -> Reply | None:
        """None if the request may proceed; with token=None any bearer token is accepted."""
        needed = always or self.token is not None or self.flavor == "pixelfed"
        given = req.headers.get("authorization", "")
        if not needed or (given.startswith("Bearer ") and self.token in (None, given[7:])):
            return None
        if denied == 403:
            return Reply(403, {"error": "This action is unauthorized."})
        if not given:
            return Reply(401, {"error": "This API requires an authenticated user"})
        return Reply(401, {"error": "The access token is invalid"})

    def _visible(self) -> list[dict]:
        return [s for sid, s in self._statuses.items() if sid not in self._deleted and sid not in self._raw_tags]

    def stored(self, sid: str) -> dict | None:
        """A status by id, unless deleted."""
        return None if sid in self._deleted else self._statuses.get(sid)

    def tagged(self, tag: str) -> list[dict]:
        """Every stored status carrying the tag (of any visibility), injected records included, in id order."""
        tag = tag.lower()
        found = [(sid, s) for sid, s in self._statuses.items() if sid not in self._deleted
                 and (self._raw_tags.get(sid) == tag
                      or (sid not in self._raw_tags and any(t["name"].lower() == tag for t in s["tags"])))]
        return [s for sid, s in found]

    def known_tags(self) -> set[str]:
        return {t["name"].lower() for s in self._visible() for t in s["tags"]} | set(self._raw_tags.values())

    def _page(self, statuses: list[dict], query: dict[str, list[str]], *, cap: int = 40) -> list[dict]:
        """Mastodon id pagination (Paginable#to_a_paginated_by_id) over statuses in ascending id order; newest first."""
        def bound(name: str) -> int | None:
            value = (query.get(name) or [""])[0]
            return int(value) if value.isdigit() else None

        limit = bound("limit") or 20
        limit = min(max(limit, 1), cap)
        max_id, min_id, since = bound("max_id"), bound("min_id"), bound("since_id")
        chosen = [s for s in statuses if (max_id is None or int(s["id"]) < max_id)
                  and (since is None or int(s["id"]) > since) and (min_id is None or int(s["id"]) > min_id)]
        # min_id asks for the statuses immediately above it, so take from the old end.
        chosen = chosen[:limit] if min_id is not None else chosen[-limit:]
        return chosen[::-1]

    def _tag_timeline(self, req: Recorded, tag: str) -> Reply:
        if self.flavor == "pixelfed":
            return pixelfed.timeline_hashtag(self, req, tag)
        if denied := self._auth(req, always=False):
            return denied
        only_media = _truthy(req.query.get("only_media"), default=False)

        def matches(status: dict) -> bool:
            # TagFeed < PublicFeed: public visibility only; a boost carries no tags of its own, so none appear.
            return (status.get("visibility") == "public" and (not only_media or bool(status["media_attachments"])))

        chosen = [s for s in self.tagged(tag) if str(s.get("id")) in self._raw_tags or matches(s)]
        # limit_param: at most page_cap (Mastodon: DEFAULT_STATUSES_LIMIT 20, max 40; some instances less).
        page = self._page(chosen, req.query, cap=self.page_cap)
        # Rows that vanish after the limit was taken (cache_collection drops what can no longer be loaded, and
        # forks filter further): the page comes back short, and the Link header is built from what is left.
        page = [s for s in page if str(s.get("id")) not in self.dropped_after_limit]
        if not page:  # after_action :insert_pagination_headers, unless: -> { @statuses.empty? }
            return Reply(200, page)
        return Reply(200, page, {"Link": self._links(req, tag, page)})

    def _links(self, req: Recorded, tag: str, page: list[dict]) -> str:
        """The Link header as Api::Pagination#set_pagination_headers writes it (LinkHeader gem).

        next: max_id = the last status's id; prev: min_id = the first's. pagination_params keeps only local, limit
        and only_media; Rails sorts the query keys (Hash#to_query). The URL names the tag as it was asked.
        """
        keep = {k: v[0] for k, v in req.query.items() if k in ("local", "limit", "only_media")}
        base = f"{self.base_url}/api/v1/timelines/tag/{quote(tag)}?"

        def url(extra: dict) -> str:
            return base + urlencode(sorted((keep | extra).items()))

        return f'<{url({"max_id": page[-1]["id"]})}>; rel="next", <{url({"min_id": page[0]["id"]})}>; rel="prev"'

    def _get_status(self, req: Recorded, sid: str) -> Reply:
        if self.flavor == "pixelfed":
            return pixelfed.status_by_id(self, req, sid)
        if denied := self._auth(req, always=False):
            return denied
        if sid in self._deleted or sid not in self._statuses:
            return Reply(404, {"error": "Record not found"})
        return Reply(200, self._statuses[sid])

    def _account_statuses(self, req: Recorded, aid: str) -> Reply:
        if denied := self._auth(req, always=False):
            return denied
        mine = [s for s in self._visible() if s["account"]["id"] == aid]
        return Reply(200, self._page(mine, req.query))

    def _own_account(self) -> dict:
        return self._account(OWN_USERNAME, "WeLoveBrussels")

    def _verify_credentials(self, req: Recorded) -> Reply:
        return self._auth(req, always=True) or Reply(200, self._own_account() | {"source": {"privacy": "public"}})

    def _instance(self, req: Recorded) -> Reply:
        config = {"urls": {"streaming": f"wss://{self.domain}"}, "translation": {"enabled": False},
                  "statuses": {"max_characters": self.max_characters, "max_media_attachments": self.max_media,
                               "characters_reserved_per_url": 23},
                  "media_attachments": {"supported_mime_types": _MIME[self.flavor], "image_size_limit": 16777216,
                                        "image_matrix_limit": 33177600, "video_size_limit": 103809024,
                                        "description_limit": 1500}}
        if self.flavor == "mastodon":  # Mastodon 4.5 tells clients whether hashtag feeds need a login
            access = "authenticated" if self.token else "public"
            config["timelines_access"] = {"hashtag_feeds": {"local": access, "remote": access}}
        version = "4.5.0" if self.flavor == "mastodon" else "3.5.3 (compatible; Pixelfed 0.12.4)"
        return Reply(200, {"domain": self.domain, "title": f"Fake {self.flavor}", "version": version,
                            "source_url": "https://github.com/mastodon/mastodon", "description": "",
                            "usage": {"users": {"active_month": 1}}, "languages": ["en", "fr", "nl"],
                            "configuration": config, "registrations": {"enabled": False, "approval_required": False},
                            "contact": {"email": f"admin@{self.domain}", "account": None}, "rules": []})

    def _instance_v1(self, req: Recorded) -> Reply:
        """GET /api/v1/instance: `uri` is the domain (Mastodon REST::V1::InstanceSerializer; Pixelfed app domain)."""
        return Reply(200, {"uri": self.domain, "title": f"Fake {self.flavor}", "version": "4.5.0"})

    def _media_file(self, req: Recorded, name: str) -> Reply:
        if name not in self._files:
            return Reply(404, {"error": "Record not found"})
        data, content_type = self._files[name]
        return Reply(200, data, content_type=content_type)

    def _upload(self, req: Recorded) -> Reply:
        if denied := self._auth(req, always=True):
            return denied
        if "file" not in req.files:
            return Reply(422, {"error": "Validation failed: File can't be blank"})
        filename, declared, data = req.files["file"]
        kind = _sniff(data) or declared
        if kind not in _MIME[self.flavor]:
            return Reply(422, {"error": "Validation failed: File content type is invalid, File is invalid"})
        if len(data) > 16777216:
            return Reply(422, {"error": "Validation failed: File file size must be less than 16 MB"})
        description = (req.form.get("description") or [None])[0]
        focus = (req.form.get("focus") or [None])[0]
        attachment = self._attachment(data, "image", description, kind, focus)
        self._media[attachment["id"]] = attachment
        self.uploads.append({"id": attachment["id"], "description": description, "data": data,
                             "content_type": declared, "filename": filename})
        return Reply(200, attachment)

    def _post_status(self, req: Recorded) -> Reply:
        if denied := self._auth(req, always=True):
            return denied
        params = self._status_params(req)
        key = req.headers.get("idempotency-key")
        if key and self.flavor == "mastodon" and self._idempotent(key):
            return self._lost(Reply(200, self._statuses[self._idempotency[key]]))  # the original, not an error
        if refused := self._reply_refused(params):
            return refused
        text, media_ids = params["status"], params["media_ids"]
        if _length(text) + len(params["spoiler_text"]) > self.max_characters:
            return Reply(422, {"error": f"Validation failed: Text character limit of {self.max_characters} exceeded"})
        if len(media_ids) > self.max_media:
            return Reply(422, {"error": f"Cannot attach more than {self.max_media} files"})
        if key and self.flavor == "pixelfed":
            # Pixelfed caches the key before creating anything, so any retry with it is refused.
            if key in self._idempotency:
                return Reply(400, {"error": "Duplicate idempotency key."})
            self._idempotency[key] = ""
        if self.flavor == "pixelfed" and not media_ids and not params["in_reply_to_id"]:
            return Reply(403, {"error": "Empty statuses are not allowed"})
        if not text.strip() and not media_ids:
            return Reply(422, {"error": "Validation failed: Text can't be blank"})
        missing = [m for m in media_ids if m not in self._media or m in self._attached]
        if missing:
            return Reply(422, {"error": f"Media with ID(s) {', '.join(missing)} not found or already attached"})
        status = self._publish(params)
        if key:
            self._idempotency[key] = status["id"]
            self._idempotency_at[key] = self.clock()
        return self._lost(Reply(200, status))

    def _delete_status(self, req: Recorded, sid: str) -> Reply:
        """Api::V1::StatusesController#destroy (mastodon/mastodon): `Status.where(account: current_account)
        .find(params[:id])`, so someone else's status or one deleted before is 404 "Record not found"; else 200
        with the deleted Status and its source `text` (serialized with source_requested: true)."""
        if denied := self._auth(req, always=True):
            return denied
        status = self.stored(sid)
        if status is None or status["account"]["id"] != self.own_account_id:
            return Reply(404, {"error": "Record not found"})
        self._deleted.add(sid)
        self.deleted_by_api.append(sid)
        return Reply(200, status | {"text": html.unescape(re.sub(r"<[^>]+>", "", status["content"]))})

    def _status_params(self, req: Recorded) -> dict:
        """The status fields from a form or JSON body."""
        if isinstance(req.json, dict):
            raw = req.json
            get = raw.get
            media = [str(m) for m in raw.get("media_ids") or []]
        else:
            def get(name: str, default: Any = None) -> Any:
                return (req.form.get(name) or [default])[0]
            media = req.form.get("media_ids[]") or req.form.get("media_ids") or []
        sensitive = get("sensitive", False)
        return {"status": get("status") or "", "media_ids": media, "spoiler_text": get("spoiler_text") or "",
                "visibility": get("visibility") or "public", "language": get("language"),
                "in_reply_to_id": str(get("in_reply_to_id") or "") or None,
                "sensitive": sensitive if isinstance(sensitive, bool) else _truthy([str(sensitive)], False)}

    def _publish(self, params: dict) -> dict:
        sid = self._new_id()
        account = self._own_account()
        status = self._status_shell(sid, account, f"https://{self.domain}/users/{OWN_USERNAME}/statuses/{sid}",
                                    f"https://{self.domain}/@{OWN_USERNAME}/{sid}", None)
        text = params["status"]
        status.update(
            content="<p>" + html.escape(text).replace("\n", "<br />") + "</p>",
            visibility=params["visibility"], sensitive=params["sensitive"], spoiler_text=params["spoiler_text"],
            language=params["language"], media_attachments=[self._media[m] for m in params["media_ids"]],
            tags=[{"name": t, "url": f"https://{self.domain}/tags/{t.lower()}"} for t in _HASHTAG.findall(text)],
            mentions=[{"id": "0", "username": m.group(1), "acct": m.group(0)[1:],
                       "url": f"https://{m.group(0).split('@')[2]}/@{m.group(1)}"} for m in _MENTION.finditer(text)])
        self._attached.update(params["media_ids"])
        self._link_reply(status, params)
        self._statuses[sid] = status
        self._created[sid] = datetime.now(UTC)
        self.published.append(status)
        return status

    # ---- replies and threads (the consent stage asks by reply and reads the answers) ----------------------------
    # Modelled on mastodon/mastodon: app/controllers/api/v1/search_controller.rb, which v2 inherits (resolve without
    # a token: 401 "Search queries that resolve remote resources are not supported without authentication"),
    # app/controllers/api/v1/statuses/contexts_controller.rb at 088f1d05 (descendants for the signed-in account, up
    # to 4,096), app/services/post_status_service.rb at 0194c3c4 (redis idempotency:status:ACCOUNT:KEY kept 3,600 s,
    # the same status returned), Api::V1::StatusesController#create (in_reply_to_id: Status.find → 404). Pixelfed
    # (pixelfed/pixelfed 8aae92d7, ApiV1Controller): statusCreate accepts visibility private|unlisted|public only
    # (422), refuses a reply to a post with comments disabled (422 "Comments have been disabled on this post");
    # statusContext lists only the direct replies, 20 at most.

    def _idempotent(self, key: str) -> bool:
        """A key Mastodon still remembers (stored less than an hour ago)."""
        at = self._idempotency_at.get(key)
        return key in self._idempotency and (at is None or self.clock() - at < timedelta(hours=1))

    def _lost(self, reply: Reply) -> Reply:
        """The status is made, but the client never hears it: a proxy's 502 instead (retried, the key then answers)."""
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return Reply(502, b"<html>502 Bad Gateway</html>", content_type="text/html")
        return reply

    def _reply_refused(self, params: dict) -> Reply | None:
        if self.flavor == "pixelfed" and params["visibility"] not in ("private", "unlisted", "public"):
            return Reply(422, {"message": "The selected visibility is invalid.",
                               "errors": {"visibility": ["The selected visibility is invalid."]}})
        parent = params["in_reply_to_id"]
        if parent is None:
            return None
        if self.stored(parent) is None:
            return Reply(404, {"error": "Record not found"})
        if self.flavor == "pixelfed" and parent in self.comments_disabled:
            return Reply(422, {"error": "Comments have been disabled on this post"})
        return None

    def _link_reply(self, status: dict, params: dict) -> None:
        parent = self.stored(params["in_reply_to_id"]) if params["in_reply_to_id"] else None
        if parent is not None:
            status.update(in_reply_to_id=parent["id"], in_reply_to_account_id=parent["account"]["id"])
            parent["replies_count"] = parent.get("replies_count", 0) + 1

    def add_reply(self, in_reply_to: str, *, acct: str, text: str, display_name: str = "",
                  uri_host: str | None = None, account_host: str | None = None, created_at: datetime | None = None,
                  visibility: str = "direct") -> dict:
        """A reply as it reaches this instance: federated from the author's server (acct user@domain), or local.

        uri_host / account_host forge where the status / account say they live (a lookalike's server)."""
        with self._lock:
            sid = self._new_id()
            account = dict(self._account(acct, display_name or acct.partition("@")[0]))
            username, _, remote = acct.partition("@")
            home = remote or urlsplit(self.web).netloc
            if account_host:
                account.update(uri=f"https://{account_host}/users/{username}", url=f"https://{account_host}/@{username}")
            where = uri_host or home
            status = self._status_shell(sid, account, f"https://{where}/users/{username}/statuses/{sid}",
                                        f"https://{where}/@{username}/{sid}", created_at)
            parent = self.stored(in_reply_to)
            ours = parent["account"] if parent else self._own_account()
            mention = (f'<span class="h-card" translate="no"><a href="{ours["url"]}" class="u-url mention">'
                       f'@<span>{html.escape(ours["username"])}</span></a></span> ')
            status.update(content=f"<p>{mention}{html.escape(text)}</p>", visibility=visibility,
                          in_reply_to_id=in_reply_to, in_reply_to_account_id=ours["id"],
                          mentions=[{"id": ours["id"], "username": ours["username"], "acct": ours["acct"],
                                     "url": ours["url"]}])
            if parent is not None:
                parent["replies_count"] = parent.get("replies_count", 0) + 1
            self._statuses[sid] = status
            self._created[sid] = created_at or datetime.now(UTC)
            return status

    def replies_to(self, status_id: str) -> list[dict]:
        """The statuses our account posted in reply to `status_id` (what the consent stage sent there)."""
        return [s for s in self.published if s.get("in_reply_to_id") == status_id]

    def _search(self, req: Recorded) -> Reply:
        q = (req.query.get("q") or [""])[0].strip()
        resolve = _truthy(req.query.get("resolve"), default=False)
        if resolve and not req.headers.get("authorization", "").startswith("Bearer "):
            return Reply(401, {"error": "Search queries that resolve remote resources are not supported without "
                                        "authentication"})
        if denied := self._auth(req, always=self.flavor == "pixelfed", denied=403):
            return denied
        if not q:
            return Reply(400, {"error": "Validation failed: q is missing"})
        found = [s for sid, s in self._statuses.items() if sid not in self._deleted and q in (s.get("uri"), s.get("url"))]
        if not found and resolve:
            found = [self._resolve(q)] if self._resolve(q) else []
        kind = (req.query.get("type") or [""])[0]
        return Reply(200, {"accounts": [], "statuses": found if kind in ("", "statuses") else [], "hashtags": []})

    def _resolve(self, q: str) -> dict | None:
        """ResolveURLService: fetch the post from its server (a peer) once, then serve our copy."""
        for peer in self.peers:
            for sid, status in list(peer._statuses.items()):
                if sid in peer._deleted or q not in (status.get("uri"), status.get("url")):
                    continue
                if status["uri"] not in self._resolved:
                    self._resolved[status["uri"]] = self.federate(status, peer)["id"]
                return self.stored(self._resolved[status["uri"]])
        return None

    def _context(self, req: Recorded, sid: str) -> Reply:
        if denied := self._auth(req, always=self.flavor == "pixelfed", denied=403):
            return denied
        if self.stored(sid) is None:
            return Reply(404, {"error": "Record not found"})
        if self.flavor == "pixelfed":
            direct = [s for s in self._visible() if s.get("in_reply_to_id") == sid]
            return Reply(200, {"ancestors": [], "descendants": direct[:20]})
        descendants: list[dict] = []

        def walk(parent: str) -> None:
            for status in self._visible():
                if status.get("in_reply_to_id") == parent:
                    descendants.append(status)
                    walk(status["id"])
        walk(sid)
        return Reply(200, {"ancestors": [], "descendants": descendants})


# Accounts showing each opt-out signal as Mastodon serves them: FakeMastodon.account_fields[acct] = SIGNAL_ACCOUNTS[k].
# Origins: mastodon/mastodon app/serializers/rest/account_serializer.rb at 01405bc6 (`discoverable`; `noindex` only
# `if: :local?`), the same file today (`indexable` beside `discoverable`), db/migrate AddIndexableToAccounts
# (`indexable` boolean, default false, not null); mastodon/documentation content/en/entities/Account.md at 2903485d
# (`note` is HTML, hashtags as <a class="mention hashtag">#<span>tag</span></a>; `discoverable` nullable, 3.1;
# `indexable` 4.3; `noindex` 4.0; `fields[].value` HTML).
def bio(text: str, *tags: str, host: str = "fake.social") -> str:
    """A bio as Mastodon renders it (account_bio_format): text, then each hashtag as its link."""
    links = "".join(f' <a href="https://{host}/tags/{t.lower()}" class="mention hashtag" rel="tag">#<span>{t}</span></a>'
                    for t in tags)
    return f"<p>{html.escape(text)}{links}</p>"


SIGNAL_ACCOUNTS = {
    "nobot": {"note": bio("Street photography, Brussels.", "NoBot")},
    "noindex_tag": {"note": bio("Photos & walks", "noindex")},
    "nosearch": {"note": bio("Brussels by night", "nosearch", "photography")},
    "nobot_field": {"fields": [{"name": "Bots", "value": bio("no thanks", "nobot"), "verified_at": None}]},
    "noindex": {"noindex": True},
    "not_discoverable": {"discoverable": False},
    "not_indexable": {"discoverable": True, "indexable": False},
    "unset": {"discoverable": None, "indexable": True},  # never chose: not a "no"
    "nobotanist": {"note": bio("Plants of Brussels", "nobotanist", "botanist")},
    "nobot_in_text": {"note": "<p>I like robots: nobot is my robot's name, see x#nobot and /#nobot</p>"},
    # Typed with a Japanese IME: Tag::Naming's HASHTAG_RE takes '＃' as '#' (app/models/concerns/tag/naming.rb) and
    # HashtagNormalizer folds the width (NFKC), so this is the tag #nobot; the link keeps the letters as typed.
    "nobot_fullwidth": {"note": bio("写真", "ＮｏＢｏｔ") + "<p>＃ｎｏｉｎｄｅｘ</p>"},
    # A field's name is plain text (Account.md: fields[].name), its value HTML: "#NoBot | please".
    "nobot_field_name": {"fields": [{"name": "#NoBot", "value": "please", "verified_at": None}]},
}
