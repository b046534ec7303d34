"""Posting slots: local "HH:MM" times of a channel, turned into instants. Pure functions, `now` always passed in.

A local time the spring change skips (02:30 in Brussels on 2026-03-29) falls an hour later, at 03:30 summer time
(PEP 495: a time in the gap is read with the offset before the change); a time the autumn change repeats
(02:30 on 2026-10-25) is its first occurrence, summer time. Either way each slot is one instant, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import UsageError
from core.settings import ChannelSettings, Settings

WEEKEND = (5, 6)  # Saturday, Sunday
MAX_PIN_AHEAD = timedelta(days=366)


@dataclass(frozen=True)
class Window:
    """One slot: it may be used from `start` (the slot's instant) until the next slot or local midnight."""

    start: datetime
    end: datetime


def local_instant(day: date, hhmm: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; a skipped time moves forward by the gap, a repeated one is the first."""
    return datetime.combine(day, hhmm, tz).replace(fold=0).astimezone(UTC)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    return local_instant(day, time(), tz)


def times_on(channel: ChannelSettings, day: date) -> list[time]:
    """The channel's slot times on a local day (weekend_slots on Saturday and Sunday, when set)."""
    texts = channel.weekend_slots if day.weekday() in WEEKEND and channel.weekend_slots is not None else channel.slots
    return [time.fromisoformat(t) for t in texts or ()]


def windows(channel: ChannelSettings, tz: ZoneInfo, start: datetime, end: datetime) -> list[Window]:
    """Every slot whose instant is in [start, end], in order; each usable until the next slot or local midnight."""
    found: list[Window] = []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        midnight = day_start(day + timedelta(days=1), tz)
        instants = sorted({local_instant(day, t, tz) for t in times_on(channel, day)})
        for i, at in enumerate(instants):
            until = min(instants[i + 1], midnight) if i + 1 < len(instants) else midnight
            if start <= at <= end:
                found.append(Window(at, until))
        day += timedelta(days=1)
    return found


def current(channel: ChannelSettings, tz: ZoneInfo, now: datetime) -> Window | None:
    """The slot `now` falls in (started, not yet followed by the next slot or midnight), or None."""
    for w in windows(channel, tz, now - timedelta(days=1), now):
        if w.start <= now < w.end:
            return w
    return None


def next_slot(channel: ChannelSettings, tz: ZoneInfo, now: datetime, *, days: int = 8) -> datetime | None:
    """The first slot instant after `now`."""
    later = [w.start for w in windows(channel, tz, now, now + timedelta(days=days)) if w.start > now]
    return later[0] if later else None


def parse_local(text: str, tz: ZoneInfo) -> datetime:
    """'2026-12-05 12:30', a local time in the configured zone, as a UTC instant; else one clear UsageError."""
    try:
        moment = datetime.strptime(" ".join(text.split()), "%Y-%m-%d %H:%M")
    except ValueError:
        raise UsageError(f"--at {text!r}: write a local date and time such as \"2026-12-05 12:30\"") from None
    try:
        return local_instant(moment.date(), moment.time(), tz)
    except OverflowError:  # year 1 or 9999 on the far side of UTC: no such instant
        raise UsageError(f"--at {text!r} is out of range; write a date in the coming days") from None


def shown(moment: datetime, tz: ZoneInfo) -> str:
    """'Sat 05 Dec 12:30' in the configured zone."""
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def pin_problem(settings: Settings, channels: list[str], at: datetime, now: datetime) -> str | None:
    """Why an item may not be pinned to `at` on these channels: it must be later than now, and a slot of each
    channel that has slots (a channel without slots sends it at its first publish run from then on)."""
    tz = ZoneInfo(settings.timezone)
    if at <= now:
        return f"--at {shown(at, tz)} is not in the future (now {shown(now, tz)}, {settings.timezone})"
    if at > now + MAX_PIN_AHEAD:  # a mistyped year would hold the item for years behind a date shown without it
        return f"--at {at.astimezone(tz):%Y-%m-%d %H:%M} is more than a year ahead; check the year"
    day = at.astimezone(tz).date()
    for name in channels:
        channel = settings.channels[name]
        if channel.slots is None:
            continue
        instants = [local_instant(day, t, tz) for t in times_on(channel, day)]
        if at not in instants:
            have = ", ".join(t.strftime("%H:%M") for t in times_on(channel, day)) or "none"
            return (f"--at {shown(at, tz)} is not a posting slot of {name} (its slots that day: {have}); "
                    f"pick one, or use --next")
    return None
