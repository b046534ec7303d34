"""X collector against the fake X API v2 on 127.0.0.1: requests sent, posts parsed, paging, budget, origin checks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from collector.x import Mark, XCollector, build, parse_tweet
from core.errors import ConfigError, PlatformError
from core.http import Http
from core.posts import OriginClaim
from core.settings import ChannelSettings, NetworkSettings, Settings
from core.watermark import FORMAT
from platforms.x import XAPI, probe
from tests.fakes import images
from tests.fakes.x import APP_TOKEN, OWN_USERNAME, USER_TOKEN, FakeX, snowflake

NOW = datetime.now(UTC)
SMALL = images.jpeg(1, size=(64, 48))


@pytest.fixture
def x():
    with FakeX() as fake:
        yield fake


def api(fake: FakeX, token: str = USER_TOKEN, sleeps: list | None = None) -> XAPI:
    http = Http(NetworkSettings(allow_private=[fake.origin]), sleep=(sleeps.append if sleeps is not None else
                                                                     lambda s: None))
    return XAPI(http, fake.base_url, token, token_env="WLB_X_TOKEN")


def collector(fake: FakeX, *, per_page: int = 10, **kw) -> XCollector:
    return XCollector(api(fake), per_page=per_page, **kw)


def searches(fake: FakeX) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in fake.requests if r.path == "/2/tweets/search/recent"]


def add(fake: FakeX, n: int, *, author: str | None = None, start: int = 0) -> list[str]:
    uid = author or fake.add_user("jane_doe", "Jane Doe")
    return [fake.add_post(uid, f"Post {start + i} #welovebrussels", images=[SMALL],
                          created_at=NOW - timedelta(hours=2) + timedelta(minutes=start + i)) for i in range(n)]


def test_search_sends_the_query_fields_and_expansions_and_parses_a_photo_post(x):
    uid = x.add_user("jane_doe", "Jane Doe")
    pid = x.add_post(uid, "Grand-Place at dusk &amp; <3 #WeLoveBrussels #sunset", images=[SMALL], lang="fr",
                     sensitive=True, alt="The town hall lit in gold")
    (page,) = list(collector(x).pages("welovebrussels", None))
    (query,) = searches(x)
    assert query == {"query": "#welovebrussels has:images -is:retweet", "max_results": "10",
                     "expansions": "attachments.media_keys,author_id",
                     "media.fields": "url,alt_text,width,height,type",
                     "tweet.fields": "created_at,possibly_sensitive,lang,entities,author_id,attachments",
                     "user.fields": "username,name"}
    assert x.requests[0].headers["authorization"] == f"Bearer {USER_TOKEN}"
    (post,) = page.posts
    assert (post.key, post.remote_id, post.url) == (f"x:{pid}", pid, f"https://x.com/jane_doe/status/{pid}")
    assert (post.author.handle, post.author.name, post.author.network, post.author.uid) == ("jane_doe", "Jane Doe",
                                                                                           "x", uid)
    assert post.author.profile_url == "https://x.com/jane_doe"
    # X escapes & < > in v2 text and appends a t.co link to the photos: unescaped once, link dropped.
    assert post.text == "Grand-Place at dusk &amp; <3 #WeLoveBrussels #sunset"
    assert post.language == "fr" and post.sensitive
    (image,) = post.media
    assert image.url.startswith(x.base_url + "/media/3_") and image.alt_text == "The town hall lit in gold"
    assert (image.width, image.height) == (1080, 1350)
    assert Mark.decode(page.watermark).since == pid
    assert page.fetched == 1 and page.cost == pytest.approx(0.005 + 0.010)


def test_pages_follow_next_token_and_the_next_run_sends_since_id(x):
    ids = add(x, 25)
    pages = list(collector(x).pages("welovebrussels", None))
    assert [len(p.posts) for p in pages] == [10, 10, 5]
    assert [s.get("next_token") is not None for s in searches(x)] == [False, True, True]
    mark = Mark.decode(pages[-1].watermark)
    assert mark.since == ids[-1] and mark.until is None
    # A page in the middle remembers the unfinished walk: its oldest id and the newest it started from.
    middle = Mark.decode(pages[0].watermark)
    assert (middle.since, middle.until, middle.top) == (None, pages[0].posts[-1].remote_id, ids[-1])

    new = add(x, 2, start=30)
    later = list(collector(x).pages("welovebrussels", pages[-1].watermark))
    assert [p.remote_id for page in later for p in page.posts] == new[::-1]
    assert searches(x)[-1]["since_id"] == ids[-1]


def test_an_interrupted_walk_resumes_below_where_it_stopped_then_moves_since_up(x):
    ids = add(x, 25)
    first = next(collector(x).pages("welovebrussels", None))  # the run was killed after one page
    resumed = list(collector(x).pages("welovebrussels", first.watermark))
    assert searches(x)[1]["until_id"] == first.posts[-1].remote_id and "since_id" not in searches(x)[1]
    got = [p.remote_id for page in [first, *resumed] for p in page.posts]
    assert sorted(got, key=int) == ids  # nothing lost, nothing twice
    assert Mark.decode(resumed[-1].watermark) == Mark(since=ids[-1], month=NOW.strftime("%Y-%m"),
                                                      spent=25 * 5_000 + 3 * 10_000, posts=25)


def test_the_first_run_stops_after_backfill_pages_and_keeps_the_newest_id(x):
    ids = add(x, 35)
    pages = list(collector(x, backfill_pages=2).pages("welovebrussels", None))
    assert len(pages) == 2 and Mark.decode(pages[-1].watermark).since == ids[-1]


def test_videos_and_gifs_are_skipped_with_their_reason_a_mixed_post_keeps_its_photos(x):
    uid = x.add_user("lea")
    video, gif = x.add_media(None, kind="video"), x.add_media(None, kind="animated_gif")
    photo = x.add_media(SMALL)
    mixed = x.add_post(uid, "Mixed #welovebrussels", media_keys=[video, photo])
    x.add_post(uid, "Only a clip #welovebrussels", media_keys=[video])  # has:images leaves it out at X
    (page,) = list(collector(x).pages("welovebrussels", None))
    (post,) = page.posts
    assert post.remote_id == mixed and [m.url for m in post.media] == [x.media[photo]["url"]]
    users = {uid: {"id": uid, "username": "lea", "name": "Lea"}}
    tweet = {"id": "1860000000000000000", "author_id": uid, "created_at": "2026-11-30T10:00:00.000Z",
             "attachments": {"media_keys": [gif]}}
    assert parse_tweet(tweet, users, {gif: x.media[gif]}) == (None, "video or animated GIF only")


def test_one_malformed_record_costs_that_record_only(x):
    uid = x.add_user("ok_user")
    x.add_post(uid, "fine #welovebrussels", images=[SMALL])
    x.add_post(uid, "broken #welovebrussels", images=[SMALL])
    x.users[uid + "0"] = {"id": uid + "0", "username": "has space", "name": "?"}
    broken = [p for p in x.posts.values() if p.text.startswith("broken")][0]
    broken.author_id = uid + "0"
    (page,) = list(collector(x).pages("welovebrussels", None))
    assert [p.text for p in page.posts] == ["fine #welovebrussels"]
    assert page.skipped == {"malformed (author not in the answer's users)": 1}


def test_reads_stop_before_a_page_that_could_pass_the_monthly_budget_and_the_spend_is_kept(x):
    add(x, 25)
    # A page of 10 may cost 10 x (0.005 + 0.010) = $0.15. The first costs 10 posts + 1 author = $0.06, and
    # 0.06 + 0.15 passes a $0.20 budget: the second page is not asked.
    pages = list(collector(x, budget=0.20).pages("welovebrussels", None))
    assert len(searches(x)) == 1 and len(pages) == 2
    stop = pages[-1]
    assert stop.posts == [] and stop.requests == 0
    (warning,) = stop.warnings
    assert "X reads stopped: $0.06 spent this month (10 posts)" in warning and "monthly_budget" in warning
    mark = Mark.decode(stop.watermark)
    assert mark.spent == 60_000 and mark.posts == 10 and mark.month == NOW.strftime("%Y-%m") and mark.until  # resumes there
    # The same month: still stopped, nothing asked. A new month: the spend starts again at 0.
    assert list(collector(x, budget=0.20).pages("welovebrussels", stop.watermark))[0].warnings
    assert len(searches(x)) == 1
    next_month = NOW.replace(day=1) + timedelta(days=32)
    list(collector(x, budget=0.20, clock=lambda: next_month).pages("welovebrussels", stop.watermark))
    assert len(searches(x)) == 2


def test_the_budget_is_shared_by_the_channels_hashtags():
    assert XCollector(None, budget=1.0, hashtags=4).budget == 250_000


def test_a_stored_id_older_than_seven_days_is_not_sent(x):
    old = snowflake(NOW - timedelta(days=8), 1)
    add(x, 1)
    list(collector(x).pages("welovebrussels", Mark(since=old).encode()))
    assert "since_id" not in searches(x)[0]


def test_a_429_waits_for_x_rate_limit_reset(x):
    add(x, 1)
    reset = int(time.time()) + 40
    x._faults.append([1, 429, "/2/tweets/search", {"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"}])
    sleeps: list[float] = []
    pages = list(XCollector(api(x, sleeps=sleeps), per_page=10).pages("welovebrussels", None))
    assert len(pages[0].posts) == 1 and len(searches(x)) == 2
    assert sleeps and 30 < sleeps[0] <= 41


def test_a_refused_token_is_one_line_naming_its_variable(x):
    with pytest.raises(PlatformError, match=r"X refused the token in \$WLB_X_TOKEN \(401: Unauthorized\)"):
        list(XCollector(api(x, token="wrong"), per_page=10).pages("welovebrussels", None))


def test_verify_asks_x_for_the_post(x):
    uid = x.add_user("jane_doe")
    pid = x.add_post(uid, "#welovebrussels", images=[SMALL])
    c = collector(x)
    claim = OriginClaim(key=f"x:{pid}", remote_id=pid, url="", author_handle="jane_doe", author_uid=uid)
    assert c.verify(claim).verified
    lookup = [r for r in x.requests if r.path == "/2/tweets"][-1]
    assert lookup.query["ids"] == [pid]
    other = OriginClaim(key=f"x:{pid}", remote_id=pid, url="", author_handle="x", author_uid="99")
    assert "not by 99" in c.verify(other).problem
    x.delete_post(pid)
    assert c.verify(claim).deleted
    assert c.verify(OriginClaim(key="x:abc", remote_id="abc", url="", author_handle="")).problem


def test_build_needs_a_token(tmp_path):
    channel = ChannelSettings(kind="x", token_env="WLB_X_TOKEN", base_url="https://api.x.com")
    with pytest.raises(ConfigError, match=r"export \$WLB_X_TOKEN"):
        build(channel, Settings(path=tmp_path / "config.toml"), Http(NetworkSettings()))


def test_the_watermark_is_small_and_reads_back(x):
    mark = Mark(since="1" * 19, until="2" * 19, top="3" * 19, month="2026-12", spent=123_456_789, posts=3_000_000)
    assert Mark.decode(mark.encode()) == mark and json.loads(mark.encode())["v"] == FORMAT
    assert Mark.decode("not json") == Mark() and Mark.decode(json.dumps({"v": FORMAT, "since": "x1"})) == Mark()
    assert Mark.decode(json.dumps({"v": FORMAT, "spent": "12"})) == Mark(), "typed by the one encoding"


@pytest.mark.parametrize("publish", [False, True])
def test_doctor_says_whose_token_and_whether_it_can_post(x, publish, tmp_path):
    channel = ChannelSettings(kind="x", token_env="WLB_X_TOKEN", base_url=x.base_url, publish=publish)
    settings = Settings(path=tmp_path / "config.toml")
    http = Http(NetworkSettings(allow_private=[x.origin]))
    assert probe(USER_TOKEN, channel, settings, http).startswith(f"authenticated as @{OWN_USERNAME}")
    if publish:
        with pytest.raises(PlatformError, match=r"app-only bearer token, which cannot post.*user-context token"):
            probe(APP_TOKEN, channel, settings, http)
    else:
        assert probe(APP_TOKEN, channel, settings, http).startswith("app-only bearer token: can search")
