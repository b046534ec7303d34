"""What a publisher is: an approved item plus its credit → one remote post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from collections.abc import Callable

from publisher.credit import CreditAuthor, Limits


@dataclass(frozen=True)
class UploadImage:
    data: bytes
    mime: str
    alt: str
    width: int | None = None  # of `data` as prepared for upload
    height: int | None = None


@dataclass(frozen=True)
class PublishRequest:
    text: str
    images: list[UploadImage]
    idempotency_key: str
    original_url: str  # how a repost is recognised on our own timeline after a crash
    sensitive: bool = False
    spoiler_text: str = ""
    language: str | None = None
    visibility: str = "public"
    author: CreditAuthor | None = None  # who the text credits, for targets that link a credit to an account
    planned_at: datetime | None = None  # when the publication row was first written: the same on every retry
    # For platforms without an idempotency key (Instagram): what an earlier attempt saved of its progress (a
    # container id), and how to save it on the publication row, committed, before the call that posts.
    saved: str | None = None
    save: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Published:
    remote_id: str
    url: str


class Publisher(Protocol):
    """One target channel."""

    network: str  # whose accounts a credit can mention: "fediverse", "bluesky"

    def limits(self) -> Limits:
        """The target's text, media and image limits, read from the platform when it publishes them."""
        ...

    def publish(self, request: PublishRequest) -> Published:
        """Upload the images and create the post, once, whatever retries happen."""
        ...

    def find_existing(self, request: PublishRequest) -> Published | None:
        """A post we already made for this request (after a crash or an ambiguous answer), if any."""
        ...
