"""wlb unpublish: our reposts deleted on each platform through its fake, recorded, once, one channel's failure its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from core.db import Database
from core.http import Http
from core.models import Decision, Post, Publication
from core.settings import NetworkSettings
from platforms.bluesky import BlueskyAPI, SessionFile, session_path
from platforms.facebook import FacebookAPI
from platforms.x import XAPI
from publisher.base import PublishRequest, UploadImage
from publisher.bluesky import BlueskyPublisher
from publisher.facebook import FacebookPublisher
from publisher.instagram import InstagramPublisher
from publisher.unpublish import ByHand
from publisher.x import XPublisher
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.facebook import PAGE_ID, PAGE_TOKEN, FakeGraph
from tests.fakes.x import USER_TOKEN, FakeX
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def published_item(site: Site, seed: int = 1) -> int:
    site.source.add_status(images=[images.jpeg(seed)], created_at=T0, text="Atomium at dawn", acct="alice")
    assert site.wlb("run").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    assert site.wlb("publish").code == 0 and len(site.community.published) == 1
    return item["id"]


def rows(site: Site, model, item: int) -> list:
    db = Database(site.db_url)
    key = model.id if model is Post else model.post_id
    with db.session() as session:
        found = list(session.exec(select(model).where(key == item).order_by(model.id)))
    db.dispose()
    return found


def test_unpublish_deletes_our_status_records_it_and_keeps_the_item_out(site):
    item = published_item(site)
    status_id = site.community.published[0]["id"]

    done = site.wlb("unpublish", str(item), "--reason", "the photographer asked", "--json")
    assert done.code == 0, done.err
    deletes = [r for r in site.community.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"/api/v1/statuses/{status_id}"]
    assert deletes[0].headers["authorization"] == "Bearer pub-token-123"
    assert site.community.deleted_by_api == [status_id]
    assert done.json()["removals"][0]["result"] == "deleted"

    (pub,) = rows(site, Publication, item)
    assert pub.state == "deleted" and pub.deleted_at is not None
    last = rows(site, Decision, item)[-1]
    assert (last.action, last.actor, last.reason, last.to_status) == ("unpublish", "tester", "the photographer asked",
                                                                      "rejected")
    assert {i["status"] for i in site.queue("all")} == {"rejected"}

    again = site.wlb("unpublish", str(item), "--reason", "the photographer asked", "--json")
    assert again.code == 0 and again.json()["removals"] == [] and again.json()["decided"] == []
    assert len([r for r in site.community.requests if r.method == "DELETE"]) == 1, "a second run sends nothing"
    assert site.wlb("publish", "--json").json()["items"] == [], "never published again"
    assert len(rows(site, Decision, item)) == 4  # queue, approve, publish, unpublish: once


def test_a_status_already_deleted_by_hand_is_gone_not_an_error(site):
    item = published_item(site)
    site.community.delete_status(site.community.published[0]["id"])
    done = site.wlb("unpublish", str(item), "--reason", "dup", "--json")
    assert done.code == 0 and done.json()["removals"][0]["result"] == "already gone"
    assert rows(site, Publication, item)[0].state == "deleted"


def test_a_failing_channel_is_reported_kept_deleting_and_finished_by_a_rerun(site):
    item = published_item(site)
    site.community.fail_next(3, 503, path_prefix="/api/v1/statuses/")  # every retry of this run
    failed = site.wlb("unpublish", str(item), "--reason", "asked", "--json")
    assert failed.code == 1
    assert failed.json()["removals"][0]["result"] == "failed" and "503" in failed.json()["removals"][0]["detail"]
    assert rows(site, Publication, item)[0].state == "deleting"
    assert {i["status"] for i in site.queue("all")} == {"rejected"}, "out of future runs even before it is gone"

    rerun = site.wlb("unpublish", str(item), "--reason", "asked", "--json")
    assert rerun.code == 0 and rerun.json()["removals"][0]["result"] == "deleted"
    assert rows(site, Publication, item)[0].state == "deleted"


def test_unknown_item_and_missing_reason_are_one_line(site):
    bad = site.wlb("unpublish", "999", "--reason", "x")
    assert bad.code == 2 and "no item #999" in bad.err and "Traceback" not in bad.err
    assert site.wlb("unpublish", "1").code == 2


# ---- each platform's delete, against its fake ---------------------------------------------------------------------

def http(fake) -> Http:
    return Http(NetworkSettings(allow_private=[fake.origin], retries=1, timeout=5.0), sleep=lambda s: None)


def request(key: str = "k1") -> PublishRequest:
    image = UploadImage(data=images.jpeg(4, size=(800, 600)), mime="image/jpeg", alt="alt", width=800, height=600)
    return PublishRequest(text="Atomium by @alice", images=[image], idempotency_key=key,
                          original_url="https://fake.social/@alice/1", planned_at=NOW)


def test_bluesky_deletes_the_record_at_our_posts_rkey(tmp_path):
    with FakeBluesky() as fake:
        api = BlueskyAPI(http(fake), fake.base_url, fake.handle, fake.password, password_env="WLB_BSKY",
                         session_file=SessionFile(session_path(tmp_path, fake.handle, fake.base_url), fake.handle,
                                                  fake.base_url))
        publisher = BlueskyPublisher(api, clock=lambda: NOW)
        posted = publisher.publish(request())
        assert publisher.unpublish(posted.remote_id) is True
        (sent,) = fake.calls("com.atproto.repo.deleteRecord")
        did, _, rkey = posted.remote_id.removeprefix("at://").split("/")
        assert sent.json == {"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey}
        assert fake.deleted == [posted.remote_id] and publisher.find_existing(request()) is None
        assert publisher.unpublish(posted.remote_id) is True  # "or ensure it doesn't exist": a rerun is fine


def test_x_deletes_our_post_and_a_second_delete_is_already_gone():
    with FakeX() as fake:
        publisher = XPublisher(XAPI(http(fake), fake.base_url, USER_TOKEN, token_env="WLB_X"))
        posted = publisher.publish(request())
        assert publisher.unpublish(posted.remote_id) is True
        sent = [r for r in fake.requests if r.method == "DELETE"]
        assert [r.path for r in sent] == [f"/2/tweets/{posted.remote_id}"]
        assert sent[0].headers["authorization"] == f"Bearer {USER_TOKEN}"
        assert fake.deleted == [posted.remote_id]
        assert publisher.unpublish(posted.remote_id) is False


def test_facebook_deletes_the_page_post_and_a_second_delete_is_already_gone():
    with FakeGraph(clock=lambda: NOW + timedelta(seconds=5)) as fake:
        publisher = FacebookPublisher(FacebookAPI(http(fake), fake.api_url, PAGE_ID, PAGE_TOKEN, token_env="WLB_FB"))
        posted = publisher.publish(request())
        assert publisher.unpublish(posted.remote_id) is True
        (sent,) = fake.calls("DELETE", posted.remote_id)
        assert sent.path.endswith(f"/{posted.remote_id}") and sent.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
        assert fake.deleted == [posted.remote_id] and fake.published == []
        assert publisher.unpublish(posted.remote_id) is False


def test_a_request_without_its_original_link_finds_no_page_post_rather_than_any():
    """After `wlb forget` the item's link is empty; every message "contains" an empty link."""
    with FakeGraph(clock=lambda: NOW + timedelta(seconds=5)) as fake:
        publisher = FacebookPublisher(FacebookAPI(http(fake), fake.api_url, PAGE_ID, PAGE_TOKEN, token_env="WLB_FB"))
        linked = replace(request(), text="Atomium by @alice https://fake.social/@alice/1")
        publisher.publish(linked)
        assert publisher.find_existing(linked) is not None
        blank = PublishRequest(text="", images=[], idempotency_key="k1", original_url="", planned_at=NOW)
        assert publisher.find_existing(blank) is None


def test_instagram_says_it_must_be_deleted_by_hand_and_sends_nothing():
    publisher = InstagramPublisher(api=None, storage=None)  # nothing may be called
    try:
        publisher.unpublish("17900000000000001")
    except ByHand as exc:
        assert "by hand in the Instagram app" in str(exc)
    else:
        raise AssertionError("Instagram cannot delete: it must say so")


def test_one_channel_only_drops_that_channel_and_records_it(site):
    item = published_item(site)
    done = site.wlb("unpublish", str(item), "--channel", "community", "--reason", "wrong crop", "--json")
    assert done.code == 0 and [r["result"] for r in done.json()["removals"]] == ["deleted"]
    (shown,) = [i for i in site.queue("all") if i["id"] == item]
    assert shown["status"] == "rejected"  # its only channel: no targets left would read "every channel"
    last = rows(site, Decision, item)[-1]
    assert (last.action, last.reason) == ("unpublish", "community: wrong crop")
    again = site.wlb("unpublish", str(item), "--channel", "community", "--reason", "wrong crop", "--json")
    assert again.json() == {"removals": [], "decided": [], "ok": True}
    assert site.wlb("publish", "--json").json()["items"] == []
    assert len(site.community.published) == 1


def two_channels(site: Site, other: FakeMastodon) -> None:
    second = site.community_channel().replace("[channels.community]", "[channels.second]").replace(
        site.community.base_url, other.base_url)
    site.write_config(channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

{site.community_channel()}
{second}""", origins=[other.origin])


def test_one_failing_channel_costs_that_channel_not_the_others(site):
    with FakeMastodon(domain="second.social", token="pub-token-123") as other:
        two_channels(site, other)
        item = published_item(site)
        assert len(other.published) == 1
        site.community.fail_next(3, 503, path_prefix="/api/v1/statuses/")
        done = site.wlb("unpublish", str(item), "--reason", "asked", "--json")
        assert done.code == 1
        assert {r["channel"]: r["result"] for r in done.json()["removals"]} == {"community": "failed",
                                                                                "second": "deleted"}
        assert other.deleted_by_api == [other.published[0]["id"]] and site.community.deleted_by_api == []
        assert {p.channel: p.state for p in rows(site, Publication, item)} == {"community": "deleting",
                                                                              "second": "deleted"}
        rerun = site.wlb("unpublish", str(item), "--reason", "asked", "--json")
        assert rerun.code == 0 and [(r["channel"], r["result"]) for r in rerun.json()["removals"]] == [
            ("community", "deleted")]
        assert len([r for r in other.requests if r.method == "DELETE"]) == 1, "the done channel is not asked again"


def test_one_channel_of_two_keeps_the_other(site):
    with FakeMastodon(domain="second.social", token="pub-token-123") as other:
        two_channels(site, other)
        item = published_item(site)
        done = site.wlb("unpublish", str(item), "--channel", "second", "--reason", "wrong crop", "--json")
        assert done.code == 0 and [(r["channel"], r["result"]) for r in done.json()["removals"]] == [
            ("second", "deleted")]
        (shown,) = [i for i in site.queue("all") if i["id"] == item]
        assert shown["status"] == "published" and site.community.deleted_by_api == []
        assert rows(site, Post, item)[0].targets == ["community"]


def test_killed_after_the_delete_before_recording_it_a_rerun_finishes_without_harm(site, monkeypatch):
    import publisher.unpublish as unpublish

    item = published_item(site)
    status_id = site.community.published[0]["id"]
    real = unpublish._finish

    def dying(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(unpublish, "_finish", dying)
    assert site.wlb("unpublish", str(item), "--reason", "asked").code == 1
    assert site.community.deleted_by_api == [status_id]
    assert rows(site, Publication, item)[0].state == "deleting", "the intent was committed before the call"

    monkeypatch.setattr(unpublish, "_finish", real)
    rerun = site.wlb("unpublish", str(item), "--reason", "asked", "--json")
    assert rerun.code == 0 and rerun.json()["removals"][0]["result"] == "already gone"
    assert rows(site, Publication, item)[0].state == "deleted"
    assert [d.action for d in rows(site, Decision, item)].count("unpublish") == 1


def test_the_look_up_for_an_interrupted_attempt_never_takes_a_repost_of_a_longer_link():
    """Our repost of blog.example/photo/10 is not the one of photo/1: taking #1 down must not delete it."""
    import html as html_text

    import httpx

    from platforms.mastodon import MastodonAPI
    from publisher.mastodon import MastodonPublisher

    base, longer = "https://community.example", "https://blog.example/photo/10"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/accounts/verify_credentials":
            return httpx.Response(200, json={"id": "1", "username": "wlb", "acct": "wlb"})
        # Mastodon's REST::StatusSerializer: `content` is sanitized HTML, the link in href and (shortened) as text.
        link = html_text.escape(longer)
        return httpx.Response(200, json=[{"id": "9", "uri": f"{base}/users/wlb/statuses/9", "url": f"{base}/@wlb/9",
                                          "content": f'<p>Sunset 📷 <a href="{link}">{link}</a></p>'}])

    http = Http(NetworkSettings(), transport=httpx.MockTransport(answer),
                resolve=lambda *_: [(2, 1, 6, "", ("93.184.216.34", 443))])
    publisher = MastodonPublisher(MastodonAPI(http, base, "token"))

    def find(url: str):
        return publisher.find_existing(PublishRequest(text="", images=[], idempotency_key="k", original_url=url))

    assert find("https://blog.example/photo/1") is None
    assert find(longer).remote_id == "9"
