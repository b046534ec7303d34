"""Endpoint calls, status-code mapping and pagination for Mastodon-compatible servers.

Used by the Mastodon and Pixelfed collectors and publishers (https://docs.joinmastodon.org/methods/).
Pixelfed's differences, read in its source (https://github.com/pixelfed/pixelfed, app/Http/Controllers/Api/
ApiV1Controller.php): a token is needed even to read, a hashtag timeline has no Link header, and a repeated
Idempotency-Key is answered 400 "Duplicate idempotency key.".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from core.errors import NotCreated, NotFound, PlatformError
from core.http import Http, JsonAnswer
from core.settings import ChannelSettings, Settings

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([a-z]+)"?')


def parse_link_header(value: str | None) -> dict[str, str]:
    """RFC 8288 Link header → {rel: url}."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


def link_cursor(links: dict[str, str], rel: str, name: str) -> str | None:
    """The paging id a Link (rel "next": max_id, "prev": min_id) carries; None when the server gave no such link.

    Only the id is taken: the request goes to our own instance's path, never to a URL the server chose.
    """
    if rel not in links:
        return None
    values = parse_qs(urlsplit(links[rel]).query).get(name) or [""]
    value = values[0]
    return value if value and len(value) <= 64 and value.isprintable() else None


class DuplicateIdempotencyKey(PlatformError):
    """Pixelfed's answer to a repeated Idempotency-Key: the post was already made."""


class MastodonAPI:
    """Calls to one instance, with errors a person can act on."""

    def __init__(self, http: Http, base_url: str, token: str | None, *, token_env: str | None = None):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.token_env = token_env

    @property
    def host(self) -> str:
        return httpx.URL(self.base_url).host

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers | (extra or {})

    def _call(self, method: str, path: str, **kwargs: Any) -> JsonAnswer:
        """Send one API call and parse its JSON body: a GET whose body is cut short is retried by Http (issue 7)."""
        url = f"{self.base_url}{path}"
        answer = self.http.request_json(method, url, headers=self._headers(kwargs.pop("headers", None)), **kwargs)
        status = answer.response.status_code
        if status in (401, 403):
            fix = f"put a token with the needed scope in ${self.token_env}" if self.token_env else "configure token_env"
            raise PlatformError(f"{self.host} refused {method} {path} ({status}{_error_text(answer.data)}); {fix}")
        if status == 404:
            raise NotFound(f"{self.host}: {path} not found")
        if status >= 400:
            # A 4xx to a write is a definite no (Mastodon's 422 "Validation failed"): nothing was created.
            error = NotCreated if method != "GET" and status < 500 and status not in (408, 429) else PlatformError
            raise error(f"{self.host} answered {status} to {method} {path}{_error_text(answer.data)}")
        return answer

    def _object(self, method: str, path: str, **kwargs: Any) -> dict:
        """An API call whose answer is documented as one JSON object (a Status, an Instance, a MediaAttachment)."""
        body = self._call(method, path, **kwargs).data
        if not isinstance(body, dict):
            raise PlatformError(f"{self.host} answered {method} {path} with something other than a JSON object")
        return body

    def tag_timeline(self, tag: str, *, limit: int, max_id: str | None = None, min_id: str | None = None,
                     extra: dict[str, str] | None = None) -> tuple[list[dict], dict[str, str]]:
        """One page of GET /api/v1/timelines/tag/:tag; a tag that does not exist is an empty page."""
        params: dict[str, Any] = {"limit": limit} | (extra or {})
        params |= {"max_id": max_id} if max_id else {}
        params |= {"min_id": min_id} if min_id else {}
        try:
            response, statuses = self._call("GET", f"/api/v1/timelines/tag/{tag}", params=params)
        except NotFound:
            return [], {}
        if not isinstance(statuses, list):
            raise PlatformError(f"{self.host}: the tag timeline is not a list of statuses")
        return statuses, parse_link_header(response.headers.get("link"))

    def status(self, status_id: str) -> dict:
        return self._object("GET", f"/api/v1/statuses/{status_id}")

    def instance(self) -> dict:
        return self._object("GET", "/api/v2/instance")

    def domain(self) -> str:
        """The instance's own domain (LOCAL_DOMAIN): v2 `domain`, else v1 `uri`; the API host if it says neither.

        A server that cannot be reached raises: guessing the domain would give local authors the wrong handle.
        """
        for path, field in (("/api/v2/instance", "domain"), ("/api/v1/instance", "uri")):
            try:
                answer = self._call("GET", path).data
            except NotFound:
                continue
            value = answer.get(field) if isinstance(answer, dict) else None
            if isinstance(value, str) and value.strip():
                found = value.strip().lower()
                found = urlsplit(found).netloc if "//" in found else found  # some servers put a URL in v1 `uri`
                if found and len(found) <= 253 and "/" not in found:
                    return found
        return self.netloc

    @property
    def netloc(self) -> str:
        """host[:port] of the API, as ActivityPub domains are written."""
        return urlsplit(self.base_url).netloc.lower()

    def verify_credentials(self) -> dict:
        return self._object("GET", "/api/v1/accounts/verify_credentials")

    def account_statuses(self, account_id: str, *, limit: int = 40) -> list[dict]:
        statuses = self._call("GET", f"/api/v1/accounts/{account_id}/statuses", params={"limit": limit}).data
        return [s for s in statuses if isinstance(s, dict)] if isinstance(statuses, list) else []

    def upload_media(self, data: bytes, mime: str, filename: str, description: str) -> dict:
        files = {"file": (filename, data, mime)}
        return self._object("POST", "/api/v2/media", files=files, data={"description": description})

    def post_status(self, form: dict[str, Any], idempotency_key: str) -> dict:
        try:
            # Not _object: the publisher says "accepted but no status id" for an odd 2xx body.
            return self._call("POST", "/api/v1/statuses", data=form, headers={"Idempotency-Key": idempotency_key}).data
        except PlatformError as exc:
            if "Duplicate idempotency key" in str(exc):
                raise DuplicateIdempotencyKey(str(exc)) from None
            raise

    def delete_status(self, status_id: str) -> bool:
        """DELETE /api/v1/statuses/:id (our own status); True if deleted now, False if it was already gone.

        Mastodon (app/controllers/api/v1/statuses_controller.rb#destroy) finds the id among the token's own
        statuses, discards it and answers 200 with the deleted Status (its source `text`); any other id, or one
        deleted before, is 404 {"error": "Record not found"}. Pixelfed's ApiV1Controller::statusDelete likewise
        looks the id up among the token's profile's statuses. Mastodon allows 30 deletes per 30 minutes
        (docs.joinmastodon.org/api/rate-limits): core/http waits on a 429.
        """
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", status_id or ""):
            raise PlatformError(f"{status_id!r} is not a status id; check the publication row")
        try:
            self._call("DELETE", f"/api/v1/statuses/{status_id}")
        except NotFound:
            return False
        return True

    # ---- replies and threads (the consent stage asks photographers by reply) ----------------------------------

    def search_statuses(self, q: str, *, resolve: bool = True, limit: int = 5) -> list[dict]:
        """GET /api/v2/search?type=statuses: a post's URL → the instance's own copy, fetched if `resolve`.

        Mastodon (app/controllers/api/v2/search_controller.rb) answers 401 "Search queries that resolve remote
        resources are not supported without authentication" to a resolve without a token, and
        {"accounts": [], "statuses": [...], "hashtags": []} otherwise; a URL it cannot fetch is simply no result.
        Pixelfed routes the same path to ApiV2Controller::search (token always needed).
        """
        params = {"q": q, "type": "statuses", "resolve": "true" if resolve else "false", "limit": limit}
        body = self._call("GET", "/api/v2/search", params=params).data
        statuses = body.get("statuses") if isinstance(body, dict) else None
        return [s for s in statuses[:limit] if isinstance(s, dict)] if isinstance(statuses, list) else []

    def context(self, status_id: str) -> list[dict]:
        """The descendants of a status (GET /api/v1/statuses/:id/context), as the token's account may see them.

        Mastodon (app/controllers/api/v1/statuses/contexts_controller.rb) gives the whole reply tree, depth-first,
        up to 4,096 for a signed-in account; Pixelfed (ApiV1Controller::statusContext) only the direct replies, 20 at
        most. 404 when the status is gone or not visible to us.
        """
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", status_id or ""):
            raise PlatformError(f"{status_id!r} is not a status id; check the consent request")
        body = self._call("GET", f"/api/v1/statuses/{status_id}/context").data
        descendants = body.get("descendants") if isinstance(body, dict) else None
        if not isinstance(descendants, list):
            raise PlatformError(f"{self.host} answered the context of {status_id} without a list of replies")
        return [s for s in descendants[:4096] if isinstance(s, dict)]


def _error_text(body: Any) -> str:
    """The server's own explanation ("error" field of its JSON body), when it gave one."""
    error = body.get("error") if isinstance(body, dict) else None
    return f": {' '.join(str(error).split())[:200]}" if error else ""


def api_for(channel: ChannelSettings, http: Http, token: str | None = None) -> MastodonAPI:
    """The API of a channel's instance, with the channel's token (`token` given: that one)."""
    return MastodonAPI(http, channel.base_url or "", token if token is not None else channel.token(),
                       token_env=channel.token_env)


def probe(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    """`wlb doctor`: the instance answers, and the token (if any) is accepted."""
    api = api_for(channel, http, token or "")
    instance = api.instance()
    version = instance.get("version") or "?"
    if not token:
        return f"reachable ({instance.get('domain') or api.host}, version {version}); no token, reading public timelines"
    me = api.verify_credentials()
    return f"reachable (version {version}); authenticated as @{me.get('acct') or me.get('username')}"
