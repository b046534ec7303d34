"""Config `kind` → publisher class. Explicit, so a reader can find every platform here."""

from __future__ import annotations

from collector.mastodon_api import MastodonAPI
from core.http import Http
from core.settings import ChannelSettings
from publisher.base import Publisher
from publisher.mastodon import MastodonPublisher


def _mastodon(channel: ChannelSettings, http: Http) -> Publisher:
    api = MastodonAPI(http, channel.base_url, channel.token(), token_env=channel.token_env)
    return MastodonPublisher(api, kind=channel.kind)


PUBLISHERS = {
    "mastodon": _mastodon,
    "pixelfed": _mastodon,
}


def build_publisher(channel: ChannelSettings, http: Http) -> Publisher:
    return PUBLISHERS[channel.kind](channel, http)
