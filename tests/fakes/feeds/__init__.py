"""Feed fixtures (RSS 2.0, Atom + Media RSS, blog <img>, Pixelfed profile, malformed) and a server for them.

The fixture files write `{base}` where the server's origin goes, so the images they name can be
served by the same fake. Names not found here come from the real-feed corpus in tests/fixtures/feeds/.
The server answers conditional GETs the way HTTP caches expect (RFC 9110 §13): If-None-Match wins
over If-Modified-Since; a match is a bodiless 304. For feeds Mastodon generates, it also answers
GET /api/v1/statuses/:id like a Mastodon instance (Status entity, docs entities/Status.md; 404
`{"error": "Record not found"}` for a deleted or unknown status).
"""

from __future__ import annotations

import hashlib
from email.utils import format_datetime
from datetime import UTC, datetime
from pathlib import Path

from tests.fakes.server import FakeServer, Recorded, Reply

FIXTURES = Path(__file__).parent
CORPUS = Path(__file__).parents[2] / "fixtures" / "feeds"
FEED_TYPES = {".atom": "application/atom+xml; charset=utf-8", ".xml": "application/rss+xml; charset=utf-8"}


def fixture(name: str, base: str) -> str:
    """A fixture's text with the origin filled in."""
    path = FIXTURES / name if (FIXTURES / name).exists() else CORPUS / name
    return path.read_text(encoding="utf-8").replace("{base}", base)


class FakeFeeds(FakeServer):
    """Serves feeds under /feeds/<name> (with ETag and Last-Modified) and images anywhere else."""

    def __init__(self, *, latency: float = 0.0):
        super().__init__(latency=latency)
        self.feeds: dict[str, dict] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.statuses: dict[str, dict] = {}

    def add_feed(self, name: str, body: str | bytes | None = None, *, content_type: str | None = None,
                 etag: bool = True, last_modified: datetime | None = datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
                 conditional: bool = True) -> str:
        """Serve a fixture (or the given body) at /feeds/<name>; return its URL. conditional=False ignores validators."""
        data = body if body is not None else fixture(name, self.base_url)
        data = data.encode() if isinstance(data, str) else data
        with self._lock:
            self.feeds[name] = {
                "body": data, "type": content_type or FEED_TYPES.get(Path(name).suffix, "application/xml"),
                "etag": f'"{hashlib.sha256(data).hexdigest()[:16]}"' if etag else None,
                "modified": format_datetime(last_modified, usegmt=True) if last_modified else None,
                "conditional": conditional,
            }
        return f"{self.base_url}/feeds/{name}"

    def add_file(self, path: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Serve bytes at a path (as named in a fixture, e.g. /img/kanaal.jpg); return the URL."""
        with self._lock:
            self.files[path] = (data, content_type)
        return f"{self.base_url}{path}"

    def add_status(self, status_id: str, username: str, media_urls: tuple[str, ...] = ()) -> dict:
        """A public status of a local account, as GET /api/v1/statuses/:id serializes it (fields we read)."""
        status = {"id": status_id, "uri": f"{self.base_url}/users/{username}/statuses/{status_id}",
                  "url": f"{self.base_url}/@{username}/{status_id}", "visibility": "public",
                  "account": {"id": "1", "username": username, "acct": username,
                              "url": f"{self.base_url}/@{username}"},
                  "media_attachments": [{"id": str(n), "type": "image", "url": u, "remote_url": None}
                                        for n, u in enumerate(media_urls, 1)]}
        with self._lock:
            self.statuses[status_id] = status
        return status

    def feed_requests(self, name: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == f"/feeds/{name}"]

    def dispatch(self, req: Recorded) -> Reply:
        name = req.path.removeprefix("/feeds/")
        if req.path.startswith("/feeds/") and name in self.feeds:
            feed = self.feeds[name]
            headers = {k: v for k, v in (("ETag", feed["etag"]), ("Last-Modified", feed["modified"])) if v}
            if feed["conditional"] and self._not_modified(req, feed):
                return Reply(304, b"", headers, content_type=feed["type"])
            return Reply(200, feed["body"], headers, content_type=feed["type"])
        if req.path.startswith("/api/v1/statuses/"):
            status = self.statuses.get(req.path.rsplit("/", 1)[1])
            return Reply(200, status) if status else Reply(404, {"error": "Record not found"})
        if req.path in self.files:
            data, content_type = self.files[req.path]
            return Reply(200, data, content_type=content_type)
        return Reply(404, b"<html><body>Not Found</body></html>", content_type="text/html")

    @staticmethod
    def _not_modified(req: Recorded, feed: dict) -> bool:
        if "if-none-match" in req.headers:
            return feed["etag"] is not None and req.headers["if-none-match"] == feed["etag"]
        return feed["modified"] is not None and req.headers.get("if-modified-since") == feed["modified"]
