"""Calls to Flickr's REST API (JSON format), its error codes, and the hourly call budget.

Flickr answers failures with HTTP 200 and {"stat": "fail", "code": N, "message": "..."}
(flickr.com/services/api/response.json.html); codes are per method except the shared ones
(100 invalid API key, 105 service unavailable). The key allows 3,600 calls an hour and Flickr
sends no rate-limit headers (flickr.com/services/developer/api), so we count calls ourselves.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from core.bounds import as_int
from core.errors import NotFound, PlatformError
from core.http import Http
from core.settings import ChannelSettings, Settings

HOURLY_LIMIT = 3600
DEFAULT_BUDGET = 3000  # leaves room for other runs and tools that share the key
INVALID_KEY = 100
UNAVAILABLE = 105
PHOTO_NOT_FOUND = 1  # flickr.photos.getInfo: "invalid or not viewable by the calling user"


class FlickrFailure(PlatformError):
    """Flickr answered stat=fail; `code` is Flickr's error code."""

    def __init__(self, message: str, code: int | None):
        super().__init__(message)
        self.code = code


class FlickrAPI:
    """flickr.photos.search and flickr.photos.getInfo with an API key; never more than `budget` calls an hour."""

    def __init__(self, http: Http, base_url: str, api_key: str, *, key_env: str | None, budget: int = DEFAULT_BUDGET,
                 clock: Callable[[], float] = time.monotonic):
        self.http = http
        self.endpoint = base_url.rstrip("/") + "/"  # the documented endpoint ends with a slash
        self.api_key = api_key
        self.key_env = key_env
        self.budget = budget
        self._clock = clock
        self._calls: deque[float] = deque()

    def _spend(self, method: str) -> None:
        """Count one call; refuse once this process has used its hourly budget."""
        now = self._clock()
        while self._calls and now - self._calls[0] >= 3600:
            self._calls.popleft()
        if len(self._calls) >= self.budget:
            raise PlatformError(f"Flickr: {len(self._calls)} API calls in the last hour reached wlb's budget of "
                                f"{self.budget} (Flickr allows {HOURLY_LIMIT:,} an hour per key); {method} not sent, "
                                f"the rest is collected on a later run")
        self._calls.append(now)

    def call(self, method: str, **params: Any) -> dict:
        """One REST call; return the body of a stat=ok answer, raise FlickrFailure for stat=fail."""
        self._spend(method)
        query = {"method": method, "api_key": self.api_key, "format": "json", "nojsoncallback": "1"}
        query |= {name: str(value) for name, value in params.items() if value is not None}
        # A body cut short is retried by Http like a 5xx (issue 7); nesting too deep is an HttpError at once.
        response, body = self.http.request_json("GET", self.endpoint, params=query)
        if not response.is_success:
            raise PlatformError(f"Flickr answered {response.status_code} {response.reason_phrase} to {method}; "
                                f"check base_url or try again later")
        if not isinstance(body, dict) or body.get("stat") not in ("ok", "fail"):
            raise PlatformError(f"Flickr answered {method} with something that is not a Flickr JSON response; "
                                f"check base_url")
        if body["stat"] == "ok":
            return body
        code, message = as_int(body.get("code")), " ".join(str(body.get("message") or "no message").split())[:200]
        if code == INVALID_KEY:
            raise FlickrFailure(f"Flickr rejected the API key in ${self.key_env} ({message}); put a valid key there "
                                f"(https://www.flickr.com/services/apps/create/)", code)
        if code == UNAVAILABLE:
            raise FlickrFailure(f"Flickr's API is unavailable right now ({message}); try again later", code)
        raise FlickrFailure(f"Flickr refused {method} (code {code}: {message})", code)

    def search(self, tag: str, *, sort: str, per_page: int, extras: str, page: int = 1,
               min_upload_date: int | None = None, max_upload_date: int | None = None) -> tuple[list[dict], int]:
        """One page of public photos tagged `tag`: (photos, number of pages)."""
        body = self.call("flickr.photos.search", tags=tag, sort=sort, media="photos", extras=extras,
                         per_page=per_page, page=page, min_upload_date=min_upload_date,
                         max_upload_date=max_upload_date)
        photos = body.get("photos")
        listed = photos.get("photo") if isinstance(photos, dict) else None
        if not isinstance(listed, list):
            raise PlatformError("Flickr answered flickr.photos.search without a photo list")
        return [p for p in listed if isinstance(p, dict)], as_int(photos.get("pages")) or 0

    def photo_info(self, photo_id: str) -> dict:
        """flickr.photos.getInfo; NotFound if the photo is gone or no longer public."""
        try:
            return self.call("flickr.photos.getInfo", photo_id=photo_id)
        except FlickrFailure as exc:
            if exc.code == PHOTO_NOT_FOUND:
                raise NotFound(f"Flickr photo {photo_id} not found") from None
            raise


def probe(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    """`wlb doctor`: flickr.test.echo accepts the API key."""
    answer = http.get_json(channel.base_url or "", params={"method": "flickr.test.echo", "api_key": token or "",
                                                           "format": "json", "nojsoncallback": "1"})
    if not isinstance(answer, dict) or answer.get("stat") != "ok":
        message = answer.get("message") if isinstance(answer, dict) else "not a Flickr answer"
        raise PlatformError(f"Flickr refused the API key in ${channel.token_env} ({message}); "
                            "check the key at flickr.com/services/apps")
    return "reachable; API key accepted"
