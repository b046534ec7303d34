"""One Limits per target: text, images per post and size per image, read from the platform where it says."""

from __future__ import annotations

import httpx

from core.http import Http
from core.settings import NetworkSettings
from platforms.mastodon import MastodonAPI
from publisher.bluesky import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, BlueskyPublisher
from publisher.credit import bluesky_length
from publisher.mastodon import MastodonPublisher

BASE = "https://community.example"


def mastodon(answer) -> tuple[MastodonPublisher, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    http = Http(NetworkSettings(), transport=httpx.MockTransport(record),
                resolve=lambda *_: [(2, 1, 6, "", ("93.184.216.34", 443))])
    return MastodonPublisher(MastodonAPI(http, BASE, "token")), sent


def test_mastodon_limits_come_from_the_instance_configuration_asked_once():
    # GET /api/v2/instance, https://docs.joinmastodon.org/entities/Instance/#configuration
    config = {"statuses": {"max_characters": 1000, "max_media_attachments": 6, "characters_reserved_per_url": 30},
              "media_attachments": {"image_size_limit": 8_000_000, "image_matrix_limit": 16_777_216}}
    publisher, sent = mastodon(lambda _: httpx.Response(200, json={"domain": "community.example",
                                                                   "configuration": config}))
    limits = publisher.limits()
    assert (limits.max_chars, limits.max_media, limits.url_chars) == (1000, 6, 30)
    assert (limits.max_image_bytes, limits.max_image_pixels) == (8_000_000, 16_777_216)
    assert limits.length is None  # counted as Mastodon does, with url_chars per link
    assert publisher.limits() == limits
    assert [r.url.path for r in sent] == ["/api/v2/instance"], "the instance is asked once per publisher"


def test_an_instance_that_says_nothing_gets_mastodons_defaults_and_no_image_limit():
    publisher, sent = mastodon(lambda _: httpx.Response(404, json={"error": "Not Found"}))
    limits = publisher.limits()
    assert (limits.max_chars, limits.max_media, limits.url_chars) == (500, 4, 23)
    assert (limits.max_image_bytes, limits.max_image_pixels) == (None, None)
    assert [r.url.path for r in sent][:1] == ["/api/v2/instance"]


def test_bluesky_limits_are_its_documented_fixed_ones_without_a_request():
    limits = BlueskyPublisher(api=None).limits()  # asks nothing: no client needed
    assert (limits.max_chars, limits.max_media, limits.length) == (300, 4, bluesky_length)
    assert (limits.max_image_bytes, limits.max_image_pixels) == (MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS) == (1_000_000, 4_000_000)


def test_limits_of_the_wrong_type_are_read_as_unset_not_trusted():
    # Our own instance, but still remote: a list, a string, a negative or a huge number must not stop the run.
    config = {"statuses": {"max_characters": "lots", "max_media_attachments": -1, "characters_reserved_per_url": [23]},
              "media_attachments": {"image_size_limit": "8000000", "image_matrix_limit": 10**40}}
    publisher, _ = mastodon(lambda _: httpx.Response(200, json={"configuration": config}))
    limits = publisher.limits()
    assert (limits.max_chars, limits.max_media, limits.url_chars) == (500, 4, 23)
    assert (limits.max_image_bytes, limits.max_image_pixels) == (8_000_000, None)
    publisher, _ = mastodon(lambda _: httpx.Response(200, json={"configuration": ["not", "a", "map"]}))
    assert publisher.limits().max_chars == 500
