"""What an asker is: one of our accounts that replies to a photographer's post and reads the replies it gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class AskRequest:
    """One permission request, as the ledger row (core.models.ConsentRequest) describes it."""

    text: str  # the whole reply, mention included
    post_url: str  # the photographer's post, as collected (Post.url)
    post_remote_id: str  # its id where it was collected (Post.remote_id: a status id, an at:// uri)
    post_key: str  # its global key (Post.key: the ActivityPub uri, the at:// uri)
    author_handle: str  # whom to mention: "user@host" on the fediverse, a Bluesky handle
    author_uid: str | None  # their stable id where there is one (a Bluesky DID)
    idempotency_key: str
    visibility: str = "direct"  # mastodon/pixelfed replies
    language: str | None = None
    planned_at: datetime | None = None  # when the ledger row was written: an earlier attempt's reply is newer


@dataclass(frozen=True)
class Sent:
    remote_id: str  # our reply: a status id on our instance, an at:// uri
    url: str


@dataclass(frozen=True)
class Reply:
    """A reply to our request, as the platform serves it; only the photographer's own reply counts."""

    remote_id: str
    url: str
    text: str  # plain text (HTML stripped), unbounded: the ledger bounds it
    author_handle: str
    author_uid: str | None
    created_at: datetime
    by_author: bool  # the asker checked it is the photographer's own account (handle/DID and origin), not a lookalike
    # It answers our request: its parent is our request, or the photographer's own reply under it. Her reply to
    # someone else in the thread ("is this the Sablon?" "yes") is hers, but not an answer to us.
    to_us: bool = True


class Asker(Protocol):
    """One channel that can ask: a token on the post's network."""

    network: str

    def can_reply(self, post_key: str, post_url: str) -> bool:
        """Whether this account can reply to that post at all (Instagram hashtag finds: no; ask by hand)."""
        ...

    def ask(self, request: AskRequest) -> Sent:
        """Reply to the post, once, whatever retries happen."""
        ...

    def find_sent(self, request: AskRequest) -> Sent | None:
        """Our reply for this request, if an earlier attempt made it (after a crash or a lost answer)."""
        ...

    def replies(self, sent: Sent, request: AskRequest) -> list[Reply]:
        """The replies to our request, oldest first."""
        ...


def with_mention(text: str, handle: str) -> str:
    """The request as sent: it must mention the photographer (@handle) or they are never notified."""
    mention = "@" + handle.lstrip("@")
    return text if mention.lower() in text.lower() else f"{mention} {text}"
