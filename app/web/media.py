"""`/media/{id}` and `/thumb/{id}`: an image of the media store, found by its database id, never by a path."""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import suppress
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.workspace import Workspace
from core.images import ACCEPTED, DECODE_ERRORS, RefusedImage, thumbnail_rgb
from core.media import EXTENSIONS, NotInStore
from core.models import Media

THUMB_SIDE = 480  # pixels: sharp in a grid cell on a high-density screen, a few dozen kilobytes
MAX_AGE = 7 * 24 * 3600  # a stored file never changes (it is named by its sha256): only sign-in limits reuse
_MIME_BY_EXT = {ext: ACCEPTED[fmt][1] for fmt, ext in EXTENSIONS.items()}


def _stored_file(ws: Workspace, media_id: int) -> tuple[Path, Media] | None:
    """The file of this media row, if it is a regular file inside the media store (a row pointing elsewhere is not)."""
    with ws.db.session() as session:
        media = session.get(Media, media_id)
    if media is None:
        return None
    try:
        path = ws.store.stored_file(media.path)  # symlinks followed: their target must be inside too
    except NotInStore:
        return None
    return path, media


def _mime(media: Media, path: Path) -> str | None:
    if media.format and media.format.upper() in ACCEPTED:
        return ACCEPTED[media.format.upper()][1]
    return _MIME_BY_EXT.get(path.suffix.lstrip(".").lower())


def _cached(request: Request, etag: str) -> Response | None:
    wanted = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=_headers(etag))
    return None


def _headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": f"private, max-age={MAX_AGE}"}


def _missing() -> Response:
    return PlainTextResponse("no such image", status_code=404)


def original(ws: Workspace, request: Request, media_id: int) -> Response:
    found = _stored_file(ws, media_id)
    mime = _mime(found[1], found[0]) if found else None
    if found is None or mime is None:
        return _missing()
    path, media = found
    data = path.read_bytes()
    etag = f'"{media.sha256 or hashlib.sha256(data).hexdigest()}"'
    return _cached(request, etag) or Response(data, media_type=mime, headers=_headers(etag))


def thumbnail(ws: Workspace, request: Request, media_id: int) -> Response:
    found = _stored_file(ws, media_id)
    if found is None or _mime(found[1], found[0]) is None:
        return _missing()
    path, media = found
    sha = media.sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    etag = f'"{sha}-{THUMB_SIDE}"'
    cached = _cached(request, etag)
    if cached is not None:
        return cached
    target = Path(ws.settings.data_dir) / "thumbs" / sha[:2] / f"{sha}-{THUMB_SIDE}.jpg"
    if not target.is_file():
        try:
            img = thumbnail_rgb(path.read_bytes(), THUMB_SIDE)
        except (RefusedImage, *DECODE_ERRORS):
            return PlainTextResponse("this image cannot be shown", status_code=415)
        _write_atomically(target, img)
    return Response(target.read_bytes(), media_type="image/jpeg", headers=_headers(etag))


def _write_atomically(target: Path, img) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            img.save(handle, format="JPEG", quality=82)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
