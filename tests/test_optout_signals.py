"""Opt-out signals at collect time, through the real collectors against the fakes: each signal skipped, asked or
ignored as [consent] says; look-alikes ("#nobotanist", discoverable null) are not signals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import Database
from core.models import Author, Decision, Post
from tests.fakes import images
from tests.fakes import pixelfed as pixelfed_fake
from tests.fakes.bluesky import MODERATION
from tests.fakes.mastodon import SIGNAL_ACCOUNTS, FakeMastodon
from tests.site import PUBLISH_TOKEN, Site
from tests.test_bluesky_e2e import bsite  # noqa: F401 - the fixture is used by name

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SWITCHES = ("nobot", "noindex", "not_discoverable", "not_indexable", "no_unauthenticated", "no_repost")
# Mastodon fixture → what the run reports (None: not a signal).
MASTODON = {
    "nobot": "#nobot in their bio",
    "noindex_tag": "#noindex in their bio",
    "nosearch": "#nosearch in their bio",
    "nobot_field": "#nobot in their profile fields",
    "noindex": "noindex: true on their account",
    "not_discoverable": "discoverable: false on their account",
    "not_indexable": "indexable: false on their account",
    "unset": None,
    "nobotanist": None,
    "nobot_in_text": None,
}


def consent(switch: str) -> str:
    return "[consent]\n" + "\n".join(f'{name} = "{switch}"' for name in SWITCHES)


def stored(site: Site) -> dict[str, Post]:
    """Every stored post by its author's handle."""
    db = Database(site.db_url)
    with db.session() as session:
        found = {a.handle: p for p, a in session.exec(select(Post, Author).join(Author))}
    db.dispose()
    return found


def seed_mastodon(site: Site) -> dict[str, str]:
    """One photo per fixture account; their image URLs."""
    urls = {}
    for n, name in enumerate(MASTODON):
        site.source.account_fields[name] = SIGNAL_ACCOUNTS[name]
        status = site.source.add_status(acct=name, images=[images.jpeg(n + 1)], created_at=T0 + timedelta(minutes=n))
        urls[name] = status["media_attachments"][0]["url"]
    return urls


def fetched(fake: FakeMastodon, url: str) -> bool:
    return any(r.path == url.split(fake.base_url, 1)[1] for r in fake.requests)


@pytest.mark.parametrize("switch", ["skip", "ask", "ignore"])
def test_each_mastodon_signal_is_skipped_asked_or_ignored(site, switch):
    site.write_config(consent(switch))
    urls = seed_mastodon(site)
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err

    asked = [r for r in site.source.requests if r.path.startswith("/api/")]
    assert {r.path for r in asked} <= {"/api/v1/timelines/tag/welovebrussels", "/api/v2/instance"}, \
        "signals come with the statuses: no extra account lookups"
    posts = stored(site)
    skipped = run.json()["channels"]["source"]["skipped"]
    signalled = {name: what for name, what in MASTODON.items() if what}
    for name, what in MASTODON.items():
        handle = f"{name}@fake.social"
        if what and switch == "skip":
            assert handle not in posts and not fetched(site.source, urls[name]), f"{name}: never stored or fetched"
        else:
            assert posts[handle].ask_first == ([what] if what and switch == "ask" else []), name
            assert fetched(site.source, urls[name])
    if switch == "skip":
        assert skipped == {f"opt-out signal ({what})": 1 for what in signalled.values()}
    else:
        assert not skipped


def test_defaults_skip_the_clear_signals_and_leave_indexable_alone(site):
    seed_mastodon(site)
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    posts = stored(site)
    kept = {h.partition("@")[0] for h in posts}
    assert kept == {"not_indexable", "unset", "nobotanist", "nobot_in_text"}
    assert all(p.ask_first == [] for p in posts.values())
    assert sum(run.json()["channels"]["source"]["skipped"].values()) == 6


def test_a_no_repost_marker_in_the_post_skips_it_and_a_longer_tag_does_not(site):
    site.write_config('[consent]\nno_repost_markers = ["#NoRepost", "please do not share"]')
    site.source.add_status(acct="ann", text="Sunset", extra_tags=["norepost"], images=[images.jpeg(1)], created_at=T0)
    site.source.add_status(acct="ben", text="Please do NOT share, thanks", images=[images.jpeg(2)], created_at=T0)
    site.source.add_status(acct="cat", text="Rain #norepostplease", images=[images.jpeg(3)], created_at=T0)
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    assert set(stored(site)) == {"cat@fake.social"}
    assert run.json()["channels"]["source"]["skipped"] == {"opt-out signal (#NoRepost in the post)": 1,
                                                           "opt-out signal (please do not share in the post)": 1}


def test_a_bad_marker_is_a_config_error(site):
    site.write_config('[consent]\nno_repost_markers = ["#"]')
    result = site.wlb("collect")
    assert result.code != 0 and "no_repost_markers" in result.err and "Traceback" not in result.err


@pytest.fixture
def pixelfed_site(tmp_path: Path, db_url: str, capsys, monkeypatch) -> Iterator[Site]:
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    monkeypatch.setenv("WLB_PIX_TOKEN", "pix-read")
    with FakeMastodon(flavor="pixelfed", domain="pix.example", token="pix-read") as source, \
            FakeMastodon(domain="community.social", token=PUBLISH_TOKEN) as community:
        s = Site(tmp_path, source, community, capsys, db_url)
        s.channels_block = f"""
[channels.source]
kind = "pixelfed"
base_url = "{source.base_url}"
token_env = "WLB_PIX_TOKEN"

{s.community_channel()}"""
        s.write_config(channels=s.channels_block)
        yield s


@pytest.mark.parametrize("switch", ["skip", "ask"])
def test_pixelfed_bio_tags(pixelfed_site, switch):
    site = pixelfed_site
    site.write_config(consent(switch), channels=site.channels_block)
    for n, name in enumerate(pixelfed_fake.SIGNAL_ACCOUNTS):
        site.source.account_fields[name] = pixelfed_fake.SIGNAL_ACCOUNTS[name]
        site.source.add_status(acct=name, images=[images.jpeg(n + 1)], created_at=datetime.now(UTC))
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    timeline = [r for r in site.source.requests if r.path == "/api/v1/timelines/tag/welovebrussels"]
    assert timeline and all(r.headers["authorization"] == "Bearer pix-read" for r in timeline)
    posts = stored(site)
    assert posts["nobotanist@pix.example"].ask_first == []
    if switch == "skip":
        assert set(posts) == {"nobotanist@pix.example"}
        assert run.json()["channels"]["source"]["skipped"] == {"opt-out signal (#nobot in their bio)": 1,
                                                               "opt-out signal (#noindex in their bio)": 1}
    else:
        assert posts["nobot@pix.example"].ask_first == ["#nobot in their bio"]
        assert posts["noindex_tag@pix.example"].ask_first == ["#noindex in their bio"]


@pytest.mark.parametrize("switch", ["skip", "ask", "ignore"])
def test_bluesky_no_unauthenticated_self_label(bsite, switch):  # noqa: F811
    site = bsite
    site.write_config(consent(switch))
    site.bsky.label_profile("private.bsky.social", "!no-unauthenticated")
    site.bsky.label_profile("labelled.bsky.social", "!no-unauthenticated", src=MODERATION)  # not their own wish
    site.bsky.add_post(handle="private.bsky.social", images=[images.jpeg(1)], created_at=T0)
    site.bsky.add_post(handle="labelled.bsky.social", images=[images.jpeg(2)], created_at=T0)
    site.bsky.add_post(handle="hidden.bsky.social", tags=["NoRepost"], images=[images.jpeg(3)], created_at=T0)
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    (search,) = site.bsky.calls("app.bsky.feed.searchPosts")
    assert search.query["tag"] == ["welovebrussels"] and search.headers["authorization"].startswith("Bearer ")
    posts = stored(site)
    assert posts["labelled.bsky.social"].ask_first == []
    what = "!no-unauthenticated on their Bluesky profile"
    if switch == "skip":
        assert set(posts) == {"labelled.bsky.social"}
        assert run.json()["channels"]["bsky"]["skipped"] == {f"opt-out signal ({what})": 1,
                                                             "opt-out signal (#norepost in the post)": 1}
    else:
        assert posts["private.bsky.social"].ask_first == ([what] if switch == "ask" else [])
        assert posts["hidden.bsky.social"].ask_first == (["#norepost in the post"] if switch == "ask" else [])


def test_a_signal_added_later_makes_stored_items_ask_first_and_holds_the_approved_one(site):
    site.source.add_status(acct="alice", images=[images.jpeg(1)], created_at=T0)
    site.source.add_status(acct="alice", images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=1))
    assert site.wlb("collect").code == 0
    first, second = sorted(i["id"] for i in site.queue("pending"))
    assert site.wlb("approve", str(first)).code == 0

    site.source.account_fields["alice"] = SIGNAL_ACCOUNTS["nobot"]  # she adds #nobot, then posts again
    site.source.add_status(acct="alice", images=[images.jpeg(3)], created_at=T0 + timedelta(minutes=2))
    run = site.wlb("run", "--json")
    assert run.code == 0, run.err
    assert site.community.published == [], "approved before the signal, held until she agrees"
    posts = sorted(stored_all(site), key=lambda p: p.id)
    assert [p.id for p in posts] == [first, second], "the new post skipped"
    assert all(p.ask_first == ["#nobot in their bio"] for p in posts)
    db = Database(site.db_url)
    with db.session() as session:
        noted = session.exec(select(Decision).where(Decision.action == "ask-first")).all()
    db.dispose()
    assert sorted(d.post_id for d in noted) == [first, second] and {d.actor for d in noted} == {"wlb"}
    assert "asks to be asked first" in run.out

    again = site.wlb("collect", "--json")
    assert again.code == 0 and "now shows" not in again.out, "noted once"
    agreed = site.wlb("approve", str(first), "--force", "--reason", "she said yes by email")
    assert agreed.code == 0, agreed.err
    assert site.wlb("publish").code == 0 and len(site.community.published) == 1


def stored_all(site: Site) -> list[Post]:
    db = Database(site.db_url)
    with db.session() as session:
        found = list(session.exec(select(Post)))
    db.dispose()
    return found


def test_full_width_tags_and_a_field_name_are_signals_too(site):
    for n, name in enumerate(("nobot_fullwidth", "nobot_field_name")):
        site.source.account_fields[name] = SIGNAL_ACCOUNTS[name]
        site.source.add_status(acct=name, images=[images.jpeg(n + 1)], created_at=T0 + timedelta(minutes=n))
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    assert stored(site) == {}
    assert run.json()["channels"]["source"]["skipped"] == {"opt-out signal (#nobot in their bio)": 1,
                                                           "opt-out signal (#nobot in their profile fields)": 1}
