"""Registry invariants for asking: every row that names an asker builds one that fits the Asker protocol."""

from __future__ import annotations

import pytest

from app.pipeline import asker_for
from consent.base import Asker
from core.http import Http
from core.settings import NetworkSettings
from platforms.registry import PLATFORMS
from tests.test_registry import protocol_methods, settings_for

ASKING = sorted(k for k, p in PLATFORMS.items() if p.asker)


def test_the_platforms_that_can_reply_to_a_found_post_ask():
    assert ASKING == ["bluesky", "mastodon", "pixelfed"]
    assert PLATFORMS["instagram"].asker is None, "hashtag finds cannot be commented on: asked by hand"


@pytest.mark.parametrize("kind", ASKING)
def test_each_asker_fits_the_protocol_and_asks_on_its_platforms_network(tmp_path, kind):
    extra = {"base_url": PLATFORMS[kind].default_base_url} if PLATFORMS[kind].default_base_url else {}
    channel, settings = settings_for(tmp_path, kind, **extra)
    with Http(NetworkSettings()) as http:
        asker = asker_for(channel, settings, http)
    assert asker.network == PLATFORMS[kind].network
    for name in protocol_methods(Asker):
        assert callable(getattr(asker, name)), f"{kind}: {name}"
