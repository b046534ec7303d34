"""A reviewer deciding while the photographer's reply settles the item, in two threads with their own
connections: exactly one of them wins, the other changes nothing and says so (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from core.consent import settle
from core.db import Database
from core.models import ConsentRequest, ConsentState, Status, utcnow
from curation import queue
from curation.queue import Refused
from tests.consent.ledger import add_post, ledger, settings, status

ROUNDS = 6


def race(db_url: str, item: int, request_id: int) -> dict:
    """bob rejects the item he saw awaiting consent while the photographer's "#oui" is settled; who got what."""
    start, results = threading.Barrier(2), {}

    def reviewer() -> None:
        mine = Database(db_url)
        start.wait()
        try:
            queue.reject(mine, [item], expected=Status.AWAITING, actor="bob", reason="not Brussels")
            results["reject"] = "won"
        except Refused as exc:
            results["reject"] = exc.why
        finally:
            mine.dispose()

    def reply() -> None:
        mine = Database(db_url)
        start.wait()
        try:
            with mine.session() as session:
                results["reply"] = settle(session, request_id, True, words="#oui", by="reply") is not None
        finally:
            mine.dispose()

    threads = [threading.Thread(target=reviewer), threading.Thread(target=reply)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_reject_and_a_granting_reply_at_once_one_wins(db, db_url, askers):
    cfg = settings("ask")
    for _ in range(ROUNDS):
        item = add_post(db)
        queue.approve(db, [item], targets=[], publish_channels=cfg.publishing_channels(), settings=cfg)
        with db.session() as session:
            request = session.get(ConsentRequest, ledger(db, item).id)
            request.state, request.request_remote_id, request.sent_at = ConsentState.SENT, "99", utcnow()
            session.add(request)
            session.commit()
        results = race(db_url, item, ledger(db, item).id)
        final, request = status(db, item), ledger(db, item)
        if results["reject"] == "won":
            assert results["reply"] is False and final == "rejected" and request.state == ConsentState.CANCELLED
            assert request.answer_text is None
        else:
            assert results == {"reject": "changed", "reply": True}, results
            assert final == "approved" and request.state == ConsentState.GRANTED and request.answer_text == "#oui"
