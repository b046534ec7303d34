"""Calls to the X API v2: recent search, post lookup, our own timeline, media upload, alt text and posting.

Shapes and scopes from X's OpenAPI document (github.com/xdevplatform/xdk latest-openapi.json, v2.159; server
https://api.x.com). Errors are RFC 7807 problems {"type", "title", "detail", "status"}; an app-only bearer token
asking for a user-context endpoint gets 403 type ".../problems/unsupported-authentication" ("Authenticating with
OAuth 2.0 Application-Only is forbidden for this endpoint", quoted in github.com/plhery/node-twitter-api-v2/issues/475).
Rate limits come as x-rate-limit-limit/-remaining/-reset (unix seconds) and no Retry-After: core/http waits on them.
An OAuth 2.0 user token lasts two hours unless refreshed (docs.x.com/fundamentals/authentication/oauth-2-0/
authorization-code).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

from core.errors import NotCreated, NotFound, PlatformError
from core.http import Http, JsonAnswer
from core.settings import ChannelSettings, Settings
from platforms.x_session import RefreshingToken, StaticToken, session_path

API = "https://api.x.com"
# Twitter's snowflake epoch (ms): an id's top bits are its creation time, so a stored id tells its age.
SNOWFLAKE_EPOCH_MS = 1288834974657
USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")  # schema UserName
NUMERIC_ID = re.compile(r"[0-9]{1,19}")  # schemas TweetId, UserId, MediaId
ALT_TEXT_MAX = 1000  # schema AltText: "<= 1000 characters"
SEARCH_FIELDS = {
    "expansions": "attachments.media_keys,author_id",
    "media.fields": "url,alt_text,width,height,type",
    "tweet.fields": "created_at,possibly_sensitive,lang,entities,author_id,attachments",
    "user.fields": "username,name",
}
APP_ONLY = "unsupported-authentication"
USER_TOKEN_FIX = ("an app-only bearer token can search but not post: put an OAuth 2.0 user-context token "
                  "(scopes tweet.read users.read tweet.write media.write offline.access) in ${env}")


def snowflake_time(value: str) -> datetime | None:
    """When a post id was made, from its top bits; None for something that is not an id."""
    if not NUMERIC_ID.fullmatch(value or ""):
        return None
    return datetime.fromtimestamp(((int(value) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def _problem(body: Any) -> tuple[str, str]:
    """(type, one-line explanation) of an X error body: a problem object, or {"errors": [...]}."""
    if not isinstance(body, dict):
        return "", ""
    kind = str(body.get("type") or "")
    text = body.get("detail") or body.get("title")
    errors = body.get("errors")
    if not text and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        kind = kind or str(errors[0].get("type") or "")
        text = errors[0].get("detail") or errors[0].get("message") or errors[0].get("title")
    return kind, " ".join(str(text or "").split())[:200]


class DuplicatePost(PlatformError):
    """X says we already posted this text: an earlier attempt made it, so the item must not be freed to post again."""


class XAPI:
    """Calls with one token (an OAuth 2.0 user-context token, or an app-only bearer that can only read)."""

    def __init__(self, http: Http, base_url: str, token: str | None, *, token_env: str | None = None,
                 tokens: StaticToken | RefreshingToken | None = None):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens or StaticToken(token)
        self.token_env = token_env or "token_env"
        self._me: dict | None = None

    def _call(self, method: str, path: str, **kwargs: Any) -> JsonAnswer:
        url = f"{self.base_url}{path}"
        answer = self.http.request_json(method, url, headers=self._headers(self.tokens.access()), **kwargs)
        if answer.response.status_code == 401 and self.tokens.can_refresh:  # expired early, or revoked: once more
            answer = self.http.request_json(method, url, headers=self._headers(self.tokens.refresh()), **kwargs)
        status = answer.response.status_code
        if status < 400:
            return answer
        kind, detail = _problem(answer.data)
        said = f" ({status}: {detail})" if detail else f" ({status})"
        if kind.endswith(APP_ONLY):
            raise NotCreated(f"X refused {method} {path}{said}; {USER_TOKEN_FIX.format(env=self.token_env)}")
        if status == 401:
            raise PlatformError(f"X refused the token in ${self.token_env}{said}; it is wrong, revoked or expired "
                                f"(a user token lasts two hours unless refreshed): put a fresh one there")
        if status == 403 and "duplicate content" in detail:  # our identical post exists: not "nothing was made"
            raise DuplicatePost(f"X refused the post as a duplicate of one of our own{said}")
        if status == 403:
            error = NotCreated if method != "GET" else PlatformError
            raise error(f"X refused {method} {path}{said}; check the token's scopes and the app's access level")
        if status == 404:
            raise NotFound(f"X: {path} not found{said}")
        error = NotCreated if method != "GET" and status < 500 and status not in (408, 429) else PlatformError
        raise error(f"X answered {status} to {method} {path}{said}")

    @staticmethod
    def _headers(token: str) -> dict[str, str]:
        return {"Accept": "application/json", "Authorization": f"Bearer {token}"}

    def _object(self, method: str, path: str, **kwargs: Any) -> dict:
        body = self._call(method, path, **kwargs).data
        if not isinstance(body, dict):
            raise PlatformError(f"X answered {method} {path} with something other than a JSON object")
        return body

    def search_recent(self, query: str, *, max_results: int, since_id: str | None = None,
                      until_id: str | None = None, next_token: str | None = None) -> dict:
        """One page of GET /2/tweets/search/recent (the last 7 days, newest first)."""
        params = {"query": query, "max_results": max_results, **SEARCH_FIELDS}
        params |= {k: v for k, v in (("since_id", since_id), ("until_id", until_id), ("next_token", next_token)) if v}
        return self._object("GET", "/2/tweets/search/recent", params=params)

    def lookup(self, post_id: str) -> dict:
        """GET /2/tweets?ids=ID: {"data": [...]} while it exists, {"errors": [...]} once deleted."""
        return self._object("GET", "/2/tweets", params={"ids": post_id, "tweet.fields": "author_id,attachments",
                                                        "expansions": "author_id", "user.fields": "username"})

    def me(self) -> dict:
        """The token's own account (GET /2/users/me): {"id", "username", "name"}; 403 for an app-only token."""
        if self._me is None:
            data = self._object("GET", "/2/users/me").get("data")
            if not isinstance(data, dict) or not NUMERIC_ID.fullmatch(str(data.get("id") or "")):
                raise PlatformError("X answered GET /2/users/me without an account id")
            self._me = data
        return self._me

    def own_posts(self, *, start_time: datetime | None = None, max_results: int = 20) -> list[dict]:
        """Our own latest posts (GET /2/users/:id/tweets), with their attachments, newest first."""
        params: dict[str, Any] = {"max_results": max_results, "tweet.fields": "created_at,attachments"}
        if start_time:
            params["start_time"] = start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = self._object("GET", f"/2/users/{self.me()['id']}/tweets", params=params).get("data")
        return [t for t in data if isinstance(t, dict)] if isinstance(data, list) else []

    def upload_media(self, data: bytes, mime: str) -> str:
        """POST /2/media/upload (one-shot, multipart) → the media id."""
        files = {"media": ("photo", data, mime)}
        body = self._object("POST", "/2/media/upload", files=files,
                            data={"media_category": "tweet_image", "media_type": mime})
        media_id = str((body.get("data") or {}).get("id") or "") if isinstance(body.get("data"), dict) else ""
        if not NUMERIC_ID.fullmatch(media_id):
            raise PlatformError("X accepted the image upload but sent back no media id")
        return media_id

    def set_metadata(self, media_id: str, alt: str, *, sensitive: bool = False) -> None:
        """POST /2/media/metadata: the image's description (at most 1,000 characters) and, for a post marked
        sensitive where it was found, X's sensitive-media warning (schema SensitiveMediaWarning)."""
        metadata: dict[str, Any] = {"alt_text": {"text": alt[:ALT_TEXT_MAX]}} if alt else {}
        if sensitive:
            metadata["sensitive_media_warning"] = {"other": True}
        self._call("POST", "/2/media/metadata", json={"id": media_id, "metadata": metadata})

    def create_post(self, text: str, media_ids: list[str]) -> dict:
        """POST /2/tweets → {"id", "text"} (201)."""
        body: dict[str, Any] = {"text": text}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        # Not retried: X has no idempotency key, so a retry after a lost answer could post twice. The next run
        # looks for the post on our timeline first (publisher/x.py find_existing).
        data = self._object("POST", "/2/tweets", json=body, retry=False).get("data")
        if not isinstance(data, dict) or not NUMERIC_ID.fullmatch(str(data.get("id") or "")):
            raise PlatformError("X accepted the post but sent back no post id; check the account")
        return data

    def delete_post(self, post_id: str) -> bool:
        """DELETE /2/tweets/:id (OpenAPI operationId deletePosts; scopes tweet.read tweet.write users.read) →
        {"data": {"deleted": true}} (schema TweetDeleteResponse); True if deleted now, False if already gone.

        A post that no longer exists is a 404 problem (resource-not-found), or a 200 whose `data.deleted` is false
        with an `errors` entry: either way it is gone.
        """
        if not NUMERIC_ID.fullmatch(post_id or ""):
            raise PlatformError(f"{post_id!r} is not an X post id; check the publication row")
        try:
            body = self._object("DELETE", f"/2/tweets/{post_id}")
        except NotFound:
            return False
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        if data.get("deleted") is True:
            return True
        if body.get("errors"):
            return False
        raise PlatformError(f"X answered DELETE /2/tweets/{post_id} without saying it was deleted; check the account")


def post_url(username: str, post_id: str) -> str:
    return f"https://x.com/{username}/status/{post_id}"


def tokens_for(channel: ChannelSettings, settings: Settings, http: Http, token: str | None
               ) -> StaticToken | RefreshingToken:
    """The channel's token as given, or (client_id set) a refresh token kept fresh in data/sessions/."""
    if not channel.client_id:
        return StaticToken(token)
    secret = os.environ.get(channel.client_secret_env) if channel.client_secret_env else None
    return RefreshingToken(http, f"{channel.base_url or API}/2/oauth2/token", channel.client_id, token or "",
                           session_path(settings.data_dir, channel.client_id), env=channel.token_env or "token_env",
                           client_secret=secret)


def api_for(channel: ChannelSettings, settings: Settings, http: Http) -> XAPI:
    return XAPI(http, channel.base_url or API, None, token_env=channel.token_env,
                tokens=tokens_for(channel, settings, http, channel.token()))


def probe(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    """`wlb doctor`: GET /2/users/me says whose token it is; an app-only token can search but not post."""
    api = XAPI(http, channel.base_url or API, None, token_env=channel.token_env,
               tokens=tokens_for(channel, settings, http, token))
    try:
        me = api.me()
    except NotCreated as exc:  # 403 unsupported-authentication: an app-only bearer token
        if channel.publish:
            raise PlatformError(f"${channel.token_env} holds an app-only bearer token, which cannot post; "
                                f"{USER_TOKEN_FIX.format(env=channel.token_env)}") from exc
        return (f"app-only bearer token: can search, cannot post (publish = false, so that is enough); "
                f"reads budget ${channel.monthly_budget:,.2f} a month")
    handle = me.get("username") if USERNAME.fullmatch(str(me.get("username") or "")) else me["id"]
    note = "; posting also needs the tweet.write and media.write scopes (X does not say which a token has)" \
        if channel.publish else ""
    kept = "refreshed by wlb with its refresh token" if channel.client_id else \
        "it lasts two hours: set client_id to have wlb refresh it"
    budget = f"; reads budget ${channel.monthly_budget:,.2f} a month" if channel.collect else ""
    return f"authenticated as @{handle} (user-context token; {kept}){budget}{note}"
