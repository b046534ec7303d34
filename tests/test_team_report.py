"""`wlb report` and what the team reads: figures from real rows, safe CSV and terminal output, the chart,
serve's weekly report to a file and a webhook, and log lines a person can read."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from PIL import Image

import cli
from app.config import load_settings
from app.pipeline import Pipeline
from app.report import build_report, csv_cell, reason_group
from app.scheduler import (QUIET, build_scheduler, configure_logging, next_of, nightly_job, report_job,
                           weekly_trigger)
from core.db import Database
from core.errors import ConfigError
from core.models import Author, Decision, Post, Publication
from core.settings import Settings
from tests.fakes.server import FakeServer, Recorded, Reply

DIRK = "dirk@brussels.social"
FORMULA = "=cmd|' /C calc'!A0@evil.example"  # opens a shell in a spreadsheet that runs it as a formula
HOSTILE = "[bold]lea[/bold]\x1b]52;c;aGk=\x07@evil.example"  # rich markup and an OSC 52 clipboard write
MONDAY_9 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 7 December, 09:00 in Brussels


def fill(db_url: str, now: datetime) -> None:
    """Thirteen items around `now`: eleven collected in the last seven days, two long before."""
    db = Database(db_url)
    day = timedelta(days=1)
    with db.session() as s:
        authors = {h: Author(key=f"{net}:{h}", network=net, handle=h, name=h.split("@")[0])
                   for h, net in ((DIRK, "fediverse"), (FORMULA, "bluesky"), (HOSTILE, "fediverse"))}
        s.add_all(authors.values())
        s.flush()
        platform = {DIRK: "mastodon", FORMULA: "bluesky", HOSTILE: "pixelfed"}
        posts = {}
        # n: (author, collected this long ago, status)
        for n, (who, ago, status) in {1: (DIRK, day, "published"), 2: (DIRK, 2 * day, "published"),
                                      3: (FORMULA, day, "rejected"), 4: (FORMULA, 3 * day, "rejected"),
                                      5: (HOSTILE, day, "rejected"), 6: (DIRK, day, "duplicate"),
                                      7: (HOSTILE, 2 * day, "duplicate"), 8: (DIRK, 5 * day, "pending"),
                                      9: (HOSTILE, day, "pending"), 10: (HOSTILE, 3 * day, "pending"),
                                      11: (DIRK, 20 * day, "published"), 12: (HOSTILE, 2 * day, "approved"),
                                      13: (FORMULA, 20 * day, "rejected")}.items():
            posts[n] = Post(key=f"k{n}", channel="source", platform=platform[who], remote_id=str(n), url=f"https://x/{n}",
                            author_id=authors[who].id, created_at=now - ago - timedelta(hours=1),
                            collected_at=now - ago, status=status)
        s.add_all(posts.values())
        s.flush()

        def decide(n: int, action: str, to: str, ago: timedelta, reason: str = "", frm: str = "pending") -> None:
            s.add(Decision(post_id=posts[n].id, action=action, from_status=frm, to_status=to, actor="wlb", reason=reason,
                           at=now - ago))

        def publication(n: int, channel: str, state: str, ago: timedelta, error: str | None = None) -> None:
            s.add(Publication(post_id=posts[n].id, channel=channel, idempotency_key=f"wlb-{n}-{channel}", state=state,
                              created_at=now - ago, error=error,
                              published_at=now - ago if state == "published" else None))

        for n in (1, 2, 8, 9, 10, 12):
            decide(n, "queue", "pending", timedelta(hours=1) if n != 8 else 5 * day, frm="new")
        decide(1, "approve", "approved", day - timedelta(hours=2))
        decide(2, "approve-forced", "approved", 2 * day - timedelta(hours=2))
        decide(12, "approve", "approved", day)
        decide(11, "approve", "approved", 19 * day)  # before the period
        decide(3, "auto-reject", "rejected", day, "image too small: 480x360, minimum 600x600; "
                                                 "contains the blocked word 'nsfw' (blocked_words)", frm="new")
        decide(4, "auto-reject", "rejected", 3 * day, "image too small: 500x400, minimum 600x600", frm="new")
        decide(5, "reject", "rejected", day, "=1+1 offensive")
        decide(5, "credit", "rejected", day - timedelta(hours=1), "a note on a rejected item", frm="rejected")
        decide(13, "auto-reject", "rejected", 20 * day, "marked sensitive", frm="new")
        decide(6, "auto-duplicate", "duplicate", day, "same photo as #1", frm="new")
        decide(7, "duplicate", "duplicate", 2 * day, "duplicate of #5")
        publication(1, "community", "published", timedelta(hours=12))
        publication(1, "bluesky", "failed", timedelta(hours=12), "bluesky answered 500 ?token=S3cretTok3n")
        publication(2, "community", "published", day)
        publication(11, "community", "published", 19 * day)
        publication(12, "community", "pending", timedelta(hours=3), "cannot reach community.social: timed out")
        s.commit()
    db.dispose()


EXPECTED = {"collected": 11, "approved": 3, "published": 2,
            "duplicates": {"total": 2, "auto": 1, "reviewers": 1},
            "rejected": {"total": 3, "by_reason": {"too small": 2, "=1+1 offensive": 1, "blocked word": 1}},
            "platforms": {"collected": {"mastodon": 4, "pixelfed": 5, "bluesky": 2}, "published": {"mastodon": 2}}}


def check_figures(figures: dict) -> None:
    for key, value in EXPECTED.items():
        assert figures[key] == value, key
    channels = figures["channels"]
    assert {k: (c["published"], c["failed"], c["retrying"]) for k, c in channels.items()} == {
        "bluesky": (0, 1, 0), "community": (2, 0, 1)}
    assert "S3cretTok3n" not in channels["bluesky"]["last_error"] and "answered 500" in channels["bluesky"]["last_error"]
    assert channels["community"]["last_error"] == "cannot reach community.social: timed out"
    top = figures["top_photographers"]
    assert [(p["handle"], p["count"]) for p in top["published"]] == [(DIRK, 2)]
    assert [(p["handle"], p["count"]) for p in top["collected"]] == [(HOSTILE, 5), (DIRK, 4), (FORMULA, 2)]
    queue = figures["queue"]
    assert queue["pending"] == 3
    assert queue["oldest_age_hours"] == pytest.approx(120, abs=0.2)  # item 8
    assert queue["median_age_hours"] == pytest.approx(72, abs=0.2)  # item 10
    days = figures["days"]
    assert sum(d["collected"] for d in days) == 11 and sum(d["approved"] for d in days) == 3
    assert sum(d["published"] for d in days) == 2
    assert [d["date"] for d in days] == sorted(d["date"] for d in days)


def test_figures_come_from_the_rows_of_the_period(db_url):
    now = MONDAY_9
    fill(db_url, now)
    db = Database(db_url)
    try:
        figures = build_report(db, timedelta(days=7), timezone="Europe/Brussels", now=now)
    finally:
        db.dispose()
    check_figures(figures)
    # Per day in Brussels: item 1 was collected on Sunday 6 December at 09:00 local time.
    sunday = next(d for d in figures["days"] if d["date"] == "2026-12-06")
    assert sunday["collected"] == 5 and sunday["approved"] == 2  # items 1, 3, 5, 6, 9; items 1 and 12 approved
    assert figures["summary"].startswith("11 collected, 2 duplicates merged, 3 approved, 3 rejected, 2 published "
                                         "(1 failed); 3 waiting for review, oldest 5 days")


def test_the_report_asks_the_database_the_same_questions_however_large_the_archive(db_url):
    """Aggregates only: the number of statements does not grow with the rows (no per-item queries)."""
    db = Database(db_url)

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            build_report(db, timedelta(days=7), now=MONDAY_9)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    try:
        fill(db_url, MONDAY_9)
        small = statements()
        with db.session() as s:  # fifty more pending items of fifty more photographers
            for n in range(50):
                author = Author(key=f"x:p{n}", network="fediverse", handle=f"p{n}@x.example")
                s.add(author)
                s.flush()
                s.add(Post(key=f"more{n}", channel="source", platform="mastodon", remote_id=f"m{n}", url="https://x/",
                           author_id=author.id, created_at=MONDAY_9 - timedelta(hours=n + 2),
                           collected_at=MONDAY_9 - timedelta(hours=n + 1), status="pending"))
            s.commit()
        assert statements() == small
    finally:
        db.dispose()


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'database = "{db_url}"\nmedia_dir = "data/media"\ntimezone = "Europe/Brussels"\n', encoding="utf-8")
    return path


def wlb(capsys, config: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_json_is_one_object_with_the_figures(config, db_url, capsys):
    fill(db_url, datetime.now(UTC))
    code, out, err = wlb(capsys, config, "report", "--json")
    assert code == 0, err
    check_figures(json.loads(out))
    code, out, _ = wlb(capsys, config, "report", "--since", "30d", "--json")
    figures = json.loads(out)
    assert figures["collected"] == 13 and figures["published"] == 3 and figures["rejected"]["total"] == 4


def test_report_table_shows_remote_text_inert(config, db_url, capsys):
    fill(db_url, datetime.now(UTC))
    code, out, err = wlb(capsys, config, "report")
    assert code == 0, err
    assert f"@{DIRK}" in out and "too small" in out and "community" in out
    assert "[bold]lea[/bold]" in out, "markup in a handle is printed as text, not applied"
    assert "\x1b" not in out and "aGk=" not in out, "no escape sequence, nor its payload, reaches the terminal"
    assert "S3cretTok3n" not in out
    assert "waiting for review" in out and "3" in out


def test_csv_rows_are_safe_in_a_spreadsheet(config, db_url, capsys):
    fill(db_url, datetime.now(UTC))
    code, out, err = wlb(capsys, config, "report", "--csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["section", "key", "value"]
    cells = {(section, key): value for section, key, value in rows[1:]}
    assert cells[("totals", "collected")] == "11" and cells[("totals", "published")] == "2"
    assert cells[("rejected_by_reason", "'=1+1 offensive")] == "1"
    assert cells[("top_photographers_collected", f"'{FORMULA} (bluesky)")] == "2"
    assert cells[("channel_failed", "bluesky")] == "1"
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), f"{cell!r} would run as a formula"
            assert "\x1b" not in cell
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("-2+3") == "'-2+3" and csv_cell("+1") == "'+1"
    assert csv_cell(-3) == -3 and csv_cell("plain") == "plain" and csv_cell(None) == ""


def test_chart_is_a_png(config, db_url, capsys, tmp_path):
    fill(db_url, datetime.now(UTC))
    chart = tmp_path / "week.png"
    code, out, err = wlb(capsys, config, "report", "--chart", str(chart))
    assert code == 0, err
    assert f"chart written to {chart}" in out
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400
        assert len(image.getcolors(1 << 16) or [0] * 1000) > 3, "bars were drawn, not an empty canvas"


def test_chart_of_an_empty_archive_and_an_unwritable_path(config, capsys, tmp_path):
    chart = tmp_path / "empty.png"
    assert wlb(capsys, config, "report", "--chart", str(chart))[0] == 0
    with Image.open(chart) as image:
        assert image.format == "PNG"
    code, _, err = wlb(capsys, config, "report", "--chart", str(tmp_path / "no" / "such" / "dir.png"))
    assert code == 2 and "cannot write it" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "expected"), [(["--json", "--csv"], "choose one of --json and --csv"),
                                                (["--since", "yesterday"], "--since 'yesterday'")])
def test_bad_options_are_one_line(config, capsys, args, expected):
    code, out, err = wlb(capsys, config, "report", *args)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1 and not out


@pytest.mark.parametrize(("reason", "group"), [("image too small: 480x360, minimum 600x600", "too small"),
                                               ("too small: 480x360", "too small"),
                                               ("author bob@evil.example is blocked (blocked_authors: *@evil.example)",
                                                "blocked author"),
                                               ("has a content warning 'spiders' (sensitive = \"skip\")", "content warning"),
                                               ("Blurry.", "blurry"), ("", "(no reason given)")])
def test_reasons_are_grouped_without_their_particulars(reason, group):
    assert reason_group(reason) == group


# `wlb serve`: the weekly report, and its log


def serve_settings(tmp_path: Path, db_url: str, **report) -> Settings:
    return Settings(database=db_url, media_dir=tmp_path / "data" / "media", path=tmp_path / "config.toml",
                    report=report, network={"retries": 0, "allow_private": report.pop("allow", [])})


@contextmanager
def serve_log(settings: Settings) -> Iterator[io.StringIO]:
    """What `wlb serve` writes to its log (its handler, levels and secret filter), undone afterwards."""
    stream = io.StringIO()
    before = {name: logging.getLogger(name).level for name in QUIET}
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(settings, stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, was in before.items():
            logging.getLogger(name).setLevel(was)


def test_weekly_job_writes_the_file_and_logs_one_line(tmp_path, db_url, caplog):
    fill(db_url, MONDAY_9)
    settings = serve_settings(tmp_path, db_url, weekly="mon 09:00", to_file="reports/week-{date}.json")
    caplog.set_level(logging.INFO, logger="wlb.serve")
    figures = report_job(settings, now=lambda: MONDAY_9, next_run=next_of(weekly_trigger(settings)))
    written = json.loads((tmp_path / "reports" / "week-2026-12-07.json").read_text(encoding="utf-8"))
    assert written == figures
    check_figures(written)
    (line,) = [r for r in caplog.records if r.name == "wlb.serve"]
    assert line.levelno == logging.INFO
    assert line.getMessage().startswith("weekly report ran at Mon 07 Dec 09:00 (")
    assert "11 collected" in line.getMessage() and f"wrote {tmp_path / 'reports' / 'week-2026-12-07.json'}" in line.getMessage()
    assert line.getMessage().endswith("; next at Mon 14 Dec 09:00")


class Webhook(FakeServer):
    def dispatch(self, request: Recorded) -> Reply:
        return Reply(200, {"ok": True})


SECRET_PATH = "/hooks/T0001/B0002/s3cr3tW3bh00kPath"


def test_weekly_job_posts_the_report_to_the_webhook(tmp_path, db_url, caplog, monkeypatch):
    fill(db_url, MONDAY_9)
    with Webhook() as hook:
        monkeypatch.setenv("WLB_REPORT_WEBHOOK", hook.base_url + SECRET_PATH)
        settings = serve_settings(tmp_path, db_url, weekly="mon 09:00", webhook_url_env="WLB_REPORT_WEBHOOK",
                                  allow=[hook.origin])
        with serve_log(settings) as log:
            figures = report_job(settings, now=lambda: MONDAY_9)
    (request,) = hook.requests
    assert request.method == "POST" and request.path == SECRET_PATH
    assert request.headers["content-type"] == "application/json"
    assert request.json["text"] == f"wlb weekly report: {figures['summary']}"
    assert {k: v for k, v in request.json.items() if k != "text"} == figures
    check_figures(request.json)
    assert "sent to the webhook in $WLB_REPORT_WEBHOOK (200)" in log.getvalue()
    assert "s3cr3tW3bh00kPath" not in log.getvalue() and "T0001" not in log.getvalue()


def test_a_failing_or_refused_webhook_is_a_warning_without_its_url(tmp_path, db_url, monkeypatch):
    with Webhook() as hook:
        hook.fail_next(1, 500)
        monkeypatch.setenv("WLB_REPORT_WEBHOOK", hook.base_url + SECRET_PATH)
        settings = serve_settings(tmp_path, db_url, webhook_url_env="WLB_REPORT_WEBHOOK", allow=[hook.origin])
        guarded = serve_settings(tmp_path, db_url, webhook_url_env="WLB_REPORT_WEBHOOK")
        with serve_log(settings) as log:
            assert report_job(settings, now=lambda: MONDAY_9) is not None
            # Not in allow_private: the SSRF guard refuses 127.0.0.1, and its message quotes the URL's path.
            report_job(guarded, now=lambda: MONDAY_9)
            monkeypatch.delenv("WLB_REPORT_WEBHOOK")
            report_job(settings, now=lambda: MONDAY_9)
        assert len(hook.requests) == 1
    lines = log.getvalue().splitlines()
    warnings = [line.split(" WARNING ", 1)[1] for line in lines if " WARNING " in line]
    assert len(warnings) == 3 and len(lines) == 6, lines  # and one line per run
    assert "answered 500" in warnings[0]
    assert "refused to contact ***: 127.0.0.1 is" in warnings[1]
    assert warnings[2] == "weekly report: $WLB_REPORT_WEBHOOK is not set; not sent to the webhook"
    assert "s3cr3tW3bh00kPath" not in log.getvalue() and "T0001" not in log.getvalue()


def test_the_weekly_job_follows_the_configured_day_time_and_zone(tmp_path, db_url):
    settings = serve_settings(tmp_path, db_url, weekly="Mon  09:00", to_file="r.json")
    scheduler = build_scheduler(settings, lambda: None, BackgroundScheduler())
    job = {j.id: j for j in scheduler.get_jobs()}["report"]
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 12, 2, 17, 30, tzinfo=UTC))
    assert fire.astimezone(UTC) == MONDAY_9
    assert job.max_instances == 1 and job.coalesce
    assert "report" not in {j.id for j in build_scheduler(serve_settings(tmp_path, db_url), lambda: None,
                                                          BackgroundScheduler()).get_jobs()}


@pytest.mark.parametrize(("report", "expected"), [
    ('weekly = "monday 9am"\nto_file = "r.json"', "'report.weekly': write a weekday and a time"),
    ('weekly = "mon 09:00"', "weekly needs somewhere to send the report"),
    ('webhook_url = "https://hooks.example/T/B/secret"', "put it in an environment variable"),
    ('webhook_url_env = "https://hooks.example/T/B/secret"', "not the URL itself"),
    ('to_file = "reports/{week}.json"', "only {date} may appear"),
])
def test_report_settings_are_checked(tmp_path, report, expected):
    path = tmp_path / "config.toml"
    path.write_text(f"[report]\n{report}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="config.toml") as caught:
        load_settings(path)
    assert expected in str(caught.value) and "secret" not in str(caught.value).split(":", 1)[0]
    assert "hooks.example/T/B/secret" not in str(caught.value)


class Quiet(Pipeline):
    """The real Pipeline and its run lock, without its stages: a run that finds nothing."""

    def _collect(self, report):
        pass

    def _curate(self, report):
        pass

    def _publish(self, report, **options):
        pass


def test_a_job_says_when_it_ran_what_it_did_and_when_it_runs_next(tmp_path, db_url, caplog):
    settings = serve_settings(tmp_path, db_url)
    nightly = build_scheduler(settings, lambda: None, BackgroundScheduler()).get_job("nightly")
    caplog.set_level(logging.INFO)
    wednesday = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)  # 02:30 in Brussels
    assert nightly_job(settings, lambda: Quiet(settings), now=lambda: wednesday,
                       next_run=nightly.kwargs["next_run"]) is not None
    (line,) = [r.getMessage() for r in caplog.records if r.name == "wlb.serve"]
    assert line.startswith("nightly run ran at Wed 02 Dec 02:30 (")
    assert line.endswith("s): nothing new; next at Thu 03 Dec 02:30")


def test_serve_logs_no_request_lines_and_masks_the_webhook(tmp_path, db_url, monkeypatch):
    monkeypatch.setenv("WLB_REPORT_WEBHOOK", "https://hooks.example" + SECRET_PATH)
    settings = serve_settings(tmp_path, db_url, webhook_url_env="WLB_REPORT_WEBHOOK")
    with serve_log(settings) as stream:
        logging.getLogger("httpx").info('HTTP Request: GET https://mastodon.social/api/v1/timelines/tag/x "200 OK"')
        logging.getLogger("apscheduler.executors.default").info('Running job "nightly_job"')
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        logging.getLogger("httpx").warning("a warning still shows")
        logging.getLogger("wlb.serve").warning("posting to https://hooks.example%s failed", SECRET_PATH)
    logs = stream.getvalue()
    assert "HTTP Request" not in logs and "Running job" not in logs and "Context impl" not in logs
    assert "a warning still shows" in logs
    assert "s3cr3tW3bh00kPath" not in logs and "posting to *** failed" in logs
    assert logs.splitlines()[0][:25].count(":") == 2 and logs.splitlines()[0][19:24] in ("+0100", "+0200")


# run/publish --json: one JSON object per line, stamped


def test_run_and_publish_json_are_one_stamped_line_each(site):
    log = []
    for args in (("run", "--json"), ("publish", "--json"), ("publish", "--dry-run", "--json"), ("run", "--json")):
        result = site.wlb(*args)
        assert result.code == 0, result.err
        assert result.out.count("\n") == 1 and result.out.endswith("}\n"), result.out
        log.append(result.out)
    for line in "".join(log).splitlines():  # what `>> nightly.log` holds
        entry = json.loads(line)
        stamp = datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)
        assert entry["ok"] is True and "channels" in entry
    assert "items" in json.loads(log[1]) and json.loads(log[2])["dry_run"] is True
    queued = site.wlb("queue", "--json")
    assert queued.out.startswith("[") and json.loads(queued.out) == []  # other commands keep their --json
