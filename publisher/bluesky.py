"""Bluesky publisher: upload the images, then put the post at a record key chosen before the call.

Never twice: the record key is a TID made from the moment the publication row was first written
and the item's idempotency key, so every retry writes to the same key, and com.atproto.repo.putRecord
replaces a record there instead of adding a post (bluesky-social/atproto lexicons/com/atproto/repo/putRecord.json).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from atproto import models
from atproto_client.utils import facet_detection

from platforms.bluesky import api_for, permalink, stable_key, tid  # noqa: F401 - tid: tests import it here
from platforms.bluesky import POST, BlueskyAPI
from core.errors import NotFound, PlatformError
from core.http import Http
from core.settings import ChannelSettings, Settings
from publisher.base import PublishRequest, Published
from publisher.credit import Limits, bluesky_length

# app.bsky.embed.images allows 2,000,000 bytes since 2026-04 but said 1,000,000 before, and bsky-docs
# still checks 1,000,000 (docs/advanced-guides/posts.md): stay under the older limit. The official app
# resizes photos to 2,000 px on the long side; 4 Mpx keeps a photo sharp at that size.
MAX_IMAGE_BYTES = 1_000_000
MAX_IMAGE_PIXELS = 4_000_000
# Bluesky has no generic content warning: a post marked sensitive elsewhere gets the self-label for
# graphic media, which every client hides behind a warning by default.
SENSITIVE_LABEL = "graphic-media"


def record_key(request: PublishRequest) -> str:
    """The same key for every attempt at one item and channel."""
    if request.planned_at is None:
        raise ValueError("a Bluesky post needs the time its publication was planned to choose its record key")
    return stable_key(request.planned_at, request.idempotency_key)


def facets(text: str, dids: dict[str, str | None]) -> list[models.AppBskyRichtextFacet.Main]:
    """Links, hashtags and the mentions whose DID is known, at their UTF-8 byte offsets."""
    found = facet_detection.detect_facets(text)
    for mention in facet_detection.detect_mentions(text):
        did = dids.get(mention.handle.lower())
        if did:
            found.append(models.AppBskyRichtextFacet.Main(
                features=[models.AppBskyRichtextFacet.Mention(did=did)],
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=mention.byte_start, byte_end=mention.byte_end)))
    return sorted(found, key=lambda facet: facet.index.byte_start)


class BlueskyPublisher:
    """Reposts to our own Bluesky account."""

    network = "bluesky"

    def __init__(self, api: BlueskyAPI, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.api = api
        self.clock = clock

    def limits(self) -> Limits:
        """Bluesky's fixed limits (app.bsky.feed.post, app.bsky.embed.images): it publishes none to ask."""
        return Limits(max_chars=300, max_media=4, length=bluesky_length, max_image_bytes=MAX_IMAGE_BYTES,
                      max_image_pixels=MAX_IMAGE_PIXELS)

    def publish(self, request: PublishRequest) -> Published:
        rkey = record_key(request)
        images = []
        for image in request.images:
            if len(image.data) > MAX_IMAGE_BYTES:
                raise PlatformError(f"an image is {len(image.data):,} bytes, over Bluesky's {MAX_IMAGE_BYTES:,}")
            blob = self.api.upload_blob(image.data, image.mime)
            ratio = (models.AppBskyEmbedDefs.AspectRatio(width=image.width, height=image.height)
                     if image.width and image.height else None)  # bsky-docs: leave it out rather than guess
            images.append(models.AppBskyEmbedImages.Image(alt=image.alt, image=blob, aspect_ratio=ratio))
        record = models.AppBskyFeedPost.Record(
            text=request.text, created_at=self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            facets=facets(request.text, self._dids(request)) or None,
            embed=models.AppBskyEmbedImages.Main(images=images) if images else None,
            langs=_langs(request.language),
            labels=models.ComAtprotoLabelDefs.SelfLabels(values=[models.ComAtprotoLabelDefs.SelfLabel(
                val=SENSITIVE_LABEL)]) if request.sensitive else None)
        written = self.api.put_record(POST, rkey, record)
        return Published(remote_id=written.uri, url=permalink(self.api.account_handle, rkey))

    def find_existing(self, request: PublishRequest) -> Published | None:
        """The post at this request's record key, if an earlier attempt made it."""
        rkey = record_key(request)
        try:
            found = self.api.get_record(self.api.did, POST, rkey)
        except NotFound:
            return None
        return Published(remote_id=found.uri, url=permalink(self.api.account_handle, rkey))

    def unpublish(self, remote_id: str) -> bool:
        """Delete our post record (remote_id is its at:// uri); deleteRecord answers alike whether or not it existed."""
        self.api.delete_record(remote_id)
        return True

    def _dids(self, request: PublishRequest) -> dict[str, str | None]:
        """Handle → DID for every @handle in the text; the credited author's DID is already known."""
        dids: dict[str, str | None] = {}
        author = request.author
        if author and author.network == "bluesky" and author.uid:
            dids[author.handle.lstrip("@").lower()] = author.uid
        for mention in facet_detection.detect_mentions(request.text):
            handle = mention.handle.lower()
            if handle not in dids:
                dids[handle] = self.api.resolve_handle(handle)
        return dids


def _langs(language: str | None) -> list[str] | None:
    """[language] when it looks like a BCP-47 tag; anything else is left out rather than failing the post."""
    return [language] if language and re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*", language) else None


def build(channel: ChannelSettings, settings: Settings, http: Http) -> BlueskyPublisher:
    return BlueskyPublisher(api_for(channel, settings, http))
