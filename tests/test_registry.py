"""Registry invariants, looped over every platform: each configured kind builds something that fits its protocol."""

from __future__ import annotations

import inspect

import pytest

from collector.base import Collector
from collector.registry import COLLECTORS, build_collector
from core.doctor import PROBES
from core.http import Http
from core.settings import COLLECT_KINDS, PUBLISH_KINDS, ChannelSettings, Settings
from publisher.base import Publisher
from publisher.registry import PUBLISHERS, build_publisher

CHANNEL = {"mastodon": {"base_url": "https://mastodon.example"}, "pixelfed": {"base_url": "https://pixelfed.example"},
           "bluesky": {"handle": "us.bsky.social"}, "flickr": {}, "rss": {"feed_url": "https://blog.example/feed"}}


def protocol_methods(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol, inspect.isfunction) if not name.startswith("_")}


def test_every_kind_settings_accept_has_a_collector_a_doctor_probe_and_if_it_publishes_a_publisher():
    assert set(COLLECTORS) == COLLECT_KINDS
    assert set(PUBLISHERS) == PUBLISH_KINDS
    assert set(PROBES) == COLLECT_KINDS | PUBLISH_KINDS


@pytest.mark.parametrize("kind", sorted(COLLECT_KINDS))
def test_each_collector_fits_the_protocol(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("WLB_SECRET", "s")
    channel = ChannelSettings(kind=kind, token_env="WLB_SECRET", **CHANNEL[kind])
    settings = Settings(media_dir=tmp_path / "data" / "media", path=tmp_path / "config.toml", channels={"c": channel})
    collector = build_collector(channel, settings, Http(settings.network))
    for name in protocol_methods(Collector):
        assert callable(getattr(collector, name, None)), f"{kind} collector lacks {name}()"


@pytest.mark.parametrize("kind", sorted(PUBLISH_KINDS))
def test_each_publisher_fits_the_protocol(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("WLB_SECRET", "s")
    channel = ChannelSettings(kind=kind, token_env="WLB_SECRET", publish=True, **CHANNEL[kind])
    settings = Settings(media_dir=tmp_path / "data" / "media", path=tmp_path / "config.toml", channels={"c": channel})
    publisher = build_publisher(channel, settings, Http(settings.network))
    for name in protocol_methods(Publisher):
        assert callable(getattr(publisher, name, None)), f"{kind} publisher lacks {name}()"
    assert publisher.network in ("fediverse", "bluesky")
