"""Pixelfed paging against the fake Pixelfed (tests/fakes/pixelfed.py, modelled on ApiV1Controller::timelineHashtag)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from platforms.mastodon import MastodonAPI
from collector.pixelfed import PixelfedCollector, Walk, months_before
from platforms.pixelfed import mastodon_id_time, pixelfed_id_time
from core.http import Http
from core.settings import NetworkSettings
from tests.fakes import images
from tests.fakes import pixelfed as pf
from tests.fakes.mastodon import FakeMastodon

TAG = "welovebrussels"
TOKEN = "pf-token"
PHOTO = images.jpeg(1, (64, 64))


class Clock:
    """The fake's and the collector's shared notion of now, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    with FakeMastodon(flavor="pixelfed", domain="pix.example", token=TOKEN, clock=clock) as server:
        yield server


def make(fake: FakeMastodon, clock: Clock | None = None, **kwargs) -> PixelfedCollector:
    http = Http(NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None)
    return PixelfedCollector(MastodonAPI(http, fake.base_url, TOKEN), now=clock or (lambda: datetime.now(UTC)),
                             **kwargs)


def add(fake: FakeMastodon, n: int, **kwargs) -> list[dict]:
    return [fake.add_status(images=[PHOTO], text=f"post {i}", acct=f"p{i % 5}", **kwargs) for i in range(n)]


def run(collector: PixelfedCollector, store: Counter, watermark: str | None, stop_after: int | None = None) -> str | None:
    for n, page in enumerate(collector.pages(TAG, watermark), 1):
        store.update(p.key for p in page.posts)
        watermark = page.watermark or watermark
        if stop_after is not None and n >= stop_after:
            break
    return watermark


def timeline(fake: FakeMastodon) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in fake.requests if r.path.startswith("/api/v1/timelines/tag/")]


def test_the_fakes_min_id_answers_the_newest_page_above_the_id(fake):
    posts = add(fake, 100)
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        page = client.get(f"/api/v1/timelines/tag/{TAG}", params={"min_id": posts[0]["id"], "limit": 40}).json()
    assert [s["id"] for s in page] == [p["id"] for p in reversed(posts[-40:])], "not the 40 just above min_id"


def test_100_new_posts_between_runs_are_all_collected(fake, clock):
    store = Counter()
    add(fake, 3)
    mark = run(make(fake, clock), store, None)
    new = add(fake, 100)
    before = len(timeline(fake))
    run(make(fake, clock), store, mark)
    assert {p["uri"] for p in new} <= set(store) and set(store.values()) == {1}
    sent = timeline(fake)[before:]
    assert not any("min_id" in q for q in sent), "min_id would answer only the newest 40"
    assert [("max_id" in q) for q in sent] == [False, True, True]
    assert all(q["only_media"] == "false" and q["limit"] == "40" for q in sent)


@pytest.mark.parametrize("stops", [[1, 1, 1, 1, 1, 1, 1, 1], [2, 1, None, 1], [1, None, 3, None]])
def test_interrupted_walks_resume_without_a_gap_and_collect_each_post_once(fake, clock, stops):
    store, mark, everything = Counter(), None, add(fake, 30)
    for n, stop in enumerate(stops):
        mark = run(make(fake, clock, page_size=20), store, mark, stop_after=stop)
        everything += add(fake, 25 * (n % 3))
    for _ in range(12):
        mark = run(make(fake, clock, page_size=20), store, mark)
    assert set(store) == {p["uri"] for p in everything}
    assert max(store.values()) == 1


def test_short_filtered_pages_do_not_end_the_walk(fake, clock):
    store = Counter()
    mark = run(make(fake, clock), store, None)
    wanted = []
    for _ in range(50):  # others' unlisted posts are filtered out after the rows are taken
        wanted += add(fake, 1)
        add(fake, 1, visibility="unlisted")
    run(make(fake, clock), store, mark)
    assert set(store) == {p["uri"] for p in wanted}


def test_followers_only_posts_of_followed_accounts_are_served_but_never_collected(fake, clock):
    fake.following.add("friend")
    public = add(fake, 1)[0]
    fake.add_status(images=[PHOTO], acct="friend", visibility="private")
    fake.add_status(images=[PHOTO], acct="stranger", visibility="private")
    pages = list(make(fake, clock).pages(TAG, None))
    assert [p.key for page in pages for p in page.posts] == [public["uri"]]
    assert sum(page.fetched for page in pages) == 2, "the instance served the followers-only post"
    assert pages[0].skipped == {"not public (private)": 1}


def test_a_cursor_older_than_six_months_is_never_sent(fake, clock):
    clock.now = datetime.now(UTC) - timedelta(days=200)
    old = add(fake, 30)
    clock.now = datetime.now(UTC)
    store = Counter()
    first = make(fake, clock, page_size=10).pages(TAG, None)
    mark = next(first).watermark  # interrupted after the first page: the walk continues below a 200-day-old id
    first.close()
    new = add(fake, 5)
    before = len(timeline(fake))
    mark = run(make(fake, clock, page_size=10), store, mark)
    assert set(store) == {p["uri"] for p in new}
    assert all("max_id" not in q for q in timeline(fake)[before:]), "Pixelfed would answer [] to it"
    assert Walk.decode(mark) == Walk(new[-1]["id"])
    assert len(old) == 30


def test_a_watermark_older_than_six_months_by_its_id_still_collects_new_posts(fake, clock):
    clock.now = datetime.now(UTC) - timedelta(days=210)
    add(fake, 2)
    clock.now = datetime.now(UTC)
    store = Counter()
    mark = run(make(fake, clock), store, None)
    new = add(fake, 45)
    run(make(fake, clock), store, mark)
    assert {p["uri"] for p in new} <= set(store)


def test_snowflake_times_decode_as_the_platforms_mint_them():
    moment = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert pixelfed_id_time(str(pf.snowflake(moment))) == moment
    assert mastodon_id_time(str(int(moment.timestamp() * 1000) << 16 | 77)) == moment
    assert pixelfed_id_time("abc") is None
    assert months_before(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2026, 2, 28, tzinfo=UTC)


def test_an_older_versions_watermark_is_still_read():
    assert Walk.decode("123") == Walk("123")
    assert Walk.decode('{"newest":"9","older_than":"5","pages_left":3}') == Walk(None, "9", "5", 3)


def test_the_fake_filters_after_taking_100_rows_and_caps_limit_at_40(fake, clock):
    photos = add(fake, 5)
    for n in range(100):
        fake.add_status(text=f"text {n}")  # no media: left out by only_media, which defaults to true
    fake.filtered_accounts.add("p1")
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        default = client.get(f"/api/v1/timelines/tag/{TAG}", params={"limit": 100})
        everything = client.get(f"/api/v1/timelines/tag/{TAG}", params={"limit": 100, "only_media": "0"})
        bad = client.get(f"/api/v1/timelines/tag/{TAG}", params={"max_id": "abc"})
    assert default.json() == [], "the newest 100 rows were all text: filtered to nothing"
    assert len(everything.json()) == 40 and "link" not in everything.headers
    assert bad.status_code == 422
    store = Counter()
    run(make(fake, clock), store, None)  # the collector asks with only_media=false, so it gets past them
    assert set(store) == {p["uri"] for p in photos if p["account"]["acct"] != "p1"}
