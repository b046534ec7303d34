"""Mastodon collector paging against documented Status shapes over an httpx MockTransport."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from collector.mastodon import Mark, MastodonCollector
from platforms.mastodon import MastodonAPI, link_cursor, parse_link_header
from core.errors import PlatformError
from core.http import Http
from core.settings import NetworkSettings

HOST = "mastodon.example"


def status(n: int, *, acct: str = "alice", media: list[str] | None = None, reblog: dict | None = None,
           host: str = HOST) -> dict:
    media = ["image"] if media is None else media
    user, _, home = acct.partition("@")
    home = home or host
    return {
        "id": str(n), "uri": f"https://{home}/users/{user}/statuses/{n}", "url": f"https://{home}/@{user}/{n}",
        "created_at": f"2026-11-{(n % 27) + 1:02d}T10:00:00.000Z", "content": f"<p>Photo {n} <a href=\"https://{HOST}/tags/welovebrussels\" class=\"mention hashtag\">#<span>welovebrussels</span></a></p>",
        "sensitive": False, "spoiler_text": "", "language": "fr", "visibility": "public", "reblog": reblog,
        "account": {"id": "9", "username": user, "acct": acct, "display_name": "Alice",
                    "url": f"https://{home}/@{user}"},
        "media_attachments": [{"id": f"{n}{i}", "type": t, "url": f"https://{HOST}/media/{n}-{i}.jpg",
                               "preview_url": None, "remote_url": None, "description": "Grand-Place",
                               "meta": {"original": {"width": 1080, "height": 1350}}} for i, t in enumerate(media)],
        "tags": [{"name": "welovebrussels", "url": f"https://{HOST}/tags/welovebrussels"}],
    }


class Timeline:
    """A tag timeline with Mastodon's max_id/min_id semantics, `limit` capped at `cap`, and its Link header."""

    def __init__(self, ids: list[int], *, cap: int = 40, links: bool = True):
        self.statuses = [status(n) for n in sorted(ids, reverse=True)]
        self.requests: list[httpx.Request] = []
        self.cap, self.links = cap, links

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/instance":
            return httpx.Response(200, json={"domain": HOST})
        self.requests.append(request)
        q = request.url.params
        limit = min(int(q.get("limit", 20)), self.cap)
        items = self.statuses
        if "max_id" in q:
            items = [s for s in items if int(s["id"]) < int(q["max_id"])][:limit]
        elif "min_id" in q:
            items = sorted((s for s in items if int(s["id"]) > int(q["min_id"])), key=lambda s: int(s["id"]))[:limit][::-1]
        else:
            items = items[:limit]
        headers = {}
        if items and self.links:
            base = f"https://{HOST}{request.url.path}?"
            headers["Link"] = (f'<{base}{urlencode({"limit": q.get("limit"), "max_id": items[-1]["id"]})}>; rel="next", '
                               f'<{base}{urlencode({"limit": q.get("limit"), "min_id": items[0]["id"]})}>; rel="prev"')
        return httpx.Response(200, json=items, headers=headers)

    def sent(self) -> list[dict]:
        return [dict(r.url.params) for r in self.requests]


def collector(handler, page_size: int = 2, backfill_pages: int = 5, token: str | None = None) -> MastodonCollector:
    http = Http(NetworkSettings(), transport=httpx.MockTransport(handler), resolve=lambda h, p: [(2, 1, 6, "", ("93.184.215.14", p))],
                sleep=lambda s: None)
    return MastodonCollector(MastodonAPI(http, f"https://{HOST}", token), page_size=page_size, backfill_pages=backfill_pages)


def marks(pages) -> list[Mark | None]:
    return [Mark.decode(p.watermark) if p.watermark else None for p in pages]


def ids(pages) -> list[str]:
    return [p.remote_id for page in pages for p in page.posts]


def test_first_run_takes_the_newest_page_then_backfills_with_max_id_from_the_link():
    timeline = Timeline([1, 2, 3, 4, 5])
    pages = list(collector(timeline).pages("welovebrussels", None))
    assert ids(pages) == ["5", "4", "3", "2", "1"]
    # A full last page still carries rel="next": only the empty page after it ends the backfill.
    assert marks(pages) == [Mark("5", "4", 4), Mark("5", "2", 3), Mark("5", "1", 2), Mark("5", None, 1)]
    assert timeline.sent() == [{"limit": "2"}, {"limit": "2", "max_id": "4"}, {"limit": "2", "max_id": "2"},
                               {"limit": "2", "max_id": "1"}]
    assert all(r.url.path == "/api/v1/timelines/tag/welovebrussels" for r in timeline.requests)


def test_a_short_page_is_not_the_end_when_the_instance_caps_the_limit():
    timeline = Timeline(list(range(1, 61)), cap=20)
    pages = list(collector(timeline, page_size=40).pages("welovebrussels", None))
    assert sorted(map(int, ids(pages))) == list(range(1, 61))
    assert timeline.sent() == [{"limit": "40"}, {"limit": "40", "max_id": "41"}, {"limit": "40", "max_id": "21"},
                               {"limit": "40", "max_id": "1"}]


def test_no_link_header_means_no_more_pages():
    timeline = Timeline(list(range(1, 10)), links=False)
    pages = list(collector(timeline).pages("welovebrussels", None))
    assert ids(pages) == ["9", "8"] and len(timeline.requests) == 1
    assert marks(pages) == [Mark("9", None, 4)]


def test_backfill_stops_at_the_configured_page_count():
    timeline = Timeline(list(range(1, 50)))
    pages = list(collector(timeline, page_size=5, backfill_pages=2).pages("welovebrussels", None))
    assert len(timeline.requests) == 2
    assert marks(pages)[-1] == Mark("49", None, 0)


def test_an_interrupted_first_run_resumes_without_refetching():
    timeline = Timeline(list(range(1, 11)))
    pages = collector(timeline).pages("welovebrussels", None)
    committed = [next(pages), next(pages)]  # the process dies here, after two pages were committed
    seen = {p.remote_id for page in committed for p in page.posts}
    timeline.statuses.insert(0, status(11))  # a new post arrives meanwhile
    timeline.requests.clear()
    rest = list(collector(timeline).pages("welovebrussels", committed[-1].watermark))
    again = [p.remote_id for page in rest for p in page.posts]
    assert sorted(seen | set(again), key=int) == [str(n) for n in range(1, 12)]
    assert not seen & set(again), "nothing fetched twice"
    assert timeline.sent()[:3] == [{"limit": "2", "min_id": "10"}, {"limit": "2", "min_id": "11"},
                                   {"limit": "2", "max_id": "7"}]


def test_incremental_run_pages_forward_with_min_id_and_advances_per_page():
    timeline = Timeline([1, 2, 3, 4, 5, 6])
    pages = list(collector(timeline).pages("welovebrussels", Mark("2").encode()))
    assert [[p.remote_id for p in page.posts] for page in pages] == [["4", "3"], ["6", "5"]]
    assert marks(pages) == [Mark("4"), Mark("6")]
    assert [r.url.params.get("min_id") for r in timeline.requests] == ["2", "4", "6"]


def test_forward_paging_goes_on_after_a_capped_short_page():
    timeline = Timeline(list(range(1, 106)), cap=20)
    pages = list(collector(timeline, page_size=40).pages("welovebrussels", Mark("5").encode()))
    assert sorted(map(int, ids(pages))) == list(range(6, 106))
    assert [r.url.params.get("min_id") for r in timeline.requests] == ["5", "25", "45", "65", "85", "105"]


def test_a_bare_id_watermark_still_works():
    timeline = Timeline([1, 2, 3])
    pages = list(collector(timeline).pages("welovebrussels", "2"))
    assert ids(pages) == ["3"]


def test_incremental_run_with_nothing_new_makes_one_request():
    timeline = Timeline([1, 2, 3])
    assert list(collector(timeline, page_size=40).pages("welovebrussels", Mark("3").encode())) == []
    assert len(timeline.requests) == 1


def test_token_is_sent_as_bearer():
    timeline = Timeline([1])
    list(collector(timeline, token="tok").pages("welovebrussels", Mark("0").encode()))
    assert timeline.requests[0].headers["authorization"] == "Bearer tok"


def test_a_bad_record_costs_one_record_and_the_cursor_moves_past_it():
    timeline = Timeline([1, 2, 3, 4])
    del timeline.statuses[1]["account"]["url"]  # id 3
    timeline.statuses[2]["content"] = ["not", "html"]  # id 2: decoration, read leniently
    pages = list(collector(timeline).pages("welovebrussels", None))
    assert ids(pages) == ["4", "2", "1"]
    assert pages[0].skipped == {"malformed: account.url missing": 1}
    assert marks(pages)[-1] == Mark("4", None, 2)


def test_the_instance_domain_is_asked_once_per_collector():
    timeline = Timeline([1, 2, 3, 4, 5])
    asked = []

    def handler(request):
        if request.url.path == "/api/v2/instance":
            asked.append(request)
        return timeline(request)

    c = collector(handler)
    list(c.pages("welovebrussels", None))
    list(c.pages("other", None))
    assert len(asked) == 1


def test_unknown_tag_is_an_empty_timeline_and_401_names_the_token_variable():
    c = collector(lambda r: httpx.Response(404, json={"error": "Record not found"}))
    assert list(c.pages("nope", None)) == []
    http = Http(NetworkSettings(), transport=httpx.MockTransport(lambda r: httpx.Response(401, json={"error": "This API requires an authenticated user"})),
                resolve=lambda h, p: [(2, 1, 6, "", ("93.184.215.14", p))])
    api = MastodonAPI(http, f"https://{HOST}", None, token_env="WLB_TOK")
    with pytest.raises(PlatformError, match=r"refused .*401: This API requires an authenticated user.*\$WLB_TOK"):
        api.tag_timeline("welovebrussels", limit=40)


def test_link_header_parsing():
    value = '<https://m.example/api/v1/timelines/tag/x?max_id=1>; rel="next", <https://m.example/api/v1/timelines/tag/x?min_id=9>; rel="prev"'
    links = parse_link_header(value)
    assert links == {"next": "https://m.example/api/v1/timelines/tag/x?max_id=1",
                     "prev": "https://m.example/api/v1/timelines/tag/x?min_id=9"}
    assert link_cursor(links, "next", "max_id") == "1" and link_cursor(links, "prev", "min_id") == "9"
    assert link_cursor(links, "next", "min_id") is None and link_cursor({}, "next", "max_id") is None


def test_a_body_nested_too_deep_is_a_channel_error_not_a_crash():
    c = collector(lambda r: httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000,
                                           headers={"content-type": "application/json"}))
    with pytest.raises(PlatformError, match="nested too deeply"):
        list(c.pages("welovebrussels", Mark("1").encode()))


def test_records_without_a_usable_id_are_counted_not_lost():
    page = [status(3), "not a status", dict(status(9), id={"$oid": 9}), status(2)]

    def handler(request):
        if request.url.path == "/api/v2/instance":
            return httpx.Response(200, json={"domain": HOST})
        return httpx.Response(200, json=page if request.url.params["min_id"] == "1" else [])

    pages = list(collector(handler, page_size=5).pages("welovebrussels", Mark("1").encode()))
    assert ids(pages) == ["3", "2"] and marks(pages) == [Mark("3")]
    assert pages[0].skipped == {"malformed: not an object": 1, "malformed: id missing": 1}
