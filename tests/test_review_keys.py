"""Each key of `wlb review`: its effect on the item, its history (who, what) and the one line it prints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.config import load_settings
from app.workspace import Workspace
from core.db import Database
from core.models import ImageMatch, Media, Post
from core.models import utcnow
from curation import leases
from curation.filters import ItemFilter
from tests.review_driver import history, lease_of, pending, review, show
from tests.site import Site


def possible(site: Site, item: int, *others: int) -> None:
    """Record `item` as looking like each of `others` (as curation does for a near match)."""
    db = Database(site.db_url)
    with db.session() as session:
        first = {m.post_id: m.id for m in session.exec(select(Media))}
        for other in others:
            session.add(ImageMatch(post_id=item, other_id=other, media_id=first[item], other_media_id=first[other],
                                   rule="cropped", tier="possible"))
        session.commit()
    db.dispose()


def test_a_approves_what_was_shown_with_one_confirmation_line_and_frees_the_item(site):
    ann, ben = pending(site, "ann", "ben")
    run = review(site, ["a"])
    assert show(site, ann)["status"] == "approved" and history(site, ann)[-1] == ("tester", "approve")
    assert run.shown.count(f"✓ #{ann} approved → community") == 1
    assert run.counts == {"approved": 1, "rejected": 0, "skipped": 0}
    assert show(site, ben)["status"] == "pending" and lease_of(site, ann) is None and lease_of(site, ben) is None


def test_r_asks_the_reason_and_enter_gives_none(site):
    ann, ben = pending(site, "ann", "ben")
    run = review(site, ["r", "r"], answers=["blurry", ""])
    assert run.prompts == ["reason (Enter for none)"] * 2
    assert show(site, ann)["reasons"] == ["blurry"] and show(site, ben)["status"] == "rejected"
    assert history(site, ann)[-1] == ("tester", "reject") and history(site, ben)[-1] == ("tester", "reject")
    assert f"✓ #{ann} rejected: blurry" in run.shown and f"✓ #{ben} rejected\n" in run.shown


def test_s_skips_leaving_the_item_pending_and_free_for_the_next_session(site):
    ann, ben = pending(site, "ann", "ben")
    run = review(site, ["s"])
    assert run.counts["skipped"] == 1 and run.screens_of(ben) == 1
    assert show(site, ann)["status"] == "pending" and lease_of(site, ann) is None
    assert history(site, ann) == [("wlb", "queue")], "a skip is not a decision"
    assert review(site, []).screens_of(ann) == 1, "the next session starts with it again"


def test_b_goes_back_to_the_previous_item_and_its_decision_applies_there(site):
    ann, ben = pending(site, "ann", "ben")
    run = review(site, ["b", "s", "b", "a"])
    assert "nothing before this item in this session" in run.shown
    assert run.screens_of(ann) == 3 and show(site, ann)["status"] == "approved"
    assert show(site, ben)["status"] == "pending" and lease_of(site, ben) is None


def test_b_says_who_holds_the_previous_item(site):
    ann, ben = pending(site, "ann", "ben")

    def bob_opens_ann_then_b(ws: Workspace) -> str:
        assert leases.claim(ws.db, ann, leases.new_owner("bob"), settings=ws.settings) is None
        return "b"

    run = review(site, ["s", bob_opens_ann_then_b, "a"])
    assert f"#{ann}: bob is reviewing it (until" in run.shown
    assert show(site, ben)["status"] == "approved" and show(site, ann)["status"] == "pending"


def test_u_undoes_the_last_decision_and_shows_that_item_again(site):
    ann, ben = pending(site, "ann", "ben")
    run = review(site, ["a", "u", "r"], answers=["on second thought"])
    assert f"✓ #{ann} undone: approve taken back, pending again" in run.shown
    assert run.screens_of(ann) == 2
    assert [h for h in history(site, ann) if h[0] == "tester"] == [("tester", "approve"), ("tester", "undo"),
                                                                 ("tester", "reject")]
    assert show(site, ann)["status"] == "rejected" and show(site, ben)["status"] == "pending"
    assert run.counts == {"approved": 0, "rejected": 1, "skipped": 0, "undone": 1}


def test_u_with_nothing_decided_says_so_and_changes_nothing(site):
    ann, = pending(site, "ann")
    run = review(site, ["u"])
    assert "nothing to undo: no decision yet in this session" in run.shown
    assert history(site, ann) == [("wlb", "queue")]


def test_d_marks_the_item_a_duplicate_of_the_one_shown_beside_it(site):
    ann, ben = pending(site, "ann", "ben")
    possible(site, ann, ben)
    run = review(site, ["d"])
    item = show(site, ann)
    assert item["status"] == "duplicate" and item["duplicate_of"] == ben
    assert history(site, ann)[-1] == ("tester", "duplicate")
    assert run.shown.count(f"✓ #{ann} marked as a duplicate of #{ben}") == 1 and run.prompts == []


def test_d_asks_which_when_several_are_shown(site):
    ann, ben, cat = pending(site, "ann", "ben", "cat")
    possible(site, ann, ben, cat)
    run = review(site, ["d", "d", "d"], answers=["", "7777", f"#{cat}"])
    assert run.prompts == [f"duplicate of which? #{ben}, #{cat} (Enter cancels)"] * 3
    assert "'7777' is not one of" in run.shown and run.screens_of(ann) == 3
    assert show(site, ann)["duplicate_of"] == cat


@pytest.mark.parametrize("key, answer", [("d", "²"), ("t", "²"), ("t", "⑴")])
def test_a_typed_digit_int_cannot_read_is_refused_not_a_crash(site, key, answer):
    ann, ben, cat = pending(site, "ann", "ben", "cat")
    possible(site, ann, ben, cat)
    run = review(site, [key, "s"], answers=[answer])
    assert f"{answer!r} is not" in run.shown and "nothing changed" in run.shown
    assert run.counts["skipped"] == 1 and history(site, ann) == [("wlb", "queue")]


def test_d_without_a_candidate_changes_nothing(site):
    ann, = pending(site, "ann")
    run = review(site, ["d"])
    assert "has no possible duplicate on screen" in run.shown and show(site, ann)["status"] == "pending"


def test_c_sets_the_caption_and_the_item_stays(site):
    ann, = pending(site, "ann")
    run = review(site, ["c", "c", "a"], answers=["Grand-Place, 2 a.m.", ""])
    assert show(site, ann)["caption"] == "Grand-Place, 2 a.m." and show(site, ann)["status"] == "approved"
    assert ("tester", "caption") in history(site, ann) and "caption unchanged" in run.shown
    assert run.screens_of(ann) == 3 and "caption: Grand-Place, 2 a.m." in run.shown


def _two_publishing_channels(site: Site) -> None:
    site.write_config(channels=f"""
[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

{site.community_channel()}
[channels.second]
kind = "mastodon"
base_url = "{site.community.base_url}"
collect = false
publish = true
token_env = "WLB_PUB_TOKEN"
""")


def test_t_chooses_targets_among_the_publishing_channels(site):
    ann, = pending(site, "ann")
    _two_publishing_channels(site)
    run = review(site, ["t", "t", "a"], answers=["nowhere", "2"])
    assert run.prompts[0] == "targets: 1 community  2 second (numbers or names; Enter: every publishing channel)"
    assert "'nowhere' is not a publishing channel (community, second); nothing changed" in run.shown
    assert show(site, ann)["targets"] == ["second"] and f"✓ #{ann} approved → second" in run.shown
    assert ("tester", "targets") in history(site, ann)


def test_a_with_a_target_no_longer_publishing_says_to_press_t(site):
    ann, = pending(site, "ann")
    _two_publishing_channels(site)
    review(site, ["t"], answers=["second"])
    site.write_config()  # `second` left config.toml
    run = review(site, ["a", "t", "a"], answers=[""])
    assert f"#{ann}'s target second is no longer a publishing channel; press t" in run.shown and "--to" not in run.shown
    assert show(site, ann)["status"] == "approved" and f"✓ #{ann} approved → community" in run.shown


def test_k_sets_the_credit_that_a_needs(site):
    ann, = pending(site, "ann")
    site.set_post(ann, needs_credit=True)
    run = review(site, ["a", "k", "a"], answers=["@ann", "  Ann   Smith "])
    assert f"#{ann} needs credit: no author could be determined; press k to set it" in run.shown
    assert "credit: '@ann' is not a fediverse handle" in run.shown, "checked as `wlb approve --credit` does"
    item = show(site, ann)
    assert item["status"] == "approved" and item["credit"] == "Ann Smith"
    assert [h for h in history(site, ann) if h[0] == "tester"] == [("tester", "credit"), ("tester", "approve")]
    assert run.screens_of(ann) == 3, "the refusal kept the item on screen"


def test_f_forces_past_a_licence_with_a_typed_reason_and_empty_cancels(site):
    ann, = pending(site, "ann")
    site.set_post(ann, license="All rights reserved")
    run = review(site, ["a", "f", "f"], answers=["", "she said yes by email"])
    assert "needs permission: licence All rights reserved is not in licenses.allowed; press f to force" in run.shown
    assert "nothing changed" in run.shown
    item = show(site, ann)
    assert item["status"] == "approved" and item["history"][-1]["action"] == "approve-forced"
    assert item["history"][-1]["reason"] == "she said yes by email" and item["history"][-1]["actor"] == "tester"


def test_f_on_an_item_that_needs_no_permission_says_so(site):
    ann, = pending(site, "ann")
    run = review(site, ["f"])
    assert "licence needs no permission; press a" in run.shown and run.prompts == []


def test_o_opens_the_post_or_prints_its_link_when_there_is_no_browser(site):
    ann, = pending(site, "ann")
    url = show(site, ann)["post_url"]
    run = review(site, ["o"])
    assert run.opened == [url] and show(site, ann)["status"] == "pending"
    no_browser = review(site, ["o"], browser=lambda u: False)
    assert f"no browser here; the post: {url}" in no_browser.shown


def test_question_mark_shows_the_keys_then_the_item_again(site):
    ann, = pending(site, "ann")
    run = review(site, ["?", "x", "a"])
    assert "wlb review keys" in run.shown and "force past a licence" in run.shown
    assert run.screens_of(ann) == 2 and show(site, ann)["status"] == "approved"


@pytest.mark.parametrize("keys", [["x"], ["\r", "\x1b[A", "Z", " ", ""]])
def test_unknown_keys_do_nothing(site, keys):
    ann, = pending(site, "ann")
    quiet = review(site, []).shown
    run = review(site, keys)
    assert run.shown == quiet and history(site, ann) == [("wlb", "queue")]


def test_q_and_ctrl_c_give_every_lease_back(site):
    ann, ben = pending(site, "ann", "ben")

    def ctrl_c(ws: Workspace) -> str:
        assert lease_of(site, ben) is not None and lease_of(site, ann) is None, "skipped: given back at once"
        raise KeyboardInterrupt

    run = review(site, ["s", ctrl_c])
    assert "interrupted" in run.shown and lease_of(site, ann) is None and lease_of(site, ben) is None


def test_a_screen_redrawn_after_a_key_renews_the_lease(site):
    ann, = pending(site, "ann")
    soon = utcnow() + timedelta(seconds=5)

    def nearly_expired_then_c(ws: Workspace) -> str:
        site.set_post(ann, lease_until=soon)
        return "c"

    def check(ws: Workspace) -> str:
        with ws.db.session() as session:
            assert session.get(Post, ann).lease_until > soon + timedelta(minutes=1)
        return "q"

    review(site, [nearly_expired_then_c, check])
    assert load_settings(site.config).review.lease_minutes == 5


def test_the_filters_choose_what_is_reviewed_and_an_empty_queue_says_so(site):
    ann, ben = pending(site, "ann", "ben")
    site.set_post(ben, needs_credit=True)
    run = review(site, ["s"], flt=ItemFilter(needs_credit=True))
    assert run.screens_of(ben) == 1 and run.screens_of(ann) == 0
    assert "nothing more to review: no other pending items needing credit" in run.shown
    empty = review(site, [], flt=ItemFilter(author="nobody"))
    assert empty.shown.startswith("nothing to review: no pending items by @nobody")
    assert empty.counts == {"approved": 0, "rejected": 0, "skipped": 0}


def test_back_to_a_decided_item_then_undo_then_decide_again(site):
    ann, ben = pending(site, "ann", "ben")
    run = review(site, ["a", "b", "u", "r"], answers=["wrong one"])
    assert "✗" not in run.shown, "each decision expects the status shown at that moment"
    assert [a for _, a in history(site, ann)] == ["queue", "approve", "undo", "reject"]
    assert show(site, ben)["status"] == "pending" and run.screens_of(ben) == 2
