"""Config `kind` → collector class. Explicit, so a reader can find every platform here."""

from __future__ import annotations

from collector.base import Collector
from collector.mastodon import MastodonCollector
from collector.mastodon_api import MastodonAPI
from core.http import Http
from core.settings import ChannelSettings, Settings


def _mastodon(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    api = MastodonAPI(http, channel.base_url, channel.token(), token_env=channel.token_env)
    return MastodonCollector(api, page_size=settings.collect.page_size, backfill_pages=settings.collect.backfill_pages)


# Pixelfed speaks the Mastodon API for tag timelines; its differences (token always needed, no Link
# header) are handled by settings validation and by a pager that never relies on Link.
COLLECTORS = {
    "mastodon": _mastodon,
    "pixelfed": _mastodon,
}


def build_collector(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    return COLLECTORS[channel.kind](channel, settings, http)
