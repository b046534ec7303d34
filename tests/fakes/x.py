"""A fake X API v2 on 127.0.0.1: recent search, post lookup, users/me, own timeline, media upload, alt text, posting.

Modelled on X's OpenAPI document (github.com/xdevplatform/xdk latest-openapi.json, v2.159, commit 84c26540):
Get2TweetsSearchRecentResponse {data, includes {media, users}, meta {newest_id, oldest_id, result_count,
next_token}}, Photo {media_key, type, url, width, height, alt_text}, MediaUploadResponse {data {id, media_key}},
MetadataCreateRequest {id, metadata {alt_text {text}}}, TweetCreateRequest/Response, RFC 7807 Problem errors.
Behaviour from docs.x.com: search reaches 7 days back, newest first, max_results 10-100; rate-limit headers
x-rate-limit-limit/-remaining/-reset and no Retry-After (fundamentals/rate-limits); an app-only bearer token on a
user-context endpoint gets 403 unsupported-authentication (detail quoted from github.com/plhery/node-twitter-api-v2
issues/475); a duplicate text gets 403 "You are not allowed to create a Tweet with duplicate content."; v2 returns
text HTML-escaped (&amp; &lt; &gt;) with links as t.co and a t.co link to the photos appended.
"""

from __future__ import annotations

import html
import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.fakes.server import FakeServer, Recorded, Reply

USER_TOKEN = "x-user-token"  # an OAuth 2.0 user-context token of our own account
CLIENT_ID = "d2xiLWNsaWVudA"  # our app's OAuth 2.0 client id (a public client)
SEED_REFRESH = "x-refresh-seed"  # the refresh token the authorization (with offline.access) gave us
APP_TOKEN = "x-app-bearer"  # an app-only bearer token: reads, never writes
OWN_ID, OWN_USERNAME = "1590000000000000001", "welovebrussels"
EPOCH_MS = 1288834974657
PROBLEM = "https://api.twitter.com/2/problems/"
_URL = re.compile(r"https?://\S+")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


def snowflake(moment: datetime, sequence: int) -> str:
    return str(((int(moment.timestamp() * 1000) - EPOCH_MS) << 22) | (sequence & 0x3FFFFF))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _problem(status: int, title: str, detail: str, kind: str = "about:blank", **extra) -> Reply:
    return Reply(status, {"title": title, "detail": detail, "type": kind, "status": status, **extra},
                 content_type="application/problem+json")


def weighted(text: str) -> int:
    """twitter-text v3 as X applies it: links 23, code points up to U+10FF (and some punctuation) 1, others 2."""
    light = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
    text = _URL.sub("x" * 23, text)
    return sum(1 if any(a <= ord(c) <= b for a, b in light) else 2 for c in text)


@dataclass
class Post:
    id: str
    author_id: str
    text: str  # as the author wrote it; served escaped
    created_at: datetime
    media_keys: list[str] = field(default_factory=list)
    sensitive: bool = False
    lang: str = "en"
    retweet: bool = False


class FakeX(FakeServer):
    """add_user/add_post build the world; `posts_read` counts what X would bill ("Posts: Read")."""

    def __init__(self, *, latency: float = 0.0):
        super().__init__(latency=latency)
        self.users: dict[str, dict] = {OWN_ID: {"id": OWN_ID, "username": OWN_USERNAME, "name": "We Love Brussels"}}
        self.posts: dict[str, Post] = {}
        self.deleted: list[str] = []  # ids DELETE /2/tweets/:id removed
        self.media: dict[str, dict] = {}  # media_key -> Media object (all fields)
        self.files: dict[str, bytes] = {}  # path -> image bytes
        self.uploads: dict[str, dict] = {}  # media id -> {"data", "mime", "alt"}
        self.posts_read = 0
        self.users_read = 0
        self.lose_next_post_answer = False  # create the post, then answer 503 as a proxy losing the answer would
        self._seq = itertools.count(1)
        self.rate_remaining = 450
        self.user_tokens = {USER_TOKEN}  # access tokens X currently accepts for our account
        self.refresh_tokens = {SEED_REFRESH}  # refresh tokens not yet spent (each works once)

    # ---- the world ------------------------------------------------------------------------------

    def add_user(self, username: str, name: str = "") -> str:
        uid = str(1_000_000 + len(self.users))
        self.users[uid] = {"id": uid, "username": username, "name": name or username}
        return uid

    def add_media(self, image: bytes | None, *, kind: str = "photo", alt: str | None = None,
                  size: tuple[int, int] = (1080, 1350)) -> str:
        key = f"3_{next(self._seq) + 1_700_000_000_000_000_000}"
        path = f"/media/{key}.jpg"
        item = {"media_key": key, "type": kind, "width": size[0], "height": size[1]}
        if kind == "photo":
            item["url"] = f"{self.base_url}{path}"
            if image is not None:
                self.files[path] = image
            if alt is not None:
                item["alt_text"] = alt
        else:
            item["preview_image_url"] = f"{self.base_url}/media/{key}_thumb.jpg"
        self.media[key] = item
        return key

    def add_post(self, author_id: str, text: str, *, images: list[bytes] = (), created_at: datetime | None = None,
                 media_keys: list[str] | None = None, sensitive: bool = False, lang: str = "en",
                 alt: str | None = None) -> str:
        moment = created_at or datetime.now(UTC) - timedelta(minutes=5)
        keys = list(media_keys or []) + [self.add_media(img, alt=alt) for img in images]
        post_id = snowflake(moment, next(self._seq))
        self.posts[post_id] = Post(post_id, author_id, text, moment, keys, sensitive, lang)
        return post_id

    def delete_post(self, post_id: str) -> None:
        self.posts.pop(post_id, None)

    def own_posts(self) -> list[Post]:
        return [p for p in self.posts.values() if p.author_id == OWN_ID]

    # ---- serving --------------------------------------------------------------------------------

    def headers_for(self, request: Recorded, reply: Reply) -> dict[str, str]:
        return {"x-rate-limit-limit": "450", "x-rate-limit-remaining": str(self.rate_remaining),
                "x-rate-limit-reset": str(int(time.time()) + 900)}

    def _token(self, req: Recorded) -> str | None:
        auth = req.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        return token if token == APP_TOKEN or token in self.user_tokens else None

    def expire(self, token: str) -> None:
        """Two hours have passed: X no longer accepts this access token."""
        self.user_tokens.discard(token)

    def _refresh(self, req: Recorded) -> Reply:
        """POST /2/oauth2/token, grant_type=refresh_token: a new pair; the refresh token used is spent."""
        form = {k: v[0] for k, v in req.form.items()}
        old = form.get("refresh_token", "")
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != CLIENT_ID \
                or old not in self.refresh_tokens:
            return Reply(400, {"error": "invalid_request", "error_description": "Value passed for the token was invalid."})
        self.refresh_tokens.discard(old)
        n = next(self._seq)
        access, fresh = f"x-user-{n}", f"x-refresh-{n}"
        self.user_tokens.add(access)
        self.refresh_tokens.add(fresh)
        return Reply(200, {"token_type": "bearer", "expires_in": 7200, "access_token": access,
                           "scope": "tweet.read users.read tweet.write media.write offline.access",
                           "refresh_token": fresh})

    def dispatch(self, req: Recorded) -> Reply:
        if req.method == "GET" and req.path in self.files:
            return Reply(200, self.files[req.path], content_type="image/jpeg")
        if (req.method, req.path) == ("POST", "/2/oauth2/token"):
            return self._refresh(req)
        token = self._token(req)
        if token is None:
            return _problem(401, "Unauthorized", "Unauthorized")
        user_only = (req.method == "POST" or req.path == "/2/users/me")
        if user_only and token == APP_TOKEN:
            return _problem(403, "Unsupported Authentication", "Authenticating with OAuth 2.0 Application-Only is "
                            "forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User "
                            "Context, OAuth 2.0 User Context].", PROBLEM + "unsupported-authentication")
        q = {k: v[0] for k, v in req.query.items()}
        route = (req.method, req.path)
        if route == ("GET", "/2/tweets/search/recent"):
            return self._search(q)
        if route == ("GET", "/2/tweets"):
            return self._lookup(q)
        if route == ("GET", "/2/users/me"):
            return Reply(200, {"data": dict(self.users[OWN_ID])})
        if route == ("GET", f"/2/users/{OWN_ID}/tweets"):
            return self._timeline(q)
        if route == ("POST", "/2/media/upload"):
            return self._upload(req)
        if route == ("POST", "/2/media/metadata"):
            return self._metadata(req)
        if route == ("POST", "/2/tweets"):
            return self._create(req)
        if req.method == "DELETE" and req.path.startswith("/2/tweets/"):
            return self._delete(req.path.rsplit("/", 1)[1])
        return _problem(404, "Not Found Error", f"no route {req.method} {req.path}")

    def _invalid(self, detail: str) -> Reply:
        return Reply(400, {"errors": [{"parameters": {}, "message": detail}], "title": "Invalid Request",
                           "detail": "One or more parameters to your request was invalid.",
                           "type": PROBLEM + "invalid-request"})

    def _search(self, q: dict[str, str]) -> Reply:
        size = int(q.get("max_results") or 10)
        if not 10 <= size <= 100:
            return self._invalid(f"The `max_results` query parameter value [{size}] is not between 10 and 100")
        oldest_allowed = datetime.now(UTC) - timedelta(days=7)
        for name in ("since_id", "until_id"):
            if name in q and (int(q[name]) >> 22) + EPOCH_MS < oldest_allowed.timestamp() * 1000:
                return self._invalid(f"Invalid '{name}':'{q[name]}'. '{name}' must be a tweet id created after "
                                     f"{_iso(oldest_allowed)}. Please use a '{name}' that is more recent.")
        terms = q.get("query", "").split()
        tags = {t[1:].lower() for t in terms if t.startswith("#")}
        found = [p for p in self.posts.values() if p.created_at >= oldest_allowed and not p.retweet
                 and tags <= {t.lower() for t in _HASHTAG.findall(p.text)}
                 and ("has:images" not in terms or any(self.media[k]["type"] == "photo" for k in p.media_keys))
                 and (not q.get("since_id") or int(p.id) > int(q["since_id"]))
                 and (not q.get("until_id") or int(p.id) < int(q["until_id"]))]
        found.sort(key=lambda p: int(p.id), reverse=True)
        start = int(q["next_token"].removeprefix("b26v89c19zqg8o3f")) if q.get("next_token") else 0
        page = found[start:start + size]
        meta: dict = {"result_count": len(page)}
        if not page:
            return Reply(200, {"meta": meta})
        meta |= {"newest_id": page[0].id, "oldest_id": page[-1].id}
        if start + size < len(found):
            meta["next_token"] = f"b26v89c19zqg8o3f{start + size}"
        return Reply(200, self._answer(page, q) | {"meta": meta})

    def _answer(self, posts: list[Post], q: dict[str, str]) -> dict:
        expansions = set(q.get("expansions", "").split(","))
        fields = set(q.get("tweet.fields", "").split(","))
        data = [self._tweet(p, fields) for p in posts]
        includes: dict = {}
        if "author_id" in expansions:
            wanted = {"id", "name", "username"} | set(q.get("user.fields", "").split(","))
            users = {p.author_id: self.users[p.author_id] for p in posts}
            includes["users"] = [{k: v for k, v in u.items() if k in wanted} for u in users.values()]
            self.users_read += len(users)
        if "attachments.media_keys" in expansions:
            wanted = {"media_key", "type"} | set(q.get("media.fields", "").split(","))
            media = [self.media[k] for p in posts for k in p.media_keys]
            if media:
                includes["media"] = [{k: v for k, v in m.items() if k in wanted} for m in media]
        self.posts_read += len(posts)
        return {"data": data} | ({"includes": includes} if includes else {})

    def _tweet(self, p: Post, fields: set[str]) -> dict:
        links = [f"https://t.co/{abs(hash((p.id, n))) % 10**10:010d}" for n in range(len(_URL.findall(p.text)) + 1)]
        shortened = iter(links)
        shown = _URL.sub(lambda _m: next(shortened), html.escape(p.text, quote=False))
        if p.media_keys:  # X appends the photos' own t.co link to the text
            shown += f" {links[-1]}"
        tweet: dict = {"id": p.id, "text": shown, "edit_history_tweet_ids": [p.id]}
        optional = {"author_id": p.author_id, "created_at": _iso(p.created_at), "lang": p.lang,
                    "possibly_sensitive": p.sensitive,
                    "attachments": {"media_keys": p.media_keys} if p.media_keys else None,
                    "entities": {"hashtags": [{"start": m.start(), "end": m.end(), "tag": m.group(1)}
                                              for m in _HASHTAG.finditer(p.text)],
                                 "urls": [{"start": 0, "end": 23, "url": links[-1], "expanded_url":
                                           f"https://x.com/u/status/{p.id}/photo/1", "display_url":
                                           "pic.x.com/abc", "media_key": p.media_keys[0]}] if p.media_keys else []}}
        tweet |= {k: v for k, v in optional.items() if k in fields and v is not None}
        return tweet

    def _lookup(self, q: dict[str, str]) -> Reply:
        ids = q.get("ids", "").split(",")
        found = [self.posts[i] for i in ids if i in self.posts]
        body = self._answer(found, q) if found else {}
        missing = [i for i in ids if i not in self.posts]
        if missing:
            body["errors"] = [{"value": i, "detail": f"Could not find tweet with ids: [{i}].", "title": "Not Found Error",
                               "resource_type": "tweet", "parameter": "ids", "resource_id": i,
                               "type": PROBLEM + "resource-not-found"} for i in missing]
        return Reply(200, body)

    def _timeline(self, q: dict[str, str]) -> Reply:
        size = int(q.get("max_results") or 10)
        if not 5 <= size <= 100:
            return self._invalid(f"The `max_results` query parameter value [{size}] is not between 5 and 100")
        since = datetime.fromisoformat(q["start_time"].replace("Z", "+00:00")) if q.get("start_time") else None
        mine = sorted((p for p in self.own_posts() if since is None or p.created_at >= since),
                      key=lambda p: int(p.id), reverse=True)[:size]
        if not mine:
            return Reply(200, {"meta": {"result_count": 0}})
        fields = set(q.get("tweet.fields", "").split(","))
        return Reply(200, {"data": [self._tweet(p, fields) for p in mine],
                           "meta": {"result_count": len(mine), "newest_id": mine[0].id, "oldest_id": mine[-1].id}})

    def _upload(self, req: Recorded) -> Reply:
        media = req.files.get("media")
        category = (req.form.get("media_category") or [""])[0]
        if media is None or category != "tweet_image":
            return self._invalid("media and media_category=tweet_image are required")
        data = media[2]
        if len(data) > 5_000_000:
            return self._invalid("File size exceeds 5242880 bytes.")
        media_id = str(1_800_000_000_000_000_000 + next(self._seq))
        self.uploads[media_id] = {"data": data, "mime": (req.form.get("media_type") or [media[1]])[0], "alt": None}
        return Reply(200, {"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(data),
                                    "expires_after_secs": 86400, "image": {"image_type": "image/jpeg"}}})

    def _metadata(self, req: Recorded) -> Reply:
        body = req.json if isinstance(req.json, dict) else {}
        media_id = str(body.get("id") or "")
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        alt = (metadata.get("alt_text") or {}).get("text") if "alt_text" in metadata else ""
        if media_id not in self.uploads or not isinstance(alt, str) or len(alt) > 1000:
            return self._invalid("id must be an uploaded media id and alt_text.text at most 1000 characters")
        self.uploads[media_id]["alt"] = alt or self.uploads[media_id]["alt"]
        self.uploads[media_id]["warning"] = metadata.get("sensitive_media_warning")
        return Reply(200, {"data": {"id": media_id, "associated_metadata": metadata}})

    def _delete(self, post_id: str) -> Reply:
        """DELETE /2/tweets/{id} (xdk latest-openapi.json, operationId deletePosts) → 200 TweetDeleteResponse
        {"data": {"deleted": true}}. A post that does not exist: a resource-not-found problem (shape unverified)."""
        post = self.posts.get(post_id)
        if post is None:
            return _problem(404, "Not Found Error", f"Could not find tweet with id: [{post_id}].",
                            PROBLEM + "resource-not-found")
        if post.author_id != OWN_ID:
            return _problem(403, "Forbidden", "You are not allowed to delete a Tweet that is not yours.")
        del self.posts[post_id]
        self.deleted.append(post_id)
        return Reply(200, {"data": {"deleted": True}})

    def _create(self, req: Recorded) -> Reply:
        body = req.json if isinstance(req.json, dict) else {}
        text = body.get("text")
        ids = (body.get("media") or {}).get("media_ids") or []
        if not isinstance(text, str) or weighted(text) > 280:
            return self._invalid("Your Tweet text is too long. For more information on how X counts characters, "
                                 "see https://docs.x.com/fundamentals/counting-characters")
        if not 0 <= len(ids) <= 4 or any(i not in self.uploads for i in ids):
            return self._invalid("media_ids must be 1 to 4 uploaded media ids")
        if any(p.text == text for p in self.own_posts()):
            return _problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        keys = []
        for i in ids:
            key = f"3_{i}"
            self.media[key] = {"media_key": key, "type": "photo", "url": f"{self.base_url}/media/{key}.jpg",
                               "alt_text": self.uploads[i]["alt"]}
            keys.append(key)
        post_id = self.add_post(OWN_ID, text, media_keys=keys, created_at=datetime.now(UTC))
        if self.lose_next_post_answer:
            self.lose_next_post_answer = False
            return Reply(503, {"title": "Service Unavailable", "detail": "Service Unavailable",
                               "type": "about:blank", "status": 503})
        return Reply(201, {"data": {"id": post_id, "text": self._tweet(self.posts[post_id], set())["text"]}})
