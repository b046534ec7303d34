"""Instagram collector against the fake Graph API on 127.0.0.1: hashtag window, tags edge, budget, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.instagram import MAX_CURSOR, UNCREDITED, InstagramCollector, Mark, parse_media
from core.errors import PlatformError
from core.http import Http
from core.posts import OriginClaim
from core.settings import NetworkSettings
from platforms.instagram import BUDGET_WINDOW, MEDIA_FIELDS, TAG_FIELDS, HashtagLedger, InstagramAPI
from tests.fakes import images
from tests.fakes.instagram import IG_USER_ID, TOKEN, FakeInstagram, error

SMALL = images.jpeg(1, size=(64, 80))


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ig():
    with FakeInstagram() as fake:
        yield fake


def api(fake: FakeInstagram, token: str = TOKEN) -> InstagramAPI:
    http = Http(NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None)
    return InstagramAPI(http, fake.graph_url, token, IG_USER_ID, token_env="WLB_IG_TOKEN")


def collector(fake: FakeInstagram, tmp_path, *, clock=None, **kw) -> InstagramCollector:
    ledger = HashtagLedger(tmp_path / "ig" / "ledger.json", clock=clock or Clock())
    return InstagramCollector(api(fake), ledger, first_tag=kw.pop("first_tag", "welovebrussels"), **kw)


def run(c: InstagramCollector, watermark=None, tag="welovebrussels"):
    pages = list(c.pages(tag, watermark))
    return [p for page in pages for p in page.posts], pages


def test_hashtag_search_then_recent_media_with_children_fields_and_our_token(ig, tmp_path):
    ig.add_media(SMALL)
    posts, _ = run(collector(ig, tmp_path, first_tag="other"))
    (search,) = ig.calls("/ig_hashtag_search")
    assert search.query == {"user_id": [IG_USER_ID], "q": ["welovebrussels"]}
    assert search.headers["authorization"] == f"Bearer {TOKEN}"
    (recent,) = ig.calls("/recent_media")
    assert recent.path == f"/v27.0/{ig.hashtags['welovebrussels']}/recent_media"
    assert recent.query == {"user_id": [IG_USER_ID], "fields": [MEDIA_FIELDS], "limit": ["50"]}
    assert "children{id,media_type,media_url}" in MEDIA_FIELDS and "username" not in MEDIA_FIELDS
    assert not ig.calls("/tags"), "the tags edge is read with the first hashtag only"
    (post,) = posts
    assert post.needs_credit and post.author.uid == UNCREDITED and post.author.handle == ""
    assert post.key == f"instagram:{post.remote_id}" and post.url.startswith("https://www.instagram.com/p/")
    assert post.text == "Grand-Place #welovebrussels" and len(post.images) == 1


def test_only_the_last_24_hours_come_back_and_videos_are_skipped_with_the_reason(ig, tmp_path):
    ig.add_media(SMALL, caption="old #welovebrussels", age=timedelta(hours=30))
    ig.add_media(SMALL, caption="new #welovebrussels")
    ig.add_media(SMALL, caption="clip #welovebrussels", media_type="VIDEO")
    posts, pages = run(collector(ig, tmp_path, first_tag="other"))
    assert [p.text for p in posts] == ["new #welovebrussels"]
    assert pages[0].skipped == {"video (wlb reposts photos)": 1}


def test_a_carousel_is_one_item_with_its_images_and_its_videos_left_out(ig, tmp_path):
    record = ig.add_media([SMALL, images.jpeg(2, size=(64, 80))], videos=1)
    (post,), _ = run(collector(ig, tmp_path, first_tag="other"))
    children = record["children"]["data"]
    assert [m.url for m in post.images] == [children[0]["media_url"], children[1]["media_url"]]
    assert post.flags == ("1 video(s) of this carousel left out",)


def test_the_window_is_read_whole_every_run_and_an_older_unseen_media_still_counts(ig, tmp_path):
    c = collector(ig, tmp_path, first_tag="other")
    for n in range(60):  # two pages of 50
        ig.add_media(SMALL, caption=f"p{n} #welovebrussels", age=timedelta(minutes=n + 5))
    posts, pages = run(c)
    assert len(posts) == 60 and len({p.key for p in posts}) == 60
    assert len(pages) == 2 and ig.calls("/recent_media")[1].query["after"]
    # Next run: one new post that is OLDER than everything seen (order is not chronological): still taken.
    late = ig.add_media(SMALL, caption="late #welovebrussels", age=timedelta(hours=23))
    again, _ = run(c, pages[-1].watermark)
    assert late["id"] in {p.remote_id for p in again}
    assert len(ig.calls("/ig_hashtag_search")) == 1, "the hashtag id is cached"


def test_an_unfinished_read_resumes_at_its_cursor_then_reads_the_top(ig, tmp_path):
    c = collector(ig, tmp_path, first_tag="other")
    for n in range(60):
        ig.add_media(SMALL, caption=f"p{n} #welovebrussels")
    pages = c.pages("welovebrussels", None)
    first = next(pages)  # the run stopped here (max_pages_per_run)
    pages.close()
    assert Mark.decode(first.watermark).after
    rest, _ = run(c, first.watermark)
    calls = ig.calls("/recent_media")
    assert "after" in calls[1].query and "after" not in calls[2].query
    assert len(rest) == 10, "what the first page saw is not yielded again"
    assert {p.key for p in rest} | {p.key for p in first.posts} == {f"instagram:{i}" for i in ig.media}


def test_tagged_media_come_first_and_are_credited_to_their_username(ig, tmp_path):
    tagged = ig.add_media(SMALL, username="jane.doe", tagged=True)
    posts, _ = run(collector(ig, tmp_path))
    (tags,) = ig.calls(f"/{IG_USER_ID}/tags")
    assert tags.query == {"fields": [TAG_FIELDS], "limit": ["50"]}
    assert [p.remote_id for p in posts] == [tagged["id"], tagged["id"]], "tags first; the database merges the key"
    credited = posts[0]
    assert not credited.needs_credit
    assert (credited.author.handle, credited.author.network, credited.author.profile_url) == (
        "jane.doe", "instagram", "https://www.instagram.com/jane.doe/")
    assert posts[1].needs_credit


def test_a_tagged_record_with_a_bad_username_costs_that_record(ig, tmp_path):
    ig.add_media(SMALL, username="bad name!", tagged=True, caption="no tag here")
    ig.add_media(SMALL, username="ok_user", tagged=True, caption="no tag here")
    posts, pages = run(collector(ig, tmp_path))
    assert [p.author.handle for p in posts] == ["ok_user"]
    assert pages[0].skipped == {"malformed (ValueError)": 1}


def test_the_hashtag_budget_refuses_a_31st_tag_in_one_line_and_frees_after_seven_days(tmp_path):
    clock = Clock()
    ledger = HashtagLedger(tmp_path / "l.json", clock=clock)
    searched = []
    for n in range(30):
        ledger.use(f"tag{n}", lambda t: searched.append(t) or str(100 + len(searched)))
    assert ledger.use("tag0", lambda t: pytest.fail("cached")) == "101"
    with pytest.raises(PlatformError, match=r"#tag30 not searched: this account used 30 of its 30 unique hashtags"):
        ledger.use("tag30", lambda t: "1")
    clock.now += BUDGET_WINDOW  # tag0 was used again a moment later; the others' week is over
    assert ledger.use("tag30", lambda t: "999") == "999"
    assert HashtagLedger(tmp_path / "l.json", clock=clock).recent().keys() == {"tag30"}


def test_graph_errors_become_one_actionable_line(ig, tmp_path):
    with pytest.raises(PlatformError, match=r"refused the token in \$WLB_IG_TOKEN .*code 190.*long-lived"):
        list(InstagramCollector(api(ig, "wrong"), HashtagLedger(tmp_path / "l.json"),
                                first_tag="x").pages("welovebrussels", None))
    ig.fail_next("GET", "/ig_hashtag_search", error(4, "Application request limit reached", transient=True))
    with pytest.raises(PlatformError) as caught:
        list(collector(ig, tmp_path, first_tag="x").pages("welovebrussels", None))
    assert "rate limit" in str(caught.value) and "fbtrace_id AbCdEfGh123" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_cursor_too_long_to_keep_means_reading_the_window_from_its_start():
    assert Mark.decode(Mark(after="x" * MAX_CURSOR).encode()).after == "x" * MAX_CURSOR
    assert Mark.decode(Mark(after="x" * (MAX_CURSOR + 1)).encode()) == Mark()
    assert Mark.decode("garbage") == Mark()


def test_parse_is_strict_on_identity():
    ok = {"id": "1790", "permalink": "https://www.instagram.com/p/X/", "timestamp": "2026-12-01T10:00:00+0000",
          "media_type": "IMAGE", "media_url": "https://cdn.example/1.jpg"}
    assert parse_media(ok)[0] is not None
    assert parse_media(ok | {"permalink": "https://evil.example/p/X/"}) == (None, "malformed (no permalink)")
    assert parse_media(ok | {"media_url": None}) == (None, "no image (Instagram sent no media_url)")
    with pytest.raises(ValueError):
        parse_media(ok | {"id": "../me"})


def claim(record: dict, **kw) -> OriginClaim:
    return OriginClaim(**({"key": f"instagram:{record['id']}", "remote_id": record["id"], "url": record["permalink"],
                           "author_handle": record["_username"]} | kw))


def test_verify_a_hashtag_find_is_vouched_for_by_the_reviewers_credit_only(ig, tmp_path):
    record = ig.add_media(SMALL)
    c = collector(ig, tmp_path)
    assert not c.verify(claim(record, author_handle="", author_uid=UNCREDITED)).verified
    assert c.verify(claim(record, author_handle="", author_uid=UNCREDITED, reviewer_credit="Jane")).verified


def test_verify_a_tagged_photo_on_our_tags_edge(ig, tmp_path):
    record = ig.add_media(SMALL, tagged=True, username="jane.doe")
    c = collector(ig, tmp_path)
    check = c.verify(claim(record))
    assert check.verified and check.image_urls == (record["media_url"],)
    assert "someone.else" in c.verify(claim(record, author_handle="someone.else")).problem
    gone = claim(record, remote_id="1", key="instagram:1")
    assert c.verify(gone).verified, "not on the edge: the credit Instagram gave stands"
    assert c.verify(claim(record, key="flickr:1")).problem


def test_a_business_use_case_limit_says_when_access_returns(ig, tmp_path):
    import json

    usage = {IG_USER_ID: [{"type": "instagram", "call_count": 100, "total_cputime": 30, "total_time": 40,
                           "estimated_time_to_regain_access": 17}]}
    limited = error(80002, "There have been too many calls to this Instagram account", transient=True)
    ig.fail_next("GET", "/ig_hashtag_search", limited._replace(headers={"X-Business-Use-Case-Usage": json.dumps(usage)}))
    with pytest.raises(PlatformError, match=r"rate limit reached .*code 80002.*access returns in about 17 min; "
                                            r"the rest waits for a later run"):
        list(collector(ig, tmp_path, first_tag="x").pages("welovebrussels", None))


def test_a_next_link_that_repeats_its_cursor_ends_the_read(ig, tmp_path):
    from tests.fakes.server import Reply

    ig.hashtags["welovebrussels"] = "17843857450040591"
    record = ig.add_media(SMALL)
    shown = {k: v for k, v in record.items() if not k.startswith("_")}
    page = {"data": [shown], "paging": {"cursors": {"after": "QVFI"},
                                        "next": f"{ig.graph_url}/17843857450040591/recent_media?after=QVFI"}}
    for _ in range(3):
        ig.fail_next("GET", "/17843857450040591/recent_media", Reply(200, page))
    posts, pages = run(collector(ig, tmp_path, first_tag="other"))
    assert len(pages) == 2 and [c.query.get("after") for c in ig.calls("/recent_media")] == [None, ["QVFI"]]
    assert len(posts) == 1


def test_a_search_that_fails_still_counts_against_the_seven_day_budget(tmp_path):
    # Instagram counts the query, whatever it answers: a tag that found nothing (or whose answer was lost) is used.
    from core.errors import NotFound
    ledger = HashtagLedger(tmp_path / "l.json", budget=1)

    def missing(tag):
        raise NotFound(f"Instagram has no hashtag #{tag}")
    with pytest.raises(NotFound):
        ledger.use("nosuchtag", missing)
    assert set(ledger.recent()) == {"nosuchtag"}
    with pytest.raises(PlatformError, match="1 of its 1 unique hashtags"):
        ledger.use("other", lambda tag: "17843853986012965")
