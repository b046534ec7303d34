"""End to end through the CLI: Flickr, an RSS/Atom feed and Mastodon on 127.0.0.1 → one queue → a Mastodon repost."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.licenses import needs_permission
from tests.fakes import images
from tests.fakes.feeds import FakeFeeds
from tests.fakes.flickr import API_KEY, FakeFlickr
from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # before the Pixelfed feed's entries (11:02 and the day before)


@dataclass
class Web:
    site: Site
    flickr: FakeFlickr
    feeds: FakeFeeds
    source: FakeMastodon
    community: FakeMastodon

    def write_config(self, *, flickr_key_env: str = "WLB_FLICKR_KEY", feed: str = "pixelfed_profile.atom") -> None:
        self.site.write_config(origins=[self.flickr.origin, self.feeds.origin],
                               channels=f"""
[channels.flickr]
kind = "flickr"
base_url = "{self.flickr.rest_url}"
token_env = "{flickr_key_env}"

[channels.lea]
kind = "rss"
feed_url = "{self.feeds.base_url}/feeds/{feed}"

[channels.masto]
kind = "mastodon"
base_url = "{self.source.base_url}"

{self.site.community_channel()}""")


@pytest.fixture
def web(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    monkeypatch.setenv("WLB_FLICKR_KEY", API_KEY)
    monkeypatch.setenv("WLB_FLICKR_BAD", "not-the-key")
    with FakeFlickr() as flickr, FakeFeeds() as feeds, FakeMastodon(domain="fake.social") as source, \
            FakeMastodon(domain="community.social", token=PUBLISH_TOKEN) as community:
        web = Web(Site(tmp_path, source, community, capsys, db_url), flickr, feeds, source, community)
        web.write_config()
        yield web


def by_platform(items: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for item in items:
        found.setdefault(item["platform"], []).append(item)
    return found


def test_flickr_feed_and_mastodon_copies_of_one_photo_are_one_item_credited_to_the_earliest(web):
    photo = images.jpeg(1, size=(1600, 1200))
    original = web.flickr.add_photo(photo, uploaded=T0, title="Sablon, Sunday morning", ownername="Lea Martin",
                                    pathalias="leamartin", owner="55555555@N07", license="4",
                                    description="<b>Antiques</b> at the Sablon")
    web.flickr.add_photo(images.jpeg(2, size=(1600, 1200)), uploaded=T0 + timedelta(minutes=5), title="Mine only",
                         license="0")
    web.feeds.add_feed("pixelfed_profile.atom")
    web.feeds.add_file("/storage/m/sablon.jpg", images.reencoded(photo, scale=0.7))
    web.feeds.add_file("/storage/m/parc.jpg", images.jpeg(4))
    web.source.add_status(images=[images.reencoded(photo, quality=70, scale=0.8)], acct="reposter",
                          created_at=T0 + timedelta(hours=5), text="Saw this on Flickr")

    run = web.site.wlb("collect", "--json")
    assert run.code == 0, run.err
    channels = run.json()["channels"]
    assert (channels["flickr"]["new_posts"], channels["lea"]["new_posts"], channels["masto"]["new_posts"]) == (2, 2, 1)
    assert channels["flickr"]["requests"] == 1 and channels["lea"]["requests"] == 1

    items = by_platform(web.site.queue("all"))
    flickr = {i["text"] or "(none)": i for i in items["flickr"]}
    canonical = flickr["Antiques at the Sablon"]
    assert canonical["status"] == "pending" and canonical["license"] == "CC BY 2.0"
    assert canonical["post_url"] == f"https://www.flickr.com/photos/leamartin/{original['id']}/"
    assert canonical["author"] == {"handle": "leamartin", "name": "Lea Martin",
                                   "profile_url": "https://www.flickr.com/photos/leamartin/"}
    assert canonical["media"][0]["width"] == 1600, "the original size, downloaded from url_o"
    copies = [i for i in items["rss"] + items["mastodon"] if i["status"] == "duplicate"]
    assert {i["post_url"] for i in copies} == {f"{web.feeds.base_url}/p/lea/700000000000000002",
                                               web.source._statuses[max(web.source._statuses)]["url"]}
    assert all(i["duplicate_of"] == canonical["id"] for i in copies), "the earliest copy (Flickr) keeps the credit"
    shown = web.site.wlb("show", str(canonical["id"]), "--json").json()
    assert sorted(shown["duplicates"]) == sorted(i["id"] for i in copies)

    allowed = ["CC BY", "CC BY-SA", "CC0", "Public Domain Mark"]
    assert needs_permission(canonical["license"], allowed, non_commercial=False) is None
    assert needs_permission(flickr["(none)"]["license"], allowed, non_commercial=False) == \
        "licence All Rights Reserved is not in licenses.allowed"
    feed_item = next(i for i in items["rss"] if i["status"] == "pending")
    assert feed_item["license"] is None and feed_item["author"]["handle"] == "lea@127.0.0.1"

    assert web.site.wlb("approve", str(canonical["id"])).code == 0
    published = web.site.wlb("publish", "--json")
    assert published.code == 0, published.out + published.err
    (status,) = [r.form["status"][0] for r in web.community.requests if r.path == "/api/v1/statuses"]
    assert canonical["post_url"] in status and "staticflickr" not in status and "127.0.0.1" not in status
    (upload,) = web.community.uploads
    assert upload["data"][:2] == b"\xff\xd8"
    info = web.flickr.calls("flickr.photos.getInfo")
    assert [r.query["photo_id"] for r in info] == [[original["id"]]], "the original was checked before reposting"


def test_a_second_run_costs_one_request_per_source_and_downloads_nothing(web):
    web.flickr.add_photo(images.jpeg(10, size=(1200, 900)), uploaded=T0)
    web.feeds.add_feed("pixelfed_profile.atom")
    web.feeds.add_file("/storage/m/sablon.jpg", images.jpeg(11))
    web.feeds.add_file("/storage/m/parc.jpg", images.jpeg(12))
    assert web.site.wlb("collect").code == 0
    before = (len(web.flickr.requests), len(web.feeds.requests))
    again = web.site.wlb("collect", "--json")
    assert again.code == 0
    flickr_new, feed_new = web.flickr.requests[before[0]:], web.feeds.requests[before[1]:]
    assert [r.query["sort"] for r in flickr_new] == [["date-posted-asc"]]
    assert len(feed_new) == 1 and feed_new[0].headers.get("if-none-match")
    assert again.json()["channels"]["lea"]["new_posts"] == 0 == again.json()["channels"]["flickr"]["new_posts"]

    web.flickr.add_photo(images.jpeg(13, size=(1200, 900)), uploaded=T0 + timedelta(hours=1), title="later")
    third = web.site.wlb("collect", "--json").json()["channels"]["flickr"]
    assert (third["new_posts"], third["downloaded"]) == (1, 1)


def test_a_photo_deleted_on_flickr_is_not_reposted(web):
    record = web.flickr.add_photo(images.jpeg(20, size=(1200, 900)), uploaded=T0, license="12")
    web.feeds.add_feed("pixelfed_profile.atom", "<feed xmlns='http://www.w3.org/2005/Atom'><title>x</title></feed>")
    web.site.wlb("collect")
    (item,) = by_platform(web.site.queue("pending"))["flickr"]
    assert item["license"] == "CC BY-SA 4.0"
    web.site.wlb("approve", str(item["id"]))
    web.flickr.delete_photo(record["id"])
    result = web.site.wlb("publish", "--json")
    assert result.code == 0 and web.community.published == []
    assert "deleted at its source" in web.site.queue("rejected")[0]["reasons"][-1]


def test_a_bad_key_and_a_broken_feed_are_one_line_each_and_other_channels_still_run(web):
    web.write_config(flickr_key_env="WLB_FLICKR_BAD", feed="malformed.xml")
    web.feeds.add_feed("malformed.xml")
    web.source.add_status(images=[images.jpeg(30)], acct="alice", created_at=T0)
    run = web.site.wlb("collect", "--json")
    assert run.code == 1
    channels = run.json()["channels"]
    (flickr_error,) = channels["flickr"]["errors"]
    assert "$WLB_FLICKR_BAD" in flickr_error and "Invalid API Key" in flickr_error and "not-the-key" not in flickr_error
    (feed_error,) = channels["lea"]["errors"]
    assert feed_error.startswith(f"feed at {web.feeds.base_url}/feeds/malformed.xml is not valid RSS/Atom (")
    assert feed_error.endswith("check feed_url")
    assert channels["masto"]["new_posts"] == 1 and channels["masto"]["errors"] == []
    assert "Traceback" not in run.err


def test_a_licence_that_needs_permission_is_marked_and_approval_needs_force_with_a_reason(web):
    web.flickr.add_photo(images.jpeg(7, size=(1600, 1200)), uploaded=T0, title="Atomium at dusk",
                         ownername="Jan Peeters", pathalias="jan", license="0")
    web.write_config(feed="none.xml")  # only Flickr matters here
    assert web.site.wlb("collect", "--json").json()["channels"]["flickr"]["errors"] == []
    (item,) = by_platform(web.site.queue("pending"))["flickr"]
    assert item["needs_permission"] == "licence All Rights Reserved is not in licenses.allowed"
    assert "needs permission" in web.site.wlb("queue").out

    refused = web.site.wlb("approve", str(item["id"]))
    assert refused.code == 2 and "needs permission" in refused.err and "--force" in refused.err
    no_reason = web.site.wlb("approve", str(item["id"]), "--force")
    assert no_reason.code == 2 and "--force needs --reason" in no_reason.err
    forced = web.site.wlb("approve", str(item["id"]), "--force", "--reason", "Jan agreed by e-mail on 21 November")
    assert forced.code == 0, forced.err
    history = web.site.wlb("show", str(item["id"]), "--json").json()["history"]
    assert history[-1]["action"] == "approve-forced" and history[-1]["reason"] == "Jan agreed by e-mail on 21 November"

    assert web.site.wlb("publish").code == 0
    (status,) = [r.form["status"][0] for r in web.community.requests if r.path == "/api/v1/statuses"]
    assert "“Atomium at dusk” by Jan Peeters" in status and "All Rights Reserved" in status
    assert item["post_url"] in status


def test_cc_photos_carry_their_attribution_and_nc_needs_a_non_commercial_channel(web):
    web.flickr.add_photo(images.jpeg(8, size=(1600, 1200)), uploaded=T0, title="Flagey", ownername="Ana Lopez",
                         pathalias="ana", license="4")
    web.flickr.add_photo(images.jpeg(9, size=(1600, 1200)), uploaded=T0 + timedelta(minutes=1), title="Cinquantenaire",
                         ownername="Tom", pathalias="tom", license="2")
    web.write_config(feed="none.xml")
    assert web.site.wlb("collect", "--json").json()["channels"]["flickr"]["errors"] == []
    items = {i["title"]: i for i in by_platform(web.site.queue("pending"))["flickr"]}
    assert items["Flagey"]["needs_permission"] is None
    assert "CC BY-NC" in items["Cinquantenaire"]["needs_permission"]
    assert web.site.wlb("approve", str(items["Cinquantenaire"]["id"])).code == 2

    web.site.config.write_text(web.site.config.read_text().replace("publish = true", "publish = true\nnon_commercial = true"))
    assert [i["needs_permission"] for i in web.site.wlb("queue", "--json").json()] == [None, None]
    assert web.site.wlb("approve", str(items["Flagey"]["id"]), str(items["Cinquantenaire"]["id"])).code == 0
    assert web.site.wlb("publish").code == 0
    texts = [r.form["status"][0] for r in web.community.requests if r.path == "/api/v1/statuses"]
    flagey = next(t for t in texts if "Flagey" in t)
    assert "“Flagey” by Ana Lopez is licensed under CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/)" in flagey
    assert items["Flagey"]["post_url"] in flagey


def test_the_licence_is_checked_again_at_publish_time_for_each_channel(web):
    web.flickr.add_photo(images.jpeg(10, size=(1600, 1200)), uploaded=T0, title="Parc Josaphat", ownername="Noor",
                         pathalias="noor", license="2")  # CC BY-NC 2.0
    web.write_config(feed="none.xml")
    config = web.site.config.read_text()
    web.site.config.write_text(config.replace("publish = true", "publish = true\nnon_commercial = true"))
    web.site.wlb("collect")
    (item,) = by_platform(web.site.queue("pending"))["flickr"]
    assert web.site.wlb("approve", str(item["id"])).code == 0

    web.site.config.write_text(config)  # the community channel is commercial after all
    held = web.site.wlb("publish", "--json")
    assert held.code == 0 and web.community.published == []
    assert any("needs permission" in w and f"#{item['id']}" in w for w in held.json()["warnings"])

    assert web.site.wlb("approve", str(item["id"]), "--force", "--reason", "Noor said yes on Mastodon").code == 0
    assert web.site.wlb("publish").code == 0
    assert len(web.community.published) == 1


def test_a_flickr_photo_missing_a_field_costs_that_photo_and_a_restricted_original_gives_url_k(web):
    web.flickr.add_photo(images.jpeg(40, size=(2400, 1600)), uploaded=T0, title="k only", originals=False)
    web.flickr.add_photo(images.jpeg(41, size=(1200, 900)), uploaded=T0 + timedelta(minutes=1), title="no date",
                         omit=("dateupload",))
    web.feeds.add_feed("pixelfed_profile.atom", "<feed xmlns='http://www.w3.org/2005/Atom'><title>x</title></feed>")
    run = web.site.wlb("collect", "--json")
    assert run.code == 0, run.err
    flickr = run.json()["channels"]["flickr"]
    assert flickr["new_posts"] == 1 and flickr["skipped"] == {"malformed (no upload date)": 1} and not flickr["errors"]
    (item,) = by_platform(web.site.queue("all"))["flickr"]
    assert item["media"][0]["width"] == 2048, "the 2048-pixel size, not the 1024 one"
    again = web.site.wlb("collect", "--json").json()["channels"]["flickr"]
    assert again["new_posts"] == 0 and not again["errors"]
