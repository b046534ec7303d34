"""Deciding in the browser: the same queue functions, gates, leases and history as the CLI."""

from __future__ import annotations

import re
from datetime import timedelta

from app import accounts
from app.config import load_settings
from app.web import routes
from app.workspace import Workspace
from core.models import Post
from curation import queue
from tests.curation.engine_photos import TRANSFORMS, jpeg, photo
from tests.web.conftest import PASSWORD, T0, Web, csrf


def decide(client, item_id: int, verb: str, **fields):
    page = client.get(f"/items/{item_id}?status=pending")
    expected = re.search(r'name="expected" value="([a-z]+)"', page.text)[1]
    version = re.search(r'name="version" value="([0-9]+)"', page.text)[1]
    data = {"csrf": csrf(page.text), "expected": expected, "version": version, "back": "status=pending", **fields}
    return client.post(f"/items/{item_id}/{verb}", data=data)


def test_approve_through_the_form_records_the_signed_in_reviewer(web):
    client = web.signed_in("alice")
    answer = decide(client, web.first, "approve", targets="community", caption="Grand-Place at dusk")
    assert answer.status_code == 303 and answer.headers["location"] == "/?status=pending"
    grid = client.get(answer.headers["location"])
    assert f"✓ #{web.first} approved → community" in grid.text
    item = web.item(web.first)
    assert item["status"] == "approved" and item["caption"] == "Grand-Place at dusk"
    assert (item["history"][-1]["actor"], item["history"][-1]["action"]) == ("alice", "approve")


def test_reject_through_the_form_records_the_reason_and_reviewer(web):
    client = web.signed_in("bob")
    assert decide(client, web.second, "reject", reason="blurry").status_code == 303
    item = web.item(web.second)
    assert item["status"] == "rejected" and item["reasons"] == ["blurry"]
    assert (item["history"][-1]["actor"], item["history"][-1]["action"]) == ("bob", "reject")


def test_mark_duplicate_and_edit_without_deciding(web):
    client = web.signed_in("alice")
    answer = decide(client, web.first, "edit", caption="New caption", targets="community", targets_shown="1")
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/items/{web.first}?")
    assert f"✓ #{web.first}: caption saved" in client.get(answer.headers["location"]).text
    item = web.item(web.first)
    assert item["status"] == "pending" and item["caption"] == "New caption"
    assert [(h["actor"], h["action"]) for h in item["history"]][-1] == ("alice", "caption")
    assert decide(client, web.first, "duplicate", of=str(web.second)).status_code == 303
    item = web.item(web.first)
    assert item["status"] == "duplicate" and item["duplicate_of"] == web.second


def test_a_decision_on_an_item_changed_since_the_page_was_shown_is_refused_then_overridden(web):
    alice = web.signed_in("alice")
    page = alice.get(f"/items/{web.first}")
    form = {"csrf": csrf(page.text), "expected": "pending", "targets": "community"}
    queue.reject(web.ws.db, [web.first], reason="offensive", actor="bob", override=True)  # bob, in a terminal
    refused = alice.post(f"/items/{web.first}/approve", data=form)
    assert refused.status_code == 409
    assert f"item #{web.first} was changed from pending to rejected by bob (reject at" in refused.text
    assert "decide anyway (recorded)" in refused.text and 'name="expected" value="rejected"' in refused.text
    assert web.item(web.first)["status"] == "rejected"
    answer = alice.post(f"/items/{web.first}/approve", data={**form, "override": "1"})
    assert answer.status_code == 303
    item = web.item(web.first)
    assert item["status"] == "approved"
    assert [(h["actor"], h["action"]) for h in item["history"]][-3:] == [
        ("bob", "reject"), ("alice", "override"), ("alice", "approve")]
    assert "changed from pending to rejected by bob" in item["history"][-2]["reason"]


def test_a_colleagues_edit_since_the_page_was_shown_refuses_the_decision(web):
    """Same status, other caption: approving would publish bob's caption, which alice never saw."""
    alice = web.signed_in("alice")
    page = alice.get(f"/items/{web.first}")
    version = re.search(r'name="version" value="([0-9]+)"', page.text)[1]
    form = {"csrf": csrf(page.text), "expected": "pending", "version": version, "targets": "community"}
    queue.edit(web.ws.db, web.first, caption="bob's words", actor="bob", override=True)  # bob, in a terminal
    refused = alice.post(f"/items/{web.first}/approve", data=form)
    assert refused.status_code == 409 and f"item #{web.first} was changed by bob (caption at" in refused.text
    assert web.item(web.first)["status"] == "pending"
    again = alice.get(f"/items/{web.first}")  # reloaded: bob's caption is on the page, and the form expects it
    assert "bob&#39;s words" in again.text or "bob's words" in again.text
    assert decide(alice, web.first, "approve", targets="community").status_code == 303
    assert web.item(web.first)["status"] == "approved"


def test_an_item_open_in_another_browser_shows_who_and_refuses_until_overridden(web):
    bob = web.signed_in("bob")
    assert "is reviewing this" not in bob.get(f"/items/{web.first}").text
    alice = web.signed_in("alice")
    page = alice.get(f"/items/{web.first}")
    assert re.search(r"bob is reviewing this until \d\d:\d\d", page.text)
    form = {"csrf": csrf(page.text), "expected": "pending", "reason": "not Brussels"}
    refused = alice.post(f"/items/{web.first}/reject", data=form)
    assert refused.status_code == 409 and "bob is reviewing it" in refused.text
    assert web.item(web.first)["status"] == "pending"
    assert alice.post(f"/items/{web.first}/reject", data={**form, "override": "1"}).status_code == 303
    history = web.item(web.first)["history"]
    assert [(h["actor"], h["action"]) for h in history][-2:] == [("alice", "override"), ("alice", "reject")]
    # The decision cleared the lease: bob's page no longer claims it.
    assert "is reviewing this" not in bob.get(f"/items/{web.first}").text


def test_the_gates_are_the_clis(web):
    web.site.set_post(web.first, needs_credit=True)
    client = web.signed_in()
    refused = decide(client, web.first, "approve", targets="community")
    assert refused.status_code == 409 and "needs credit" in refused.text and "“credit”" in refused.text
    bad = decide(client, web.first, "approve", targets="community", credit="@x@y@z")
    assert bad.status_code == 400
    ok = decide(client, web.first, "approve", targets="community", credit="Jo Photographer")
    assert ok.status_code == 303 and web.item(web.first)["credit"] == "Jo Photographer"


def test_the_grid_filters_like_wlb_queue(web):
    client = web.signed_in()
    page = client.get("/?author=@first")
    assert f'href="/items/{web.first}?' in page.text and f'href="/items/{web.second}?' not in page.text
    assert page.text.count('<img src="/thumb/') == 1
    assert "2 pending items" in client.get("/").text
    bad = client.get("/?since=yesterday")
    assert bad.status_code == 400 and "write a duration such as 30m" in bad.text
    escaped = client.get("/?author=<script>alert(1)</script>")
    assert "<script>alert" not in escaped.text and "&lt;script&gt;" in escaped.text


def test_possible_duplicates_are_shown_side_by_side_with_the_note_in_words(site):
    shared = photo(6)
    site.source.add_status(images=[jpeg(shared)], created_at=T0, acct="author")
    site.source.add_status(images=[TRANSFORMS["jpeg q40"](shared), jpeg(photo(7))], created_at=T0 + timedelta(hours=1),
                           acct="collage")
    assert site.wlb("collect").code == 0
    items = {i["author"]["handle"].split("@")[0]: i["id"] for i in site.queue("all")}
    with Workspace(load_settings(site.config, check_secrets=False)) as ws:
        accounts.add_user(ws.db, "alice", PASSWORD)
        web = Web(site, ws, items["collage"], items["author"])
        client = web.signed_in()
        grid = client.get("/?possible_duplicates=1")
        assert f'href="/items/{web.first}?' in grid.text and f'href="/items/{web.second}?' not in grid.text
        assert "possible duplicate" in grid.text
        page = client.get(f"/items/{web.first}")
        assert f"looks like #{web.second} by @author@fake.social, same photo" in page.text
        assert page.text.count('<img src="/thumb/') == 2  # this item and its look-alike, side by side
        assert f'name="of" list="candidates" inputmode="numeric" size="6" required value="{web.second}"' in page.text
        assert decide(client, web.first, "duplicate", of=str(web.second)).status_code == 303
    assert web.item(web.first)["status"] == "duplicate"


def test_remote_text_and_links_are_inert_in_the_page(web):
    web.site.set_post(web.first, text='<script>alert("x")</script><img src=x onerror=alert(1)>',
                      url="javascript:alert(document.cookie)")
    page = web.signed_in().get(f"/items/{web.first}")
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert "javascript:" not in page.text  # not a link, not anywhere


def test_the_open_page_renews_its_lease_with_the_csrf_header(web):
    client = web.signed_in()
    page = client.get(f"/items/{web.first}")
    with web.ws.db.session() as session:
        before = session.get(Post, web.first).lease_until
    assert client.post(f"/items/{web.first}/renew").status_code == 403
    answer = client.post(f"/items/{web.first}/renew", headers={"X-CSRF-Token": csrf(page.text)})
    assert answer.status_code == 200 and answer.text == "ok"
    with web.ws.db.session() as session:
        assert session.get(Post, web.first).lease_until >= before
    assert client.post(f"/items/{web.second}/renew", headers={"X-CSRF-Token": csrf(page.text)}).text == "lost"
    assert f'hx-post="/items/{web.first}/renew"' in page.text


def test_the_grid_pages(web, monkeypatch):
    monkeypatch.setattr(routes, "PAGE", 1)
    client = web.signed_in()
    first = client.get("/?status=pending")
    assert f'href="/items/{web.first}?' in first.text and "older →" in first.text and "← newer" not in first.text
    second = client.get("/?status=pending&offset=1")
    assert f'href="/items/{web.second}?' in second.text and "← newer" in second.text and "older →" not in second.text
    assert "2 pending items, showing 2–2" in second.text
