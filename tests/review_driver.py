"""Drive `wlb review` without a terminal: keys, answers and the browser are the test's, the screen is a rich Console."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rich.console import Console

from app.config import load_settings
from app.output import Output
from app.review import review_loop
from app.workspace import Workspace
from core.db import Database
from core.models import Post
from curation.filters import ItemFilter
from curation.views import PENDING
from tests.fakes import images
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
Key = str | Callable[[Workspace], str]


@dataclass
class Reviewed:
    counts: dict[str, int]
    shown: str
    prompts: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    def screens_of(self, item: int) -> int:
        """How many times the item's screen was drawn (its header line)."""
        return len(re.findall(rf"^#{item} [a-z]+ · ", self.shown, re.MULTILINE))


def review(site: Site, keys: Sequence[Key], answers: Sequence[str] = (), *, actor: str | None = None,
           flt: ItemFilter = PENDING, width: int = 200, height: int = 60, colour: bool = False,
           browser: Callable[[str], object] | None = None) -> Reviewed:
    """Run the loop; a key may be a function, called when the key is read (what another reviewer does meanwhile).
    After the given keys, q."""
    ws = Workspace(load_settings(site.config))
    pressed, given = iter(keys), iter(answers)
    result = Reviewed({}, "")
    buf = io.StringIO()

    def getkey() -> str:
        key = next(pressed, "q")
        return key(ws) if callable(key) else key

    def ask(prompt: str) -> str:
        result.prompts.append(prompt)
        return next(given, "")

    console = Console(file=buf, width=width, height=height, force_terminal=colour or None,
                      color_system="truecolor" if colour else None)
    try:
        result.counts = review_loop(ws, Output(console=console), flt, getkey=getkey, ask=ask, actor=actor,
                                    open_url=browser or result.opened.append)
    finally:
        ws.close()
    result.shown = buf.getvalue()
    return result


def pending(site: Site, *accts: str, seed: int = 60) -> list[int]:
    """One pending item per author, the first one newest (the order review shows them); their ids."""
    for n, acct in enumerate(accts):
        site.source.add_status(images=[images.jpeg(seed + n)], created_at=T0 - timedelta(minutes=n), acct=acct,
                               text=f"photo by {acct}")
    assert site.wlb("collect").code == 0
    ids = {i["author"]["handle"].split("@")[0]: i["id"] for i in site.queue("pending")}
    return [ids[a] for a in accts]


def show(site: Site, item: int) -> dict:
    return site.wlb("show", str(item), "--json").json()


def history(site: Site, item: int) -> list[tuple[str, str]]:
    """(actor, action) of each decision on the item, oldest first."""
    return [(h["actor"], h["action"]) for h in show(site, item)["history"]]


def lease_of(site: Site, item: int) -> str | None:
    """Which session holds the item now (None: free)."""
    db = Database(site.db_url)
    with db.session() as session:
        owner = session.get(Post, item).lease_owner
    db.dispose()
    return owner
