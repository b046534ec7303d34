"""`wlb schedule`, `wlb publish --dry-run` and the real publish walk one plan, through the CLI against fake instances."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.scheduler import build_scheduler, slot_job
from core.settings import Settings
from tests.fakes import images
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def approved(site: Site, n: int, *, first_seed: int = 300, lang: str = "en") -> list[int]:
    for i in range(n):
        site.source.add_status(images=[images.jpeg(first_seed + i)], created_at=T0 + timedelta(minutes=i),
                               acct=f"p{first_seed + i}", language=lang)
    assert site.wlb("collect").code == 0
    ids = sorted(i["id"] for i in site.queue("pending"))
    assert site.wlb("approve", *map(str, ids)).code == 0
    return ids


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where `now` is between 12:00 and 12:59: slots of "12:00" and "23:00" hold it, so a test
    using the wall clock is never near local midnight."""
    offset = 12 - now.hour
    offset = offset - 24 if offset > 14 else offset
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset < 0 else "")


def slotted(site: Site, extra: str = "") -> ZoneInfo:
    zone = noon_zone(datetime.now(UTC))
    site.write_config(extra=f'timezone = "{zone}"\n{extra}')
    site.config.write_text(site.config.read_text().replace('token_env = "WLB_PUB_TOKEN"',
                                                           'token_env = "WLB_PUB_TOKEN"\nslots = ["12:00", "23:00"]'))
    # timezone is a top-level key: it must come before the first table
    text = site.config.read_text().replace(f'timezone = "{zone}"\n', "")
    site.config.write_text(f'timezone = "{zone}"\n' + text)
    return ZoneInfo(zone)


def test_a_dry_run_lists_exactly_what_the_real_publish_sends_caps_applied(site):
    ids = approved(site, 12)
    dry = site.wlb("publish", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    would = [(i["item"], i["channel"]) for i in dry.json()["items"]]
    assert len(would) == 10, "the daily cap of 10 applies to the dry run too"
    assert site.community.published == []
    real = site.wlb("publish", "--json")
    assert real.code == 0, real.err
    sent = [(i["item"], i["channel"]) for i in real.json()["items"]]
    assert sent == would == [(i, "community") for i in ids[:10]], "same items, same order, oldest approval first"
    assert len(site.community.published) == 10
    assert [i["result"] for i in real.json()["items"]] == ["published"] * 10
    assert all(i["url"].startswith("https://community.social/") for i in real.json()["items"])
    held = real.json()["held"]
    assert [(h["item"], h["reason"]) for h in held] == [(ids[10], "cap"), (ids[11], "cap")]
    assert all(h["until"] for h in held), "capped items say when they go: the next nightly run"
    assert any("daily cap of 10" in w for w in real.json()["warnings"])
    after = site.wlb("publish", "--dry-run", "--json").json()
    assert after["items"] == [] and len(after["held"]) == 2


def test_the_publish_summary_names_item_channel_url_and_what_waits(site):
    ids = approved(site, 3)
    site.write_config(extra="[publish]\ndaily_cap = 2")
    done = site.wlb("publish")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    for item in ids[:2]:
        assert any(f"#{item} → community → https://community.social/" in line for line in lines), done.out
    assert any(f"held     #{ids[2]} → community until" in line and "daily cap of 2" in line for line in lines), done.out


def test_a_slotted_channel_posts_one_item_per_slot_and_schedule_shows_the_same_plan(site):
    ids = approved(site, 3)
    tz = slotted(site)
    plan = site.wlb("schedule", "--days", "2", "--json")
    assert plan.code == 0, plan.err
    planned = plan.json()["planned"]
    assert [(p["item"], p["now"]) for p in planned][:3] == [(ids[0], True), (ids[1], False), (ids[2], False)]
    assert [datetime.fromisoformat(p["at"]).astimezone(tz).strftime("%H:%M") for p in planned[1:3]] == ["23:00", "12:00"]
    dry = site.wlb("publish", "--dry-run", "--json").json()
    assert [i["item"] for i in dry["items"]] == [p["item"] for p in planned if p["now"]] == [ids[0]]
    assert site.wlb("publish").code == 0
    assert len(site.community.published) == 1
    again = site.wlb("publish", "--json").json()
    assert again["items"] == [] and len(site.community.published) == 1, "the slot is used"
    assert {h["item"]: h["reason"] for h in again["held"]} == {ids[1]: "slot", ids[2]: "slot"}
    shown = site.wlb("schedule")
    assert shown.code == 0 and f"#{ids[1]}" in shown.out and "23:00" in shown.out


def test_approve_at_pins_an_item_to_a_slot_and_next_puts_it_first(site):
    ids = approved(site, 3)
    tz = slotted(site)
    tomorrow = (datetime.now(tz) + timedelta(days=1)).strftime("%Y-%m-%d")
    bad = site.wlb("approve", str(ids[2]), "--at", f"{tomorrow} 12:05")
    assert bad.code != 0 and "not a posting slot of community" in bad.err and "12:00, 23:00" in bad.err
    assert "Traceback" not in bad.err and len(bad.err.strip().splitlines()) == 1
    garbled = site.wlb("approve", str(ids[2]), "--at", "tomorrow noon")
    assert garbled.code != 0 and "2026-12-05 12:30" in garbled.err
    past = site.wlb("approve", str(ids[2]), "--at", "2020-01-01 12:00")
    assert past.code != 0 and "not in the future" in past.err
    assert site.wlb("approve", str(ids[2]), "--at", f"{tomorrow} 12:00").code == 0
    assert site.wlb("approve", str(ids[1]), "--next").code == 0
    planned = site.wlb("schedule", "--days", "2", "--json").json()["planned"]
    order = [(p["item"], p["why"]) for p in planned]
    assert order[:3] == [(ids[1], "next"), (ids[0], "queue"), (ids[2], "pinned")]
    assert datetime.fromisoformat(planned[2]["at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M") == f"{tomorrow} 12:00"
    history = site.wlb("show", str(ids[2]), "--json").json()["history"]
    assert [h["action"] for h in history][-2:] == ["pin", "approve"]
    assert site.wlb("approve", str(ids[2]), "--at", f"{tomorrow} 12:00", "--next").code != 0


def test_schedule_without_slots_goes_now_then_at_nightly_runs(site):
    ids = approved(site, 3)
    site.write_config(extra="[publish]\ndaily_cap = 2")
    planned = site.wlb("schedule", "--json").json()["planned"]
    assert [(p["item"], p["now"]) for p in planned] == [(ids[0], True), (ids[1], True), (ids[2], False)]
    at = datetime.fromisoformat(planned[2]["at"]).astimezone(ZoneInfo("Europe/Brussels"))
    assert (at.hour, at.minute) == (2, 30), "the next nightly run"
    assert planned[2]["waited"].startswith("daily cap of 2")


# wlb serve --------------------------------------------------------------------------------------------------------

class FakePipeline:
    def __init__(self, calls: list, result=None, *, empty: bool = False):
        self.calls, self.result, self.empty = calls, result, empty

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def publish(self, **options):
        self.calls.append(options)
        from core.report import RunReport
        from publisher.plan import Planned, Plans

        plans = Plans([] if self.empty else [Planned(item=7, channel="community", text="", result="published",
                                                      url="https://c/7")])
        plans.held = []
        return RunReport(), plans


def serve_settings(tmp_path) -> Settings:
    return Settings(database=f"sqlite:///{tmp_path}/wlb.db", media_dir=tmp_path / "media", path=tmp_path / "config.toml",
                    channels={"community": {"kind": "mastodon", "collect": False, "publish": True,
                                            "slots": ["08:30", "19:00"]},
                              "plain": {"kind": "mastodon", "collect": False, "publish": True}})


def test_the_slot_job_publishes_each_slot_once_and_only_slotted_channels(tmp_path, caplog):
    s = serve_settings(tmp_path)
    calls: list = []
    tried: dict = {}
    bxl = ZoneInfo("Europe/Brussels")

    def at(text):
        return lambda: datetime.fromisoformat(text).replace(tzinfo=bxl).astimezone(UTC)

    assert slot_job(s, lambda: FakePipeline(calls), tried, now=at("2026-12-02 08:29")) is None
    caplog.set_level(logging.INFO, logger="wlb.serve")
    slot_job(s, lambda: FakePipeline(calls), tried, now=at("2026-12-02 08:30"))
    assert calls == [{"channels": ["community"], "now": at("2026-12-02 08:30")()}]
    assert "#7 → community → https://c/7" in caplog.text and "next slot at Wed 02 Dec 19:00" in caplog.text
    assert slot_job(s, lambda: FakePipeline(calls), tried, now=at("2026-12-02 08:31")) is None, "one go per slot"
    slot_job(s, lambda: FakePipeline(calls), tried, now=at("2026-12-02 19:00"))
    assert len(calls) == 2


def test_a_slot_with_nothing_due_is_not_used_up_by_an_empty_queue(tmp_path):
    s = serve_settings(tmp_path)
    calls: list = []
    tried: dict = {}
    bxl = ZoneInfo("Europe/Brussels")

    def at(text):
        return lambda: datetime.fromisoformat(text).replace(tzinfo=bxl).astimezone(UTC)

    slot_job(s, lambda: FakePipeline(calls, empty=True), tried, now=at("2026-12-02 08:30"))
    assert tried == {}, "nothing was approved at 08:30: the slot stays open"
    slot_job(s, lambda: FakePipeline(calls), tried, now=at("2026-12-02 09:00"))  # approved at 08:59
    assert len(calls) == 2 and tried, "the item approved within the window goes in it"
    assert slot_job(s, lambda: FakePipeline(calls), tried, now=at("2026-12-02 09:01")) is None, "then used up"


def test_serve_adds_the_minute_job_only_when_a_channel_has_slots(tmp_path):
    from apscheduler.schedulers.background import BackgroundScheduler

    with_slots = build_scheduler(serve_settings(tmp_path), lambda: None, BackgroundScheduler())
    assert "slots" in {j.id for j in with_slots.get_jobs()}
    plain = Settings(database=f"sqlite:///{tmp_path}/wlb.db", path=tmp_path / "config.toml")
    assert "slots" not in {j.id for j in build_scheduler(plain, lambda: None, BackgroundScheduler()).get_jobs()}


def test_an_item_dropped_at_its_origin_frees_its_place_in_the_dry_run_as_in_the_real_one(site):
    ids = approved(site, 4)
    site.write_config(extra="[publish]\ndaily_cap = 2")
    first = [i for i in site.queue("approved") if i["id"] == ids[0]][0]
    site.source.delete_status(first["post_url"].rsplit("/", 1)[1])
    dry = site.wlb("publish", "--dry-run", "--json").json()
    assert [i["item"] for i in dry["items"]] == [ids[1], ids[2]], "the deleted one's place goes to the next"
    real = site.wlb("publish", "--json").json()
    assert [i["item"] for i in real["items"]] == [ids[1], ids[2]] and len(site.community.published) == 2
    assert [(h["item"], h["reason"]) for h in real["held"]] == [(ids[3], "cap")]


def test_wlb_run_ends_with_the_publish_summary(site):
    site.source.add_status(images=[images.jpeg(350)], created_at=T0, acct="runner")
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    done = site.wlb("run")
    assert done.code == 0, done.err
    assert f"#{item['id']} → community → https://community.social/" in done.out
    assert "→ community →" not in site.wlb("collect").out


def test_a_pin_to_a_later_slot_made_while_a_run_is_publishing_is_obeyed(site):
    """The run loaded its plan before the reviewer pinned the second item to tomorrow: the claim, not the stale plan,
    decides, as it does for a reject."""
    from app.config import load_settings
    from app.pipeline import Pipeline
    from core.report import Progress
    from curation.queue import approve

    ids = approved(site, 2)
    settings = load_settings(site.config)
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    class PinAfterFirst(Progress):
        def advance(self, name: str, n: int = 1) -> None:
            if name == "publish" and len(site.community.published) == 1:
                approve(pipeline.db, [ids[1]], targets=[], publish_channels=["community"], settings=settings,
                        publish_at=tomorrow, actor="reviewer")

    with Pipeline(settings, progress=PinAfterFirst()) as pipeline:
        report, plans = pipeline.publish()
    assert [p.item for p in plans if p.result == "published"] == [ids[0]]
    assert len(site.community.published) == 1, "the item pinned to tomorrow was not posted now"
    assert any(f"#{ids[1]}" in w and "pinned" in w for w in report.all_warnings()), report.all_warnings()
    later = site.wlb("schedule", "--days", "2", "--json").json()["planned"]
    assert [(p["item"], p["why"]) for p in later] == [(ids[1], "pinned")]


def test_a_pin_years_ahead_is_refused_and_a_pin_is_recorded_with_its_year(site):
    """A mistyped year (2062 for 2026) would hold the item for decades behind a date shown without its year."""
    ids = approved(site, 1)
    tz = slotted(site)
    later = datetime.now(tz) + timedelta(days=1)
    typo = site.wlb("approve", str(ids[0]), "--at", f"{later.year + 36}-{later:%m-%d} 12:00")
    assert typo.code == 2 and "more than a year ahead" in typo.err and "Traceback" not in typo.err
    assert site.wlb("approve", str(ids[0]), "--at", f"{later:%Y-%m-%d} 12:00").code == 0
    pin = site.wlb("show", str(ids[0]), "--json").json()["history"][-2]
    assert pin["action"] == "pin" and pin["reason"] == f"{later:%a %d %b %Y} 12:00", pin
