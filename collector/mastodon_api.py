"""Endpoint calls, status-code mapping and pagination for Mastodon-compatible servers.

Used by the Mastodon and Pixelfed collectors and publishers. Pixelfed's deltas are in
../shared/platforms.md §2: token always needed, no Link header, duplicate Idempotency-Key is 400.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from core.errors import NotFound, PlatformError
from core.http import Http, HttpError

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

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base_url}{path}"
        response = self.http.request(method, url, headers=self._headers(kwargs.pop("headers", None)), **kwargs)
        if response.status_code in (401, 403):
            fix = f"put a token with the needed scope in ${self.token_env}" if self.token_env else "configure token_env"
            raise PlatformError(f"{self.host} refused {method} {path} ({response.status_code}"
                                f"{_error_text(response)}); {fix}")
        if response.status_code == 404:
            raise NotFound(f"{self.host}: {path} not found")
        if response.status_code >= 400:
            raise PlatformError(f"{self.host} answered {response.status_code} to {method} {path}{_error_text(response)}")
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the json module follows
            raise PlatformError(f"{self.host} answered {response.request.url.path} with something that is not JSON") from None

    def tag_timeline(self, tag: str, *, limit: int, max_id: str | None = None, min_id: str | None = None,
                     extra: dict[str, str] | None = None) -> tuple[list[dict], dict[str, str]]:
        """One page of GET /api/v1/timelines/tag/:tag; a tag that does not exist is an empty page."""
        params: dict[str, Any] = {"limit": limit} | (extra or {})
        params |= {"max_id": max_id} if max_id else {}
        params |= {"min_id": min_id} if min_id else {}
        try:
            response = self._call("GET", f"/api/v1/timelines/tag/{tag}", params=params)
        except NotFound:
            return [], {}
        statuses = self._json(response)
        if not isinstance(statuses, list):
            raise PlatformError(f"{self.host}: the tag timeline is not a list of statuses")
        return statuses, parse_link_header(response.headers.get("link"))

    def status(self, status_id: str) -> dict:
        return self._json(self._call("GET", f"/api/v1/statuses/{status_id}"))

    def instance(self) -> dict:
        return self._json(self._call("GET", "/api/v2/instance"))

    def domain(self) -> str:
        """The instance's own domain (LOCAL_DOMAIN): v2 `domain`, else v1 `uri`; the API host if it says neither.

        A server that cannot be reached raises: guessing the domain would give local authors the wrong handle.
        """
        for path, field in (("/api/v2/instance", "domain"), ("/api/v1/instance", "uri")):
            try:
                answer = self._json(self._call("GET", path))
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
        return self._json(self._call("GET", "/api/v1/accounts/verify_credentials"))

    def account_statuses(self, account_id: str, *, limit: int = 40) -> list[dict]:
        return self._json(self._call("GET", f"/api/v1/accounts/{account_id}/statuses", params={"limit": limit}))

    def upload_media(self, data: bytes, mime: str, filename: str, description: str) -> dict:
        files = {"file": (filename, data, mime)}
        return self._json(self._call("POST", "/api/v2/media", files=files, data={"description": description}))

    def post_status(self, form: dict[str, Any], idempotency_key: str) -> dict:
        try:
            response = self._call("POST", "/api/v1/statuses", data=form,
                                  headers={"Idempotency-Key": idempotency_key})
        except PlatformError as exc:
            if "Duplicate idempotency key" in str(exc):
                raise DuplicateIdempotencyKey(str(exc)) from None
            raise
        return self._json(response)


def _error_text(response: httpx.Response) -> str:
    """The server's own explanation ("error" field), when it gave one."""
    try:
        body = response.json()
    except (ValueError, HttpError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f": {error}" if error else ""
