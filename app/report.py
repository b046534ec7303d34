"""`wlb report`: what a period brought, counted by the database (GROUP BY), never by loading every row."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func
from sqlmodel import Session, col, select

from core.db import Database
from curation.filters import parse_since
from core.models import Author, ConsentRequest, ConsentState, Decision, Post, Publication, PubState, Status, utcnow
from core.redact import redact
from core.safe_text import one_line, strip_control

TOP = 10  # photographers listed per ranking
APPROVALS = ("approve", "approve-forced")
MERGES = {"auto-duplicate": "auto", "duplicate": "reviewers"}  # Decision.action → who merged it
# A rejection reason's words without its particulars ("image too small: 480x360, minimum 600x600" → "too small"),
# so a hundred sizes or handles make one row. Checked in order; anything else keeps the words before its first ':'.
REASON_GROUPS = ((r"too small", "too small"), (r"^no usable image", "no usable image"),
                 (r"^posted by our own account", "our own account"), (r"^author .* is blocked", "blocked author"),
                 (r"blocked word", "blocked word"), (r"content warning", "content warning"),
                 (r"sensitive", "sensitive"), (r"^language .* is not one of", "language"),
                 (r"^deleted at its source", "deleted at its source"))
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|#\d+")
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting with these as a formula


def reason_group(reason: str) -> str:
    """One rejection reason as the group it is counted under."""
    text = " ".join(strip_control(reason).split()).lower()
    for pattern, group in REASON_GROUPS:
        if re.search(pattern, text):
            return group
    text = _QUOTED.sub("", text.split(":", 1)[0])
    return " ".join(text.split()).strip(" .,;!")[:60] or "(no reason given)"


def reason_groups(reason: str) -> set[str]:
    """The groups of a recorded reason: the automatic rules join several with '; '."""
    if reason.lower().startswith("no usable image"):  # its '; ' separates the refused images, not reasons
        return {"no usable image"}
    return {reason_group(part) for part in reason.split("; ")} or {reason_group("")}


def build_report(db: Database, since: timedelta, *, timezone: str = "UTC", now: datetime | None = None) -> dict:
    """Every figure of the period [now - since, now], as one JSON-ready dict."""
    end = now or utcnow()
    start = end - since
    tz = ZoneInfo(timezone)
    with db.session() as session:
        figures = {
            "period": {"start": _iso(start), "end": _iso(end), "timezone": timezone,
                       "hours": round(since.total_seconds() / 3600, 2)},
            "collected": _count(session, select(func.count()).select_from(Post).where(_within(Post.collected_at, start, end))),
            "duplicates": _merges(session, start, end),
            "approved": _count(session, select(func.count(distinct(Decision.post_id)))
                               .where(col(Decision.action).in_(APPROVALS), _within(Decision.at, start, end))),
            "rejected": _rejections(session, start, end),
            "channels": _channels(session, start, end),
            "top_photographers": {"published": _top_published(session, start, end),
                                  "collected": _top_collected(session, start, end)},
            "platforms": _platforms(session, start, end),
            "queue": _queue(session, end),
            "consent": _consent(session, start, end),
            "days": _days(session, start, end, tz),
        }
    figures["published"] = sum(c["published"] for c in figures["channels"].values())
    figures["summary"] = summary(figures)
    return figures


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _within(column, start: datetime, end: datetime):
    return (col(column) >= start) & (col(column) < end)


def _count(session: Session, query) -> int:
    return int(session.exec(query).one() or 0)


def _merges(session: Session, start: datetime, end: datetime) -> dict:
    rows = session.exec(select(Decision.action, func.count(distinct(Decision.post_id)))
                        .where(col(Decision.action).in_(list(MERGES)), _within(Decision.at, start, end))
                        .group_by(Decision.action))
    found = {MERGES[action]: n for action, n in rows}
    auto, reviewers = found.get("auto", 0), found.get("reviewers", 0)
    return {"total": auto + reviewers, "auto": auto, "reviewers": reviewers}


def _rejected(start: datetime, end: datetime):
    """Decisions that rejected an item (automatic or a reviewer's), not undos or notes on rejected items."""
    return ((Decision.to_status == Status.REJECTED) & (Decision.from_status != Status.REJECTED)
            & (Decision.action != "undo") & _within(Decision.at, start, end))


def _rejections(session: Session, start: datetime, end: datetime) -> dict:
    total = _count(session, select(func.count(distinct(Decision.post_id))).where(_rejected(start, end)))
    by_reason: Counter = Counter()
    # One row per distinct reason text: a few hundred at most, grouped further here.
    for reason, n in session.exec(select(Decision.reason, func.count(distinct(Decision.post_id)))
                                  .where(_rejected(start, end)).group_by(Decision.reason)):
        for group in reason_groups(reason or ""):
            by_reason[group] += n
    return {"total": total, "by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])))}


def _channels(session: Session, start: datetime, end: datetime) -> dict:
    """Per publishing channel: reposts published in the period, given up on (first tried in it), failing now."""
    channels: dict[str, dict] = {}

    def row(name: str) -> dict:
        return channels.setdefault(name, {"published": 0, "failed": 0, "retrying": 0, "last_error": None})

    queries = (("published", (Publication.state == PubState.PUBLISHED) & _within(Publication.published_at, start, end)),
               ("failed", (Publication.state == PubState.FAILED) & _within(Publication.created_at, start, end)),
               ("retrying", (Publication.state == PubState.PENDING) & col(Publication.error).is_not(None)))
    for figure, condition in queries:
        for name, n in session.exec(select(Publication.channel, func.count()).where(condition)
                                    .group_by(Publication.channel)):
            row(name)[figure] = n
    for name, c in channels.items():
        if c["failed"] or c["retrying"]:
            error = session.exec(select(Publication.error).where(
                Publication.channel == name, col(Publication.error).is_not(None),
                col(Publication.state).in_([PubState.FAILED, PubState.PENDING]))
                .order_by(col(Publication.id).desc()).limit(1)).first()
            c["last_error"] = redact(one_line(error, 300)) if error else None
    return dict(sorted(channels.items()))


def _photographers(session: Session, counted, condition) -> list[dict]:
    """The TOP authors by `counted` where `condition` holds; ties in author order, so the list is stable."""
    n = func.count(distinct(Post.id)).label("n")
    query = (select(Author.handle, Author.network, Author.name, n).select_from(Post).join(Author, Author.id == Post.author_id))
    query = counted(query).where(condition).group_by(Author.id, Author.handle, Author.network, Author.name)
    rows = session.exec(query.order_by(n.desc(), Author.id).limit(TOP))
    return [{"handle": h, "network": net, "name": name, "count": count} for h, net, name, count in rows]


def _published_in(start: datetime, end: datetime):
    return (Publication.state == PubState.PUBLISHED) & _within(Publication.published_at, start, end)


def _top_published(session: Session, start: datetime, end: datetime) -> list[dict]:
    return _photographers(session, lambda q: q.join(Publication, Publication.post_id == Post.id), _published_in(start, end))


def _top_collected(session: Session, start: datetime, end: datetime) -> list[dict]:
    return _photographers(session, lambda q: q, _within(Post.collected_at, start, end))


def _platforms(session: Session, start: datetime, end: datetime) -> dict:
    collected = session.exec(select(Post.platform, func.count()).where(_within(Post.collected_at, start, end))
                             .group_by(Post.platform))
    published = session.exec(select(Post.platform, func.count(distinct(Post.id)))
                             .join(Publication, Publication.post_id == Post.id).where(_published_in(start, end))
                             .group_by(Post.platform))
    by = {"collected": dict(collected.all()), "published": dict(published.all())}
    return {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in by.items()}


def _queue(session: Session, now: datetime) -> dict:
    """Items waiting for a person now, whatever the period: how many, and how long they have waited."""
    pending = Post.status == Status.PENDING
    n = _count(session, select(func.count()).select_from(Post).where(pending))
    oldest = session.exec(select(func.min(Post.collected_at)).where(pending)).one() if n else None
    # The median without loading the queue: the middle one (or two) in collection order.
    middle = list(session.exec(select(Post.collected_at).where(pending).order_by(Post.collected_at)
                               .offset((n - 1) // 2).limit(2 - n % 2))) if n else []
    if oldest is None or not middle:  # an empty queue, or emptied by a reviewer between these questions
        return {"pending": n, "oldest": None, "oldest_age_hours": None, "median_age_hours": None}
    oldest = oldest.replace(tzinfo=UTC) if oldest.tzinfo is None else oldest  # min() may bypass the column's type
    ages = [(now - m).total_seconds() / 3600 for m in middle]
    return {"pending": n, "oldest": _iso(oldest), "oldest_age_hours": round((now - oldest).total_seconds() / 3600, 1),
            "median_age_hours": round(sum(ages) / len(ages), 1)}


def _consent(session: Session, start: datetime, end: datetime) -> dict:
    """Photographers asked, and answers, in the period; items waiting on an answer (or past it) now."""
    def requests(column, *where) -> int:
        return _count(session, select(func.count()).select_from(ConsentRequest).where(_within(column, start, end), *where))

    def items(status: Status) -> int:
        return _count(session, select(func.count()).select_from(Post).where(Post.status == status))

    answered = ConsentRequest.answered_at
    return {"asked": requests(ConsentRequest.created_at),
            "granted": requests(answered, ConsentRequest.state == ConsentState.GRANTED),
            "refused": requests(answered, ConsentRequest.state == ConsentState.REFUSED),
            "awaiting": items(Status.AWAITING), "expired": items(Status.NO_ANSWER)}


def _hour(session: Session, column):
    """A UTC timestamp column cut to its hour, as text: the dialects spell it differently."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def _days(session: Session, start: datetime, end: datetime, tz: ZoneInfo) -> list[dict]:
    """Collected, approved and published per day in the configured time zone; counted per UTC hour by the
    database (a zone's day is whole hours of UTC, half-hour zones aside), added up into days here."""
    series = (("collected", Post.collected_at, _within(Post.collected_at, start, end)),
              ("approved", Decision.at, col(Decision.action).in_(APPROVALS) & _within(Decision.at, start, end)),
              ("published", Publication.published_at, _published_in(start, end)))
    days: dict[date, Counter] = {}
    for figure, column, condition in series:
        hour = _hour(session, column).label("hour")
        for text, n in session.exec(select(hour, func.count()).where(condition).group_by(hour)):
            day = datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC).astimezone(tz).date()
            days.setdefault(day, Counter())[figure] += n
    return [{"date": d.isoformat(), "collected": c["collected"], "approved": c["approved"], "published": c["published"]}
            for d, c in sorted(days.items())]


def summary(figures: dict) -> str:
    """The period in one line, for a log or a chat message."""
    queue = figures["queue"]
    failed = sum(c["failed"] for c in figures["channels"].values())
    waited = f", oldest {_age(queue['oldest_age_hours'])}" if queue["oldest"] else ""
    return (f"{figures['collected']:,} collected, {figures['duplicates']['total']:,} duplicates merged, "
            f"{figures['approved']:,} approved, {figures['rejected']['total']:,} rejected, "
            f"{figures['published']:,} published" + (f" ({failed:,} failed)" if failed else "")
            + f"; {queue['pending']:,} waiting for review{waited}")


def _age(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def csv_cell(value: object) -> object:
    """A value a spreadsheet shows as text: one line, and never a formula (OWASP "CSV injection")."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return value
    text = strip_control(value)
    return "'" + text if text.startswith(CSV_FORMULA) else text


def csv_rows(figures: dict) -> list[tuple]:
    """The report as (section, key, value) rows, every cell safe for a spreadsheet."""
    rows: list[tuple] = [("period", k, v) for k, v in figures["period"].items()]
    rows += [("totals", k, figures[k]) for k in ("collected", "approved", "published")]
    rows += [("totals", "rejected", figures["rejected"]["total"])]
    rows += [("duplicates", k, v) for k, v in figures["duplicates"].items()]
    rows += [("rejected_by_reason", k, v) for k, v in figures["rejected"]["by_reason"].items()]
    for name, c in figures["channels"].items():
        rows += [(f"channel_{figure}", name, c[figure]) for figure in ("published", "failed", "retrying")]
        rows += [("channel_last_error", name, c["last_error"])] if c["last_error"] else []
    for ranking, people in figures["top_photographers"].items():
        rows += [(f"top_photographers_{ranking}", f"{p['handle']} ({p['network']})", p["count"]) for p in people]
    for figure, platforms in figures["platforms"].items():
        rows += [(f"platform_{figure}", k, v) for k, v in platforms.items()]
    rows += [("queue", k, v) for k, v in figures["queue"].items()]
    rows += [("consent", k, v) for k, v in figures["consent"].items()]
    for day in figures["days"]:
        rows += [(f"day_{figure}", day["date"], day[figure]) for figure in ("collected", "approved", "published")]
    return [tuple(csv_cell(cell) for cell in row) for row in rows]


def team_report(ws, since: str) -> dict:
    """`wlb report --since 7d` on a workspace: the figures in the configured time zone."""
    return build_report(ws.db, parse_since(since), timezone=ws.settings.timezone)
