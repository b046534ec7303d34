"""Instagram Graph API (Instagram API with Facebook Login): hashtag search, tagged media, content publishing.

Reference: developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference (ig-hashtag,
ig-hashtag/recent-media, ig-user/tags, ig-user/media, ig-user/media_publish, ig-container,
ig-user/content_publishing_limit) and the Graph API error-handling guide. Errors come as
{"error": {"message", "type", "code", "error_subcode", "error_user_msg", "is_transient", "fbtrace_id"}}
(…/instagram-graph-api/reference/error-codes); each becomes one line a person can act on.
The account may query 30 unique hashtags per rolling 7 days (…/instagram-platform/…/hashtag-search):
wlb counts its own searches in data_dir, since Instagram only says so once the budget is spent.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from core.bounds import as_int
from core.safe_text import one_line
from core.errors import ConfigError, NotCreated, NotFound, PlatformError
from core.http import Http
from core.public_media import storage_for
from core.settings import ChannelSettings, Settings

# Graph API v27.0 was introduced 2026-11-04 (developers.facebook.com/docs/graph-api/changelog/versions); a pinned
# version keeps field names stable until we choose to move.
DEFAULT_BASE_URL = "https://graph.facebook.com/v27.0"
HASHTAG_BUDGET = 30  # unique hashtags per rolling 7 days per Instagram account
BUDGET_WINDOW = 7 * 24 * 3600
PAGE_LIMIT = 50  # recent_media returns at most 50 per page
MAX_COLLECT_MINUTES = 360  # recent_media covers 24 hours: four reads a day leave room for a failed run or two
MEDIA_FIELDS = ("id,caption,media_type,media_url,permalink,timestamp,like_count,comments_count,"
                "children{id,media_type,media_url}")
TAG_FIELDS = MEDIA_FIELDS + ",username"  # only the tags edge may ask for the author; hashtag results never say
# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling, Instagram error-codes page).
TOKEN_INVALID = 190
RATE_LIMITED = {4, 17, 32, 613, 80002}  # app, user, page, custom and Instagram business-use-case limits
PERMISSION_CODES = {10} | set(range(200, 300))
PUBLISH_LIMIT_SUBCODE = 2207042  # "reached the maximum number of posts allowed in 24 hours"
NO_SUCH_OBJECT = 100  # with error_subcode 33: the object does not exist or the token cannot see it
_ID = re.compile(r"\d{1,32}")


class GraphError(PlatformError):
    """A Graph API error object, with its codes (kept for callers that branch on them)."""

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None):
        super().__init__(message)
        self.code = code
        self.subcode = subcode


def _wait_hint(headers: Any) -> str:
    """'; access returns in N min' from X-Business-Use-Case-Usage's estimated_time_to_regain_access, if sent."""
    try:
        usage = json.loads(headers.get("x-business-use-case-usage") or "{}")
        minutes = max(int(u.get("estimated_time_to_regain_access") or 0) for v in usage.values() for u in v)
    except (ValueError, TypeError, AttributeError):
        return ""
    return f"; Instagram says access returns in about {minutes} min" if minutes > 0 else ""


def graph_error(body: Any, status: int, what: str, *, token_env: str | None, write: bool, headers: Any = None
                ) -> GraphError:
    """One actionable line for a Graph API error answer."""
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    code, subcode = as_int(error.get("code")), as_int(error.get("error_subcode"))
    said = one_line(error.get("error_user_msg") or error.get("message") or f"HTTP {status}")
    ids = f"code {code}" + (f"/{subcode}" if subcode else "") + (
        f", fbtrace_id {one_line(error['fbtrace_id'], 40)}" if error.get("fbtrace_id") else "")
    if code == TOKEN_INVALID or status == 401:
        return GraphError(f"Instagram refused the token in ${token_env} ({said}; {ids}); put a valid long-lived "
                          f"token there (README: Instagram)", code=code, subcode=subcode)
    if code in PERMISSION_CODES:
        return GraphError(f"Instagram: the token in ${token_env} lacks a permission for {what} ({said}; {ids}); "
                          f"grant instagram_basic, instagram_content_publish, pages_read_engagement (and Instagram "
                          f"Public Content Access for hashtags)", code=code, subcode=subcode)
    if code in RATE_LIMITED or subcode == PUBLISH_LIMIT_SUBCODE:
        return GraphError(f"Instagram rate limit reached on {what} ({said}; {ids}){_wait_hint(headers)}; "
                          f"the rest waits for a later run", code=code, subcode=subcode)
    if code == NO_SUCH_OBJECT and subcode == 33:
        return NotFoundGraph(f"Instagram: {what}: no such object ({ids})", code=code, subcode=subcode)
    # A definite refusal of a write that is not transient created nothing (a container, a publish).
    kind = NotCreatedGraph if write and status < 500 and not error.get("is_transient") else GraphError
    return kind(f"Instagram refused {what}: {said} ({ids})", code=code, subcode=subcode)


class NotFoundGraph(GraphError, NotFound):
    """The object does not exist (or this token may not see it)."""


class NotCreatedGraph(GraphError, NotCreated):
    """A write Instagram refused outright: nothing was created."""


class InstagramAPI:
    """Calls to the Graph API for one Instagram professional account (`ig_user_id`)."""

    def __init__(self, http: Http, base_url: str, token: str | None, ig_user_id: str, *, token_env: str | None = None):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.ig_user_id = ig_user_id
        self.token_env = token_env

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, *, data: dict | None = None) -> dict:
        """One Graph API call; the JSON object it answers, or a GraphError naming what to do."""
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token or ''}"}
        response, body = self.http.request_json(method, f"{self.base_url}{path}", params=params, data=data,
                                                headers=headers)
        what = f"{method} {path}"
        if not response.is_success or (isinstance(body, dict) and isinstance(body.get("error"), dict)):
            raise graph_error(body, response.status_code, what, token_env=self.token_env, write=method != "GET",
                              headers=response.headers)
        if not isinstance(body, dict):
            raise PlatformError(f"Instagram answered {what} with something that is not a Graph API object; "
                                f"check base_url")
        return body

    def _edge(self, path: str, params: dict[str, Any], after: str | None) -> tuple[list[dict], str | None]:
        """One page of an edge: its data and the `after` cursor of the next page (None: the last page)."""
        body = self.call("GET", path, params | ({"after": after} if after else {}))
        data = body.get("data")
        if not isinstance(data, list):
            raise PlatformError(f"Instagram answered GET {path} without a data list")
        paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
        cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
        following = paging.get("next")
        # Only `next` says more exists. The recent_media docs warn "the after cursor value will always be the
        # same for each page", so the cursor is read from `next` itself (only the cursor: the request goes to
        # our base_url, never to a URL the server chose), and cursors.after is the fallback.
        cursor = (parse_qs(urlsplit(following).query).get("after") or [cursors.get("after")])[0] \
            if isinstance(following, str) else None
        ok = isinstance(cursor, str) and 0 < len(cursor) <= 512 and cursor != after
        return [d for d in data if isinstance(d, dict)], cursor if ok else None

    def hashtag_id(self, tag: str) -> str:
        """GET /ig_hashtag_search: the hashtag's node id (static and global)."""
        body = self.call("GET", "/ig_hashtag_search", {"user_id": self.ig_user_id, "q": tag})
        found = body.get("data")
        first = found[0] if isinstance(found, list) and found and isinstance(found[0], dict) else body
        hashtag_id = str(first.get("id") or "")
        if not _ID.fullmatch(hashtag_id):
            raise NotFound(f"Instagram has no hashtag #{tag}")
        return hashtag_id

    def recent_media(self, hashtag_id: str, after: str | None = None) -> tuple[list[dict], str | None]:
        """GET /{hashtag-id}/recent_media: public media of the last 24 hours, in no guaranteed order."""
        return self._edge(f"/{hashtag_id}/recent_media",
                          {"user_id": self.ig_user_id, "fields": MEDIA_FIELDS, "limit": PAGE_LIMIT}, after)

    def tagged_media(self, after: str | None = None) -> tuple[list[dict], str | None]:
        """GET /{ig-user-id}/tags: media in which our account is photo-tagged, with the author's username."""
        return self._edge(f"/{self.ig_user_id}/tags", {"fields": TAG_FIELDS, "limit": PAGE_LIMIT}, after)

    def own_media(self, limit: int = 25) -> list[dict]:
        """Our account's newest media with caption and permalink: how a repost is recognised after a crash."""
        return self._edge(f"/{self.ig_user_id}/media", {"fields": "id,caption,permalink,timestamp", "limit": limit},
                          None)[0]

    def publishing_limit(self) -> tuple[int, int | None]:
        """(posts published in the last 24 h, the allowance) from content_publishing_limit."""
        body = self.call("GET", f"/{self.ig_user_id}/content_publishing_limit", {"fields": "quota_usage,config"})
        data = body.get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        config = first.get("config") if isinstance(first.get("config"), dict) else {}
        usage = as_int(first.get("quota_usage"))
        if usage is None:
            raise PlatformError("Instagram answered content_publishing_limit without quota_usage")
        return usage, as_int(config.get("quota_total"))

    def create_container(self, **fields: str) -> str:
        """POST /{ig-user-id}/media: a container id (an image, a carousel item, or the carousel itself)."""
        return self._id(self.call("POST", f"/{self.ig_user_id}/media", data=fields), "media")

    def container_status(self, container_id: str) -> str:
        """The container's status_code: IN_PROGRESS, FINISHED, PUBLISHED, ERROR or EXPIRED."""
        body = self.call("GET", f"/{container_id}", {"fields": "status_code,status"})
        return str(body.get("status_code") or "").upper() or "UNKNOWN"

    def publish_container(self, container_id: str) -> str:
        """POST /{ig-user-id}/media_publish: the new media's id. Its refusals are never "nothing was created":
        after a lost answer, Http's retry is refused because the container already went out."""
        try:
            body = self.call("POST", f"/{self.ig_user_id}/media_publish", data={"creation_id": container_id})
        except NotCreatedGraph as exc:
            raise GraphError(str(exc), code=exc.code, subcode=exc.subcode) from None
        return self._id(body, "media_publish")

    def permalink(self, media_id: str) -> str | None:
        """Our media's permalink, if Instagram gives it."""
        link = self.call("GET", f"/{media_id}", {"fields": "permalink"}).get("permalink")
        return link if isinstance(link, str) and link.startswith("https://") else None

    def me(self) -> dict:
        return self.call("GET", f"/{self.ig_user_id}", {"fields": "id,username"})

    @staticmethod
    def _id(body: dict, what: str) -> str:
        value = str(body.get("id") or "")
        if not _ID.fullmatch(value):
            raise PlatformError(f"Instagram accepted {what} but sent back no id; check the account by hand")
        return value


class HashtagLedger:
    """The hashtags this account searched and when, kept in data_dir: ids are cached, the 7-day budget counted."""

    def __init__(self, path: Path, *, budget: int = HASHTAG_BUDGET, clock: Callable[[], float] = time.time):
        self.path = path
        self.budget = budget
        self.clock = clock

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        tags = data.get("tags") if isinstance(data, dict) else None
        return {t: v for t, v in tags.items() if isinstance(v, dict)} if isinstance(tags, dict) else {}

    def _save(self, tags: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"tags": tags}, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.path)

    def recent(self) -> dict[str, float]:
        """Hashtag → when it was last used, for those inside the rolling window."""
        now = self.clock()
        used = {t: float(v.get("used") or 0) for t, v in self._load().items()}
        return {t: at for t, at in used.items() if now - at < BUDGET_WINDOW}

    def use(self, tag: str, search: Callable[[str], str]) -> str:
        """The hashtag's id, searched if not cached; refuse with one line when a new tag would pass the budget."""
        tags, recent = self._load(), self.recent()
        if tag not in recent and len(recent) >= self.budget:
            oldest = min(recent.values())
            days = max(1, round((oldest + BUDGET_WINDOW - self.clock()) / 86400))
            raise PlatformError(f"Instagram: #{tag} not searched: this account used {len(recent)} of its "
                                f"{self.budget} unique hashtags in the last 7 days (Instagram's limit); a slot frees "
                                f"in about {days} day(s), or list fewer hashtags")
        entry = dict(tags.get(tag) or {})
        hashtag_id = str(entry.get("id") or "")
        if not _ID.fullmatch(hashtag_id):
            # Counted before it is asked: Instagram counts the query whatever it answers (none, an error, lost).
            tags[tag] = {**entry, "used": self.clock()}
            self._save(tags)
            hashtag_id = search(tag)
        tags[tag] = {"id": hashtag_id, "used": self.clock()}
        self._save(tags)
        return hashtag_id


def ledger_for(channel: ChannelSettings, settings: Settings) -> HashtagLedger:
    """One ledger per Instagram account, whichever channels use it."""
    return HashtagLedger(Path(settings.data_dir) / "instagram" / f"{channel.ig_user_id}-hashtags.json")


def api_for(channel: ChannelSettings, http: Http, token: str | None = None) -> InstagramAPI:
    return InstagramAPI(http, channel.base_url or DEFAULT_BASE_URL, token if token is not None else channel.token(),
                        channel.ig_user_id or "", token_env=channel.token_env)


def probe(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    """`wlb doctor`: the token reads the account; a publishing channel's quota and public storage answer too."""
    api = api_for(channel, http, token or "")
    me = api.me()
    parts = [f"authenticated as @{one_line(me.get('username') or me.get('id'), 60)}"]
    if channel.collect:
        recent = ledger_for(channel, settings).recent()
        parts.append(f"{len(recent)} of {HASHTAG_BUDGET} hashtag searches used this week")
    if channel.publish:
        usage, total = api.publishing_limit()
        parts.append(f"{usage} of {total or '?'} posts used in the last 24 h")
        try:
            storage = storage_for(channel, settings.root)
        except ConfigError as exc:  # an S3 credential variable not set: one doctor line, not a stop
            raise PlatformError(str(exc)) from None
        if storage is None:
            raise PlatformError("publishing needs public storage: set public_media_dir + public_media_base_url, "
                                "or s3_bucket")
        parts.append(storage.check(http))
    return "; ".join(parts)


def advice(channel: ChannelSettings, settings: Settings) -> list[str]:
    """`wlb doctor` warnings: recent_media only reaches 24 hours back, so collection must run more often."""
    every = settings.schedule.collect_every_minutes
    if channel.collect and (every == 0 or every > MAX_COLLECT_MINUTES):
        when = "is off (0)" if every == 0 else f"runs every {every} minutes"
        return [f"schedule.collect_every_minutes {when}: Instagram's hashtag search only returns the last 24 hours, "
                f"so posts are missed when wlb serve collects less often than every {MAX_COLLECT_MINUTES} minutes; "
                f"set it to {MAX_COLLECT_MINUTES} or less (or collect from cron)"]
    return []
