"""The media store leaves no partial files behind: not after a kill, not after a full disk."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import core.media as media
from core.errors import ConfigError
from tests.fakes import images

NOW = 1_800_000_000.0


def _partial(store_root: Path, name: str, mtime: float) -> Path:
    tmp = store_root / media.TMP_DIR
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / name
    path.write_bytes(b"\xff\xd8\xff half a jpeg")
    os.utime(path, (mtime, mtime))
    return path


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_store_removes_partial_files_older_than_itself(tmp_path: Path) -> None:
    root = tmp_path / "media"
    killed = _partial(root, f"{_dead_pid()}-abc.part", NOW - 60)  # kill -9 during a download
    legacy = _partial(root, "unnamed.part", NOW - 60)
    other = _partial(root, f"{os.getppid()}-def.part", NOW - 60)  # a process that is still writing
    abandoned = _partial(root, f"{os.getppid()}-ghi.part", NOW - media.STALE_AFTER - 1)
    fresh = _partial(root, f"{_dead_pid()}-jkl.part", NOW + 1)  # written after this store started
    store = media.MediaStore(root, clock=lambda: NOW)
    assert not killed.exists() and not legacy.exists() and not abandoned.exists()
    assert other.exists() and fresh.exists()
    assert store.clean_stale() == 0


def test_a_full_disk_leaves_no_partial_file_and_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    store = media.MediaStore(tmp_path / "media")

    def half_then_full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(media, "_write_all", half_then_full)
    with pytest.raises(media.StoreError) as caught:
        store.put(images.jpeg(1), "JPEG")
    assert str(caught.value) == (f"cannot write to media_dir {store.root} (No space left on device); "
                                 "free some space or point media_dir in config.toml to another disk")
    leftovers = [p for p in store.root.rglob("*") if p.is_file()]
    assert leftovers == []


def test_an_interrupted_write_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    store = media.MediaStore(tmp_path / "media")

    def interrupted(fd: int, data: bytes) -> None:
        os.write(fd, data[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(media, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.put(images.jpeg(2), "JPEG")
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_a_write_still_lands_whole_and_once(tmp_path: Path) -> None:
    store = media.MediaStore(tmp_path / "media")
    data = images.jpeg(3)
    sha, rel = store.put(data, "JPEG")
    assert store.put(data, "JPEG") == (sha, rel)
    assert store.read(rel) == data and rel.startswith(f"{sha[:2]}/{sha[2:4]}/")
    assert list((store.root / media.TMP_DIR).iterdir()) == []


def test_a_media_dir_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    with pytest.raises(ConfigError, match=r"media_dir .*data/media cannot be created .*set media_dir in config.toml"):
        media.MediaStore(tmp_path / "data" / "media")


def test_collect_on_a_full_disk_stops_with_one_line_and_refuses_nothing(site, monkeypatch) -> None:
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from core.db import Database
    from core.models import Media, MediaState

    for seed in (4, 5, 6):
        site.source.add_status(images=[images.jpeg(seed)], created_at=datetime(2026, 11, 20, 12, seed, tzinfo=UTC))
    real = media._write_all
    monkeypatch.setattr(media, "_write_all", lambda fd, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    result = site.wlb("collect")
    assert result.code == 1
    [line] = [line for line in result.err.splitlines() if line.strip()]
    assert "No space left on device" in line and "free some space" in line and "Traceback" not in result.err
    db = Database(site.db_url)
    with db.session() as session:
        states = session.execute(sa.select(Media.state)).scalars().all()
    assert sorted(states) == [MediaState.PENDING] * 3  # the disk's fault, not the images': all retried
    assert [p for p in (site.root / "data" / "media").rglob("*") if p.is_file()] == []
    monkeypatch.setattr(media, "_write_all", real)
    assert site.wlb("collect").code == 0
    with db.session() as session:
        assert session.execute(sa.select(Media.state)).scalars().all() == [MediaState.OK] * 3
    db.dispose()
