"""A fake Flickr REST API on 127.0.0.1: flickr.photos.search, flickr.photos.getInfo, flickr.test.echo, photo files.

Shapes follow Flickr's JSON format (flickr.com/services/api/response.json.html: failures are HTTP 200
with {"stat": "fail", "code", "message"}) and the records in Flickr-Foundation/flickr-photos-api's
recorded cassettes (extras → dateupload, ownername, pathalias, url_o/width_o/height_o, url_l = "_b"
1024 px, description as {"_content": ...}; ids, dates and licence ids as strings, sizes as numbers).
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime

from PIL import Image

from tests.fakes.server import FakeServer, Recorded, Reply

API_KEY = "flickr-test-key"
# Longest side of each size, and the file suffix (flickr.com/services/api/misc.urls.html); "o" is the original.
# k (2048) and h (1600) are made only from uploads at least that large, with their own secret; they are
# there even when the owner keeps the original to themselves, the common case in real search results.
SIZES = {"k": (2048, "k"), "h": (1600, "h"), "l": (1024, "b"), "c": (800, "c"), "z": (640, "z")}
_OWN_SECRET = {"k", "h"}
_INVALID_KEY = {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}


def _fail(code: int, message: str) -> Reply:
    return Reply(200, {"stat": "fail", "code": code, "message": message})


class FakeFlickr(FakeServer):
    """Photos added with add_photo are searchable by tag and served under /<server>/<id>_<secret>_<size>.jpg."""

    def __init__(self, *, api_key: str = API_KEY, latency: float = 0.0):
        super().__init__(latency=latency)
        self.api_key = api_key
        self.photos: dict[str, dict] = {}  # id -> stored record (all fields; extras filter what is sent)
        self._files: dict[str, tuple[bytes, str | None]] = {}  # path -> (original bytes, size letter or None)
        self._scaled: dict[str, bytes] = {}
        self._deleted: set[str] = set()
        self._next_id = 54_000_000_000
        self._fail_calls: list[tuple[int, str]] = []

    @property
    def rest_url(self) -> str:
        """What a channel's base_url points at (like https://api.flickr.com/services/rest)."""
        return f"{self.base_url}/services/rest"

    def add_photo(self, image: bytes, *, uploaded: datetime, tags: tuple[str, ...] = ("welovebrussels",),
                  owner: str = "12345678@N01", ownername: str = "Jane Doe", pathalias: str = "janedoe",
                  title: str = "Grand-Place", description: str = "", license: str = "4", safety_level: int = 0,
                  originals: bool = True, media: str = "photo", omit: tuple[str, ...] = ()) -> dict:
        """Store a public photo as its owner uploaded it; return the full record. `omit`: fields never sent."""
        with self._lock:
            self._next_id += 7919
            pid, secret, osecret = str(self._next_id), f"{self._next_id:x}"[-10:], f"o{self._next_id:x}"[-10:]
            with Image.open(io.BytesIO(image)) as img:
                width, height = img.size
            record = {"id": pid, "owner": owner, "secret": secret, "server": "65535", "farm": 66, "title": title,
                      "ispublic": 1, "isfriend": 0, "isfamily": 0, "license": license,
                      "description": {"_content": description}, "dateupload": str(int(uploaded.timestamp())),
                      "datetaken": uploaded.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                      "datetakengranularity": 0, "datetakenunknown": "0", "ownername": ownername,
                      "pathalias": pathalias, "tags": " ".join(tags), "safety_level": str(safety_level),
                      "media": media, "media_status": "ready", "_omit": list(omit)}
            if originals:
                record.update(self._size(pid, osecret, "o", image, width, height))
            for letter, (longest, _) in SIZES.items():
                if letter in _OWN_SECRET and max(width, height) < longest:
                    continue
                scale = min(1.0, longest / max(width, height))
                own = f"k{self._next_id:x}"[-10:] if letter in _OWN_SECRET else secret
                record.update(self._size(pid, own, letter, image, round(width * scale), round(height * scale)))
            self.photos[pid] = record
            return record

    def _size(self, pid: str, secret: str, letter: str, image: bytes, width: int, height: int) -> dict:
        suffix = "o" if letter == "o" else SIZES[letter][1]
        path = f"/65535/{pid}_{secret}_{suffix}.jpg"
        self._files[path] = (image, None if letter == "o" else letter)
        return {f"url_{letter}": f"{self.base_url}{path}", f"width_{letter}": width, f"height_{letter}": height}

    def delete_photo(self, photo_id: str) -> None:
        """The owner deleted it (or made it private): gone from search, getInfo answers code 1."""
        with self._lock:
            self._deleted.add(photo_id)

    def fail_next_call(self, code: int, message: str) -> None:
        """Answer the next REST call with stat=fail and this code."""
        with self._lock:
            self._fail_calls.append((code, message))

    def calls(self, method: str | None = None) -> list[Recorded]:
        """REST calls received, optionally only those of one method."""
        rest = [r for r in self.requests if r.path.rstrip("/") == "/services/rest"]
        return [r for r in rest if method is None or r.query.get("method") == [method]]

    # ---- serving --------------------------------------------------------------------------------

    def dispatch(self, req: Recorded) -> Reply:
        if req.path.rstrip("/") == "/services/rest" and req.method == "GET":
            return self._wrap(req, self._rest(req))
        if req.path in self._files:
            return Reply(200, self._file(req.path), content_type="image/jpeg")
        return Reply(404, b"Not Found", content_type="text/plain")

    def _wrap(self, req: Recorded, reply: Reply) -> Reply:
        """The serialization Flickr would use: XML unless format=json, JSONP unless nojsoncallback=1."""
        q = {k: v[0] for k, v in req.query.items()}
        if q.get("format") != "json":
            return Reply(200, b'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">\n</rsp>\n',
                         content_type="text/xml; charset=utf-8")
        if q.get("nojsoncallback") != "1":
            return Reply(200, f"jsonFlickrApi({json.dumps(reply.body)})".encode(), content_type="text/javascript")
        return reply._replace(content_type="application/json")

    def _rest(self, req: Recorded) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        if q.get("api_key") != self.api_key:
            return Reply(200, dict(_INVALID_KEY))
        if self._fail_calls:
            return _fail(*self._fail_calls.pop(0))
        method = q.get("method", "")
        if method == "flickr.photos.search":
            return self._search(q)
        if method == "flickr.photos.getInfo":
            return self._info(q)
        if method == "flickr.test.echo":  # every argument back, as {"name": {"_content": value}}
            return Reply(200, {k: {"_content": v} for k, v in q.items()} | {"stat": "ok"})
        return _fail(112, f'Method "{method}" not found')

    def _visible(self) -> list[dict]:
        return [p for pid, p in self.photos.items() if pid not in self._deleted]

    def _search(self, q: dict[str, str]) -> Reply:
        wanted = {t.strip().lower() for t in q.get("tags", "").split(",") if t.strip()}
        if not wanted and not q.get("text"):
            return _fail(3, "Parameterless searches have been disabled. Please use flickr.photos.getRecent instead.")
        low, high = int(q.get("min_upload_date") or 0), int(q.get("max_upload_date") or 2**40)
        found = [p for p in self._visible() if wanted & set(p["tags"].split())
                 and low <= int(p["dateupload"]) <= high and (q.get("media") != "photos" or p["media"] == "photo")]
        sort = q.get("sort", "date-posted-desc")
        if sort not in ("date-posted-asc", "date-posted-desc"):
            return _fail(999, f"the fake does not sort by {sort}")
        found.sort(key=lambda p: (int(p["dateupload"]), int(p["id"])), reverse=sort.endswith("desc"))
        per_page = min(max(int(q.get("per_page") or 100), 1), 500)
        page = max(int(q.get("page") or 1), 1)
        extras = {e.strip() for e in q.get("extras", "").split(",") if e.strip()}
        shown = [self._with_extras(p, extras) for p in found[(page - 1) * per_page: page * per_page]]
        return Reply(200, {"photos": {"page": page, "pages": math.ceil(len(found) / per_page), "perpage": per_page,
                                      "total": len(found), "photo": shown}, "stat": "ok"})

    @staticmethod
    def _with_extras(photo: dict, extras: set[str]) -> dict:
        """The standard photo fields plus only the extras asked for, under Flickr's (different) names."""
        names = {"license": ["license"], "description": ["description"], "date_upload": ["dateupload"],
                 "date_taken": ["datetaken", "datetakengranularity", "datetakenunknown"],
                 "owner_name": ["ownername"], "path_alias": ["pathalias"], "tags": ["tags"],
                 "safety_level": ["safety_level"], "media": ["media", "media_status"]}
        for letter in ("o", *SIZES):
            names[f"url_{letter}"] = [f"url_{letter}", f"width_{letter}", f"height_{letter}"]
        keep = {"id", "owner", "secret", "server", "farm", "title", "ispublic", "isfriend", "isfamily"}
        keep |= {field for extra in extras for field in names.get(extra, [])}
        return {k: v for k, v in photo.items() if k in keep and k not in photo["_omit"]}

    def _info(self, q: dict[str, str]) -> Reply:
        pid = q.get("photo_id", "")
        photo = self.photos.get(pid)
        if photo is None or pid in self._deleted:
            return _fail(1, f'Photo "{pid}" not found (invalid ID)')
        page = f"https://www.flickr.com/photos/{photo['pathalias'] or photo['owner']}/{pid}/"
        return Reply(200, {"photo": {
            "id": pid, "secret": photo["secret"], "server": photo["server"], "farm": photo["farm"],
            "license": photo["license"], "safety_level": photo["safety_level"], "media": photo["media"],
            "owner": {"nsid": photo["owner"], "username": photo["ownername"], "realname": "",
                      "path_alias": photo["pathalias"]},
            "title": {"_content": photo["title"]}, "description": photo["description"],
            "visibility": {"ispublic": 1, "isfriend": 0, "isfamily": 0},
            "dates": {"posted": photo["dateupload"], "taken": photo["datetaken"], "takengranularity": 0,
                      "takenunknown": "0"},
            "urls": {"url": [{"type": "photopage", "_content": page}]}}, "stat": "ok"})

    def _file(self, path: str) -> bytes:
        """The original bytes, or a JPEG scaled to the size's longest side (made once)."""
        image, letter = self._files[path]
        if letter is None:
            return image
        if path not in self._scaled:
            with Image.open(io.BytesIO(image)) as img:
                rgb = img.convert("RGB")
            longest = SIZES[letter][0]
            scale = min(1.0, longest / max(rgb.size))
            out = io.BytesIO()
            rgb.resize((round(rgb.width * scale), round(rgb.height * scale))).save(out, "JPEG", quality=85)
            self._scaled[path] = out.getvalue()
        return self._scaled[path]
