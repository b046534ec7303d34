"""Config `kind` → collector factory. Explicit, so a reader can find every platform here."""

from __future__ import annotations

from collections.abc import Callable

from collector.base import Collector
from collector.mastodon import MastodonCollector
from collector.mastodon_api import MastodonAPI
from collector.pixelfed import PixelfedCollector
from core.http import Http
from core.settings import ChannelSettings, Settings

Factory = Callable[[ChannelSettings, Settings, Http], Collector]


def _mastodon(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    api = MastodonAPI(http, channel.base_url, channel.token(), token_env=channel.token_env)
    return MastodonCollector(api, page_size=settings.collect.page_size, backfill_pages=settings.collect.backfill_pages)


def _pixelfed(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    api = MastodonAPI(http, channel.base_url, channel.token(), token_env=channel.token_env)
    return PixelfedCollector(api, page_size=settings.collect.page_size, backfill_pages=settings.collect.backfill_pages)


def _bluesky(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    from collector.bluesky import build  # imported on use: the atproto SDK is slow to import

    return build(channel, settings, http)


def _flickr(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    from collector.flickr import build

    return build(channel, settings, http)


def _rss(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    from collector.rss import build

    return build(channel, settings, http)


# Pixelfed speaks the Mastodon API for tag timelines, but pages it differently (min_id answers the newest page,
# no Link header, a six-month window): collector/pixelfed.py walks it from the newest back to the watermark.
COLLECTORS: dict[str, Factory] = {
    "mastodon": _mastodon,
    "pixelfed": _pixelfed,
    "bluesky": _bluesky,
    "flickr": _flickr,
    "rss": _rss,
}


def build_collector(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    return COLLECTORS[channel.kind](channel, settings, http)
