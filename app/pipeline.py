"""The run order, written once: collect → curate → consent (ask and listen) → publish, under the run lock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
from apscheduler.triggers.cron import CronTrigger

from app.lock import run_lock
from app.workspace import Workspace
from collector.base import Collector
from collector.run import collect_channel, download_pending
from consent.base import Asker
from consent.run import ask_and_listen, open_request_channels
from core.errors import ConfigError, UsageError
from core.http import Http
from core.report import Progress, RunReport
from core.models import utcnow
from core.settings import ChannelSettings, Settings
from curation.curate import curate
from platforms.registry import module, platform
from publisher.base import Publisher
from publisher.plan import Plans
from publisher.run import publish
from publisher.slots import Schedule, load, plan

log = logging.getLogger("wlb")
HELD_DAYS = 7  # a publish run says until when what it held back waits, looking this far ahead


def collector_for(channel: ChannelSettings, settings: Settings, http: Http) -> Collector:
    """The collector adapter the channel's platform row names."""
    return module("collector", platform(channel.kind).collector).build(channel, settings, http)


def publisher_for(channel: ChannelSettings, settings: Settings, http: Http) -> Publisher:
    """The publisher adapter the channel's platform row names."""
    return module("publisher", platform(channel.kind).publisher).build(channel, settings, http)


def asker_for(channel: ChannelSettings, settings: Settings, http: Http) -> Asker:
    """The consent adapter the channel's platform row names (its account replies to photographers' posts)."""
    return module("consent", platform(channel.kind).asker).build(channel, settings, http)


class Pipeline(Workspace):
    """Everything one run needs, built once from settings; use it in a `with` block."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] | None = None, progress: Progress | None = None):
        super().__init__(settings)
        self.http = Http(settings.network, transport=transport, sleep=sleep or time.sleep)
        self.progress = progress or Progress()
        self.plans: Plans | None = None  # what the last run() published and held back, for its summary

    def close(self) -> None:
        self.http.close()
        super().close()

    def __enter__(self) -> Pipeline:
        return self

    def run(self, *, publish: bool = True) -> RunReport:
        """collect → curate → consent → (publish due approved items): the nightly job, `wlb run` and `wlb collect`."""
        report = RunReport()
        with run_lock(self.settings):
            self._collect(report)
            self._curate(report)
            self._consent(report)
            if publish:
                self.plans = self._publish(report)
        return report

    def publish(self, *, channel: str | None = None, dry_run: bool = False, now: datetime | None = None,
                channels: Sequence[str] | None = None) -> tuple[RunReport, Plans]:
        """Only the publish stage (`wlb publish`, and `wlb serve` at the slots), under the run lock."""
        report = RunReport()
        with run_lock(self.settings):
            return report, self._publish(report, channel=channel, dry_run=dry_run, now=now, channels=channels)

    def collectors(self, *, collecting: bool = True) -> dict[str, Collector]:
        """Each channel's collector: those that collect, or (collecting=False) every one that can ask an origin."""
        return {name: collector_for(ch, self.settings, self.http) for name, ch in self.settings.channels.items()
                if platform(ch.kind).can_collect and (ch.collect or not collecting)}

    def _collect(self, report: RunReport) -> None:
        """Every collecting channel, then every pending image; one failing channel does not stop the others."""
        collectors = self.collectors()
        self.progress.stage("collect", len(collectors))
        for name, collector in collectors.items():
            collect_channel(self.db, self.settings, name, collector, report.channel(name))
            self.progress.advance("collect")
        download_pending(self.db, self.settings, self.http, self.store, report,
                         on_start=lambda total: self.progress.stage("download", total),
                         on_done=lambda _r: self.progress.advance("download"))

    def askers(self, warnings: list[str]) -> dict[str, Asker]:
        """The channels the ledger's open requests ask from, each with its platform's asker; one that cannot ask
        (its kind has no asker, or it left config.toml) is named in `warnings` and its requests wait."""
        askers: dict[str, Asker] = {}
        for name in open_request_channels(self.db):
            channel = self.settings.channels.get(name)
            if channel is None or platform(channel.kind).asker is None:
                warnings.append(f"consent requests wait for channel {name!r}, which cannot ask (it is not a "
                                f"mastodon, pixelfed or bluesky channel in config.toml)")
                continue
            if not channel.token():
                warnings.append(f"consent requests wait for channel {name!r}: it needs its secret to reply; "
                                f"export ${channel.token_env or 'its token_env'}")
                continue
            askers[name] = asker_for(channel, self.settings, self.http)
        return askers

    def _consent(self, report: RunReport) -> None:
        """Send the planned permission requests, read the answers to those sent, expire the silent ones."""
        askers = self.askers(report.warnings)
        self.progress.stage("consent", None)
        ask_and_listen(self.db, self.settings, askers, report.consent,
                       on_step=lambda: self.progress.advance("consent"))

    def _curate(self, report: RunReport) -> int:
        return curate(self.db, self.settings, self.store, report,
                      on_start=lambda total: self.progress.stage("curate", total),
                      on_item=lambda _p: self.progress.advance("curate"))

    def _publish(self, report: RunReport, *, channel: str | None = None, dry_run: bool = False,
                 now: datetime | None = None, channels: Sequence[str] | None = None) -> Plans:
        names = [n for n in self.publish_channels() if channels is None or n in channels]
        if channel is not None:
            if channel not in names:
                raise UsageError(f"--channel {channel}: not a publishing channel (publishing: {', '.join(names) or 'none'})")
            names = [channel]
        publishers = {n: publisher_for(self.settings.channels[n], self.settings, self.http) for n in names}
        self.progress.stage("publish", None)
        now = now or utcnow()
        until = now + timedelta(days=HELD_DAYS)
        return publish(self.db, self.settings, self.store, publishers, self.collectors(collecting=False), report,
                       dry_run=dry_run, on_item=lambda _p: self.progress.advance("publish"), http=self.http,
                       now=now, until=until, runs=nightly_runs(self.settings, now, until))


def nightly_runs(settings: Settings, now: datetime, until: datetime) -> list[datetime]:
    """When the nightly run publishes after `now` (channels without slots post then), up to `until`."""
    try:
        trigger = CronTrigger.from_crontab(settings.schedule.nightly, timezone=settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"{settings.path}: 'schedule.nightly': {exc}") from None
    runs, at = [], trigger.get_next_fire_time(None, now + timedelta(seconds=1))
    while at is not None and at <= until and len(runs) < 400:
        runs.append(at.astimezone(UTC))
        at = trigger.get_next_fire_time(at, at + timedelta(seconds=1))
    return runs


def schedule(ws: Workspace, *, days: int, now: datetime | None = None) -> Schedule:
    """`wlb schedule`: the plan from now for `days` days, read from the archive (nothing remote is asked)."""
    if not 1 <= days <= 60:
        raise UsageError(f"--days {days}: between 1 and 60")
    now = now or utcnow()
    until = now + timedelta(days=days)
    channels = ws.publish_channels()
    with ws.db.session() as session:
        candidates, history = load(session, ws.settings, channels, now)
    return plan(ws.settings, candidates, history, now, until, channels=channels,
                runs=nightly_runs(ws.settings, now, until))
