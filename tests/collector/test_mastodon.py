"""Mastodon collector against documented Status shapes over an httpx MockTransport."""

from __future__ import annotations

import httpx
import pytest

from collector.mastodon import Mark, MastodonCollector, parse_status
from collector.mastodon_api import MastodonAPI, parse_link_header
from core.errors import PlatformError
from core.http import Http
from core.settings import NetworkSettings

HOST = "mastodon.example"


def status(n: int, *, acct: str = "alice", media: list[str] | None = None, reblog: dict | None = None) -> dict:
    media = ["image"] if media is None else media
    return {
        "id": str(n), "uri": f"https://{HOST}/users/{acct}/statuses/{n}", "url": f"https://{HOST}/@{acct}/{n}",
        "created_at": f"2026-11-{(n % 27) + 1:02d}T10:00:00.000Z", "content": f"<p>Photo {n} <a href=\"https://{HOST}/tags/welovebrussels\" class=\"mention hashtag\">#<span>welovebrussels</span></a></p>",
        "sensitive": False, "spoiler_text": "", "language": "fr", "visibility": "public", "reblog": reblog,
        "account": {"id": "9", "username": acct.split("@")[0], "acct": acct, "display_name": "Alice",
                    "url": f"https://{HOST}/@{acct}"},
        "media_attachments": [{"id": f"{n}{i}", "type": t, "url": f"https://{HOST}/media/{n}-{i}.jpg",
                               "preview_url": None, "remote_url": None, "description": "Grand-Place",
                               "meta": {"original": {"width": 1080, "height": 1350}}} for i, t in enumerate(media)],
        "tags": [{"name": "welovebrussels", "url": f"https://{HOST}/tags/welovebrussels"}],
    }


class Timeline:
    """Serves a tag timeline with Mastodon's max_id/min_id semantics and records each request."""

    def __init__(self, ids: list[int]):
        self.statuses = [status(n) for n in sorted(ids, reverse=True)]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        q = request.url.params
        limit = int(q.get("limit", 20))
        items = self.statuses
        if "max_id" in q:
            items = [s for s in items if int(s["id"]) < int(q["max_id"])][:limit]
        elif "min_id" in q:
            items = sorted((s for s in items if int(s["id"]) > int(q["min_id"])), key=lambda s: int(s["id"]))[:limit][::-1]
        else:
            items = items[:limit]
        return httpx.Response(200, json=items)


def collector(handler, page_size: int = 2, backfill_pages: int = 5, token: str | None = None) -> MastodonCollector:
    http = Http(NetworkSettings(), transport=httpx.MockTransport(handler), resolve=lambda h, p: [(2, 1, 6, "", ("93.184.215.14", p))],
                sleep=lambda s: None)
    return MastodonCollector(MastodonAPI(http, f"https://{HOST}", token), page_size=page_size, backfill_pages=backfill_pages)


def marks(pages) -> list[Mark | None]:
    return [Mark.decode(p.watermark) if p.watermark else None for p in pages]


def test_first_run_takes_the_newest_page_then_backfills_with_max_id():
    timeline = Timeline([1, 2, 3, 4, 5])
    pages = list(collector(timeline).pages("welovebrussels", None))
    assert [p.remote_id for page in pages for p in page.posts] == ["5", "4", "3", "2", "1"]
    assert marks(pages) == [Mark("5", "4", 4), Mark("5", "2", 3), Mark("5", None, 2)]
    sent = [dict(r.url.params) for r in timeline.requests]
    assert sent == [{"limit": "2"}, {"limit": "2", "max_id": "4"}, {"limit": "2", "max_id": "2"}]
    assert all(r.url.path == "/api/v1/timelines/tag/welovebrussels" for r in timeline.requests)


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
    assert [dict(r.url.params) for r in timeline.requests][:2] == [{"limit": "2", "min_id": "10"}, {"limit": "2", "max_id": "7"}]


def test_incremental_run_pages_forward_with_min_id_and_advances_per_page():
    timeline = Timeline([1, 2, 3, 4, 5, 6])
    pages = list(collector(timeline).pages("welovebrussels", Mark("2").encode()))
    assert [[p.remote_id for p in page.posts] for page in pages] == [["4", "3"], ["6", "5"]]
    assert marks(pages) == [Mark("4"), Mark("6")]
    assert [r.url.params.get("min_id") for r in timeline.requests] == ["2", "4", "6"]


def test_a_bare_id_watermark_still_works():
    timeline = Timeline([1, 2, 3])
    pages = list(collector(timeline).pages("welovebrussels", "2"))
    assert [p.remote_id for page in pages for p in page.posts] == ["3"]


def test_incremental_run_with_nothing_new_makes_one_request():
    timeline = Timeline([1, 2, 3])
    assert list(collector(timeline, page_size=40).pages("welovebrussels", Mark("3").encode())) == []
    assert len(timeline.requests) == 1


def test_token_is_sent_as_bearer():
    timeline = Timeline([1])
    list(collector(timeline, token="tok").pages("welovebrussels", Mark("0").encode()))
    assert timeline.requests[0].headers["authorization"] == "Bearer tok"


def test_boost_is_unwrapped_and_local_acct_gets_the_instance_host():
    original = status(7, acct="bob@photos.example")
    boost = status(8, acct="carol", media=[], reblog=original)
    post, why = parse_status(boost, HOST)
    assert why is None
    assert post.key == original["uri"] and post.remote_id == "7"
    assert post.author.handle == "bob@photos.example"
    local, _ = parse_status(status(9, acct="Alice"), HOST)
    assert local.author.handle == f"alice@{HOST}"
    assert local.text == "Photo 9 #welovebrussels"
    assert local.images[0].alt_text == "Grand-Place" and local.images[0].width == 1080


@pytest.mark.parametrize(("media", "why"), [([], "no media"), (["video"], "video only"), (["audio"], "no image")])
def test_posts_without_images_are_skipped_with_a_reason(media, why):
    assert parse_status(status(1, media=media), HOST) == (None, why)


def test_mixed_media_keeps_only_images():
    post, _ = parse_status(status(1, media=["video", "image"]), HOST)
    assert [m.kind for m in post.media] == ["image"]


def test_a_status_without_identity_fails_loudly():
    broken = status(1)
    del broken["account"]
    with pytest.raises(PlatformError, match="without 'account'"):
        parse_status(broken, HOST)


def test_missing_decoration_is_fine():
    lean = status(1)
    for key in ("language", "tags", "spoiler_text", "sensitive"):
        lean.pop(key)
    lean["media_attachments"][0].pop("meta")
    post, _ = parse_status(lean, HOST)
    assert post.language is None and post.tags == () and post.images[0].width is None


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
    assert parse_link_header(value) == {"next": "https://m.example/api/v1/timelines/tag/x?max_id=1",
                                        "prev": "https://m.example/api/v1/timelines/tag/x?min_id=9"}
