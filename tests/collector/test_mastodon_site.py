"""`wlb collect` against fake instances: odd media, bad records, split domains, and whose copy of a profile counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from core.db import Database
from core.models import Author, Media, MediaState, Post
from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def rows(site: Site, model) -> list:
    db = Database(site.db_url)
    with Session(db.engine) as session:
        return list(session.exec(select(model)))


def photo(seed: int) -> bytes:
    return images.jpeg(seed, size=(700, 700))


@pytest.mark.parametrize("kind", ["unknown", "processing"])
def test_an_attachment_the_instance_could_not_cache_is_fetched_from_its_original(site, kind):
    site.source.add_status(images=[photo(1)], media_type=kind, created_at=T0)
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    (media,) = rows(site, Media)
    assert media.state == MediaState.OK and media.width == 700
    paths = [r.path for r in site.source.requests if not r.path.startswith("/api/")]
    expected = ["media_proxy", "media"] if kind == "unknown" else ["media"]  # the proxy fails, the original answers
    assert [p.split("/")[1] for p in paths] == expected


def test_a_bad_record_is_skipped_once_and_the_channel_goes_on(site):
    good = site.source.add_status(images=[photo(2)], created_at=T0, acct="ana")
    broken = site.source.add_status(images=[photo(3)], created_at=T0, acct="bad", tag="elsewhere")
    del broken["account"]["url"]
    site.source.inject(dict(broken, tags=[]))
    naive = site.source.add_status(images=[photo(4)], created_at=T0, acct="naive")
    naive["created_at"] = "2026-11-20T12:00:00"  # no zone: read as UTC, not a crash at the insert
    run = site.wlb("collect", "--json")
    assert run.code == 0, run.err
    channel = run.json()["channels"]["source"]
    assert channel["new_posts"] == 2 and channel["skipped"] == {"malformed: account.url missing": 1}
    assert {p.key for p in rows(site, Post)} == {good["uri"], naive["uri"]}
    again = site.wlb("collect", "--json").json()["channels"]["source"]
    assert again["skipped"] == {} and again["new_posts"] == 0, "the watermark passed the bad record"


def test_a_remote_instances_copy_of_a_profile_does_not_rename_the_author(site):
    site.source.add_status(images=[photo(5)], created_at=T0, acct="carol@elsewhere.example", display_name="Carol")
    site.source.add_status(images=[photo(6)], created_at=T0, acct="bob", display_name="Bob")
    assert site.wlb("collect").code == 0
    site.source.add_status(images=[photo(7)], created_at=T0, acct="carol@elsewhere.example", display_name="Mallory")
    renamed = site.source.add_status(images=[photo(8)], created_at=T0, acct="bob", display_name="Bob")
    renamed["account"]["display_name"] = "Robert"  # bob is local here: his own instance may rename him
    assert site.wlb("collect").code == 0
    names = {a.handle: a.name for a in rows(site, Author)}
    assert names == {"carol@elsewhere.example": "Carol", "bob@fake.social": "Robert"}


def test_local_accounts_on_a_split_domain_instance_get_the_instance_domain(tmp_path, db_url, capsys, monkeypatch):
    monkeypatch.setenv("WLB_PUB_TOKEN", "pub")
    with FakeMastodon(domain="example.com", web_domain="social.example.com") as source, \
            FakeMastodon(domain="community.social", token="pub") as community:
        site = Site(tmp_path, source, community, capsys, db_url)
        site.write_config()
        status = source.add_status(images=[photo(9)], created_at=T0, acct="alice")
        assert status["uri"].startswith("https://social.example.com/users/alice/")
        assert site.wlb("collect").code == 0
        (author,) = rows(site, Author)
        assert author.handle == "alice@example.com"
        assert [r.path for r in source.requests if "instance" in r.path] == ["/api/v2/instance"]


def test_a_post_claiming_another_instances_uri_is_skipped(site):
    real = site.source.add_status(images=[photo(10)], created_at=T0, acct="alice@real.example")
    forged = site.source.add_status(images=[photo(11)], created_at=T0, acct="mallory", tag="elsewhere")
    forged.update(uri=real["uri"].replace("real.example", "other.example"), tags=[], id=None)
    site.source.inject(forged)
    run = site.wlb("collect", "--json").json()["channels"]["source"]
    assert run["new_posts"] == 1 and run["skipped"] == {"identity mismatch (uri not on the author's domain)": 1}
