"""Bluesky collector and API against a fake PDS on 127.0.0.1: what is sent, what is parsed, how the session lives."""

from __future__ import annotations

import itertools
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.bluesky import OVERLAP, BlueskyCollector, Mark
from platforms.bluesky import BlueskyAPI, SessionFile, session_path
from core.errors import PlatformError
from core.http import Http
from core.settings import NetworkSettings
from core.watermark import FORMAT
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TAG = "welovebrussels"


@pytest.fixture
def fake():
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


def make_api(fake: FakeBluesky, tmp_path, waits: list[float], *, password: str | None = None) -> BlueskyAPI:
    http = Http(NetworkSettings(allow_private=[fake.origin], retries=2), sleep=waits.append)
    path = session_path(tmp_path, fake.handle, fake.base_url)
    return BlueskyAPI(http, fake.base_url, fake.handle, password or fake.password, password_env="WLB_BSKY_PASSWORD",
                      session_file=SessionFile(path, fake.handle, fake.base_url))


@pytest.fixture
def api(fake, tmp_path, waits) -> BlueskyAPI:
    return make_api(fake, tmp_path, waits)


def collect(collector: BlueskyCollector, watermark: str | None = None) -> tuple[list, str | None, dict]:
    posts, skipped, mark = [], {}, watermark
    for page in collector.pages(TAG, watermark):
        posts += page.posts
        for why, n in page.skipped.items():
            skipped[why] = skipped.get(why, 0) + n
        mark = page.watermark or mark
    return posts, mark, skipped


def test_every_image_embed_becomes_a_normalized_post(fake, api):
    plain = fake.add_post(text="Été à Ixelles 🌧️ #WeLoveBrussels", images=[images.jpeg(1)], alt=["Rain on the square"],
                          aspect=[(2000, 1500)], created_at=T0, langs=["fr", "en"])
    quoting = fake.add_post(handle="bob.bsky.social", display_name=None, images=[images.jpeg(2)],
                            embed="recordWithMedia", created_at=T0 + timedelta(minutes=1))
    gallery = fake.add_post(handle="carol.bsky.social", display_name="Carol", images=[images.jpeg(3), images.jpeg(4)],
                            embed="gallery", alt=["one", "two"], created_at=T0 + timedelta(minutes=2))
    fake.add_post(handle="dan.bsky.social", embed="video", created_at=T0 + timedelta(minutes=3))
    fake.add_post(handle="eve.bsky.social", embed="external", created_at=T0 + timedelta(minutes=4))
    fake.add_post(handle="fay.bsky.social", images=[images.jpeg(5)], embed="record", created_at=T0 + timedelta(minutes=5))

    posts, mark, skipped = collect(BlueskyCollector(api))

    assert skipped == {"video only": 1, "no media": 2}  # a plain quote's pictures are the quoted author's
    by_handle = {p.author.handle: p for p in posts}
    alice = by_handle["alice.bsky.social"]
    rkey = plain["uri"].rsplit("/", 1)[1]
    assert alice.key == alice.remote_id == plain["uri"]
    assert alice.url == f"https://bsky.app/profile/alice.bsky.social/post/{rkey}"
    assert alice.author.network == "bluesky" and alice.author.uid == plain["author"]["did"]
    assert alice.author.name == "Alice" and alice.author.profile_url == "https://bsky.app/profile/alice.bsky.social"
    assert alice.text == "Été à Ixelles 🌧️ #WeLoveBrussels" and alice.language == "fr"
    assert alice.created_at == T0 and not alice.sensitive
    (photo,) = alice.media
    assert photo.url == plain["embed"]["images"][0]["fullsize"] and "/img/feed_fullsize/" in photo.url
    assert (photo.alt_text, photo.width, photo.height) == ("Rain on the square", 2000, 1500)
    assert by_handle["bob.bsky.social"].author.name == "bob.bsky.social"
    assert [m.url for m in by_handle["bob.bsky.social"].media] == [quoting["embed"]["media"]["images"][0]["fullsize"]]
    assert [m.alt_text for m in by_handle["carol.bsky.social"].media] == ["one", "two"]
    assert [m.url for m in by_handle["carol.bsky.social"].media] == [i["fullsize"] for i in gallery["embed"]["items"]]
    assert json.loads(mark) == {"v": FORMAT, "since": "2026-11-20T12:05:00.000000Z"}


def test_search_is_authenticated_and_asks_for_the_tag_latest_first(fake, api, waits):
    fake.add_post(images=[images.jpeg(1)], created_at=T0)
    collect(BlueskyCollector(api))
    (login,) = fake.calls("com.atproto.server.createSession")
    assert login.json == {"identifier": fake.handle, "password": fake.password}
    (search,) = fake.calls("app.bsky.feed.searchPosts")
    assert search.query == {"q": ["#welovebrussels"], "tag": ["welovebrussels"], "sort": ["latest"], "limit": ["100"]}
    assert search.headers["authorization"].startswith("Bearer ") and fake.password not in str(search.headers)
    assert search.headers["user-agent"].startswith("wlb/"), "our HTTP policy sends the request, not the SDK's client"


@pytest.mark.parametrize(("labels", "self_labels", "sensitive"), [
    (["porn"], [], True), (["sexual"], [], True), (["graphic-media"], [], True), ([], ["nudity"], True),
    (["spam"], [], False), ([], [], False),
])
def test_content_labels_mark_the_post_sensitive(fake, api, labels, self_labels, sensitive):
    fake.add_post(images=[images.jpeg(1)], created_at=T0, labels=labels, self_labels=self_labels)
    (post,), _, _ = collect(BlueskyCollector(api))
    assert post.sensitive is sensitive


def test_authors_who_opted_out_of_public_display_are_not_collected(fake, api):
    fake.add_post(images=[images.jpeg(1)], created_at=T0, self_labels=["!no-unauthenticated"])
    fake.add_post(images=[images.jpeg(2)], created_at=T0, labels=["!hide"], handle="hidden.bsky.social")
    posts, _, skipped = collect(BlueskyCollector(api))
    assert posts == [] and skipped == {"withheld by a label": 2}


def test_a_search_that_ignores_the_tag_cannot_sneak_in_a_longer_hashtag(tmp_path, waits):
    with FakeBluesky(honour_tag=False) as fake:  # as the local dev-env AppView: substring on the text
        fake.add_post(images=[images.jpeg(1)], created_at=T0, text="#welovebrusselsbynight")
        fake.add_post(images=[images.jpeg(2)], created_at=T0, text="Sablon", tags=["WeLoveBrussels"], handle="b.bsky.social")
        fake.add_post(images=[images.jpeg(3)], created_at=T0, text="x #welovebrussels", handle="c.bsky.social")
        posts, _, skipped = collect(BlueskyCollector(make_api(fake, tmp_path, waits)))
    assert sorted(p.author.handle for p in posts) == ["b.bsky.social", "c.bsky.social"]  # b: the record's tags
    assert skipped == {"hashtag not in the post": 1}


def test_first_run_pages_by_cursor_up_to_backfill_pages(fake, api):
    for n in range(7):
        fake.add_post(created_at=T0 + timedelta(minutes=n), images=[images.jpeg(n)], handle=f"p{n}.bsky.social")
    pages = list(BlueskyCollector(api, page_size=2, backfill_pages=3).pages(TAG, None))
    searches = fake.calls("app.bsky.feed.searchPosts")
    assert [s.query.get("cursor") for s in searches] == [None, ["2"], ["4"]]
    assert [len(p.posts) for p in pages] == [2, 2, 2]
    assert Mark.decode(pages[0].watermark).cursor == "2", "an interrupted first run resumes where it was"
    assert json.loads(pages[-1].watermark) == {"v": FORMAT, "since": "2026-11-20T12:06:00.000000Z"}


def test_incremental_run_asks_since_the_watermark_and_nothing_new_costs_one_request(fake, api):
    for n in range(3):
        fake.add_post(created_at=T0 + timedelta(minutes=n), images=[images.jpeg(n)], handle=f"p{n}.bsky.social")
    collector = BlueskyCollector(api)
    _, mark, _ = collect(collector)
    before = len(fake.calls("app.bsky.feed.searchPosts"))
    again, mark2, _ = collect(collector, mark)
    searches = fake.calls("app.bsky.feed.searchPosts")[before:]
    assert len(searches) == 1
    assert searches[0].query["since"] == [(T0 + timedelta(minutes=2) - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
    assert mark2 == mark and len(again) == 3, "the overlap's posts come back; the stage knows them by uri"
    new = fake.add_post(created_at=T0 + timedelta(minutes=30), images=[images.jpeg(9)], handle="new.bsky.social")
    posts, mark3, _ = collect(collector, mark2)
    assert new["uri"] in {p.key for p in posts}
    assert json.loads(mark3) == {"v": FORMAT, "since": "2026-11-20T12:30:00.000000Z"}


def test_a_post_indexed_late_behind_the_watermark_is_still_collected(fake, api):
    fake.add_post(created_at=T0, images=[images.jpeg(1)])
    collector = BlueskyCollector(api)
    _, mark, _ = collect(collector)
    late = fake.add_post(created_at=T0 - timedelta(minutes=5), indexed_at=T0 + timedelta(minutes=2),
                         images=[images.jpeg(2)], handle="late.bsky.social")
    posts, mark2, _ = collect(collector, mark)
    assert late["uri"] in {p.key for p in posts}
    assert mark2 == mark, "the watermark never goes backwards"


def test_a_server_that_ignores_since_is_stopped_at_the_watermark(tmp_path, waits):
    with FakeBluesky(honour_since=False) as fake:
        for n in range(6):
            fake.add_post(created_at=T0 - timedelta(hours=5 - n), images=[images.jpeg(n)], handle=f"p{n}.bsky.social")
        collector = BlueskyCollector(make_api(fake, tmp_path, waits), page_size=2)
        mark = Mark(since="2026-11-20T11:30:00.000000Z").encode()  # newer than all but the newest hour
        posts, mark2, _ = collect(collector, mark)
    assert [p.created_at for p in posts] == [T0, T0 - timedelta(hours=1)]  # the newest hour and the overlap
    assert len(fake.calls("app.bsky.feed.searchPosts")) == 2, "the second page reaches past the watermark: stop"
    assert json.loads(mark2) == {"v": FORMAT, "since": "2026-11-20T12:00:00.000000Z"}


def test_an_interrupted_sweep_continues_from_its_cursor_and_restarts_if_the_cursor_is_stale(fake, api):
    for n in range(5):
        fake.add_post(created_at=T0 + timedelta(minutes=n), images=[images.jpeg(n)], handle=f"p{n}.bsky.social")
    collector = BlueskyCollector(api, page_size=2)
    since = Mark(since="2026-11-20T11:00:00.000000Z").encode()
    first = next(iter(collector.pages(TAG, since)))  # committed, then the process died
    resumed = Mark.decode(first.watermark)
    assert (resumed.since, resumed.top, resumed.cursor) == ("2026-11-20T11:00:00.000000Z",
                                                           "2026-11-20T12:04:00.000000Z", "2")
    posts, mark, _ = collect(collector, first.watermark)
    assert len(posts) == 3 and fake.calls("app.bsky.feed.searchPosts")[-2].query["cursor"] == ["2"]
    assert json.loads(mark) == {"v": FORMAT, "since": "2026-11-20T12:04:00.000000Z"}

    stale = Mark(since="2026-11-20T11:00:00.000000Z", top="2026-11-20T12:04:00.000000Z", cursor="gone").encode()
    posts, mark, _ = collect(collector, stale)
    assert len(posts) == 5 and json.loads(mark) == {"v": FORMAT, "since": "2026-11-20T12:04:00.000000Z"}


def test_a_server_repeating_its_cursor_does_not_keep_us_paging(fake, api):
    for n in range(5):
        fake.add_post(created_at=T0 + timedelta(minutes=n), images=[images.jpeg(n)], handle=f"p{n}.bsky.social")
    fake.stuck_cursor = "same"
    since = Mark(since="2026-11-20T11:00:00.000000Z").encode()
    pages = list(itertools.islice(BlueskyCollector(api, page_size=2).pages(TAG, since), 10))
    assert len(pages) == 2 and json.loads(pages[-1].watermark) == {"v": FORMAT, "since": "2026-11-20T12:04:00.000000Z"}


def test_a_post_without_a_post_uri_costs_that_post_only(fake, api):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    post["uri"] = "at://did:plc:x/app.bsky.feed.like/3k"
    fake.add_post(images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=1), handle="b.bsky.social")
    posts, mark, skipped = collect(BlueskyCollector(api))
    assert [p.author.handle for p in posts] == ["b.bsky.social"]
    assert skipped == {"malformed (not the at:// uri of a post)": 1}
    assert json.loads(mark) == {"v": FORMAT, "since": "2026-11-20T12:01:00.000000Z"}
    with pytest.raises(PlatformError, match="is not the at:// uri"):
        BlueskyCollector(api).exists("3k2yihcrp6f2c")


def test_exists_until_the_post_is_deleted(fake, api):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    collector = BlueskyCollector(api)
    assert collector.exists(post["uri"]) is True
    fake.delete_post(post["uri"])
    assert collector.exists(post["uri"]) is False
    (lookup, *_) = fake.calls("com.atproto.repo.getRecord")
    assert lookup.query == {"repo": [post["author"]["did"]], "collection": ["app.bsky.feed.post"],
                            "rkey": [post["uri"].rsplit("/", 1)[1]]}


# ---- the session ---------------------------------------------------------------------------------


def test_the_session_is_stored_for_the_owner_only_and_reused_by_the_next_run(fake, tmp_path, waits):
    fake.add_post(images=[images.jpeg(1)], created_at=T0)
    collect(BlueskyCollector(make_api(fake, tmp_path, waits)))
    path = session_path(tmp_path, fake.handle, fake.base_url)
    assert path.parent == tmp_path / "sessions"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fake.password not in path.read_text()
    collect(BlueskyCollector(make_api(fake, tmp_path, waits)))
    assert len(fake.calls("com.atproto.server.createSession")) == 1
    assert len(fake.calls("app.bsky.feed.searchPosts")) == 2


def test_an_access_token_about_to_expire_is_refreshed_not_replaced_by_a_login(fake, tmp_path, waits):
    fake.access_ttl = 60  # inside the SDK's 15-minute margin: refreshed before the first call already
    make_api(fake, tmp_path, waits).check()
    assert len(fake.calls("com.atproto.server.refreshSession")) == 1
    fake.access_ttl = 7200
    stored = session_path(tmp_path, fake.handle, fake.base_url).read_text()
    assert make_api(fake, tmp_path, waits).check() == fake.handle  # the next run finds a token about to expire
    assert len(fake.calls("com.atproto.server.refreshSession")) == 2
    assert session_path(tmp_path, fake.handle, fake.base_url).read_text() != stored, "the rotated tokens are kept"
    make_api(fake, tmp_path, waits).check()
    assert len(fake.calls("com.atproto.server.refreshSession")) == 2, "a fresh token is used as it is"
    assert len(fake.calls("com.atproto.server.createSession")) == 1


def test_an_access_token_the_server_refuses_leads_to_one_new_login(fake, api):
    api.check()
    fake.expire_access_tokens()
    assert api.check() == fake.handle
    assert len(fake.calls("com.atproto.server.createSession")) == 2
    assert len(fake.calls("com.atproto.server.getSession")) == 3, "refused once, then answered"


def test_a_refresh_token_that_no_longer_works_leads_to_one_new_login(fake, api):
    fake.access_ttl = 60
    api.check()
    fake.revoke_refresh_tokens()
    assert api.check() == fake.handle
    assert len(fake.calls("com.atproto.server.createSession")) == 2


def test_a_damaged_session_file_means_logging_in_again(fake, tmp_path, waits):
    path = session_path(tmp_path, fake.handle, fake.base_url)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"handle": fake.handle, "service": fake.base_url, "session": "garbage"}))
    assert make_api(fake, tmp_path, waits).check() == fake.handle
    assert len(fake.calls("com.atproto.server.createSession")) == 1


def test_a_wrong_app_password_is_one_line_naming_the_variable(fake, tmp_path, waits):
    api = make_api(fake, tmp_path, waits, password="wrong-password")
    with pytest.raises(PlatformError) as failure:
        list(BlueskyCollector(api).pages(TAG, None))
    message = str(failure.value)
    assert "refused to log in as welovebrussels.test" in message and "$WLB_BSKY_PASSWORD" in message
    assert "Invalid identifier or password" in message and "wrong-password" not in message
    assert "\n" not in message


def test_a_pds_address_on_a_private_network_is_refused(fake, api):
    fake.pds_endpoint = "http://169.254.169.254"  # the DID document sends us elsewhere after login
    with pytest.raises(PlatformError, match="refused to contact http://169.254.169.254/xrpc/app.bsky.feed.searchPosts"):
        list(BlueskyCollector(api).pages(TAG, None))
    assert len(fake.calls("app.bsky.feed.searchPosts")) == 0


def test_server_errors_are_retried_under_the_http_policy(fake, api, waits):
    fake.add_post(images=[images.jpeg(1)], created_at=T0)
    fake.fail_next(1, 502, path_prefix="/xrpc/app.bsky.feed.searchPosts")
    posts, _, _ = collect(BlueskyCollector(api))
    assert len(posts) == 1 and waits == [1.0]


def test_a_bluesky_rate_limit_is_waited_out(fake, api, waits, monkeypatch):
    fake.add_post(images=[images.jpeg(1)], created_at=T0)
    reset = int(datetime.now(UTC).timestamp()) + 30
    fake.rate_limit_next(1, retry_after=None)
    fake._faults[-1][3] = {"RateLimit-Limit": "3000", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)}
    posts, _, _ = collect(BlueskyCollector(api))
    assert len(posts) == 1 and 0 < waits[0] <= 31


# ---- open unions and odd records: one costs one post (issue 7) ----------------------------------


FIXTURES = Path(__file__).parent.parent / "fixtures" / "bluesky"


def test_open_unions_and_odd_records_cost_one_post_each_never_the_page(fake, api):
    for view in json.loads((FIXTURES / "search_posts_open_unions.json").read_text())["posts"]:
        fake.add_view(view)
    posts, mark, skipped = collect(BlueskyCollector(api))

    assert skipped == {"no media": 1, "identity mismatch (uri and author differ)": 1,
                       "malformed (not a postView)": 1}
    alice, bob = sorted(posts, key=lambda p: p.author.handle)
    assert alice.author.uid == "did:plc:ewvi7nxzyoun6zhxrhs64oiz" and alice.flags == () and not alice.sensitive
    assert [m.url for m in alice.media] == ["https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:ewvi7nxzyoun6zhxrhs64oiz/"
                                            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku@jpeg"]
    # {"$type": "com.example.labels"}: the SDK hands it over as a DotDict; once a TypeError for the whole command
    assert bob.text == "Atomium #welovebrussels" and bob.flags and "self-labels" in bob.flags[0]
    assert json.loads(mark) == {"v": FORMAT, "since": "2026-11-20T12:05:00.000000Z"}, "the watermark passes the skipped posts"


def test_a_record_of_another_type_and_an_unreadable_index_date_cost_one_post(fake, api):
    odd = fake.add_post(images=[images.jpeg(1)], created_at=T0, handle="odd.bsky.social")
    odd["record"] = {"$type": "com.example.note", "text": "#welovebrussels", "tags": [TAG],
                     "createdAt": odd["record"]["createdAt"]}
    undated = fake.add_post(images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=1), handle="u.bsky.social")
    undated["indexedAt"] = "yesterday"  # once a PlatformError for the page
    fake.add_post(images=[images.jpeg(3)], created_at=T0 + timedelta(minutes=2), handle="ok.bsky.social")
    posts, mark, skipped = collect(BlueskyCollector(api))
    assert sorted(p.author.handle for p in posts) == ["ok.bsky.social", "u.bsky.social"]
    assert skipped == {"not a post record": 1}
    assert json.loads(mark) == {"v": FORMAT, "since": "2026-11-20T12:02:00.000000Z"}


def test_a_post_served_under_another_accounts_uri_is_skipped(fake, api):
    alice = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    forged = fake.add_post(images=[images.jpeg(2)], created_at=T0 + timedelta(minutes=1), handle="mallory.bsky.social")
    forged["uri"] = alice["uri"].rsplit("/", 1)[0] + "/3kforgedpost22"  # Alice's repository, Mallory's post
    posts, _, skipped = collect(BlueskyCollector(api))
    assert [p.author.handle for p in posts] == ["alice.bsky.social"]
    assert skipped == {"identity mismatch (uri and author differ)": 1}


def test_the_author_is_authoritative_only_with_a_handle_the_appview_verified(fake, api):
    fake.add_post(images=[images.jpeg(1)], created_at=T0)
    unverified = fake.add_post(images=[images.jpeg(2)], created_at=T0, handle="claims.bsky.social")
    unverified["author"] = dict(unverified["author"], handle="handle.invalid")
    posts, _, _ = collect(BlueskyCollector(api))
    by_uid = {p.author.uid: p.author for p in posts}
    assert by_uid[unverified["author"]["did"]].authoritative is False
    assert by_uid[unverified["author"]["did"]].handle == unverified["author"]["did"]
    assert {a.authoritative for uid, a in by_uid.items() if uid != unverified["author"]["did"]} == {True}


def test_self_labels_of_an_unknown_type_are_flagged_not_fatal(fake, api):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    post["record"]["labels"] = {"$type": "com.example.labels"}  # open union: any $type may come
    (collected,), _, skipped = collect(BlueskyCollector(api))
    assert skipped == {} and collected.key == post["uri"] and collected.flags
