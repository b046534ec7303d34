"""Posting slots and the planner as pure functions: `now` is always given, no clock, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import ConfigError, UsageError
from core.settings import ChannelSettings, Settings, load_settings
from core.slots import current, local_instant, next_slot, parse_local, pin_problem, windows
from platforms.registry import PLATFORMS
from publisher.slots import Candidate, Sent, fair, plan

BXL = ZoneInfo("Europe/Brussels")


def bxl(text: str) -> datetime:
    """A Brussels wall-clock time as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=BXL).astimezone(UTC)


def channel(slots=("08:30", "12:30", "19:00"), weekend=None, **kw) -> ChannelSettings:
    return ChannelSettings(kind="mastodon", publish=True, collect=False, slots=list(slots) if slots is not None else None,
                           weekend_slots=weekend, **kw)


def settings(rotation_days: int = 0, daily_cap: int = 10, **channels: ChannelSettings) -> Settings:
    return Settings(channels=channels or {"community": channel()},
                    publish={"rotation_days": rotation_days, "daily_cap": daily_cap})


def item(n: int, *, minutes: int = 0, group=("mastodon", "fr"), who: str | None = None, channels=("community",),
         **kw) -> Candidate:
    who = who or f"p{n}"
    return Candidate(item=n, channels=tuple(channels), approved_at=bxl("2026-12-01 09:00") + timedelta(minutes=minutes or n),
                     group=group, photographer=who, who=f"@{who}", **kw)


# Slot arithmetic ---------------------------------------------------------------------------------------------------

def test_weekday_and_weekend_slots_in_local_time():
    ch = channel(weekend=["10:00"])
    found = windows(ch, BXL, bxl("2026-12-04 00:00"), bxl("2026-12-06 23:59"))  # Friday to Sunday
    assert [w.start for w in found] == [bxl("2026-12-04 08:30"), bxl("2026-12-04 12:30"), bxl("2026-12-04 19:00"),
                                        bxl("2026-12-05 10:00"), bxl("2026-12-06 10:00")]
    assert found[0].end == bxl("2026-12-04 12:30") and found[2].end == bxl("2026-12-05 00:00")
    assert windows(channel(weekend=[]), BXL, bxl("2026-12-05 00:00"), bxl("2026-12-06 23:59")) == []


def test_spring_forward_in_brussels_a_skipped_slot_falls_an_hour_later_once():
    ch = channel(slots=("01:30", "02:30", "03:30", "12:00"))
    day = windows(ch, BXL, datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 21, tzinfo=UTC))
    # 02:00 CET became 03:00 CEST: 02:30 does not exist and is read as 03:30 summer time, the same instant as 03:30.
    assert [w.start for w in day] == [datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
                                      datetime(2026, 3, 29, 10, 0, tzinfo=UTC)]
    assert day[0].end == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert local_instant(datetime(2026, 3, 30).date(), datetime.strptime("02:30", "%H:%M").time(), BXL) == \
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC), "the next day is summer time: 02:30 is 00:30 UTC"


def test_fall_back_in_brussels_a_repeated_slot_is_its_first_occurrence_once():
    ch = channel(slots=("02:30", "12:00"))
    day = windows(ch, BXL, datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 22, 59, tzinfo=UTC))
    assert [w.start for w in day] == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, not 02:30 CET again
                                      datetime(2026, 10, 25, 11, 0, tzinfo=UTC)]  # 12:00 CET
    assert day[-1].end == datetime(2026, 10, 25, 23, 0, tzinfo=UTC), "a 25-hour day ends at midnight CET"
    assert current(ch, BXL, datetime(2026, 10, 25, 1, 45, tzinfo=UTC)).start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_current_slot_and_next_slot():
    ch = channel()
    assert current(ch, BXL, bxl("2026-12-02 08:29")) is None
    assert current(ch, BXL, bxl("2026-12-02 08:30")).start == bxl("2026-12-02 08:30")
    assert current(ch, BXL, bxl("2026-12-02 12:29")).start == bxl("2026-12-02 08:30")
    assert current(ch, BXL, bxl("2026-12-02 23:59")).start == bxl("2026-12-02 19:00")
    assert current(ch, BXL, bxl("2026-12-03 02:30")) is None, "a slot ends at midnight: the nightly run posts nothing"
    assert next_slot(ch, BXL, bxl("2026-12-02 19:00")) == bxl("2026-12-03 08:30")


def test_pins_must_be_a_future_slot_of_each_slotted_target():
    s = settings(community=channel(), other=channel(slots=None))
    now = bxl("2026-12-02 18:00")
    assert parse_local(" 2026-12-05  12:30 ", BXL) == bxl("2026-12-05 12:30")
    with pytest.raises(UsageError, match="2026-12-05 12:30"):
        parse_local("5/12 12h30", BXL)
    assert pin_problem(s, ["community", "other"], bxl("2026-12-05 12:30"), now) is None
    assert "not a posting slot of community" in pin_problem(s, ["community"], bxl("2026-12-05 12:31"), now)
    assert "08:30, 12:30, 19:00" in pin_problem(s, ["community"], bxl("2026-12-05 12:31"), now)
    assert pin_problem(s, ["other"], bxl("2026-12-05 12:31"), now) is None, "no slots there: any future time"
    assert "not in the future" in pin_problem(s, ["other"], bxl("2026-12-02 17:00"), now)


def test_a_pin_outside_the_calendar_is_one_clear_line_not_a_crash():
    # 9999-12-31 23:30 in Los Angeles is in year 10000 in UTC; 0001-01-01 00:10 in Brussels is before year 1 there.
    for text, zone in (("9999-12-31 23:30", "America/Los_Angeles"), ("0001-01-01 00:10", "Europe/Brussels")):
        with pytest.raises(UsageError, match="out of range"):
            parse_local(text, ZoneInfo(zone))


@pytest.mark.parametrize(("value", "words"), [
    ('["8:30"]', "'8:30' is not a time"), ('["24:00"]', "'24:00' is not a time"),
    ('["12:30", "08:30"]', "earliest first"), ('["08:30", "08:30"]', "listed twice"), ("[]", "at least one time"),
    ('"08:30"', "valid list"),
])
def test_bad_slots_are_one_config_line_naming_the_key(tmp_path, value, words):
    config = tmp_path / "config.toml"
    config.write_text(f'[channels.community]\nkind = "mastodon"\ncollect = false\npublish = true\n'
                      f'token_env = "T"\nslots = {value}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, platforms=PLATFORMS, env={"T": "x"})
    message = str(caught.value)
    assert "channels.community.slots" in message and words in message and "\n" not in message


def test_weekend_slots_alone_and_slots_on_a_channel_that_does_not_publish_are_refused():
    with pytest.raises(ValueError, match="weekend_slots needs slots"):
        ChannelSettings(kind="mastodon", publish=True, weekend_slots=["10:00"])
    with pytest.raises(ValueError, match="set publish = true"):
        ChannelSettings(kind="mastodon", slots=["10:00"])


# The planner --------------------------------------------------------------------------------------------------------

def run(s: Settings, items, now: str, *, days: int = 0, history=(), runs=()):
    at = bxl(now)
    return plan(s, items, list(history), at, at + timedelta(days=days), channels=list(s.channels), runs=runs)


def test_one_item_per_slot_in_approval_order_and_nothing_between_slots():
    s = settings()
    items = [item(1), item(2), item(3), item(4)]
    at_slot = run(s, items, "2026-12-02 08:30", days=1)
    assert [(p.item, p.at) for p in at_slot.planned] == [
        (1, bxl("2026-12-02 08:30")), (2, bxl("2026-12-02 12:30")), (3, bxl("2026-12-02 19:00")),
        (4, bxl("2026-12-03 08:30"))]
    assert [p.item for p in at_slot.due()] == [1]
    between = run(s, items, "2026-12-02 07:00")
    assert between.due() == [] and {h.reason for h in between.waiting()} == {"slot"}


def test_a_slot_already_used_today_is_not_used_again():
    s = settings()
    used = [Sent("community", bxl("2026-12-02 08:31"), "px")]
    assert run(s, [item(1)], "2026-12-02 09:00", history=used).due() == []
    assert [p.item for p in run(s, [item(1)], "2026-12-02 12:31", history=used).due()] == [1]


def test_daily_cap_applies_to_slots_and_to_run_time_publishing():
    s = settings(daily_cap=2)
    p = run(s, [item(1), item(2), item(3)], "2026-12-02 08:30", days=1)
    assert [(x.item, x.at) for x in p.planned] == [(1, bxl("2026-12-02 08:30")), (2, bxl("2026-12-02 12:30")),
                                                   (3, bxl("2026-12-03 08:30"))]
    assert p.planned[2].waited[0] == "slot"
    no_slots = settings(daily_cap=2, community=channel(slots=None))
    p = run(no_slots, [item(1), item(2), item(3)], "2026-12-02 10:00", days=2, runs=[bxl("2026-12-03 02:30")])
    assert [x.item for x in p.due()] == [1, 2]
    assert (p.planned[2].at, p.planned[2].waited[0]) == (bxl("2026-12-03 02:30"), "cap")


def test_without_slots_everything_due_goes_now_oldest_approval_first():
    s = settings(community=channel(slots=None))
    items = [item(3, minutes=1), item(1, minutes=3), item(2, minutes=2, group=("bluesky", "nl"))]
    assert [x.item for x in run(s, items, "2026-12-02 10:00").due()] == [3, 2, 1]


def test_platforms_and_languages_are_mixed_round_robin_by_oldest_approval():
    items = [item(1, group=("mastodon", "fr")), item(2, group=("mastodon", "fr")), item(3, group=("mastodon", "fr")),
             item(4, group=("flickr", "")), item(5, group=("mastodon", "nl")), item(6, group=("flickr", ""))]
    assert [c.item for c in fair(items)] == [1, 4, 5, 2, 6, 3]
    p = run(settings(), items, "2026-12-02 08:30", days=2)
    assert [x.item for x in p.planned] == [1, 4, 5, 2, 6, 3]
    assert p.planned == run(settings(), list(reversed(items)), "2026-12-02 08:30", days=2).planned, "deterministic"


def test_rotation_holds_a_photographer_for_n_days_per_channel():
    s = settings(rotation_days=2)
    posted = [Sent("community", bxl("2026-12-01 19:00"), "alice")]
    items = [item(1, who="alice"), item(2, who="bob"), item(3, who="bob")]
    p = run(s, items, "2026-12-02 08:30", days=3, history=posted)
    assert [(x.item, x.at) for x in p.planned] == [
        (2, bxl("2026-12-02 08:30")),      # alice waits: posted yesterday
        (1, bxl("2026-12-03 19:00")),      # two days after her last post
        (3, bxl("2026-12-04 08:30"))]      # bob's second: two days after his first, to the minute
    assert p.planned[1].waited[0] == "rotation"
    short = run(s, items, "2026-12-02 08:30", days=1, history=posted)
    (alice,) = [h for h in short.held if h.item == 1]
    assert alice.reason == "rotation" and alice.until == bxl("2026-12-03 19:00")


def test_pins_take_their_slot_next_goes_first_and_both_pass_rotation():
    s = settings(rotation_days=7)
    posted = [Sent("community", bxl("2026-12-02 08:30"), "alice")]
    items = [item(1), item(2), item(3, who="alice", pin_at=bxl("2026-12-02 19:00")), item(4, pin_next=True)]
    p = run(s, items, "2026-12-02 12:30", days=1, history=posted)
    assert [(x.item, x.at, x.why) for x in p.planned] == [
        (4, bxl("2026-12-02 12:30"), "next"), (3, bxl("2026-12-02 19:00"), "pinned"),
        (1, bxl("2026-12-03 08:30"), "queue"), (2, bxl("2026-12-03 12:30"), "queue")]
    early = run(s, items, "2026-12-02 12:30", history=posted)
    (pinned,) = [h for h in early.waiting() if h.item == 3]
    assert pinned.until == bxl("2026-12-02 19:00")


def test_licence_and_credit_gates_wait_for_a_reviewer():
    items = [item(1, blocked={"community": "needs permission (CC BY-NC)"}),
             item(2, blocked={"community": "needs credit; approve it with --credit"}), item(3)]
    p = run(settings(), items, "2026-12-02 08:30")
    assert [x.item for x in p.due()] == [3]
    assert {h.item: h.reason for h in p.held} == {1: "licence", 2: "credit"}


def test_an_interrupted_attempt_is_finished_first_without_using_the_slot():
    p = run(settings(), [item(1), item(2, retry=frozenset({"community"}))], "2026-12-02 08:31")
    assert [(x.item, x.why) for x in p.due()] == [(2, "retry"), (1, "queue")]


def test_each_channel_has_its_own_slots_cap_and_rotation():
    s = settings(rotation_days=3, community=channel(), night=channel(slots=("21:00",)))
    items = [item(1, who="a", channels=("community", "night")), item(2, who="a", channels=("community", "night"))]
    p = run(s, items, "2026-12-02 08:30", days=1)
    assert [(x.item, x.channel, x.at) for x in p.planned] == [
        (1, "community", bxl("2026-12-02 08:30")), (1, "night", bxl("2026-12-02 21:00"))]
    assert {(h.item, h.channel, h.reason) for h in p.held} == {(2, "community", "rotation"), (2, "night", "rotation")}


@pytest.mark.parametrize(("start", "expected"), [
    # spring: 02:30 does not exist on the 29th and is posted at 03:30 summer time (01:30 UTC)
    ("2026-03-28 12:00", ["2026-03-28 11:00", "2026-03-29 01:30", "2026-03-29 10:00", "2026-03-30 00:30"]),
    # autumn: 02:30 happens twice on the 25th and is posted once, summer time (00:30 UTC)
    ("2026-10-24 12:00", ["2026-10-24 10:00", "2026-10-25 00:30", "2026-10-25 11:00", "2026-10-26 01:30"]),
])
def test_the_plan_across_a_daylight_saving_change_posts_each_slot_once(start, expected):
    s = settings(community=channel(slots=("02:30", "12:00")))
    p = run(s, [item(n) for n in range(1, 6)], start, days=2)
    utc = [x.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") for x in p.planned]
    assert utc[:4] == expected
    assert len(set(utc)) == len(utc)
