"""`approve` on a channel that asks first: the item awaits consent and its request is in the ledger, written in the
same transaction; refusals for a photographer who said no; reject and undo close the request."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from core.consent import settle
from core.models import ConsentState, Status, utcnow
from curation import queue
from curation.queue import Refused
from platforms import registry
from tests.consent.ledger import actions, add_post, ledger, settings, status


def approve(db, ids, cfg, **kw):
    return queue.approve(db, ids, targets=kw.pop("targets", []), publish_channels=cfg.publishing_channels(),
                         settings=cfg, **kw)


def test_an_approval_asks_first_and_writes_the_planned_request_with_its_words(db, askers):
    item = add_post(db)
    cfg = settings("ask")
    [post] = approve(db, [item], cfg, actor="alice")
    assert post.status == Status.AWAITING and status(db, item) == "awaiting-consent"
    assert actions(db, item) == [("approve", "pending", "awaiting-consent")]
    request = ledger(db, item)
    assert request.state == ConsentState.PLANNED and request.channel == "community" and request.platform == "mastodon"
    assert request.asked_by == "alice" and request.language == "fr" and request.author_id is not None
    assert request.target_url == "https://fake.social/@dirk/1" and len(request.idempotency_key) >= 24
    assert request.request_text.startswith("Bonjour @dirk@fake.social !")
    assert "https://fake.social/@dirk/1" in request.request_text
    assert "#oui" in request.request_text and "#non" in request.request_text


def test_without_a_channel_that_can_reply_the_request_is_made_by_hand(db, monkeypatch):
    # No registry row names an asker: nobody can reply.
    monkeypatch.setitem(registry.PLATFORMS, "mastodon", dataclasses.replace(registry.PLATFORMS["mastodon"], asker=None))
    item = add_post(db, language="en")
    approve(db, [item], settings("ask"))
    request = ledger(db, item)
    assert status(db, item) == "awaiting-consent" and request.state == ConsentState.MANUAL
    assert request.channel == "source", "the channel that found it, for the record"
    assert "A simple yes or no" in request.request_text and "#yes" not in request.request_text
    assert "https://fake.social/@dirk/1" in request.request_text, "no public site: the photographer's own post"


def test_a_nobot_account_is_asked_by_a_person_not_by_an_automated_reply(db, askers):
    nobot = add_post(db, ask_first=["#nobot in their bio"])
    other = add_post(db, handle="ann@fake.social", ask_first=["#noindex in their bio"])
    approve(db, [nobot, other], settings("none"))
    assert ledger(db, nobot).state == ConsentState.MANUAL, "#nobot: no automated reply"
    assert ledger(db, other).state == ConsentState.PLANNED, "another signal: the reply asks"


def test_instagram_finds_are_asked_by_hand_even_when_the_fediverse_can_reply(db, askers):
    item = add_post(db, handle="dirk.bxl", network="instagram", platform="instagram", language="nl")
    approve(db, [item], settings("ask"))
    request = ledger(db, item)
    assert request.state == ConsentState.MANUAL and request.language == "nl"
    assert request.request_text.startswith("Hallo @dirk.bxl!")


def test_a_licence_that_allows_reposting_needs_no_ask_under_ask_but_does_under_ask_always(db, askers):
    free, again = add_post(db, license="CC BY 4.0"), add_post(db, license="CC BY 4.0")
    approve(db, [free], settings("ask"))
    assert status(db, free) == "approved" and ledger(db, free) is None
    approve(db, [again], settings("ask-always"))
    assert status(db, again) == "awaiting-consent" and ledger(db, again).state == ConsentState.PLANNED


def test_a_licence_that_needs_permission_is_asked_for_instead_of_refused(db, askers):
    closed = add_post(db, license="All rights reserved")
    with pytest.raises(Refused) as refused:
        approve(db, [closed], settings("none"))
    assert refused.value.why == "licence"
    approve(db, [closed], settings("ask"))
    assert status(db, closed) == "awaiting-consent"


def test_an_account_that_asks_first_is_asked_even_on_a_channel_that_never_asks(db, askers):
    item = add_post(db, ask_first=["#noindex in their bio"])
    approve(db, [item], settings("none"))
    assert status(db, item) == "awaiting-consent" and ledger(db, item).state == ConsentState.PLANNED
    with db.session() as session:
        assert "#noindex in their bio" in queue.last_decision(session, item).reason


def test_force_records_permission_given_another_way_and_asks_nobody(db, askers):
    item = add_post(db)
    with pytest.raises(Exception, match="--force needs --reason"):
        approve(db, [item], settings("ask"), force=True)
    approve(db, [item], settings("ask"), force=True, reason="said yes by email on 2 Dec")
    assert status(db, item) == "approved" and ledger(db, item) is None
    assert actions(db, item) == [("approve-forced", "pending", "approved")]


def test_a_photographer_who_said_no_lately_is_not_asked_again(db, askers):
    cfg = settings("ask", refused_months=6)
    first, second = add_post(db), add_post(db)
    approve(db, [first], cfg)
    _mark_sent(db, first)
    assert _settle(db, first, False, "non merci") is not None
    with pytest.raises(Refused) as refused:
        approve(db, [second], cfg)
    assert refused.value.why == "consent" and f"said no on {utcnow():%Y-%m-%d} (item #{first})" in str(refused.value)
    assert status(db, second) == "pending" and ledger(db, second) is None
    with pytest.raises(Refused, match="said no to this photo"):
        approve(db, [first], cfg)
    _set_answered(db, first, utcnow() - timedelta(days=200))
    approve(db, [second], cfg)
    assert status(db, second) == "awaiting-consent", "six months on, they may be asked again"


def test_re_approving_keeps_the_request_and_undo_reject_close_it(db, askers):
    cfg = settings("ask", extra_channels={"other": {"kind": "mastodon", "base_url": "https://other.social",
                                                    "publish": True, "collect": False, "consent": "ask"}})
    item = add_post(db)
    approve(db, [item], cfg)
    first = ledger(db, item)
    [post] = approve(db, [item], cfg, targets=["other"])
    again = ledger(db, item)
    assert (again.id, again.idempotency_key, again.state) == (first.id, first.idempotency_key, ConsentState.PLANNED)
    assert post.targets == ["other"]
    queue.undo(db, item, settings=cfg)  # the re-approval: awaiting again, request kept
    assert status(db, item) == "awaiting-consent" and ledger(db, item).state == ConsentState.PLANNED
    queue.reject(db, [item], reason="blurry")
    assert status(db, item) == "rejected" and ledger(db, item).state == ConsentState.CANCELLED
    approve(db, [item], cfg)
    assert ledger(db, item).state == ConsentState.PLANNED and ledger(db, item).idempotency_key == first.idempotency_key
    fresh = add_post(db)
    approve(db, [fresh], cfg)
    queue.undo(db, fresh, settings=cfg)  # the approval: pending, request cancelled
    assert status(db, fresh) == "pending" and ledger(db, fresh).state == ConsentState.CANCELLED


def test_a_sent_request_cancelled_then_reopened_listens_to_the_same_reply(db, askers):
    cfg = settings("ask")
    item = add_post(db)
    approve(db, [item], cfg)
    _mark_sent(db, item)
    queue.reject(db, [item])
    from curation.asking import consent_notes
    assert "our reply was sent and stays https://community.social/@wlb/99" in consent_notes(db, [item])[0]
    queue.undo(db, item, settings=cfg)
    request = ledger(db, item)
    assert status(db, item) == "awaiting-consent" and request.state == ConsentState.SENT
    assert request.request_remote_id == "99", "never a second reply to the same post"


def test_an_expired_request_needs_a_recorded_answer(db, askers):
    cfg = settings("ask")
    item = add_post(db)
    approve(db, [item], cfg)
    _mark_sent(db, item)
    from core.consent import expire_due
    with db.session() as session:
        assert expire_due(session, now=utcnow() + timedelta(days=30)) == [item]
    assert status(db, item) == "consent-expired"
    with pytest.raises(Refused) as refused:
        approve(db, [item], cfg)
    assert refused.value.why == "consent" and f"wlb consent {item} --granted" in str(refused.value)
    approve(db, [item], cfg, force=True, reason="she said yes at the exhibition")
    assert status(db, item) == "approved" and ledger(db, item).state == ConsentState.EXPIRED


def test_a_reply_settling_first_refuses_the_reviewer_who_saw_it_awaiting(db, askers):
    item = add_post(db)
    approve(db, [item], settings("ask"))
    _mark_sent(db, item)
    assert _settle(db, item, True, "#oui avec plaisir") is not None
    with pytest.raises(Refused) as refused:
        queue.reject(db, [item], expected=Status.AWAITING, actor="bob")
    assert refused.value.why == "changed" and "from awaiting-consent to approved by photographer" in str(refused.value)
    assert status(db, item) == "approved" and ledger(db, item).state == ConsentState.GRANTED


def test_a_reviewer_deciding_first_makes_the_late_reply_change_nothing(db, askers):
    item = add_post(db)
    approve(db, [item], settings("ask"))
    _mark_sent(db, item)
    queue.reject(db, [item], expected=Status.AWAITING, actor="bob")
    assert _settle(db, item, True, "#yes") is None
    assert status(db, item) == "rejected" and ledger(db, item).state == ConsentState.CANCELLED
    assert ledger(db, item).answer_text is None


def test_the_channel_that_asks_is_the_configured_one_then_the_finder_then_any(db, askers):
    mastodons = {name: {"kind": "mastodon", "base_url": f"https://{name}.social", "collect": False,
                        "token_env": "WLB_X"} for name in ("aaa", "zzz")}
    item = add_post(db, channel="zzz")
    approve(db, [item], settings("ask", extra_channels=mastodons, ask_from=["aaa"]))
    assert ledger(db, item).channel == "aaa"
    found_by_zzz = add_post(db, channel="zzz")
    approve(db, [found_by_zzz], settings("ask", extra_channels=mastodons))
    assert ledger(db, found_by_zzz).channel == "zzz"
    sky = add_post(db, handle="dirk.bsky.social", network="bluesky", platform="bluesky", channel="zzz")
    approve(db, [sky], settings("ask", extra_channels=mastodons))
    assert ledger(db, sky).state == ConsentState.MANUAL, "no Bluesky account of ours: a person asks"


def _settle(db, item: int, granted: bool, words: str):
    with db.session() as session:
        return settle(session, ledger(db, item).id, granted, words=words, by="reply")


def _mark_sent(db, item: int) -> None:
    from core.models import ConsentRequest
    with db.session() as session:
        request = session.get(ConsentRequest, ledger(db, item).id)
        request.state, request.request_remote_id = ConsentState.SENT, "99"
        request.request_url, request.sent_at, request.attempts = "https://community.social/@wlb/99", utcnow(), 1
        request.expires_at = utcnow() + timedelta(days=14)
        session.add(request)
        session.commit()


def _set_answered(db, item: int, at) -> None:
    from core.models import ConsentRequest
    with db.session() as session:
        request = session.get(ConsentRequest, ledger(db, item).id)
        request.answered_at = at
        session.add(request)
        session.commit()


def test_the_language_is_chosen_before_the_items_are_locked(db, askers, monkeypatch):
    from curation import asking
    locked, chosen_while = [], []
    real_lock, real_choose = queue.lock_items, asking.choose_language
    monkeypatch.setattr(queue, "lock_items", lambda *a, **k: locked.append(1) or real_lock(*a, **k))
    monkeypatch.setattr(asking, "choose_language", lambda *a: chosen_while.append(bool(locked)) or real_choose(*a))
    item = add_post(db, text="Zonsondergang boven de Grote Markt, wat een licht vanavond")
    approve(db, [item], settings("ask"))
    assert chosen_while == [False] and locked, "the detector's seconds of loading hold no lock"
    assert ledger(db, item).language == "nl"
