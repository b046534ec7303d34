"""Mastodon and Pixelfed publisher: POST /api/v2/media, then POST /api/v1/statuses with an Idempotency-Key."""

from __future__ import annotations

import html
import re

from platforms.mastodon import DuplicateIdempotencyKey, MastodonAPI, api_for
from core.bounds import as_int
from core.errors import PlatformError
from core.http import Http
from core.settings import ChannelSettings, Settings
from publisher.base import PublishRequest, Published
from publisher.credit import Limits

EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}


class MastodonPublisher:
    """Reposts to our own account on a Mastodon-compatible instance."""

    network = "fediverse"

    def __init__(self, api: MastodonAPI):
        self.api = api
        self._instance: dict | None = None

    def _config(self) -> dict:
        if self._instance is None:
            try:
                config = self.api.instance().get("configuration")
            except PlatformError:
                config = None  # older servers: fall back to the documented defaults
            self._instance = config if isinstance(config, dict) else {}
        return self._instance

    def limits(self) -> Limits:
        """The instance's configuration.statuses and .media_attachments, else Mastodon's defaults.

        Our own instance answers, but a value that is not a positive whole number is read as unset, not trusted.
        """
        config = self._config()
        statuses, media = _section(config, "statuses"), _section(config, "media_attachments")
        return Limits(max_chars=_count(statuses.get("max_characters")) or 500,
                      max_media=_count(statuses.get("max_media_attachments")) or 4,
                      url_chars=_count(statuses.get("characters_reserved_per_url")) or 23,
                      max_image_bytes=_count(media.get("image_size_limit")),
                      max_image_pixels=_count(media.get("image_matrix_limit")))

    def publish(self, request: PublishRequest) -> Published:
        media_ids = []
        for position, image in enumerate(request.images):
            uploaded = self.api.upload_media(image.data, image.mime, f"photo-{position + 1}.{EXT.get(image.mime, 'jpg')}",
                                             image.alt)
            media_ids.append(str(uploaded["id"]))
        form: dict = {"status": request.text, "media_ids[]": media_ids, "visibility": request.visibility,
                      "sensitive": "true" if request.sensitive else "false"}
        if request.spoiler_text:
            form["spoiler_text"] = request.spoiler_text
        if request.language:
            form["language"] = request.language
        try:
            status = self.api.post_status(form, request.idempotency_key)
        except DuplicateIdempotencyKey:
            # Pixelfed answers a repeated key with 400 instead of the original status: look it up.
            found = self.find_existing(request)
            if found is None:
                raise PlatformError(f"{self.api.host} says this repost was already made but it is not on our "
                                    f"timeline; check the account by hand") from None
            return found
        return _published(status)

    def find_existing(self, request: PublishRequest) -> Published | None:
        """Our recent statuses that link the original post are this repost, made before a crash."""
        if not request.original_url:  # erased by `wlb forget`: an empty link is "in" every status
            return None
        links = re.compile(re.escape(request.original_url) + r"(?![\w/?#&=%~+-])")  # not a longer URL it starts
        me = self.api.verify_credentials()
        for status in self.api.account_statuses(str(me["id"]), limit=40):
            # `content` is HTML: a link with "&" in it reads "&amp;" there.
            content = status.get("content") if isinstance(status.get("content"), str) else ""
            if links.search(html.unescape(content)):
                return _published(status)
        return None

    def unpublish(self, remote_id: str) -> bool:
        """Delete our status; False if it was already gone."""
        return self.api.delete_status(remote_id)


def _published(status: dict) -> Published:
    try:
        return Published(remote_id=str(status["id"]), url=status.get("url") or status["uri"])
    except (KeyError, TypeError):
        raise PlatformError("the instance accepted the post but sent back no status id; check the account") from None


def build(channel: ChannelSettings, settings: Settings, http: Http) -> MastodonPublisher:
    """The publisher for a `kind = "mastodon"` or `"pixelfed"` channel: the application token in token_env."""
    return MastodonPublisher(api_for(channel, http))


def _section(config: dict, name: str) -> dict:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    """A positive whole number from the instance's configuration, or None."""
    number = as_int(value)
    return number if number is not None and 0 < number < 10**12 else None
