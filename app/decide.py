"""`wlb approve` / `wlb reject`: by id against the status the reviewer saw, or in bulk over a filter."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import typer

from app.output import Output
from app.workspace import Workspace
from core.errors import UsageError
from core.models import Post, Status
from curation.asking import consent_notes
from curation.filters import parse_where
from curation.queue import bulk
from curation.views import matching_ids

PAST = {"approve": "approved", "reject": "rejected"}
REFUSALS = {"changed": "decided by someone else meanwhile", "leased": "open on another reviewer's screen",
            "publishing": "being published", "status": "not in a status this decision applies to",
            "licence": "needing permission (approve them by id with --force --reason)",
            "credit": "needing credit (approve them by id with --credit)", "missing": "deleted meanwhile",
            "consent": "whose photographer said no or did not answer ('wlb consent ID')"}
Decide = Callable[[Workspace, Sequence[int], object], list[Post]]


def confirmation(verb: str, posts: Sequence[Post], publish_channels: Sequence[str]) -> str:
    """`✓ #2 approved → mastodon, bluesky`: one line per decision, naming where an approval goes."""
    ids = ", ".join(f"#{p.id}" for p in posts)
    if verb != "approve":
        return f"✓ {ids} {PAST.get(verb, verb)}"
    targets = list(posts[0].targets) or list(publish_channels)
    line = f"✓ {ids} approved → {', '.join(targets) or 'no publishing channel yet (set publish = true on one)'}"
    waiting = [f"#{p.id}" for p in posts if p.status == Status.AWAITING]
    if waiting:
        line += f"; {', '.join(waiting)} awaiting the photographer's consent (see 'wlb consent')"
    return line


def with_consent(db, line: str, posts: Sequence[Post]) -> str:
    """The confirmation, and where each item's request stands (for a screen with room for one line)."""
    return "; ".join([line, *consent_notes(db, [p.id for p in posts])])


def expected_status(text: str | None) -> Status | None:
    if text is None:
        return None
    try:
        return Status(text.strip().lower())
    except ValueError:
        raise UsageError(f"--expect-status {text!r}: one of {', '.join(s.value for s in Status)}") from None


def decide_by_id(ws: Workspace, out: Output, verb: str, ids: Sequence[int], expect: str | None, decide: Decide) -> None:
    posts = decide(ws, ids, expected_status(expect))
    out.message(confirmation(verb, posts, ws.publish_channels()), "green" if verb == "approve" else "yellow")
    for line in consent_notes(ws.db, [p.id for p in posts]):
        out.message(f"  {line}", "yellow")


def decide_by_filter(ws: Workspace, out: Output, verb: str, where: str | None, yes: bool, decide: Decide,
                     *, confirm: Callable[[str], bool] | None = None) -> None:
    """Count what matches, ask once (unless --yes), then decide each item against the status it was listed with."""
    flt = parse_where(where or "")
    items = matching_ids(ws.db, flt, settings=ws.settings)
    if not items:
        out.message(f"nothing to {verb}: no {flt.describe()}", "dim")
        return
    question = f"{verb} {len(items):,} {flt.describe()}?"
    if not yes:
        if confirm is None and not sys.stdin.isatty():
            raise UsageError(f"{question[:-1]}: add --yes to confirm without a terminal")
        if not (confirm or _ask)(question):
            out.message("nothing changed", "dim")
            return
    result = bulk(ws.db, items, lambda db, ids, expected: decide(ws, ids, expected))
    out.message(f"✓ {len(result.done):,} {PAST[verb]}", "green" if verb == "approve" else "yellow")
    for why, ids in result.refused.items():
        shown = ", ".join(f"#{i}" for i in ids[:10]) + (" …" if len(ids) > 10 else "")
        out.message(f"  {len(ids):,} left as they were, {REFUSALS.get(why, why)}: {shown}", "yellow")
    if result.refused and not result.done:
        raise typer.Exit(1)


def _ask(question: str) -> bool:
    return typer.confirm(question, default=False)
