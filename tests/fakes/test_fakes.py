"""Self-tests of the fake Mastodon/Pixelfed server and the test image generator."""

from __future__ import annotations

import io
import itertools
import struct

import httpx
import imagehash
import pytest
from PIL import Image

from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon

TOKEN = "s3cret"


def _texts(response: httpx.Response) -> list[str]:
    return [s["content"].split(" <a ")[0].removeprefix("<p>") for s in response.json()]


def test_tag_timeline_pages_backwards_by_max_id_and_forwards_by_min_id():
    with FakeMastodon() as fake, httpx.Client(base_url=fake.base_url) as client:
        ids = [fake.add_status(text=f"post {n}")["id"] for n in range(5)]
        fake.add_status(tag="elsewhere", text="other tag")
        url = "/api/v1/timelines/tag/WeLoveBrussels"
        first = client.get(url, params={"limit": 2})
        older = client.get(url, params={"limit": 2, "max_id": first.json()[-1]["id"]})
        newer = client.get(url, params={"limit": 2, "min_id": ids[0]})
    assert _texts(first) == ["post 4", "post 3"]
    assert _texts(older) == ["post 2", "post 1"]
    assert _texts(newer) == ["post 2", "post 1"]  # immediately above min_id, still newest first
    assert [int(s["id"]) for s in first.json()] == sorted(map(int, ids[3:]), reverse=True)
    assert 'rel="next"' in first.headers["link"] and f"max_id={ids[3]}" in first.headers["link"]
    assert f"min_id={ids[4]}>" in first.headers["link"]
    assert first.headers["x-ratelimit-limit"] == "300"
    assert int(older.headers["x-ratelimit-remaining"]) < int(first.headers["x-ratelimit-remaining"])


def test_pixelfed_timeline_needs_token_has_no_link_and_defaults_to_media_only():
    with FakeMastodon(flavor="pixelfed", token=TOKEN) as fake, httpx.Client(base_url=fake.base_url) as client:
        photo = fake.add_status(text="with photo", images=[images.jpeg(1, (64, 80))])
        fake.add_status(text="text only")
        anonymous = client.get("/api/v1/timelines/tag/welovebrussels")
        authed = client.get("/api/v1/timelines/tag/welovebrussels", params={"since_id": photo["id"]},
                            headers={"Authorization": f"Bearer {TOKEN}"})
        served = client.get(authed.json()[0]["media_attachments"][0]["url"])
    assert anonymous.status_code == 403
    assert authed.status_code == 200 and "link" not in authed.headers
    assert [s["id"] for s in authed.json()] == [photo["id"]]  # since_id ignored, text-only left out
    assert served.headers["content-type"] == "image/jpeg" and served.content == images.jpeg(1, (64, 80))


@pytest.mark.parametrize("flavor, second_status", [("mastodon", 200), ("pixelfed", 400)])
def test_idempotency_key_repeat(flavor, second_status):
    auth = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "item-7"}
    with FakeMastodon(flavor=flavor, token=TOKEN) as fake, httpx.Client(base_url=fake.base_url) as client:
        media_id = client.post("/api/v2/media", headers=auth, files={"file": ("a.jpg", images.jpeg(2, (64, 64)))},
                               data={"description": "alt text"}).json()["id"]
        body = {"status": "Hello #welovebrussels", "media_ids[]": [media_id]}
        first = client.post("/api/v1/statuses", headers=auth, data=body)
        second = client.post("/api/v1/statuses", headers=auth, data=body)
    assert first.status_code == 200 and len(fake.published) == 1
    assert second.status_code == second_status
    if flavor == "mastodon":
        assert second.json()["id"] == first.json()["id"]
    else:
        assert second.json() == {"error": "Duplicate idempotency key."}


def test_multipart_upload_is_recorded_and_attached_to_the_status():
    data = images.jpeg(3, (120, 90))
    with FakeMastodon(token=TOKEN) as fake, httpx.Client(base_url=fake.base_url) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        media = client.post("/api/v2/media", headers=auth, files={"file": ("b.jpg", data, "image/jpeg")},
                            data={"description": "Grand-Place", "focus": "0.1,-0.2"}).json()
        status = client.post("/api/v1/statuses", headers=auth,
                             data={"status": "x", "media_ids[]": [media["id"]]}).json()
        long_text = client.post("/api/v1/statuses", headers=auth, data={"status": "y" * 501})
        url_text = client.post("/api/v1/statuses", headers=auth, data={"status": "https://e.example/" + "z" * 600})
    upload = fake.requests[0]
    assert upload.files["file"] == ("b.jpg", "image/jpeg", data) and upload.form["description"] == ["Grand-Place"]
    assert fake.uploads[0]["data"] == data and fake.uploads[0]["description"] == "Grand-Place"
    assert media["meta"]["original"]["width"] == 120 and media["meta"]["focus"] == {"x": 0.1, "y": -0.2}
    assert [m["id"] for m in status["media_attachments"]] == [media["id"]]
    assert fake.requests[1].form["media_ids[]"] == [media["id"]]
    assert long_text.status_code == 422 and "character limit of 500" in long_text.json()["error"]
    assert url_text.status_code == 200  # a URL counts as 23 characters


def test_photos_hash_apart_and_survive_reencoding():
    hashes = [imagehash.phash(images.photo(seed, (270, 338))) for seed in range(8)]
    original = images.jpeg(11, (540, 675))
    copy = images.reencoded(original)
    near = imagehash.phash(Image.open(io.BytesIO(original))) - imagehash.phash(Image.open(io.BytesIO(copy)))
    assert min(a - b for a, b in itertools.combinations(hashes, 2)) > 20
    assert near <= 4 and Image.open(io.BytesIO(copy)).size == (270, 338)


def test_bomb_png_is_small_but_declares_a_huge_image():
    bomb = images.bomb_png()
    assert len(bomb) < 200_000
    assert struct.unpack(">II", bomb[16:24]) == (30000, 30000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
