"""Mastodon paging against the fake instance over HTTP: capped pages, rows dropped after the limit, Link headers."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from collector.mastodon import MastodonCollector
from platforms.mastodon import MastodonAPI
from core.http import Http
from core.settings import NetworkSettings
from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon

TAG = "welovebrussels"
PHOTO = images.jpeg(1, (64, 64))


@pytest.fixture
def capped():
    with FakeMastodon(page_cap=20) as fake:  # an instance that never serves more than 20 per page
        yield fake


def make(fake: FakeMastodon, *, page_size: int = 40, backfill_pages: int = 5) -> MastodonCollector:
    http = Http(NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None)
    return MastodonCollector(MastodonAPI(http, fake.base_url, None), page_size=page_size, backfill_pages=backfill_pages)


def add(fake: FakeMastodon, n: int, **kwargs) -> list[dict]:
    return [fake.add_status(images=[PHOTO], text=f"post {i}", acct=f"a{i % 7}", **kwargs) for i in range(n)]


def run(fake: FakeMastodon, store: Counter, watermark: str | None, stop_after: int | None = None, **kwargs) -> str | None:
    """One collect run: count every post handed over, keep the last committed watermark; die after `stop_after` pages."""
    for n, page in enumerate(make(fake, **kwargs).pages(TAG, watermark), 1):
        store.update(p.key for p in page.posts)
        watermark = page.watermark or watermark
        if stop_after is not None and n >= stop_after:
            break
    return watermark


def timeline(fake: FakeMastodon) -> list:
    return [r for r in fake.requests if r.path.startswith("/api/v1/timelines/tag/")]


def test_a_first_run_on_an_instance_capping_at_20_collects_all_60(capped):
    posts = add(capped, 60)
    store = Counter()
    run(capped, store, None)
    assert set(store) == {p["uri"] for p in posts} and set(store.values()) == {1}
    sent = [{k: v[0] for k, v in r.query.items()} for r in timeline(capped)]
    assert sent[0] == {"limit": "40"}
    assert [s.get("max_id") for s in sent[1:]] == [posts[40]["id"], posts[20]["id"], posts[0]["id"]]


def test_forward_paging_after_100_new_posts_collects_them_all(capped):
    add(capped, 5)
    store = Counter()
    mark = run(capped, store, None)
    new = add(capped, 100)
    before = len(timeline(capped))
    run(capped, store, mark)
    assert {p["uri"] for p in new} <= set(store) and set(store.values()) == {1}
    assert len(store) == 105
    forward = timeline(capped)[before:]
    assert all("min_id" in r.query for r in forward) and len(forward) == 6  # five pages of 20, then an empty one


def test_rows_dropped_after_the_limit_do_not_end_paging(capped):
    posts = add(capped, 60)
    capped.dropped_after_limit.update(p["id"] for p in posts[25:40])  # most of the second page vanishes
    store = Counter()
    run(capped, store, None)
    kept = [p for i, p in enumerate(posts) if not 25 <= i < 40]
    assert set(store) == {p["uri"] for p in kept}


@pytest.mark.parametrize("stops", [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [2, 1, 3, None], [1, None, 2, None]])
def test_every_tagged_public_post_is_collected_exactly_once_across_interrupted_runs(capped, stops):
    store, mark, everything = Counter(), None, []
    everything += add(capped, 45)
    for n, stop in enumerate(stops):
        mark = run(capped, store, mark, stop_after=stop)
        everything += add(capped, 13 * (n % 3))  # posts keep arriving between runs
    for _ in range(12):
        mark = run(capped, store, mark)
    assert set(store) == {p["uri"] for p in everything}
    assert max(store.values()) == 1


def test_the_link_header_is_mastodons():
    with FakeMastodon() as fake, httpx.Client(base_url=fake.base_url) as client:
        posts = add(fake, 3)
        answer = client.get(f"/api/v1/timelines/tag/{TAG}", params={"only_media": "true", "limit": "2", "any[]": "x"})
        empty = client.get(f"/api/v1/timelines/tag/{TAG}", params={"max_id": posts[0]["id"]})
    base = f"{fake.base_url}/api/v1/timelines/tag/{TAG}"
    assert answer.headers["link"] == (f'<{base}?limit=2&max_id={posts[1]["id"]}&only_media=true>; rel="next", '
                                      f'<{base}?limit=2&min_id={posts[2]["id"]}&only_media=true>; rel="prev"')
    assert empty.json() == [] and "link" not in empty.headers


def test_the_tag_timeline_serves_public_statuses_only_and_a_hostile_one_is_still_skipped():
    with FakeMastodon() as fake:
        public = fake.add_status(images=[PHOTO])
        fake.add_status(images=[PHOTO], visibility="unlisted")
        fake.add_status(images=[PHOTO], visibility="private")
        leaked = fake.add_status(images=[PHOTO], tag="elsewhere")
        leaked.update(visibility="private", id=None)
        fake.inject(dict(leaked, tags=[]))  # a server that serves a followers-only post anyway
        pages = list(make(fake).pages(TAG, None))
    assert [p.key for page in pages for p in page.posts] == [public["uri"]]
    assert pages[0].skipped == {"not public (private)": 1}
