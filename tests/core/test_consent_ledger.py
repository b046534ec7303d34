"""core/consent.py: when an approval asks first, and the ledger's state changes (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from core import consent
from core.db import Database
from core.models import Author, ConsentRequest, ConsentState, Decision, Post, Status, utcnow
from core.settings import ChannelSettings, ConsentSettings, Settings

NOW = utcnow()


def _settings(policy: str = "ask", *, refused_months: int = 12, non_commercial: bool = False) -> Settings:
    return Settings(consent=ConsentSettings(refused_months=refused_months), channels={
        "community": ChannelSettings(kind="mastodon", base_url="https://community.social", publish=True,
                                     token_env="T", consent=policy, non_commercial=non_commercial),
        "other": ChannelSettings(kind="mastodon", base_url="https://other.social", publish=True, token_env="T"),
    })


@pytest.fixture
def db(db_url: str) -> Database:
    return Database(db_url)


def _item(db: Database, n: int = 1, *, status: Status = Status.AWAITING, state: ConsentState = ConsentState.SENT,
          sent_ago: timedelta = timedelta(hours=1), expires_in: timedelta = timedelta(days=13)) -> tuple[int, int]:
    with db.session() as session:
        author = session.exec(select(Author)).first()
        if author is None:
            author = Author(key="fediverse:ann@fake.social", network="fediverse", handle="ann@fake.social")
            session.add(author)
            session.flush()
        post = Post(key=f"https://fake.social/statuses/{n}", channel="source", platform="mastodon", remote_id=str(n),
                    url=f"https://fake.social/@ann/{n}", author_id=author.id, created_at=NOW - timedelta(days=1),
                    status=status, targets=["community"], publish_next=True)
        session.add(post)
        session.flush()
        request = ConsentRequest(post_id=post.id, author_id=author.id, channel="community", platform="mastodon",
                                 state=state, asked_by="dirk", idempotency_key=f"key-{n}", request_text="mag het?",
                                 sent_at=NOW - sent_ago, expires_at=NOW - sent_ago + expires_in)
        session.add(request)
        session.commit()
        return post.id, request.id


def test_why_ask_follows_policy_licence_and_signals() -> None:
    post = Post(key="k", channel="source", platform="flickr", remote_id="1", url="u", author_id=1, created_at=NOW)
    assert consent.why_ask(post, _settings("none"), ["community"]) is None
    assert "community asks" in consent.why_ask(post, _settings("ask"), ["community"])  # no licence: ask
    assert consent.why_ask(post, _settings("ask"), ["other"]) is None  # that channel does not ask
    post.license = "CC BY 2.0"
    assert consent.why_ask(post, _settings("ask"), ["community"]) is None  # the licence allows it
    assert consent.why_ask(post, _settings("ask-always"), ["community"]) is not None
    post.license = "CC BY-NC 2.0"
    assert consent.why_ask(post, _settings("ask"), ["community"]) is not None  # NC on a channel that is not NC
    assert consent.why_ask(post, _settings("ask", non_commercial=True), ["community"]) is None
    post.license, post.ask_first = "CC BY 2.0", ["#nobot in their bio"]
    assert "#nobot in their bio" in consent.why_ask(post, _settings("none"), ["other"])
    # No targets: every publishing channel, so the asking one counts.
    post.ask_first, post.license = [], None
    assert consent.why_ask(post, _settings("ask"), []) is not None


def test_granted_approves_and_keeps_the_pin(db: Database) -> None:
    post_id, request_id = _item(db)
    with db.session() as session:
        post = consent.settle(session, request_id, True, words="oui !", by="reply", url="https://fake.social/@ann/9",
                              remote_id="9")
    assert post is not None
    with db.session() as session:
        post, request = session.get(Post, post_id), session.get(ConsentRequest, request_id)
        assert (post.status, post.targets, post.publish_next) == (Status.APPROVED, ["community"], True)
        assert (request.state, request.answer_text, request.decided_by) == (ConsentState.GRANTED, "oui !", "reply")
        decision = session.exec(select(Decision).where(Decision.post_id == post_id)).one()
        assert (decision.action, decision.from_status, decision.to_status, decision.actor) == \
            ("consent", Status.AWAITING, Status.APPROVED, "photographer")


def test_refused_rejects_with_their_words_and_is_remembered(db: Database) -> None:
    post_id, request_id = _item(db)
    with db.session() as session:
        consent.settle(session, request_id, False, words="liever niet, sorry", by="dirk", proof="said so by email")
    with db.session() as session:
        post = session.get(Post, post_id)
        assert post.status == Status.REJECTED and (post.publish_next, post.publish_at) == (False, None)
        assert "the photographer said no: liever niet, sorry" in post.reasons
        author_id = post.author_id
        assert consent.refused_before(session, author_id, _settings()).id == request_id
        assert consent.refused_before(session, author_id, _settings(refused_months=0)) is None
        assert consent.refused_before(session, author_id, _settings(), NOW + timedelta(days=400)) is None


def test_settle_refuses_what_moved_meanwhile(db: Database) -> None:
    post_id, request_id = _item(db)
    with db.session() as session:  # a reviewer rejected it while the reply was being read
        session.get(Post, post_id).status = Status.REJECTED
        session.commit()
    with db.session() as session:
        assert consent.settle(session, request_id, True, words="yes", by="reply") is None
    with db.session() as session:
        assert session.get(ConsentRequest, request_id).state == ConsentState.SENT
        assert session.get(Post, post_id).status == Status.REJECTED
    other_post, other = _item(db, 2)
    with db.session() as session:
        assert consent.settle(session, other, True, words="yes", by="reply") is not None
    with db.session() as session:  # answered twice (two runs reading the same reply): the second changes nothing
        assert consent.settle(session, other, False, words="no", by="reply") is None
    with db.session() as session:
        assert session.get(Post, other_post).status == Status.APPROVED


def test_unclear_keeps_the_words_once(db: Database) -> None:
    _, request_id = _item(db)
    with db.session() as session:
        assert consent.mark_unclear(session, request_id, words="who are you?", url="u", remote_id="7")
        assert not consent.mark_unclear(session, request_id, words="who are you?", url="u", remote_id="7")
        assert consent.mark_unclear(session, request_id, words="hello?", url="u", remote_id="8")
    with db.session() as session:
        request = session.get(ConsentRequest, request_id)
        assert (request.state, request.answer_text) == (ConsentState.UNCLEAR, "hello?")


def test_expiry_moves_only_due_requests(db: Database) -> None:
    due_post, _ = _item(db, 1, sent_ago=timedelta(days=15), expires_in=timedelta(days=14))
    fresh_post, _ = _item(db, 2, sent_ago=timedelta(days=1), expires_in=timedelta(days=14))
    moved_post, _ = _item(db, 3, status=Status.REJECTED, sent_ago=timedelta(days=15), expires_in=timedelta(days=14))
    with db.session() as session:
        assert consent.expire_due(session, NOW) == [due_post]
    with db.session() as session:
        assert session.get(Post, due_post).status == Status.NO_ANSWER
        assert session.get(Post, fresh_post).status == Status.AWAITING
        assert session.get(Post, moved_post).status == Status.REJECTED
        states = {r.post_id: r.state for r in session.exec(select(ConsentRequest))}
        assert states == {due_post: ConsentState.EXPIRED, fresh_post: ConsentState.SENT, moved_post: ConsentState.SENT}


def test_an_unclear_reply_read_while_a_reviewer_rejects_leaves_the_request_cancelled(db, db_url):
    """The stage read the request SENT; a reviewer rejects the item (the request is cancelled) before the stage
    records the photographer's unclear words: they must not reopen the request of a rejected item."""
    from curation.queue import reject

    post_id, request_id = _item(db)
    with db.session() as stage:
        seen = stage.get(ConsentRequest, request_id)  # what the stage read, a moment before the reviewer's commit
        assert seen.state == ConsentState.SENT
        reviewer = Database(db_url)
        try:
            reject(reviewer, [post_id], actor="bob", reason="not Brussels")
        finally:
            reviewer.dispose()
        assert consent.mark_unclear(stage, request_id, words="who are you", url=None, remote_id="r1") is False
    with db.session() as session:
        assert session.get(ConsentRequest, request_id).state == ConsentState.CANCELLED
        assert session.get(Post, post_id).status == Status.REJECTED
