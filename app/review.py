"""`wlb review`: one key per decision over the pending items."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from urllib.parse import urlsplit

import typer
from rich.text import Text

from core.credit import parse_credit
from core.errors import UsageError
from core.models import Status
from app.output import Output, inert
from app.workspace import Workspace
from curation.queue import approve, reject
from app.preview import previews
from curation.filters import ItemFilter
from curation.views import PENDING, get_item, list_items

KEYS = Text.assemble(("a", "bold green"), "pprove  ", ("r", "bold red"), "eject  ", ("s", "bold"), "kip  ",
                     ("o", "bold blue"), "pen in browser  ", ("q", "bold"), "uit")
CREDIT_PROMPT = "credit: '@user@host' or the photographer's name (empty: skip this item)"


def review_loop(workspace: Workspace, out: Output, flt: ItemFilter = PENDING, *, getkey: Callable[[], str] = typer.getchar,
                ask: Callable[[str], str] | None = None, open_url: Callable[[str], object] = webbrowser.open) -> dict[str, int]:
    """Show each pending item with its preview and duplicates; return the counts of each decision."""
    ask = ask or (lambda prompt: typer.prompt(prompt, default="", show_default=False))
    counts = {"approved": 0, "rejected": 0, "skipped": 0}
    items = list_items(workspace.db, workspace.store, flt, settings=workspace.settings)
    for position, summary in enumerate(items, 1):
        try:
            view = get_item(workspace.db, workspace.store, summary["id"], settings=workspace.settings)
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
        show(workspace, out, view)
        key = read_key(out, view, getkey, open_url)
        if key == "q":
            break
        decided = decide(workspace, out, view, key, ask) if key in ("a", "r") else None
        counts[decided or "skipped"] += 1
    out.message(f"approved {counts['approved']}, rejected {counts['rejected']}, skipped {counts['skipped']}")
    return counts


def show(workspace: Workspace, out: Output, view: dict) -> None:
    """The item, its previews, and each possible duplicate's images beside it, for a person to decide."""
    out.item(view, previews(view))
    for other_id in view.get("possible_duplicate_of", []):
        other = get_item(workspace.db, workspace.store, other_id)
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


def decide(workspace: Workspace, out: Output, view: dict, key: str, ask: Callable[[str], str]) -> str | None:
    """Approve or reject what the reviewer saw; "approved"/"rejected", or None (refused or skipped: say why)."""
    seen = Status(view["status"])  # compare-and-set: refused if someone else decided since it was shown
    try:
        if key == "r":
            reject(workspace.db, [view["id"]], reason=ask("reason (optional)").strip(), expected=seen)
            return "rejected"
        credit = ask_credit(out, ask, view.get("platform")) if view.get("needs_credit") else None
        if view.get("needs_credit") and credit is None:
            out.message(f"item #{view['id']} skipped: it needs a credit to be approved", "yellow")
            return None
        approve(workspace.db, [view["id"]], targets=[], publish_channels=workspace.publish_channels(),
                settings=workspace.settings, credit=credit, expected=seen)
        return "approved"
    except UsageError as exc:  # lost a race, a licence that needs permission, being published: say so, move on
        out.message(str(exc), "red")
        return None


def ask_credit(out: Output, ask: Callable[[str], str], platform: str | None = None) -> str | None:
    """A valid credit from the reviewer (asked up to three times); None when the answer is empty."""
    for _ in range(3):
        answer = " ".join(ask(CREDIT_PROMPT).split())
        if not answer:
            return None
        try:
            return parse_credit(answer, platform=platform)[0]  # the same check `wlb approve --credit` makes
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
