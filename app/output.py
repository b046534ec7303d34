"""One output object for every command: rich tables for people, JSON for scripts."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from core.credit import BARE_HANDLES
from core.redact import redact
from core.report import Progress as StageProgress
from core.report import RunReport
from core.safe_text import escape_json_controls, strip_control

ORIGIN_DISAGREES = "origin disagrees"  # publisher/run.py's reason when the origin contradicts what we stored
STATUS_STYLE = {"pending": "yellow", "approved": "green", "published": "bold green", "rejected": "red",
                "duplicate": "magenta", "new": "cyan", "awaiting-consent": "blue", "consent-expired": "dark_orange"}


def _short(text: str | None, n: int) -> str:
    text = " ".join(strip_control(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def inert(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """Remote (or any) text as rich Text that prints as itself: no markup, no control sequences."""
    return Text(strip_control(value, multiline=multiline), style=style)


def problem_line(text: object, style: str) -> Text:
    """An error, refusal or warning (it may quote a remote URL or answer): secrets masked, then inert."""
    return inert(redact(strip_control(text)), style)


class Output:
    def __init__(self, *, json_mode: bool = False, console: Console | None = None):
        self.json_mode = json_mode
        self.console = console or Console()
        self.err = Console(stderr=True)

    def json(self, obj: Any) -> None:
        obj = asdict(obj) if is_dataclass(obj) else obj
        sys.stdout.write(escape_json_controls(json.dumps(obj, ensure_ascii=False, indent=2, default=str)) + "\n")

    def message(self, text: str, style: str = "green") -> None:
        if not self.json_mode:
            self.console.print(inert(text, style), soft_wrap=True)

    def error(self, text: str) -> None:
        self.err.print(problem_line(f"error: {text}", "bold red"), soft_wrap=True)

    def items(self, items: Iterable[dict], *, more: Callable[[], int] | int = 0, status: str = "", offset: int = 0,
              after: int | None = None) -> None:
        """`wlb queue`: one page as a table (--json: a JSON array written item by item), then how many more follow."""
        if self.json_mode:
            shown, last = self.json_array(items)
        else:
            items = list(items)
            shown, last = len(items), items[-1]["id"] if items else None
            self._items_table(items, offset, after)
        left = more() if callable(more) else more
        if left > 0 and last is not None:
            what = f" {status}" if status and status != "all" else ""
            also = f" (or --offset {offset + shown})" if after is None else ""
            hint = inert(f"… {left:,} more{what}; next page: --after {last}{also}, or --limit N", "dim")
            (self.err if self.json_mode else self.console).print(hint, soft_wrap=True)  # stdout stays pure JSON

    def json_array(self, items: Iterable[dict]) -> tuple[int, int | None]:
        """A JSON array written one item at a time, one item per line: memory stays flat; (count, last id)."""
        # Compact items: json's C encoder; indent= runs the pure-Python one, 5x slower on 100,000 items.
        shown, last = 0, None
        for item in items:
            text = json.dumps(item, ensure_ascii=False, separators=(", ", ": "), default=str)
            sys.stdout.write(("[\n" if not shown else ",\n") + escape_json_controls(text))
            shown, last = shown + 1, item.get("id")
        sys.stdout.write("\n]\n" if shown else "[]\n")
        sys.stdout.flush()
        return shown, last

    def _items_table(self, items: list[dict], offset: int, after: int | None) -> None:
        if not items:
            past = f"--offset {offset}" if after is None else f"--after {after}"
            return self.message("No items." if not (offset or after) else f"No items past {past}.", "dim")
        wide = self.console.width >= 110  # narrow terminals drop the channel and image size
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        table.add_column("id", justify="right", no_wrap=True, min_width=3)
        table.add_column("status", no_wrap=True, min_width=9)
        if wide:
            table.add_column("channel", no_wrap=True, max_width=14)
        table.add_column("author", no_wrap=True, min_width=10, max_width=24)
        table.add_column("posted", no_wrap=True, min_width=11)
        if wide:
            table.add_column("images", no_wrap=True)
        table.add_column("text", overflow="ellipsis", no_wrap=True, ratio=1, min_width=16)
        for it in items:
            ok = [m for m in it["media"] if m["state"] == "ok"]
            # Table.add_row reads a str as markup: every cell is Text so a handle like "x[/bold]" is only text.
            row = [Text(str(it["id"])), inert(it["status"], STATUS_STYLE.get(it["status"], ""))]
            row += [inert(it["channel"])] if wide else []
            row += [inert(f"@{it['author']['handle']}"), Text(it["created_at"][5:16].replace("T", " "))]
            row += [Text(f"{len(ok)} · {ok[0]['width']}x{ok[0]['height']}" if ok else "0")] if wide else []
            table.add_row(*row, _note(it) + Text(_short(it["text"], 200)))
        self.console.print(table)

    def item(self, item: dict, previews: list[Text] | None = None) -> None:
        if self.json_mode:
            return self.json(item)
        author = item["author"]
        head = Text.assemble((f"#{item['id']} ", "bold"), inert(item["status"], STATUS_STYLE.get(item["status"], "")),
                             inert(f"  {item['channel']} · {item['created_at'][:16].replace('T', ' ')}"))
        lines = [head, inert(f"{author['name']} (@{author['handle']}) {author['profile_url']}"),
                 inert(item["post_url"], "blue underline"), Text("")]
        if item.get("spoiler_text"):
            lines.append(inert(f"content warning: {item['spoiler_text']}", "bold yellow"))
        lines.append(inert(item["text"] or "(no text)", multiline=True))
        if item["reasons"]:
            lines.append(inert("reasons: " + "; ".join(item["reasons"]), "red"))
        if item.get("license"):
            lines.append(inert(f"licence: {item['license']} {item.get('license_url') or ''}".rstrip()))
        if item.get("needs_permission"):
            lines.append(inert(f"needs permission: {item['needs_permission']} (approve --force --reason …)", "bold red"))
        if item.get("needs_credit"):
            handle = "'@username'" if item.get("platform") in BARE_HANDLES else "'@user@host'"
            lines.append(Text(f"needs credit: no author could be determined (open its link, then approve --credit "
                              f"{handle} or 'Name')", style="bold red"))
        for found in item.get("suggested_credits") or []:
            lines.append(inert(f"suggested credit, from #{found['from']} on {found['platform']} (the same photo; a "
                               f"re-poster is not always the photographer, so check): --credit '{found['credit']}'",
                               "yellow"))
        if item["duplicate_of"] and not item.get("matches"):  # matches say it with the rule and distances
            lines.append(Text(f"duplicate of #{item['duplicate_of']}", style="magenta"))
        if item.get("duplicates"):
            lines.append(Text("duplicates: " + ", ".join(f"#{d}" for d in item["duplicates"]), style="magenta"))
        for d in item.get("possible_duplicate_of", []):
            lines.append(Text(f"possible duplicate of #{d}: compare the images and decide", style="bold yellow"))
        for m in item.get("matches", []):
            lines.append(Text(_match_line(m), style="magenta" if m["tier"] == "duplicate" else "yellow"))
        for m in item["media"]:
            state = f"{m['width']}x{m['height']} {m['format']} phash {m['phash']}" if m["state"] == "ok" else m["refused_reason"] or m["state"]
            lines.append(inert(f"image: {state}  alt: {_short(m['alt_text'] or '-', 60)}", "dim"))
        for p in item.get("publications", []):
            lines.append(inert(f"published to {p['channel']}: {p['state']} {p['url'] or p['error'] or ''}", "green"))
        if item.get("consent"):  # the ledger's row: 'wlb consent ID' shows all of it
            lines.append(inert(f"consent: {item['consent']['summary']} ('wlb consent {item['id']}')", "blue"))
        self.console.print(Panel(Group(*lines), expand=False))
        for preview in previews or []:
            self.console.print(preview)
        if item.get("history"):
            table = Table("when", "action", "from → to", "who", "why", title="history", title_justify="left")
            for h in item["history"]:
                table.add_row(*(inert(v) for v in (h["at"][:19].replace("T", " "), h["action"], f"{h['from']} → {h['to']}",
                                                   h["actor"], h["reason"])))
            self.console.print(table)

    def report(self, report: RunReport) -> None:
        if self.json_mode:
            return self.json_line(report.to_dict())
        table = Table(box=None, pad_edge=False, header_style="bold underline")
        table.add_column("channel", no_wrap=True, min_width=8, max_width=20)
        for name in ("new", "skip", "refused", "queued", "dup", "rejected", "posted", "errors"):
            table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
        for c in report.channels.values():
            table.add_row(inert(c.channel), str(c.new_posts), str(sum(c.skipped.values())),
                          str(len(c.refused)), str(c.pending), str(c.duplicates), str(c.rejected), str(c.published),
                          Text(str(len(c.errors)), "red" if c.errors else ""))
        self.console.print(table)
        for c in report.channels.values():
            if c.skipped:
                why = ", ".join(f"{n} {reason}" for reason, n in c.skipped.most_common())
                self.console.print(inert(f"  skipped  {c.channel}: {why}", "dim"), soft_wrap=True)
            for reason in c.refused:
                self.console.print(problem_line(f"  refused  {c.channel}: {reason}", "yellow"), soft_wrap=True)
            if c.cost:
                self.console.print(inert(f"  cost     {c.channel}: about ${c.cost:,.3f} of API reads (estimated)", "dim"),
                                   soft_wrap=True)
            for warning in c.warnings:  # e.g. the page cap reached: the rest waits for the next run
                self.console.print(problem_line(f"  warning  {c.channel}: {warning}", "yellow"), soft_wrap=True)
            for error in c.errors:
                self.console.print(problem_line(f"  failed   {c.channel}: {error}", "red"), soft_wrap=True)
        for warning in report.warnings:
            self.console.print(problem_line(f"  warning  {warning}", "yellow"), soft_wrap=True)
        self._consent(report)

    def _consent(self, report: RunReport) -> None:
        """The consent stage's line: requests sent, answers read; each request that went wrong on its own line."""
        c = report.consent
        said = [(c.sent, "asked"), (c.found_sent, "found already asked"), (c.granted, "granted"), (c.refused, "refused"),
                (c.unclear, "unclear (a person reads it)"), (c.not_author, "replies by others, not counted"),
                (c.expired, "expired"), (c.throttled, "wait for the hourly limit"), (c.failed, "could not be sent")]
        if any(n for n, _ in said):
            self.console.print(inert("  consent  " + ", ".join(f"{n} {what}" for n, what in said if n), "dim"),
                               soft_wrap=True)
        for error in c.errors:
            self.console.print(problem_line(f"  consent  {error}", "yellow"), soft_wrap=True)

    def json_line(self, obj: Any) -> None:
        """One JSON object on one line, stamped with "ts" (UTC): `>> nightly.log` stays a file of JSON lines."""
        obj = asdict(obj) if is_dataclass(obj) else obj
        stamped = {"ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **obj}
        line = json.dumps(stamped, ensure_ascii=False, separators=(",", ":"), default=str)
        sys.stdout.write(escape_json_controls(line) + "\n")

    def csv(self, rows: list[tuple]) -> None:
        """Rows for a spreadsheet (cells already made safe by the caller), with a header row."""
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("section", "key", "value"))
        writer.writerows(rows)

    def team_report(self, figures: dict) -> None:
        """`wlb report`: the period's figures as tables; every handle and reason printed inert."""
        if self.json_mode:
            return self.json(figures)
        period, tz = figures["period"], ZoneInfo(figures["period"]["timezone"])
        self.console.print(Text.assemble(("wlb report  ", "bold"), inert(
            f"{_local(period['start'], tz)} → {_local(period['end'], tz)} ({period['timezone']})")))
        dups, rejected, queue = figures["duplicates"], figures["rejected"], figures["queue"]
        failed = sum(c["failed"] for c in figures["channels"].values())
        totals = Table(box=None, show_header=False, pad_edge=False)
        totals.add_column(style="bold")
        totals.add_column(justify="right")
        totals.add_column(style="dim")
        totals.add_row("collected", f"{figures['collected']:,}", "")
        totals.add_row("duplicates merged", f"{dups['total']:,}", f"{dups['auto']:,} automatically, "
                                                                  f"{dups['reviewers']:,} by reviewers")
        totals.add_row("approved", f"{figures['approved']:,}", "")
        totals.add_row("rejected", f"{rejected['total']:,}", "")
        totals.add_row("published", f"{figures['published']:,}", Text(f"{failed:,} failed", "red") if failed else "")
        waited = (f"oldest {_local(queue['oldest'], tz)} ({_hours(queue['oldest_age_hours'])}), "
                  f"median {_hours(queue['median_age_hours'])}") if queue["oldest"] else ""
        totals.add_row("waiting for review", f"{queue['pending']:,}", waited)
        consent = figures.get("consent") or {}
        if any(consent.values()):
            totals.add_row("awaiting consent", f"{consent['awaiting']:,}",
                           f"{consent['asked']:,} asked, {consent['granted']:,} yes, {consent['refused']:,} no; "
                           f"{consent['expired']:,} without an answer")
        self.console.print(totals)
        if rejected["by_reason"]:
            table = Table("rejected because", "items", box=box.SIMPLE_HEAD, pad_edge=False)
            for reason, n in rejected["by_reason"].items():
                table.add_row(inert(reason), Text(f"{n:,}", justify="right"))
            self.console.print(table)
        if figures["channels"]:
            table = Table("channel", "published", "failed", "retrying", "last error", box=box.SIMPLE_HEAD, pad_edge=False)
            for name, c in figures["channels"].items():
                table.add_row(inert(name), Text(f"{c['published']:,}", justify="right"),
                              Text(f"{c['failed']:,}", "red" if c["failed"] else "", justify="right"),
                              Text(f"{c['retrying']:,}", "yellow" if c["retrying"] else "", justify="right"),
                              problem_line(c["last_error"] or "", "dim"))
            self.console.print(table)
        for ranking, title in (("published", "most reposted photographers"), ("collected", "most collected photographers")):
            people = figures["top_photographers"][ranking]
            if people:
                table = Table(title, "network", "items", box=box.SIMPLE_HEAD, pad_edge=False)
                for p in people:
                    table.add_row(inert(f"@{p['handle']}"), inert(p["network"]), Text(f"{p['count']:,}", justify="right"))
                self.console.print(table)
        platforms = figures["platforms"]
        if platforms["collected"] or platforms["published"]:
            table = Table("platform", "collected", "published", box=box.SIMPLE_HEAD, pad_edge=False)
            for name in dict.fromkeys([*platforms["collected"], *platforms["published"]]):
                table.add_row(inert(name), Text(f"{platforms['collected'].get(name, 0):,}", justify="right"),
                              Text(f"{platforms['published'].get(name, 0):,}", justify="right"))
            self.console.print(table)

    def findings(self, findings: list) -> None:
        """`wlb doctor`: one line per subject, ✓ or ✗ and what to fix."""
        if self.json_mode:
            return self.json([asdict(f) for f in findings])
        for f in findings:
            mark = Text("✓ ", "green") if f.ok else Text("✗ ", "bold red")
            self.console.print(mark + inert(f"{f.subject}: ", "bold") + inert(f.message), soft_wrap=True)


def _local(iso: str, tz: ZoneInfo) -> str:
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%a %d %b %Y %H:%M")


def _hours(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _note(it: dict) -> Text:
    """A queue row's flags before its text: what blocks approving or reposting it first, in bold red, so a
    narrow table still shows them; then duplicates and other reasons, dim."""
    blocking = ["needs permission"] if it.get("needs_permission") else []
    blocking += ["needs credit"] if it.get("needs_credit") else []
    reasons = [] if it["duplicate_of"] else list(it["reasons"])
    blocking += [r for r in reasons if r.startswith(ORIGIN_DISAGREES)]
    quiet = [f"dup of #{it['duplicate_of']}"] if it["duplicate_of"] else []
    quiet += [f"possible dup of #{d}" for d in it.get("possible_duplicate_of", [])]
    quiet += [r for r in reasons if not r.startswith(ORIGIN_DISAGREES)]
    return Text.assemble(*(inert(f"{flag}: ", "bold red") for flag in blocking),
                         *(inert(f"{note}: ", "dim") for note in quiet))


def _match_line(m: dict) -> str:
    """'duplicate of #12 (cropped, pHash 2, dHash 1)' or 'possible duplicate: #15 ...'."""
    what = ("duplicate" if m["tier"] == "duplicate" else "possible duplicate") + (" of" if m["earlier"] else ": has")
    return (f"{what} #{m['id']} ({m['status']}; {m['rule']}, pHash distance {m['phash_distance']}, "
            f"dHash distance {m['dhash_distance']})")


def dedup_output(out: Output, result: dict) -> None:
    """`wlb dedup`: clusters of the same photo, what the archive already holds, possible matches, errors."""
    if out.json_mode:
        return out.json(result)
    for n, cluster in enumerate(result["clusters"], 1):
        title = f"{n}. {len(cluster['files'])} file{'s' if len(cluster['files']) > 1 else ''}"
        archive = "; ".join(f"#{a['id']} ({a['status']}, {a['rule']})" for a in cluster["archive_items"])
        lines = [inert(f) for f in cluster["files"]]
        lines.append(Text(f"in the archive: {archive}" if archive else "not in the archive",
                          style="magenta" if archive else "green"))
        out.console.print(Panel(Group(*lines), title=title, title_align="left", expand=False))
    for p in result["possible"]:
        out.console.print(inert(f"possibly the same photo (pHash distance {p['distance']}): {p['files'][0]}  {p['files'][1]}",
                                "yellow"), soft_wrap=True)
    for e in result["errors"]:
        out.console.print(inert(f"unreadable: {e['path']}: {e['reason']}", "red"), soft_wrap=True)


class ProgressBars(StageProgress):
    """Progress bars for long stages, on stderr so --json output stays clean."""

    def __init__(self) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> ProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage(self, name: str, total: int | None) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, n: int = 1) -> None:
        if name in self.tasks:
            self.progress.advance(self.tasks[name], n)


def plans_output(out: Output, plans: list, report: RunReport, *, dry_run: bool, timezone: str = "UTC") -> None:
    """`wlb publish`: what was (or, with --dry-run, would be) sent, then problems, then the summary: item → channel
    → URL, and what was held back, why and until when."""
    held = list(getattr(plans, "held", []))
    if out.json_mode:
        return out.json_line({"dry_run": dry_run, "items": [asdict(p) for p in plans],
                              "held": [_held(h) for h in held], **report.to_dict()})
    if not plans:
        out.message("Nothing to publish." if not report.failed else "", "dim")
    for plan in plans:
        images = "; ".join(f"{i['mime']} {i['bytes']:,} bytes, alt: {_short(i['alt'], 50)}" for i in plan.images)
        # A str title is read as markup, and plan.url comes from the platform: Text only.
        title = inert(f"#{plan.item} → {plan.channel}: {'would send' if dry_run else plan.result} {plan.url or ''}")
        out.console.print(Panel(Group(inert(plan.text, multiline=True), inert(f"images: {images}", "dim"),
                                      inert(f"Idempotency-Key: {plan.idempotency_key}", "dim")),
                                title=title, title_align="left", expand=False))
    for c in report.channels.values():
        for error in c.errors:
            out.console.print(problem_line(f"failed   {c.channel}: {error}", "red"), soft_wrap=True)
    for warning in report.all_warnings():
        out.console.print(problem_line(f"warning  {warning}", "yellow"), soft_wrap=True)
    publish_summary(out, plans, timezone=timezone, dry_run=dry_run)


def publish_summary(out: Output, plans: list, *, timezone: str, dry_run: bool = False) -> None:
    """The end of every publish (`wlb publish`, `wlb run`): item → channel → URL, then what waits, why, until when."""
    if out.json_mode:
        return
    tz = ZoneInfo(timezone)
    for plan in plans:
        where = "would send" if dry_run else plan.url or plan.result
        out.console.print(inert(f"  #{plan.item} → {plan.channel} → {where}", "green" if plan.url else ""),
                          soft_wrap=True)
    for h in getattr(plans, "held", []):
        until = f" until {_at(h.until, tz)}" if h.until else ""
        out.console.print(inert(f"  held     #{h.item} → {h.channel}{until}: {h.why}", "dim"), soft_wrap=True)


def _held(h: Any) -> dict:
    return {"item": h.item, "channel": h.channel, "reason": h.reason, "why": h.why,
            "until": h.until.isoformat() if h.until else None}


def _at(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def schedule_output(out: Output, schedule: Any) -> None:
    """`wlb schedule`: which item goes to which channel when, then what waits, why and until when."""
    tz = ZoneInfo(schedule.timezone)
    rows = [{"item": s.item, "channel": s.channel, "at": s.at.isoformat(), "now": s.at <= schedule.now,
             "slot": s.slot, "photographer": s.who, "platform": s.group[0], "language": s.group[1] or None,
             "why": s.why, "waited": s.waited[1] if s.waited else None,
             "waited_reason": s.waited[0] if s.waited else None}
            for s in sorted(schedule.planned, key=lambda s: (s.at, s.channel, s.item))]
    if out.json_mode:
        return out.json_line({"now": schedule.now.isoformat(), "until": schedule.until.isoformat(),
                              "timezone": schedule.timezone, "planned": rows,
                              "waiting": [_held(h) for h in schedule.held]})
    out.console.print(Text.assemble(("wlb schedule  ", "bold"), inert(
        f"{_at(schedule.now, tz)} → {_at(schedule.until, tz)} ({schedule.timezone})")))
    if rows:
        table = Table("when", "channel", "item", "photographer", "from", "note", box=box.SIMPLE_HEAD, pad_edge=False)
        for r, s in zip(rows, sorted(schedule.planned, key=lambda s: (s.at, s.channel, s.item)), strict=True):
            when = "now" if r["now"] else _at(s.at, tz) + ("" if s.slot else " (run)")
            note = {"pinned": "pinned", "next": "next", "retry": "finishing an interrupted attempt"}.get(s.why, "")
            waited = r["waited"] if r["waited_reason"] not in (None, "slot") else ""  # queueing is the table itself
            note = ", ".join(n for n in (note, f"waited: {waited}" if waited else "") if n)
            table.add_row(Text(when), inert(s.channel), Text(f"#{s.item}"), inert(s.who),
                          inert(" · ".join(x for x in s.group if x)), inert(note, "dim"))
        out.console.print(table)
    else:
        out.message("Nothing planned: no approved item can go in this period.", "dim")
    for h in schedule.held:
        until = f" until {_at(h.until, tz)}" if h.until else ""
        out.console.print(inert(f"  waits  #{h.item} → {h.channel}{until}: {h.reason}: {h.why}", "yellow"),
                          soft_wrap=True)


_REMOVAL_STYLE = {"deleted": "green", "already gone": "green", "by hand": "yellow", "not found": "yellow",
                  "failed": "red"}


def takedown_output(out: Output, result: dict) -> None:
    """`wlb unpublish` and `wlb forget`: one line per repost taken down (or not), then the audit record."""
    if out.json_mode:
        return out.json(result)
    audit = result.get("forget")
    if audit:
        reposts = sum(audit["reposts"].values())
        out.message(f"✓ forget #{audit['id']}: {len(audit['items'])} item(s), {audit['authors']} author(s) made "
                    f"anonymous, {audit['media_files']} file(s) deleted, {reposts} repost(s) taken down; their photos "
                    f"are refused from now on")
    elif result.get("decided"):
        out.message(f"✓ #{', #'.join(map(str, result['decided']))} withdrawn: kept out of future runs")
    if not result["removals"] and not audit:
        out.message("Nothing left to take down.", "dim")
    for r in result["removals"]:
        line = f"{r['result']:<13}#{r['item']} → {r['channel']}" + (f" {r['url']}" if r.get("url") else "")
        line += f": {r['detail']}" if r.get("detail") else ""
        out.console.print(problem_line(line, _REMOVAL_STYLE.get(r["result"], "")), soft_wrap=True)


def optout_output(out: Output, result: dict) -> bool:
    """`wlb optout add` and `link`: the person's handles, what was rejected, what could not be stopped; whether
    everything asked for was done (a failed take-down during --forget is not)."""
    forgotten = result.get("forget") or []
    ok = all(f["ok"] for f in forgotten)
    if out.json_mode:
        out.json(result)
        return ok
    out.message(f"✓ opted out: {', '.join(result['handles'])} (never collected again on any of these)")
    if result["rejected"]:
        out.message(f"✓ rejected: {', '.join('#' + str(i['id']) for i in result['rejected'])}")
    for i in result["not_stopped"]:
        why = "already being published; it cannot be stopped now" if i["why"] == "publishing" else "not rejected"
        out.console.print(problem_line(f"  warning  #{i['id']} {i['url']}: {why}", "yellow"), soft_wrap=True)
    if result["published"] and not forgotten:
        shown = ", ".join(f"#{i['id']} {i['url']}" for i in result["published"])
        out.console.print(problem_line(f"  note     already reposted: {shown}; 'wlb unpublish ID' or --forget takes "
                                       f"them down", "yellow"), soft_wrap=True)
    for f in forgotten:
        takedown_output(out, f)
    return ok


def optout_list_output(out: Output, people: list[dict]) -> None:
    """`wlb optout list`: one row per person."""
    if out.json_mode:
        return out.json(people)
    if not people:
        return out.message("Nobody has opted out.", "dim")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("person", "handles", "reason", "by", "since"):
        table.add_column(name, overflow="fold")
    for p in people:
        table.add_row(str(p["person"]), inert("\n".join(p["handles"]), multiline=True), inert(p["reason"]),
                      inert(p["actor"]), p["at"][:10])
    out.console.print(table)
