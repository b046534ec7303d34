"""Images by media id only, from inside the media store, with caching headers; the security headers of every page."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from core.models import Media


def first_media(web) -> dict:
    return web.item(web.first)["media"][0]


def test_the_original_is_served_with_its_sha256_as_etag_and_304_on_a_match(web):
    client = web.signed_in()
    media = first_media(web)
    answer = client.get(f"/media/{media['id']}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert answer.content == Path(media["path"]).read_bytes()
    assert answer.headers["etag"] == f'"{hashlib.sha256(answer.content).hexdigest()}"'
    assert answer.headers["cache-control"].startswith("private, max-age=")
    assert answer.headers["x-content-type-options"] == "nosniff"
    again = client.get(f"/media/{media['id']}", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == answer.headers["etag"]
    assert client.get(f"/media/{media['id']}", headers={"If-None-Match": '"other"'}).status_code == 200


def test_thumbnails_are_small_jpegs_cached_under_data_dir(web):
    client = web.signed_in()
    media = first_media(web)
    answer = client.get(f"/thumb/{media['id']}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(answer.content))
    assert img.format == "JPEG" and max(img.size) == 480
    cached = list((Path(web.ws.settings.data_dir) / "thumbs").rglob(f"{media['sha256']}-480.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == answer.content
    assert client.get(f"/thumb/{media['id']}", headers={"If-None-Match": answer.headers["etag"]}).status_code == 304
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("url", ["/media/..%2F..%2Fconfig.toml", "/media/%2Fetc%2Fpasswd", "/thumb/1%2F..%2F..",
                                 "/media/-1", "/media/99999", "/static/..%2F..%2Faccounts.py", "/media/1.jpg"])
def test_urls_name_ids_never_paths(web, url):
    client = web.signed_in()
    answer = client.get(url)
    assert answer.status_code == 404, url
    assert b"[channels" not in answer.content and b"root:" not in answer.content


def _point(web, media_id: int, path: str) -> None:
    with web.ws.db.session() as session:
        row = session.get(Media, media_id)
        row.path = path
        session.add(row)
        session.commit()


def test_a_row_whose_path_leaves_the_media_store_is_refused(web, tmp_path):
    client = web.signed_in()
    media = first_media(web)
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(Path(media["path"]).read_bytes())
    store = Path(web.ws.store.root)
    link = store / "ab" / "link.jpg"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    relative_out = Path("..", *(".." for _ in store.resolve().parts[1:-1])) / outside.relative_to("/")
    for path in (str(outside), "../secret.jpg", str(relative_out), "ab/link.jpg", ".", ""):
        _point(web, media["id"], path)
        for kind in ("media", "thumb"):
            assert client.get(f"/{kind}/{media['id']}").status_code == 404, (kind, path)


def test_every_page_carries_a_self_only_content_security_policy(web):
    client = web.signed_in()
    for url in ("/", f"/items/{web.first}", "/login", "/static/htmx.min.js"):
        answer = client.get(url)
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe" not in policy, url
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/htmx.min.js").text.startswith("/* htmx 2.0.11")
