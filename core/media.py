"""The media folder: a content-addressed store of downloaded images, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from core.errors import ConfigError, WlbError

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
TMP_DIR = ".tmp"  # partial files: renamed into place when complete, so a reader never sees half an image
STALE_AFTER = 24 * 3600  # a partial file this old is stale even if a process with its pid is running


class StoreError(WlbError):
    """The media folder cannot be written (full disk, permissions)."""


class NotInStore(ValueError):
    """A media row's path that names no regular file inside the store (moved, missing, or pointing elsewhere)."""


class MediaStore:
    """Files named by their sha256 under media_dir/ab/cd/; writing the same bytes twice is a no-op."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time):
        self.root = Path(root)
        self.started = clock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"media_dir {self.root} cannot be created ({exc.strerror or exc}); "
                              "set media_dir in config.toml to a folder you can write to") from None
        self.clean_stale()

    @property
    def tmp_dir(self) -> Path:
        return self.root / TMP_DIR

    def clean_stale(self) -> int:
        """Delete partial files a killed download left behind (older than this store); return how many."""
        removed = 0
        with suppress(OSError), os.scandir(self.tmp_dir) as entries:
            for entry in entries:
                with suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and self._stale(entry.name, entry.stat().st_mtime):
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def _stale(self, name: str, mtime: float) -> bool:
        if mtime >= self.started:
            return False
        pid = name.split("-", 1)[0]
        writing = pid.isdigit() and int(pid) != os.getpid() and process_running(int(pid))
        return not writing or mtime < self.started - STALE_AFTER

    def put(self, data: bytes, fmt: str) -> tuple[str, str]:
        """Store bytes atomically; return (sha256, path relative to the store)."""
        digest = hashlib.sha256(data).hexdigest()
        rel = f"{digest[:2]}/{digest[2:4]}/{digest}.{EXTENSIONS.get(fmt, 'bin')}"
        target = self.root / rel
        if target.exists():
            return digest, rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=f"{os.getpid()}-", suffix=".part")
            try:
                try:
                    _write_all(fd, data)
                finally:
                    os.close(fd)
                os.replace(tmp, target)
            except BaseException:  # a full disk, or an interrupt: no partial file stays behind
                with suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write to media_dir {self.root} ({exc.strerror or exc}); "
                             "free some space or point media_dir in config.toml to another disk") from None
        return digest, rel

    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def stored_file(self, rel: str | None) -> Path:
        """The file `rel` names, only if it is a regular file inside the store (a symlink's target too): what may be
        served or published from a database row, which is never trusted to stay inside."""
        if not rel:
            raise NotInStore("no stored file")
        try:
            root = self.root.resolve()
            path = (root / rel).resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
            raise NotInStore(f"its path cannot be resolved ({exc})") from None
        if path == root or not path.is_relative_to(root):
            raise NotInStore("its path is outside the media folder")
        if not path.is_file():
            raise NotInStore("its file is missing from the media folder")
        return path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def process_running(pid: int) -> bool:
    """Whether a process with this id exists (ours or another user's): its partial files are not stale."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True
