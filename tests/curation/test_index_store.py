"""The stored index: reused when the database is unchanged, rebuilt (one log line) whenever it cannot be trusted."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import col, select

from core.db import Database
from core.fingerprints import HASH_VERSION, RECORD, ImageHashes, record_hashes
from core.hashbits import to_signed
from core.models import Author, Media, MediaState, Post, Status, utcnow
from core.decisions import transition
from curation import index_store, index_sync
from curation.curate import load_index
from curation.index import STORED, Rules
from curation.index_sync import open_index, save_index
from tests.conftest import PG_URL

RULES = Rules()


def _hashes(rng: np.random.Generator, centre: tuple[int, int] | None = None) -> ImageHashes:
    kinds = {}
    for kind in STORED:
        if centre:
            p, d = (c ^ int(rng.integers(0, 1 << 12)) for c in centre)  # up to 12 low bits apart
        else:
            p, d = (int(x) for x in rng.integers(0, 2**63, 2))
        kinds[kind] = (p, d)
    records = np.array([(k, p, d) for k, (p, d) in kinds.items()], dtype=RECORD)
    sha = f"{int(rng.integers(0, 2**62)):064x}"
    return ImageHashes(sha, to_signed(kinds[STORED[0]][0]), to_signed(kinds[STORED[0]][1]), records=records.tobytes(),
                       version=HASH_VERSION)


class Archive:
    """A database of curated one-photo posts around a few centres, and queries near them."""

    def __init__(self, url: str, data_dir: Path):
        self.db, self.data_dir, self.rng = Database(url), data_dir, np.random.default_rng(5)
        self.centres = [tuple(int(x) for x in self.rng.integers(0, 2**63, 2)) for _ in range(5)]
        with self.db.session() as s:
            s.add(Author(key="a", network="mastodon", handle="a@x"))
            s.commit()
        self.n = 0

    def add(self, count: int, status: str = Status.PENDING) -> list[int]:
        ids = []
        with self.db.session() as s:
            for _ in range(count):
                self.n += 1
                post = Post(key=f"p{self.n}", channel="c", platform="mastodon", remote_id=str(self.n), url="u",
                            author_id=1, created_at=utcnow(), status=status)
                s.add(post)
                s.flush()
                media = Media(post_id=post.id, url="u", state=MediaState.OK)
                centre = self.centres[self.n % 5] if self.n % 3 else None
                record_hashes(media, _hashes(self.rng, centre))
                media.sha256 = f"{self.n % 40:064x}"
                s.add(media)
                ids.append(post.id)
            s.commit()
        return ids

    def queries(self) -> list[ImageHashes]:
        return [_hashes(self.rng, c) for c in self.centres] + [_hashes(self.rng)]

    def check(self) -> None:
        """The stored index (opened as curate opens it) answers like a fresh full load of the database."""
        with self.db.session() as s:
            oracle, stored = load_index(s), open_index(s, self.data_dir)
        assert len(stored) == len(oracle)
        for q in self.queries():
            assert stored.matches(q, RULES) == oracle.matches(q, RULES)


@pytest.fixture
def archive(db_url: str, tmp_path: Path) -> Archive:
    return Archive(db_url, tmp_path / "data")


def _rebuilds(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wlb.index"]


def test_built_once_then_reused_and_appended_to(archive: Archive, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    archive.add(60)
    archive.check()
    assert len(_rebuilds(caplog)) == 1  # no index yet
    caplog.clear()
    for _ in range(3):  # a run curates new items and saves them; the next open trusts the files
        new = archive.add(7, status=Status.NEW)
        with archive.db.session() as s:
            index = open_index(s, archive.data_dir)
            for post in s.exec(select(Post).where(Post.status == Status.NEW)):
                post.status = Status.PENDING
                s.add(post)
            s.commit()
            save_index(s, index, archive.data_dir, new)
        archive.check()
    assert _rebuilds(caplog) == []
    assert len(list((archive.data_dir / "index").glob("tail-*"))) == 1  # old tails removed


def test_a_long_tail_is_merged_into_the_main_part(archive: Archive, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("curation.index_sync.TAIL_MAX", 10)
    archive.add(30)
    archive.check()
    caplog.clear()
    mains = set((archive.data_dir / "index").glob("main-*"))
    new = archive.add(15, status=Status.NEW)
    with archive.db.session() as s:
        index = open_index(s, archive.data_dir)
        for post in s.exec(select(Post).where(Post.status == Status.NEW)):
            post.status = Status.DUPLICATE
        s.commit()
        save_index(s, index, archive.data_dir, new)
    archive.check()
    assert _rebuilds(caplog) == [] and set((archive.data_dir / "index").glob("main-*")) != mains


def _forget(archive: Archive) -> None:
    with archive.db.session() as s:
        media = s.get(Media, 3)
        media.phash = media.dhash = media.hash_set = media.hash_version = None  # what app/takedown.py does
        s.commit()


def _delete(archive: Archive) -> None:
    with archive.db.session() as s:
        s.delete(s.get(Media, 4))
        s.commit()


def _rehash(archive: Archive) -> None:
    with archive.db.session() as s:  # wlb rehash: the same rows, other hashes
        for media in s.exec(select(Media).where(Media.id < 10)):
            record_hashes(media, _hashes(archive.rng, archive.centres[0]))
        s.commit()


def _uncurated(archive: Archive) -> None:
    with archive.db.session() as s:
        s.get(Post, 5).status = Status.NEW
        s.commit()


def _added_elsewhere(archive: Archive) -> None:
    archive.add(3)  # curated by something that did not save the index


@pytest.mark.parametrize("change", [_forget, _delete, _rehash, _uncurated])
def test_any_change_to_indexed_rows_rebuilds(archive: Archive, change, caplog: pytest.LogCaptureFixture) -> None:
    archive.add(40)
    archive.check()
    caplog.clear()
    change(archive)
    archive.check()
    assert len(_rebuilds(caplog)) == 1 and "rebuilt" in _rebuilds(caplog)[0]


def test_images_curated_without_a_save_are_caught_up_not_rebuilt(archive: Archive,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    archive.add(40)
    archive.check()
    caplog.clear()
    _added_elsewhere(archive)  # curated by something that did not save the index (a run that died)
    archive.check()
    assert len(_rebuilds(caplog)) == 1 and "caught up with 3 items" in _rebuilds(caplog)[0]


@pytest.mark.skipif(bool(PG_URL), reason="copies the SQLite file")
def test_a_restored_backup_or_another_database_rebuilds(archive: Archive, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    archive.add(30)
    db_file = Path(archive.db.engine.url.database)
    shutil.copy(db_file, tmp_path / "backup.db")
    archive.check()
    archive.add(5)
    archive.check()
    caplog.clear()
    archive.db.dispose()
    shutil.copy(tmp_path / "backup.db", db_file)  # restored: fewer rows than the index holds
    archive.db = Database(f"sqlite:///{db_file}")
    archive.check()
    assert len(_rebuilds(caplog)) == 1
    caplog.clear()
    archive.db = Database(f"sqlite:///{tmp_path / 'backup.db'}")  # the same rows under another URL
    archive.check()
    assert len(_rebuilds(caplog)) == 1


def _truncate(folder: Path) -> None:
    victim = max(next(folder.glob("main-*")).glob("*.npy"), key=lambda f: f.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])


def _garbage_manifest(folder: Path) -> None:
    (folder / index_store.MANIFEST).write_text("{not json")


def _missing_file(folder: Path) -> None:
    next(next(folder.glob("main-*")).glob("g0.1.offsets.npy")).unlink()


def _bad_header(folder: Path) -> None:
    next(next(folder.glob("main-*")).glob("post.npy")).write_bytes(b"\x93NUMPY garbage")


def _inconsistent_offsets(folder: Path) -> None:
    path = next(next(folder.glob("main-*")).glob("g0.0.offsets.npy"))
    offsets = np.load(path)
    offsets[-1] += 1
    np.save(path, offsets)


@pytest.mark.parametrize("damage", [_truncate, _garbage_manifest, _missing_file, _bad_header, _inconsistent_offsets])
def test_damaged_files_are_rebuilt_with_one_log_line(archive: Archive, damage, caplog: pytest.LogCaptureFixture) -> None:
    archive.add(40)
    archive.check()
    caplog.clear()
    damage(archive.data_dir / "index")
    archive.check()
    assert len(_rebuilds(caplog)) == 1 and "rebuilt" in _rebuilds(caplog)[0]


def test_an_unwritable_data_dir_costs_speed_not_answers(archive: Archive, caplog: pytest.LogCaptureFixture) -> None:
    archive.add(20)
    archive.data_dir.mkdir(parents=True)
    (archive.data_dir / "index").write_text("a file where the folder should be")
    archive.check()
    assert any("memory only" in line for line in _rebuilds(caplog))
    with archive.db.session() as s:  # and saving after the run is a no-op, not an error
        save_index(s, open_index(s, archive.data_dir), archive.data_dir, [1, 2])


def _generation(archive: Archive) -> int:
    with archive.db.session() as s:
        return index_sync.database_stamp(s)["generation"]


@pytest.mark.parametrize("change", [_forget, _delete, _rehash, _uncurated])
def test_the_database_bumps_the_generation_on_every_change_to_an_indexed_image(archive: Archive, change) -> None:
    archive.add(20)
    before = _generation(archive)
    change(archive)
    assert _generation(archive) > before


def test_hashing_an_uncurated_image_leaves_the_generation(archive: Archive) -> None:
    new = archive.add(3, status=Status.NEW)
    before = _generation(archive)
    with archive.db.session() as s:  # what downloads and curate do to items still `new`
        for media in s.exec(select(Media).where(col(Media.post_id).in_(new))):
            record_hashes(media, _hashes(archive.rng))
            s.delete(media) if media.post_id == new[0] else s.add(media)
        s.commit()
    assert _generation(archive) == before


def test_a_change_during_a_run_keeps_the_old_manifest(archive: Archive, caplog: pytest.LogCaptureFixture) -> None:
    archive.add(30)
    archive.check()
    caplog.clear()
    new = archive.add(4, status=Status.NEW)
    with archive.db.session() as s:
        index = open_index(s, archive.data_dir)
        for post in s.exec(select(Post).where(Post.status == Status.NEW)):
            post.status = Status.PENDING
        s.commit()
        _forget(archive)  # another command, between the run's open and its save
        save_index(s, index, archive.data_dir, new)
    archive.check()
    assert len(_rebuilds(caplog)) == 1 and "changed" in _rebuilds(caplog)[0]


def test_items_curated_by_another_run_meanwhile_are_caught_up(archive: Archive, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    archive.add(30)
    archive.check()
    caplog.clear()
    mine, theirs = archive.add(3, status=Status.NEW), archive.add(3, status=Status.NEW)
    with archive.db.session() as s:
        index = open_index(s, archive.data_dir)
        for post_id in mine + theirs:  # the other run curates without saving (it crashed)
            transition(s, s.get(Post, post_id), Status.PENDING, actor="wlb", action="queue")
        s.commit()
        save_index(s, index, archive.data_dir, mine)  # finds their items in its range: writes nothing
    archive.check()
    assert len(_rebuilds(caplog)) == 1 and "caught up with 6 items" in _rebuilds(caplog)[0]


@pytest.mark.skipif(bool(PG_URL), reason="copies the SQLite file")
def test_a_restored_backup_whose_ids_caught_up_rebuilds(archive: Archive, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    archive.add(30)
    db_file = Path(archive.db.engine.url.database)
    archive.db.dispose()
    shutil.copy(db_file, tmp_path / "backup.db")
    archive.add(5)
    archive.check()  # built with 35 images
    archive.db.dispose()
    shutil.copy(tmp_path / "backup.db", db_file)
    archive.db = Database(f"sqlite:///{db_file}")
    archive.add(5, status=Status.NEW)  # media ids 31-35 again, other photos, not curated
    caplog.clear()
    archive.check()
    assert len(_rebuilds(caplog)) == 1
