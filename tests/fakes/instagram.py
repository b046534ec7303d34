"""A fake Instagram Graph API on 127.0.0.1: hashtag search, recent_media, tags, containers, publishing, quota.

Modelled on developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference:
- ig-hashtag-search: GET /ig_hashtag_search?user_id&q → {"data": [{"id": "17843857450040591"}]}; 30 unique
  hashtags per rolling 7 days.
- ig-hashtag/recent-media: media of the last 24 hours only, "not always in chronological order", at most 50 a
  page, no `username` field ("You cannot request the username field"), paging {"cursors": {"after"}, "next"}.
- ig-user/tags: media our account is photo-tagged in, with `username`.
- ig-user/media (POST): image_url (fetched by Instagram with cURL: "must be on a public server"), caption,
  is_carousel_item, media_type=CAROUSEL + children; ig-container: status_code IN_PROGRESS|FINISHED|PUBLISHED|
  ERROR|EXPIRED; ig-user/media_publish: creation_id → {"id"}; ig-user/content_publishing_limit:
  {"data": [{"quota_usage": 2, "config": {"quota_total": 50, "quota_duration": 86400}}]} (official example).
- error-codes: {"error": {"message", "type": "OAuthException", "code", "error_subcode", "is_transient",
  "error_user_title", "error_user_msg", "fbtrace_id"}}.
The fake really fetches image_url over HTTP (a local static server or a local S3) and checks what
Instagram documents for photos: JPEG, under 8 MiB, aspect ratio 4:5 to 1.91:1, at most 1440 px wide.
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import itertools
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from PIL import Image

from tests.fakes.server import FakeServer, Recorded, Reply

VERSION = "v27.0"
TOKEN = "ig-test-token"
IG_USER_ID = "17841400000000001"
USERNAME = "welovebrussels"
MAX_IMAGE_BYTES = 8 * 1024 * 1024


def error(code: int, message: str, *, subcode: int | None = None, status: int = 400, user_msg: str | None = None,
          transient: bool = False) -> Reply:
    body = {"message": message, "type": "OAuthException", "code": code, "is_transient": transient,
            "fbtrace_id": "AbCdEfGh123"}
    if subcode:
        body["error_subcode"] = subcode
    if user_msg:
        body["error_user_msg"] = user_msg
    return Reply(status, {"error": body})


def stamp(moment: datetime) -> str:
    """Instagram's timestamp format: 2017-05-08T23:12:45+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class FakeInstagram(FakeServer):
    """Media added with add_media are found by hashtag (last 24 h) and, when tagged, on our tags edge."""

    def __init__(self, *, now: datetime | None = None, quota_total: int = 50, polls_in_progress: int = 1):
        super().__init__()
        self.now = now or datetime.now(UTC)
        self.quota_total = quota_total
        self.quota_usage = 0
        self.polls_in_progress = polls_in_progress  # status polls answered IN_PROGRESS before FINISHED
        self.hashtags: dict[str, str] = {}
        self.searched: list[str] = []
        self.media: dict[str, dict] = {}  # others' media: id -> record (+ _tags, _tagged_us, _username)
        self.containers: dict[str, dict] = {}
        self.own: list[dict] = []  # our published media, newest last
        self.fetched: list[tuple[str, int, bytes]] = []  # (image_url, status, body) as Instagram fetched them
        self.errors: list[tuple[str, str, Reply]] = []  # (method, path prefix, reply) to answer once
        self.lose_publish_answers = 0  # media_publish calls that publish but whose answer is lost (a 502)
        self._ids = itertools.count(17_900_000_000_000_000)
        self._files: dict[str, bytes] = {}

    @property
    def graph_url(self) -> str:
        """What a channel's base_url points at (like https://graph.facebook.com/v27.0)."""
        return f"{self.base_url}/{VERSION}"

    def _id(self) -> str:
        return str(next(self._ids))

    # ---- state -------------------------------------------------------------------------------------

    def add_media(self, image: bytes | list[bytes], *, age: timedelta = timedelta(hours=1), caption: str =
                  "Grand-Place #welovebrussels", username: str = "jane.doe", tagged: bool = False,
                  media_type: str | None = None, videos: int = 0) -> dict:
        """Someone's public post; `image` a list: a carousel (plus `videos` video children)."""
        with self._lock:
            media_id = self._id()
            images = image if isinstance(image, list) else [image]
            kind = media_type or ("CAROUSEL_ALBUM" if isinstance(image, list) else "IMAGE")
            record = {"id": media_id, "caption": caption, "media_type": kind,
                      "permalink": f"https://www.instagram.com/p/C{media_id[-8:]}/", "timestamp": stamp(self.now - age),
                      "like_count": 3, "comments_count": 0, "_username": username, "_tagged_us": tagged,
                      "_tags": {t.lower() for t in caption.replace("#", " #").split() if t.startswith("#")}}
            if kind == "CAROUSEL_ALBUM":
                children = [{"id": self._id(), "media_type": "IMAGE", "media_url": self._serve(data)} for data in images]
                children += [{"id": self._id(), "media_type": "VIDEO", "media_url": f"{self.base_url}/v.mp4"}
                             for _ in range(videos)]
                record["children"] = {"data": children}
            else:
                record["media_url"] = self._serve(images[0]) if kind == "IMAGE" else f"{self.base_url}/v.mp4"
            self.media[media_id] = record
            return record

    def _serve(self, data: bytes) -> str:
        path = f"/cdn/{self._id()}.jpg"
        self._files[path] = data
        return f"{self.base_url}{path}?oh=signed"

    def fail_next(self, method: str, path_prefix: str, reply: Reply) -> None:  # type: ignore[override]
        """Answer the next matching request with this (Graph error) reply."""
        with self._lock:
            self.errors.append((method, path_prefix, reply))

    def calls(self, path_part: str, method: str = "GET") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_part)]

    # ---- serving -----------------------------------------------------------------------------------

    def dispatch(self, req: Recorded) -> Reply:
        if req.path in self._files:
            return Reply(200, self._files[req.path], content_type="image/jpeg")
        prefix = f"/{VERSION}/"
        if not req.path.startswith(prefix):
            return Reply(404, b"Not Found", content_type="text/plain")
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return error(190, "Invalid OAuth access token - Cannot parse access token", status=400)
        for n, (method, path, reply) in enumerate(self.errors):
            if req.method == method and req.path.startswith(f"/{VERSION}{path}"):
                del self.errors[n]
                return reply
        q = {k: v[0] for k, v in req.query.items()} | {k: v[0] for k, v in req.form.items()}
        parts = req.path[len(prefix):].strip("/").split("/")
        if parts == ["ig_hashtag_search"]:
            return self._search(q)
        node, edge = parts[0], (parts[1] if len(parts) > 1 else None)
        if node == IG_USER_ID:
            return self._user(req.method, edge, q)
        if node in self.hashtags.values() and edge == "recent_media":
            return self._recent(node, q)
        if node in self.containers and edge is None:
            return self._container(node)
        own = next((m for m in self.own if m["id"] == node), None)
        if own is not None and edge is None:
            return Reply(200, {k: own[k] for k in ["id", *self._fields(q, {"caption", "permalink", "timestamp"})]})
        return error(100, f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to "
                          f"missing permissions, or does not support this operation", subcode=33)

    @staticmethod
    def _fields(q: dict[str, str], known: set[str]) -> list[str]:
        asked = [f for f in q.get("fields", "id").replace("{", ",{").split(",") if f and not f.startswith("{")]
        return [f for f in asked if f in known]

    def _search(self, q: dict[str, str]) -> Reply:
        if q.get("user_id") != IG_USER_ID:
            return error(100, "The parameter user_id is required")
        tag = q.get("q", "").lower()
        if tag not in self.searched and len(set(self.searched)) >= 30:
            return error(24, "You have reached the maximum number of hashtags you can query", subcode=2207024)
        self.searched.append(tag)
        self.hashtags.setdefault(tag, self._id())
        return Reply(200, {"data": [{"id": self.hashtags[tag]}]})

    def _shown(self, record: dict, q: dict[str, str], *, username: bool) -> dict:
        fields = q.get("fields", "id")
        out = {k: v for k, v in record.items() if not k.startswith("_") and (k == "id" or k in fields)}
        if "children" in out and "children{" not in fields:
            del out["children"]
        if username:
            out["username"] = record["_username"]
        return out

    def _page(self, found: list[dict], q: dict[str, str], path: str, *, username: bool) -> Reply:
        limit = min(int(q.get("limit") or 25), 50)
        start = int(base64.b64decode(q["after"]).decode()) if q.get("after") else 0
        page = found[start:start + limit]
        body: dict = {"data": [self._shown(r, q, username=username) for r in page]}
        if start + limit < len(found):
            after = base64.b64encode(str(start + limit).encode()).decode()
            body["paging"] = {"cursors": {"after": after},
                              "next": f"{self.graph_url}{path}?after={after}&limit={limit}&access_token=x"}
        return Reply(200, body)

    def _recent(self, hashtag_id: str, q: dict[str, str]) -> Reply:
        if q.get("user_id") != IG_USER_ID:
            return error(100, "The parameter user_id is required")
        if "username" in q.get("fields", "").split(","):
            return error(100, "(#100) Tried accessing nonexisting field (username)")
        tag = "#" + next(t for t, i in self.hashtags.items() if i == hashtag_id)
        window = self.now - timedelta(hours=24)
        found = [r for r in self.media.values() if tag in r["_tags"]
                 and datetime.fromisoformat(r["timestamp"]) >= window]
        random.Random(len(found)).shuffle(found)  # "not always in chronological order"
        return self._page(found, q, f"/{hashtag_id}/recent_media", username=False)

    def _user(self, method: str, edge: str | None, q: dict[str, str]) -> Reply:
        if method == "GET" and edge is None:
            return Reply(200, {"id": IG_USER_ID, "username": USERNAME})
        if method == "GET" and edge == "tags":
            found = sorted((r for r in self.media.values() if r["_tagged_us"]), key=lambda r: r["timestamp"],
                           reverse=True)
            return self._page(found, q, f"/{IG_USER_ID}/tags", username=True)
        if method == "GET" and edge == "content_publishing_limit":
            return Reply(200, {"data": [{"quota_usage": self.quota_usage,
                                         "config": {"quota_total": self.quota_total, "quota_duration": 86400}}]})
        if method == "GET" and edge == "media":
            return self._page(list(reversed(self.own)), q, f"/{IG_USER_ID}/media", username=False)
        if method == "POST" and edge == "media":
            return self._create(q)
        if method == "POST" and edge == "media_publish":
            return self._publish(q)
        return error(100, f"Unknown path components: /{edge}")

    def _fetch(self, url: str) -> tuple[bytes | None, str | None]:
        """Instagram cURLs the image: what it got, or why it could not use it."""
        try:
            response = httpx.get(url, timeout=10)
        except httpx.HTTPError as exc:
            return None, f"could not fetch ({exc})"
        self.fetched.append((url, response.status_code, response.content))
        if response.status_code != 200:
            return None, f"fetching answered {response.status_code}"
        data = response.content
        if len(data) > MAX_IMAGE_BYTES:
            return None, "The image is too large to download. It should be less than 8 MiB."
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
        except OSError:
            return None, "not an image"
        if fmt != "JPEG":
            return None, "Only JPEG images are supported"
        if not 0.8 - 1e-3 <= width / height <= 1.91 + 1e-3:
            return None, f"The aspect ratio {width}x{height} is not supported"
        if width > 1440:
            return None, f"{width} px wide, more than 1440"
        return data, None

    def _create(self, q: dict[str, str]) -> Reply:
        cid = self._id()
        if q.get("media_type") == "CAROUSEL":
            children = [c for c in q.get("children", "").split(",") if c]
            if not 2 <= len(children) <= 10 or any(c not in self.containers for c in children):
                return error(100, "Invalid children", subcode=2207019)
            self.containers[cid] = {"caption": q.get("caption", ""), "children": children, "status": "FINISHED",
                                    "polls": 0, "carousel": True}
            return Reply(200, {"id": cid})
        if not q.get("image_url"):
            return error(100, "The parameter image_url is required")
        data, problem = self._fetch(q["image_url"])
        if problem:
            return error(36000 if "8 MiB" in problem else 9004, problem, subcode=2207004 if "8 MiB" in problem
                         else 2207052, user_msg=problem)
        self.containers[cid] = {"caption": q.get("caption", ""), "image": data, "status": "IN_PROGRESS", "polls": 0,
                                "item": q.get("is_carousel_item") == "true", "alt_text": q.get("alt_text")}
        return Reply(200, {"id": cid})

    def _container(self, cid: str) -> Reply:
        container = self.containers[cid]
        if container["status"] == "IN_PROGRESS":
            container["polls"] += 1
            if container["polls"] > self.polls_in_progress:
                container["status"] = "FINISHED"
        return Reply(200, {"id": cid, "status_code": container["status"]})

    def _publish(self, q: dict[str, str]) -> Reply:
        cid = q.get("creation_id", "")
        container = self.containers.get(cid)
        if container is None or container.get("item"):
            return error(100, "Invalid creation_id", subcode=2207027)
        if self.quota_usage >= self.quota_total:
            return error(9, "Application request limit reached", subcode=2207042,
                         user_msg="You reached the maximum number of posts that is allowed to be published by "
                                  "Content Publishing API.")
        if container["status"] == "PUBLISHED":
            return error(9, "The media has already been published", subcode=2207006)
        if container["status"] != "FINISHED":
            return error(9007, "Media ID is not available", subcode=2207027,
                         user_msg="The media is not ready for publishing, please wait for a moment")
        container["status"] = "PUBLISHED"
        self.quota_usage += 1
        media_id = self._id()
        self.own.append({"id": media_id, "caption": container["caption"], "timestamp": stamp(self.now),
                         "permalink": f"https://www.instagram.com/p/W{media_id[-8:]}/", "container": cid})
        if self.lose_publish_answers:
            self.lose_publish_answers -= 1
            return Reply(502, {"error": {"message": "Bad gateway", "code": 1, "is_transient": True}})
        return Reply(200, {"id": media_id})



class _Files(http.server.SimpleHTTPRequestHandler):
    """Plain static files under /wlb/, like a web server's alias for the public folder."""

    def translate_path(self, path: str) -> str:
        return super().translate_path(path.removeprefix("/wlb"))

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence stderr logging
        pass


class StaticFolder:
    """The community's web server: serves a folder over HTTP on 127.0.0.1 (what public_media_base_url points at)."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(folder)))
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = f"{self.origin}/wlb"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> StaticFolder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
