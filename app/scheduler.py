"""`wlb serve`: APScheduler in the configured time zone, running the pipeline on cron schedules."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TextIO

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import ConfigError, WlbError
from app.pipeline import Pipeline
from core.redact import install, secrets_of
from core.report import RunReport
from core.settings import Settings

log = logging.getLogger("wlb.serve")


def collect_job(settings: Settings, make: Callable[[], Pipeline]) -> RunReport | None:
    """Collect and curate (no publishing): frequent, so the queue is fresh for reviewers."""
    return _guarded("collect", settings, make, publish=False)


def nightly_job(settings: Settings, make: Callable[[], Pipeline]) -> RunReport | None:
    """The whole pipeline, unattended."""
    return _guarded("nightly run", settings, make, publish=True)


def _guarded(name: str, settings: Settings, make: Callable[[], Pipeline], *, publish: bool) -> RunReport | None:
    try:
        with make() as pipeline:
            report = pipeline.run(publish=publish)
    except WlbError as exc:  # a busy lock or an unreachable database: skip this time, try next time
        log.warning("%s skipped: %s", name, exc)
        return None
    for channel in report.channels.values():
        for error in channel.errors:
            log.warning("%s: %s: %s", name, channel.channel, error)
        for warning in channel.warnings:
            log.warning("%s: %s: %s", name, channel.channel, warning)
    log.info("%s done: %s", name, {c.channel: (c.new_posts, c.published) for c in report.channels.values()})
    return report


def build_scheduler(settings: Settings, make: Callable[[], Pipeline], scheduler: BaseScheduler | None = None) -> BaseScheduler:
    """Add the collect and nightly jobs; max_instances=1 and coalesce keep runs from piling up."""
    scheduler = scheduler or BlockingScheduler(timezone=settings.timezone)
    try:
        nightly = CronTrigger.from_crontab(settings.schedule.nightly, timezone=settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"{settings.path}: 'schedule.nightly': {exc}") from None
    scheduler.add_job(nightly_job, nightly, args=(settings, make), id="nightly", max_instances=1, coalesce=True)
    minutes = settings.schedule.collect_every_minutes
    if minutes:
        scheduler.add_job(collect_job, IntervalTrigger(minutes=minutes, timezone=settings.timezone), args=(settings, make),
                          id="collect", max_instances=1, coalesce=True)
    return scheduler


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Log INFO and up to stderr (or stream), every record of every library passed through the secret filter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # httpx logs every request's full URL at INFO ("HTTP Request: GET https://...?api_key=..."): it stays
    # useful, with the secrets masked by the filter on every handler.
    install(secrets_of(settings), root)
    return handler


def serve(settings: Settings) -> None:
    """Block, running the jobs on schedule, until interrupted."""
    configure_logging(settings)
    scheduler = build_scheduler(settings, lambda: Pipeline(settings))
    log.info("wlb serve: nightly at '%s' %s; collecting every %s minutes", settings.schedule.nightly,
             settings.timezone, settings.schedule.collect_every_minutes or "(off)")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("wlb serve stopped")
