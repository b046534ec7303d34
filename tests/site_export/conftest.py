"""An archive with published, approved, rejected and broken items, made as rows, with real JPEGs carrying EXIF."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

import cli
from app.config import load_settings
from app.workspace import Workspace
from core.models import Author, Media, MediaState, Post, Publication, PubState, Status
from tests.fakes import images

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HOSTILE_TEXT = "<script>alert(1)</script> Manneken & co\x1b[31m red\x07\u202e\ufffe\nsecond line"
HOSTILE_ALT = '"><img src=x\x01 onerror=alert(1)>'
BASE = "https://photos.example.org/wall/"
jpeg = cache(images.jpeg)  # the same bytes for every test, made once


@dataclass
class Archive:
    """The archive's folder and the ids of its items, by what they are."""

    root: Path
    ids: dict[str, int] = field(default_factory=dict)
    media: dict[str, list[int]] = field(default_factory=dict)
    _ws: Workspace | None = None

    @property
    def ws(self) -> Workspace:
        """One workspace for making rows (opening the database checks its migrations)."""
        if self._ws is None:
            self._ws = self.workspace()
        return self._ws

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    def workspace(self) -> Workspace:
        return Workspace(load_settings(self.config, check_secrets=False))

    def wlb(self, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(["--config", str(self.config), *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    def add(self, name: str, *, status: str, author: tuple[str, str, str, str], jpegs: list[bytes],
            published: datetime | None = None, pub_state: str = PubState.PUBLISHED, path: str | None = None,
            **post) -> int:
        """One item by `author` (network, handle, name, profile url), its images, and a repost if `published`."""
        ws = self.ws
        with ws.db.session() as session:
            network, handle, display, profile = author
            who = session.exec(select(Author).where(Author.key == f"{network}:{handle}")).first() or Author(
                key=f"{network}:{handle}", network=network, handle=handle, name=display, profile_url=profile)
            session.add(who)
            session.flush()
            row = Post(key=f"test:{name}", channel=post.pop("channel", "source"), platform=post.pop("platform", "mastodon"),
                       remote_id=name, url=post.pop("url", f"https://fake.social/@{handle}/{name}"), author_id=who.id,
                       created_at=NOW - timedelta(days=5), status=status, **post)
            session.add(row)
            session.flush()
            self.media[name] = []
            for position, data in enumerate(jpegs):
                digest, rel = ws.store.put(data, "JPEG")
                m = Media(post_id=row.id, position=position, url=f"https://fake.social/media/{name}/{position}.jpg",
                          state=MediaState.OK, sha256=digest,
                          path=path or rel, width=1, height=1, format="JPEG", bytes=len(data))
                session.add(m)
                session.flush()
                self.media[name].append(m.id)
            if published or pub_state != PubState.PUBLISHED:
                session.add(Publication(post_id=row.id, channel="community", idempotency_key=f"k-{name}",
                                        state=pub_state, remote_id=f"r-{name}",
                                        remote_url=f"https://community.social/@wlb/{name}" if published else None,
                                        published_at=published))
            session.commit()
            self.ids[name] = row.id
            return row.id

    def set_alt(self, name: str, alt: str, position: int = 0) -> None:
        with self.ws.db.session() as session:
            m = session.get(Media, self.media[name][position])
            m.alt_text = alt
            session.add(m)
            session.commit()


JANE = ("fediverse", "jane", "Jane Doe", "https://fake.social/@jane")
DIRK = ("flickr", "12345@N00", "Dirk Peeters", "https://www.flickr.com/photos/12345@N00/")
MIA = ("bluesky", "mia.bsky.social", "Mia", "https://bsky.app/profile/mia.bsky.social")


@pytest.fixture
def archive(tmp_path: Path, db_url: str) -> Iterator[Archive]:
    """Published: `jane` (hostile text, 2 days ago) and `dirk` (Flickr, licensed, 2 photos, 1 day ago);
    not shown: `approved`, `rejected`, `failed` (status published but its repost failed) and `escape`
    (published, but its stored path leads out of the media folder)."""
    (tmp_path / "config.toml").write_text(f"""
database = "{db_url}"
media_dir = "data/media"

[channels.source]
kind = "mastodon"
base_url = "https://fake.social"

[channels.flickr]
kind = "flickr"
token_env = "WLB_FLICKR_KEY"

[channels.community]
kind = "mastodon"
base_url = "https://community.social"
collect = false
publish = true
token_env = "WLB_PUB_TOKEN"
""", encoding="utf-8")
    a = Archive(tmp_path)
    a.add("jane", status=Status.PUBLISHED, author=JANE, published=NOW - timedelta(days=2),
          jpegs=[jpeg(1, size=(2000, 1500), gps=True, orientation=6)], text=HOSTILE_TEXT, language="fr")
    a.set_alt("jane", HOSTILE_ALT)
    a.add("dirk", status=Status.PUBLISHED, author=DIRK, published=NOW - timedelta(days=1),
          jpegs=[jpeg(2, size=(900, 700), gps=True), jpeg(3, size=(700, 900), gps=True)],
          channel="flickr", platform="flickr", url="javascript:alert(1)", text="Grand-Place",
          license="CC BY 2.0", license_url="https://creativecommons.org/licenses/by/2.0/", title="Grand-Place at dusk")
    a.add("approved", status=Status.APPROVED, author=MIA, jpegs=[jpeg(4, size=(640, 640), gps=True)],
          pub_state=PubState.PENDING, platform="bluesky", text="approved, not yet posted")
    a.add("rejected", status=Status.REJECTED, author=MIA, jpegs=[jpeg(5, size=(640, 640), gps=True)],
          text="rejected one")
    a.add("failed", status=Status.PUBLISHED, author=MIA, jpegs=[jpeg(6, size=(640, 640), gps=True)],
          pub_state=PubState.FAILED, text="its repost failed")
    outside = tmp_path / "data" / "secret.jpg"
    outside.write_bytes(jpeg(7, size=(640, 640), gps=True))
    a.add("escape", status=Status.PUBLISHED, author=MIA, published=NOW - timedelta(hours=1),
          jpegs=[jpeg(8, size=(640, 640))], path="../secret.jpg", text="points outside the store")
    yield a
    a.ws.close()
