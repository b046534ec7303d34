"""`wlb consent` through cli.main: the ledger for people and scripts, answers recorded by a person, bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import cli
from core.models import ConsentRequest, ConsentState, utcnow
from tests.consent.ledger import add_post, ledger, status


@pytest.fixture
def wlb(tmp_path, db_url, db, capsys, askers):
    """cli.main on a config whose `community` channel asks first; returns (exit code, stdout, stderr)."""
    config = tmp_path / "config.toml"
    config.write_text(f"""
database = "{db_url}"
[channels.source]
kind = "mastodon"
base_url = "https://fake.social"
[channels.community]
kind = "mastodon"
base_url = "https://community.social"
collect = false
publish = true
token_env = "WLB_PUB_TOKEN"
consent = "ask"
""", encoding="utf-8")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_approve_says_the_item_awaits_consent_and_consent_shows_the_request(wlb, db):
    item = add_post(db, text="Sunset over the Grand Place, what a light tonight")
    code, out, _ = wlb("approve", str(item))
    assert code == 0 and f"#{item} awaiting the photographer's consent" in out
    assert "the next run asks them from community" in out
    code, out, _ = wlb("consent", str(item))
    assert code == 0 and f"#{item} (awaiting-consent): request planned" in out
    assert "Hi @dirk@fake.social!" in out and "https://fake.social/@dirk/1" in out
    assert "copy this message" not in out, "the next run sends it: nothing to copy"
    shown = json.loads(wlb("consent", str(item), "--json")[1])
    assert shown["state"] == "planned" and shown["asked_by"] == "tester" and shown["language"] == "en"
    assert shown["request"] == ledger(db, item).request_text and shown["message"] is None
    item_view = json.loads(wlb("show", str(item), "--json", "--no-preview")[1])
    assert item_view["consent"] == {"state": "planned", "channel": "community", "language": "en",
                                    "summary": "request planned from community"}
    assert "consent: request planned from community ('wlb consent" in wlb("show", str(item), "--no-preview")[1]
    assert [i["id"] for i in json.loads(wlb("queue", "--status", "awaiting-consent", "--json")[1])] == [item]


def test_a_manual_request_gives_the_message_to_copy_and_the_answer_is_recorded(wlb, db):
    item = add_post(db, handle="dirk.bxl", network="instagram", platform="instagram", language="fr")
    assert wlb("approve", str(item))[0] == 0
    code, out, _ = wlb("consent", str(item))
    assert code == 0 and "copy this message" in out and "Bonjour @dirk.bxl !" in out and "oui ou non" in out
    assert f"wlb consent {item} --granted --proof" in out
    code, out, _ = wlb("consent", str(item), "--granted", "--proof", "Instagram DM of 3 Dec: oui avec plaisir")
    assert code == 0 and f"✓ #{item}: the photographer granted (recorded by tester)" in out
    request = ledger(db, item)
    assert status(db, item) == "approved" and request.state == ConsentState.GRANTED
    assert request.decided_by == "tester" and request.proof == "Instagram DM of 3 Dec: oui avec plaisir"
    code, _, err = wlb("consent", str(item), "--refused", "--proof", "changed her mind")
    assert code == 2 and "its request is granted; nothing recorded" in err and err.count("\n") == 1


def test_a_refusal_recorded_by_a_person_rejects_the_item_with_their_words(wlb, db):
    item = add_post(db, handle="dirk.bxl", network="instagram", platform="instagram")
    wlb("approve", str(item))
    assert wlb("consent", str(item), "--refused", "--proof", "DM: liever niet")[0] == 0
    assert status(db, item) == "rejected" and ledger(db, item).answer_text == "DM: liever niet"
    shown = json.loads(wlb("show", str(item), "--json", "--no-preview")[1])
    assert "the photographer said no: DM: liever niet" in shown["reasons"]


@pytest.mark.parametrize("args, message", [
    (["--granted"], "--proof is required"),
    (["--granted", "--proof", "  "], "--proof is required"),
    (["--granted", "--refused", "--proof", "x"], "choose one of --granted and --refused"),
    (["--proof", "x"], "--proof goes with --granted or --refused"),
    (["--author", "dirk"], "give an item id or --author, not both"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(wlb, db, args, message):
    item = add_post(db)
    wlb("approve", str(item))
    code, out, err = wlb("consent", str(item), *args)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert ledger(db, item).state == ConsentState.PLANNED, "nothing recorded"


def test_unknown_items_and_items_never_asked_are_refused_in_one_line(wlb, db):
    never = add_post(db, license="CC BY 4.0")
    assert wlb("consent", "999")[2].startswith("error: no item #999")
    code, _, err = wlb("consent", str(never))
    assert code == 2 and "has no consent request" in err
    assert wlb("consent", "--granted", "--proof", "x")[0] == 2
    assert wlb("consent", "abc")[0] == 2


def test_the_open_requests_and_a_photographers_ledger_with_their_age(wlb, db):
    old, new = add_post(db), add_post(db, handle="anna@other.social")
    done = add_post(db, handle="dirk.bxl", network="instagram", platform="instagram")
    for item in (old, new, done):
        wlb("approve", str(item))
    wlb("consent", str(done), "--granted", "--proof", "DM yes")
    _age(db, old, days=3)
    rows = json.loads(wlb("consent", "--json")[1])
    assert [(r["item"], r["state"]) for r in rows] == [(old, "planned"), (new, "planned")]
    assert rows[0]["age_hours"] >= 72 and rows[0]["author"] == "dirk@fake.social"
    code, out, _ = wlb("consent")
    assert code == 0 and "open requests" in out and "3d" in out
    mine = json.loads(wlb("consent", "--author", "@dirk", "--json")[1])
    assert {r["item"] for r in mine} == {old}, "dirk finds dirk@fake.social, not dirk.bxl"
    assert [r["item"] for r in json.loads(wlb("consent", "--author", "dirk.bxl", "--json")[1])] == [done]
    assert "no requests to @nobody" in wlb("consent", "--author", "nobody")[1]
    with db.session() as session:  # the consent stage could not send it (the post is gone): someone should know
        request = session.get(ConsentRequest, ledger(db, new).id)
        request.state, request.error = ConsentState.FAILED, "the post is gone (404)"
        session.add(request)
        session.commit()
    assert [(r["item"], r["state"]) for r in json.loads(wlb("consent", "--json")[1])] == [(old, "planned"), (new, "failed")]
    wlb("reject", str(new))
    assert [r["item"] for r in json.loads(wlb("consent", "--json")[1])] == [old], "rejected: nobody waits on it"
    report = json.loads(wlb("report", "--json")[1])["consent"]
    assert report == {"asked": 3, "granted": 1, "refused": 0, "awaiting": 1, "expired": 0}
    assert "awaiting consent" in wlb("report")[1]


def test_remote_words_reach_the_terminal_inert(wlb, db):
    item = add_post(db, handle="dirk.bxl", network="instagram", platform="instagram")
    wlb("approve", str(item))
    with db.session() as session:
        request = session.get(ConsentRequest, ledger(db, item).id)
        request.state, request.answer_text = ConsentState.UNCLEAR, "peut-être\x1b]52;c;ZXZpbA==\x07 \x1b[31mred\u202e"
        session.add(request)
        session.commit()
    code, out, _ = wlb("consent", str(item))
    assert code == 0 and "peut-être" in out and "red" in out
    assert "\x1b]52" not in out and "\u202e" not in out and "ZXZpbA" not in out
    assert "copy this message" in out, "an unclear answer: a person asks again"
    raw = wlb("consent", str(item), "--json")[1]
    assert "\\u202e" in raw and "\x1b" not in raw.replace("\\u001b", "")


def _age(db, item: int, *, days: int) -> None:
    with db.session() as session:
        request = session.get(ConsentRequest, ledger(db, item).id)
        request.created_at = utcnow() - timedelta(days=days)
        session.add(request)
        session.commit()


def test_forget_keeps_only_the_ledgers_audit_record(wlb, db, monkeypatch):
    monkeypatch.setenv("WLB_PUB_TOKEN", "not-used")
    item, other = add_post(db), add_post(db, handle="anna@other.social")
    wlb("approve", str(item))
    wlb("approve", str(other))
    before = ledger(db, item)
    with db.session() as session:
        request = session.get(ConsentRequest, before.id)
        request.state, request.answer_text, request.proof = ConsentState.UNCLEAR, "peut-être, qui êtes-vous ?", "x"
        request.answer_url, request.answer_remote_id, request.request_remote_id = "https://fake.social/@dirk/7", "7", "99"
        request.request_url = "https://community.social/@wlb/99"
        session.add(request)
        session.commit()
    code, _, err = wlb("forget", "--author", "dirk@fake.social", "--reason", "email of 3 Dec")
    assert code == 0, err
    after = ledger(db, item)
    assert (after.id, after.post_id, after.channel, after.platform, after.asked_by, after.created_at) == \
        (before.id, before.post_id, before.channel, before.platform, before.asked_by, before.created_at)
    assert after.state == ConsentState.CANCELLED and after.request_remote_id == "99", "our reply can still be found"
    assert (after.author_id, after.request_text, after.target_url, after.request_url, after.answer_text,
            after.answer_url, after.answer_remote_id, after.proof) == (None, "", "", None, None, None, None, None)
    assert ledger(db, other).request_text.startswith("Bonjour @anna@other.social"), "anna's request untouched"
    assert json.loads(wlb("consent", "--author", "dirk@fake.social", "--json")[1]) == []


def test_unpublishing_an_item_that_awaits_consent_cancels_its_request(wlb, db, monkeypatch):
    monkeypatch.setenv("WLB_PUB_TOKEN", "not-used")
    item = add_post(db)
    wlb("approve", str(item))
    code, _, err = wlb("unpublish", str(item), "--reason", "the photographer asked us by email")
    assert code == 0, err
    assert status(db, item) == "rejected" and ledger(db, item).state == ConsentState.CANCELLED
    assert json.loads(wlb("consent", "--json")[1]) == [], "nothing left open"
