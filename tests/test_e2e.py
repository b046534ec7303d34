"""End to end through the CLI: fake instances on 127.0.0.1 → collect → queue → approve → publish."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from PIL import Image

from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def post(site: Site, seed: int, *, minutes: int = 0, **kw) -> dict:
    return site.source.add_status(images=[images.jpeg(seed)], created_at=T0 + timedelta(minutes=minutes), **kw)


def test_collect_queue_approve_publish_with_credit(site):
    first = post(site, 1, text="Manneken Pis in the rain", acct="alice", alt=["Bronze statue in the rain"])
    # Bob lives on another instance: ours serves its federated copy, and his home instance confirms it
    # before we credit him (issue 8).
    with FakeMastodon(domain=None) as home:
        site.write_config(origins=[home.origin])
        original = home.add_status(images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=5), text="Atomium",
                                   acct="bob", display_name="Bob")
        site.source.federate(original, home)
        _collect_approve_publish(site, first, bob=f"bob@{home.domain}")
        asked = [r for r in home.requests if r.path.startswith("/api/v1/statuses/")]
        assert asked and all("authorization" not in r.headers for r in asked), "no token of ours to another instance"


def _collect_approve_publish(site: Site, first: dict, bob: str) -> None:
    site.source.add_status(text="no picture here", created_at=T0)

    run = site.wlb("run", "--json")
    assert run.code == 0, run.err
    summary = run.json()["channels"]["source"]
    assert summary["new_posts"] == 2 and summary["pending"] == 2 and summary["skipped"] == {"no media": 1}

    items = site.queue("pending")
    by_text = {i["text"].split(" #")[0]: i for i in items}
    alice = by_text["Manneken Pis in the rain"]
    assert alice["author"] == {"handle": "alice@fake.social", "name": "Alice", "profile_url": "https://fake.social/@alice"}
    assert alice["post_url"] == first["url"]
    assert alice["media"][0]["width"] == 1080 and len(alice["media"][0]["sha256"]) == 64
    assert len(alice["media"][0]["phash"]) == 16

    assert site.wlb("approve", str(alice["id"]), str(by_text["Atomium"]["id"])).code == 0
    dry = site.wlb("publish", "--dry-run", "--json")
    assert dry.code == 0 and len(dry.json()["items"]) == 2, dry.json()["warnings"]
    assert site.community.published == [] and site.community.uploads == []

    published = site.wlb("publish", "--json")
    assert published.code == 0, published.err
    assert len(site.community.published) == 2
    statuses = [r for r in site.community.requests if r.method == "POST" and r.path == "/api/v1/statuses"]
    texts = [r.form["status"][0] for r in statuses]
    assert any("@alice@fake.social" in t and first["url"] in t and "#welovebrussels" in t for t in texts)
    assert any(f"@{bob}" in t for t in texts)
    assert all(r.headers["authorization"] == f"Bearer {PUBLISH_TOKEN}" for r in statuses)
    assert len({r.headers["idempotency-key"] for r in statuses}) == 2
    uploads = [r for r in site.community.requests if r.path == "/api/v2/media"]
    assert {u.form["description"][0] for u in uploads} == {"Bronze statue in the rain", "Photo of Brussels shared with #welovebrussels"}
    assert {i["status"] for i in site.queue("all")} == {"published"}

    again = site.wlb("publish", "--json")
    assert again.code == 0 and again.json()["items"] == []
    assert len(site.community.published) == 2, "never twice"

    shown = site.wlb("show", str(alice["id"]), "--json").json()
    assert [h["action"] for h in shown["history"]] == ["queue", "approve", "publish"]
    assert shown["history"][1]["actor"] == "tester"
    assert shown["publications"][0]["state"] == "published"


def test_republished_image_has_no_exif_and_orientation_applied(site):
    data = images.jpeg(3, size=(1200, 800), gps=True, orientation=6)
    site.source.add_status(images=[data], created_at=T0)
    site.wlb("collect")
    item = site.queue("pending")[0]
    site.wlb("approve", str(item["id"]))
    assert site.wlb("publish").code == 0
    uploaded = site.community.uploads[0]["data"]
    img = Image.open(io.BytesIO(uploaded))
    assert img.size == (800, 1200), "EXIF orientation 6 applied before stripping"
    exif = img.getexif()
    assert not exif and 0x8825 not in exif
    assert b"WLBCam" not in uploaded


def test_duplicates_across_instances_and_reposts_are_merged(site):
    original = images.jpeg(10)
    post(site, 0, minutes=0, acct="early", text="first")  # unrelated photo
    site.source.add_status(images=[original], created_at=T0 + timedelta(minutes=1), acct="author", text="mine")
    site.source.add_status(images=[images.reencoded(original, quality=50, scale=0.7)],
                           created_at=T0 + timedelta(minutes=30), acct="feature", text="repost")
    site.wlb("collect")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["feature"]["status"] == "duplicate"
    assert items["feature"]["duplicate_of"] == items["author"]["id"]
    assert items["author"]["status"] == "pending" and items["early"]["status"] == "pending"
    shown = site.wlb("show", str(items["author"]["id"]), "--json").json()
    assert shown["duplicates"] == [items["feature"]["id"]]


def test_earliest_copy_wins_even_when_collected_later(site):
    photo = images.jpeg(20)
    site.source.add_status(images=[images.reencoded(photo, scale=0.9)], created_at=T0 + timedelta(hours=2), acct="late", text="later copy")
    site.wlb("collect")
    (late,) = site.queue("pending")
    # The original, posted earlier, only now reaches the timeline (e.g. federated late).
    site.source.add_status(images=[photo], created_at=T0, acct="origin", text="the original")
    site.wlb("collect")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["origin"]["status"] == "pending"
    assert items["late"]["status"] == "duplicate" and items["late"]["duplicate_of"] == items["origin"]["id"]


def test_repost_of_a_rejected_photo_stays_out_of_the_queue(site):
    photo = images.jpeg(30)
    site.source.add_status(images=[photo], created_at=T0, acct="a")
    site.wlb("collect")
    (item,) = site.queue("pending")
    assert site.wlb("reject", str(item["id"]), "--reason", "blurry").code == 0
    site.source.add_status(images=[images.reencoded(photo, scale=0.9)], created_at=T0 + timedelta(days=1), acct="b")
    site.wlb("collect")
    assert site.queue("pending") == []
    (dup,) = site.queue("duplicate")
    assert dup["duplicate_of"] == item["id"]


def test_bad_media_is_refused_with_the_reason_recorded(site):
    html_url = site.source.add_image(b"<html><body>not found</body></html>", content_type="image/jpeg")
    status = site.source.add_status(images=[images.jpeg(40)], created_at=T0, acct="lies")
    status["media_attachments"][0]["url"] = html_url
    site.source.add_status(images=[images.truncated(images.jpeg(41))], created_at=T0, acct="cut")
    site.source.add_status(images=[images.bomb_png()], created_at=T0, acct="bomb")
    site.source.add_status(images=[images.jpeg(42, size=(300, 200))], created_at=T0, acct="tiny")
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    refused = run.json()["channels"]["source"]["refused"]
    assert len(refused) == 3
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert {k: v["status"] for k, v in items.items()} == {"lies": "rejected", "cut": "rejected", "bomb": "rejected", "tiny": "rejected"}
    assert "not an image" in items["lies"]["reasons"][0]
    assert "truncated" in items["cut"]["reasons"][0]
    assert "pixel" in items["bomb"]["reasons"][0]
    assert "too small" in items["tiny"]["reasons"][0]
    assert items["bomb"]["media"][0]["path"] is None


def test_rate_limit_is_honoured_and_a_failing_channel_does_not_stop_others(site, monkeypatch):
    waits = []
    monkeypatch.setattr("app.pipeline.time.sleep", waits.append)
    post(site, 50)
    site.source.rate_limit_next(1, retry_after="7")
    site.write_config(channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

[channels.dead]
kind = "mastodon"
base_url = "http://127.0.0.1:9"
""", extra="")
    site.config.write_text(site.config.read_text().replace(
        f'allow_private = ["{site.source.origin}"', f'allow_private = ["http://127.0.0.1:9", "{site.source.origin}"'))
    run = site.wlb("run", "--json")
    assert run.code == 1
    report = run.json()["channels"]
    assert report["source"]["new_posts"] == 1 and report["source"]["errors"] == []
    assert 7 in [round(w) for w in waits]
    assert len(report["dead"]["errors"]) == 1 and "127.0.0.1:9" in report["dead"]["errors"][0]


def test_incremental_run_with_nothing_new_makes_one_request_per_channel_and_tag(site):
    for n in range(3):
        post(site, 60 + n, minutes=n)
    site.wlb("collect")
    before = len(site.source.requests)
    site.wlb("collect")
    timeline = [r for r in site.source.requests[before:] if r.path.startswith("/api/v1/timelines/tag/")]
    assert len(timeline) == 1 and "min_id" in timeline[0].query
    assert [r for r in site.source.requests[before:] if r.path.startswith("/media/")] == []


def test_deleted_original_is_not_reposted(site):
    status = post(site, 70)
    site.wlb("collect")
    (item,) = site.queue("pending")
    site.wlb("approve", str(item["id"]))
    site.source.delete_status(status["id"])
    result = site.wlb("publish", "--json")
    assert result.code == 0
    assert site.community.published == []
    (rejected,) = site.queue("rejected")
    assert "deleted at its source" in rejected["reasons"][-1]


def test_our_own_reposts_never_become_candidates(site, monkeypatch):
    site.write_config(channels=f"""
[channels.home]
kind = "mastodon"
base_url = "{site.community.base_url}"
publish = true
token_env = "WLB_PUB_TOKEN"
""")
    site.community.add_status(images=[images.jpeg(80)], created_at=T0, acct="alice")
    site.wlb("collect")
    (item,) = site.queue("pending")
    site.wlb("approve", str(item["id"]))
    assert site.wlb("publish").code == 0
    assert len(site.community.published) == 1
    site.wlb("collect")
    assert [i["id"] for i in site.queue("all")] == [item["id"]]


def test_daily_cap_limits_reposts_per_channel(site):
    for n in range(3):
        post(site, 90 + n, minutes=n)
    site.write_config(extra="[publish]\ndaily_cap = 2")
    site.wlb("collect")
    ids = [str(i["id"]) for i in site.queue("pending")]
    site.wlb("approve", *ids)
    result = site.wlb("publish", "--json")
    assert len(site.community.published) == 2
    assert any("daily cap of 2" in w for w in result.json()["warnings"])
    assert len(site.queue("approved")) == 1


def test_earlier_copy_of_an_approved_item_warns_instead_of_stealing_its_status(site):
    photo = images.jpeg(100)
    site.source.add_status(images=[images.reencoded(photo, scale=0.9)], created_at=T0 + timedelta(hours=3), acct="later")
    site.wlb("collect")
    (later,) = site.queue("pending")
    site.wlb("approve", str(later["id"]))
    site.source.add_status(images=[photo], created_at=T0, acct="first")
    run = site.wlb("collect", "--json")
    assert any(f"#{later['id']}" in w and "credits the right photographer" in w for w in run.json()["warnings"])
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["later"]["status"] == "approved"
    assert items["first"]["status"] == "duplicate" and items["first"]["duplicate_of"] == later["id"]


def test_rules_reject_sensitive_blocked_and_other_languages_with_reasons(site):
    site.write_config(extra='blocked_authors = ["*@spam.example"]\nblocked_words = ["giveaway"]\nlanguages = ["fr", "nl", "en"]')
    site.source.add_status(images=[images.jpeg(110)], created_at=T0, acct="cw", sensitive=True, spoiler_text="nsfw")
    site.source.add_status(images=[images.jpeg(111)], created_at=T0, acct="bot@spam.example")
    site.source.add_status(images=[images.jpeg(112)], created_at=T0, acct="win", text="Big GIVEAWAY today")
    site.source.add_status(images=[images.jpeg(113)], created_at=T0, acct="de", language="de")
    site.source.add_status(images=[images.jpeg(114)], created_at=T0, acct="ok", language="nl", text="Brasserie in Ixelles")
    site.wlb("collect")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert {k: i["status"] for k, i in items.items()} == {"cw": "rejected", "bot": "rejected", "win": "rejected",
                                                          "de": "rejected", "ok": "pending"}
    assert "sensitive" in items["cw"]["reasons"][0]
    assert "blocked" in items["bot"]["reasons"][0]
    assert "giveaway" in items["win"]["reasons"][0].lower()
    assert "de" in items["de"]["reasons"][0]
    history = site.wlb("show", str(items["cw"]["id"]), "--json").json()["history"]
    assert history[0]["actor"] == "wlb" and history[0]["action"] == "auto-reject"


def test_long_caption_is_shortened_but_credit_and_link_never_are(tmp_path, db_url, capsys, monkeypatch):
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    with FakeMastodon() as source, FakeMastodon(domain="community.social", token=PUBLISH_TOKEN, max_characters=140) as community:
        site = Site(tmp_path, source, community, capsys, db_url)
        site.write_config()
        status = source.add_status(images=[images.jpeg(120)], created_at=T0, acct="verbose",
                                   text="Le marché du Midi ce dimanche matin, " * 20)
        site.wlb("collect")
        (item,) = site.queue("pending")
        site.wlb("approve", str(item["id"]))
        result = site.wlb("publish", "--json")
        assert result.code == 0, result.out
        (sent,) = [r.form["status"][0] for r in community.requests if r.path == "/api/v1/statuses"]
        assert "@verbose@fake.social" in sent and status["url"] in sent and "…" in sent
        assert sent.startswith("Le marché du Midi")


def test_reviewer_caption_replaces_the_original_text(site):
    site.source.add_status(images=[images.jpeg(130)], created_at=T0, acct="cap", text="original words")
    site.wlb("collect")
    (item,) = site.queue("pending")
    site.wlb("approve", str(item["id"]), "--caption", "Golden hour at the Sablon")
    site.wlb("publish")
    (sent,) = [r.form["status"][0] for r in site.community.requests if r.path == "/api/v1/statuses"]
    assert sent.startswith("Golden hour at the Sablon") and "original words" not in sent
