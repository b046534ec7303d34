"""wlb export-site on an archive made of rows: what appears, how it is escaped, feeds, images, incremental, atomic."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import html5lib
import pytest
from PIL import Image
from sqlmodel import select

from app.site import builder, export_site
from core.models import Post, Status
from tests.fakes import images
from tests.site_export.conftest import BASE, HOSTILE_ALT, JANE, NOW

NS = "{http://www.w3.org/1999/xhtml}"


def export(archive, capsys, site: Path, *args: str) -> tuple[int, dict, str]:
    code, out, err = archive.wlb(capsys, "export-site", str(site), "--base-url", BASE, "--json", *args)
    return code, json.loads(out) if out.strip() else {}, err


def pages(site: Path) -> list[Path]:
    return [site / "index.html", *sorted((site / "items").glob("*.html"))]


def parse(page: Path):
    """The page's DOM from html5lib's strict parser: any HTML5 parse error raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(page.read_bytes())


def test_only_published_items_appear_newest_first(archive, capsys, tmp_path):
    site = tmp_path / "public"
    code, report, _ = export(archive, capsys, site)
    ids = archive.ids
    assert code == 1  # one item was left out, and said so
    assert report["items"] == 2
    assert report["skipped"] == [f"#{ids['escape']} left out: image {archive.media['escape'][0]}: its path is outside "
                                 "the media folder"]
    assert sorted(p.name for p in (site / "items").iterdir()) == sorted(f"{ids[n]}.html" for n in ("jane", "dirk"))
    wall = parse(site / "index.html")
    linked = [a.get("href") for a in wall.iter(f"{NS}a") if a.get("href", "").startswith("items/")]
    assert linked == [f"items/{ids['dirk']}.html", f"items/{ids['jane']}.html"]  # dirk's repost is the newer
    text = (site / "index.html").read_text(encoding="utf-8")
    for absent in ("approved, not yet posted", "rejected one", "its repost failed", "points outside the store"):
        assert not any(absent in p.read_text(encoding="utf-8") for p in site.rglob("*.*") if p.suffix != ".jpg")
    assert "Jane Doe (@jane@fake.social on the fediverse)" in text  # the publisher's credit wording
    assert 'href="https://fake.social/@jane/jane"' in text  # the original, from the wall


def test_every_page_is_valid_html5_with_thumbnails_credits_and_no_script(archive, capsys, tmp_path):
    site = tmp_path / "public"
    export(archive, capsys, site)
    for page in pages(site):
        dom = parse(page)
        assert not list(dom.iter(f"{NS}script")), page
        for img in dom.iter(f"{NS}img"):
            assert img.get("alt") and int(img.get("width")) > 0 and int(img.get("height")) > 0
            assert (page.parent / img.get("src")).is_file()
        for a in dom.iter(f"{NS}a"):
            href = a.get("href")
            scheme = urlsplit(href).scheme
            assert scheme in ("", "http", "https"), (page, href)
            if not scheme:
                assert (page.parent / href).exists(), (page, href)
    wall = parse(site / "index.html")
    thumbs = list(wall.iter(f"{NS}img"))
    assert [i.get("loading") for i in thumbs] == ["lazy", "lazy"]
    assert thumbs[0].get("alt") == "Photo of Brussels shared with #welovebrussels"  # no alt text: the fallback


def test_hostile_text_is_escaped_and_bad_links_dropped(archive, capsys, tmp_path):
    site = tmp_path / "public"
    export(archive, capsys, site)
    jane = (site / "items" / f"{archive.ids['jane']}.html").read_text(encoding="utf-8")
    assert "<script>" not in jane and "&lt;script&gt;alert(1)&lt;/script&gt; Manneken &amp; co" in jane
    for page in [*pages(site), site / "feed.xml", site / "feed.json"]:
        raw = page.read_text(encoding="utf-8")
        assert not any(c in raw for c in "\x1b\x07\x01\u202e\ufffe"), page
        assert "javascript:" not in raw, page
    dom = parse(site / "items" / f"{archive.ids['jane']}.html")
    (img,) = dom.iter(f"{NS}img")
    assert img.get("alt") == HOSTILE_ALT.replace("\x01", "")  # an attribute value, not markup
    assert not [e for e in dom.iter() if "onerror" in e.attrib]
    text = next(p for p in dom.iter(f"{NS}p") if p.get("class") == "text")
    assert text.get("lang") == "fr" and text.text.startswith("<script>alert(1)</script> Manneken & co")
    dirk = parse(site / "items" / f"{archive.ids['dirk']}.html")
    hrefs = [a.get("href") for a in dirk.iter(f"{NS}a")]
    assert "https://creativecommons.org/licenses/by/2.0/" in hrefs  # the licence, linked
    assert "https://community.social/@wlb/dirk" in hrefs  # our repost
    assert not any("original" in (a.text or "").lower() for a in dirk.iter(f"{NS}a"))  # its javascript: URL went
    credit = next(p for p in dirk.iter(f"{NS}p") if p.get("class") == "credit")
    assert credit.text == "“Grand-Place at dusk” by Dirk Peeters is licensed under CC BY 2.0"


def test_rss_feed_has_the_items_with_media_content_and_links(archive, capsys, tmp_path):
    site = tmp_path / "public"
    export(archive, capsys, site)
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20" and feed.feed.link == BASE
    ids = archive.ids
    assert [e.link for e in feed.entries] == [f"{BASE}items/{ids['dirk']}.html", f"{BASE}items/{ids['jane']}.html"]
    assert [e.id for e in feed.entries] == [e.link for e in feed.entries]
    dirk, jane = feed.entries
    assert len(dirk.media_content) == 2 and len(jane.media_content) == 1
    for entry in feed.entries:
        for media in entry.media_content:
            assert media["medium"] == "image" and media["type"] == "image/jpeg"
            assert media["url"].startswith(f"{BASE}img/") and (site / "img" / media["url"].rsplit("/", 1)[1]).is_file()
    assert jane.media_content[0]["width"] == "1200" and jane.media_content[0]["height"] == "1600"  # turned upright
    assert dirk.published_parsed[:3] == (NOW - timedelta(days=1)).timetuple()[:3]
    assert "licensed under CC BY 2.0" in dirk.description
    assert "<script>" not in jane.description  # feedparser sanitizes too, but the feed never had one
    assert jane.title.startswith("<script>alert(1)</script> Manneken & co")  # plain text, escaped in the XML


def test_json_feed_follows_version_1_1(archive, capsys, tmp_path):
    site = tmp_path / "public"
    export(archive, capsys, site)
    feed = json.loads((site / "feed.json").read_text(encoding="utf-8"))
    # https://jsonfeed.org/version/1.1: version, title and items are required; each item has an id and
    # content_html and/or content_text; URLs and dates are strings; no field is null.
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert feed["feed_url"] == f"{BASE}feed.json" and feed["home_page_url"] == BASE
    ids = archive.ids
    assert [item["id"] for item in feed["items"]] == [f"{BASE}items/{ids['dirk']}.html", f"{BASE}items/{ids['jane']}.html"]
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["url"] == item["id"]
        assert item.get("content_html") or item.get("content_text")
        assert item["image"].startswith(f"{BASE}img/")
        assert item["date_published"].endswith("+00:00")
        assert all(value not in (None, "", []) for value in item.values())
    dirk, jane = feed["items"]
    assert "external_url" not in dirk  # javascript: dropped
    assert jane["external_url"] == "https://fake.social/@jane/jane" and jane["language"] == "fr"
    assert "&lt;script&gt;" in jane["content_html"] and "<script>" not in jane["content_html"]
    assert jane["authors"] == [{"name": "Jane Doe (@jane@fake.social on the fediverse)"}]


def test_images_are_resized_upright_and_without_metadata(archive, capsys, tmp_path):
    with archive.workspace() as ws:
        source = next(ws.store.root.rglob("*.jpg"))
    with Image.open(source) as original:
        assert original.getexif()  # the stored photos carry EXIF (camera, GPS): the site's copies must not
    site = tmp_path / "public"
    export(archive, capsys, site)
    files = sorted((site / "img").iterdir())
    assert len(files) == 6  # three photos, two sizes each
    sizes = {}
    for path in files:
        with Image.open(path) as img:
            assert img.format == "JPEG"
            assert not img.getexif() and "exif" not in img.info and "icc_profile" not in img.info
            assert [marker for marker, _ in img.applist] == ["APP0"]  # JFIF only: no APP1 (EXIF, XMP), no APP2 (ICC)
            assert "comment" not in img.info
            sizes[path.name.rsplit("-", 1)[1]] = sizes.get(path.name.rsplit("-", 1)[1], []) + [img.size]
    assert sorted(sizes["1600.jpg"]) == [(700, 900), (900, 700), (1200, 1600)]  # never enlarged; 2000x1500 turned
    assert all(max(size) == 480 for size in sizes["480.jpg"])


def test_second_export_reencodes_nothing_and_a_new_photo_is_encoded_once(archive, capsys, tmp_path):
    site = tmp_path / "public"
    _, first, _ = export(archive, capsys, site)
    assert (first["encoded"], first["reused"]) == (6, 0)
    inodes = {p.name: p.stat().st_ino for p in (site / "img").iterdir()}
    _, second, _ = export(archive, capsys, site)
    assert (second["encoded"], second["reused"]) == (0, 6)
    assert {p.name: p.stat().st_ino for p in (site / "img").iterdir()} == inodes  # the very same files
    archive.add("new", status=Status.PUBLISHED, author=JANE, published=NOW, jpegs=[images.jpeg(9, size=(800, 600))],
                text="fresh")
    _, third, _ = export(archive, capsys, site)
    assert (third["items"], third["encoded"], third["reused"]) == (3, 2, 6)
    assert not list(tmp_path.glob("public.*"))  # no working or old folders left beside it


def test_limit_keeps_the_newest(archive, capsys, tmp_path):
    site = tmp_path / "public"
    code, report, _ = export(archive, capsys, site, "--limit", "2")  # the newest is the broken one
    assert code == 1 and report["items"] == 1
    assert [p.name for p in (site / "items").iterdir()] == [f"{archive.ids['dirk']}.html"]


def test_a_folder_that_is_not_an_export_is_refused(archive, capsys, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    code, out, err = archive.wlb(capsys, "export-site", str(mine))
    assert code == 2 and out == ""
    assert err.strip().startswith("error:") and "not a site exported by wlb" in err and len(err.strip().splitlines()) == 1
    assert (mine / "thesis.txt").read_text() == "precious" and not list(tmp_path.glob("mine.*"))
    (tmp_path / "file").write_text("x")
    code, _, err = archive.wlb(capsys, "export-site", str(tmp_path / "file"))
    assert code == 2 and "is not a folder" in err
    code, _, err = archive.wlb(capsys, "export-site", str(tmp_path / "site"), "--base-url", "javascript:alert(1)")
    assert code == 2 and "--base-url" in err and len(err.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert archive.wlb(capsys, "export-site", str(empty))[0] == 1  # an empty folder is fine (one item left out)
    assert (empty / builder.MARKER).is_file()


def test_a_failed_build_leaves_the_previous_site_untouched(archive, capsys, tmp_path, monkeypatch):
    site = tmp_path / "public"
    export(archive, capsys, site)
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(builder, "json_feed", full_disk)
    with archive.workspace() as ws, pytest.raises(builder.WlbError, match="No space left on device"):
        export_site(ws, site, base_url=BASE)
    assert {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob("public.*"))


def test_a_killed_exports_working_folder_is_cleaned_up(archive, capsys, tmp_path):
    site = tmp_path / "public"
    dead = tmp_path / "public.tmp-999999999-abcd"  # no such process
    dead.mkdir()
    (dead / builder.MARKER).write_text("")
    someone_elses = tmp_path / "public.tmp-1-x"  # not ours: no marker
    someone_elses.mkdir()
    (someone_elses / "notes.txt").write_text("keep")
    export(archive, capsys, site)
    assert not dead.exists() and (someone_elses / "notes.txt").exists()


def test_a_leftover_folder_whose_pid_is_not_a_number_is_left_alone(archive, capsys, tmp_path):
    site = tmp_path / "public"
    odd = tmp_path / "public.tmp-²-abcd"  # str.isdigit() says yes, int() cannot read it
    odd.mkdir()
    _, report, err = export(archive, capsys, site)
    assert "unexpected" not in err and report["items"] > 0
    assert odd.is_dir() and (site / builder.MARKER).is_file()


def test_an_empty_archive_exports_a_valid_empty_site(tmp_path, capsys, archive):
    with archive.workspace() as ws, ws.db.session() as session:
        for post in session.exec(select(Post)):
            post.status = Status.REJECTED
            session.add(post)
        session.commit()
    site = tmp_path / "public"
    code, out, err = archive.wlb(capsys, "export-site", str(site))
    assert code == 0, err
    assert "exported 0 reposts" in out and "--base-url" in out  # relative feed links are pointed out
    for page in pages(site):
        parse(page)
    assert not feedparser.parse((site / "feed.xml").read_bytes()).entries
    assert json.loads((site / "feed.json").read_text())["items"] == []


def test_swap_works_without_an_atomic_exchange(tmp_path, monkeypatch):
    old, new = tmp_path / "site", tmp_path / "site.tmp-1-a"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    monkeypatch.setattr(builder, "_exchange", lambda a, b: False)
    builder.swap(new, old)
    assert (old / "a").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    assert os.path.isdir(old)


def test_a_sensitive_photo_stays_behind_its_warning(archive, capsys, tmp_path):
    archive.add("cw", status=Status.PUBLISHED, author=JANE, published=NOW, jpegs=[images.jpeg(10, size=(600, 600))],
                text="Night out", sensitive=True, spoiler_text="flash <b>lights</b>")
    site = tmp_path / "public"
    export(archive, capsys, site)
    item = archive.ids["cw"]
    wall = parse(site / "index.html")
    card = next(li for li in wall.iter(f"{NS}li") if li.find(f"{NS}a").get("href") == f"items/{item}.html")
    assert card.get("class") == "card sensitive"  # blurred by the stylesheet
    assert "".join(card.itertext()).count("flash <b>lights</b>") == 1
    page = parse(site / "items" / f"{item}.html")
    details = next(page.iter(f"{NS}details"))
    assert details.find(f"{NS}summary").text == "flash <b>lights</b> (show)" and details.find(f".//{NS}img") is not None
    (entry,) = [e for e in feedparser.parse((site / "feed.xml").read_bytes()).entries if e.link.endswith(f"/{item}.html")]
    assert "media_content" not in entry and "<img" not in entry.description and "see the photo" in entry.description
    (json_item,) = [i for i in json.loads((site / "feed.json").read_text())["items"] if i["id"].endswith(f"/{item}.html")]
    assert "image" not in json_item and "<img" not in json_item["content_html"]


def test_one_bad_image_costs_one_item(archive, capsys, tmp_path):
    broken = archive.add("broken", status=Status.PUBLISHED, author=JANE, published=NOW, text="cut short",
                         jpegs=[images.truncated(images.jpeg(11, size=(600, 600)))])
    gone = archive.add("gone", status=Status.PUBLISHED, author=JANE, published=NOW, text="deleted by hand",
                       jpegs=[images.jpeg(12, size=(600, 600))], path="ab/cd/nothing-here.jpg")
    site = tmp_path / "public"
    code, out, _ = archive.wlb(capsys, "export-site", str(site))
    assert code == 1
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert any(f"#{broken} left out: image {archive.media['broken'][0]}: truncated or corrupt image" in w for w in warnings)
    assert f"warning: #{gone} left out: image {archive.media['gone'][0]}: its file is missing from the media folder" in warnings
    assert len(warnings) == 3 and "exported 2 reposts" in out  # jane and dirk are still there
    assert sorted(p.stem for p in (site / "items").iterdir()) == sorted(str(archive.ids[n]) for n in ("jane", "dirk"))
