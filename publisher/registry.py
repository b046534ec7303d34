"""Config `kind` → publisher factory. Explicit, so a reader can find every platform here."""

from __future__ import annotations

from collections.abc import Callable

from collector.mastodon_api import MastodonAPI
from core.http import Http
from core.settings import ChannelSettings, Settings
from publisher.base import Publisher
from publisher.mastodon import MastodonPublisher

Factory = Callable[[ChannelSettings, Settings, Http], Publisher]


def _mastodon(channel: ChannelSettings, settings: Settings, http: Http) -> Publisher:
    api = MastodonAPI(http, channel.base_url, channel.token(), token_env=channel.token_env)
    return MastodonPublisher(api, kind=channel.kind)


def _bluesky(channel: ChannelSettings, settings: Settings, http: Http) -> Publisher:
    from publisher.bluesky import build  # imported on use: the atproto SDK is slow to import

    return build(channel, settings, http)


PUBLISHERS: dict[str, Factory] = {
    "mastodon": _mastodon,
    "pixelfed": _mastodon,
    "bluesky": _bluesky,
}


def build_publisher(channel: ChannelSettings, settings: Settings, http: Http) -> Publisher:
    return PUBLISHERS[channel.kind](channel, settings, http)
