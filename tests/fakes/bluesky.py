"""A fake Bluesky PDS on 127.0.0.1 (with the AppView reads it proxies), serving the lexicons' documented shapes.

Shapes follow bluesky-social/atproto lexicons: com.atproto.server.createSession/refreshSession/getSession,
app.bsky.feed.searchPosts + app.bsky.feed.defs#postView, app.bsky.embed.{images,recordWithMedia,gallery,
video,external,record}#view, com.atproto.repo.uploadBlob/createRecord/putRecord/getRecord,
com.atproto.identity.resolveHandle. Errors are XRPC bodies {"error", "message"}; an expired access
token is 400 ExpiredToken, as the PDS answers.

The same server plays the PLC directory (GET /<did:plc:...> → the DID document naming the PDS;
404 for an unknown DID, 410 for a tombstoned one, as github.com/did-method-plc/did-method-plc answers)
and the CDN: image URLs have the AppView's form /img/feed_fullsize/plain/<did>/<cid>@jpeg
(bluesky-social/atproto packages/bsky/src/image/uri.ts). getRecord needs no session, as on a PDS.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from atproto_client.utils.facet_detection import _grapheme_len

from tests.fakes.server import FakeServer, Recorded, Reply

MODERATION = "did:plc:ar7c4by46qjdydhdevvrndac"  # Bluesky's own labeler
_TAG = re.compile(r"(?:^|\s)#(\w+)")
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def cid(data: bytes, codec: int = 0x71) -> str:
    """A CIDv1 (sha2-256) in base32: codec 0x71 dag-cbor for records, 0x55 raw for blobs."""
    raw = bytes([1, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _error(status: int, error: str, message: str) -> Reply:
    return Reply(status, {"error": error, "message": message})


def tag_facets(text: str) -> list[dict]:
    out = []
    for match in _TAG.finditer(text):
        start = len(text[: match.start(1) - 1].encode())
        out.append({"index": {"byteStart": start, "byteEnd": start + 1 + len(match.group(1).encode())},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)}]})
    return out


class FakeBluesky(FakeServer):
    """One PDS holding our account, plus the network's posts that searchPosts and getRecord reach."""

    def __init__(self, *, handle: str = "welovebrussels.test", password: str = "app-pass-1234",
                 access_ttl: int = 7200, honour_since: bool = True, honour_tag: bool = True,
                 max_blob: int = 1_000_000, latency: float = 0.0):
        """honour_since/honour_tag False: search as the local dev-env AppView does (substring on text only)."""
        super().__init__(latency=latency)
        self.handle, self.password, self.did = handle, password, self._new_did(handle)
        self.access_ttl, self.max_blob = access_ttl, max_blob
        self.honour_since, self.honour_tag = honour_since, honour_tag
        self.pds_endpoint = self.base_url  # what the DID document names as our PDS
        self.stuck_cursor: str | None = None  # a broken search: the first page and this cursor, whatever is asked
        self.handles: dict[str, str] = {handle: self.did}  # resolveHandle
        self.accounts: dict[str, dict] = {}  # did -> profileViewBasic
        self._access: dict[str, float] = {}  # token -> exp
        self._refresh: set[str] = set()
        self._counter = itertools.count(1)
        self.blobs: dict[str, tuple[bytes, str]] = {}  # cid -> (bytes, mime)
        self.uploads: list[dict] = []
        self.records: dict[tuple[str, str, str], dict] = {}  # (did, collection, rkey) -> {"cid", "value"}
        self.published: list[dict] = []  # our posts, once each, in order of creation
        self.deleted: list[str] = []  # at:// uris deleteRecord removed
        self._posts: dict[str, dict] = {}  # uri -> postView of someone else's post
        self._files: dict[str, tuple[bytes, str]] = {}
        self.pds_of: dict[str, str] = {}  # did -> the PDS its DID document names (default: this server)
        self.tombstoned: set[str] = set()  # DIDs the PLC directory answers 410 for
        self.repo_records: dict[str, dict] = {}  # uri -> the record its PDS holds, when it differs from the view's

    # ---- test set-up -------------------------------------------------------------------------

    def _new_did(self, handle: str) -> str:
        digest = base64.b32encode(hashlib.sha256(handle.encode()).digest()).decode().lower()
        return f"did:plc:{digest[:24]}"

    def add_account(self, handle: str, display_name: str | None = None) -> dict:
        with self._lock:
            did = self.handles.setdefault(handle, self._new_did(handle))
            profile = {"did": did, "handle": handle, "avatar": f"{self.base_url}/img/avatar.jpg", "labels": [],
                       "createdAt": "2023-04-01T10:00:00.000Z"}
            if display_name is not None:
                profile["displayName"] = display_name
            return self.accounts.setdefault(did, profile)

    def label_profile(self, handle: str, *values: str, src: str | None = None) -> dict:
        """Give an account's profile labels as the AppView lists them on a profileViewBasic (its posts' `author`):
        the profile record's self-labels with src = the account's DID and uri = its profile record
        (bluesky-social/atproto packages/bsky/src/views/index.ts profileBasic + selfLabels at d6296a1c), or with
        `src` a labeler's label on the account. "!no-unauthenticated" is the account's opt-out (lexicons/com/atproto/
        label/defs.json labelValues)."""
        with self._lock:
            author = self.add_account(handle)
            did = author["did"]
            uri = f"at://{did}/app.bsky.actor.profile/self" if src is None else did
            author["labels"] = [*author["labels"], *({"src": src or did, "uri": uri, "cid": cid(did.encode()),
                                                       "val": v, "cts": "2023-04-01T10:00:00.000Z"} for v in values)]
            return author

    def add_image(self, data: bytes, did: str, content_type: str = "image/jpeg") -> tuple[str, dict]:
        """Serve the bytes as the CDN would; return (fullsize URL, the blob ref a record holds)."""
        with self._lock:
            ref = cid(data, 0x55)
            self._files[ref] = (data, content_type)
        blob = {"$type": "blob", "ref": {"$link": ref}, "mimeType": content_type, "size": len(data)}
        return self.image_url(did, ref), blob

    def image_url(self, did: str, ref: str, preset: str = "feed_fullsize") -> str:
        return f"{self.base_url}/img/{preset}/plain/{did}/{ref}@jpeg"

    def add_post(self, *, handle: str = "alice.bsky.social", display_name: str | None = "Alice",
                 text: str = "Grand-Place at night #welovebrussels", images: list[bytes] = (),
                 alt: list[str] | None = None, aspect: list[tuple[int, int] | None] | None = None,
                 embed: str = "images", created_at: datetime | None = None, indexed_at: datetime | None = None,
                 labels: list[str] = (), self_labels: list[str] = (), langs: list[str] | None = None,
                 tags: list[str] | None = None) -> dict:
        """Store someone's post; `embed` is images, recordWithMedia, gallery, video, external or record."""
        with self._lock:
            author = self.add_account(handle, display_name)
            created = created_at or datetime.now(UTC)
            rkey = self._tid(created)
            uri = f"at://{author['did']}/app.bsky.feed.post/{rkey}"
            record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": iso(created),
                                      "langs": ["en"] if langs is None else langs, "facets": tag_facets(text)}
            if tags:
                record["tags"] = tags
            if self_labels:
                record["labels"] = {"$type": "com.atproto.label.defs#selfLabels",
                                    "values": [{"val": v} for v in self_labels]}
            pictures = [self.add_image(data, author["did"]) for data in images]
            alts = list(alt or []) + [""] * len(pictures)
            ratios = list(aspect or []) + [(1080, 1350)] * len(pictures)
            record_embed, view = self._embed(embed, pictures, alts, ratios)
            if record_embed:
                record["embed"] = record_embed
            view_cid = cid(json.dumps(record, sort_keys=True).encode())
            post = {"uri": uri, "cid": view_cid, "author": author, "record": record, "replyCount": 0,
                    "repostCount": 2, "likeCount": 5, "quoteCount": 0, "bookmarkCount": 0,
                    "indexedAt": iso(indexed_at or created),
                    "labels": [{"src": MODERATION, "uri": uri, "cid": view_cid, "val": v, "cts": iso(created), "ver": 1}
                               for v in labels]
                    + [{"src": author["did"], "uri": uri, "cid": view_cid, "val": v, "cts": iso(created)}
                       for v in self_labels]}
            if view:
                post["embed"] = view
            self._posts[uri] = post
            return post

    def _embed(self, kind: str, pictures: list, alts: list, ratios: list) -> tuple[dict | None, dict | None]:
        """The record's embed (blob refs) and the AppView's view of it (CDN URLs)."""
        def ratio(i: int) -> dict:
            return {"aspectRatio": {"width": ratios[i][0], "height": ratios[i][1]}} if ratios[i] else {}
        images = {"$type": "app.bsky.embed.images",
                  "images": [{"alt": alts[i], "image": blob, **ratio(i)} for i, (_, blob) in enumerate(pictures)]}
        images_view = {"$type": "app.bsky.embed.images#view",
                       "images": [{"thumb": url.replace("feed_fullsize", "feed_thumbnail"), "fullsize": url,
                                   "alt": alts[i],
                                   **ratio(i)} for i, (url, _) in enumerate(pictures)]}
        if kind == "images":
            return (images, images_view) if pictures else (None, None)
        if kind == "gallery":
            return ({"$type": "app.bsky.embed.gallery",
                     "items": [{"$type": "app.bsky.embed.gallery#image", "alt": alts[i], "image": blob, **ratio(i)}
                               for i, (_, blob) in enumerate(pictures)]},
                    {"$type": "app.bsky.embed.gallery#view",
                     "items": [{"$type": "app.bsky.embed.gallery#viewImage", "thumbnail": url, "fullsize": url,
                                "alt": alts[i], **ratio(i)} for i, (url, _) in enumerate(pictures)]})
        quoted = self.add_post(handle="quoted.bsky.social", text="the quoted post", images=[], created_at=None)
        strong = {"uri": quoted["uri"], "cid": quoted["cid"]}
        quoted_view = {"$type": "app.bsky.embed.record#viewRecord", "uri": quoted["uri"], "cid": quoted["cid"],
                       "author": quoted["author"], "value": quoted["record"], "indexedAt": quoted["indexedAt"],
                       "embeds": [images_view] if pictures else []}
        if kind == "recordWithMedia":
            return ({"$type": "app.bsky.embed.recordWithMedia",
                     "record": {"$type": "app.bsky.embed.record", "record": strong}, "media": images},
                    {"$type": "app.bsky.embed.recordWithMedia#view",
                     "record": {"$type": "app.bsky.embed.record#view", "record": quoted_view}, "media": images_view})
        if kind == "record":  # a plain quote: the pictures belong to the quoted post
            return ({"$type": "app.bsky.embed.record", "record": strong},
                    {"$type": "app.bsky.embed.record#view", "record": quoted_view})
        if kind == "video":
            ref = cid(b"video", 0x55)
            return ({"$type": "app.bsky.embed.video", "video": {"$type": "blob", "ref": {"$link": ref},
                                                               "mimeType": "video/mp4", "size": 5}},
                    {"$type": "app.bsky.embed.video#view", "cid": ref, "playlist": f"{self.base_url}/v/{ref}.m3u8",
                     "thumbnail": f"{self.base_url}/v/{ref}.jpg", "aspectRatio": {"width": 16, "height": 9}})
        if kind == "external":
            return ({"$type": "app.bsky.embed.external",
                     "external": {"uri": "https://visit.brussels/", "title": "visit.brussels", "description": ""}},
                    {"$type": "app.bsky.embed.external#view",
                     "external": {"uri": "https://visit.brussels/", "title": "visit.brussels", "description": ""}})
        raise ValueError(f"unknown embed kind {kind!r}")

    def add_view(self, view: dict) -> None:
        """Index a postView exactly as given (a recorded answer, an odd record): search serves it unchanged."""
        with self._lock:
            self._posts[view["uri"]] = view

    def delete_post(self, uri: str) -> None:
        with self._lock:
            self._posts.pop(uri, None)

    def expire_access_tokens(self) -> None:
        """The server now refuses every access token it issued (as after a key rotation or clock skew)."""
        with self._lock:
            self._access = {token: 0.0 for token in self._access}

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    def calls(self, nsid: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == f"/xrpc/{nsid}"]

    def _tid(self, moment: datetime) -> str:
        value = (int(moment.timestamp() * 1_000_000) << 10) | (next(self._counter) & 0x3FF)
        return "".join("234567abcdefghijklmnopqrstuvwxyz"[(value >> s) & 31] for s in range(60, -1, -5))

    # ---- sessions ----------------------------------------------------------------------------

    def _tokens(self) -> dict:
        now = int(time.time())
        header = _b64({"alg": "HS256", "typ": "at+jwt"})
        access = f"{header}.{_b64({'scope': 'com.atproto.appPass', 'sub': self.did, 'iat': now, 'exp': now + self.access_ttl, 'jti': str(next(self._counter))})}.c2ln"  # noqa: E501
        refresh = f"{_b64({'alg': 'HS256', 'typ': 'refresh+jwt'})}.{_b64({'scope': 'com.atproto.refresh', 'sub': self.did, 'iat': now, 'exp': now + 90 * 86400, 'jti': str(next(self._counter))})}.c2ln"  # noqa: E501
        self._access[access] = now + self.access_ttl
        self._refresh.add(refresh)
        did_doc = {"@context": ["https://www.w3.org/ns/did/v1"], "id": self.did, "alsoKnownAs": [f"at://{self.handle}"],
                   "verificationMethod": [], "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                                          "serviceEndpoint": self.pds_endpoint}]}
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did,
                "didDoc": did_doc, "active": True}

    def _bearer(self, request: Recorded) -> str | None:
        value = request.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None

    def _auth(self, request: Recorded) -> Reply | None:
        """None when the access token is good; else the PDS's answer."""
        token = self._bearer(request)
        if token is None:
            return _error(401, "AuthMissing", "Authentication Required")
        if token not in self._access:
            return _error(400, "InvalidToken", "Token could not be verified")
        if self._access[token] <= time.time():
            return _error(400, "ExpiredToken", "Token has expired")
        return None

    # ---- dispatch ----------------------------------------------------------------------------

    def dispatch(self, request: Recorded) -> Reply:
        if request.path.startswith("/img/"):
            ref = request.path.rsplit("/", 1)[-1].split("@")[0]
            if ref not in self._files:
                return Reply(404, b"not found", content_type="text/plain")
            data, kind = self._files[ref]
            return Reply(200, data, content_type=kind)
        if request.path.startswith("/did:"):
            return self._plc(request.path[1:])
        nsid = request.path.removeprefix("/xrpc/")
        handler = getattr(self, "_" + nsid.replace(".", "_"), None)
        if handler is None or not request.path.startswith("/xrpc/"):
            return _error(501, "MethodNotImplemented", f"Method Not Implemented: {nsid}")
        if nsid not in ("com.atproto.server.createSession", "com.atproto.server.refreshSession",
                        "com.atproto.identity.resolveHandle", "com.atproto.repo.getRecord",
                        "com.atproto.sync.getBlob"):
            refused = self._auth(request)
            if refused:
                return refused
        return handler(request)

    def did_document(self, did: str) -> dict:
        handle = next((h for h, d in self.handles.items() if d == did), "handle.invalid")
        return {"@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"], "id": did,
                "alsoKnownAs": [f"at://{handle}"], "verificationMethod": [],
                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                             "serviceEndpoint": self.pds_of.get(did, self.pds_endpoint)}]}

    def _plc(self, did: str) -> Reply:
        if did in self.tombstoned:
            return Reply(410, {"message": f"DID not available: {did}"})
        if did not in self.handles.values():
            return Reply(404, {"message": f"DID not registered: {did}"})
        return Reply(200, self.did_document(did), content_type="application/did+ld+json; charset=utf-8")

    def _com_atproto_sync_getBlob(self, request: Recorded) -> Reply:
        """The PDS serves a repo's blob by CID without a session (lexicons/com/atproto/sync/getBlob.json);
        an unknown one is 400 BlobNotFound (packages/pds/src/api/com/atproto/sync/getBlob.ts)."""
        ref = (request.query.get("cid") or [""])[0]
        if ref not in self._files:
            return _error(400, "BlobNotFound", "Blob not found")
        data, kind = self._files[ref]
        return Reply(200, data, content_type=kind)

    def _com_atproto_server_createSession(self, request: Recorded) -> Reply:
        body = request.json or {}
        if body.get("identifier") not in (self.handle, self.did) or body.get("password") != self.password:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        return Reply(200, self._tokens())

    def _com_atproto_server_refreshSession(self, request: Recorded) -> Reply:
        token = self._bearer(request)
        if token not in self._refresh:
            return _error(400, "ExpiredToken", "Token has been revoked")
        self._refresh.discard(token)  # refresh tokens rotate
        return Reply(200, self._tokens())

    def _com_atproto_server_getSession(self, request: Recorded) -> Reply:
        return Reply(200, {"handle": self.handle, "did": self.did, "active": True})

    def _com_atproto_identity_resolveHandle(self, request: Recorded) -> Reply:
        handle = (request.query.get("handle") or [""])[0].lower()
        if handle not in self.handles:
            return _error(400, "InvalidRequest", "Unable to resolve handle")
        return Reply(200, {"did": self.handles[handle]})

    def _app_bsky_feed_searchPosts(self, request: Recorded) -> Reply:
        q = (request.query.get("q") or [""])[0].strip().lower()
        if not q:
            return _error(400, "InvalidRequest", 'Error: Params must have the property "q"')
        limit = int((request.query.get("limit") or ["25"])[0])
        if not 1 <= limit <= 100:
            return _error(400, "InvalidRequest", "Error: limit must be between 1 and 100")
        wanted = {t.lower() for t in request.query.get("tag", [])} if self.honour_tag else set()
        since = (request.query.get("since") or [None])[0] if self.honour_since else None
        hits = []
        for post in self._posts.values():
            tags = {t.lower() for t in post["record"].get("tags", [])} | {
                f["tag"].lower() for facet in post["record"].get("facets") or [] for f in facet["features"]
                if f.get("$type") == "app.bsky.richtext.facet#tag"}
            text = post["record"]["text"].lower()
            if (q in text or (q.startswith("#") and q[1:] in tags)) and wanted <= tags:
                sort_at = min(post["record"]["createdAt"], post["indexedAt"])
                if since is None or _parse(sort_at) >= _parse(since):
                    hits.append((sort_at, post["cid"], post))
        hits.sort(key=lambda h: (h[0], h[1]), reverse=True)
        cursor = (request.query.get("cursor") or ["0"])[0]
        if not cursor.isdigit() and not self.stuck_cursor:
            return _error(400, "InvalidRequest", "Malformed cursor")
        offset = 0 if self.stuck_cursor else int(cursor)
        page = [h[2] for h in hits[offset: offset + limit]]
        body: dict = {"posts": page, "hitsTotal": len(hits)}
        if offset + limit < len(hits):
            body["cursor"] = self.stuck_cursor or str(offset + limit)
        return Reply(200, body)

    def _com_atproto_repo_uploadBlob(self, request: Recorded) -> Reply:
        mime = request.headers.get("content-type", "*/*")
        ref = cid(request.body, 0x55)
        self.blobs[ref] = (request.body, mime)
        self.uploads.append({"data": request.body, "mime": mime, "cid": ref})
        return Reply(200, {"blob": {"$type": "blob", "ref": {"$link": ref}, "mimeType": mime,
                                    "size": len(request.body)}})

    def _com_atproto_repo_putRecord(self, request: Recorded) -> Reply:
        return self._write(request, replace=True)

    def _com_atproto_repo_createRecord(self, request: Recorded) -> Reply:
        return self._write(request, replace=False)

    def _write(self, request: Recorded, *, replace: bool) -> Reply:
        body = request.json or {}
        if body.get("repo") not in (self.did, self.handle):
            return _error(401, "AuthRequired", "Input/repo must be the authenticated account")
        collection, record = body.get("collection"), body.get("record") or {}
        rkey = body.get("rkey") or self._tid(datetime.now(UTC))
        if collection == "app.bsky.feed.post" and not _TID.fullmatch(rkey):
            return _error(400, "InvalidRequest", f"Invalid record key for app.bsky.feed.post: {rkey}")
        invalid = self._invalid(collection, record)
        if invalid:
            return _error(400, "InvalidRecord", invalid)
        key = (self.did, collection, rkey)
        if key in self.records and not replace:
            return _error(400, "InvalidRequest", f"Record already exists: at://{self.did}/{collection}/{rkey}")
        record_cid = cid(json.dumps(record, sort_keys=True).encode())
        uri = f"at://{self.did}/{collection}/{rkey}"
        if key not in self.records:
            self.published.append({"uri": uri, "rkey": rkey, "record": record})
        self.records[key] = {"cid": record_cid, "value": record}
        if collection == "app.bsky.feed.post":
            self._index(uri, record_cid, record)
        return Reply(200, {"uri": uri, "cid": record_cid, "commit": {"cid": cid(rkey.encode()), "rev": self._tid(
            datetime.now(UTC))}, "validationStatus": "valid"})

    def _invalid(self, collection: str, record: dict) -> str | None:
        """Why the PDS's lexicon validation would refuse the record, or None."""
        if record.get("$type") != collection:
            return f"Invalid $type: expected {collection}"
        if collection != "app.bsky.feed.post":
            return None
        text = record.get("text")
        if not isinstance(text, str) or not record.get("createdAt"):
            return "Record must have the properties text and createdAt"
        size = len(text.encode())
        if size > 3000 or _grapheme_len(text) > 300:
            return "Record/text must not be longer than 300 graphemes"
        for facet in record.get("facets") or []:
            index = facet.get("index") or {}
            if not 0 <= index.get("byteStart", -1) < index.get("byteEnd", -1) <= size or not facet.get("features"):
                return f"Record/facets has a bad index or no features: {facet}"
        embed = record.get("embed") or {}
        if embed.get("$type") == "app.bsky.embed.images":
            if not 1 <= len(embed.get("images") or []) <= 4:
                return "Record/embed/images must have between 1 and 4 items"
            for image in embed["images"]:
                ref = ((image.get("image") or {}).get("ref") or {}).get("$link")
                if ref not in self.blobs or not isinstance(image.get("alt"), str):
                    return "Record/embed/images: unknown blob or no alt text"
                if len(self.blobs[ref][0]) > self.max_blob:
                    return f"BlobTooLarge: this file is too large; it is {len(self.blobs[ref][0])} bytes"
                if not self.blobs[ref][1].startswith("image/"):
                    return f"Wrong type of file: {self.blobs[ref][1]}"
        return None

    def _index(self, uri: str, record_cid: str, record: dict) -> None:
        """The AppView indexes our own post too: search finds it like anyone's."""
        author = self.add_account(self.handle, "We Love Brussels")
        images = (record.get("embed") or {}).get("images") or []
        for image in images:
            ref = image["image"]["ref"]["$link"]
            self._files[ref] = self.blobs[ref]
        post = {"uri": uri, "cid": record_cid, "author": author, "record": record, "replyCount": 0, "repostCount": 0,
                "likeCount": 0, "quoteCount": 0, "indexedAt": iso(datetime.now(UTC)), "labels": []}
        if images:
            post["embed"] = {"$type": "app.bsky.embed.images#view", "images": [
                {"thumb": self.image_url(self.did, i["image"]["ref"]["$link"], "feed_thumbnail"),
                 "fullsize": self.image_url(self.did, i["image"]["ref"]["$link"]), "alt": i["alt"],
                 **({"aspectRatio": i["aspectRatio"]} if "aspectRatio" in i else {})} for i in images]}
        self._posts[uri] = post

    def _com_atproto_repo_deleteRecord(self, request: Recorded) -> Reply:
        """packages/pds/src/api/com/atproto/repo/deleteRecord.ts: only the authenticated repo; "Delete a repository
        record, or ensure it doesn't exist" (lexicon): no record at the key is 200 too, without a commit."""
        body = request.json or {}
        if body.get("repo") not in (self.did, self.handle):
            return _error(401, "AuthRequired", "Input/repo must be the authenticated account")
        key = (self.did, body.get("collection"), body.get("rkey"))
        if key not in self.records:
            return Reply(200, {})
        del self.records[key]
        uri = f"at://{self.did}/{key[1]}/{key[2]}"
        self._posts.pop(uri, None)
        self.deleted.append(uri)
        return Reply(200, {"commit": {"cid": cid(uri.encode()), "rev": self._tid(datetime.now(UTC))}})

    def _com_atproto_repo_getRecord(self, request: Recorded) -> Reply:
        repo = (request.query.get("repo") or [""])[0]
        did = self.handles.get(repo, repo)
        collection, rkey = (request.query.get("collection") or [""])[0], (request.query.get("rkey") or [""])[0]
        uri = f"at://{did}/{collection}/{rkey}"
        if (did, collection, rkey) in self.records:
            found = self.records[(did, collection, rkey)]
            return Reply(200, {"uri": uri, "cid": found["cid"], "value": found["value"]})
        if uri in self._posts:  # someone else's repository on the network's PDS
            value = self.repo_records.get(uri, self._posts[uri]["record"])
            return Reply(200, {"uri": uri, "cid": self._posts[uri]["cid"], "value": value})
        return _error(400, "RecordNotFound", f"Could not locate record: {uri}")


    # ---- replies and threads (the consent stage asks by reply and reads the answers) ----------------------------
    # Modelled on bluesky-social/atproto d6296a1c: lexicons/app/bsky/feed/getPosts.json (uris ≤ 25, missing posts
    # left out), getPostThread.json (thread: threadViewPost {post, replies[]} | notFoundPost | blockedPost; NotFound
    # for an unknown uri), feed/defs.json viewerState.replyDisabled (the author's threadgate shuts us out), and
    # feed/post.json replyRef {root, parent} strong refs.

    reply_disabled: frozenset[str] = frozenset()  # uris whose threadgate refuses us; a test sets its own

    def add_reply(self, parent_uri: str, *, handle: str, text: str, display_name: str | None = None,
                  created_at: datetime | None = None, did: str | None = None) -> dict:
        """Someone's reply to a post (ours or anyone's), indexed as the AppView serves it. `did` forges the author
        a view claims (a view whose uri is in another repository)."""
        with self._lock:
            author = dict(self.add_account(handle, display_name))
            if did:
                author["did"] = did
            parent = self._posts[parent_uri]
            root = ((parent["record"].get("reply") or {}).get("root")
                    or {"uri": parent["uri"], "cid": parent["cid"]})
            created = created_at or datetime.now(UTC)
            uri = f"at://{self.handles[handle]}/app.bsky.feed.post/{self._tid(created)}"
            record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": iso(created), "langs": ["en"],
                      "reply": {"root": root, "parent": {"uri": parent["uri"], "cid": parent["cid"]}}}
            post = {"uri": uri, "cid": cid(json.dumps(record, sort_keys=True).encode()), "author": author,
                    "record": record, "replyCount": 0, "repostCount": 0, "likeCount": 0, "quoteCount": 0,
                    "indexedAt": iso(created), "labels": []}
            self._posts[uri] = post
            return post

    def replies_to(self, uri: str) -> list[dict]:
        """Our own records that reply to this post (what the consent stage sent there)."""
        return [p["record"] for p in self.published if (p["record"].get("reply") or {}).get("parent", {}).get("uri")
                == uri]

    def _view(self, post: dict) -> dict:
        viewer = {"replyDisabled": True} if post["uri"] in self.reply_disabled else {}
        return post | {"viewer": viewer, "replyCount": len(self._children(post["uri"]))}

    def _children(self, uri: str) -> list[dict]:
        return [p for p in self._posts.values() if ((p["record"].get("reply") or {}).get("parent") or {}).get("uri")
                == uri]

    def _thread_view(self, post: dict, depth: int) -> dict:
        node = {"$type": "app.bsky.feed.defs#threadViewPost", "post": self._view(post)}
        if depth > 0:
            node["replies"] = [self._thread_view(child, depth - 1) for child in self._children(post["uri"])]
        return node

    def _app_bsky_feed_getPosts(self, request: Recorded) -> Reply:
        uris = request.query.get("uris") or []
        if not 1 <= len(uris) <= 25:
            return _error(400, "InvalidRequest", "Error: uris must have between 1 and 25 items")
        return Reply(200, {"posts": [self._view(self._posts[u]) for u in uris if u in self._posts]})

    def _app_bsky_feed_getPostThread(self, request: Recorded) -> Reply:
        uri = (request.query.get("uri") or [""])[0]
        depth = int((request.query.get("depth") or ["6"])[0])
        if not 0 <= depth <= 1000:
            return _error(400, "InvalidRequest", "Error: depth must be between 0 and 1000")
        if uri not in self._posts:
            return _error(400, "NotFound", f"Post not found: {uri}")
        return Reply(200, {"thread": self._thread_view(self._posts[uri], depth)})


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))

