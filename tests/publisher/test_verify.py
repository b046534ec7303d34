"""The publish-time origin check: deleted → rejected, disagreeing → back in review, unconfirmed → retried next run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.posts import OriginCheck
from collector.mastodon import MastodonCollector
from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def approved(site: Site, seed: int = 51) -> tuple[int, dict]:
    status = site.source.add_status(images=[images.jpeg(seed)], created_at=T0, acct="alice")
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    return item["id"], status


def origin_answers(monkeypatch, answer) -> list:
    """The source channel's origin answers `answer(claim)`; returns the claims it was asked about."""
    asked = []

    def verify(self, claim):
        asked.append(claim)
        return answer(claim)

    monkeypatch.setattr(MastodonCollector, "verify", verify)
    return asked


def sent(site: Site) -> list:
    return [r for r in site.community.requests if r.method == "POST"]


def item(site: Site, item_id: int) -> dict:
    return site.wlb("show", str(item_id), "--json").json()


def test_origin_is_asked_about_what_we_stored(site, monkeypatch):
    item_id, status = approved(site)
    asked = origin_answers(monkeypatch, lambda claim: OriginCheck(verified=True))
    assert site.wlb("publish").code == 0
    (claim,) = asked
    assert claim.remote_id == status["id"] and claim.url == status["url"] and claim.key == status["uri"]
    assert claim.author_handle == "alice@fake.social"
    assert claim.media_urls[0] == status["media_attachments"][0]["url"]
    assert len(site.community.published) == 1


def test_origin_disagrees_item_goes_back_to_review_with_the_reason(site, monkeypatch):
    item_id, _ = approved(site)
    origin_answers(monkeypatch, lambda claim: OriginCheck(verified=True, problem="the author is @mallory@evil.example"))
    dry = site.wlb("publish", "--dry-run")
    assert dry.code == 0 and item(site, item_id)["status"] == "approved", "a dry run changes nothing"

    result = site.wlb("publish", "--json")
    assert result.code == 0 and sent(site) == []
    assert any("origin disagrees" in w for w in result.json()["warnings"])
    shown = item(site, item_id)
    assert shown["status"] == "pending"
    assert "origin disagrees: the author is @mallory@evil.example" in shown["reasons"]
    last = shown["history"][-1]
    assert (last["actor"], last["action"], last["from"], last["to"]) == ("wlb", "origin-check", "approved", "pending")


def test_origin_not_confirmed_is_a_channel_error_and_retried_next_run(site, monkeypatch):
    item_id, _ = approved(site)
    answer = {"check": OriginCheck(verified=False)}
    origin_answers(monkeypatch, lambda claim: answer["check"])
    result = site.wlb("publish", "--json")
    assert result.code == 1 and sent(site) == []
    (error,) = result.json()["channels"]["community"]["errors"]
    assert f"item #{item_id}" in error and "next run" in error
    assert item(site, item_id)["status"] == "approved"

    answer["check"] = OriginCheck(verified=True)
    assert site.wlb("publish").code == 0
    assert len(site.community.published) == 1 and item(site, item_id)["status"] == "published"


def test_deleted_at_origin_is_rejected_not_posted(site, monkeypatch):
    item_id, _ = approved(site)
    origin_answers(monkeypatch, lambda claim: OriginCheck(deleted=True))
    assert site.wlb("publish").code == 0 and sent(site) == []
    last = item(site, item_id)["history"][-1]
    assert (last["actor"], last["action"], last["to"]) == ("wlb", "auto-reject", "rejected")


@pytest.mark.parametrize(("served_seed", "published"), [(51, True), (52, False)])
def test_origin_image_is_compared_with_ours(site, monkeypatch, served_seed, published):
    item_id, _ = approved(site, seed=51)
    url = site.source.add_image(images.jpeg(served_seed), name="origin.jpg")
    origin_answers(monkeypatch, lambda claim: OriginCheck(verified=True, image_urls=(url,)))
    assert site.wlb("publish").code == 0
    assert any(r.path == "/media/origin.jpg" for r in site.source.requests), "the origin's image was downloaded"
    assert (len(site.community.published) == 1) is published
    shown = item(site, item_id)
    if not published:
        assert shown["status"] == "pending"
        assert any(r.startswith("origin disagrees: image 1: its image is not the one we stored") for r in shown["reasons"])


def test_origin_serving_no_image_is_a_problem(site, monkeypatch):
    item_id, _ = approved(site)
    url = site.source.add_image(b"%!PS-Adobe-3.0\nshowpage\n", name="origin.jpg")
    origin_answers(monkeypatch, lambda claim: OriginCheck(verified=True, image_urls=(url,)))
    assert site.wlb("publish").code == 0 and sent(site) == []
    assert item(site, item_id)["status"] == "pending"


def test_end_to_end_the_fake_mastodon_origin_swaps_the_image(site, monkeypatch):
    """Through the real client: the origin's status now shows another image than the one we collected."""
    item_id, status = approved(site, seed=53)

    def asks_the_origin(self, claim):
        remote = self.api.status(claim.remote_id)
        return OriginCheck(verified=True, image_urls=tuple(m["url"] for m in remote["media_attachments"]))

    monkeypatch.setattr(MastodonCollector, "verify", asks_the_origin)
    served = status["media_attachments"][0]["url"]
    name = served.rsplit("/media/", 1)[1]
    site.source.add_image(images.jpeg(54), name=name)  # same URL, another photo

    assert site.wlb("publish").code == 0 and sent(site) == []
    assert any(r.path == f"/api/v1/statuses/{status['id']}" for r in site.source.requests)
    assert item(site, item_id)["status"] == "pending"

    site.source.add_image(images.jpeg(53), name=name)  # the origin serves our photo again; a reviewer re-approves
    assert site.wlb("approve", str(item_id)).code == 0
    assert site.wlb("publish").code == 0
    assert len(site.community.published) == 1 and item(site, item_id)["status"] == "published"


def test_an_item_going_to_two_channels_is_checked_at_its_origin_once(site, monkeypatch):
    with FakeMastodon(domain="second.social", token=PUBLISH_TOKEN) as second:
        site.write_config(origins=[second.origin], channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

{site.community_channel()}
[channels.second]
kind = "mastodon"
base_url = "{second.base_url}"
collect = false
publish = true
token_env = "WLB_PUB_TOKEN"
""")
        approved(site)
        asked = origin_answers(monkeypatch, lambda claim: OriginCheck(verified=True))
        assert site.wlb("publish").code == 0
        assert len(site.community.published) == 1 and len(second.published) == 1
        assert len(asked) == 1, "one post at its origin: one question per run"
