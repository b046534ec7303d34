"""`wlb review`: one key per decision over the pending items."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from urllib.parse import urlsplit

import typer
from rich.text import Text

from core.errors import UsageError
from core.models import Status
from core.output import Output, inert
from core.pipeline import Pipeline
from curation.queue import approve, reject
from curation.views import get_item, list_items, previews

KEYS = Text.assemble(("a", "bold green"), "pprove  ", ("r", "bold red"), "eject  ", ("s", "bold"), "kip  ",
                     ("o", "bold blue"), "pen in browser  ", ("q", "bold"), "uit")
CREDIT_PROMPT = "credit: '@user@host' or the photographer's name (empty: skip this item)"


def review_loop(pipeline: Pipeline, out: Output, *, getkey: Callable[[], str] = typer.getchar,
                ask: Callable[[str], str] | None = None, open_url: Callable[[str], object] = webbrowser.open) -> dict[str, int]:
    """Show each pending item with its preview and duplicates; return the counts of each decision."""
    ask = ask or (lambda prompt: typer.prompt(prompt, default="", show_default=False))
    counts = {"approved": 0, "rejected": 0, "skipped": 0}
    items = list_items(pipeline.db, pipeline.store, status="pending", settings=pipeline.settings)
    for position, summary in enumerate(items, 1):
        try:
            view = get_item(pipeline.db, pipeline.store, summary["id"], settings=pipeline.settings)
        except UsageError as exc:  # deleted since the list was read
            out.message(str(exc), "red")
            counts["skipped"] += 1
            continue
        out.console.rule(f"{position}/{len(items)}")
        if view["status"] != Status.PENDING:  # another reviewer decided it since the list was read
            out.message(f"item #{view['id']} is {view['status']} now (decided by someone else meanwhile); skipped",
                        "yellow")
            counts["skipped"] += 1
            continue
        show(pipeline, out, view)
        key = read_key(out, view, getkey, open_url)
        if key == "q":
            break
        decided = decide(pipeline, out, view, key, ask) if key in ("a", "r") else None
        counts[decided or "skipped"] += 1
    out.message(f"approved {counts['approved']}, rejected {counts['rejected']}, skipped {counts['skipped']}")
    return counts


def show(pipeline: Pipeline, out: Output, view: dict) -> None:
    """The item, its previews, and each possible duplicate's images beside it, for a person to decide."""
    out.item(view, previews(view))
    for other_id in view.get("possible_duplicate_of", []):
        other = get_item(pipeline.db, pipeline.store, other_id)
        out.console.print(inert(f"possible duplicate of #{other_id} ({other['status']}, @{other['author']['handle']}):"))
        for preview in previews(other):
            out.console.print(preview)


def read_key(out: Output, view: dict, getkey: Callable[[], str], open_url: Callable[[str], object]) -> str:
    """The reviewer's key for this item; `o` opens the post (http(s) only) and asks again."""
    while True:
        out.console.print(KEYS)
        key = (getkey() or "").lower()
        if key != "o":
            return key
        if openable(view["post_url"]):
            open_url(view["post_url"])
        else:
            out.message(f"not opening {view['post_url']!r}: only http(s) links are opened", "red")


def decide(pipeline: Pipeline, out: Output, view: dict, key: str, ask: Callable[[str], str]) -> str | None:
    """Approve or reject what the reviewer saw; "approved"/"rejected", or None (refused or skipped: say why)."""
    seen = Status(view["status"])  # compare-and-set: refused if someone else decided since it was shown
    try:
        if key == "r":
            reject(pipeline.db, [view["id"]], reason=ask("reason (optional)").strip(), expected=seen)
            return "rejected"
        credit = ask_credit(out, ask) if view.get("needs_credit") else None
        if view.get("needs_credit") and credit is None:
            out.message(f"item #{view['id']} skipped: it needs a credit to be approved", "yellow")
            return None
        approve(pipeline.db, [view["id"]], targets=[], publish_channels=pipeline.publish_channels(),
                settings=pipeline.settings, credit=credit, expected=seen)
        return "approved"
    except UsageError as exc:  # lost a race, a licence that needs permission, being published: say so, move on
        out.message(str(exc), "red")
        return None


def ask_credit(out: Output, ask: Callable[[str], str]) -> str | None:
    """A valid credit from the reviewer (asked up to three times); None when the answer is empty."""
    from publisher.credit import reviewer_credit  # the same check `wlb approve --credit` makes

    for _ in range(3):
        answer = " ".join(ask(CREDIT_PROMPT).split())
        if not answer:
            return None
        try:
            return reviewer_credit(answer).text
        except ValueError as exc:
            out.message(f"credit: {exc}", "red")
    return None


def openable(url: object) -> bool:
    """Whether a remote post URL may go to the browser: http(s) with a host, nothing a shell or terminal would act on."""
    if not isinstance(url, str) or not url.isprintable() or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed IPv6 literal
        return False
