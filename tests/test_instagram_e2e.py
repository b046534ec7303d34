"""End to end through the CLI: collect from the fake Graph API, credit, approve, repost to Instagram once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import Database
from core.models import Publication
from tests.fakes import images
from tests.fakes.instagram import TOKEN, FakeInstagram, StaticFolder
from tests.fakes.mastodon import FakeMastodon
from tests.site import Site


@dataclass
class Insta:
    site: Site
    ig: FakeInstagram
    web: StaticFolder


@pytest.fixture
def insta(tmp_path: Path, db_url: str, capsys, monkeypatch) -> Iterator[Insta]:
    monkeypatch.setenv("WLB_IG_TOKEN", TOKEN)
    with FakeInstagram() as ig, StaticFolder(tmp_path / "public") as web, FakeMastodon() as a, FakeMastodon() as b:
        site = Site(tmp_path, a, b, capsys, db_url)
        site.write_config(origins=[ig.origin, web.origin], channels=f"""
[channels.insta]
kind = "instagram"
base_url = "{ig.graph_url}"
ig_user_id = "17841400000000001"
token_env = "WLB_IG_TOKEN"
publish = true
public_media_dir = "public"
public_media_base_url = "{web.base_url}"
""")
        yield Insta(site, ig, web)


def test_tagged_and_hashtag_finds_are_credited_approved_and_reposted_once(insta):
    ig, site = insta.ig, insta.site
    tagged = ig.add_media(images.jpeg(1), caption="Tagged you!", username="jane.doe", tagged=True)
    found = ig.add_media([images.jpeg(2), images.jpeg(3)], caption="Atomium #welovebrussels", age=timedelta(hours=3))
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.out + run.err
    assert run.json()["channels"]["insta"]["new_posts"] == 2
    items = {i["post_url"]: i for i in site.queue("all")}
    credited, uncredited = items[tagged["permalink"]], items[found["permalink"]]
    assert credited["author"]["handle"] == "jane.doe" and len(uncredited["media"]) == 2
    refused = site.wlb("approve", str(uncredited["id"]))
    assert refused.code != 0 and "credit" in (refused.out + refused.err)
    approved = site.wlb("approve", str(uncredited["id"]), "--credit", "@marc.dubois")  # seen on the permalink
    assert approved.code == 0, approved.out + approved.err
    assert site.wlb("approve", str(credited["id"])).code == 0

    ig.lose_publish_answers = 1  # the first media_publish goes out but its answer never arrives
    first = site.wlb("publish", "--json")
    assert first.code == 1, "one item failed, and is reported"
    assert len(ig.own) == 2
    db = Database(site.db_url)
    with db.session() as session:
        rows = list(session.exec(select(Publication)))
    db.dispose()
    pending = [r for r in rows if r.state == "pending"]
    assert len(pending) == 1 and pending[0].remote_id.startswith("container:"), "the container id was saved first"

    second = site.wlb("publish", "--json")
    assert second.code == 0, second.out + second.err
    assert len(ig.own) == 2 and len(ig.calls("/media_publish", "POST")) == 3, "found, not published again"
    captions = sorted(m["caption"] for m in ig.own)
    assert any("@jane.doe" in c and tagged["permalink"] in c for c in captions)
    assert any("@marc.dubois" in c and found["permalink"] in c for c in captions)
    carousel = [c for c in ig.containers.values() if c.get("carousel")]
    assert len(carousel) == 1 and len(carousel[0]["children"]) == 2
    assert list(insta.web.folder.iterdir()) == [], "public copies removed"
    assert all(url.startswith(insta.web.base_url) for url, _, _ in ig.fetched)


def test_a_hashtag_find_shows_the_credit_of_a_known_copy_for_a_person_to_confirm(insta):
    ig, site = insta.ig, insta.site
    photo = images.jpeg(7)
    ig.add_media(photo, caption="Mont des Arts #welovebrussels", age=timedelta(hours=5))
    site.source.add_status(images=[images.reencoded(photo, quality=70, scale=0.8)], acct="lea", display_name="Léa",
                           created_at=ig.now - timedelta(hours=1), text="My photo #welovebrussels")
    site.write_config(origins=[ig.origin, insta.web.origin], channels=f"""
[channels.insta]
kind = "instagram"
base_url = "{ig.graph_url}"
ig_user_id = "17841400000000001"
token_env = "WLB_IG_TOKEN"

[channels.masto]
kind = "mastodon"
base_url = "{site.source.base_url}"
""")
    assert site.wlb("collect").code == 0
    items = {i["platform"]: i for i in site.queue("all")}
    canonical, copy = items["instagram"], items["mastodon"]
    assert copy["status"] == "duplicate" and copy["duplicate_of"] == canonical["id"], "the earlier copy is canonical"
    shown = site.wlb("show", str(canonical["id"]), "--json").json()
    assert shown["needs_credit"] and shown["suggested_credits"] == [
        {"credit": "@lea@fake.social", "from": copy["id"], "platform": "mastodon", "url": copy["post_url"]}]
    text = " ".join(site.wlb("show", str(canonical["id"]), "--no-preview").out.replace("│", " ").split())
    assert "--credit '@lea@fake.social'" in text and "re-poster is not always the photographer" in text
    assert site.wlb("approve", str(canonical["id"])).code != 0, "a suggestion is never applied by itself"
