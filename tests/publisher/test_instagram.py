"""Instagram publisher against the fake Graph API, which fetches each photo from a real local web server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.errors import NotCreated, PlatformError
from core.http import Http
from core.public_media import PublicFolder
from core.settings import NetworkSettings
from platforms.instagram import InstagramAPI
from publisher.base import PublishRequest, UploadImage
from publisher.instagram import MAX_WIDTH, InstagramPublisher, fit_for_instagram
from tests.fakes import images
from tests.fakes.instagram import IG_USER_ID, TOKEN, FakeInstagram, StaticFolder, error

ORIGINAL = "https://www.instagram.com/p/Cabc123/"


@pytest.fixture
def ig():
    with FakeInstagram() as fake:
        yield fake


@pytest.fixture
def web(tmp_path):
    with StaticFolder(tmp_path / "public") as server:
        yield server


def publisher(ig: FakeInstagram, web: StaticFolder, sleeps: list | None = None) -> InstagramPublisher:
    http = Http(NetworkSettings(allow_private=[ig.origin]), sleep=lambda s: None)
    api = InstagramAPI(http, ig.graph_url, TOKEN, IG_USER_ID, token_env="WLB_IG_TOKEN")
    return InstagramPublisher(api, PublicFolder(web.folder, web.base_url),
                              sleep=(sleeps.append if sleeps is not None else lambda s: None), max_polls=5)


def request(n: int = 1, *, saved: str | None = None, saves: list | None = None, size=(1080, 1350)) -> PublishRequest:
    shots = [UploadImage(images.jpeg(i + 1, size=size), "image/jpeg", f"alt {i + 1}") for i in range(n)]
    return PublishRequest(text=f"Grand-Place\n\n📷 @jane.doe · {ORIGINAL}", images=shots,
                          idempotency_key="k" * 40, original_url=ORIGINAL, saved=saved,
                          save=saves.append if saves is not None else None)


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


@pytest.mark.parametrize(("size", "expected"), [
    ((1000, 2000), (1440, 1800)),  # too tall: padded to 4:5, then 1440 wide
    ((3000, 1000), (1440, 754)),  # too wide: padded to 1.91:1
    ((1080, 1350), (1080, 1350)),  # already fine: untouched in size
    ((400, 300), (400, 300)),
])
def test_photos_are_padded_into_instagrams_ratios_never_cropped(size, expected):
    out = fit_for_instagram(images.jpeg(3, size=size))
    width, height = size_of(out)
    assert (width, height) == expected and width <= MAX_WIDTH and 0.8 <= width / height <= 1.91
    with Image.open(io.BytesIO(out)) as img:
        assert img.format == "JPEG" and not img.getexif()
        if size == (1000, 2000):  # the photo keeps its full height; the bands beside it are padding
            assert img.convert("RGB").getpixel((5, 900)) == (255, 255, 255)


def test_orientation_applied_and_exif_gone():
    img = Image.new("RGB", (800, 600), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "Camera maker"
    raw = io.BytesIO()
    img.save(raw, "JPEG", exif=exif)
    out = fit_for_instagram(raw.getvalue())
    with Image.open(io.BytesIO(out)) as shown:
        assert shown.size == (640, 800) and not shown.getexif()  # upright 600x800, padded to 4:5


def test_one_photo_quota_then_container_then_poll_then_publish_then_the_copy_is_removed(ig, web):
    sleeps, saves = [], []
    published = publisher(ig, web, sleeps).publish(request(saves=saves))
    paths = [(r.method, r.path.removeprefix("/v27.0")) for r in ig.requests if r.path.startswith("/v27.0")]
    (container,) = ig.containers
    assert paths == [("GET", f"/{IG_USER_ID}/content_publishing_limit"), ("POST", f"/{IG_USER_ID}/media"),
                     ("GET", f"/{container}"), ("GET", f"/{container}"),
                     ("GET", f"/{IG_USER_ID}/content_publishing_limit"), ("POST", f"/{IG_USER_ID}/media_publish"),
                     ("GET", f"/{ig.own[0]['id']}")]
    create = ig.calls("/media", "POST")[0].form
    url = f"{web.base_url}/{'k' * 40}-1.jpg"
    assert create == {"image_url": [url], "caption": [request().text], "alt_text": ["alt 1"]}
    assert ig.fetched[0][:2] == (url, 200), "Instagram fetched the photo from our public folder"
    assert size_of(ig.fetched[0][2]) == (1080, 1350)
    assert ig.calls("/media_publish", "POST")[0].form == {"creation_id": [container]}
    assert saves == [f"container:{container}"] and sleeps == [3.0]
    assert list(web.folder.iterdir()) == [], "the public copy is removed once published"
    assert (published.remote_id, published.url) == (ig.own[0]["id"], ig.own[0]["permalink"])
    assert ig.quota_usage == 1


def test_several_photos_are_one_carousel(ig, web):
    publisher(ig, web).publish(request(3))
    creates = [r.form for r in ig.calls("/media", "POST")]
    children = [cid for cid, c in ig.containers.items() if c.get("item")]
    assert [c.get("is_carousel_item") for c in creates[:3]] == [["true"]] * 3
    assert creates[3] == {"media_type": ["CAROUSEL"], "children": [",".join(children)], "caption": [request().text]}
    assert len(ig.calls("/media_publish", "POST")) == 1 and len(ig.own) == 1


def test_a_used_up_quota_refuses_before_anything_is_put_or_created(ig, web):
    ig.quota_usage = ig.quota_total = 25
    with pytest.raises(NotCreated, match=r"publishing limit is used up \(25 of 25 posts in the last 24 h\)"):
        publisher(ig, web).publish(request())
    assert not ig.calls("/media", "POST") and list(web.folder.iterdir()) == []


def test_a_crash_before_media_publish_reuses_the_saved_container(ig, web):
    class Killed(Exception):
        pass

    def kill(progress: str) -> None:
        saved.append(progress)
        raise Killed  # the process died right after committing the container id

    saved: list[str] = []
    req = request()
    with pytest.raises(Killed):
        publisher(ig, web).publish(PublishRequest(**{**req.__dict__, "save": kill}))
    rerun = PublishRequest(**{**req.__dict__, "saved": saved[0]})
    pub = publisher(ig, web)
    assert pub.find_existing(rerun) is None
    pub.publish(rerun)
    assert len(ig.calls("/media", "POST")) == 1, "no second container"
    assert len(ig.own) == 1 and ig.calls("/media_publish", "POST")[0].form["creation_id"] == [saved[0][10:]]


def test_a_lost_answer_to_media_publish_is_found_by_the_container_status_and_our_caption(ig, web):
    saves: list[str] = []
    first = publisher(ig, web).publish(request(saves=saves))
    found = publisher(ig, web).find_existing(request(saved=saves[0]))
    assert (found.remote_id, found.url) == (first.remote_id, first.url)
    again = publisher(ig, web).publish(request(saved=saves[0]))
    assert again.remote_id == first.remote_id and len(ig.own) == 1, "published once"


def test_without_a_saved_container_our_recent_caption_still_finds_it(ig, web):
    first = publisher(ig, web).publish(request())
    assert publisher(ig, web).find_existing(request()).remote_id == first.remote_id
    other = PublishRequest(**{**request().__dict__, "original_url": "https://www.instagram.com/p/Zzz/"})
    assert publisher(ig, web).find_existing(other) is None


def test_a_container_in_error_is_one_line_and_nothing_was_published(ig, web):
    pub = publisher(ig, web)
    original = ig._container

    def broken(cid):
        ig.containers[cid]["status"] = "ERROR"
        return original(cid)

    ig._container = broken
    with pytest.raises(NotCreated, match=r"could not process the photo \(container \d+, status ERROR\)"):
        pub.publish(request())
    assert not ig.own


def test_a_graph_error_on_create_names_the_codes(ig, web):
    ig.fail_next("POST", f"/{IG_USER_ID}/media", error(36000, "The image size is too large.", subcode=2207004,
                                                        user_msg="The image is too large to download."))
    with pytest.raises(PlatformError) as caught:
        publisher(ig, web).publish(request())
    assert isinstance(caught.value, NotCreated)
    assert str(caught.value) == (f"Instagram refused POST /{IG_USER_ID}/media: The image is too large to download. "
                                 f"(code 36000/2207004, fbtrace_id AbCdEfGh123)")


@pytest.mark.parametrize(("extra", "message"), [
    ("", "needs public storage Instagram can fetch from"),
    ('public_media_dir = "p"', "public_media_dir and public_media_base_url go together"),
    ('public_media_dir = "p"\npublic_media_base_url = "http://10.0.0.5/wlb"', "must be https"),
    ('public_media_dir = "p"\npublic_media_base_url = "https://x.example/w"\ns3_bucket = "b"', "choose one"),
])
def test_config_refuses_a_publishing_channel_without_usable_public_storage(tmp_path, extra, message):
    from app.config import load_settings
    from core.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text(f'[channels.ig]\nkind = "instagram"\nig_user_id = "1"\npublish = true\n{extra}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, check_secrets=False)
    path.write_text('[network]\nallow_private = ["http://10.0.0.5"]\n[channels.ig]\nkind = "instagram"\n'
                    'ig_user_id = "1"\npublish = true\npublic_media_dir = "p"\n'
                    'public_media_base_url = "http://10.0.0.5/wlb"\n', encoding="utf-8")
    assert load_settings(path, check_secrets=False).channels["ig"].public_media_base_url == "http://10.0.0.5/wlb"


def test_a_reviewers_at_handle_names_an_instagram_account_only_for_an_instagram_item():
    from core.credit import parse_credit
    from publisher.credit import CreditAuthor, credit_line, reviewer_credit

    given = reviewer_credit("@marc.dubois", platform="instagram", network="instagram")
    assert given.author == CreditAuthor(network="instagram", handle="marc.dubois")
    assert (given.line("instagram"), given.line("fediverse")) == ("@marc.dubois", "marc.dubois on Instagram")
    assert reviewer_credit("@lea@pixel.example", platform="instagram").author.network == "fediverse"
    with pytest.raises(ValueError, match="not a fediverse handle"):
        parse_credit("@marc.dubois", platform="mastodon")
    with pytest.raises(ValueError, match="or '@user' for an account on instagram"):
        parse_credit("@marc!", platform="instagram")
    tagged = CreditAuthor(network="instagram", handle="jane.doe", name="jane.doe")
    assert (credit_line(tagged, "instagram"), credit_line(tagged, "bluesky")) == ("@jane.doe", "jane.doe on Instagram")


def test_a_caption_keeps_at_most_30_hashtags_the_last_ones():
    from publisher.instagram import within_hashtag_limit

    text = " ".join(f"#t{n}" for n in range(35)) + "\n\n📷 @jane.doe · https://x.example/p#frag\n#welovebrussels"
    out = within_hashtag_limit(text)
    assert out.startswith("t0 t1 t2 t3 t4 t5 #t6") and out.endswith("https://x.example/p#frag\n#welovebrussels")
    assert within_hashtag_limit("#a #b") == "#a #b"


def test_an_expired_saved_container_is_made_anew(ig, web):
    saves: list[str] = []
    pub = publisher(ig, web)
    original = ig._publish
    ig._publish = lambda q: error(1, "Please retry", status=400, transient=True)  # not published this time
    with pytest.raises(PlatformError):
        pub.publish(request(saves=saves))
    ig._publish = original
    ig.containers[saves[0][len("container:"):]]["status"] = "EXPIRED"  # a day went by
    assert pub.find_existing(request(saved=saves[0])) is None
    again: list[str] = []
    published = pub.publish(request(saved=saves[0], saves=again))
    assert again and again[0] != saves[0] and published.remote_id == ig.own[0]["id"] and len(ig.own) == 1


def test_an_older_repost_of_the_same_original_or_a_longer_link_is_not_taken_for_this_attempt(ig, web):
    # republish_months: our repost of the same original months ago is not what an interrupted attempt made,
    # nor is a post linking a longer URL that merely starts with the original's.
    from datetime import timedelta

    from tests.fakes.instagram import stamp
    ig.own.append({"id": "17900000000000001", "caption": f"old\n\n📷 @jane.doe · {ORIGINAL}",
                   "timestamp": stamp(ig.now - timedelta(days=200)), "permalink": "https://www.instagram.com/p/Wold/"})
    ig.own.append({"id": "17900000000000002", "caption": f"other · {ORIGINAL}xyz/",
                   "timestamp": stamp(ig.now), "permalink": "https://www.instagram.com/p/Wlong/"})
    retry = PublishRequest(**{**request().__dict__, "planned_at": ig.now})
    assert publisher(ig, web).find_existing(retry) is None
    first = publisher(ig, web).publish(retry)
    assert publisher(ig, web).find_existing(retry).remote_id == first.remote_id


def test_a_post_marked_sensitive_is_refused_before_anything_is_put_or_created(ig, web):
    # Instagram has no content warning to set: the photo would show to everyone unhidden (as on a Facebook Page).
    with pytest.raises(NotCreated, match="sensitive"):
        publisher(ig, web).publish(PublishRequest(**{**request().__dict__, "sensitive": True}))
    assert not ig.calls("/media", "POST") and list(web.folder.iterdir()) == [] and ig.own == []
