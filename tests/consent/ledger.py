"""A database with items to approve, and the settings of a community whose channels ask first (no network)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core.db import Database
from core.models import Author, ConsentRequest, Decision, Post, Status, utcnow
from core.settings import Settings


def settings(consent: str = "ask", *, extra_channels: dict | None = None, **section) -> Settings:
    """`community` publishes on Mastodon with the given consent policy; `source` collected the items."""
    channels = {"source": {"kind": "mastodon", "base_url": "https://fake.social", "publish": False},
                "community": {"kind": "mastodon", "base_url": "https://community.social", "publish": True,
                              "collect": False, "token_env": "WLB_PUB_TOKEN", "consent": consent},
                **(extra_channels or {})}
    return Settings.model_validate({"database": "sqlite://", "channels": channels, "consent": section})


def add_post(db: Database, *, handle: str = "dirk@fake.social", network: str = "fediverse", platform: str = "mastodon",
             channel: str = "source", text: str = "Le soleil se couche sur la Grand-Place, quelle lumière ce soir",
             language: str | None = None, license: str | None = None, status: Status = Status.PENDING,
             ask_first: list[str] | None = None, **values) -> int:
    """One item by `handle` (the author row shared by their items); its id."""
    with db.session() as session:
        author = session.exec(select(Author).where(Author.key == f"{network}:{handle}")).first()
        if author is None:
            author = Author(key=f"{network}:{handle}", network=network, handle=handle)
            session.add(author)
            session.flush()
        n = len(session.exec(select(Post.id)).all())
        post = Post(key=f"https://fake.social/statuses/{n + 1}-{handle}", channel=channel, platform=platform,
                    remote_id=str(n + 1), url=f"https://fake.social/@{handle.split('@')[0]}/{n + 1}",
                    author_id=author.id, text=text, language=language, license=license, status=status,
                    created_at=utcnow() - timedelta(hours=1), ask_first=ask_first or [], **values)
        session.add(post)
        session.commit()
        return post.id


def ledger(db: Database, item: int) -> ConsentRequest | None:
    with db.session() as session:
        return session.exec(select(ConsentRequest).where(ConsentRequest.post_id == item)).first()


def status(db: Database, item: int) -> str:
    with db.session() as session:
        return session.get(Post, item).status


def actions(db: Database, item: int) -> list[tuple[str, str, str]]:
    with db.session() as session:
        return [(d.action, d.from_status, d.to_status) for d in
                session.exec(select(Decision).where(Decision.post_id == item).order_by(Decision.id))]
