"""The normalized post: the only thing that crosses from a collector to curation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    tags: tuple[str, ...] = ()
    media: tuple[MediaData, ...] = field(default_factory=tuple)
    license: str | None = None  # e.g. "CC BY 2.0"
    license_url: str | None = None
    title: str | None = None
    # No photographer could be determined (a feed without author): queued, but a person must supply the
    # credit (`wlb approve ID --credit ...`) before it can be published.
    needs_credit: bool = False
    # Things a reviewer should know that do not skip the post ("date in the future, clamped").
    flags: tuple[str, ...] = ()

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
