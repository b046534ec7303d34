"""End to end through the CLI with a Facebook Page: fake Mastodon source → collect → approve → fake Graph API."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from platforms.facebook import FacebookAPI
from tests.fakes import images
from tests.fakes.facebook import PAGE_ID, PAGE_TOKEN, VERSION, FakeGraph
from tests.fakes.mastodon import FakeMastodon
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class FacebookSite(Site):
    graph: FakeGraph | None = None

    def write_config(self, extra: str = "", channels: str | None = None, origins: list[str] = ()) -> None:
        super().write_config(extra, channels if channels is not None else f"""
[channels.source]
kind = "mastodon"
base_url = "{self.source.base_url}"

[channels.page]
kind = "facebook"
page_id = "{PAGE_ID}"
base_url = "{self.graph.api_url}"
token_env = "WLB_FB_TOKEN"
collect = false
publish = true
""", [self.graph.origin, *origins])


@pytest.fixture
def fsite(tmp_path: Path, db_url: str, capsys, monkeypatch) -> Iterator[FacebookSite]:
    monkeypatch.setenv("WLB_FB_TOKEN", PAGE_TOKEN)
    with FakeGraph() as graph, FakeMastodon(domain="fake.social") as source, \
            FakeMastodon(domain="community.social") as unused:
        site = FacebookSite(tmp_path, source, unused, capsys, db_url, graph=graph)
        site.write_config()
        yield site


def approve(site: FacebookSite, *, n_images: int = 1, **kw) -> tuple[dict, dict]:
    status = site.source.add_status(images=[images.jpeg(10 + i) for i in range(n_images)], created_at=T0,
                                    text="Atomium at dawn", acct="alice", display_name="Alice", **kw)
    assert site.wlb("collect", "--json").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    return status, item


def test_an_approved_mastodon_photo_is_posted_to_the_page_with_credit(fsite):
    status, item = approve(fsite, alt=["The Atomium against a pink sky"])
    dry = fsite.wlb("publish", "--dry-run", "--json")
    assert dry.code == 0 and len(dry.json()["items"]) == 1 and fsite.graph.requests == [], "a dry run sends nothing"
    result = fsite.wlb("publish", "--json")
    assert result.code == 0, result.err
    (call,) = fsite.graph.requests
    assert (call.method, call.path) == ("POST", f"/{VERSION}/{PAGE_ID}/photos")
    caption = call.form["caption"][0]
    assert caption.startswith("Atomium at dawn")
    assert "Alice (@alice@fake.social on the fediverse)" in caption and status["url"] in caption
    assert "#welovebrussels" in caption
    assert call.form["alt_text_custom"] == ["The Atomium against a pink sky"]
    assert call.files["source"][2][:2] == b"\xff\xd8"
    (post,) = fsite.graph.posts
    (shown,) = [i for i in fsite.queue("all") if i["id"] == item["id"]]
    assert shown["status"] == "published"
    publication = fsite.wlb("show", str(item["id"]), "--json").json()["publications"][0]
    assert publication["state"] == "published" and publication["url"] == post["permalink_url"]

    again = fsite.wlb("publish", "--json")
    assert again.code == 0 and again.json()["items"] == []
    assert len(fsite.graph.posts) == 1, "never twice"


def test_several_photos_become_one_post(fsite):
    approve(fsite, n_images=3)
    assert fsite.wlb("publish").code == 0
    (post,) = fsite.graph.posts
    assert len(post["photos"]) == 3
    uploads = fsite.graph.calls("POST", "/photos")
    assert [u.form["published"] for u in uploads] == [["false"]] * 3
    (feed,) = fsite.graph.calls("POST", "/feed")
    assert [json.loads(feed.form[f"attached_media[{i}]"][0])["media_fbid"] for i in range(3)] == post["photos"]


def test_a_lost_answer_then_a_rerun_posts_once(fsite):
    status, item = approve(fsite)
    fsite.graph.lose_answer_to("POST", "/photos")
    first = fsite.wlb("publish", "--json")
    assert len(fsite.graph.posts) == 1, "Facebook made the post; wlb never heard back"
    (error,) = first.json()["channels"]["page"]["errors"]
    assert "the post may have been made: the next run looks for it on the Page" in error
    (shown,) = [i for i in fsite.queue("all") if i["id"] == item["id"]]
    assert shown["status"] == "approved"

    rerun = fsite.wlb("publish", "--json")
    assert rerun.code == 0, rerun.err
    assert len(fsite.graph.posts) == 1
    assert len(fsite.graph.calls("POST", "/photos")) == 1, "the rerun looked first and did not post again"
    assert fsite.graph.calls("GET", "/published_posts"), "it looked among the Page's own posts"
    (shown,) = [i for i in fsite.queue("all") if i["id"] == item["id"]]
    assert shown["status"] == "published"
    publication = fsite.wlb("show", str(item["id"]), "--json").json()["publications"][0]
    assert publication["url"] == fsite.graph.posts[0]["permalink_url"], "found on the Page: its permalink"


def test_an_expired_token_is_one_line_with_the_fix_and_the_item_waits(fsite):
    _, item = approve(fsite)
    fsite.graph.fail_next_graph("POST", "/photos", 190, subcode=463, message="Error validating access token: "
                                "Session has expired")
    result = fsite.wlb("publish", "--json")
    (error,) = result.json()["channels"]["page"]["errors"]
    assert "$WLB_FB_TOKEN is no longer valid (it expired); make a new one" in error and "fbtrace_id" in error
    assert fsite.graph.posts == []
    assert fsite.wlb("publish").code == 0
    assert len(fsite.graph.posts) == 1
    assert len(fsite.graph.calls("GET", "/published_posts")) == 0, "a refused post is not in doubt: no look-up"


def test_doctor_probes_the_page(fsite):
    result = fsite.wlb("doctor")
    assert "can post to Page We Love Brussels" in result.out, result.out + result.err
    assert PAGE_TOKEN not in result.out + result.err


def test_a_facebook_channel_that_collects_is_refused_with_the_fix(fsite):
    fsite.write_config(channels=f"""
[channels.page]
kind = "facebook"
page_id = "{PAGE_ID}"
token_env = "WLB_FB_TOKEN"
publish = true
""")
    result = fsite.wlb("queue")
    assert result.code == 2 and "cannot collect; set collect = false" in result.err


def test_an_item_marked_sensitive_is_not_posted_to_the_page(fsite):
    fsite.write_config(extra='sensitive = "review"')
    approve(fsite, sensitive=True, spoiler_text="blood")
    result = fsite.wlb("publish", "--json")
    (error,) = result.json()["channels"]["page"]["errors"]
    assert "cannot hide a photo behind a content warning" in error
    assert fsite.graph.requests == []


def test_a_large_photo_is_brought_within_facebooks_limits_before_upload(fsite):
    fsite.source.add_status(images=[images.jpeg(7, size=(4000, 3000))], created_at=T0, text="Big", acct="alice")
    assert fsite.wlb("collect").code == 0
    (item,) = fsite.queue("pending")
    assert fsite.wlb("approve", str(item["id"])).code == 0
    assert fsite.wlb("publish").code == 0
    (call,) = fsite.graph.calls("POST", "/photos")
    sent = call.files["source"][2]
    with Image.open(io.BytesIO(sent)) as img:
        assert img.width * img.height <= 2048 * 2048 and img.width > img.height
    assert len(sent) <= 4_000_000


class Killed(BaseException):
    """Stands for SIGKILL inside the process: nothing after it runs, no except clause catches it."""


@pytest.mark.parametrize(("method", "after", "n_images"), [
    ("post_photo", False, 1),          # killed just before the one-photo post
    ("post_photo", True, 1),           # Facebook made the post; we never recorded it
    ("upload_unpublished", True, 2),   # killed with one photo uploaded, unpublished
    ("post_feed", True, 2),            # the feed post was made; we never recorded it
])
def test_killed_at_any_point_then_rerun_posts_exactly_once(fsite, monkeypatch, method, after, n_images):
    _, item = approve(fsite, n_images=n_images)
    real = getattr(FacebookAPI, method)

    def dying(self, *args, **kwargs):
        if after:
            real(self, *args, **kwargs)
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(FacebookAPI, method, dying)
        with pytest.raises(Killed):
            fsite.wlb("publish")
    assert fsite.wlb("publish").code == 0
    assert fsite.wlb("publish").code == 0
    assert len(fsite.graph.posts) == 1
    (shown,) = [i for i in fsite.queue("all") if i["id"] == item["id"]]
    assert shown["status"] == "published"
    posting = fsite.graph.calls("POST", "/feed") if n_images > 1 else fsite.graph.calls("POST", "/photos")
    assert len(posting) == 1, "one posting call reached Facebook, whatever moment the process died at"
