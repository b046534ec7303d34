"""Asking on Bluesky: a reply record to the photographer's post with a mention facet, at a record key chosen before
the call, and their answers read from getPostThread under it.

Lexicons (bluesky-social/atproto d6296a1c): app.bsky.feed.post#replyRef {root, parent} are strong refs (uri + cid);
the cid comes from app.bsky.feed.getPosts, and a post that is itself a reply gives its own root. A mention is a
facet app.bsky.richtext.facet#mention {did} over the "@handle" text, byte offsets in UTF-8 (start inclusive, end
exclusive); without it the photographer is not notified. Never twice: the record key is a TID made from when the
request was planned and its idempotency key, written with com.atproto.repo.createRecord, which refuses a second
record at an existing key (platforms/bluesky.py create_record).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from atproto import models

from consent.base import AskRequest, Reply, Sent, with_mention
from core.errors import NotCreated, NotFound, PlatformError
from core.http import Http
from core.safe_text import strip_control
from core.settings import ChannelSettings, Settings
from platforms.bluesky import POST, POST_URI, BadRequest, BlueskyAPI, api_for, permalink, stable_key

MAX_REPLIES = 200  # replies to one request read per run
MAX_DEPTH = 6  # getPostThread's default depth: a conversation under our request, not a whole debate
MAX_TEXT = 3000  # app.bsky.feed.post text maxLength (bytes)


class PostGone(NotFound):
    """The photographer's post is deleted (getPosts leaves it out)."""


class RepliesClosed(NotCreated):
    """The photographer's threadgate does not let us reply (postView.viewer.replyDisabled)."""


class BlueskyAsker:
    """Replies from our Bluesky account."""

    network = "bluesky"

    def __init__(self, api: BlueskyAPI, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.api = api
        self.clock = clock

    def can_reply(self, post_key: str, post_url: str) -> bool:
        return POST_URI.fullmatch(post_key or "") is not None

    def ask(self, request: AskRequest) -> Sent:
        rkey = _rkey(request)
        views = [v for v in self.api.get_posts([request.post_key]) if v.get("uri") == request.post_key]
        if not views or not isinstance(views[0].get("cid"), str):
            raise PostGone(f"the post {request.post_url} is gone from Bluesky")
        view = views[0]
        viewer = view.get("viewer") if isinstance(view.get("viewer"), dict) else {}
        if viewer.get("replyDisabled") is True:
            raise RepliesClosed(f"{request.post_url}: the photographer does not allow our replies; ask by hand")
        parent = models.ComAtprotoRepoStrongRef.Main(uri=request.post_key, cid=view["cid"])
        text, did = with_mention(request.text, request.author_handle), author_did(request)
        record = models.AppBskyFeedPost.Record(
            text=text, created_at=self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            reply=models.AppBskyFeedPost.ReplyRef(root=_root(view) or parent, parent=parent),
            facets=mention_facets(text, request.author_handle, did) or None,
            langs=[request.language] if request.language else None)
        try:
            written = self.api.create_record(POST, rkey, record)
        except BadRequest:
            found = self.find_sent(request)  # a record at our key already: an earlier attempt made it
            if found is None:
                raise
            return found
        return Sent(remote_id=written.uri, url=permalink(self.api.account_handle, rkey))

    def find_sent(self, request: AskRequest) -> Sent | None:
        """The reply at this request's record key, if an earlier attempt made it."""
        rkey = _rkey(request)
        try:
            found = self.api.get_record(self.api.did, POST, rkey)
        except NotFound:
            return None
        return Sent(remote_id=found.uri, url=permalink(self.api.account_handle, rkey))

    def replies(self, sent: Sent, request: AskRequest) -> list[Reply]:
        """The replies under our request (a few levels deep), oldest first; the photographer's are marked."""
        thread = self.api.get_post_thread(sent.remote_id, depth=MAX_DEPTH)
        did, found = author_did(request), []
        pending = [(child, True) for child in _children(thread)]  # (node, whether its parent is ours or hers to us)
        while pending and len(found) < MAX_REPLIES:
            node, to_us = pending.pop(0)
            reply = _reply(node.get("post"), did, to_us=to_us)
            if reply is not None:
                found.append(reply)
            hers = reply is not None and reply.by_author and to_us
            pending.extend((child, hers) for child in _children(node))
        return sorted(found, key=lambda r: r.created_at)


def author_did(request: AskRequest) -> str:
    """The photographer's DID: the one in their post's at:// uri (the repository it lives in), whatever a profile says."""
    found = POST_URI.fullmatch(request.post_key or "")
    if not found:
        raise PlatformError(f"{request.post_key!r} is not the at:// uri of a Bluesky post")
    return found.group(1)


def mention_facets(text: str, handle: str, did: str) -> list[models.AppBskyRichtextFacet.Main]:
    """A mention facet over each "@handle" in the text, at its UTF-8 byte offsets."""
    mention, data, facets, start = "@" + handle.lstrip("@"), text.encode(), [], 0
    needle = mention.encode()
    while (at := data.lower().find(needle.lower(), start)) >= 0:
        end = at + len(needle)
        if end == len(data) or not (chr(data[end]).isalnum() or data[end:end + 1] in (b".", b"-", b"_")):
            facets.append(models.AppBskyRichtextFacet.Main(
                features=[models.AppBskyRichtextFacet.Mention(did=did)],
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=at, byte_end=end)))
        start = end
    return facets


def _rkey(request: AskRequest) -> str:
    if request.planned_at is None:
        raise ValueError("a Bluesky request needs the time it was planned to choose its record key")
    return stable_key(request.planned_at, request.idempotency_key)


def _root(view: dict) -> models.ComAtprotoRepoStrongRef.Main | None:
    """The thread's root when the photographer's post is itself a reply (its record's reply.root), else None."""
    record = view.get("record") if isinstance(view.get("record"), dict) else {}
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    root = reply.get("root") if isinstance(reply.get("root"), dict) else {}
    uri, cid = root.get("uri"), root.get("cid")
    if isinstance(uri, str) and POST_URI.fullmatch(uri) and isinstance(cid, str) and len(cid) < 200:
        return models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid)
    return None


def _children(node: object) -> list[dict]:
    """The threadViewPosts among a node's replies (notFoundPost and blockedPost carry nothing to read)."""
    replies = node.get("replies") if isinstance(node, dict) else None
    if not isinstance(replies, list):
        return []
    return [r for r in replies[:MAX_REPLIES] if isinstance(r, dict) and isinstance(r.get("post"), dict)
            and r.get("$type", "app.bsky.feed.defs#threadViewPost") == "app.bsky.feed.defs#threadViewPost"]


def _reply(post: object, did: str, *, to_us: bool = True) -> Reply | None:
    """A Reply from one postView; None for one that cannot be read."""
    if not isinstance(post, dict):
        return None
    author, record, uri = post.get("author"), post.get("record"), post.get("uri")
    if not isinstance(author, dict) or not isinstance(record, dict) or not isinstance(uri, str):
        return None
    found = POST_URI.fullmatch(uri)
    by, handle = author.get("did"), author.get("handle")
    if not found or not isinstance(by, str) or not isinstance(handle, str) or found.group(1) != by:
        return None  # a view whose uri is not in its author's repository is not what it says it is
    try:
        created = datetime.fromisoformat(str(record.get("createdAt")).replace("Z", "+00:00"))
    except ValueError:
        return None
    text = record.get("text") if isinstance(record.get("text"), str) else ""
    return Reply(remote_id=uri, url=permalink(handle[:253], found.group(3)),
                 text=strip_control(text[:MAX_TEXT], multiline=True), author_handle=handle[:253].lower(),
                 author_uid=by, created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
                 by_author=by == did, to_us=to_us)


def build(channel: ChannelSettings, settings: Settings, http: Http) -> BlueskyAsker:
    """The asker for a `kind = "bluesky"` channel: its handle and app password, the session shared with the others."""
    return BlueskyAsker(api_for(channel, settings, http))
