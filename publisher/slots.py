"""When things are posted: one planner for `wlb schedule`, `wlb publish --dry-run` and the real publish.

Per channel, it walks the moments the channel may post from `now` on: the slot `now` falls in (and the later
slots) for a channel with slots, else `now` (and the later nightly runs). Each slot takes one item, each local
day at most the daily cap. Who goes first: an interrupted attempt (finished first, it was counted already), items
pinned to this slot or earlier, items marked "next", then the rest: oldest approval first, and with slots a
round-robin over (platform, language) groups so a run of one platform's photos is broken up. With
[publish] rotation_days, a photographer posted on the channel in the last N days waits (a pin does not).
`plan` is pure: the database is read once (`load`) and a run's own sends are added as `Sent` rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, or_, select

from core.models import Author, Decision, Post, PubState, Publication, Status
from core.settings import Settings
from core.slots import shown, windows
from publisher.claim import publishable

GATES = {"needs permission": "licence", "needs credit": "credit"}


@dataclass(frozen=True)
class Candidate:
    """An approved item still to go to `channels`."""

    item: int
    channels: tuple[str, ...]
    approved_at: datetime
    group: tuple[str, str]  # (platform, language)
    photographer: str  # rotation key: the author's id, or a reviewer's credit
    who: str  # the photographer, for people
    pin_at: datetime | None = None
    pin_next: bool = False
    blocked: dict[str, str] = field(default_factory=dict)  # channel → why it may not go (licence, credit)
    retry: frozenset[str] = frozenset()  # channels with an interrupted attempt to finish


@dataclass(frozen=True)
class Sent:
    """A repost attempted on a channel (not given up): it used a slot, a day's cap and the photographer's turn."""

    channel: str
    at: datetime
    photographer: str


@dataclass(frozen=True)
class Slot:
    """An item planned on a channel: `at` the slot's instant (or `now`); `waited`: why it did not go sooner."""

    item: int
    channel: str
    at: datetime
    slot: bool
    who: str
    group: tuple[str, str]
    why: str  # retry | pinned | next | queue
    waited: tuple[str, str] | None = None  # (reason, words)


@dataclass(frozen=True)
class Held:
    """An item that does not go within the plan's horizon, and why: cap, rotation, licence, credit, slot, pinned."""

    item: int
    channel: str
    reason: str
    why: str
    until: datetime | None = None


@dataclass
class Schedule:
    now: datetime
    until: datetime
    timezone: str
    planned: list[Slot]
    held: list[Held]

    def due(self) -> list[Slot]:
        """What a publish run at `now` sends, in order."""
        return [s for s in self.planned if s.at <= self.now]

    def waiting(self) -> list[Held]:
        """Everything not sent now, with why and until when (its planned slot when it has one)."""
        later = [Held(s.item, s.channel, *(s.waited or ("slot", "one post per slot")), until=s.at)
                 for s in self.planned if s.at > self.now]
        return sorted(later, key=lambda h: (h.until, h.channel, h.item)) + self.held


def plan(settings: Settings, candidates: Sequence[Candidate], history: Sequence[Sent], now: datetime,
         until: datetime, *, channels: Sequence[str], runs: Sequence[datetime] = ()) -> Schedule:
    """Every channel's plan from `now` to `until`; `runs`: when a channel without slots publishes after now."""
    planned: list[Slot] = []
    held: list[Held] = []
    for name in channels:
        p, h = _channel(settings, name, [c for c in candidates if name in c.channels],
                        [s for s in history if s.channel == name], now, until, runs)
        planned += p
        held += h
    return Schedule(now, until, settings.timezone, planned, held)


def _channel(settings: Settings, name: str, candidates: list[Candidate], history: list[Sent], now: datetime,
             until: datetime, runs: Sequence[datetime]) -> tuple[list[Slot], list[Held]]:
    tz = ZoneInfo(settings.timezone)
    channel = settings.channels[name]
    cap = settings.publish.daily_cap if channel.daily_cap is None else channel.daily_cap
    rotation = timedelta(days=settings.publish.rotation_days)
    slotted = channel.slots is not None
    used = Counter(s.at.astimezone(tz).date() for s in history)
    last: dict[str, datetime] = {}
    for s in sorted(history, key=lambda s: s.at):
        last[s.photographer] = s.at
    planned: list[Slot] = []
    held: list[Held] = []
    waited: dict[int, tuple[str, str]] = {}
    pending: list[Candidate] = []
    for c in candidates:
        if name in c.blocked:
            why = c.blocked[name]
            held.append(Held(c.item, name, next((r for k, r in GATES.items() if why.startswith(k)), "gate"), why))
        elif name in c.retry:  # claimed by an earlier run: finished now, it already counted
            planned.append(Slot(c.item, name, now, False, c.who, c.group, "retry"))
        else:
            pending.append(c)
    latest: dict[int, tuple[str, str]] = {}
    queue = fair(pending) if slotted else sorted(pending, key=lambda c: (c.approved_at, c.item))
    rank = {c.item: i for i, c in enumerate(queue)}  # once: each slot takes the first eligible, the mix is kept
    for at, end, is_slot in _moments(channel, tz, slotted, now, until, runs):
        when = max(at, now)
        day = when.astimezone(tz).date()
        room = cap - used[day]
        if slotted:  # one post per slot; between slots (the marker at now) none
            room = min(room, 1 - sum(1 for s in history if at <= s.at < end)) if is_slot else 0
        for c in _order(pending, when, rank):
            free = last.get(c.photographer, now - rotation) + rotation
            if c.pin_at is not None and c.pin_at > when:
                reason = ("pinned", f"pinned to {shown(c.pin_at, tz)}")
            elif rotation and free > when and not (c.pin_at or c.pin_next):
                reason = ("rotation", f"{c.who} was posted on {name} less than {settings.publish.rotation_days} "
                                      f"days before; free from {shown(free, tz)}")
            elif room <= 0:
                reason = (("cap", f"daily cap of {cap} reached on {name}") if cap - used[day] <= 0
                          else ("slot", f"one post per slot ({shown(at, tz)} is taken)") if is_slot
                          else ("slot", "no posting slot now"))
            else:
                reason = None
            if reason:
                waited.setdefault(c.item, reason)
                latest[c.item] = reason
                continue
            why = "pinned" if c.pin_at else "next" if c.pin_next else "queue"
            planned.append(Slot(c.item, name, when, is_slot, c.who, c.group, why, waited.get(c.item)))
            pending.remove(c)
            room -= 1
            used[day] += 1
            last[c.photographer] = when
    for c in pending:  # not planned before `until`: the last reason it was passed over
        reason, why = latest.get(c.item, ("slot", "no posting slot"))
        if reason in ("slot", "cap"):
            why = f"{why}; nothing free before {shown(until, tz)}"
        free = c.pin_at if reason == "pinned" else last[c.photographer] + rotation if reason == "rotation" else None
        held.append(Held(c.item, name, reason, why, until=free))
    return planned, held


def _moments(channel, tz: ZoneInfo, slotted: bool, now: datetime, until: datetime,
             runs: Sequence[datetime]) -> Iterable[tuple[datetime, datetime, bool]]:
    """(start, end, is_slot) of each moment the channel may post, from now on."""
    if not slotted:
        yield now, now, False
        for run in sorted(r for r in runs if now < r <= until):
            yield run, run, False
        return
    found = windows(channel, tz, now - timedelta(days=1), until)
    if not any(w.start <= now < w.end for w in found):
        yield now, now, False  # a marker: nothing goes now, and why
    for w in found:
        if w.end > now:
            yield w.start, w.end, True


def _order(pending: list[Candidate], when: datetime, rank: dict[int, int]) -> list[Candidate]:
    """Pinned first (by pin), then "next" (by approval), then the rest in the channel's queue order (`rank`)."""
    pinned = sorted((c for c in pending if c.pin_at is not None), key=lambda c: (c.pin_at, c.approved_at, c.item))
    first = sorted((c for c in pending if c.pin_at is None and c.pin_next), key=lambda c: (c.approved_at, c.item))
    rest = sorted((c for c in pending if c.pin_at is None and not c.pin_next), key=lambda c: rank[c.item])
    return pinned + first + rest


def fair(items: list[Candidate]) -> list[Candidate]:
    """Round-robin over (platform, language) groups, each in approval order, groups ordered by their oldest item."""
    groups: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for c in sorted(items, key=lambda c: (c.approved_at, c.item)):
        groups[c.group].append(c)
    lists = list(groups.values())  # insertion order: by each group's oldest approval
    return [g[i] for i in range(max(map(len, lists), default=0)) for g in lists if i < len(g)]


def photographer(post: Post) -> str:
    """Whom rotation counts: a reviewer's credit (the collector could not tell), else the author."""
    return f"credit:{post.credit.casefold()}" if post.credit else f"author:{post.author_id}"


def load(session: Session, settings: Settings, channels: Sequence[str], now: datetime) -> tuple[list[Candidate], list[Sent]]:
    """The approved items still to go to these channels, and the attempts that count for caps, slots and rotation."""
    approved_at = {post_id: at for post_id, at in session.exec(select(Decision.post_id, func.max(Decision.at)).where(
        col(Decision.action).in_(("approve", "approve-forced"))).group_by(Decision.post_id))}
    pubs: dict[int, dict[str, Publication]] = defaultdict(dict)
    since = now - timedelta(days=settings.publish.rotation_days + 2)  # caps count today, rotation N days
    rows = session.exec(select(Publication, Post).join(Post, Post.id == Publication.post_id).where(
        col(Publication.channel).in_(list(channels)),
        or_(Post.status == Status.APPROVED, Publication.created_at >= since)))
    history = []
    for pub, post in rows:
        pubs[pub.post_id][pub.channel] = pub
        if pub.attempts > 0 and pub.state != PubState.FAILED and pub.created_at >= since:
            history.append(Sent(pub.channel, pub.created_at, photographer(post)))
    candidates = []
    posts = session.exec(select(Post, Author).join(Author, Author.id == Post.author_id)
                         .where(Post.status == Status.APPROVED).order_by(Post.id))
    for post, author in posts:
        wanted = [c for c in (post.targets or settings.publishing_channels()) if c in channels]
        done = pubs.get(post.id, {})
        todo = tuple(c for c in wanted if c not in done or done[c].state == PubState.PENDING)
        if not todo:
            continue
        blocked = {c: why for c in todo if (why := publishable(session, settings, post, c))}
        candidates.append(Candidate(
            item=post.id, channels=todo, approved_at=approved_at.get(post.id) or post.collected_at,
            group=(post.platform, (post.language or "").lower()), photographer=photographer(post),
            who=post.credit or f"@{author.handle}", pin_at=post.publish_at, pin_next=post.publish_next,
            blocked=blocked, retry=frozenset(c for c in todo if c in done and done[c].attempts > 0)))
    return candidates, history


def without(candidates: Sequence[Candidate], pairs: set[tuple[int, str]]) -> list[Candidate]:
    """The candidates minus (item, channel) pairs a run has handled or dropped."""
    out = []
    for c in candidates:
        left = tuple(ch for ch in c.channels if (c.item, ch) not in pairs)
        if left:
            out.append(replace(c, channels=left))
    return out
