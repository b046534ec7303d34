"""What `wlb run`/`wlb collect` and `wlb queue` show a person: every warning, every blocking flag, inert and masked."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from rich.console import Console

from app.output import Output
from core.report import RunReport
from tests.fakes import images

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SGR = re.compile(r"\x1b\[[0-9;]*m")


def render(report: RunReport) -> str:
    buf = io.StringIO()
    Output(console=Console(file=buf, width=120, force_terminal=True, color_system="standard")).report(report)
    return buf.getvalue()


def test_collect_summary_shows_the_page_cap_warning_of_its_channel(site):
    site.source.page_cap = 2
    for n in range(5):
        site.source.add_status(images=[images.jpeg(70 + n)], created_at=T0 + timedelta(minutes=n), acct=f"p{n}")
    site.write_config(extra="[collect]\nmax_pages_per_run = 1")
    result = site.wlb("collect")
    assert result.code == 0, result.err
    (line,) = [line for line in result.out.splitlines() if "max_pages_per_run" in line]
    assert line.split()[:2] == ["warning", "source:"] and "stopped after 1 pages" in line
    assert len(site.queue("pending")) == 2, "one page of two, the rest on the next run"


def test_channel_warnings_are_printed_inert_and_masked():
    report = RunReport()
    channel = report.channel("hostile")
    channel.warnings.append("page cap reached at https://evil.example/api?access_token=SECRET999&max_id=5 "
                            "\x1b]0;pwned\x07\x1b[2J[bold red]x[/bold red]")
    channel.refused.append("https://evil.example/a.png?sig=ABCDEF123: too large")
    channel.errors.append("https://evil.example/api?api_key=KEY123456 answered 500")
    shown = render(report)
    bare = SGR.sub("", shown)
    assert "warning  hostile: page cap reached at https://evil.example/api?access_token=***&max_id=5" in bare
    assert "[bold red]x[/bold red]" in bare, "markup in remote text is printed as text"
    assert "\x1b]" not in shown and "\x07" not in shown and "\x1b[2J" not in shown and "pwned" not in shown
    assert not any(secret in shown for secret in ("SECRET999", "ABCDEF123", "KEY123456"))
    assert "sig=***" in bare and "api_key=***" in bare


def test_run_warnings_and_channel_warnings_both_shown():
    report = RunReport(warnings=["item #3 is the same photo as #1"])
    report.channel("a").warnings.append("stopped after 50 pages")
    bare = SGR.sub("", render(report))
    assert "warning  a: stopped after 50 pages" in bare and "warning  item #3 is the same photo as #1" in bare


def test_queue_table_flags_needs_credit_and_origin_disagreement_at_a_glance(site):
    long_text = "A very long description of the Grand-Place at dusk " * 10
    for n, acct in enumerate(("nocredit", "forged", "plain")):
        site.source.add_status(images=[images.jpeg(80 + n)], created_at=T0 + timedelta(minutes=n), acct=acct,
                               text=long_text)
    assert site.wlb("collect").code == 0
    ids = {i["author"]["handle"].split("@")[0]: i["id"] for i in site.queue("pending")}
    site.set_post(ids["nocredit"], needs_credit=True)
    site.set_post(ids["forged"], reasons=["origin disagrees: the author is @mallory@evil.example"])

    table = site.wlb("queue").out  # not a terminal: 80 columns, the narrow layout
    rows = {n: next(line for line in table.splitlines() if line.split() and line.split()[0] == str(i))
            for n, i in ids.items()}
    assert "needs credit" in rows["nocredit"], table
    assert "origin disagrees" in rows["forged"], table
    assert "needs credit" not in rows["plain"] and "origin" not in rows["plain"]

    items = site.queue("pending")
    buf = io.StringIO()
    Output(console=Console(file=buf, width=120, force_terminal=True, color_system="standard")).items(items)
    flagged = buf.getvalue()
    assert "\x1b[1;31mneeds credit: " in flagged and "\x1b[1;31morigin disagrees: the author is" in flagged


def test_publish_output_shows_channel_warnings_too():
    from app.output import plans_output

    report = RunReport()
    report.channel("community").warnings.append("rate limited at https://c.example/api?token=TOK123456; rest tomorrow")
    buf = io.StringIO()
    plans_output(Output(console=Console(file=buf, width=120)), [], report, dry_run=False)
    shown = buf.getvalue()
    assert "warning  community: rate limited at https://c.example/api?token=***; rest tomorrow" in shown
    assert "TOK123456" not in shown
