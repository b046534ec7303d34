"""`wlb review`: one key per decision over the pending items."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from urllib.parse import urlsplit

import typer
from rich.text import Text

from core.errors import UsageError
from core.output import Output, inert
from core.pipeline import Pipeline
from curation.queue import approve, reject
from curation.views import get_item, list_items, previews

KEYS = Text.assemble(("a", "bold green"), "pprove  ", ("r", "bold red"), "eject  ", ("s", "bold"), "kip  ",
                     ("o", "bold blue"), "pen in browser  ", ("q", "bold"), "uit")


def review_loop(pipeline: Pipeline, out: Output, *, getkey: Callable[[], str] = typer.getchar,
                ask: Callable[[str], str] | None = None, open_url: Callable[[str], object] = webbrowser.open) -> dict[str, int]:
    """Show each pending item with its preview and duplicates; return the counts of each decision."""
    ask = ask or (lambda prompt: typer.prompt(prompt, default="", show_default=False))
    counts = {"approved": 0, "rejected": 0, "skipped": 0}
    items = list_items(pipeline.db, pipeline.store, status="pending", settings=pipeline.settings)
    for position, summary in enumerate(items, 1):
        view = get_item(pipeline.db, pipeline.store, summary["id"], settings=pipeline.settings)
        out.console.rule(f"{position}/{len(items)}")
        out.item(view, previews(view))
        for other_id in view.get("possible_duplicate_of", []):  # both images side by side, for a person to decide
            other = get_item(pipeline.db, pipeline.store, other_id)
            out.console.print(inert(f"possible duplicate of #{other_id} ({other['status']}, @{other['author']['handle']}):"))
            for preview in previews(other):
                out.console.print(preview)
        while True:
            out.console.print(KEYS)
            key = (getkey() or "").lower()
            if key == "o":
                if openable(view["post_url"]):
                    open_url(view["post_url"])
                else:
                    out.message(f"not opening {view['post_url']!r}: only http(s) links are opened", "red")
                continue
            break
        if key == "a":
            try:
                approve(pipeline.db, [view["id"]], targets=[], publish_channels=pipeline.publish_channels(),
                        settings=pipeline.settings)
                counts["approved"] += 1
            except UsageError as exc:  # e.g. a licence that needs permission: say so and move on
                out.message(str(exc), "red")
                counts["skipped"] += 1
        elif key == "r":
            reject(pipeline.db, [view["id"]], reason=ask("reason (optional)").strip())
            counts["rejected"] += 1
        elif key == "q":
            break
        else:
            counts["skipped"] += 1
    out.message(f"approved {counts['approved']}, rejected {counts['rejected']}, skipped {counts['skipped']}")
    return counts


def openable(url: object) -> bool:
    """Whether a remote post URL may go to the browser: http(s) with a host, nothing a shell or terminal would act on."""
    if not isinstance(url, str) or not url.isprintable() or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed IPv6 literal
        return False
