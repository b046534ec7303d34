"""The normalized post: the only thing that crosses from a collector to curation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


def normalize_tag(tag: str) -> str:
    """A hashtag as wlb keys and compares it: no leading '#', lower case ("#WeLoveBrussels" → "welovebrussels")."""
    return tag.lstrip("#").lower()


@dataclass(frozen=True)
class AuthorData:
    """Who posted it; `handle` is globally unique on its network (user@host on the fediverse)."""

    handle: str
    name: str
    profile_url: str
    network: str = "fediverse"
    uid: str | None = None  # the platform's stable id (a Bluesky DID): handles can change, this cannot
    # Served by the author's own origin (their home instance, their PDS, Flickr itself). Only such data may
    # rename a stored author row: another instance's copy of a profile can be stale or forged.
    authoritative: bool = True
    # Opt-out signals found in the account as served (core/consent.py SIGNALS: "nobot", "noindex",
    # "not_discoverable", "no_unauthenticated"), each with what showed it, e.g. ("nobot", "#nobot in their bio").
    signals: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.network}:{self.uid or self.handle.lower()}"


@dataclass(frozen=True)
class MediaData:
    """One attachment as the platform describes it; bytes come later."""

    url: str
    kind: str = "image"
    remote_url: str | None = None
    alt_text: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class PostData:
    """A post as collected; `key` is globally unique (the ActivityPub uri on the fediverse)."""

    key: str
    remote_id: str
    url: str
    author: AuthorData
    created_at: datetime
    text: str = ""
    language: str | None = None
    sensitive: bool = False
    spoiler_text: str = ""
    media: tuple[MediaData, ...] = field(default_factory=tuple)
    license: str | None = None  # e.g. "CC BY 2.0"
    license_url: str | None = None
    title: str | None = None
    # No photographer could be determined (a feed without author): queued, but a person must supply the
    # credit (`wlb approve ID --credit ...`) before it can be published.
    needs_credit: bool = False
    # Things a reviewer should know that do not skip the post ("date in the future, clamped").
    flags: tuple[str, ...] = ()
    # Its hashtags as the platform lists them, lower case without '#' (Bluesky's record.tags are not in the text):
    # [consent] no_repost_markers are looked for here and in the text.
    tags: tuple[str, ...] = ()

    @property
    def images(self) -> tuple[MediaData, ...]:
        return tuple(m for m in self.media if m.kind == "image")


@dataclass
class Page:
    """One page of a collector's answer, and the watermark to store once it is committed."""

    posts: list[PostData]
    watermark: str | None
    fetched: int = 0
    requests: int = 1
    skipped: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0  # estimated USD the platform charges for this page (X bills every post read)
    warnings: list[str] = field(default_factory=list)  # e.g. reads stopped at the monthly budget


def page_of(parsed: Iterable[tuple[PostData | None, str | None]], *, watermark: str | None, fetched: int) -> Page:
    """A page from a parser's (post, None) or (None, why skipped) results."""
    posts, skipped = [], Counter()
    for post, why in parsed:
        if post:
            posts.append(post)
        else:
            skipped[why or "unknown"] += 1
    return Page(posts=posts, watermark=watermark, fetched=fetched, skipped=dict(skipped))


def parse_each(records: Iterable[Any], parse: Callable[[Any], tuple[PostData | None, str | None]]
               ) -> Iterable[tuple[PostData | None, str | None]]:
    """Run a platform's record parser on each record; whatever one record raises costs that record only."""
    for record in records:
        try:
            yield parse(record)
        except Exception as exc:  # noqa: BLE001 - a hostile or odd record must not stop the page
            yield None, f"malformed ({type(exc).__name__})"


@dataclass(frozen=True)
class OriginClaim:
    """What we are about to repost and whom we will credit, as stored: checked at the post's origin first."""

    key: str  # the post's global identity: ActivityPub uri, at:// uri, flickr:ID, feed entry id
    remote_id: str  # its id on the channel it was collected from
    url: str
    author_handle: str
    author_uid: str | None = None
    media_urls: tuple[str, ...] = ()  # as collected (url, then remote_url)
    reviewer_credit: str | None = None  # the credit a reviewer supplied for an item no source could name


@dataclass(frozen=True)
class OriginCheck:
    """The origin's answer. `problem` set: it disagrees (other author, other images); do not publish."""

    deleted: bool = False
    problem: str | None = None
    verified: bool = False  # the origin itself was asked and confirmed the author (False: could not be asked)
    image_urls: tuple[str, ...] = ()  # the images as the origin serves them, to compare with ours


class OriginSource(Protocol):
    """Whoever can ask a post's origin about it: the collector of the channel that found it."""

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Whether the post still exists at its origin, and whether its author and images are what we stored."""
        ...
