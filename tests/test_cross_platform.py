"""One photo posted by its author to Mastodon, Bluesky and Flickr is one item: the earliest copy keeps the credit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.flickr import API_KEY, FakeFlickr
from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
PASSWORD = "abcd-efgh-ijkl-mnop"


def test_mastodon_bluesky_and_flickr_copies_merge_into_the_earliest(tmp_path, db_url, capsys, monkeypatch):
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    monkeypatch.setenv("WLB_BSKY", PASSWORD)
    monkeypatch.setenv("WLB_FLICKR", API_KEY)
    photo = images.jpeg(77, size=(1600, 1200))
    with FakeMastodon(domain="fake.social") as source, FakeMastodon(domain="community.social", token=PUBLISH_TOKEN) as community, \
            FakeBluesky(password=PASSWORD) as bsky, FakeFlickr() as flickr:
        site = Site(tmp_path, source, community, capsys, db_url)
        origins = ", ".join(f'"{s.origin}"' for s in (source, community, bsky, flickr))
        site.config.write_text(f"""
database = "{db_url}"
[network]
allow_private = [{origins}]
retries = 1
[channels.masto]
kind = "mastodon"
base_url = "{source.base_url}"
[channels.bsky]
kind = "bluesky"
handle = "{bsky.handle}"
base_url = "{bsky.base_url}"
plc_url = "{bsky.base_url}"
token_env = "WLB_BSKY"
[channels.flickr]
kind = "flickr"
base_url = "{flickr.rest_url}"
token_env = "WLB_FLICKR"
[channels.community]
kind = "mastodon"
base_url = "{community.base_url}"
collect = false
publish = true
token_env = "WLB_PUB_TOKEN"
""", encoding="utf-8")
        # The author posts to Bluesky first, then Mastodon, and uploads the full-size original to Flickr last.
        bsky.add_post(handle="marie.bsky.social", display_name="Marie", images=[images.reencoded(photo, quality=80, scale=0.75)],
                      created_at=T0, text="Mont des Arts this morning #welovebrussels")
        source.add_status(images=[images.reencoded(photo, quality=85, scale=0.675)], acct="marie", display_name="Marie",
                          created_at=T0 + timedelta(minutes=20), text="Mont des Arts this morning")
        flickr.add_photo(photo, uploaded=T0 + timedelta(hours=2), title="Mont des Arts", ownername="Marie D.",
                         pathalias="marie", license="4")
        run = site.wlb("collect", "--json")
        assert run.code == 0, run.out + run.err
        items = {i["platform"]: i for i in site.queue("all")}
        assert set(items) == {"mastodon", "bluesky", "flickr"}
        canonical = items["bluesky"]
        assert canonical["status"] == "pending"
        assert items["mastodon"]["status"] == items["flickr"]["status"] == "duplicate"
        assert items["mastodon"]["duplicate_of"] == items["flickr"]["duplicate_of"] == canonical["id"]
        shown = site.wlb("show", str(canonical["id"]), "--json").json()
        assert sorted(shown["duplicates"]) == sorted([items["mastodon"]["id"], items["flickr"]["id"]])

        assert site.wlb("approve", str(canonical["id"])).code == 0
        assert site.wlb("publish").code == 0
        asked = {r.path.split(":")[0] for r in bsky.requests if r.path.startswith(("/did:", "/xrpc/com.atproto.repo.getRecord"))}
        assert asked == {"/did", "/xrpc/com.atproto.repo.getRecord"}, "the DID document and the PDS confirm the post"
        (status,) = [r.form["status"][0] for r in community.requests if r.path == "/api/v1/statuses"]
        assert canonical["post_url"] in status and "marie.bsky.social on Bluesky" in status
        assert "@marie.bsky.social" not in status, "a bare @handle would mention a local Mastodon user"
