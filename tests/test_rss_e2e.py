"""End to end through the CLI: a Mastodon hashtag feed on 127.0.0.1 → the queue, credited to the right people."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from core.db import Database
from core.models import Author, Post
from tests.fakes import images
from tests.fakes.feeds import FakeFeeds
from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

FILES = "/system/media_attachments/files"
PHOTOS = {  # the images mastodon_tag.rss names, by status
    "anna": f"{FILES}/113/500/000/000/000/001/original/5a1c.jpg",
    "bob": f"{FILES}/113/499/999/999/999/999/original/77ab.png",
    "carla": "/system/cache/media_attachments/files/113/498/000/000/000/010/original/c3d4.jpg",
    "dora": "/system/cache/media_attachments/files/113/497/000/000/000/020/original/e5f6.jpg",
}


@pytest.fixture
def site(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    with FakeFeeds() as feeds, FakeMastodon() as source, FakeMastodon(token=PUBLISH_TOKEN) as community:
        site = Site(tmp_path, source, community, capsys, db_url)
        site.write_config(extra='sensitive = "review"', origins=[feeds.origin], channels=f"""
[channels.tag]
kind = "rss"
feed_url = "{feeds.base_url}/feeds/mastodon_tag.rss"

{site.community_channel()}""")
        feeds.add_feed("mastodon_tag.rss")
        for n, path in enumerate(PHOTOS.values()):
            feeds.add_file(path, images.jpeg(20 + n, size=(1600, 1200)))
        site.feeds = feeds
        yield site


def test_a_mastodon_tag_feed_is_queued_with_each_photographer_credited(site, db_url):
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    channel = run.json()["channels"]["tag"]
    assert channel["new_posts"] == 4 and channel["requests"] == 1 and not channel["errors"]
    fetched = sorted(r.path for r in site.feeds.requests if not r.path.startswith("/feeds/"))
    assert fetched == sorted(PHOTOS.values()), "the gifv (video/mp4) is not downloaded as a photo"

    items = {i["post_url"].rsplit("/", 1)[1]: i for i in site.queue("all")}
    anna = items["113500000000000001"]
    assert anna["author"]["handle"] == "anna@127.0.0.1" and anna["text"] == "Grand-Place at night #welovebrussels"
    assert items["113497000000000000"]["author"]["handle"] == "dora@social.example"
    for item in items.values():
        assert item["author"]["name"] != "#welovebrussels" and item["author"]["handle"] != "127.0.0.1"

    with Database(db_url).session() as s:
        rows = {p.remote_id.rsplit("/", 1)[1]: p for p in s.exec(select(Post))}
        assert rows["113500000000000001"].sensitive and not rows["113499999999999999"].sensitive
        carla = rows["700000000000000123"]
        assert carla.needs_credit and not rows["113500000000000001"].needs_credit
        placeholder = s.get(Author, carla.author_id)
        assert (placeholder.handle, placeholder.name) == ("", ""), "nobody is credited until a reviewer says who"

    again = site.wlb("collect", "--json")
    assert again.code == 0 and again.json()["channels"]["tag"]["new_posts"] == 0
    assert site.feeds.feed_requests("mastodon_tag.rss")[-1].headers.get("if-none-match"), "a conditional GET"


def test_an_entry_naming_nobody_is_published_with_the_reviewers_credit(site):
    assert site.wlb("collect").code == 0
    (carla,) = [i for i in site.queue("all") if i["needs_credit"]]
    assert site.wlb("approve", str(carla["id"])).code == 2, "no credit, no approval"
    assert site.wlb("approve", str(carla["id"]), "--credit", "Carla Example").code == 0
    published = site.wlb("publish", "--json")
    assert published.code == 0, published.out
    (status,) = [r.form["status"][0] for r in site.community.requests if r.path == "/api/v1/statuses"]
    assert "Carla Example" in status
