"""A fake Graph API for one Facebook Page on 127.0.0.1, serving the documented shapes under /vNN.0/.

Modelled on developers.facebook.com (no official OpenAPI exists, platforms.md §9):
- docs/graph-api/reference/photo, "Creating": `source` (a file) or `url`, `caption`, `published` (default true),
  `alt_text_custom`; "a photo must be less than 10MB"; answers {"id", "post_id"} (post_id only when published).
- docs/graph-api/reference/page/photos: an unpublished photo is kept ~24 h for attaching to a post;
  "Publishing a multi-photo post": POST /{page-id}/feed with attached_media[i]={"media_fbid": "<id>"} answers
  {"id": "<page-id>_<post-id>"}.
- docs/graph-api/reference/page/published_posts (+ page/feed): {"data": [...], "paging": {"cursors": {"before",
  "after"}, "next"}}, newest first; created_time reads "2026-04-06T17:50:09+0000" (a live probe recorded in a
  public repository, observed against v25.0).
- docs/graph-api/guides/error-handling: {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}};
  190 (invalid token), 200 (permission), 100 subcode 33 (no such object), 506 (duplicate post), rate limits
  4/17/32/613 (docs/graph-api/overview/rate-limiting). OAuth errors come with HTTP 400, permissions with 403.
- docs/graph-api/reference/debug_token: {"data": {"app_id", "type", "application", "expires_at", "is_valid",
  "profile_id", "scopes", "user_id"}}.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlencode, urlsplit

from tests.fakes.server import FakeServer, Recorded, Reply

PAGE_ID = "104512345678901"
PAGE_NAME = "We Love Brussels"
PAGE_TOKEN = "EAAfbPageToken123"
VERSION = "v27.0"
SCOPES = ["pages_show_list", "pages_read_engagement", "pages_manage_posts"]
MAX_PHOTO_BYTES = 10 * 1024 * 1024
_MAGIC = (b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"GIF8")


def _error(status: int, code: int, message: str, *, subcode: int | None = None,
           kind: str = "OAuthException") -> Reply:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": "A" + secrets.token_hex(5)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Reply(status, {"error": error})


def _no_object(object_id: str) -> Reply:
    return _error(400, 100, f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded "
                            f"due to missing permissions, or does not support this operation", subcode=33,
                  kind="GraphMethodException")


def _first(values: dict[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[0] if found else None


class FakeGraph(FakeServer):
    """One Page: photos and posts made through the API, listed back by published_posts."""

    def __init__(self, *, page_id: str = PAGE_ID, page_name: str = PAGE_NAME, token: str = PAGE_TOKEN,
                 scopes: list[str] | None = None, token_type: str = "PAGE", expires_at: int = 0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        super().__init__()
        self.page_id, self.page_name, self.token = page_id, page_name, token
        self.scopes = SCOPES if scopes is None else scopes
        self.token_type, self.expires_at, self.clock = token_type, expires_at, clock
        self.api_url = f"{self.base_url}/{VERSION}"
        self.photos: dict[str, dict] = {}  # id -> {data, mime, alt, caption, published, post_id}
        self.posts: list[dict] = []  # oldest first: {id, message, created_time, photos}
        self.deleted: list[str] = []  # post ids DELETE /{post-id} removed
        self.debug_token_refused = False  # some tokens may not inspect themselves
        self._graph_faults: list[tuple[str, str, Reply]] = []  # (method, path suffix, reply), used once each
        self._lost: list[tuple[str, str]] = []  # (method, path suffix): handled, but the answer never sent
        self._next = 122168909192960000

    # ---- test set-up -------------------------------------------------------------------------

    def add_post(self, message: str, *, created_at: datetime | None = None) -> dict:
        """A post already on the Page (made by hand, or by an earlier run)."""
        with self._lock:
            return self._post(message, [], created_at)

    def fail_next_graph(self, method: str, path_suffix: str, code: int, *, status: int = 400,
                        subcode: int | None = None, message: str = "Injected error") -> None:
        """Answer the next matching call with a Graph error object."""
        with self._lock:
            self._graph_faults.append((method, path_suffix, _error(status, code, message, subcode=subcode)))

    def lose_answer_to(self, method: str, path_suffix: str) -> None:
        """Handle the next matching call in full, then drop the connection without answering."""
        with self._lock:
            self._lost.append((method, path_suffix))

    def calls(self, method: str, path_suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    @property
    def published(self) -> list[dict]:
        return list(self.posts)

    # ---- serving -----------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            lost = next((x for x in self._lost if x[0] == handler.command and path.endswith(x[1])), None)
            if lost:
                self._lost.remove(lost)
        if lost:
            handler.wfile = io.BytesIO()  # the answer is written nowhere, and the connection closes
            handler.close_connection = True
        super().serve(handler)

    def dispatch(self, request: Recorded) -> Reply:
        for fault in self._graph_faults:
            if fault[0] == request.method and request.path.endswith(fault[1]):
                self._graph_faults.remove(fault)
                return fault[2]
        prefix = f"/{VERSION}/"
        if not request.path.startswith(prefix):
            return _error(400, 2500, "Unknown path components", kind="OAuthException")
        parts = request.path[len(prefix):].strip("/").split("/")
        given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                 or _first(request.query, "access_token") or _first(request.form, "access_token"))
        if given != self.token:
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if request.method == "GET" and parts == ["debug_token"]:
            return self._debug_token(request)
        if request.method == "DELETE" and len(parts) == 1:
            return self._delete(parts[0])
        if parts[0] != self.page_id:
            return _no_object(parts[0])
        match request.method, parts[1:]:
            case "GET", []:
                return self._page(request)
            case "POST", ["photos"]:
                return self._photo(request)
            case "POST", ["feed"]:
                return self._feed(request)
            case "GET", ["published_posts" | "feed" | "posts"]:
                return self._list(request)
        return _error(400, 100, "Unsupported request", kind="GraphMethodException")

    # ---- endpoints ---------------------------------------------------------------------------

    def _page(self, request: Recorded) -> Reply:
        node = {"id": self.page_id, "name": self.page_name, "category": "Community"}
        fields = (_first(request.query, "fields") or "id,name").split(",")
        return Reply(200, {k: v for k, v in node.items() if k in fields or k == "id"})

    def _debug_token(self, request: Recorded) -> Reply:
        if self.debug_token_refused:
            return _error(400, 100, "(#100) You must provide an app access token, or a user access token that is "
                                    "an owner or developer of the app", kind="GraphMethodException")
        valid = _first(request.query, "input_token") == self.token
        data = {"app_id": "1234567890", "type": self.token_type, "application": "wlb", "expires_at": self.expires_at,
                "is_valid": valid, "scopes": self.scopes, "user_id": "555000111"}
        if self.token_type == "PAGE":
            data["profile_id"] = self.page_id
        return Reply(200, {"data": data})

    def _photo(self, request: Recorded) -> Reply:
        if "pages_manage_posts" not in self.scopes:
            return _error(403, 200, "(#200) The permission(s) pages_manage_posts are not available",
                          kind="OAuthException")
        upload = request.files.get("source")
        if upload is None:
            return _error(400, 324, "(#324) Requires upload file", kind="OAuthException")
        data = upload[2]
        if len(data) >= MAX_PHOTO_BYTES or not data.startswith(_MAGIC):
            return _error(400, 100, "(#100) Invalid image: the photo must be a JPEG, PNG or GIF under 10 MB",
                          kind="OAuthException")
        published = (_first(request.form, "published") or "true").lower() != "false"
        caption = _first(request.form, "caption") or ""
        photo_id = self._id()
        self.photos[photo_id] = {"data": data, "mime": upload[1], "alt": _first(request.form, "alt_text_custom"),
                                 "caption": caption, "published": published, "post_id": None}
        if not published:
            return Reply(200, {"id": photo_id})
        duplicate = self._duplicate(caption)
        if duplicate:
            del self.photos[photo_id]
            return duplicate
        post = self._post(caption, [photo_id])
        self.photos[photo_id]["post_id"] = post["id"]
        return Reply(200, {"id": photo_id, "post_id": post["id"]})

    def _feed(self, request: Recorded) -> Reply:
        if "pages_manage_posts" not in self.scopes:
            return _error(403, 200, "(#200) The permission(s) pages_manage_posts are not available")
        message = _first(request.form, "message") or ""
        attached = []
        for index in range(len(request.form)):
            raw = _first(request.form, f"attached_media[{index}]")
            if raw is None:
                break
            try:
                photo_id = str(json.loads(raw)["media_fbid"])
            except (ValueError, KeyError, TypeError):
                return _error(400, 100, "(#100) param attached_media must be an array of objects with media_fbid")
            photo = self.photos.get(photo_id)
            if photo is None or photo["published"] or photo["post_id"]:
                return _error(400, 100, f"(#100) Photo {photo_id} cannot be attached: it does not exist, is "
                                        f"published, or is attached to another post")
            attached.append(photo_id)
        if not message and not attached:
            return _error(400, 100, "(#100) Missing message or attachment")
        duplicate = self._duplicate(message)
        if duplicate:
            return duplicate
        post = self._post(message, attached)
        for photo_id in attached:
            self.photos[photo_id]["post_id"] = post["id"]
        return Reply(200, {"id": post["id"]})

    def _list(self, request: Recorded) -> Reply:
        limit = max(1, min(int(_first(request.query, "limit") or 25), 100))
        start = int(base64.b64decode(_first(request.query, "after") or "MA==").decode() or 0)
        fields = (_first(request.query, "fields") or "id,message,created_time").split(",")
        since = _first(request.query, "since")  # time-based paging (docs/graph-api/results): a Unix timestamp
        newest = [p for p in reversed(self.posts)
                  if not since or datetime.strptime(p["created_time"], "%Y-%m-%dT%H:%M:%S%z").timestamp() >= int(since)]
        page = newest[start:start + limit]
        data = [{k: v for k, v in p.items() if k in fields} for p in page]
        paging: dict = {}
        if page:
            paging["cursors"] = {"before": base64.b64encode(str(start).encode()).decode(),
                                 "after": base64.b64encode(str(start + len(page)).encode()).decode()}
            if start + len(page) < len(newest):
                query = {"fields": ",".join(fields), "limit": limit, "after": paging["cursors"]["after"]}
                query |= {"since": since} if since else {}
                paging["next"] = f"https://graph.facebook.com{request.path}?{urlencode(query)}"
        return Reply(200, {"data": data, "paging": paging} if paging else {"data": data})

    # ---- state -------------------------------------------------------------------------------

    def _delete(self, post_id: str) -> Reply:
        """DELETE /{post-id} (Pages API posts guide, "Delete a post") → {"success": true}; an id that is not one of
        the Page's posts (or was deleted) is Graph's code 100 / subcode 33 "does not exist" error."""
        post = next((p for p in self.posts if p["id"] == post_id), None)
        if post is None:
            return _no_object(post_id)
        self.posts.remove(post)
        self.deleted.append(post_id)
        return Reply(200, {"success": True})

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def _post(self, message: str, photos: list[str], created_at: datetime | None = None) -> dict:
        post_id = f"{self.page_id}_{self._id()}"
        moment = (created_at or self.clock()).astimezone(UTC)
        post = {"id": post_id, "message": message, "created_time": moment.strftime("%Y-%m-%dT%H:%M:%S+0000"),
                "permalink_url": f"https://www.facebook.com/{self.page_id}/posts/{post_id.split('_')[1]}",
                "photos": photos}
        if not message:
            del post["message"]  # Graph leaves out a field that has no value
        self.posts.append(post)
        return post

    def _duplicate(self, message: str) -> Reply | None:
        """506: the same text as the Page's latest post."""
        if message and self.posts and self.posts[-1].get("message") == message:
            return _error(400, 506, "(#506) Duplicate status message", kind="OAuthException")
        return None
