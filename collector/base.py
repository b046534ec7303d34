"""What a collector is: "posts tagged X since watermark W" as pages of normalized posts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from core.posts import OriginCheck, OriginClaim, Page


class Collector(Protocol):
    """One channel's source of posts; built with the shared Http client and the channel's settings."""

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        """Yield pages newer than the watermark; a page's watermark may be stored once it is committed."""
        ...

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Ask the post's origin whether it still exists, and whether its author and images are what we stored."""
        ...
