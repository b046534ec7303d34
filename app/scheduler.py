"""`wlb serve`: APScheduler in the configured time zone, running the pipeline on cron schedules.

Its log is for people: one line per job run (when, how long, what it did, when it runs next), warnings for
what needs a look, and nothing per request at INFO.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.pipeline import Pipeline
from app.report import build_report
from app.workspace import Workspace
from core import slots
from core.errors import ConfigError, WlbError
from core.http import Http, HttpError
from core.models import utcnow
from core.redact import install, redact, secrets_of, shown_url
from core.report import RunReport
from core.safe_text import escape_json_controls
from core.settings import Settings

log = logging.getLogger("wlb.serve")
# Libraries that log every request or every job start at INFO: only their warnings reach a person's log.
QUIET = ("httpx", "httpcore", "apscheduler", "alembic", "urllib3", "botocore", "atproto")
Clock = Callable[[], datetime]
NextRun = Callable[[datetime], datetime | None]


def collect_job(settings: Settings, make: Callable[[], Pipeline], *, now: Clock = utcnow,
                next_run: NextRun | None = None) -> RunReport | None:
    """Collect and curate (no publishing): frequent, so the queue is fresh for reviewers."""
    return _guarded("collect", settings, make, publish=False, now=now, next_run=next_run)


def nightly_job(settings: Settings, make: Callable[[], Pipeline], *, now: Clock = utcnow,
                next_run: NextRun | None = None) -> RunReport | None:
    """The whole pipeline, unattended."""
    return _guarded("nightly run", settings, make, publish=True, now=now, next_run=next_run)


def _guarded(name: str, settings: Settings, make: Callable[[], Pipeline], *, publish: bool, now: Clock,
             next_run: NextRun | None) -> RunReport | None:
    started, clock = now(), time.monotonic()
    try:
        with make() as pipeline:
            report = pipeline.run(publish=publish)
    except WlbError as exc:  # a busy lock or an unreachable database: skip this time, try next time
        log.warning("%s skipped at %s: %s; %s", name, _when(started, settings), exc, _next(next_run, now, settings))
        return None
    for channel in report.channels.values():
        for error in channel.errors:
            log.warning("%s: %s: %s", name, channel.channel, error)
        for warning in channel.warnings:
            log.warning("%s: %s: %s", name, channel.channel, warning)
    for warning in report.warnings:
        log.warning("%s: %s", name, warning)
    log.info("%s ran at %s (%s): %s; %s", name, _when(started, settings), _took(clock), did(report, publish=publish),
             _next(next_run, now, settings))
    return report


def did(report: RunReport, *, publish: bool) -> str:
    """What a run did, in words: '14 new, 11 queued, 2 duplicates, 3 published, 1 error'."""
    channels = report.channels.values()
    figures = [(sum(c.new_posts for c in channels), "new"), (sum(c.pending for c in channels), "queued for review"),
               (sum(c.duplicates for c in channels), "duplicates"), (sum(c.rejected for c in channels), "rejected")]
    figures += [(sum(c.published for c in channels), "published")] if publish else []
    errors = sum(len(c.errors) for c in channels)
    words = [f"{n:,} {what}" for n, what in figures if n] + ([f"{errors} error{'s' * (errors != 1)}"] if errors else [])
    return ", ".join(words) or "nothing new"


def slotted(settings: Settings) -> list[str]:
    """The publishing channels with posting slots."""
    return [n for n in settings.publishing_channels() if settings.channels[n].slots is not None]


def slot_job(settings: Settings, make: Callable[[], Pipeline], tried: dict[str, datetime], *,
             now: Clock = utcnow) -> tuple[RunReport, list] | None:
    """Every minute: publish on each channel whose current slot has not had its go yet (one go per slot, whatever
    became of it: an item refused by its platform is not retried every minute). Quiet when nothing is due."""
    at, clock, tz = now(), time.monotonic(), ZoneInfo(settings.timezone)
    due = {n: w.start for n in slotted(settings)
           if (w := slots.current(settings.channels[n], tz, at)) and tried.get(n) != w.start}
    if not due:
        return None
    try:
        with make() as pipeline:
            report, plans = pipeline.publish(channels=list(due), now=at)
    except WlbError as exc:  # a busy run lock (a collect job): the slot is tried again next minute
        log.info("slot at %s waits: %s; tried again in a minute", _when(at, settings), exc)
        return None
    except Exception:
        tried.update(due)  # an unexpected failure is logged by the scheduler once, not retried every minute
        raise
    if not plans and not report.all_warnings() and not any(c.errors for c in report.channels.values()):
        # Nothing was due: the slot is not used up, so an item approved later in its window still goes in it.
        log.debug("slot %s: nothing due yet", ", ".join(due))
        return report, plans
    tried.update(due)
    for channel in report.channels.values():
        for error in channel.errors:
            log.warning("slot: %s: %s", channel.channel, error)
    for warning in report.all_warnings():
        log.warning("slot: %s", warning)
    sent = "; ".join(f"#{p.item} → {p.channel} → {p.url or p.result}" for p in plans) or "nothing due"
    held = Counter(h.reason for h in getattr(plans, "held", []))
    waits = f"; waiting: {', '.join(f'{n} {why}' for why, n in held.most_common())}" if held else ""
    following = [x for n in due if (x := slots.next_slot(settings.channels[n], tz, at))]
    log.info("slot %s ran at %s (%s): %s%s; %s", ", ".join(f"{n} {w.astimezone(tz):%H:%M}" for n, w in due.items()),
             _when(at, settings), _took(clock), sent, waits,
             f"next slot at {_when(min(following), settings)}" if following else "no later slot")
    return report, plans


def report_job(settings: Settings, *, now: Clock = utcnow, next_run: NextRun | None = None,
               http: Callable[[], Http] | None = None) -> dict | None:
    """The last seven days' `wlb report`, written to report.to_file and/or POSTed to the webhook."""
    started, clock = now(), time.monotonic()
    try:
        with Workspace(settings) as ws:
            figures = build_report(ws.db, timedelta(days=7), timezone=settings.timezone, now=started)
    except WlbError as exc:
        log.warning("weekly report skipped at %s: %s; %s", _when(started, settings), exc, _next(next_run, now, settings))
        return None
    sent = []
    if settings.report.to_file:
        sent.append(_write(settings, figures, started))
    if settings.report.webhook_url_env:
        sent.append(_post(settings, figures, http or (lambda: Http(settings.network))))
    log.info("weekly report ran at %s (%s): %s; %s; %s", _when(started, settings), _took(clock), figures["summary"],
             "; ".join(s for s in sent if s) or "sent nowhere", _next(next_run, now, settings))
    return figures


def report_path(settings: Settings, moment: datetime) -> Path:
    """Where the weekly report of `moment` goes: to_file with {date} the local day, relative to the config file."""
    day = moment.astimezone(ZoneInfo(settings.timezone)).date().isoformat()
    return settings.root / settings.report.to_file.format(date=day)


def _write(settings: Settings, figures: dict, moment: datetime) -> str | None:
    path = report_path(settings, moment)
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(escape_json_controls(json.dumps(figures, ensure_ascii=False, indent=2)) + "\n",
                           encoding="utf-8")
        os.replace(partial, path)  # a reader never sees half a report
    except OSError as exc:
        log.warning("weekly report: cannot write %s (%s)", path, exc.strerror or exc)
        return None
    return f"wrote {path}"


def _post(settings: Settings, figures: dict, make_http: Callable[[], Http]) -> str | None:
    """POST the report as JSON; the URL is a secret of its own (chat webhooks), so it is never logged."""
    name = settings.report.webhook_url_env
    url = settings.report.webhook_url()
    if not url:
        log.warning("weekly report: $%s is not set; not sent to the webhook", name)
        return None
    hide = [url, shown_url(url)]
    body = {"text": f"wlb weekly report: {figures['summary']}", **figures}  # "text": what chat webhooks show
    try:
        with make_http() as http:
            response = http.request("POST", url, json=body)
    except HttpError as exc:  # its message may quote the URL (SSRF refusals): masked
        log.warning("weekly report: the webhook in $%s failed: %s", name, redact(str(exc), hide))
        return None
    if not response.is_success:
        log.warning("weekly report: the webhook in $%s answered %s %s", name, response.status_code,
                    redact(response.reason_phrase, hide))
        return None
    return f"sent to the webhook in ${name} ({response.status_code})"


def _when(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%a %d %b %H:%M")


def _took(started: float) -> str:
    seconds = time.monotonic() - started
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds // 60:.0f} min {seconds % 60:.0f} s"


def _next(next_run: NextRun | None, now: Clock, settings: Settings) -> str:
    at = next_run(now()) if next_run else None
    return f"next at {_when(at, settings)}" if at else "not scheduled again"


def next_of(trigger: BaseTrigger) -> NextRun:
    """When a trigger fires after `now` (a second later: a job that ends on its own minute is not due again)."""
    return lambda now: trigger.get_next_fire_time(None, now + timedelta(seconds=1))


def weekly_trigger(settings: Settings) -> CronTrigger | None:
    """report.weekly ("mon 09:00") as a cron trigger in the configured zone, or None."""
    if not settings.report.weekly:
        return None
    day, hhmm = settings.report.weekly.split()
    hour, minute = hhmm.split(":")
    return CronTrigger(day_of_week=day, hour=int(hour), minute=int(minute), timezone=settings.timezone)


def build_scheduler(settings: Settings, make: Callable[[], Pipeline], scheduler: BaseScheduler | None = None) -> BaseScheduler:
    """Add the collect, nightly and weekly report jobs; max_instances=1 and coalesce keep runs from piling up."""
    scheduler = scheduler or BlockingScheduler(timezone=settings.timezone)
    try:
        nightly = CronTrigger.from_crontab(settings.schedule.nightly, timezone=settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"{settings.path}: 'schedule.nightly': {exc}") from None
    scheduler.add_job(nightly_job, nightly, args=(settings, make), kwargs={"next_run": next_of(nightly)},
                      id="nightly", max_instances=1, coalesce=True)
    minutes = settings.schedule.collect_every_minutes
    if minutes:
        every = IntervalTrigger(minutes=minutes, timezone=settings.timezone)
        scheduler.add_job(collect_job, every, args=(settings, make), kwargs={"next_run": next_of(every)},
                          id="collect", max_instances=1, coalesce=True)
    if slotted(settings):  # channels with posting slots: a look every minute, a post when a slot has come
        minute = CronTrigger(minute="*", timezone=settings.timezone)
        scheduler.add_job(slot_job, minute, args=(settings, make, {}), id="slots", max_instances=1, coalesce=True)
    weekly = weekly_trigger(settings)
    if weekly:
        scheduler.add_job(report_job, weekly, args=(settings,), kwargs={"next_run": next_of(weekly)},
                          id="report", max_instances=1, coalesce=True)
    return scheduler


class _LocalTime(logging.Formatter):
    """Times in the configured zone, with its offset: '2026-12-07 09:00:02+0100'."""

    def __init__(self, fmt: str, timezone: str):
        super().__init__(fmt)
        self.zone = ZoneInfo(timezone)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.zone).strftime("%Y-%m-%d %H:%M:%S%z")


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Log INFO and up to stderr (or stream), every record of every library passed through the secret filter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_LocalTime("%(asctime)s %(levelname)s %(message)s", settings.timezone))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in QUIET:  # httpx: "HTTP Request: GET https://…" per request; apscheduler: per job start and end;
        # alembic: its plugins and dialect each time a job opens the database
        logging.getLogger(name).setLevel(logging.WARNING)
    # Whatever still logs a URL (a library's warning, WLB_DEBUG) is masked by the filter on every handler.
    webhook = settings.report.webhook_url()
    install([*secrets_of(settings), *((webhook, shown_url(webhook)) if webhook else ())], root)
    return handler


def serve(settings: Settings) -> None:
    """Block, running the jobs on schedule, until interrupted."""
    configure_logging(settings)
    scheduler = build_scheduler(settings, lambda: Pipeline(settings))
    weekly = (f"; weekly report {settings.report.weekly}" if settings.report.weekly else "")
    log.info("wlb serve: nightly at '%s' %s; collecting every %s minutes%s", settings.schedule.nightly,
             settings.timezone, settings.schedule.collect_every_minutes or "(off)", weekly)
    tz = ZoneInfo(settings.timezone)
    for name in slotted(settings):
        channel, first = settings.channels[name], slots.next_slot(settings.channels[name], tz, utcnow())
        weekends = "the same" if channel.weekend_slots is None else ", ".join(channel.weekend_slots) or "none"
        log.info("posting slots on %s: %s (weekends: %s); first at %s", name, ", ".join(channel.slots), weekends,
                 _when(first, settings) if first else "none in the next week")
    for job in [j for j in scheduler.get_jobs() if j.id != "slots"]:
        log.info("first %s %s", {"nightly": "nightly run", "report": "weekly report"}.get(job.id, job.id),
                 _next(next_of(job.trigger), utcnow, settings).removeprefix("next "))
    if settings.report.webhook_url_env and not settings.report.webhook_url():
        log.warning("report.webhook_url_env names $%s, which is not set: the weekly report will not reach the "
                    "webhook", settings.report.webhook_url_env)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("wlb serve stopped")
