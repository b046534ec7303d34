"""`wlb serve`: cron jobs in the configured zone, never overlapping a manual run."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from core.errors import ConfigError
from app.lock import run_lock
from app.pipeline import Pipeline
from app.scheduler import build_scheduler, collect_job, nightly_job
from core.settings import Settings


class Recorder(Pipeline):
    """The real Pipeline (its run order, its run lock), recording which stages ran instead of running them."""

    def __init__(self, settings: Settings, calls: list[str]):
        super().__init__(settings)
        self.calls = calls

    def _collect(self, report):
        self.calls.append("collect")

    def _curate(self, report):
        self.calls.append("curate")

    def _publish(self, report, **options):
        self.calls.append("publish")

    def close(self):
        self.calls.append("close")
        super().close()


def settings(tmp_path, **schedule) -> Settings:
    # The database in tmp_path too: the default (sqlite:///data/wlb.db) is relative to the directory tests run in.
    return Settings(database=f"sqlite:///{tmp_path}/data/wlb.db", media_dir=tmp_path / "data" / "media",
                    path=tmp_path / "config.toml", schedule=schedule)


def test_jobs_follow_the_configured_cron_in_the_configured_zone(tmp_path):
    s = settings(tmp_path, nightly="30 2 * * *", collect_every_minutes=15)
    scheduler = build_scheduler(s, lambda: None, BackgroundScheduler(timezone=s.timezone))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"nightly", "collect"}
    brussels = ZoneInfo("Europe/Brussels")
    now = datetime(2026, 11, 27, 12, 0, tzinfo=brussels)
    fire = jobs["nightly"].trigger.get_next_fire_time(None, now)
    assert (fire.hour, fire.minute, fire.day) == (2, 30, 28)
    assert fire.utcoffset() == brussels.utcoffset(now)
    assert jobs["collect"].trigger.interval.total_seconds() == 15 * 60
    assert jobs["nightly"].max_instances == 1 and jobs["nightly"].coalesce


def test_collecting_can_be_switched_off(tmp_path):
    scheduler = build_scheduler(settings(tmp_path, collect_every_minutes=0), lambda: None, BackgroundScheduler())
    assert [job.id for job in scheduler.get_jobs()] == ["nightly"]


def test_bad_cron_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="schedule.nightly"):
        build_scheduler(settings(tmp_path, nightly="61 2 * * *"), lambda: None, BackgroundScheduler())


def test_nightly_runs_every_stage_and_collect_skips_publishing(tmp_path):
    calls: list[str] = []
    s = settings(tmp_path)
    assert nightly_job(s, lambda: Recorder(s, calls)) is not None
    assert calls == ["collect", "curate", "publish", "close"]
    calls.clear()
    collect_job(s, lambda: Recorder(s, calls))
    assert calls == ["collect", "curate", "close"]


def test_a_scheduled_run_skips_while_a_manual_run_holds_the_lock(tmp_path, caplog):
    calls: list[str] = []
    s = settings(tmp_path)
    with run_lock(s):
        assert nightly_job(s, lambda: Recorder(s, calls)) is None
    assert calls == ["close"]
    assert "another wlb run is in progress" in caplog.text
