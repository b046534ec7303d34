"""`wlb export-site DIR`: build the whole site in DIR.tmp-…, then swap it in, so no half-written site is ever served."""

from __future__ import annotations

import ctypes
import glob
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from app.site.content import Entry, published, safe_url
from app.site.feeds import json_feed, rss, title
from app.site.images import Counts, SkippedImage, renditions
from app.workspace import Workspace
from core.errors import UsageError, WlbError
from core.media import process_running
from core.settings import Settings

MARKER = ".wlb-site"  # in every export: DIR is only ever replaced if it has one (or is empty)
STATIC = ("site.css", "favicon.svg")
MARKER_TEXT = "Written by 'wlb export-site'. This folder is rebuilt and replaced as a whole by every export.\n"


@dataclass
class SiteReport:
    """What one export did."""

    directory: str
    items: int = 0
    encoded: int = 0  # image files re-encoded
    reused: int = 0  # image files kept from the previous export, unchanged
    skipped: list[str] = field(default_factory=list)  # one line per item left out
    notes: list[str] = field(default_factory=list)


def export_site(ws: Workspace, directory: Path, *, limit: int | None = None, base_url: str | None = None) -> SiteReport:
    """Write the wall, one page per repost, feed.xml and feed.json for the published items; replace DIR with it."""
    target = Path(directory).absolute()
    check_target(target)
    base = check_base_url(base_url)
    with ws.db.session() as session:
        entries = published(session, ws.settings, limit=limit)
    report = SiteReport(directory=str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(target)
        work = target.with_name(f"{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        work.mkdir()
    except OSError as exc:
        raise WlbError(f"cannot create the site beside {target} ({exc.strerror or exc}); "
                       "choose a DIR in a folder you can write to") from None
    try:
        (work / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        kept = _images(ws, entries, work, target if target.is_dir() else None, report)
        _write(work, kept, ws.settings, base)
        swap(work, target)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise WlbError(f"cannot write the site beside {target} ({exc.strerror or exc}); the previous one is unchanged") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report.items = len(kept)
    if base is None:
        report.notes.append("the feeds' links are relative: pass --base-url with the address the site is served "
                            "from (https://…) so feed readers can follow them")
    return report


def check_target(target: Path) -> None:
    """Refuse a DIR that is something other than an earlier export (or an empty folder): it is replaced whole."""
    if target.is_symlink():
        raise UsageError(f"{target} is a symbolic link; give the folder it points to")
    if not target.exists():
        return
    if not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder; choose another DIR")
    if not (target / MARKER).is_file() and any(target.iterdir()):
        raise UsageError(f"{target} exists and is not a site exported by wlb (it has no {MARKER}); it would be "
                         "replaced as a whole, so choose a new or empty folder")


def check_base_url(base_url: str | None) -> str | None:
    """The site's public address ending in "/", or None; anything but a plain http(s) address is refused."""
    if base_url is None:
        return None
    url = safe_url(base_url)
    if url is None or urlsplit(url).query or urlsplit(url).fragment:
        raise UsageError(f"--base-url {base_url!r} is not an http(s) address; write it like https://photos.example.org/")
    return url if url.endswith("/") else url + "/"


def _images(ws: Workspace, entries: list[Entry], work: Path, previous: Path | None, report: SiteReport) -> list[Entry]:
    """Each entry with its renditions; an entry with a bad image is left out with one warning line."""
    counts, kept = Counts(), []
    network = ws.settings.network
    for entry in entries:
        source = None
        try:
            if not entry.sources:
                raise SkippedImage("has no stored image")
            images = []
            for source in entry.sources:
                sizes = renditions(ws.store, source.path, work, previous, counts,
                                   max_bytes=network.max_media_bytes, max_pixels=network.max_pixels)
                images.append({**sizes, "alt": source.alt})
        except SkippedImage as exc:
            where = f"image {source.media_id}: " if source else ""
            report.skipped.append(f"#{entry.id} left out: {where}{exc}")
            continue
        entry.images = images
        kept.append(entry)
    report.encoded, report.reused = counts.encoded, counts.reused
    return kept


def _write(work: Path, entries: list[Entry], settings: Settings, base: str | None) -> None:
    """The pages, the stylesheet and the feeds."""
    env = Environment(loader=PackageLoader("app.site", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    zone = ZoneInfo(settings.timezone)
    env.filters["day"] = lambda at: f"{at.astimezone(zone).day} {at.astimezone(zone):%B %Y}"
    env.globals["headline"] = title
    tag = settings.hashtags[0] if settings.hashtags else "welovebrussels"
    site = {"title": f"#{tag}: photos reposted by the community",
            "description": f"Photos shared with #{tag}, reposted with credit to their photographers."}

    def url(path: str) -> str:
        return (base or "") + path or "./"

    fragment = env.get_template("feed_entry.html")

    def html(entry: Entry) -> str:
        return fragment.render(entry=entry, url=url).strip()

    (work / "index.html").write_text(env.get_template("wall.html").render(site=site, root="", entries=entries),
                                     encoding="utf-8")
    (work / "items").mkdir()
    page = env.get_template("item.html")
    for entry in entries:  # file names come from our ids, never from remote text
        (work / "items" / f"{entry.id}.html").write_text(page.render(site=site, root="../", entry=entry),
                                                          encoding="utf-8")
    for name in STATIC:
        (work / name).write_bytes((files("app.site") / "static" / name).read_bytes())
    (work / "feed.xml").write_bytes(rss(site, entries, url, html))
    (work / "feed.json").write_text(json_feed(site, entries, url, html), encoding="utf-8")


def swap(work: Path, target: Path) -> None:
    """Put `work` where `target` is, in one step where the system allows it; the old export is deleted."""
    if not target.exists():
        os.rename(work, target)
        return
    if _exchange(work, target):  # `work` now holds the old export
        shutil.rmtree(work, ignore_errors=True)
        return
    old = target.with_name(f"{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(target, old)  # for a moment there is no DIR (a 404), never a half-written one
    try:
        os.rename(work, target)
    except OSError:
        os.rename(old, target)  # the previous export stays
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc 2.28+
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def clean_stale(target: Path) -> None:
    """Remove DIR.tmp-PID-… and DIR.old-PID-… folders that an export killed midway left behind."""
    for kind in ("tmp", "old"):
        for path in target.parent.glob(f"{glob.escape(target.name)}.{kind}-*"):
            pid = path.name.rsplit(f".{kind}-", 1)[1].split("-", 1)[0]
            ours = (path / MARKER).is_file() or (path.is_dir() and not any(path.iterdir()))
            dead = pid.isascii() and pid.isdigit() and int(pid) != os.getpid() and not process_running(int(pid))
            if ours and dead and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
