"""After a crash, the repost we already made is recognised on our own timeline, however its link is escaped."""

from __future__ import annotations

import html

import httpx

from platforms.mastodon import MastodonAPI
from core.http import Http
from core.settings import NetworkSettings
from publisher.base import PublishRequest
from publisher.mastodon import MastodonPublisher

BASE = "https://community.example"
ORIGINAL = "https://blog.example/photo?id=7&lang=fr"


def test_a_link_with_an_ampersand_is_found_in_the_statuses_html():
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/api/v1/accounts/verify_credentials":
            return httpx.Response(200, json={"id": "1", "username": "welovebrussels", "acct": "welovebrussels"})
        # Mastodon's REST::StatusSerializer sends `content` as sanitized HTML: "&" is written "&amp;".
        link = html.escape(ORIGINAL)
        return httpx.Response(200, json=[{"id": "9", "uri": f"{BASE}/users/welovebrussels/statuses/9",
                                          "url": f"{BASE}/@welovebrussels/9",
                                          "content": f'<p>Sunset</p><p>📷 · <a href="{link}">{link}</a></p>'}])

    http = Http(NetworkSettings(), transport=httpx.MockTransport(answer), resolve=lambda *_: [(2, 1, 6, "", ("93.184.216.34", 443))])
    publisher = MastodonPublisher(MastodonAPI(http, BASE, "token"))
    found = publisher.find_existing(PublishRequest(text="Sunset", images=[], idempotency_key="k", original_url=ORIGINAL))
    assert found is not None and found.remote_id == "9", "not recognised: the next run would post it again"
    assert [r.url.path for r in sent] == ["/api/v1/accounts/verify_credentials", "/api/v1/accounts/1/statuses"]
    assert all(r.headers["authorization"] == "Bearer token" for r in sent)
