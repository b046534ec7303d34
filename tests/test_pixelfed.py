"""Pixelfed: a token even to read, no Link header, and a 400 for a repeated Idempotency-Key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from platforms.mastodon import MastodonAPI
from core.http import Http
from core.settings import NetworkSettings
from publisher.base import PublishRequest, UploadImage
from publisher.mastodon import MastodonPublisher
from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
READ, WRITE = "pf-read", "pf-write"


@pytest.fixture
def site(tmp_path, db_url, capsys, monkeypatch):
    monkeypatch.setenv("WLB_PF_READ", READ)
    monkeypatch.setenv("WLB_PF_WRITE", WRITE)
    with FakeMastodon(flavor="pixelfed", domain="pix.example", token=READ) as source, \
            FakeMastodon(flavor="pixelfed", domain="ourpix.example", token=WRITE) as community:
        s = Site(tmp_path, source, community, capsys, db_url)
        s.write_config(channels=f"""
[channels.pix]
kind = "pixelfed"
base_url = "{source.base_url}"
token_env = "WLB_PF_READ"

[channels.ours]
kind = "pixelfed"
base_url = "{community.base_url}"
collect = false
publish = true
token_env = "WLB_PF_WRITE"
""")
        yield s


def test_collect_with_token_and_page_without_link_headers(site):
    for n in range(45):  # more than one page of 40
        site.source.add_status(images=[images.jpeg(300 + n % 3, size=(700, 700))], created_at=T0 + timedelta(minutes=n),
                               acct=f"p{n}")
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    assert run.json()["channels"]["pix"]["new_posts"] == 45
    timeline = [r for r in site.source.requests if r.path.startswith("/api/v1/timelines/tag/")]
    assert all(r.headers["authorization"] == f"Bearer {READ}" for r in timeline)
    assert "max_id" in timeline[1].query, "paged by max_id, as Pixelfed sends no Link header"


def test_collect_without_a_token_says_which_variable(site, monkeypatch):
    site.source.add_status(images=[images.jpeg(1)], created_at=T0)
    site.config.write_text(site.config.read_text().replace('token_env = "WLB_PF_READ"', 'token_env = "WLB_PF_WRONG"'))
    monkeypatch.setenv("WLB_PF_WRONG", "bad-token")
    run = site.wlb("collect", "--json")
    assert run.code == 1
    assert "$WLB_PF_WRONG" in run.json()["channels"]["pix"]["errors"][0]


def test_publish_to_pixelfed(site):
    site.source.add_status(images=[images.jpeg(7)], created_at=T0, acct="ana")
    site.wlb("collect")
    (item,) = site.queue("pending")
    site.wlb("approve", str(item["id"]))
    assert site.wlb("publish").code == 0
    (status,) = site.community.published
    assert "@ana@pix.example" in status["content"]


def test_repeated_idempotency_key_400_is_treated_as_already_posted(site):
    http = Http(NetworkSettings(allow_private=[site.community.origin]))
    publisher = MastodonPublisher(MastodonAPI(http, site.community.base_url, WRITE))
    request = PublishRequest(text="Photo by @ana@pix.example https://pix.example/p/1 #welovebrussels",
                             images=[UploadImage(images.jpeg(8), "image/jpeg", "alt")], idempotency_key="k-1",
                             original_url="https://pix.example/p/1")
    first = publisher.publish(request)
    second = publisher.publish(request)
    assert second.remote_id == first.remote_id
    assert len(site.community.published) == 1
    answers = [r for r in site.community.requests if r.path == "/api/v1/statuses"]
    assert len(answers) == 2 and all(r.headers["idempotency-key"] == "k-1" for r in answers)


def test_a_watermark_older_than_pixelfeds_six_month_window_still_collects(site):
    """The watermark id was minted seven months ago: Pixelfed answers [] to it, so it is never sent."""
    now = datetime.now(UTC)
    site.source.clock = lambda: now - timedelta(days=210)
    site.source.add_status(images=[images.jpeg(400, size=(700, 700))], created_at=T0, acct="old")
    assert site.wlb("collect").code == 0
    site.source.clock = lambda: now
    site.source.add_status(images=[images.jpeg(401, size=(700, 700))], created_at=T0 + timedelta(days=1), acct="new")
    before = len(site.source.requests)
    run = site.wlb("collect", "--json")
    assert run.json()["channels"]["pix"]["new_posts"] == 1
    timeline = [r for r in site.source.requests[before:] if r.path.startswith("/api/v1/timelines/tag/")]
    assert timeline and all("min_id" not in r.query and "max_id" not in r.query for r in timeline)


def test_100_posts_between_runs_are_all_collected_once(site):
    site.source.add_status(images=[images.jpeg(500, size=(700, 700))], created_at=T0, acct="first")
    assert site.wlb("collect").code == 0
    for n in range(100):
        site.source.add_status(images=[images.jpeg(600 + n % 4, size=(700, 700))], created_at=T0 + timedelta(minutes=n),
                               acct=f"q{n}")
    run = site.wlb("collect", "--json")
    assert run.json()["channels"]["pix"]["new_posts"] == 100
    again = site.wlb("collect", "--json")
    assert again.json()["channels"]["pix"]["new_posts"] == 0


def test_followers_only_posts_are_never_queued(site):
    site.source.following.add("friend")
    site.source.add_status(images=[images.jpeg(700, size=(700, 700))], created_at=T0, acct="friend",
                           visibility="private")
    site.source.add_status(images=[images.jpeg(701, size=(700, 700))], created_at=T0, acct="ana")
    run = site.wlb("collect", "--json")
    channel = run.json()["channels"]["pix"]
    assert channel["new_posts"] == 1 and channel["fetched"] == 2
    assert channel["skipped"] == {"not public (private)": 1}
