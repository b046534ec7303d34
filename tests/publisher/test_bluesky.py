"""Bluesky publishing: credit across networks, grapheme length, facets over UTF-8 bytes, record keys, the fake PDS."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from atproto_client.utils import facet_detection
from PIL import Image

from platforms.bluesky import BlueskyAPI, SessionFile, session_path
from core.errors import PlatformError
from core.http import Http
from core.images import prepare_for_upload
from core.settings import DEFAULT_TEMPLATE, NetworkSettings
from publisher.base import PublishRequest, UploadImage
from publisher.bluesky import MAX_IMAGE_BYTES, BlueskyPublisher, facets, record_key, tid
from publisher.credit import (CreditAuthor, CreditInput, Limits, bluesky_length, compose, credit_line, graphemes,
                              mastodon_length)
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC)
TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
ALICE_URL = "https://bsky.app/profile/alice.bsky.social/post/3n2qjxwo62223"


# ---- credit across networks ----------------------------------------------------------------------


@pytest.mark.parametrize(("author", "target", "expected"), [
    (CreditAuthor("fediverse", "alice@fake.social", "Alice"), "fediverse", "@alice@fake.social"),
    (CreditAuthor("fediverse", "alice", "Alice"), "fediverse", "@alice@source.example"),
    (CreditAuthor("bluesky", "alice.bsky.social", "Alice", "did:plc:a"), "bluesky", "@alice.bsky.social"),
    (CreditAuthor("bluesky", "alice.bsky.social", "Alice", "did:plc:a"), "fediverse", "Alice (alice.bsky.social on Bluesky)"),
    (CreditAuthor("bluesky", "bob.bsky.social", "bob.bsky.social"), "fediverse", "bob.bsky.social on Bluesky"),
    (CreditAuthor("fediverse", "alice@fake.social", " Alice  Dupont "), "bluesky",
     "Alice Dupont (@alice@fake.social on the fediverse)"),
    (CreditAuthor("flickr", "janpeeters", "Jan Peeters"), "bluesky", "Jan Peeters (janpeeters on Flickr)"),
    (CreditAuthor("rss", "blog.example", ""), "fediverse", "blog.example on rss"),
])
def test_credit_line(author, target, expected):
    assert credit_line(author, target, source_host="source.example") == expected


def test_a_bluesky_handle_credited_on_mastodon_mentions_nobody_there():
    credit = credit_line(CreditAuthor("bluesky", "alice.bsky.social", "Alice"), "fediverse")
    assert mastodon_length(credit) == len(credit), "Mastodon would count (and resolve) a mention"
    assert "@" not in credit


def test_a_fediverse_address_credited_on_bluesky_is_no_bluesky_mention():
    credit = credit_line(CreditAuthor("fediverse", "alice@fake.social", "Alice"), "bluesky")
    assert facet_detection.detect_mentions(f"📷 {credit}") == []


# ---- length on Bluesky -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "count"), [
    ("", 0), ("Bruxelles, été", 14), ("e\u0301", 1), ("👩‍👩‍👧", 1), ("🇧🇪🇫🇷", 2), ("👍🏽", 1), ("🏳️‍🌈", 1),
    ("❤️‍🔥", 1), ("🌧️", 1), ("a\u200db", 2), ("\u0301x", 2),
])
def test_graphemes(text, count):
    assert graphemes(text) == count


def test_bluesky_length_also_holds_the_3000_byte_cap():
    family = "👩‍👩‍👧‍👦"  # one grapheme, 25 bytes
    assert bluesky_length("a" * 300) == 300
    assert bluesky_length(family * 150) == 375 > graphemes(family * 150) == 150


def test_a_long_caption_is_cut_to_300_graphemes_but_the_credit_and_link_are_whole():
    caption = "Les Marolles au petit matin 🌅, " * 40
    credit = "@alice.bsky.social"
    text = compose(DEFAULT_TEMPLATE, CreditInput(caption, credit, ALICE_URL, ["welovebrussels"]),
                   Limits(max_chars=300, length=bluesky_length))
    assert graphemes(text) <= 300 and bluesky_length(text) <= 300
    assert text.startswith("Les Marolles au petit matin") and "…" in text
    assert text.endswith(f"📷 {credit} · {ALICE_URL}\n#welovebrussels")


# ---- record keys ------------------------------------------------------------------------------------


def test_tid_layout():
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert tid(epoch, 0) == "2222222222222"
    assert tid(epoch + timedelta(microseconds=1), 0) == "2222222222322"  # clock id takes the low 10 bits
    assert tid(epoch, 1023) == "22222222222zz"
    assert TID.fullmatch(tid(T0, 5)) and tid(T0, 5) < tid(T0 + timedelta(microseconds=1), 0)


def request(text: str = "Hello", *, key: str = "key-1", planned_at: datetime | None = T0, **kw) -> PublishRequest:
    return PublishRequest(text=text, images=kw.pop("images", []), idempotency_key=key, original_url=ALICE_URL,
                          planned_at=planned_at, **kw)


def test_record_key_is_the_same_for_every_attempt_and_differs_between_items():
    assert record_key(request()) == record_key(request()) and TID.fullmatch(record_key(request()))
    assert record_key(request(key="key-2")) != record_key(request())
    with pytest.raises(ValueError, match="record key"):
        record_key(request(planned_at=None))


# ---- facets -----------------------------------------------------------------------------------------


def test_facets_count_utf8_bytes_after_accents_and_emoji():
    text = f"Été 🌧️ à Bruxelles\n\n📷 @alice.bsky.social · {ALICE_URL}\n#welovebrussels"
    raw = text.encode()
    found = facets(text, {"alice.bsky.social": "did:plc:alice", "bob.bsky.social": None})
    spans = {type(f.features[0]).__name__: (f.index.byte_start, f.index.byte_end, f.features[0]) for f in found}
    start, end, mention = spans["Mention"]
    assert raw[start:end] == b"@alice.bsky.social" and mention.did == "did:plc:alice"
    assert start != text.index("@alice"), "offsets are bytes, not characters"
    start, end, link = spans["Link"]
    assert raw[start:end] == ALICE_URL.encode() and link.uri == ALICE_URL
    start, end, tag = spans["Tag"]
    assert raw[start:end] == b"#welovebrussels" and tag.tag == "welovebrussels"
    assert facets("hi @bob.bsky.social", {"bob.bsky.social": None}) == [], "no DID, no mention"


# ---- against the fake PDS ----------------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def publisher(fake, tmp_path) -> BlueskyPublisher:
    http = Http(NetworkSettings(allow_private=[fake.origin]))
    api = BlueskyAPI(http, fake.base_url, fake.handle, fake.password, password_env="WLB_BSKY_PASSWORD",
                     session_file=SessionFile(session_path(tmp_path, fake.handle, fake.base_url), fake.handle,
                                              fake.base_url))
    return BlueskyPublisher(api, clock=lambda: NOW)


def upload(seed: int, size=(1200, 900), alt: str = "alt") -> UploadImage:
    data, mime = prepare_for_upload(images.jpeg(seed, size=size), max_bytes=MAX_IMAGE_BYTES, max_pixels=4_000_000)
    return UploadImage(data, mime, alt, *size)


def test_publish_uploads_the_images_and_puts_the_post_at_the_planned_key(fake, publisher):
    alice = CreditAuthor("bluesky", "alice.bsky.social", "Alice", "did:plc:alice")
    text = f"Été à Bruxelles 🇧🇪\n\n📷 @alice.bsky.social · {ALICE_URL}\n#welovebrussels"
    pictures = [upload(1, alt="Grand-Place at dusk"), upload(2, size=(900, 1200), alt="Atomium")]
    result = publisher.publish(request(text, images=pictures, author=alice, language="fr"))

    assert [u["data"] for u in fake.uploads] == [p.data for p in pictures]
    assert {u["mime"] for u in fake.uploads} == {"image/jpeg"}
    assert fake.calls("com.atproto.identity.resolveHandle") == [], "the author's DID came with the post"
    (put,) = fake.calls("com.atproto.repo.putRecord")
    rkey = record_key(request())
    assert (put.json["repo"], put.json["collection"], put.json["rkey"]) == (fake.did, "app.bsky.feed.post", rkey)
    record = put.json["record"]
    assert record["text"] == text and record["createdAt"] == "2026-11-21T09:30:15.123Z" and record["langs"] == ["fr"]
    embedded = record["embed"]["images"]
    assert [i["alt"] for i in embedded] == ["Grand-Place at dusk", "Atomium"]
    assert [(i["aspectRatio"]["width"], i["aspectRatio"]["height"]) for i in embedded] == [(1200, 900), (900, 1200)]
    assert [i["image"]["ref"]["$link"] for i in embedded] == [u["cid"] for u in fake.uploads]
    (mention,) = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#mention")]
    raw = text.encode()
    assert raw[mention["index"]["byteStart"]:mention["index"]["byteEnd"]] == b"@alice.bsky.social"
    assert mention["features"][0]["did"] == "did:plc:alice"
    assert "labels" not in record
    assert result.remote_id == f"at://{fake.did}/app.bsky.feed.post/{rkey}"
    assert result.url == f"https://bsky.app/profile/{fake.handle}/post/{rkey}"
    assert len(fake.published) == 1


def test_other_handles_in_the_caption_are_resolved_and_unknown_ones_stay_plain_text(fake, publisher):
    bob = fake.add_account("bob.bsky.social", "Bob")
    text = "With @bob.bsky.social and @nobody.bsky.social at the Sablon"
    publisher.publish(request(text, images=[upload(3)]))
    assert sorted(r.query["handle"][0] for r in fake.calls("com.atproto.identity.resolveHandle")) == [
        "bob.bsky.social", "nobody.bsky.social"]
    (record,) = [p["record"] for p in fake.published]
    mentions = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#mention")]
    assert [m["features"][0]["did"] for m in mentions] == [bob["did"]]


def test_a_sensitive_repost_carries_a_self_label(fake, publisher):
    publisher.publish(request(images=[upload(4)], sensitive=True))
    (post,) = fake.published
    assert post["record"]["labels"] == {"$type": "com.atproto.label.defs#selfLabels",
                                        "values": [{"val": "graphic-media", "$type": "com.atproto.label.defs#selfLabel"}]}


def test_a_retry_finds_the_post_or_rewrites_the_same_key_but_never_adds_one(fake, publisher):
    same = request(images=[upload(5)])
    assert publisher.find_existing(same) is None
    first = publisher.publish(same)
    assert publisher.find_existing(same) == first
    assert publisher.publish(same).remote_id == first.remote_id  # an answer lost on the way back: put again
    assert len(fake.published) == 1
    assert len({r.json["rkey"] for r in fake.calls("com.atproto.repo.putRecord")}) == 1
    publisher.publish(request(images=[upload(6)], key="key-2"))
    assert len(fake.published) == 2


def test_an_image_over_the_limit_is_refused_before_any_upload(fake, publisher):
    big = UploadImage(b"\xff\xd8" + b"\0" * MAX_IMAGE_BYTES, "image/jpeg", "alt")
    with pytest.raises(PlatformError, match="over Bluesky's 1,000,000"):
        publisher.publish(request(images=[big]))
    assert fake.uploads == [] and fake.published == []


def test_images_prepared_within_the_publishers_limits_fit_and_carry_no_exif(fake, publisher):
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (1800, 1800, 3), dtype=np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x010F] = "WLBCam"
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=95, exif=exif.tobytes())
    assert len(out.getvalue()) > 2 * MAX_IMAGE_BYTES
    limits = publisher.limits()
    data, mime = prepare_for_upload(out.getvalue(), max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels)
    assert len(data) < 1_000_000 and mime == "image/jpeg" and b"WLBCam" not in data
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif()
        size = img.size
    publisher.publish(request(images=[UploadImage(data, mime, "noise", *size)]))
    assert fake.uploads[0]["data"] == data and len(fake.published) == 1


def test_a_rejected_record_is_one_line_with_the_servers_reason(fake, publisher):
    with pytest.raises(PlatformError) as failure:
        publisher.publish(request("x" * 301))
    assert "putRecord" in str(failure.value) and "InvalidRecord" in str(failure.value)
    assert "\n" not in str(failure.value)
