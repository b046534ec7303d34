"""Pixelfed speaks the Mastodon API (platforms/mastodon.py); its status ids are its own snowflakes.

Pixelfed's ids (app/Services/SnowflakeService.php in https://github.com/pixelfed/pixelfed) are
((milliseconds - 1549756800000) << 22) | worker bits | sequence; Mastodon's (lib/mastodon/snowflake.rb in
https://github.com/mastodon/mastodon) are milliseconds << 16 | sequence. An id says when it was made.
"""

from __future__ import annotations

from datetime import UTC, datetime

from platforms.mastodon import MastodonAPI, api_for, probe

__all__ = ["MastodonAPI", "api_for", "probe", "pixelfed_id_time", "mastodon_id_time"]

PIXELFED_EPOCH_MS = 1_549_756_800_000
MASTODON_SHIFT = 16


def pixelfed_id_time(status_id: str) -> datetime | None:
    """When a Pixelfed snowflake id was minted (None for what is not one)."""
    if not status_id.isdigit() or len(status_id) > 20:
        return None
    return datetime.fromtimestamp(((int(status_id) >> 22) + PIXELFED_EPOCH_MS) / 1000, UTC)


def mastodon_id_time(status_id: str) -> datetime | None:
    """When a Mastodon snowflake id was minted."""
    if not status_id.isdigit() or len(status_id) > 20:
        return None
    return datetime.fromtimestamp((int(status_id) >> MASTODON_SHIFT) / 1000, UTC)
