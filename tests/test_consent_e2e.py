"""Asking before reposting, end to end through the CLI against fake instances: approve → the request is sent once as
a reply → the photographer's own answer decides (published with credit, or rejected with their words); a stranger's
"yes" decides nothing; a lost answer or a killed run never makes a second reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from core.db import Database
from core.models import ConsentRequest, ConsentState
from tests.fakes import images
from tests.site import Site
from tests.test_bluesky_e2e import bsite  # noqa: F401, F811 - the Bluesky site fixture

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ask_config(site: Site, extra: str = "") -> None:
    """`community` (our account on community.social) publishes with consent = "ask"."""
    site.write_config(extra=extra, channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

{site.community_channel()}consent = "ask"
""")


@pytest.fixture
def asking(site: Site) -> Site:
    """An asking community whose instance fetches posts from fake.social when asked (search with resolve)."""
    ask_config(site)
    site.community.peers.append(site.source)
    site.community._next_id += 10**9  # two servers, two id sequences
    return site


def approved_item(site: Site, **status) -> tuple[dict, int]:
    """alice's French photo collected and approved: (her status on fake.social, the item id)."""
    original = site.source.add_status(images=[images.jpeg(1)], acct="alice", display_name="Alice", created_at=T0,
                                      text="Coucher de soleil sur la Grand-Place, quelle lumière ce soir",
                                      language="fr", **status)
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    approved = site.wlb("approve", str(item["id"]))
    assert approved.code == 0, approved.err
    assert site.queue("awaiting-consent")[0]["id"] == item["id"]
    return original, item["id"]


def asked(site: Site) -> tuple[dict, int, str]:
    """alice's photo approved and asked about: (her status, the item id, our request's id on community.social)."""
    original, item = approved_item(site)
    run(site)
    return original, item, site.community.replies_to(our_copy(site, original))[0]["id"]


def requests_sent(site: Site) -> list:
    return [r for r in site.community.requests if r.method == "POST" and r.path == "/api/v1/statuses"
            and r.form.get("in_reply_to_id")]


def our_copy(site: Site, original: dict) -> str:
    return site.community._resolved[original["uri"]]


def ledger(site: Site, item: int) -> ConsentRequest:
    db = Database(site.db_url)
    try:
        with db.session() as session:
            return session.exec(select(ConsentRequest).where(ConsentRequest.post_id == item)).one()
    finally:
        db.dispose()

def set_request(site: Site, item: int, **values) -> None:
    db = Database(site.db_url)
    with db.session() as session:
        row = session.exec(select(ConsentRequest).where(ConsentRequest.post_id == item)).one()
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
        session.commit()
    db.dispose()


def run(site: Site) -> dict:
    result = site.wlb("run", "--json")
    assert result.code == 0, result.err
    return result.json()


def test_asked_once_then_the_authors_oui_publishes_it_with_credit(asking):
    site = asking
    original, item = approved_item(site)
    summary = run(site)

    assert summary["consent"]["sent"] == 1
    (sent,) = requests_sent(site)
    copy = our_copy(site, original)
    assert sent.form["in_reply_to_id"] == [copy], "a reply to our instance's copy of her post"
    text = sent.form["status"][0]
    assert "@alice@fake.social" in text and text.startswith("Bonjour"), "French post, French request"
    assert "#oui" in text and sent.form["visibility"] == ["direct"] and sent.form["language"] == ["fr"]
    assert sent.headers["idempotency-key"] == ledger(site, item).idempotency_key
    assert site.community.published[0]["mentions"][0]["acct"] == "alice@fake.social"
    assert site.queue("awaiting-consent")[0]["id"] == item, "nothing is published before she answers"

    run(site)
    assert len(requests_sent(site)) == 1, "a second run sends nothing again"

    ours = site.community.replies_to(copy)[0]["id"]
    site.community.add_reply(ours, acct="mallory@fake.social", display_name="Alice", text="yes")
    site.community.add_reply(ours, acct="alice@evil.host", display_name="Alice", text="oui")
    summary = run(site)
    assert summary["consent"]["not_author"] == 2 and summary["consent"]["granted"] == 0
    assert site.queue("awaiting-consent")[0]["id"] == item, "a stranger's yes leaves it waiting"

    site.community.add_reply(ours, acct="alice@fake.social", display_name="Alice", text="oui !")
    summary = run(site)
    assert summary["consent"]["granted"] == 1
    (repost,) = [s for s in site.community.published if s["media_attachments"]]
    assert "@alice@fake.social" in repost["content"] and original["url"] in repost["content"], "credited"
    assert {i["status"] for i in site.queue("all")} == {"published"}
    row = ledger(site, item)
    assert row.state == ConsentState.GRANTED and row.answer_text == "@welovebrussels oui !"
    assert row.decided_by == "reply" and row.answer_url.startswith("https://fake.social/@alice/")
    shown = site.wlb("show", str(item), "--json").json()
    assert [h["action"] for h in shown["history"]][-3:] == ["approve", "consent", "publish"]
    assert len(requests_sent(site)) == 1


@pytest.mark.parametrize("words", ["Nee, liever niet. Sorry!", "No thanks, I'd rather not", "Non merci 🙂"])
def test_no_rejects_it_with_their_words(asking, words):
    site = asking
    original, item, ours = asked(site)
    site.community.add_reply(ours, acct="alice@fake.social", text=words)
    summary = run(site)

    assert summary["consent"]["refused"] == 1
    (rejected,) = site.queue("rejected")
    assert rejected["id"] == item
    shown = site.wlb("show", str(item), "--json").json()
    assert words in shown["history"][-1]["reason"]
    assert [s for s in site.community.published if s["media_attachments"]] == [], "never reposted"
    assert ledger(site, item).state == ConsentState.REFUSED


def test_an_answer_that_is_neither_waits_for_a_person(asking):
    site = asking
    original, item, ours = asked(site)
    site.community.add_reply(ours, acct="alice@fake.social", text="oui mais mets mon insta")
    summary = run(site)
    assert summary["consent"]["unclear"] == 1
    row = ledger(site, item)
    assert row.state == ConsentState.UNCLEAR and "mets mon insta" in row.answer_text
    assert site.queue("awaiting-consent")[0]["id"] == item


def test_a_lost_answer_never_posts_a_second_reply(asking):
    """The reply is made but every answer to it is lost: the run records nothing sent; the next one, an hour later
    (Mastodon has forgotten the Idempotency-Key), finds our reply in the thread instead of sending another."""
    site = asking
    original, item = approved_item(site)
    site.community.lose_answers = 10
    summary = run(site)
    assert len(site.community.published) == 1, "made once: the retries carried the same Idempotency-Key"
    assert summary["consent"]["sent"] == 0 and summary["consent"]["errors"]
    row = ledger(site, item)
    assert row.state == ConsentState.SENDING and row.attempts == 1 and row.error

    site.community.lose_answers = 0
    site.community.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
    summary = run(site)
    assert summary["consent"]["found_sent"] == 1 and summary["consent"]["sent"] == 0
    assert len(site.community.published) == 1
    row = ledger(site, item)
    assert row.state == ConsentState.SENT and row.request_remote_id == site.community.published[0]["id"]


def test_killed_after_the_post_never_posts_a_second_reply(asking):
    """The process dies between the reply and recording it: the row is left SENDING with nothing recorded."""
    site = asking
    original, item = approved_item(site)
    run(site)
    set_request(site, item, state=ConsentState.SENDING, request_remote_id=None, request_url=None, sent_at=None)
    site.community.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
    summary = run(site)
    assert summary["consent"]["found_sent"] == 1
    assert len(requests_sent(site)) == 1
    assert ledger(site, item).state == ConsentState.SENT


def test_a_deleted_post_fails_its_request_and_the_item_shows_why(asking):
    site = asking
    original, item = approved_item(site)
    site.source.delete_status(original["id"])
    summary = run(site)
    assert summary["consent"]["failed"] == 1 and requests_sent(site) == []
    assert any("cannot find" in e for e in summary["consent"]["errors"])
    row = ledger(site, item)
    assert row.state == ConsentState.FAILED and "cannot find" in row.error
    assert site.queue("awaiting-consent")[0]["id"] == item
    run(site)
    assert requests_sent(site) == [], "a failed request is not retried by itself"


def test_bluesky_asks_by_reply_record_and_the_authors_did_decides(bsite):  # noqa: F811
    site = bsite
    site.write_config(channels=f"""
[channels.bsky]
kind = "bluesky"
handle = "{site.bsky.handle}"
base_url = "{site.bsky.base_url}"
plc_url = "{site.bsky.base_url}"
token_env = "WLB_BSKY_PASSWORD"
publish = true
consent = "ask"
""")
    post = site.bsky.add_post(handle="alice.bsky.social", display_name="Alice", created_at=T0, images=[images.jpeg(1)],
                              text="Zonsondergang aan het Atomium vanavond #welovebrussels", langs=["nl"])
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    assert run(site)["consent"]["sent"] == 1
    (request,) = site.bsky.replies_to(post["uri"])
    assert request["text"].startswith("Hallo @alice.bsky.social") and "#ja" in request["text"]
    assert request["reply"]["parent"]["uri"] == post["uri"] and request["reply"]["parent"]["cid"] == post["cid"]
    (mention,) = [f for f in request["facets"] if f["features"][0]["$type"].endswith("#mention")]
    assert mention["features"][0]["did"] == post["author"]["did"]
    ours = site.bsky.published[0]["uri"]

    site.bsky.add_reply(ours, handle="alice-bsky.social", display_name="Alice", text="ja")
    assert run(site)["consent"]["not_author"] == 1
    assert len(site.bsky.replies_to(post["uri"])) == 1, "asked once"
    site.bsky.add_reply(ours, handle="alice.bsky.social", text="Ja graag! 👍")
    assert run(site)["consent"]["granted"] == 1
    (repost,) = [p["record"] for p in site.bsky.published if "reply" not in p["record"]]
    assert "@alice.bsky.social" in repost["text"]
    assert {i["status"] for i in site.queue("all")} == {"published"}



def test_per_hour_throttles_and_one_bad_request_costs_only_itself(asking):
    site = asking
    ask_config(site, "[consent]\nper_hour = 2\n")
    posts = {s["url"]: s for s in (site.source.add_status(
        images=[images.jpeg(10 + n)], acct=f"p{n}", created_at=T0 + timedelta(minutes=n),
        text=f"Photo number {n} of the Sablon in the morning light") for n in range(4))}
    assert site.wlb("collect").code == 0
    queued = sorted(site.queue("pending"), key=lambda i: i["id"])
    items = [i["id"] for i in queued]
    assert site.wlb("approve", *map(str, items)).code == 0
    # The first request in line cannot be sent (its post is gone): that costs that request only.
    site.source.delete_status(posts[queued[0]["post_url"]]["id"])

    summary = run(site)["consent"]
    assert (summary["failed"], summary["sent"], summary["throttled"]) == (1, 2, 1)
    assert len(requests_sent(site)) == 2
    shown = site.wlb("run")
    assert shown.code == 0 and "consent  1 wait for the hourly limit" in shown.out, "the budget counts earlier runs"
    assert "could not be sent" not in shown.out, "a failed request is not tried again"
    assert len(requests_sent(site)) == 2
    for item in items[1:3]:
        set_request(site, item, sent_at=datetime.now(UTC) - timedelta(minutes=61))
    assert run(site)["consent"]["sent"] == 1
    assert len(requests_sent(site)) == 3
    assert len({r.form["in_reply_to_id"][0] for r in requests_sent(site)}) == 3, "never twice to the same post"


def test_silence_expires_and_two_minds_go_to_a_person(asking):
    site = asking
    original, item = approved_item(site)
    run(site)
    set_request(site, item, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert run(site)["consent"]["expired"] == 1
    assert site.queue("consent-expired")[0]["id"] == item
    assert ledger(site, item).state == ConsentState.EXPIRED


def test_yes_then_no_is_for_a_person(asking):
    site = asking
    original, item, ours = asked(site)
    site.community.add_reply(ours, acct="alice@fake.social", text="oui !")
    site.community.add_reply(ours, acct="alice@fake.social", text="non en fait, désolée")
    assert run(site)["consent"]["unclear"] == 1
    row = ledger(site, item)
    assert row.state == ConsentState.UNCLEAR and row.answer_text == "@welovebrussels non en fait, désolée"
    assert run(site)["consent"]["unclear"] == 0, "the same words are not recorded twice"


def test_a_request_whose_thread_cannot_be_read_costs_only_itself(asking):
    site = asking
    for n, acct in enumerate(("alice", "bruno")):
        site.source.add_status(images=[images.jpeg(20 + n)], acct=acct, created_at=T0 + timedelta(minutes=n),
                               text=f"Un matin au parc du Cinquantenaire, photo {n}", language="fr")
    assert site.wlb("collect").code == 0
    items = sorted(i["id"] for i in site.queue("pending"))
    assert site.wlb("approve", *map(str, items)).code == 0
    assert run(site)["consent"]["sent"] == 2
    by_acct = {s["mentions"][0]["acct"]: s["id"] for s in site.community.published}
    site.community.delete_status(by_acct["alice@fake.social"])  # our first request is gone: its thread is a 404
    site.community.add_reply(by_acct["bruno@fake.social"], acct="bruno@fake.social", text="Oui, avec plaisir")
    summary = run(site)["consent"]
    assert summary["granted"] == 1 and len(summary["errors"]) == 1 and "answers not read" in summary["errors"][0]
    assert sorted(i["status"] for i in site.queue("all")) == ["awaiting-consent", "published"]


def test_a_rejection_while_the_reply_is_on_its_way_wins_and_the_ledger_keeps_the_reply(asking, monkeypatch):
    """A reviewer rejects the item between the claim (SENDING, committed) and the platform's answer: the request
    stays cancelled, yet records where our reply is, so a person can delete it."""
    from consent.mastodon import MastodonAsker
    from curation.queue import reject

    site = asking
    original, item = approved_item(site)
    real = MastodonAsker.ask

    def ask_while_a_reviewer_rejects(self, request):
        db = Database(site.db_url)
        reject(db, [item], reason="changed my mind", actor="bob")
        db.dispose()
        return real(self, request)

    monkeypatch.setattr(MastodonAsker, "ask", ask_while_a_reviewer_rejects)
    run(site)
    row = ledger(site, item)
    assert row.state == ConsentState.CANCELLED and row.request_remote_id == site.community.published[0]["id"]
    assert site.queue("rejected")[0]["id"] == item
    monkeypatch.setattr(MastodonAsker, "ask", real)
    site.community.add_reply(row.request_remote_id, acct="alice@fake.social", text="oui !")
    run(site)
    assert site.queue("rejected")[0]["id"] == item, "an answer to a cancelled request decides nothing"


def test_without_its_secret_the_asking_channel_waits_and_says_so(asking):
    """A channel that only asks ([consent] ask_from) is not checked for its secret like a publishing one."""
    site = asking
    site.write_config(extra='[consent]\nask_from = ["asker"]\n', channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

[channels.asker]
kind = "mastodon"
base_url = "{site.community.base_url}"
collect = false
token_env = "WLB_ASK_TOKEN"

{site.community_channel()}consent = "ask"
""")
    original, item = approved_item(site)
    assert ledger(site, item).channel == "asker"
    summary = run(site)
    assert any("'asker'" in w and "$WLB_ASK_TOKEN" in w for w in summary["warnings"]), summary["warnings"]
    assert requests_sent(site) == [] and ledger(site, item).state == ConsentState.PLANNED


def test_rejected_and_approved_again_after_a_lost_answer_never_posts_a_second_reply(asking):
    """Our reply was made but its answer lost (SENDING, one attempt); the reviewer rejects, then approves again. The
    reopened request is PLANNED, yet an attempt may have posted: past Mastodon's Idempotency-Key hour the next run
    must look for our reply in the thread before sending, as it does for an interrupted one."""
    site = asking
    original, item = approved_item(site)
    site.community.lose_answers = 10
    run(site)
    assert len(site.community.published) == 1 and ledger(site, item).state == ConsentState.SENDING
    site.community.lose_answers = 0
    assert site.wlb("reject", str(item), "--reason", "not now").code == 0
    assert site.wlb("approve", str(item)).code == 0
    assert ledger(site, item).state == ConsentState.PLANNED
    site.community.clock = lambda: datetime.now(UTC) + timedelta(hours=2)  # the key is forgotten
    summary = run(site)
    assert len(site.community.published) == 1, "asked once"
    assert summary["consent"]["found_sent"] == 1
    row = ledger(site, item)
    assert row.state == ConsentState.SENT and row.request_remote_id == site.community.published[0]["id"]


def test_her_yes_to_a_strangers_question_under_our_request_is_not_consent(asking):
    site = asking
    original, item, ours = asked(site)
    question = site.community.add_reply(ours, acct="bob@fake.social", text="@alice c'est bien toi sur la photo ?")
    site.community.add_reply(question["id"], acct="alice@fake.social", text="oui !")
    summary = run(site)
    assert summary["consent"]["granted"] == 0 and summary["consent"]["unclear"] == 1, "a person reads it"
    assert site.queue("awaiting-consent")[0]["id"] == item
    assert [s for s in site.community.published if s["media_attachments"]] == [], "not reposted"


def test_after_her_no_her_other_photo_waiting_for_the_hourly_limit_is_not_asked(asking):
    """Two of alice's photos approved, one request an hour: she says no to the first. The second, still planned,
    must not reach her: her answer is read before anything is sent, and a "no" within refused_months stops it."""
    site = asking
    ask_config(site, "[consent]\nper_hour = 1\n")
    for n in range(2):
        site.source.add_status(images=[images.jpeg(30 + n)], acct="alice", created_at=T0 + timedelta(minutes=n),
                               text=f"Le canal au petit matin, photo {n}", language="fr")
    assert site.wlb("collect").code == 0
    first, second = sorted(i["id"] for i in site.queue("pending"))
    assert site.wlb("approve", str(first), str(second)).code == 0
    assert run(site)["consent"]["sent"] == 1
    (ours,) = site.community.published
    site.community.add_reply(ours["id"], acct="alice@fake.social", text="Non merci")
    set_request(site, first, sent_at=datetime.now(UTC) - timedelta(minutes=61))
    summary = run(site)["consent"]
    assert (summary["refused"], summary["sent"], summary["failed"]) == (1, 0, 1)
    assert len(site.community.published) == 1, "asked once, not again after her no"
    row = ledger(site, second)
    assert row.state == ConsentState.FAILED and "said no" in row.error
    assert site.queue("awaiting-consent")[0]["id"] == second, "a person decides what becomes of it"
    assert run(site)["consent"]["sent"] == 0
