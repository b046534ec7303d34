"""End to end through the CLI with an X channel that collects and publishes, beside our Mastodon account."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes import images
from tests.fakes.flickr import API_KEY, FakeFlickr
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.x import USER_TOKEN, FakeX
from tests.site import PUBLISH_TOKEN, Site


@dataclass
class XSite(Site):
    x: FakeX | None = None

    def write_config(self, extra: str = "", channels: str | None = None, origins: list[str] = (),
                     budget: float = 5.0) -> None:
        super().write_config(extra, channels if channels is not None else f"""
[channels.x]
kind = "x"
base_url = "{self.x.base_url}"
token_env = "WLB_X_TOKEN"
publish = true
monthly_budget = {budget}

{self.community_channel()}""", [self.x.origin, *origins])


@pytest.fixture
def xsite(tmp_path: Path, db_url: str, capsys, monkeypatch) -> Iterator[XSite]:
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    monkeypatch.setenv("WLB_X_TOKEN", USER_TOKEN)
    with FakeX() as x, FakeMastodon(domain="fake.social") as source, \
            FakeMastodon(domain="community.social", token=PUBLISH_TOKEN) as community:
        site = XSite(tmp_path, source, community, capsys, db_url, x=x)
        site.write_config()
        yield site


def collected_and_approved(site: XSite) -> dict:
    uid = site.x.add_user("jane_doe", "Jane Doe")
    site.x.add_post(uid, "Sablon antiques & sun #welovebrussels", images=[images.jpeg(5)], alt="Stalls at the Sablon")
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    report = run.json()["channels"]["x"]
    assert report["new_posts"] == 1 and report["cost"] == pytest.approx(0.015)
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    return item


def test_an_x_photo_is_reposted_on_x_with_a_mention_and_no_link_and_on_mastodon_with_both(xsite):
    item = collected_and_approved(xsite)
    assert item["author"]["handle"] == "jane_doe" and item["post_url"].startswith("https://x.com/jane_doe/status/")

    dry = xsite.wlb("publish", "--dry-run", "--channel", "x", "--json").json()
    (plan,) = dry["items"]
    assert plan["text"] == "Sablon antiques & sun #welovebrussels\n\n📷 @jane_doe"
    assert [r for r in xsite.x.requests if r.method == "POST"] == []

    result = xsite.wlb("publish", "--json")
    assert result.code == 0, result.out + result.err
    (mine,) = xsite.x.own_posts()
    assert mine.text == "Sablon antiques & sun #welovebrussels\n\n📷 @jane_doe"  # no URL: a $0.015 post, not $0.20
    (upload,) = xsite.x.uploads.values()
    assert upload["alt"] == "Stalls at the Sablon" and upload["mime"] == "image/jpeg"
    (status,) = [r.form["status"][0] for r in xsite.community.requests if r.path == "/api/v1/statuses"]
    assert f"📷 Jane Doe (jane_doe on X) · {item['post_url']}" in status

    shown = xsite.wlb("show", str(item["id"]), "--json").json()
    assert shown["status"] == "published"
    assert {p["channel"]: p["url"] for p in shown["publications"]}["x"] == f"https://x.com/welovebrussels/status/{mine.id}"

    # Our repost carries the hashtag and the photo: the next search finds it, and it is known as ours.
    again = xsite.wlb("collect", "--json").json()["channels"]["x"]
    assert again["new_posts"] == 0 and again["skipped"] == {"own account or repost": 1}


def test_link_original_puts_the_link_in_the_x_post(xsite):
    xsite.write_config(extra="", channels=f"""
[channels.x]
kind = "x"
base_url = "{xsite.x.base_url}"
token_env = "WLB_X_TOKEN"
publish = true
link_original = true
""")
    item = collected_and_approved(xsite)
    assert xsite.wlb("publish").code == 0
    (mine,) = xsite.x.own_posts()
    assert mine.text.endswith(f"📷 @jane_doe · {item['post_url']}")


def test_a_lost_answer_is_found_on_our_timeline_next_run_and_never_posted_twice(xsite):
    collected_and_approved(xsite)
    xsite.x.lose_next_post_answer = True
    first = xsite.wlb("publish", "--channel", "x", "--json")
    assert first.code == 1 and "503" in first.out
    assert len(xsite.x.own_posts()) == 1  # X made it although we never heard back

    again = xsite.wlb("publish", "--channel", "x", "--json")
    assert again.code == 0, again.out
    assert len(xsite.x.own_posts()) == 1
    assert len([r for r in xsite.x.requests if r.path == "/2/tweets" and r.method == "POST"]) == 1
    (plan,) = again.json()["items"]
    assert plan["result"] == "published"


def test_the_summary_shows_the_estimated_cost_and_a_budget_stop_as_a_warning(xsite):
    uid = xsite.x.add_user("jane_doe")
    for n in range(12):
        xsite.x.add_post(uid, f"#{n} #welovebrussels", images=[images.jpeg(20 + n, size=(64, 48))])
    xsite.write_config(extra="[collect]\npage_size = 10", budget=0.2)  # pages of 10: at most $0.15 each
    result = xsite.wlb("collect")
    assert result.code == 0, result.err  # a budget stop is a warning, not a failure
    assert "cost     x: about $0.060 of API reads (estimated)" in result.out
    assert "warning  x: #welovebrussels: X reads stopped: $0.06 spent this month" in result.out
    assert len([r for r in xsite.x.requests if r.path == "/2/tweets/search/recent"]) == 1


def test_doctor_names_the_x_account(xsite):
    result = xsite.wlb("doctor", "--json")
    finding = [f for f in result.json() if f["subject"].startswith("x (x")][0]
    assert finding["ok"] and finding["message"].startswith("authenticated as @welovebrussels")
    assert "reads budget $5.00 a month" in finding["message"]


def test_a_flickr_photo_on_x_names_its_licence_without_the_licence_link(xsite, monkeypatch):
    monkeypatch.setenv("WLB_FLICKR_KEY", API_KEY)
    with FakeFlickr() as flickr:
        flickr.add_photo(images.jpeg(7, size=(1200, 900)), uploaded=datetime(2026, 11, 20, 9, tzinfo=UTC),
                         title="Flagey", ownername="Ana Lopez", pathalias="ana", license="4")
        xsite.write_config(origins=[flickr.origin], channels=f"""
[channels.flickr]
kind = "flickr"
base_url = "{flickr.rest_url}"
token_env = "WLB_FLICKR_KEY"

[channels.x]
kind = "x"
base_url = "{xsite.x.base_url}"
token_env = "WLB_X_TOKEN"
collect = false
publish = true
""")
        assert xsite.wlb("collect").code == 0
        (item,) = xsite.queue("pending")
        assert xsite.wlb("approve", str(item["id"])).code == 0
        result = xsite.wlb("publish", "--json")
        assert result.code == 0, result.out
    (mine,) = xsite.x.own_posts()
    assert "“Flagey” by Ana Lopez is licensed under CC BY 2.0" in mine.text
    assert "https://" not in mine.text  # neither the original nor the licence: a $0.015 post
