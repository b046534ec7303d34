"""A GET answered with JSON cut short is asked again (issue 7); a POST never is, whatever its answer's body.

Each client runs against its local fake over a real connection; the transport in between cuts the first
matching answer's body in half, as a proxy or a restarting server does.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from collector.bluesky import BlueskyCollector
from platforms.bluesky import BlueskyAPI, SessionFile, session_path
from collector.flickr import FlickrCollector
from platforms.flickr import FlickrAPI
from collector.mastodon import MastodonCollector
from platforms.mastodon import MastodonAPI
from collector.rss import FeedCollector
from core.errors import PlatformError
from core.http import Http
from core.settings import NetworkSettings
from tests.collector.test_bluesky_origin import claim_for as bluesky_claim
from tests.collector.test_rss_verify import claims as feed_claims
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.feeds import FakeFeeds
from tests.fakes.flickr import API_KEY, FakeFlickr
from tests.fakes.mastodon import FakeMastodon

TAG = "welovebrussels"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PHOTO = images.jpeg(1, size=(64, 48))


class CutOnce(httpx.BaseTransport):
    """A real connection to the fake; the first 2xx answer to `method path` reaches the client with half its body."""

    def __init__(self, method: str, path: str):
        self.inner = httpx.HTTPTransport()
        self.method, self.path = method, path
        self.cut: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        asked = (request.method, request.url.path.rstrip("/"))
        if self.cut or asked != (self.method, self.path.rstrip("/")) or response.status_code >= 300:
            return response
        body = response.read()
        response.close()
        self.cut.append(request.url)
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body[:len(body) // 2])

    def close(self) -> None:
        self.inner.close()


def http_for(fake, cut: CutOnce, waits: list[float]) -> Http:
    return Http(NetworkSettings(allow_private=[fake.origin], retries=2), transport=cut, sleep=waits.append)


def asked_twice(requests: list, path: str) -> None:
    """The first two requests to `path` are the same GET: the cut answer's request, sent again."""
    first, second = [r for r in requests if r.path == path][:2]
    assert (first.method, second.method) == ("GET", "GET")
    assert first.query == second.query


def test_mastodon_tag_page_cut_short_is_asked_again_and_collected():
    waits: list[float] = []
    with FakeMastodon() as fake:
        status = fake.add_status(images=[PHOTO], created_at=T0)
        path = f"/api/v1/timelines/tag/{TAG}"
        cut = CutOnce("GET", path)
        collector = MastodonCollector(MastodonAPI(http_for(fake, cut, waits), fake.base_url, None))
        posts = [p for page in collector.pages(TAG, None) for p in page.posts]
    assert [p.key for p in posts] == [status["uri"]]
    assert len(cut.cut) == 1 and waits == [1.0], "one retry, after the first backoff"
    asked_twice(fake.requests, path)


def test_mastodon_post_whose_answer_is_cut_is_not_sent_again():
    waits: list[float] = []
    with FakeMastodon(token="t0ken") as fake:
        cut = CutOnce("POST", "/api/v1/statuses")
        api = MastodonAPI(http_for(fake, cut, waits), fake.base_url, "t0ken", token_env="WLB_PUB_TOKEN")
        with pytest.raises(PlatformError, match="not JSON"):
            api.post_status({"status": "Grand-Place #welovebrussels", "visibility": "public"}, "key-1")
    assert [r.method for r in fake.requests if r.path == "/api/v1/statuses"] == ["POST"]
    assert len(fake.published) == 1 and waits == [], "the server posted once; nobody asked it twice"


def test_flickr_search_cut_short_is_asked_again_and_collected():
    waits: list[float] = []
    with FakeFlickr() as fake:
        fake.add_photo(PHOTO, uploaded=T0, title="Atomium")
        cut = CutOnce("GET", httpx.URL(fake.rest_url).path)
        api = FlickrAPI(http_for(fake, cut, waits), fake.rest_url, API_KEY, key_env="WLB_FLICKR_KEY")
        posts = [p for page in FlickrCollector(api, per_page=3).pages(TAG, None) for p in page.posts]
        calls = fake.calls()
    assert [p.title for p in posts] == ["Atomium"]
    assert len(cut.cut) == 1 and waits == [1.0]
    first, second = calls[:2]
    assert first.query == second.query and first.query["method"] == ["flickr.photos.search"]


def bluesky_api(fake: FakeBluesky, http: Http, tmp_path) -> BlueskyAPI:
    path = session_path(tmp_path, fake.handle, fake.base_url)
    return BlueskyAPI(http, fake.base_url, fake.handle, fake.password, password_env="WLB_BSKY_PASSWORD",
                      session_file=SessionFile(path, fake.handle, fake.base_url))


def test_bluesky_search_cut_short_is_asked_again_and_collected(tmp_path):
    waits: list[float] = []
    with FakeBluesky() as fake:
        post = fake.add_post(text="Atomium #welovebrussels", images=[PHOTO], created_at=T0)
        cut = CutOnce("GET", "/xrpc/app.bsky.feed.searchPosts")
        collector = BlueskyCollector(bluesky_api(fake, http_for(fake, cut, waits), tmp_path), plc_url=fake.base_url)
        posts = [p for page in collector.pages(TAG, None) for p in page.posts]
        searches = fake.calls("app.bsky.feed.searchPosts")
    assert [p.key for p in posts] == [post["uri"]]
    assert len(cut.cut) == 1 and waits == [1.0]
    assert searches[0].query == searches[1].query and searches[0].method == searches[1].method == "GET"


def test_bluesky_login_whose_answer_is_cut_is_not_sent_again(tmp_path):
    waits: list[float] = []
    with FakeBluesky() as fake:
        cut = CutOnce("POST", "/xrpc/com.atproto.server.createSession")
        api = bluesky_api(fake, http_for(fake, cut, waits), tmp_path)
        with pytest.raises(PlatformError, match="broken JSON"):
            api.check()
        assert len(fake.calls("com.atproto.server.createSession")) == 1 and waits == []


def test_bluesky_origin_record_cut_short_is_asked_again(tmp_path):
    waits: list[float] = []
    with FakeBluesky() as fake:
        post = fake.add_post(images=[PHOTO], created_at=T0)
        cut = CutOnce("GET", "/xrpc/com.atproto.repo.getRecord")
        collector = BlueskyCollector(bluesky_api(fake, http_for(fake, cut, waits), tmp_path), plc_url=fake.base_url)
        check = collector.verify(bluesky_claim(post))
        lookups = fake.calls("com.atproto.repo.getRecord")
    assert check.verified and check.problem is None
    assert len(cut.cut) == 1 and waits == [1.0]
    assert len(lookups) == 2 and lookups[0].query == lookups[1].query


def test_feed_author_lookup_cut_short_is_asked_again():
    waits: list[float] = []
    with FakeFeeds() as fake:
        claim = feed_claims(fake)["anna@127.0.0.1"]
        fake.add_status("113500000000000001", "anna", (claim.media_urls[0],))
        path = "/api/v1/statuses/113500000000000001"
        cut = CutOnce("GET", path)
        reader = FeedCollector(http_for(fake, cut, waits), f"{fake.base_url}/feeds/mastodon_tag.rss", hashtags=None,
                               unit_tag=TAG, max_bytes=1_000_000)
        check = reader.verify(claim)
    assert check.verified and check.image_urls == claim.media_urls
    assert len(cut.cut) == 1 and waits == [1.0]
    asked_twice(fake.requests, path)
