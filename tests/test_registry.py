"""Registry invariants, looped over every platform row: each builds adapters that fit their protocols."""

from __future__ import annotations

import inspect

import pytest

from app.config import load_settings
from app.pipeline import collector_for, publisher_for
from collector.base import Collector
from core.errors import ConfigError
from core.http import Http
from core.settings import ChannelSettings, Settings
from platforms.registry import NETWORK_NAMES, PLATFORMS, module
from publisher.base import Publisher

# What each kind's rows say it requires, filled in; a kind added without an entry here fails the first test.
CHANNEL = {"mastodon": {"base_url": "https://mastodon.example"}, "pixelfed": {"base_url": "https://pixelfed.example"},
           "bluesky": {"handle": "us.bsky.social"}, "flickr": {}, "rss": {"feed_url": "https://blog.example/feed"},
           "instagram": {"ig_user_id": "17841400000000001", "public_media_dir": "public",
                         "public_media_base_url": "https://www.example.org/wlb"},
           "x": {}, "facebook": {"page_id": "104512345678901"}}
COLLECTING = sorted(k for k, p in PLATFORMS.items() if p.can_collect)
PUBLISHING = sorted(k for k, p in PLATFORMS.items() if p.can_publish)


def protocol_methods(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol, inspect.isfunction) if not name.startswith("_")}


def settings_for(tmp_path, kind: str, **extra) -> tuple[ChannelSettings, Settings]:
    channel = ChannelSettings(kind=kind, token_env="WLB_SECRET", **CHANNEL[kind], **extra)
    settings = Settings(media_dir=tmp_path / "data" / "media", path=tmp_path / "config.toml", channels={"c": channel})
    return channel, settings


def test_every_platform_row_names_a_client_with_a_doctor_probe_and_a_network_name():
    assert set(CHANNEL) == set(PLATFORMS)
    for kind, row in PLATFORMS.items():
        assert row.kind == kind
        assert callable(module("platforms", row.client).probe), f"platforms/{row.client}.py has no probe()"
        assert NETWORK_NAMES[row.network]
        assert row.can_collect or row.can_publish


@pytest.mark.parametrize("kind", COLLECTING)
def test_each_collector_fits_the_protocol(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("WLB_SECRET", "s")
    channel, settings = settings_for(tmp_path, kind, base_url=PLATFORMS[kind].default_base_url) \
        if PLATFORMS[kind].default_base_url else settings_for(tmp_path, kind)
    collector = collector_for(channel, settings, Http(settings.network))
    for name in protocol_methods(Collector):
        assert callable(getattr(collector, name, None)), f"{kind} collector lacks {name}()"


@pytest.mark.parametrize("kind", PUBLISHING)
def test_each_publisher_fits_the_protocol(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("WLB_SECRET", "s")
    extra = {"base_url": PLATFORMS[kind].default_base_url} if PLATFORMS[kind].default_base_url else {}
    channel, settings = settings_for(tmp_path, kind, publish=True, **extra)
    publisher = publisher_for(channel, settings, Http(settings.network))
    for name in protocol_methods(Publisher):
        assert callable(getattr(publisher, name, None)), f"{kind} publisher lacks {name}()"
    assert publisher.network == PLATFORMS[kind].network


def write(tmp_path, channel: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"[channels.c]\n{channel}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", sorted(PLATFORMS))
def test_settings_accept_every_kind_with_what_its_row_requires_and_fill_its_default_base_url(kind, tmp_path):
    fields = "\n".join(f'{k} = "{v}"' for k, v in CHANNEL[kind].items())
    settings = load_settings(write(tmp_path, f'kind = "{kind}"\ncollect = {str(PLATFORMS[kind].can_collect).lower()}\n'
                                             f'{fields}'), check_secrets=False)
    assert settings.channels["c"].base_url == (CHANNEL[kind].get("base_url") or PLATFORMS[kind].default_base_url)
    for name, _ in PLATFORMS[kind].requires:
        without = "\n".join(f'{k} = "{v}"' for k, v in CHANNEL[kind].items() if k != name)
        with pytest.raises(ConfigError, match=f"needs {name}"):
            load_settings(write(tmp_path, f'kind = "{kind}"\ncollect = {str(PLATFORMS[kind].can_collect).lower()}\n'
                                          f'{without}'), check_secrets=False)


@pytest.mark.parametrize("kind", sorted(k for k, p in PLATFORMS.items() if not p.can_publish))
def test_a_kind_that_cannot_publish_is_refused_as_a_publishing_channel(kind, tmp_path):
    fields = "\n".join(f'{k} = "{v}"' for k, v in CHANNEL[kind].items())
    with pytest.raises(ConfigError, match="cannot publish"):
        load_settings(write(tmp_path, f'kind = "{kind}"\npublish = true\n{fields}'), check_secrets=False)


def test_an_unknown_kind_names_every_known_one(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, 'kind = "myspace"'), check_secrets=False)
    assert all(kind in str(caught.value) for kind in PLATFORMS)
