"""Reading one Mastodon/Pixelfed Status: real shapes from the docs and source (tests/fixtures/*/README.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.mastodon_status import parse_status
from core.posts import page_of, parse_each

FIXTURES = Path(__file__).parent.parent / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


DOCS = fixture("mastodon/status_local_docs_example.json")  # Gargron's status, local to mastodon.social
REMOTE = fixture("mastodon/status_remote_unknown_media.json")  # kernpanik@chaos.social seen from mastodon.social
PIXELFED = fixture("pixelfed/status_local.json")  # dansup's photo, local to pixelfed.social


def parse(status: dict, domain: str = "mastodon.social", web: str = ""):
    return parse_status(status, domain, web)


def edited(status: dict, **changes) -> dict:
    result = copy.deepcopy(status)
    result.update(changes)
    return result


def test_the_documented_status_parses():
    post, why = parse(DOCS)
    assert why is None
    assert post.key == DOCS["uri"] and post.url == DOCS["url"] and post.remote_id == "103270115826048975"
    assert post.author.handle == "gargron@mastodon.social" and post.author.authoritative
    assert post.created_at == datetime(2019, 12, 8, 3, 48, 33, 901000, tzinfo=UTC)
    (image,) = post.images
    assert image.url.endswith("/original/57859aede991da25.jpeg") and (image.width, image.height) == (640, 480)
    assert image.alt_text == "test media description"
    assert post.flags == ()


def test_a_remote_author_is_not_authoritative_and_keeps_their_own_domain():
    post, _ = parse(REMOTE)
    assert post.author.handle == "kernpanik@chaos.social"
    assert post.author.authoritative is False, "mastodon.social's copy of a chaos.social profile must not rename it"
    assert post.url == REMOTE["url"]


def test_unknown_and_still_processing_attachments_are_kept_for_their_bytes():
    post, why = parse(REMOTE)
    assert why is None
    unknown, processing = post.images
    assert unknown.url == "https://mastodon.social/media_proxy/22345793/original"
    assert unknown.remote_url.endswith("/original/cat.jpeg"), "the original, tried when the proxy fails"
    assert processing.url.endswith("/original/cat2.jpeg") and processing.remote_url is None


def test_a_pixelfed_status_parses():
    post, why = parse(PIXELFED, "pixelfed.social")
    assert why is None
    assert post.key == post.url == PIXELFED["uri"]
    assert post.author.handle == "dansup@pixelfed.social" and post.author.profile_url == "https://pixelfed.social/dansup"
    assert post.images[0].width == 1080 and post.language is None


@pytest.mark.parametrize(("visibility", "why"), [("private", "private"), ("unlisted", "unlisted"),
                                                 ("direct", "direct"), (None, "missing"), (7, "other"),
                                                 ("\x1b]52;c;x\x07", "other")])
def test_only_public_statuses_are_candidates(visibility, why):
    status = edited(PIXELFED, visibility=visibility)
    if visibility is None:
        del status["visibility"]
    assert parse(status, "pixelfed.social") == (None, f"not public ({why})")


def test_a_private_status_inside_a_public_boost_is_not_a_candidate():
    boost = edited(DOCS, reblog=edited(REMOTE, visibility="private"), media_attachments=[])
    assert parse(boost) == (None, "not public (private)")


def test_split_domain_local_accounts_take_the_instance_domain():
    # LOCAL_DOMAIN=example.com, WEB_DOMAIN=social.example.com: acct "alice", everything else on social.example.com.
    status = json.loads(json.dumps(DOCS).replace("mastodon.social", "social.example.com").replace("Gargron", "alice"))
    post, why = parse(status, "example.com", "social.example.com")
    assert why is None and post.author.handle == "alice@example.com"
    remote = edited(status, account=status["account"] | {"acct": "alice@example.com"})
    post, why = parse(remote, "elsewhere.example")
    assert why is None and post.author.handle == "alice@example.com", "the documented split form is accepted"


@pytest.mark.parametrize("uri", ["https://real.example/users/alice/statuses/1", "https://chaos.social.evil/x/1",
                                 "https://evilchaos.social/users/kernpanik/statuses/1"])
def test_a_uri_off_the_authors_domain_is_an_identity_mismatch(uri):
    assert parse(edited(REMOTE, uri=uri)) == (None, "identity mismatch (uri not on the author's domain)")


def test_a_remote_url_off_the_authors_origin_is_replaced_by_the_uri_and_flagged():
    post, why = parse(edited(REMOTE, url="https://phishing.example/login"))
    assert why is None
    assert post.url == REMOTE["uri"]
    assert post.flags == ("link not on the author's instance; the post's uri is shown instead",)


def test_a_profile_link_off_the_authors_origin_is_not_used():
    forged = edited(REMOTE, account=REMOTE["account"] | {"url": "https://phishing.example/@kernpanik"})
    post, _ = parse(forged)
    assert post.author.profile_url == "https://chaos.social/users/kernpanik"
    assert "profile link not on the author's instance" in post.flags


@pytest.mark.parametrize(("change", "why"), [
    ({"account": {"acct": "alice", "display_name": "A"}}, "malformed: account.url missing"),
    ({"account": None}, "malformed: account missing"),
    ({"uri": {"href": "https://x"}}, "malformed: uri missing"),
    ({"uri": "https://mastodon.social/" + "a" * 3000}, "malformed: uri too long"),
    ({"id": {"$oid": 1}}, "malformed: id missing"),
    ({"created_at": "yesterday"}, "malformed: created_at is not a date"),
    ({"account": {"acct": "a@b@c", "url": "https://b/@a"}}, "malformed: account.acct is not user@domain"),
])
def test_malformed_records_are_skipped_with_a_reason(change, why):
    assert parse(edited(DOCS, **change)) == (None, why)


def test_wrong_types_in_decoration_are_read_leniently():
    odd = edited(DOCS, content=["x"], spoiler_text={"a": 1}, language="x" * 40, tags={"name": "x"}, sensitive="yes")
    odd["media_attachments"] = [dict(DOCS["media_attachments"][0], meta=[1, 2], description={"text": "x"}), "junk"]
    post, why = parse(odd)
    assert why is None
    assert (post.text, post.spoiler_text, post.language, post.sensitive) == ("", "", None, False)
    assert post.images[0].width is None and post.images[0].alt_text is None


def test_a_created_at_without_a_zone_is_utc():
    post, _ = parse(edited(DOCS, created_at="2019-12-08T03:48:33"))
    assert post.created_at == datetime(2019, 12, 8, 3, 48, 33, tzinfo=UTC)


def test_one_record_raising_costs_that_record_only():
    class Exploding(dict):
        def get(self, *args):
            raise RuntimeError("boom")

    page = page_of(parse_each([DOCS, Exploding(DOCS), "not a status", REMOTE], lambda s: parse(s)),
                   watermark=None, fetched=4)
    assert [p.remote_id for p in page.posts] == [DOCS["id"], REMOTE["id"]]
    assert page.skipped == {"malformed (RuntimeError)": 1, "malformed: not an object": 1}


@pytest.mark.parametrize(("kinds", "why"), [([], "no media"), (["video"], "video only"), (["gifv", "audio"], "video only")])
def test_posts_without_images_are_skipped_with_a_reason(kinds, why):
    media = [dict(DOCS["media_attachments"][0], type=k) for k in kinds]
    assert parse(edited(DOCS, media_attachments=media)) == (None, why)


def test_mixed_media_keeps_only_the_stills():
    media = [dict(DOCS["media_attachments"][0], type=k) for k in ("video", "image")]
    post, _ = parse(edited(DOCS, media_attachments=media))
    assert [m.kind for m in post.media] == ["image"]
