"""The normalized post's helpers."""

from __future__ import annotations

import pytest

from core.posts import normalize_tag
from core.settings import ChannelSettings, Settings


@pytest.mark.parametrize(("tag", "expected"), [("#WeLoveBrussels", "welovebrussels"), ("bxl", "bxl"),
                                                ("##Été", "été"), ("", "")])
def test_a_hashtag_is_keyed_without_its_hash_and_in_lower_case(tag, expected):
    assert normalize_tag(tag) == expected


def test_settings_key_hashtags_the_same_way():
    channel = ChannelSettings(kind="rss", feed_url="https://x.example/f", hashtags=["#Bxl"])
    settings = Settings(hashtags=["#WeLoveBrussels"], channels={"c": channel})
    assert settings.hashtags == ["welovebrussels"] and settings.channel_hashtags("c") == ["bxl"]
