"""Calls to the Graph API for one Facebook Page: photo uploads, feed posts, the Page's own posts, error mapping.

Sources (developers.facebook.com): Photo reference (docs/graph-api/reference/photo: `source` file upload,
`caption`, `published`, `alt_text_custom`, "a photo must be less than 10MB", answer {id, post_id}); Pages API
posts guide (documentation/pages-api/posts: POST /{page-id}/feed, pages_manage_posts and
pages_read_engagement); page/photos ("Uploading an unpublished photo … If you do not publish these photos
within 24 hours, we delete them", "Publishing a multi-photo post" with attached_media[i]={"media_fbid": …});
page/published_posts; Handling Errors (docs/graph-api/guides/error-handling: the error object and its codes);
Rate Limiting (docs/graph-api/overview/rate-limiting: 4, 17, 32, 613, 80001). The version is pinned in the
base URL: v27.0, released 2026-11-04 (https://developers.facebook.com/docs/graph-api/changelog/versions/),
the same version the Instagram channel pins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from core.bounds import as_int
from core.safe_text import one_line
from core.errors import NotCreated, NotFound, PlatformError
from core.http import BlockedAddress, Http, HttpError
from core.settings import ChannelSettings, Settings

GRAPH_VERSION = "v27.0"
DEFAULT_BASE_URL = f"https://graph.facebook.com/{GRAPH_VERSION}"
TOKEN_HELP = "README, 'Facebook Page'"
NEEDED_PERMISSIONS = ("pages_manage_posts", "pages_read_engagement")

# Handling Errors: what each code means and what to do about it.
TOKEN_INVALID = {190, 102}  # OAuthException: expired, revoked or invalid
TOKEN_SUBCODES = {458: "the app was removed from the account that made it", 459: "that account is checkpointed",
                  460: "that account's password changed", 463: "it expired", 464: "that account is unconfirmed",
                  467: "it is invalid"}
RATE_LIMITED = {4, 17, 32, 341, 613, 80001}  # app, user, Page, app-limit, custom and Page-account throttling
TRANSIENT = {1, 2}  # "temporary issue due to downtime": a write may or may not have happened
POLICY_BLOCK = 368  # "temporarily blocked for policies violations"
DUPLICATE_POST = 506  # "Duplicate posts can't be published consecutively"


def _permission_code(code: int | None) -> bool:
    return code in (3, 10) or (code is not None and 200 <= code <= 299)


class GraphError(PlatformError):
    """The Graph API answered with an error object; its code, subcode and trace id are kept for the message."""

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None):
        super().__init__(message)
        self.code = code
        self.subcode = subcode


class GraphRefused(GraphError, NotCreated):
    """A definite no to a write: Facebook created nothing."""


class DuplicatePost(GraphRefused):
    """Facebook refused the post as a repeat of the Page's previous one: it may be ours, made before a crash."""


class RateLimited(GraphError):
    """Facebook throttles this app or Page; wlb sends it nothing more this run."""


class RateLimitedWrite(RateLimited, GraphRefused):
    """A write refused by throttling: nothing was created, the item waits for a later run."""


class _NotFound(GraphError, NotFound):
    """The Page (or post) does not exist, or this token cannot see it."""


class FacebookAPI:
    """One Page, with its Page access token."""

    def __init__(self, http: Http, base_url: str, page_id: str, token: str | None, *, token_env: str | None = None):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.page_id = page_id
        self.token = token
        self.token_env = token_env
        self._throttled: str | None = None  # the rate-limit message: once throttled, stop for this run

    def _call(self, method: str, path: str, *, params: dict | None = None, data: dict | None = None,
              files: dict | None = None, retry: bool = True) -> dict:
        """One Graph call; the answer's JSON object, or the error object mapped to a GraphError."""
        if self._throttled:  # nothing is sent, so a write is a definite "not created"
            raise (RateLimited if method == "GET" else RateLimitedWrite)(self._throttled)
        # The token goes in a header, never in a URL that could reach a log.
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response, body = self.http.request_json(method, f"{self.base_url}{path}", params=params, data=data,
                                                files=files, headers=headers, retry=retry)
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code >= 400 or error is not None:
            raise self._error(method, path, response.status_code, error if isinstance(error, dict) else {})
        if not isinstance(body, dict):
            raise PlatformError(f"Facebook answered {method} {path} with something other than a JSON object; "
                                f"check base_url")
        return body

    def _error(self, method: str, path: str, status: int, error: dict) -> GraphError:
        """One line a person can act on, from the Graph error object (message, code, error_subcode, fbtrace_id)."""
        code, subcode = as_int(error.get("code")), as_int(error.get("error_subcode"))
        ids = ", ".join(f"{k} {v}" for k, v in (("code", code), ("subcode", subcode),
                                                ("fbtrace_id", one_line(error.get("fbtrace_id"), 40))) if v)
        said = f"Facebook refused {method} {path} ({one_line(error.get('message')) or f'HTTP {status}'}; {ids or 'no code'})"
        token = f"the Page token in ${self.token_env}" if self.token_env else "the Page token"
        write = method != "GET"
        if code in TOKEN_INVALID:
            why = TOKEN_SUBCODES.get(subcode or 0, "it expired or was revoked")
            return (GraphRefused if write else GraphError)(
                f"{said}: {token} is no longer valid ({why}); make a new one ({TOKEN_HELP})", code=code, subcode=subcode)
        if _permission_code(code):
            return (GraphRefused if write else GraphError)(
                f"{said}: {token} lacks a permission; it needs {' and '.join(NEEDED_PERMISSIONS)}, made by someone "
                f"who can create content on the Page ({TOKEN_HELP})", code=code, subcode=subcode)
        if code in RATE_LIMITED:
            self._throttled = (f"{said}: Facebook is throttling this app or Page; wlb sends it nothing more this run, "
                               f"try again in an hour")
            return (RateLimitedWrite if write else RateLimited)(self._throttled, code=code, subcode=subcode)
        if code == DUPLICATE_POST:
            return DuplicatePost(f"{said}: the same text as the Page's previous post", code=code, subcode=subcode)
        if code == POLICY_BLOCK:
            return (GraphRefused if write else GraphError)(
                f"{said}: Facebook has blocked this action for now; wait, and check the Page's Support Inbox",
                code=code, subcode=subcode)
        if status == 404 or (code == 100 and subcode == 33):  # "Object with ID … does not exist … or permissions"
            return (GraphRefused if write else _NotFound)(f"{said}: check page_id, and that the token belongs to "
                                                          f"that Page", code=code, subcode=subcode)
        if write and code is not None and code not in TRANSIENT and 400 <= status < 500:
            return GraphRefused(said, code=code, subcode=subcode)
        return GraphError(f"{said}; try again later" if code in TRANSIENT or status >= 500 else said,
                          code=code, subcode=subcode)

    def page(self) -> dict:
        """The Page's id and name."""
        return self._call("GET", f"/{self.page_id}", params={"fields": "id,name"})

    def debug_token(self) -> dict:
        """What the token is (type, Page, scopes): GET /debug_token with the token inspecting itself."""
        return self._call("GET", "/debug_token", params={"input_token": self.token or ""}).get("data") or {}

    def upload_unpublished(self, data: bytes, mime: str, alt: str) -> str:
        """An unpublished photo for a multi-photo post; its id. Retried freely: Facebook deletes unused ones in 24 h."""
        body = self._call("POST", f"/{self.page_id}/photos", data=_form(published="false", alt_text_custom=alt),
                          files={"source": ("photo" + _EXT.get(mime, ".jpg"), data, mime)})
        return _id(body, "id", "the photo upload")

    def post_photo(self, data: bytes, mime: str, alt: str, caption: str) -> str:
        """A one-photo post; its post id. Never resent: a lost answer may hide a post already made."""
        body = self._post_once(f"/{self.page_id}/photos", data=_form(caption=caption, published="true",
                                                                      alt_text_custom=alt),
                               files={"source": ("photo" + _EXT.get(mime, ".jpg"), data, mime)})
        return _id(body, "post_id", "the photo post")

    def post_feed(self, message: str, photo_ids: list[str]) -> str:
        """A feed post with these unpublished photos attached, in order; its post id. Never resent."""
        form = {"message": message} | {f"attached_media[{i}]": json.dumps({"media_fbid": photo})
                                       for i, photo in enumerate(photo_ids)}
        return _id(self._post_once(f"/{self.page_id}/feed", data=form), "id", "the feed post")

    def _post_once(self, path: str, **body: Any) -> dict:
        """A call that creates a post: sent once, and a missing answer said to be what it is, a post in doubt."""
        try:
            return self._call("POST", path, retry=False, **body)
        except HttpError as exc:
            if isinstance(exc, BlockedAddress):
                raise
            if exc.status == 429:  # refused before anything was made
                self._throttled = f"Facebook answered 429 to POST {path}: wlb sends it nothing more this run"
                raise RateLimitedWrite(self._throttled) from None
            raise PlatformError(f"Facebook did not answer POST {path} ({exc}); the post may have been made: the next "
                                f"run looks for it on the Page before trying again") from None

    def delete_post(self, post_id: str) -> bool:
        """DELETE /{post-id} with the Page token (Pages API posts guide, "Delete a post"; needs pages_manage_posts)
        → {"success": true}. True if deleted now; False if Graph says there is no such object (code 100, subcode
        33: deleted already, or the token cannot see it).
        """
        if not _POST_ID.fullmatch(post_id or ""):
            raise PlatformError(f"{post_id!r} is not a Facebook post id; check the publication row")
        try:
            body = self._call("DELETE", f"/{post_id}")
        except GraphError as exc:
            if exc.code == 100 and exc.subcode == 33:
                return False
            raise
        if body.get("success") is not True:
            raise PlatformError(f"Facebook answered DELETE /{post_id} without success; check the Page")
        return True

    def own_posts(self, *, since: datetime | None = None, page_size: int = 25, max_pages: int = 4) -> Iterator[dict]:
        """The Page's published posts, newest first (id, message, created_time, permalink_url), made since `since`.

        `since` is Graph's time-based paging bound, a Unix timestamp (docs/graph-api/results).
        """
        params: dict[str, Any] = {"fields": "id,message,created_time,permalink_url", "limit": page_size}
        params |= {"since": int(since.timestamp())} if since else {}
        for _ in range(max_pages):
            body = self._call("GET", f"/{self.page_id}/published_posts", params=params)
            posts = body.get("data")
            if not isinstance(posts, list) or not posts:
                return
            yield from (p for p in posts if isinstance(p, dict))
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            after = (paging.get("cursors") or {}).get("after") if isinstance(paging.get("cursors"), dict) else None
            # Only the cursor is taken: the next request goes to our own path, never to a URL the answer chose.
            if not paging.get("next") or not isinstance(after, str) or not _CURSOR.fullmatch(after):
                return
            params = params | {"after": after}


_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
_CURSOR = re.compile(r"[A-Za-z0-9_\-=%.]{1,2048}")
_POST_ID = re.compile(r"\d{1,32}(_\d{1,32})?")


def _form(**fields: str) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value}


def _id(body: dict, field: str, what: str) -> str:
    value = str(body.get(field) or "")
    if not _POST_ID.fullmatch(value):
        raise PlatformError(f"Facebook accepted {what} but sent back no usable {field}; check the Page before retrying")
    return value


def post_url(post_id: str) -> str:
    """The post on facebook.com: a Page post id reads "PAGEID_POSTID" (the permalink_url shape)."""
    page, _, post = post_id.partition("_")
    return f"https://www.facebook.com/{page}/posts/{post}" if post else f"https://www.facebook.com/{page}"


def api_for(channel: ChannelSettings, http: Http, token: str | None = None) -> FacebookAPI:
    """The Graph API for a channel's Page, with the channel's token (`token` given: that one)."""
    return FacebookAPI(http, channel.base_url or DEFAULT_BASE_URL, channel.page_id or "",
                       token if token is not None else channel.token(), token_env=channel.token_env)


def probe(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    """`wlb doctor`: the token reads the Page, is a Page token for it, and carries the posting permission."""
    api = api_for(channel, http, token or "")
    page = api.page()
    name = one_line(page.get("name"), 80) or channel.page_id
    try:
        info = api.debug_token()
    except GraphError as exc:  # a Page token inspecting itself is not documented everywhere: say what was not checked
        return f"can read Page {name}; its permissions could not be checked ({exc})"
    kind = one_line(info.get("type"), 40).upper()
    if info.get("is_valid") is False:
        raise PlatformError(f"the token in ${channel.token_env} is no longer valid; make a new Page token ({TOKEN_HELP})")
    if kind and kind != "PAGE":
        raise PlatformError(f"the token in ${channel.token_env} is a {kind.lower()} token; put the Page token there "
                            f"(GET /me/accounts with a user token lists it; {TOKEN_HELP})")
    profile = one_line(info.get("profile_id"), 40)
    if profile and profile != channel.page_id:
        raise PlatformError(f"the token in ${channel.token_env} is for Page {profile}, not page_id {channel.page_id}; "
                            f"use that Page's token or fix page_id")
    scopes = info.get("scopes") if isinstance(info.get("scopes"), list) else None
    missing = [p for p in NEEDED_PERMISSIONS if scopes is not None and p not in scopes]
    if missing:
        raise PlatformError(f"the token in ${channel.token_env} lacks {', '.join(missing)}; make a new Page token "
                            f"with it ({TOKEN_HELP})")
    if scopes is None:
        return f"can read Page {name}; the token did not list its permissions"
    expires = as_int(info.get("expires_at"))
    when = ("never expires" if expires == 0 else
            f"expires {datetime.fromtimestamp(expires, UTC):%Y-%m-%d}" if expires else "expiry unknown")
    return f"can post to Page {name} (Page token, {when}; {', '.join(NEEDED_PERMISSIONS)} granted)"
