"""The web view on a channel that asks first: approving makes the item await consent, and its page says so."""

from __future__ import annotations

from app import accounts
from app.config import load_settings
from app.workspace import Workspace
from tests.fakes import images
from tests.web.conftest import PASSWORD, T0, Web
from tests.web.test_web_review import decide


def test_approving_in_the_browser_asks_first_and_the_item_page_shows_the_request(site):
    site.write_config(channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

{site.community_channel()}consent = "ask"
""")
    site.source.add_status(images=[images.jpeg(61)], created_at=T0, acct="anna",
                           text="Zonsondergang boven de Grote Markt, wat een licht vanavond", language="nl-BE")
    assert site.wlb("collect").code == 0
    [item] = [i["id"] for i in site.queue("pending")]
    with Workspace(load_settings(site.config, check_secrets=False)) as ws:
        accounts.add_user(ws.db, "alice", PASSWORD)
        client = Web(site, ws, item, item).signed_in("alice")
        answer = decide(client, item, "approve", targets="community")
        assert answer.status_code == 303
        grid = client.get(answer.headers["location"])
        assert f"#{item} awaiting the photographer&#39;s consent" in grid.text
        assert "the next run asks them from community" in grid.text
        page = client.get(f"/items/{item}")
        assert "<dt>Consent</dt>" in page.text and "request planned from community" in page.text
        assert f"wlb consent {item}" in page.text
    shown = site.wlb("consent", str(item), "--json").json()
    assert shown["state"] == "planned" and shown["asked_by"] == "alice" and shown["language"] == "nl"
