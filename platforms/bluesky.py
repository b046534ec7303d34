"""Bluesky XRPC through the atproto SDK: our HTTP policy underneath, a persisted session, errors a person can act on.

createSession is limited to 30 per 5 minutes and 300 a day per account
(https://docs.bsky.app/docs/advanced-guides/rate-limits), so the session is kept in the data
folder and reused; the SDK refreshes it before its access token expires.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
from atproto import Client, Session, SessionEvent, models
from atproto_client import exceptions
from atproto_client.models.blob_ref import BlobRef
from atproto_client.models.common import XrpcError
from atproto_client.request import RequestBase, Response
from atproto_core.exceptions import AtProtocolError

from core.errors import NotFound, PlatformError
from core.http import Http
from core.settings import ChannelSettings, Settings

POST = "app.bsky.feed.post"
POST_URI = re.compile(r"at://([^/]+)/(app\.bsky\.feed\.post)/([^/]+)")
# The server's word that our tokens are no good, whatever their own expiry says (clock skew, revoked).
_TOKEN_ERRORS = {"ExpiredToken", "InvalidToken"}
_ERRORS = {400: exceptions.BadRequestError, 401: exceptions.UnauthorizedError, 403: exceptions.UnauthorizedError}
T = TypeVar("T")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRequest(PlatformError):
    """The server refused the request itself (400): a handle that does not resolve, a cursor it no longer knows."""


class SearchPage(NamedTuple):
    """One searchPosts answer, its postViews still raw: each is parsed on its own, so one odd post costs one post."""

    posts: list[Any]
    cursor: str | None


class HttpRequest(RequestBase):
    """The SDK's transport, replaced: every XRPC call goes through Http (SSRF guard, timeouts, retries, rate limits)."""

    def __init__(self, http: Http):
        super().__init__()
        self.http = http

    def _new_instance(self) -> HttpRequest:
        return type(self)(self.http)

    def get(self, url: str, params: dict | None = None, headers: dict | None = None, **_: Any) -> Response:
        return self._send("GET", url, params, headers, None)

    def post(self, url: str, params: dict | None = None, headers: dict | None = None, content: str | None = None,
             data: bytes | None = None, **_: Any) -> Response:
        return self._send("POST", url, params, headers, content if content is not None else data)

    def _send(self, method: str, url: str, params: dict | None, headers: dict | None,
              body: str | bytes | None) -> Response:
        sent = {k: v for k, v in self.get_headers(headers).items() if k.lower() != "user-agent"}  # ours applies
        if method == "GET":
            # Every XRPC query we send answers application/json: a body cut short is retried by Http like a 5xx
            # (issue 7), one nested too deep is an HttpError at once.
            response, data = self.http.request_json(method, url, params=params, headers=sent)
            return _answer(response, data)
        if isinstance(body, str):
            response = self.http.request(method, url, params=params, headers=sent, json=json.loads(body))
        elif body is not None:
            response = self.http.request(method, url, params=params, headers=sent, content=body)
        else:
            response = self.http.request(method, url, params=params, headers=sent)
        data: Any = None
        if response.is_success and "application/json" in response.headers.get("content-type", ""):
            try:  # a procedure (POST) is never sent twice because of its answer's body
                data = response.json()
            except (ValueError, RecursionError):
                raise PlatformError(f"{response.url.host} answered {response.url.path} with broken JSON") from None
        elif not response.is_success:
            data = _json_or_none(response)
        return _answer(response, data)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _answer(response: httpx.Response, data: Any) -> Response:
    """The SDK's Response: the parsed body of a JSON answer, raw bytes otherwise; the SDK's error for a non-2xx."""
    headers_out = {k.lower(): v for k, v in response.headers.items()}
    if not response.is_success:
        error = _xrpc_error(data)
        raise _ERRORS.get(response.status_code, exceptions.RequestException)(
            Response(False, response.status_code, error or response.content, headers_out))
    is_json = "application/json" in response.headers.get("content-type", "")
    return Response(True, response.status_code, data if is_json else response.content, headers_out)


def _xrpc_error(body: Any) -> XrpcError | None:
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    return XrpcError(error=body["error"], message=body.get("message") if isinstance(body.get("message"), str) else None)


def _error_code(exc: Exception) -> str | None:
    content = getattr(getattr(exc, "response", None), "content", None)
    return content.error if isinstance(content, XrpcError) else None


def _explain(exc: Exception) -> str:
    """The server's status, error name and message on one short line."""
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    if isinstance(content, XrpcError):
        detail = f"{content.error}: {content.message}" if content.message else content.error
    else:
        detail = str(exc) or type(exc).__name__
    status = f"{response.status_code} " if response is not None else ""
    return (status + " ".join(detail.split()))[:240]


class SessionFile:
    """One account's session string in the data folder, readable by its owner only."""

    def __init__(self, path: Path, handle: str, service: str):
        self.path, self.handle, self.service = path, handle, service

    def read(self) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or (data.get("handle"), data.get("service")) != (self.handle, self.service):
            return None  # the config now names another account or server
        return data.get("session") if isinstance(data.get("session"), str) else None

    def write(self, session: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"handle": self.handle, "service": self.service, "session": session}, handle)
        os.replace(tmp, self.path)


def session_path(data_dir: Path, handle: str, base_url: str) -> Path:
    """data/sessions/bluesky-<handle>@<host>.json: one per account, shared by its collector and publisher."""
    name = re.sub(r"[^\w.@-]", "_", f"bluesky-{handle}@{httpx.URL(base_url).host}")
    return Path(data_dir) / "sessions" / f"{name}.json"


class BlueskyAPI:
    """Calls for one account, logged in on first use with the stored session or the app password."""

    def __init__(self, http: Http, base_url: str, handle: str, password: str | None, *, password_env: str | None,
                 session_file: SessionFile):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.handle = handle
        self._password = password
        self.password_env = password_env
        self.sessions = session_file
        self._client: Client | None = None
        self._session: Session | None = None
        self._known: str | None = None  # the session string last read or written

    @property
    def host(self) -> str:
        return httpx.URL(self.base_url).host

    @property
    def did(self) -> str:
        self._login()
        return self._session.did

    @property
    def account_handle(self) -> str:
        """Our handle as the server knows it (it may differ in case from the configured identifier)."""
        self._login()
        return self._session.handle

    def _login(self, *, fresh: bool = False) -> Client:
        stored = None if fresh else self.sessions.read()
        if self._client is not None and not fresh and stored in (None, self._known):
            return self._client
        client = Client(base_url=self.base_url, request=HttpRequest(self.http))
        client.on_session_change(self._saved)
        if stored:
            try:
                client.login(session_string=stored, fetch_bsky_profile=False)
                self._session, self._known, self._client = Session.decode(stored), stored, client
                return client
            except (ValueError, AtProtocolError):
                pass  # a damaged file: log in again
        if not self._password:
            raise PlatformError(f"no app password to log in to {self.host} as {self.handle}; "
                                f"export it in ${self.password_env}")
        try:
            client.login(self.handle, self._password, fetch_bsky_profile=False)
        except exceptions.RequestErrorBase as exc:
            raise PlatformError(f"{self.host} refused to log in as {self.handle} ({_explain(exc)}); check the handle "
                                f"and the app password in ${self.password_env}") from None
        self._client = client
        return client

    def _saved(self, event: SessionEvent, session: Session) -> None:
        self._session = session
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._known = session.encode()
            self.sessions.write(self._known)

    def call(self, what: str, fn: Callable[[Client], T]) -> T:
        """Run one SDK call, with the SDK's errors turned into ours."""
        try:
            return self._attempt(fn)
        except exceptions.RequestErrorBase as exc:
            code = _error_code(exc)
            if code in ("RecordNotFound", "NotFound"):
                raise NotFound(f"{self.host}: {what}: {_explain(exc)}") from None
            if isinstance(exc, exceptions.UnauthorizedError):
                raise PlatformError(f"{self.host} refused {what} ({_explain(exc)}); check the handle and the app "
                                    f"password in ${self.password_env}") from None
            error = BadRequest if isinstance(exc, exceptions.BadRequestError) else PlatformError
            raise error(f"{self.host} answered {what} with {_explain(exc)}") from None
        except AtProtocolError as exc:  # the answer does not match the lexicon
            raise PlatformError(f"{self.host} sent an unexpected answer to {what} ({_explain(exc)})") from None

    def _attempt(self, fn: Callable[[Client], T]) -> T:
        """Call once; log in again (once) if the server says our tokens are expired or revoked."""
        try:
            return fn(self._login())
        except (exceptions.RequestErrorBase, exceptions.LoginRequiredError) as exc:
            if isinstance(exc, exceptions.RequestErrorBase) and _error_code(exc) not in _TOKEN_ERRORS:
                raise
            return fn(self._login(fresh=True))

    def search_posts(self, q: str, *, tag: str, since: str | None, cursor: str | None, limit: int) -> SearchPage:
        """One page of app.bsky.feed.searchPosts; the envelope is checked here, the posts by their parser."""
        params = models.AppBskyFeedSearchPosts.Params(q=q, tag=[tag], sort="latest", since=since, cursor=cursor,
                                                      limit=limit)
        # Not c.app.bsky.feed.search_posts: it validates the whole page at once, and one post the SDK
        # cannot read would then cost the page.
        answer = self.call("searchPosts", lambda c: c.invoke_query("app.bsky.feed.searchPosts", params=params,
                                                                   output_encoding="application/json"))
        body = answer.content
        posts = body.get("posts") if isinstance(body, dict) else None
        if not isinstance(posts, list):
            raise PlatformError(f"{self.host} answered searchPosts without a list of posts")
        cursor = body.get("cursor")
        return SearchPage(posts[:limit], cursor if isinstance(cursor, str) and cursor else None)

    def get_record(self, repo: str, collection: str, rkey: str) -> models.ComAtprotoRepoGetRecord.Response:
        """A record; NotFound if there is none at that key."""
        params = models.ComAtprotoRepoGetRecord.Params(repo=repo, collection=collection, rkey=rkey)
        return self.call("getRecord", lambda c: c.com.atproto.repo.get_record(params))

    def upload_blob(self, data: bytes, mime: str) -> BlobRef:
        answer = self.call("uploadBlob", lambda c: c.com.atproto.repo.upload_blob(data, headers={"Content-Type": mime}))
        return answer.blob

    def put_record(self, collection: str, rkey: str, record: Any) -> models.ComAtprotoRepoPutRecord.Response:
        """Write our record at this key: a second call with the same key replaces, it never adds."""
        def put(client: Client) -> models.ComAtprotoRepoPutRecord.Response:
            data = models.ComAtprotoRepoPutRecord.Data(repo=self._session.did, collection=collection, rkey=rkey,
                                                       record=record)
            return client.com.atproto.repo.put_record(data)
        return self.call("putRecord", put)

    def delete_record(self, uri: str) -> None:
        """com.atproto.repo.deleteRecord for our post at this at:// uri.

        The lexicon (bluesky-social/atproto lexicons/com/atproto/repo/deleteRecord.json) reads "Delete a repository
        record, or ensure it doesn't exist": the PDS (packages/pds/src/api/com/atproto/repo/deleteRecord.ts) answers
        200 when there is no record at the key, so a rerun after a crash is no error. Input {repo, collection, rkey};
        only our own repository: another DID's post is refused here, before anything is sent.
        """
        did, collection, rkey = split_uri(uri)

        def delete(client: Client) -> Any:
            if did != self._session.did:
                raise PlatformError(f"{uri} is not in our repository ({self._session.did}); it cannot be ours")
            data = models.ComAtprotoRepoDeleteRecord.Data(repo=did, collection=collection, rkey=rkey)
            return client.com.atproto.repo.delete_record(data)
        self.call("deleteRecord", delete)

    def resolve_handle(self, handle: str) -> str | None:
        """The DID behind a handle, or None if it does not resolve."""
        params = models.ComAtprotoIdentityResolveHandle.Params(handle=handle)
        try:
            return self.call("resolveHandle", lambda c: c.com.atproto.identity.resolve_handle(params)).did
        except BadRequest:  # "Unable to resolve handle"
            return None

    def check(self) -> str:
        """Log in (or reuse the session) and ask the server who we are; the account's handle."""
        return self.call("getSession", lambda c: c.com.atproto.server.get_session()).handle

    # ---- replies and threads (the consent stage asks photographers by reply) ----------------------------------

    def get_posts(self, uris: list[str]) -> list[dict]:
        """app.bsky.feed.getPosts (at most 25 uris): the postViews, raw; a deleted post is silently left out."""
        params = models.AppBskyFeedGetPosts.Params(uris=uris[:25])
        answer = self.call("getPosts", lambda c: c.invoke_query("app.bsky.feed.getPosts", params=params,
                                                                output_encoding="application/json"))
        posts = answer.content.get("posts") if isinstance(answer.content, dict) else None
        if not isinstance(posts, list):
            raise PlatformError(f"{self.host} answered getPosts without a list of posts")
        return [p for p in posts[:25] if isinstance(p, dict)]

    def get_post_thread(self, uri: str, *, depth: int = 6) -> dict:
        """app.bsky.feed.getPostThread: the thread under a post, raw (a threadViewPost, notFoundPost or blockedPost).

        Lexicon lexicons/app/bsky/feed/getPostThread.json (bluesky-social/atproto d6296a1c): depth 0-1000, default
        6; each threadViewPost has `post` and `replies` of the same three kinds. NotFound when the post is gone.
        """
        params = models.AppBskyFeedGetPostThread.Params(uri=uri, depth=depth, parent_height=0)
        answer = self.call("getPostThread", lambda c: c.invoke_query("app.bsky.feed.getPostThread", params=params,
                                                                     output_encoding="application/json"))
        thread = answer.content.get("thread") if isinstance(answer.content, dict) else None
        if not isinstance(thread, dict):
            raise PlatformError(f"{self.host} answered getPostThread without a thread")
        return thread

    def create_record(self, collection: str, rkey: str, record: Any) -> models.ComAtprotoRepoCreateRecord.Response:
        """Create our record at this key: unlike putRecord, a second call with the same key is refused, never replaces.

        The PDS's repo (packages/repo/src/mst/mst.ts add) throws when a leaf with that key exists: a rerun learns the
        record is there instead of writing a second version (approach inferred from the code, see platforms.md §3).
        """
        def create(client: Client) -> models.ComAtprotoRepoCreateRecord.Response:
            data = models.ComAtprotoRepoCreateRecord.Data(repo=self._session.did, collection=collection, rkey=rkey,
                                                          record=record)
            return client.com.atproto.repo.create_record(data)
        return self.call("createRecord", create)


def tid(moment: datetime, clock_id: int) -> str:
    """A record key in TID syntax: 53 bits of microseconds since 1970, 10 bits of clock id, base32-sortable."""
    micros = (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def stable_key(moment: datetime, idempotency_key: str) -> str:
    """The same record key for every attempt at one request: a TID from when it was planned and its key."""
    return tid(moment, int(hashlib.sha256(idempotency_key.encode()).hexdigest(), 16))


def split_uri(uri: str) -> tuple[str, str, str]:
    """at://<did>/app.bsky.feed.post/<rkey> → (did, collection, rkey)."""
    found = POST_URI.fullmatch(uri or "")
    if not found:
        raise PlatformError(f"{uri!r} is not the at:// uri of a Bluesky post")
    return found.group(1), found.group(2), found.group(3)


def permalink(author: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{author}/post/{rkey}"


def api_for(channel: ChannelSettings, settings: Settings, http: Http) -> BlueskyAPI:
    """The API for a channel's account; its collector and publisher share the stored session."""
    path = session_path(settings.data_dir, channel.handle, channel.base_url)
    return BlueskyAPI(http, channel.base_url, channel.handle, channel.token(), password_env=channel.token_env,
                      session_file=SessionFile(path, channel.handle, channel.base_url))


def probe(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    """`wlb doctor`: the app password logs in (or the stored session is still good)."""
    return f"reachable; logged in as {api_for(channel, settings, http).check()}"
