"""Caps, slots and rotation count a repost on the day it went out, also after a refused attempt (fake Graph API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from core.db import Database
from core.models import Publication
from tests.fakes import images
from tests.test_facebook_e2e import FacebookSite, fsite  # noqa: F401 (the fixture)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _age_publications(site: FacebookSite, days: int) -> None:
    """Time passes: the refused attempt happened `days` ago (the clock cannot be moved for a CLI run)."""
    db = Database(site.db_url)
    with db.session() as session:
        for pub in session.exec(select(Publication)):
            pub.created_at -= timedelta(days=days)
            session.add(pub)
        session.commit()
    db.dispose()


def test_a_post_refused_days_ago_then_sent_today_counts_for_todays_cap(fsite):  # noqa: F811
    for n in range(2):
        fsite.source.add_status(images=[images.jpeg(40 + n)], created_at=T0 + timedelta(minutes=n), acct=f"p{n}")
    assert fsite.wlb("collect").code == 0
    ids = sorted(i["id"] for i in fsite.queue("pending"))
    assert fsite.wlb("approve", *map(str, ids)).code == 0
    fsite.write_config(extra="[publish]\ndaily_cap = 1")
    fsite.graph.fail_next_graph("POST", "/photos", 190, subcode=463, message="Session has expired")
    refused = fsite.wlb("publish", "--json").json()
    assert [i["result"] for i in refused["items"]] == ["failed"] and fsite.graph.posts == []
    _age_publications(fsite, 2)

    today = fsite.wlb("publish", "--json").json()
    assert [(i["item"], i["result"]) for i in today["items"]] == [(ids[0], "published")]
    again = fsite.wlb("publish", "--json").json()
    assert again["items"] == [], "the day's cap of 1 is used by the post that went out today"
    assert [(h["item"], h["reason"]) for h in again["held"]] == [(ids[1], "cap")]
    assert len(fsite.graph.posts) == 1
