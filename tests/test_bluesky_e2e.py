"""End to end through the CLI with a Bluesky channel: fake PDS and fake Mastodon instances on 127.0.0.1."""

from __future__ import annotations

import io
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from platforms.bluesky import BlueskyAPI
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BSKY_PASSWORD = "abcd-efgh-ijkl-mnop"


@dataclass
class BlueskySite(Site):
    bsky: FakeBluesky | None = None

    def write_config(self, extra: str = "", channels: str | None = None, origins: list[str] = ()) -> None:
        super().write_config(extra, channels if channels is not None else f"""
[channels.bsky]
kind = "bluesky"
handle = "{self.bsky.handle}"
base_url = "{self.bsky.base_url}"
plc_url = "{self.bsky.base_url}"
token_env = "WLB_BSKY_PASSWORD"
publish = true

[channels.source]
kind = "mastodon"
base_url = "{self.source.base_url}"

{self.community_channel()}""", [self.bsky.origin, *origins])

    def records(self) -> list[dict]:
        return [p["record"] for p in self.bsky.published]


@pytest.fixture
def bsite(tmp_path: Path, db_url: str, capsys, monkeypatch) -> Iterator[BlueskySite]:
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    monkeypatch.setenv("WLB_BSKY_PASSWORD", BSKY_PASSWORD)
    with FakeBluesky(password=BSKY_PASSWORD) as bsky, FakeMastodon(domain="fake.social") as source, \
            FakeMastodon(domain="community.social", token=PUBLISH_TOKEN) as community:
        site = BlueskySite(tmp_path, source, community, capsys, db_url, bsky=bsky)
        site.write_config()
        yield site


def approved_bluesky_post(site: BlueskySite, **kw) -> tuple[dict, dict]:
    kw.setdefault("images", [images.jpeg(1)])
    post = site.bsky.add_post(created_at=T0, **kw)
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    return post, item


def facet_texts(record: dict) -> dict[str, list[tuple[bytes, str]]]:
    """Each facet's kind → (the bytes it covers, what it points at)."""
    raw = record["text"].encode()
    out: dict[str, list] = {}
    for facet in record.get("facets") or []:
        feature = facet["features"][0]
        kind = feature["$type"].rsplit("#", 1)[1]
        span = raw[facet["index"]["byteStart"]:facet["index"]["byteEnd"]]
        out.setdefault(kind, []).append((span, feature.get("did") or feature.get("uri") or feature.get("tag")))
    return out


def test_a_bluesky_photo_is_reposted_with_a_mention_there_and_credited_by_name_on_mastodon(bsite):
    photo = images.jpeg(2, size=(3000, 2250), gps=True, orientation=6)
    post, item = approved_bluesky_post(bsite, text="Été au Mont des Arts 🌇 #welovebrussels", images=[photo],
                                       alt=["Sunset over the Mont des Arts"], aspect=[(3000, 2250)])
    assert item["platform"] == "bluesky" and item["author"]["handle"] == "alice.bsky.social"
    assert item["media"][0]["alt_text"] == "Sunset over the Mont des Arts"
    assert item["post_url"].startswith("https://bsky.app/profile/alice.bsky.social/post/")

    result = bsite.wlb("publish", "--json")
    assert result.code == 0, result.out + result.err

    (record,) = bsite.records()
    assert record["text"].startswith("Été au Mont des Arts 🌇 #welovebrussels\n\n📷 @alice.bsky.social · ")
    found = facet_texts(record)
    assert found["mention"] == [(b"@alice.bsky.social", post["author"]["did"])]
    assert found["link"] == [(item["post_url"].encode(), item["post_url"])]
    assert found["tag"] == [(b"#welovebrussels", "welovebrussels")]
    assert bsite.bsky.calls("com.atproto.identity.resolveHandle") == []
    (image,) = record["embed"]["images"]
    (blob,) = bsite.bsky.uploads
    assert image["alt"] == "Sunset over the Mont des Arts"
    assert len(blob["data"]) < 1_000_000 and b"WLBCam" not in blob["data"]
    with Image.open(io.BytesIO(blob["data"])) as sent:
        assert not sent.getexif()
        assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == sent.size
        assert sent.height > sent.width, "EXIF orientation applied before stripping"

    (status,) = [r.form["status"][0] for r in bsite.community.requests if r.path == "/api/v1/statuses"]
    assert "📷 Alice (alice.bsky.social on Bluesky) · " + item["post_url"] in status
    assert "@alice" not in status

    shown = bsite.wlb("show", str(item["id"]), "--json").json()
    assert shown["status"] == "published"
    urls = {p["channel"]: p["url"] for p in shown["publications"]}
    assert urls["bsky"] == f"https://bsky.app/profile/{bsite.bsky.handle}/post/{bsite.bsky.published[0]['rkey']}"


def test_a_fediverse_photo_on_bluesky_names_its_author_and_links_the_original(bsite):
    status = bsite.source.add_status(images=[images.jpeg(3)], created_at=T0, acct="alice", text="Atomium")
    assert bsite.wlb("collect").code == 0
    (item,) = bsite.queue("pending")
    assert bsite.wlb("approve", str(item["id"]), "--to", "bsky").code == 0
    assert bsite.wlb("publish").code == 0
    (record,) = bsite.records()
    assert "📷 Alice (@alice@fake.social on the fediverse) · " + status["url"] in record["text"]
    found = facet_texts(record)
    assert "mention" not in found and found["link"] == [(status["url"].encode(), status["url"])]
    assert bsite.community.published == []


def test_two_runs_log_in_once_and_the_app_password_is_kept_out_of_files_and_output(bsite):
    bsite.bsky.add_post(images=[images.jpeg(4)], created_at=T0)
    first = bsite.wlb("run", "--json")
    assert first.code == 0, first.err
    searches = len(bsite.bsky.calls("app.bsky.feed.searchPosts"))
    second = bsite.wlb("run", "--json")
    assert second.code == 0, second.err
    assert len(bsite.bsky.calls("com.atproto.server.createSession")) == 1
    assert len(bsite.bsky.calls("app.bsky.feed.searchPosts")) == searches + 1, "nothing new costs one request"
    assert second.json()["channels"]["bsky"]["new_posts"] == 0

    (session_file,) = (bsite.root / "data" / "sessions").iterdir()
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    assert BSKY_PASSWORD not in session_file.read_text()
    assert all(BSKY_PASSWORD not in text for text in (first.out, first.err, second.out, second.err))
    if bsite.db_url.startswith("sqlite:///"):
        assert BSKY_PASSWORD.encode() not in Path(bsite.db_url.removeprefix("sqlite:///")).read_bytes()


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except clause catches it."""


@pytest.mark.parametrize("after", [False, True], ids=["before-the-write", "after-the-write"])
def test_killed_around_the_record_write_then_rerun_posts_exactly_once(bsite, monkeypatch, after):
    _, item = approved_bluesky_post(bsite)
    real = BlueskyAPI.put_record

    def dying(self, *args, **kwargs):
        if after:
            real(self, *args, **kwargs)
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(BlueskyAPI, "put_record", dying)
        with pytest.raises(Killed):
            bsite.wlb("publish", "--channel", "bsky")
    assert bsite.wlb("publish", "--channel", "bsky").code == 0
    assert bsite.wlb("publish", "--channel", "bsky").code == 0
    assert len(bsite.bsky.published) == 1
    puts = bsite.bsky.calls("com.atproto.repo.putRecord")
    assert len(puts) == 1, "the rerun looked the post up at its key (getRecord) before writing"
    shown = bsite.wlb("show", str(item["id"]), "--json").json()
    (publication,) = [p for p in shown["publications"] if p["channel"] == "bsky"]
    assert publication["state"] == "published" and publication["url"].endswith("/" + puts[0].json["rkey"])


def test_a_deleted_bluesky_original_is_not_reposted(bsite):
    post, _ = approved_bluesky_post(bsite)
    bsite.bsky.delete_post(post["uri"])
    assert bsite.wlb("publish").code == 0
    assert bsite.bsky.published == [] and bsite.community.published == []
    (rejected,) = bsite.queue("rejected")
    assert "deleted at its source" in rejected["reasons"][-1]


def test_our_own_bluesky_repost_never_becomes_a_candidate(bsite):
    _, item = approved_bluesky_post(bsite)
    assert bsite.wlb("publish", "--channel", "bsky").code == 0
    bsite.bsky.add_post(images=[images.jpeg(9)], created_at=T0 + timedelta(minutes=5), handle="bob.bsky.social")
    run = bsite.wlb("collect", "--json")
    assert run.code == 0
    assert run.json()["channels"]["bsky"]["skipped"].get("own account or repost") == 1
    assert sorted(i["author"]["handle"] for i in bsite.queue("all")) == ["alice.bsky.social", "bob.bsky.social"]


def test_a_wrong_app_password_fails_the_channel_with_one_line(bsite, monkeypatch):
    monkeypatch.setenv("WLB_BSKY_PASSWORD", "not-the-password")
    bsite.source.add_status(images=[images.jpeg(5)], created_at=T0)
    run = bsite.wlb("collect", "--json")
    assert run.code == 1
    report = run.json()["channels"]
    assert report["source"]["new_posts"] == 1
    (error,) = report["bsky"]["errors"]
    assert "refused to log in as welovebrussels.test" in error and "$WLB_BSKY_PASSWORD" in error
    assert "not-the-password" not in run.out + run.err


def test_an_unknown_label_type_and_a_forged_uri_cost_one_post_each_not_the_command(bsite):
    odd = bsite.bsky.add_post(images=[images.jpeg(1)], created_at=T0)
    odd["record"]["labels"] = {"$type": "com.example.labels"}  # once a TypeError that aborted `wlb collect`
    forged = bsite.bsky.add_post(images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=1), handle="mallory.test")
    forged["uri"] = odd["uri"].rsplit("/", 1)[0] + "/3kforgedpost22"  # in Alice's repository
    bsite.source.add_status(images=[images.jpeg(3)], created_at=T0)
    run = bsite.wlb("collect", "--json")
    assert run.code == 0, run.err
    channels = run.json()["channels"]
    assert channels["bsky"]["skipped"] == {"identity mismatch (uri and author differ)": 1}
    assert channels["bsky"]["new_posts"] == 1 and channels["source"]["new_posts"] == 1
    assert sorted(i["author"]["handle"] for i in bsite.queue("pending")) == ["alice.bsky.social", "alice@fake.social"]


def test_publish_asks_the_authors_pds_through_the_plc_directory(bsite):
    post, _ = approved_bluesky_post(bsite)
    assert bsite.wlb("publish").code == 0
    did = post["author"]["did"]
    assert any(r.path == f"/{did}" for r in bsite.bsky.requests), "the DID document was fetched"
    lookups = [r for r in bsite.bsky.calls("com.atproto.repo.getRecord") if r.query.get("repo") == [did]]
    assert lookups and all("authorization" not in r.headers for r in lookups), "no session sent to the author's PDS"
    assert len(bsite.bsky.published) == 1 and len(bsite.community.published) == 1
