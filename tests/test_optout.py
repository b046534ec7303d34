"""wlb optout: a photographer who asked to stop is never collected again, on any linked handle; what waits is
rejected at once; --forget forgets the past; the publish gate refuses them; handles are parsed strictly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from core.db import Database
from core.models import Decision, OptOut, Post, Publication
from core.optout import REJECTED
from tests.fakes import images
from tests.site import Site
from tests.test_bluesky_e2e import bsite  # noqa: F401 - the fixture is used by name
from tests.test_instagram_e2e import insta  # noqa: F401 - the fixture is used by name
from tests.test_optout_signals import stored

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def rows(site: Site, model) -> list:
    db = Database(site.db_url)
    with db.session() as session:
        found = list(session.exec(select(model).order_by(model.id)))
    db.dispose()
    return found


def collected(site: Site, *accts: str, start: int = 1) -> dict[str, int]:
    for n, acct in enumerate(accts):
        site.source.add_status(acct=acct, images=[images.jpeg(start + n)], created_at=T0 + timedelta(minutes=start + n))
    assert site.wlb("collect").code == 0
    return {i["author"]["handle"]: i["id"] for i in site.queue("all")}


def test_add_rejects_what_waits_and_stops_collecting_them(site):
    items = collected(site, "alice", "bob", "carol")
    alice, bob, carol = items["alice@fake.social"], items["bob@fake.social"], items["carol@fake.social"]
    assert site.wlb("approve", str(bob)).code == 0
    site.source.add_status(acct="bob", images=[images.jpeg(9)], created_at=T0 + timedelta(hours=1))

    done = site.wlb("optout", "add", "@Bob@fake.social", "--also", "@alice@fake.social", "--reason",
                    "asked by DM on 2 Dec", "--json")
    assert done.code == 0, done.err
    result = done.json()
    assert result["handles"] == ["@alice@fake.social", "@bob@fake.social"]
    assert sorted(i["id"] for i in result["rejected"]) == sorted([alice, bob])
    statuses = {p.id: (p.status, p.reasons) for p in rows(site, Post)}
    assert statuses[alice] == ("rejected", [REJECTED]) and statuses[bob] == ("rejected", [REJECTED])
    assert statuses[carol][0] == "pending"
    decisions = [d for d in rows(site, Decision) if d.action == "reject"]
    assert {(d.post_id, d.from_status, d.actor, d.reason) for d in decisions} == {
        (alice, "pending", "tester", REJECTED), (bob, "approved", "tester", REJECTED)}
    (first, second) = rows(site, OptOut)
    assert first.person == second.person == first.id and first.reason == "asked by DM on 2 Dec"

    run = site.wlb("run", "--json")
    assert run.code == 0, run.err
    assert run.json()["channels"]["source"]["skipped"] == {"opted out": 1}
    assert site.community.published == [], "bob's approved item was rejected, never posted"


def test_link_and_remove(site):
    collected(site, "dirk")
    assert site.wlb("optout", "add", "@dirk@fake.social", "--reason", "email").code == 0
    linked = site.wlb("optout", "link", "@dirk@fake.social", "@dirk2@fake.social", "--json")
    assert linked.code == 0, linked.err
    site.source.add_status(acct="dirk2", images=[images.jpeg(5)], created_at=T0 + timedelta(hours=1))
    run = site.wlb("collect", "--json")
    assert run.json()["channels"]["source"]["skipped"] == {"opted out": 1}

    listed = site.wlb("optout", "list", "--json").json()
    assert [sorted(p["handles"]) for p in listed] == [["@dirk2@fake.social", "@dirk@fake.social"]]
    assert listed[0]["reason"] == "email" and listed[0]["actor"] == "tester"

    unknown = site.wlb("optout", "link", "@nobody@fake.social", "@dirk@fake.social")
    assert unknown.code == 2 and "has not opted out" in unknown.err
    removed = site.wlb("optout", "remove", "@dirk2@fake.social", "--json")
    assert removed.code == 0 and sorted(removed.json()["removed"]) == ["@dirk2@fake.social", "@dirk@fake.social"]
    assert rows(site, OptOut) == []
    site.source.add_status(acct="dirk2", images=[images.jpeg(6)], created_at=T0 + timedelta(hours=2))
    assert site.wlb("collect", "--json").json()["channels"]["source"]["skipped"] == {}


def test_linked_handles_across_platforms_and_the_did_the_archive_knows(bsite):  # noqa: F811
    site = bsite
    site.bsky.add_post(handle="eve.bsky.social", images=[images.jpeg(1)], created_at=T0)
    assert site.wlb("collect").code == 0
    did = site.bsky.handles["eve.bsky.social"]
    done = site.wlb("optout", "add", "bluesky:eve.bsky.social", "--also", "@eve@fake.social", "--reason", "asked",
                    "--json")
    assert done.code == 0, done.err
    assert sorted(done.json()["handles"]) == sorted(["bluesky:eve.bsky.social", did, "@eve@fake.social"]), \
        "her DID, known from the archive, is opted out too"
    assert len(done.json()["rejected"]) == 1

    # She renames herself on Bluesky and posts on both platforms: both are skipped.
    site.bsky.handles["eve.example.org"] = did
    site.bsky.accounts[did]["handle"] = "eve.example.org"
    site.bsky.add_post(handle="eve.example.org", images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=5))
    site.source.add_status(acct="eve", images=[images.jpeg(3)], created_at=T0)
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    channels = run.json()["channels"]
    # Search asks again for the last hour (collector/bluesky.py OVERLAP): her first post comes back too, renamed.
    assert channels["bsky"]["skipped"] == {"opted out": 2} and channels["source"]["skipped"] == {"opted out": 1}
    assert set(stored(site)) == {"eve.bsky.social"}


def test_the_publish_gate_refuses_an_author_who_opted_out_after_approval(site):
    items = collected(site, "fay")
    assert site.wlb("approve", str(items["fay@fake.social"])).code == 0
    db = Database(site.db_url)  # recorded by another session after this item's rejection pass had run
    with db.session() as session:
        session.add(OptOut(person=1, network="fediverse", handle="fay@fake.social", reason="phone", actor="tester"))
        session.commit()
    db.dispose()
    result = site.wlb("publish")
    assert result.code == 0 and site.community.published == []
    assert "the photographer opted out" in result.out
    forced = site.wlb("approve", str(items["fay@fake.social"]), "--force", "--reason", "?")
    assert forced.code == 0 and site.wlb("publish").code == 0 and site.community.published == [], \
        "no approval outweighs an opt-out"


def test_an_item_being_published_is_reported_not_stopped(site):
    items = collected(site, "jan", "kim")
    jan, kim = items["jan@fake.social"], items["kim@fake.social"]
    assert site.wlb("approve", str(jan), str(kim)).code == 0
    db = Database(site.db_url)  # a run claimed jan's repost and is calling the platform right now
    with db.session() as session:
        session.add(Publication(post_id=jan, channel="community", idempotency_key="k-1", attempts=1))
        session.commit()
    db.dispose()
    site.source.add_status(acct="kim", images=[images.jpeg(7)], created_at=T0 + timedelta(hours=1))
    done = site.wlb("optout", "add", "@jan@fake.social", "--also", "@kim@fake.social", "--reason", "asked")
    assert done.code == 0, done.err
    assert f"#{jan}" in done.out and "already being published; it cannot be stopped now" in done.out
    assert {p.id: p.status for p in rows(site, Post)} == {jan: "approved", kim: "rejected"}


def test_forget_takes_their_reposts_down(site):
    items = collected(site, "gus", "hal")
    gus = items["gus@fake.social"]
    assert site.wlb("approve", str(gus), str(items["hal@fake.social"])).code == 0
    assert site.wlb("publish").code == 0 and len(site.community.published) == 2
    ours = next(s["id"] for s in site.community.published if "@gus@fake.social" in s["content"])

    plain = site.wlb("optout", "add", "@gus@fake.social", "--reason", "asked")
    assert plain.code == 0 and "already reposted" in plain.out and site.community.deleted_by_api == []
    done = site.wlb("optout", "add", "@gus@fake.social", "--reason", "asked again", "--forget", "--json")
    assert done.code == 0, done.err
    (forgotten,) = done.json()["forget"]
    assert forgotten["ok"] and forgotten["forget"]["items"] == [gus]
    assert site.community.deleted_by_api == [ours]
    post = next(p for p in rows(site, Post) if p.id == gus)
    assert post.status == "rejected" and post.url == "" and post.text == ""
    assert [r.handle for r in rows(site, OptOut)] == ["gus@fake.social"], "the opt-out itself stays"


@pytest.mark.parametrize("bad", ["alice", "@alice", "alice@fake.social", "mastodon:@a@b.c", "did:plc:short",
                                 "bluesky:not a handle", "x:@this_is_far_too_long", "flickr:", "instagram:@a b",
                                 "@a@b\x1b[31m.c", ""])
def test_bad_handles_are_one_line(site, bad):
    result = site.wlb("optout", "add", bad, "--reason", "r")
    assert result.code == 2 and result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "is not a handle" in lines[0] and "@user@host" in lines[0], result.err
    assert "\x1b" not in result.err and "Traceback" not in result.err
    assert rows(site, OptOut) == []


def test_output_escapes_remote_text(site):
    items = collected(site, "ivy")
    site.set_post(items["ivy@fake.social"], url="https://fake.social/@ivy/1\x1b]52;c;cGF5bG9hZA==\x07\x1b[2J")
    assert site.wlb("approve", str(items["ivy@fake.social"])).code == 0
    site.set_post(items["ivy@fake.social"], status="published")
    done = site.wlb("optout", "add", "@ivy@fake.social", "--reason", "asked \x1b[31mred\x1b[0m")
    assert done.code == 0, done.err
    assert "already reposted" in done.out and "https://fake.social/@ivy/1" in done.out
    assert "\x1b" not in done.out and "\x07" not in done.out and "cGF5bG9hZA" not in done.out
    listed = site.wlb("optout", "list")
    assert listed.code == 0 and "@ivy@fake.social" in listed.out and "\x1b" not in listed.out


def test_handle_forms_are_matched_as_author_keys():
    from core.optout import Handle, identities, parse_handle

    assert parse_handle("@Alice@Fake.Social") == Handle("fediverse", "alice@fake.social")
    assert parse_handle("did:plc:ar7c4by46qjdydhdevvrndac") == Handle("bluesky", "did:plc:ar7c4by46qjdydhdevvrndac")
    assert parse_handle("bluesky:Alice.bsky.social") == Handle("bluesky", "alice.bsky.social")
    assert parse_handle("flickr:12345678@N01") == Handle("flickr", "12345678@n01")
    assert parse_handle("instagram:@brussels.photos") == Handle("instagram", "brussels.photos")
    assert parse_handle("x:@Dirk_B") == Handle("x", "dirk_b")
    assert parse_handle("x:id:123") == Handle("x", "id:123")
    for handle in ("@a@b.c", "did:plc:ar7c4by46qjdydhdevvrndac", "bluesky:a.bsky.social", "flickr:1@n01",
                   "instagram:@a", "x:@a", "x:id:1"):
        assert str(parse_handle(handle)) == handle
    assert identities("x", "123", "123") == {"123", "id:123"}, "a username that looks like an id stays a username"
    assert identities("flickr", "dirk", "1@N01") == {"dirk", "1@n01"}


def test_the_publish_gate_refuses_a_reviewer_credit_naming_someone_who_opted_out(insta):  # noqa: F811
    """An Instagram hashtag find names nobody: the reviewer's --credit names the photographer, and it is their
    opt-out that counts, not the placeholder author's."""
    ig, site = insta.ig, insta.site
    found = ig.add_media(images.jpeg(2), caption="Atomium #welovebrussels", age=timedelta(hours=3))
    assert site.wlb("collect").code == 0
    (item,) = [i for i in site.queue("all") if i["post_url"] == found["permalink"]]
    assert site.wlb("approve", str(item["id"]), "--credit", "@Marc.Dubois").code == 0
    done = site.wlb("optout", "add", "instagram:@marc.dubois", "--reason", "asked by DM")
    assert done.code == 0, done.err
    result = site.wlb("publish")
    assert ig.own == [] and len(ig.calls("/media_publish", "POST")) == 0, "never reposted crediting them"
    assert "the photographer opted out" in result.out


def test_the_publish_gate_refuses_a_fediverse_credit_of_someone_who_opted_out(site):
    from tests.test_credit_gate import uncredited

    item = uncredited(site)
    assert site.wlb("approve", str(item), "--credit", "@Lea@Pixel.Example").code == 0
    assert site.wlb("optout", "add", "@lea@pixel.example", "--reason", "phone").code == 0
    result = site.wlb("publish")
    assert result.code == 0 and site.community.published == [] and "the photographer opted out" in result.out


def test_a_handle_opted_out_before_the_archive_knew_it_stays_out_after_a_rename(bsite):  # noqa: F811
    site = bsite
    assert site.wlb("optout", "add", "bluesky:eve.bsky.social", "--reason", "asked before we collected her").code == 0
    site.bsky.add_post(handle="eve.bsky.social", images=[images.jpeg(1)], created_at=T0)
    first = site.wlb("collect", "--json")
    assert first.code == 0 and first.json()["channels"]["bsky"]["skipped"] == {"opted out": 1}
    did = site.bsky.handles["eve.bsky.social"]
    assert sorted(r.handle for r in rows(site, OptOut)) == sorted(["eve.bsky.social", did]), \
        "her DID, seen on the skipped post, joins her opt-out"

    site.bsky.handles["eve.example.org"] = did  # she renames herself and posts again
    site.bsky.accounts[did]["handle"] = "eve.example.org"
    site.bsky.add_post(handle="eve.example.org", images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=5))
    again = site.wlb("collect", "--json")
    assert again.code == 0, again.err
    assert stored(site) == {} and again.json()["channels"]["bsky"]["skipped"] == {"opted out": 2}


def test_remove_only_one_account_takes_the_id_it_was_known_by_with_it(bsite):  # noqa: F811
    site = bsite
    site.bsky.add_post(handle="eve.bsky.social", images=[images.jpeg(1)], created_at=T0)
    site.source.add_status(acct="eve", images=[images.jpeg(3)], created_at=T0)
    assert site.wlb("collect").code == 0
    did = site.bsky.handles["eve.bsky.social"]
    assert site.wlb("optout", "add", "bluesky:eve.bsky.social", "--also", "@eve@fake.social", "--reason", "x").code == 0
    assert len(rows(site, OptOut)) == 3

    removed = site.wlb("optout", "remove", "bluesky:eve.bsky.social", "--only", "--json")
    assert removed.code == 0, removed.err
    assert sorted(removed.json()["removed"]) == sorted(["bluesky:eve.bsky.social", did])
    assert [r.handle for r in rows(site, OptOut)] == ["eve@fake.social"], "her other account stays out"
    site.bsky.add_post(handle="eve.bsky.social", images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=5))
    run = site.wlb("collect", "--json")
    assert run.code == 0 and run.json()["channels"]["bsky"]["skipped"] == {}, "collected again, as it said"

    by_did = site.wlb("optout", "add", did, "--reason", "asked again")
    assert by_did.code == 0, by_did.err
    again = site.wlb("optout", "remove", "bluesky:eve.bsky.social", "--only")
    assert again.code == 0, again.err
    assert [r.handle for r in rows(site, OptOut)] == ["eve@fake.social"]


def test_an_international_host_is_one_host_however_it_is_spelled(site):
    """Mastodon serves a remote acct's domain in punycode (TagManager#normalize_domain: Addressable's
    normalized_host); other software, or a person typing, may write it in Unicode, or as a rooted name."""
    done = site.wlb("optout", "add", "@Dirk@Bücher.example", "--reason", "email", "--json")
    assert done.code == 0, done.err
    assert done.json()["handles"] == ["@dirk@xn--bcher-kva.example"]
    for n, acct in enumerate(("dirk@xn--bcher-kva.example", "dirk@bücher.example", "dirk@xn--bcher-kva.example.")):
        site.source.add_status(acct=acct, images=[images.jpeg(n + 1)], created_at=T0 + timedelta(minutes=n))
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    assert stored(site) == {} and run.json()["channels"]["source"]["skipped"] == {"opted out": 3}
    assert site.wlb("optout", "remove", "@dirk@xn--bcher-kva.example.").code == 0
