"""Which queue items a reviewer asks for: one filter for `queue`, `review`, bulk decisions and the web view."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import exists, false, func, literal, or_
from sqlmodel import Session, col, select

from core.errors import UsageError
from core.licenses import needs_permission
from core.models import POSSIBLE, Author, ImageMatch, Post, Status, utcnow
from core.settings import Settings

STATUS_CHOICES = ["new", "pending", "approved", "awaiting-consent", "consent-expired", "rejected", "duplicate", "published",
                  "all"]
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SINCE = re.compile(r"(\d{1,5})\s*([mhdw])")
# `--where` terms: the same names as the filter options of `wlb queue` and `wlb review`.
_WHERE_FLAGS = {"possible-duplicates": "possible_duplicates", "needs-permission": "needs_permission",
                "needs-credit": "needs_credit"}
_WHERE_VALUES = {"status", "channel", "author", "since"}


@dataclass(frozen=True)
class ItemFilter:
    """What to list or decide. Every field narrows; the default is every pending item."""

    status: str = "pending"
    channel: str | None = None
    possible_duplicates: bool = False
    needs_permission: bool = False
    needs_credit: bool = False
    author: str | None = None  # a handle, with or without '@'; "dirk" also finds "dirk@any.host"
    since: timedelta | None = None  # posted within this long

    def __post_init__(self) -> None:
        if self.status not in STATUS_CHOICES:
            raise UsageError(f"--status {self.status}: choose one of {', '.join(STATUS_CHOICES)}")

    def describe(self) -> str:
        """The filter in words, for a confirmation question or an empty result."""
        parts = [f"{self.status} items" if self.status != "all" else "items of any status"]
        parts += [f"from channel {self.channel}"] if self.channel else []
        parts += [f"by @{self.author.lstrip('@')}"] if self.author else []
        parts += [f"posted in the last {_since_words(self.since)}"] if self.since else []
        parts += [w for on, w in ((self.possible_duplicates, "with a possible duplicate"),
                                  (self.needs_permission, "needing permission"),
                                  (self.needs_credit, "needing credit")) if on]
        return " ".join(parts[:1]) + (" " + ", ".join(parts[1:]) if parts[1:] else "")


def parse_since(text: str) -> timedelta:
    """'30m', '12h', '2d', '1w' → a duration; a clear error otherwise."""
    match = _SINCE.fullmatch(text.strip().lower())
    if not match or int(match[1]) == 0:
        raise UsageError(f"--since {text!r}: write a duration such as 30m, 12h, 2d or 1w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _since_words(since: timedelta) -> str:
    if since % timedelta(days=1) == timedelta(0):
        days = since.days
        return f"{days} day{'s' * (days != 1)}"
    return f"{since.total_seconds() / 3600:g} hours"


def parse_where(text: str) -> ItemFilter:
    """`--where 'channel=flickr author=@dirk since=2d needs-credit'` → an ItemFilter (status pending unless given)."""
    values: dict[str, object] = {}
    for term in text.replace(",", " ").split():
        key, eq, value = term.partition("=")
        key = key.lower()
        if not eq and key in _WHERE_FLAGS:
            values[_WHERE_FLAGS[key]] = True
        elif eq and key in _WHERE_VALUES and value:
            values[key] = parse_since(value) if key == "since" else value
        else:
            known = ", ".join([*(f"{k}=…" for k in sorted(_WHERE_VALUES)), *_WHERE_FLAGS])
            raise UsageError(f"--where: {term!r} is not a filter; use {known}")
    if not values:
        raise UsageError("--where needs at least one filter, e.g. --where 'channel=flickr since=2d'")
    return ItemFilter(**values)  # type: ignore[arg-type]


def with_status(flt: ItemFilter, status: str) -> ItemFilter:
    return replace(flt, status=status)


def _problem_licences(session: Session, settings: Settings | None) -> list[str]:
    """The distinct stored licences that need the photographer's permission on the publishing channels."""
    if settings is None:
        return []
    channels = settings.publishing_channels()
    non_commercial = bool(channels) and all(settings.channels[c].non_commercial for c in channels)
    stored = session.exec(select(Post.license).where(col(Post.license).is_not(None)).distinct())
    return [lic for lic in stored if needs_permission(lic, settings.licenses.allowed, non_commercial=non_commercial)]


def where(query, flt: ItemFilter, session: Session, settings: Settings | None = None):
    """`query` (over Post) narrowed to `flt`."""
    if flt.status != "all":
        query = query.where(Post.status == Status(flt.status))
    if flt.channel:
        query = query.where(Post.channel == flt.channel)
    if flt.since:
        query = query.where(Post.created_at >= utcnow() - flt.since)
    if flt.needs_credit:
        query = query.where(col(Post.needs_credit).is_(True), col(Post.credit).is_(None))
    if flt.possible_duplicates:
        # The tier as a literal: a generic PostgreSQL plan cannot prove `tier = $1` matches ix_image_match_possible.
        query = query.where(exists().where(ImageMatch.post_id == Post.id,
                                           ImageMatch.tier == literal(POSSIBLE, literal_execute=True)))
    if flt.needs_permission:
        licences = _problem_licences(session, settings)
        query = query.where(col(Post.license).in_(licences) if licences else false())
    if flt.author:
        handle = flt.author.strip().lstrip("@").lower()
        # The authors first, then their items by ix_post_author_id: as a subquery, PostgreSQL guessed 1% of all
        # authors matched and read the whole post table instead.
        authors = list(session.exec(select(Author.id).where(or_(
            func.lower(Author.handle) == handle, func.lower(Author.handle).startswith(handle + "@", autoescape=True)))))
        query = query.where(col(Post.author_id).in_(authors) if authors else false())
    return query
