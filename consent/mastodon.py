"""Asking on the fediverse (Mastodon, Pixelfed): a reply from our account to the photographer's post, read back.

The post was collected wherever it was found; our account lives on its own instance, which knows the post by
another id: GET /api/v2/search?resolve=true (platforms/mastodon.py) fetches it there. The reply carries
in_reply_to_id, the mention, the channel's visibility and an Idempotency-Key: Mastodon answers a repeated key
within the hour with the same status (app/services/post_status_service.rb, redis key idempotency:status:ACCOUNT:KEY,
3,600 s), Pixelfed with 400 "Duplicate idempotency key." (ApiV1Controller::statusCreate); past that hour our
reply is found among the post's replies (GET /api/v1/statuses/:id/context).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from consent.base import AskRequest, Reply, Sent, with_mention
from core.errors import NotFound, PlatformError
from core.html_text import html_to_text
from core.http import Http
from core.safe_text import strip_control
from core.settings import ChannelSettings, Settings
from platforms.mastodon import DuplicateIdempotencyKey, MastodonAPI, api_for

MAX_REPLY_TEXT = 5000  # characters of a reply's HTML worth reading (Mastodon's own limit is 500 by default)
MAX_REPLIES = 200  # replies to one request read per run


class PostGone(NotFound):
    """The photographer's post cannot be found from our instance any more (deleted, or its server is gone)."""


class MastodonAsker:
    """Replies from our account on a Mastodon-compatible instance."""

    network = "fediverse"

    def __init__(self, api: MastodonAPI, *, flavor: str = "mastodon"):
        self.api = api
        self.flavor = flavor
        self._me: str | None = None
        self._domain: str | None = None

    def can_reply(self, post_key: str, post_url: str) -> bool:
        return any(urlsplit(u).scheme in ("http", "https") for u in (post_key, post_url))

    def ask(self, request: AskRequest) -> Sent:
        target = self._target(request)
        form = {"status": with_mention(request.text, request.author_handle), "in_reply_to_id": target,
                "visibility": self._visibility(request.visibility)}
        if request.language:
            form["language"] = request.language
        try:
            status = self.api.post_status(form, request.idempotency_key)
        except DuplicateIdempotencyKey:
            found = self.find_sent(request)
            if found is None:
                raise PlatformError(f"{self.api.host} says this request was already sent but it is not among the "
                                    f"post's replies; look at our account by hand") from None
            return found
        except NotFound:
            raise PostGone(f"{self.api.host} no longer has the post {request.post_url} to reply to") from None
        return _sent(status, self.api.host)

    def find_sent(self, request: AskRequest) -> Sent | None:
        """Our own reply among the post's replies, else among our latest statuses (Pixelfed's context lists only 20
        replies): the request, made by an earlier attempt."""
        try:
            target = self._target(request)
            replies = self.api.context(target)
        except (PostGone, NotFound):
            return None
        me = self._account_id()
        for status in [*replies, *self.api.account_statuses(me, limit=40)]:
            account = status.get("account") if isinstance(status.get("account"), dict) else {}
            if str(account.get("id")) == me and str(status.get("in_reply_to_id")) == target:
                return _sent(status, self.api.host)
        return None

    def replies(self, sent: Sent, request: AskRequest) -> list[Reply]:
        """Every reply under our request, oldest first, each marked whether it is the photographer's own."""
        found, parents = [], {}
        for status in self.api.context(sent.remote_id)[:MAX_REPLIES]:
            reply = self._reply(status, request)
            if reply is not None:
                found.append(reply)
                parents[reply.remote_id] = str(status.get("in_reply_to_id") or "")[:64]
        authors = {r.remote_id for r in found if r.by_author}
        found = [replace(r, to_us=_to_us(r.remote_id, sent.remote_id, parents, authors)) for r in found]
        return sorted(found, key=lambda r: r.created_at)

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _target(self, request: AskRequest) -> str:
        """The photographer's post as our instance knows it: its local id, fetched by its URL if need be."""
        wanted = {u for u in (request.post_key, request.post_url) if u}
        for query in dict.fromkeys((request.post_url, request.post_key)):
            if not query:
                continue
            for status in self.api.search_statuses(query, resolve=True):
                if (status.get("uri") in wanted or status.get("url") in wanted) and status.get("id"):
                    return str(status["id"])
        raise PostGone(f"{self.api.host} cannot find {request.post_url} any more (deleted, or its server is down)")

    def _account_id(self) -> str:
        if self._me is None:
            self._me = str(self.api.verify_credentials().get("id"))
        return self._me

    def _instance_domain(self) -> str:
        if self._domain is None:
            self._domain = self.api.domain()
        return self._domain

    def _visibility(self, wanted: str) -> str:
        # Pixelfed's statusCreate accepts only private|unlisted|public (ApiV1Controller, 'in:private,unlisted,public');
        # a direct message there is another API. The nearest narrow choice is "private" (unverified: whether the
        # mentioned photographer, not a follower, sees a private reply on Pixelfed).
        return "private" if self.flavor == "pixelfed" and wanted == "direct" else wanted

    def _reply(self, status: dict, request: AskRequest) -> Reply | None:
        """A Reply from one descendant; None for a record that cannot be read (it costs that one record)."""
        account = status.get("account")
        sid, uri, content = status.get("id"), status.get("uri"), status.get("content")
        if not isinstance(account, dict) or not isinstance(sid, str | int) or not isinstance(uri, str):
            return None
        acct = account.get("acct")
        if not isinstance(acct, str) or not acct or len(acct) > 320:
            return None
        if "@" not in acct.lstrip("@"):
            acct = f"{acct.lstrip('@')}@{self._instance_domain()}"  # a local account: the instance's own domain
        try:
            created = datetime.fromisoformat(str(status.get("created_at")).replace("Z", "+00:00"))
        except ValueError:
            return None
        text = html_to_text(content[:MAX_REPLY_TEXT]) if isinstance(content, str) else ""
        url = status.get("url") if isinstance(status.get("url"), str) else uri
        return Reply(remote_id=str(sid)[:64], url=url[:2048], text=strip_control(text, multiline=True),
                     author_handle=acct.lstrip("@").lower()[:320], author_uid=None,
                     created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
                     by_author=is_author(acct, account, uri, request))


def is_author(acct: str, account: dict, status_uri: str, request: AskRequest) -> bool:
    """Whether a reply is the photographer's own: same user@domain (`acct`, a local one completed with our
    instance's domain), and the account and the status live on the photographer's server. A display name, or the
    same username on another server, is someone else."""
    user, _, home = request.author_handle.lstrip("@").lower().partition("@")
    if not home or acct.lstrip("@").lower() != f"{user}@{home}":
        return False
    homes = {home, _host(request.post_key), _host(request.post_url)} - {""}
    return (_on(status_uri, homes) and _on(str(account.get("uri") or ""), homes)
            and _on(str(account.get("url") or ""), homes))


def _to_us(reply_id: str, ours: str, parents: dict[str, str], authors: set[str]) -> bool:
    """Whether a reply answers our request: under it, with only the photographer's own replies in between."""
    parent = parents.get(reply_id)
    for _ in range(len(parents)):
        if parent == ours:
            return True
        if parent not in authors:
            return False
        parent = parents.get(parent)
    return False


def _host(url: str) -> str:
    return (urlsplit(url or "").netloc.rpartition("@")[2]).lower()


def _on(url: str, homes: set[str]) -> bool:
    """On one of the photographer's hosts (or a subdomain of their domain: Mastodon's WEB_DOMAIN split)."""
    host = _host(url)
    return bool(host) and any(host == h or host.endswith("." + h) for h in homes)


def _sent(status: dict, host: str) -> Sent:
    try:
        return Sent(remote_id=str(status["id"]), url=status.get("url") or status["uri"])
    except (KeyError, TypeError):
        raise PlatformError(f"{host} accepted the reply but sent back no status id; check the account") from None


def build(channel: ChannelSettings, settings: Settings, http: Http) -> MastodonAsker:
    """The asker for a `kind = "mastodon"` or `"pixelfed"` channel: its token in token_env (write:statuses, read)."""
    return MastodonAsker(api_for(channel, http), flavor=channel.kind)
