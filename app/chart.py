"""`wlb report --chart FILE.png`: the report's figures drawn with matplotlib, imported only here and only then."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from core.errors import UsageError
from core.safe_text import one_line

MAX_DAYS = 400  # a longer period is drawn from its first day with data; bars thinner than a pixel say nothing
DAY_SERIES = (("collected", "#8da0cb"), ("approved", "#66c2a5"), ("published", "#fc8d62"))


def _dense(days: list[dict]) -> list[dict]:
    """Every day from the first with data to the last, the quiet ones as zeros: a gap in the bars is a quiet day."""
    if not days:
        return []
    seen = {d["date"]: d for d in days}
    first, last = date.fromisoformat(days[0]["date"]), date.fromisoformat(days[-1]["date"])
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    out = []
    for n in range((last - first).days + 1):
        day = (first + timedelta(days=n)).isoformat()
        out.append(seen.get(day, {"date": day, "collected": 0, "approved": 0, "published": 0}))
    return out


def draw_chart(figures: dict, path: Path) -> Path:
    """A PNG of bars per day (collected, approved, published) and reposts per channel; returns the path written."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a server, a cron job, a test
    from matplotlib.figure import Figure

    days = _dense(figures["days"])
    channels = figures["channels"]
    fig = Figure(figsize=(11, 7), layout="constrained")
    per_day, per_channel = fig.subplots(2, 1, height_ratios=(3, 2))
    width = 0.8 / len(DAY_SERIES)
    for n, (name, colour) in enumerate(DAY_SERIES):
        per_day.bar([i + (n - 1) * width for i in range(len(days))], [d[name] for d in days], width, label=name,
                    color=colour)
    step = max(1, len(days) // 14)  # at most about 14 date labels
    per_day.set_xticks(range(0, len(days), step), [d["date"][5:] for d in days][::step])
    period = figures["period"]
    per_day.set_title(f"{period['start'][:10]} → {period['end'][:10]} ({period['timezone']})", loc="right")
    per_day.set_ylabel("items per day")
    per_day.legend(loc="lower left", bbox_to_anchor=(0, 1.06), ncols=3, frameon=False)
    names = [one_line(name, 30) for name in channels]  # channel names are ours, but kept to one short line anyway
    if names:
        y = range(len(names))
        per_channel.barh([i - 0.18 for i in y], [c["published"] for c in channels.values()], 0.36, label="published",
                         color="#fc8d62")
        per_channel.barh([i + 0.18 for i in y], [c["failed"] + c["retrying"] for c in channels.values()], 0.36,
                         label="failed or retrying", color="#e78ac3")
        per_channel.set_yticks(list(y), names)
        per_channel.set_ylim(max(len(names), 3) - 0.5, -0.5)  # first channel on top; one channel is not a wall
        per_channel.legend(loc="lower right")
    else:
        per_channel.text(0.5, 0.5, "nothing published in this period", ha="center", va="center")
        per_channel.set_yticks([])
    per_channel.set_xlabel("reposts per channel")
    for axes in (per_day, per_channel):
        (axes.yaxis if axes is per_day else axes.xaxis).get_major_locator().set_params(integer=True)
        axes.spines[["top", "right"]].set_visible(False)
    try:
        fig.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise UsageError(f"--chart {path}: cannot write it ({exc.strerror or exc})") from None
    return path
