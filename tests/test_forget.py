"""wlb forget: reposts, files and personal fields go; the audit and a deny-list stay; their photos stay out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from core.db import Database
from core.denylist import FORGOTTEN, author_digest
from core.models import Author, Decision, Denied, ForgetRequest, Media, Post, Publication
from tests.fakes import images
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PERSONAL = ("alice", "Alice", "Manneken Pis", "Bronze statue", "fake.social/@alice")


def everything(site: Site) -> dict:
    db = Database(site.db_url)
    with db.session() as session:
        found = {model.__name__: [row.model_dump() for row in session.exec(select(model))]
                 for model in (Author, Post, Media, Publication, Decision, ForgetRequest, Denied)}
    db.dispose()
    return found


def alice_published(site: Site) -> tuple[int, int]:
    site.source.add_status(images=[images.jpeg(1)], created_at=T0, text="Manneken Pis in the rain", acct="alice",
                           alt=["Bronze statue in the rain"])
    site.source.add_status(images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=1), text="Atomium",
                           acct="bob", display_name="Bob")
    assert site.wlb("run").code == 0
    by_author = {i["author"]["handle"]: i["id"] for i in site.queue("pending")}
    alice, bob = by_author["alice@fake.social"], by_author["bob@fake.social"]
    assert site.wlb("approve", str(alice), str(bob)).code == 0
    assert site.wlb("publish").code == 0 and len(site.community.published) == 2
    return alice, bob


def test_forget_an_author_removes_reposts_files_and_personal_fields_and_keeps_the_audit(site):
    alice, bob = alice_published(site)
    ours = next(s["id"] for s in site.community.published if "@alice@fake.social" in s["content"])
    files = sorted(p for p in (site.root / "data" / "media").rglob("*.jpg"))
    assert len(files) == 2

    done = site.wlb("forget", "--author", "@alice@fake.social", "--reason", "email of 2 Dec", "--json")
    assert done.code == 0, done.err
    assert site.community.deleted_by_api == [ours], "her repost deleted, Bob's kept"
    audit = done.json()["forget"]
    assert audit["items"] == [alice] and audit["authors"] == 1 and audit["media_files"] == 1
    assert audit["reposts"] == {"community": 1}

    left = sorted(p for p in (site.root / "data" / "media").rglob("*.jpg"))
    assert len(left) == 1 and left[0] in files, "her file deleted, Bob's kept"

    rows = everything(site)
    dumped = json.dumps({k: v for k, v in rows.items() if k != "Denied"}, default=str)
    for word in PERSONAL:
        assert word not in dumped, f"{word!r} is still in the database"
    post = next(p for p in rows["Post"] if p["id"] == alice)
    assert post["status"] == "rejected" and post["reasons"] == [FORGOTTEN] and post["url"] == ""
    (request,) = rows["ForgetRequest"]
    assert (request["actor"], request["reason"], request["scope"]) == ("tester", "email of 2 Dec", "author")
    assert request["done_at"] is not None
    digests = {d["author_digest"] for d in rows["Denied"] if d["author_digest"]}
    assert digests == {author_digest("fediverse:alice@fake.social")}, "her key, as a digest only"
    assert any(d["phash"] is not None for d in rows["Denied"])
    (pub,) = [p for p in rows["Publication"] if p["post_id"] == alice]
    assert pub["state"] == "deleted" and pub["text"] == ""

    listed = site.queue("all")
    shown = json.dumps(listed)
    for word in PERSONAL:
        assert word not in shown
    mine = next(i for i in listed if i["id"] == alice)
    assert mine["author"]["handle"] == "forgotten" and mine["text"] == "" and mine["post_url"] == ""
    assert any(i["author"]["handle"] == "bob@fake.social" for i in listed)


def test_her_photo_reposted_by_another_account_and_her_new_posts_are_refused_with_the_reason(site):
    alice_published(site)
    assert site.wlb("forget", "--author", "alice@fake.social", "--reason", "asked").code == 0

    site.source.add_status(images=[images.jpeg(1)], created_at=T0 + timedelta(hours=2), text="found this",
                           acct="carol")  # her photo, someone else's post
    site.source.add_status(images=[images.jpeg(3)], created_at=T0 + timedelta(hours=3), text="new one",
                           acct="alice")  # a new photo of hers
    run = site.wlb("run", "--json")
    assert run.code == 0, run.err
    summary = run.json()["channels"]["source"]
    assert summary["skipped"][FORGOTTEN] == 2, summary  # alice at collect time, carol's copy at curation
    carol = next(i for i in site.queue("all") if i["author"]["handle"] == "carol@fake.social")
    assert carol["status"] == "rejected" and FORGOTTEN in carol["reasons"]
    assert not any(i["author"]["handle"] == "alice@fake.social" for i in site.queue("all"))


def test_forget_one_item_and_bad_input_are_one_line(site):
    alice, bob = alice_published(site)
    done = site.wlb("forget", "--item", str(bob), "--reason", "only this photo", "--json")
    assert done.code == 0 and done.json()["forget"]["items"] == [bob] and done.json()["forget"]["authors"] == 0
    assert site.wlb("forget", "--reason", "x").code == 2
    nobody = site.wlb("forget", "--author", "nobody", "--reason", "x")
    assert nobody.code == 2 and "no author @nobody" in nobody.err


def test_a_forgotten_author_cannot_be_found_again_by_the_placeholder(site):
    alice_published(site)
    assert site.wlb("forget", "--author", "alice@fake.social", "--reason", "asked").code == 0
    again = site.wlb("forget", "--author", "forgotten", "--reason", "x")
    assert again.code == 2 and "no author @forgotten" in again.err
    assert site.wlb("forget", "--author", "alice@fake.social", "--reason", "x").code == 2


def test_forget_deletes_the_web_views_cached_thumbnails_of_her_photos(site, monkeypatch):
    from starlette.testclient import TestClient

    from app import accounts
    from app.config import load_settings
    from app.web import create_app
    from app.workspace import Workspace
    from tests.web.conftest import sign_in

    alice, bob = alice_published(site)
    monkeypatch.setattr(accounts, "SCRYPT_N", 2**10)
    with Workspace(load_settings(site.config, check_secrets=False)) as ws:
        accounts.add_user(ws.db, "rev", "correct horse battery")
        client = TestClient(create_app(ws), follow_redirects=False)
        assert sign_in(client, "rev", "correct horse battery").status_code == 303
        for item in (alice, bob):
            media = site.wlb("show", str(item), "--json").json()["media"][0]
            assert client.get(f"/thumb/{media['id']}").status_code == 200
    thumbs = site.root / "data" / "thumbs"
    assert len(list(thumbs.rglob("*.jpg"))) == 2, "the web view cached a thumbnail of each photo"
    bob_sha = site.wlb("show", str(bob), "--json").json()["media"][0]["sha256"]

    assert site.wlb("forget", "--author", "alice@fake.social", "--reason", "asked").code == 0
    left = list(thumbs.rglob("*.jpg"))
    assert [p.name for p in left] == [f"{bob_sha}-480.jpg"], "her thumbnail went with her file; Bob's stays"


def test_finishing_a_forgotten_items_takedown_never_deletes_another_repost(site):
    """forget empties the item's link; the look-up for an interrupted attempt matched our statuses by that link,
    and an empty link is in every status: `wlb unpublish` (which the failed forget says to run) deleted Bob's."""
    site.source.add_status(images=[images.jpeg(2)], created_at=T0, text="Atomium", acct="bob")
    assert site.wlb("run").code == 0
    (bob,) = site.queue("pending")
    assert site.wlb("approve", str(bob["id"])).code == 0 and site.wlb("publish").code == 0
    (bobs,) = site.community.published
    site.source.add_status(images=[images.jpeg(1)], created_at=T0 + timedelta(minutes=1), text="Manneken Pis",
                           acct="alice")
    assert site.wlb("run").code == 0
    (alice,) = site.queue("pending")
    assert site.wlb("approve", str(alice["id"])).code == 0
    site.community.fail_next(3, 503, path_prefix="/api/v1/statuses")  # every try of this run: nothing posted
    assert site.wlb("publish").code == 1 and len(site.community.published) == 1
    site.community.fail_next(3, 503, path_prefix="/api/v1/accounts")  # the look-up for her attempt fails
    failed = site.wlb("forget", "--author", "alice@fake.social", "--reason", "asked", "--json")
    assert failed.code == 1 and failed.json()["removals"][0]["result"] == "failed"

    finish = site.wlb("unpublish", str(alice["id"]), "--reason", "finish the forget", "--json")
    assert site.community.deleted_by_api == [], "Bob's repost is not hers"
    assert finish.json()["removals"][0]["result"] == "not found"
    assert [s["id"] for s in site.community.published] == [bobs["id"]]


def test_a_copy_of_her_photo_approved_before_the_forget_is_not_reposted(site):
    # Carol posts Alice's photo first; Alice's own post of it merges into Carol's; a reviewer approves Carol's copy.
    site.source.add_status(images=[images.jpeg(1)], created_at=T0, text="found this", acct="carol")
    site.source.add_status(images=[images.jpeg(1)], created_at=T0 + timedelta(minutes=1), text="mine", acct="alice")
    assert site.wlb("run").code == 0
    carol = next(i["id"] for i in site.queue("all") if i["author"]["handle"] == "carol@fake.social")
    assert site.wlb("approve", str(carol)).code == 0
    assert site.wlb("forget", "--author", "alice@fake.social", "--reason", "asked").code == 0

    run = site.wlb("publish", "--json")
    assert run.code == 0, run.err
    assert site.community.published == [], "the forgotten photo was reposted through another account's copy"
    assert "asked us to forget" in json.dumps(run.json())
