"""What a collector is: "posts tagged X since watermark W" as pages of normalized posts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from core.posts import Page


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


class Collector(Protocol):
    """One channel's source of posts; built with the shared Http client and the channel's settings."""

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        """Yield pages newer than the watermark; a page's watermark may be stored once it is committed."""
        ...

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Ask the post's origin whether it still exists, and whether its author and images are what we stored."""
        ...
