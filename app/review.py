"""`wlb review`: one key per decision, one leased item at a time, on a screen that fits the terminal.

Items come one by one from curation.leases.claim_next, so a backlog of 100,000 opens as fast as one of ten,
and two sessions never show the same item. Every decision goes through curation.queue against the status
the reviewer saw, with this session's lease: a decision someone else took meanwhile is never overwritten.
"""

from __future__ import annotations

import os
import select
import sys
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
import typer
from rich.text import Text

from app.decide import confirmation, with_consent
from app.output import Output, inert, problem_line
from app.review_screen import MAX_CANDIDATES, Images, help_screen, key_hint, render
from app.workspace import Workspace
from core.credit import BARE_HANDLES, parse_credit
from core.decisions import reviewer
from core.errors import UsageError
from core.models import Status
from core.safe_text import strip_control
from curation import leases, queue
from curation.filters import ItemFilter
from curation.queue import Refused
from curation.views import PENDING, get_item

OVERRIDES = {"A": "a", "R": "r", "D": "d"}  # after a changed/leased refusal: decide over it, recorded
KEYS = set("arsbudctkfo?q") | set(OVERRIDES)


@dataclass
class Step:
    """What a key did: stay on the item, go on to the next, show another one (`goto`), or quit."""

    move: str = "stay"
    notice: Text | None = None
    goto: int | None = None


def _ok(text: str) -> Text:
    return inert(text, "green")


def _no(text: str) -> Text:
    return problem_line(f"✗ {text}", "bold red")


class Review:
    """One reviewer's session: its lease owner, the items it passed, what it decided (for `u`)."""

    def __init__(self, workspace: Workspace, out: Output, flt: ItemFilter, *, actor: str, ask: Callable[[str], str],
                 open_url: Callable[[str], object], clear: bool):
        self.ws, self.out, self.flt, self.actor = workspace, out, flt, actor
        self.ask, self.open_url, self.clear = ask, open_url, clear
        self.owner = leases.new_owner(actor)
        self.passed: set[int] = set()  # skipped or decided: claim_next leaves them out
        self.trail: list[int] = []  # items moved on from, for `b`
        self.decided: list[int] = []  # items decided in this session, latest last, for `u`
        self.seen: dict[int, Status] = {}  # the status each item had when it was shown: what decisions expect
        self.version: dict[int, int] = {}  # its last decision when drawn: a colleague's edit since refuses ours
        self.contested: int | None = None  # the item whose last decision was refused as changed/leased: A/R/D allowed
        self.counts = {"approved": 0, "rejected": 0, "skipped": 0}
        self.images = Images()
        self.current: int | None = None  # the item on screen, whose lease keep_lease renews

    def keep_lease(self) -> None:
        """The reviewer is still looking at the screen (no key yet): keep the item theirs."""
        if self.current is not None:
            leases.renew(self.ws.db, self.owner, self.current, settings=self.ws.settings)

    # The loop

    def run(self, getkey: Callable[[], str]) -> None:
        notice: Text | None = None
        current, drawn = self._next(), None
        while current is not None:
            try:
                view = get_item(self.ws.db, self.ws.store, current, settings=self.ws.settings)
            except UsageError as exc:  # deleted since it was claimed
                notice, current = _no(str(exc)), self._next()
                continue
            if current != drawn:  # shown anew (not redrawn after a key): decisions now expect what it shows
                self.seen[current] = Status(view["status"])
                self.version[current] = view["version"]
            self.version.setdefault(current, view["version"])  # after our own edit: what is drawn now
            drawn = self.current = current
            candidates = self._candidates(view)
            self._draw(view, candidates, notice)
            key = self._read(getkey)
            leases.renew(self.ws.db, self.owner, current, settings=self.ws.settings)  # the reviewer is still here
            step = self._act(key, view, candidates, getkey)
            notice = step.notice
            if step.move == "quit":
                break
            if step.move == "next":
                self.passed.add(current)
                self.trail.append(current)
                leases.release(self.ws.db, self.owner, current)
                current = self._next()
            elif step.move == "goto":
                if step.goto != current:
                    leases.release(self.ws.db, self.owner, current)
                    self.passed.discard(current)  # not decided: it comes again
                current, drawn, self.contested = step.goto, None, None
        if notice is not None:
            self.out.console.print(notice)
        if current is None:
            more = "more " if self.seen else ""
            self.out.message(f"nothing {more}to review: no {'other ' * bool(self.seen)}{self.flt.describe()} that "
                             "another reviewer is not looking at", "dim")

    def _next(self) -> int | None:
        self.contested = None
        return leases.claim_next(self.ws.db, self.owner, self.flt, settings=self.ws.settings, exclude=self.passed)

    def _candidates(self, view: dict) -> list[dict]:
        """The possible duplicates drawn beside the item (and offered by `d`)."""
        ids = [m["id"] for m in view.get("matches", []) if m["tier"] == "possible"]
        ids += [i for i in view.get("possible_duplicate_of", []) if i not in ids]
        shown = []
        for other in list(dict.fromkeys(ids))[:MAX_CANDIDATES]:  # the ones drawn; the others are named in words
            try:
                shown.append(get_item(self.ws.db, self.ws.store, other, settings=self.ws.settings))
            except UsageError:
                continue
        return shown

    def _draw(self, view: dict, candidates: list[dict], notice: Text | None) -> None:
        console = self.out.console
        if self.clear:
            console.clear()
        keys = key_hint(view, candidates, width=console.width, can_back=bool(self.trail), can_undo=bool(self.decided))
        console.print(render(console, view, candidates, channels=self.ws.publish_channels(), keys=keys, notice=notice,
                             images=self.images))

    def _read(self, getkey: Callable[[], str]) -> str:
        """The next key this screen knows; any other key does nothing."""
        while True:
            key = getkey() or ""
            if key in KEYS:
                return key
            if key.lower() in KEYS:  # caps lock: S is s
                return key.lower()

    def _act(self, key: str, view: dict, candidates: list[dict], getkey: Callable[[], str]) -> Step:
        override = key in OVERRIDES
        if override and self.contested != view["id"]:
            key, override = OVERRIDES[key], False
        key = OVERRIDES.get(key, key)
        if key == "q":
            return Step("quit")
        if key == "s":
            self.counts["skipped"] += 1
            return Step("next")
        if key == "?":
            if self.clear:
                self.out.console.clear()
            self.out.console.print(help_screen(self.out.console.width, self.out.console.height))
            getkey()
            return Step()
        handler = {"a": self._approve, "r": self._reject, "d": self._duplicate, "f": self._force, "b": self._back,
                   "u": self._undo, "c": self._caption, "t": self._targets, "k": self._credit, "o": self._open}[key]
        try:
            return handler(view, candidates, override)
        except Refused as exc:
            return self._refused(view, exc)
        except UsageError as exc:  # a typed value the service refuses (e.g. a caption too long)
            return Step(notice=_no(str(exc)))

    # Decisions: each one a compare-and-set against what the reviewer saw, with this session's lease

    def _common(self, view: dict, override: bool) -> dict:
        return {"actor": self.actor, "expected": self.seen[view["id"]], "override": override,
                "lease_owner": self.owner, "version": self.version.get(view["id"])}

    def _edited(self, view: dict, line: str) -> Step:
        """Our own edit moved the item's version on: the redrawn screen is what the next decision expects."""
        self.version.pop(view["id"], None)
        return Step(notice=_ok(line))

    def _approve(self, view: dict, candidates: list[dict], override: bool, *, reason: str = "") -> Step:
        channels = self.ws.publish_channels()
        gone = [t for t in view["targets"] if t not in channels]  # chosen before config.toml changed
        if gone:
            return Step(notice=_no(f"#{view['id']}'s target {gone[0]} is no longer a publishing channel; press t to "
                                   "choose its targets"))
        posts = queue.approve(self.ws.db, [view["id"]], targets=view["targets"], publish_channels=channels,
                              settings=self.ws.settings, force=bool(reason), reason=reason, **self._common(view, override))
        forced = f" (forced: {reason})" if reason else ""
        return self._decided(view, "approved", with_consent(self.ws.db, confirmation("approve", posts, channels), posts)
                             + forced)

    def _force(self, view: dict, candidates: list[dict], override: bool) -> Step:
        if not view.get("needs_permission"):
            return Step(notice=_no(f"#{view['id']}'s licence needs no permission; press a to approve it"))
        reason = " ".join(self.ask("how did the photographer agree? (recorded with the approval; Enter cancels)").split())
        if not reason:
            return Step(notice=inert("nothing changed", "dim"))
        return self._approve(view, candidates, override, reason=reason)

    def _reject(self, view: dict, candidates: list[dict], override: bool) -> Step:
        reason = " ".join(self.ask("reason (Enter for none)").split())
        posts = queue.reject(self.ws.db, [view["id"]], reason=reason, **self._common(view, override))
        line = confirmation("reject", posts, []) + (f": {reason}" if reason else "")
        return self._decided(view, "rejected", with_consent(self.ws.db, line, posts))

    def _duplicate(self, view: dict, candidates: list[dict], override: bool) -> Step:
        ids = [c["id"] for c in candidates]
        if not ids:
            return Step(notice=_no(f"#{view['id']} has no possible duplicate on screen; d marks it as a copy of one"))
        of = ids[0]
        if len(ids) > 1:
            answer = self.ask(f"duplicate of which? {', '.join(f'#{i}' for i in ids)} (Enter cancels)").strip().lstrip("#")
            if not answer:
                return Step(notice=inert("nothing changed", "dim"))
            if not answer.isdecimal() or int(answer) not in ids:
                return Step(notice=_no(f"{answer!r} is not one of {', '.join(f'#{i}' for i in ids)}; nothing changed"))
            of = int(answer)
        try:
            post = queue.mark_duplicate(self.ws.db, view["id"], of, **self._common(view, override))
        except Refused as exc:
            if exc.why in ("changed", "leased", "publishing"):
                raise
            return Step(notice=_no(str(exc)))  # about the chosen one (a copy of this item already): stay
        return self._decided(view, "duplicate", f"✓ #{view['id']} marked as a duplicate of #{post.duplicate_of}")

    def _decided(self, view: dict, verb: str, line: str) -> Step:
        self.counts[verb] = self.counts.get(verb, 0) + 1
        self.decided.append(view["id"])
        return Step("next", _ok(line))

    def _undo(self, view: dict, candidates: list[dict], override: bool) -> Step:
        if not self.decided:
            return Step(notice=_no("nothing to undo: no decision yet in this session"))
        item = self.decided[-1]
        post, undone = queue.undo(self.ws.db, item, actor=self.actor, lease_owner=self.owner, settings=self.ws.settings)
        self.decided.pop()
        verb = {"approve": "approved", "approve-forced": "approved", "reject": "rejected"}.get(undone.action, "duplicate")
        self.counts[verb] -= 1
        self.counts["undone"] = self.counts.get("undone", 0) + 1
        self.passed.discard(item)
        holder = leases.claim(self.ws.db, item, self.owner, settings=self.ws.settings)
        line = _ok(f"✓ #{item} undone: {undone.action} taken back, {post.status} again")
        if holder is not None:
            return Step(notice=line + inert(f"; #{item}: {holder}", "yellow"))
        return Step("goto", line, goto=item)

    def _back(self, view: dict, candidates: list[dict], override: bool) -> Step:
        if not self.trail:
            return Step(notice=_no("nothing before this item in this session"))
        previous = self.trail[-1]
        holder = leases.claim(self.ws.db, previous, self.owner, settings=self.ws.settings)
        if holder is not None:
            return Step(notice=_no(f"#{previous}: {holder}; press b again later, or go on"))
        self.trail.pop()
        self.passed.discard(previous)
        return Step("goto", goto=previous)

    # Edits: the item stays on screen with the change

    def _caption(self, view: dict, candidates: list[dict], override: bool) -> Step:
        answer = self.ask("caption for the repost (Enter keeps it; '-' goes back to the post's own text)").strip()
        if not answer:
            return Step(notice=inert("caption unchanged", "dim"))
        queue.edit(self.ws.db, view["id"], caption="" if answer == "-" else answer, **self._common(view, override))
        return self._edited(view, f"✓ #{view['id']} caption {'reset to the post text' if answer == '-' else 'set'}")

    def _targets(self, view: dict, candidates: list[dict], override: bool) -> Step:
        channels = self.ws.publish_channels()
        if not channels:
            return Step(notice=_no("no publishing channel: set publish = true on one in config.toml"))
        menu = "  ".join(f"{n} {c}" for n, c in enumerate(channels, 1))
        answer = self.ask(f"targets: {menu} (numbers or names; Enter: every publishing channel)")
        chosen = []
        for word in answer.replace(",", " ").split():
            name = channels[int(word) - 1] if word.isdecimal() and 0 < int(word) <= len(channels) else word
            if name not in channels:
                return Step(notice=_no(f"{word!r} is not a publishing channel ({', '.join(channels)}); nothing changed"))
            chosen += [name] if name not in chosen else []
        queue.edit(self.ws.db, view["id"], targets=chosen, publish_channels=channels, **self._common(view, override))
        return self._edited(view, f"✓ #{view['id']} targets → {', '.join(chosen) or 'every publishing channel'}")

    def _credit(self, view: dict, candidates: list[dict], override: bool) -> Step:
        credit = ask_credit(self.out, self.ask, view.get("platform"))
        if credit is None:
            return Step(notice=inert("credit unchanged", "dim"))
        queue.edit(self.ws.db, view["id"], credit=credit, **self._common(view, override))
        return self._edited(view, f"✓ #{view['id']} credit: {credit}")

    def _open(self, view: dict, candidates: list[dict], override: bool) -> Step:
        url = view["post_url"]
        if not url:
            return Step(notice=_no(f"#{view['id']} has no link to open"))
        if not openable(url):
            return Step(notice=_no(f"not opening {url!r}: only http(s) links are opened"))
        if self.open_url(url) is False:  # webbrowser found no browser (a server, an SSH session)
            return Step(notice=inert(f"no browser here; the post: {url}"))
        return Step(notice=inert(f"opened {url}", "dim"))

    def _refused(self, view: dict, exc: Refused) -> Step:
        """A refusal keeps the item on screen with what to press; one the item's status settles moves on."""
        why = exc.why
        said = str(exc).split("; nothing changed")[0]
        if why == "undo":
            return Step(notice=_no(str(exc)))
        if exc.item_id != view["id"]:  # `u` on an earlier item: A/R/D or moving on would act on the one shown
            return Step(notice=_no(f"{said}; nothing undone"))
        if why in ("changed", "leased"):
            self.contested = view["id"]
            return Step(notice=_no(f"{said}; press A, R or D (capital) to decide over it, recorded as an "
                                   "override, or s to leave it"))
        if why == "licence":
            return Step(notice=_no(f"{str(exc).split('; ask the')[0]}; press f to force with how they agreed"))
        if why == "credit":
            return Step(notice=_no(f"#{view['id']} needs credit: no author could be determined; press k to set it "
                                   "(o opens the post)"))
        self.counts["skipped"] += 1
        return Step("next", _no(f"{exc}; moved on"))  # status, publishing, missing: nothing to press here


def review_loop(workspace: Workspace, out: Output, flt: ItemFilter = PENDING, *, getkey: Callable[[], str] | None = None,
                ask: Callable[[str], str] | None = None, open_url: Callable[[str], object] = webbrowser.open,
                actor: str | None = None, clear: bool | None = None) -> dict[str, int]:
    """Review the items matching `flt` one key at a time; the count of each decision.

    `getkey`, `ask` and `open_url` are the terminal's (tests pass their own); `clear` redraws each screen
    from the top (default: when reading keys from a real terminal).
    """
    if clear is None:
        clear = getkey is None and out.console.is_terminal and sys.stdin.isatty()
    asked = ask or _prompt
    review = Review(workspace, out, flt, actor=actor or reviewer(), ask=lambda question: strip_control(asked(question)),
                    open_url=open_url, clear=clear)  # typed text is stored and shown back: no control sequences
    if getkey is None:  # a real terminal: while the reviewer looks without pressing a key, the lease is kept
        renew_every = workspace.settings.review.lease_minutes * 60 / 3

        def getkey() -> str:
            return terminal_key(on_wait=review.keep_lease, every=renew_every)
    try:
        review.run(getkey)
    except (KeyboardInterrupt, click.exceptions.Abort):  # Ctrl-C at a key or a question: quit like q
        out.message("interrupted", "dim")
    finally:
        leases.release(workspace.db, review.owner)  # every item this session held is free for the others now
    counts = review.counts
    extra = "".join(f", {name} {n}" for name, n in counts.items() if name not in ("approved", "rejected", "skipped") and n)
    out.message(f"approved {counts['approved']}, rejected {counts['rejected']}, skipped {counts['skipped']}{extra}")
    return counts


def terminal_key(on_wait: Callable[[], None] | None = None, every: float = 60.0) -> str:
    """One key press from the terminal. Unlike click.getchar, keys typed ahead are kept (it flushes them when
    it enters raw mode) and two quick presses are two keys (it reads up to 32 bytes as one). `on_wait` runs
    every `every` seconds while no key comes."""
    if os.name != "posix" or not sys.stdin.isatty():
        return typer.getchar()
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        while on_wait is not None and not select.select([fd], [], [], every)[0]:
            on_wait()
        key = os.read(fd, 1)
        if key == b"\x1b":  # an arrow or function key: take the rest of its sequence, already sent
            while select.select([fd], [], [], 0.02)[0] and len(key) < 16:
                key += os.read(fd, 1)
        elif key and key[0] >= 0xC0:  # the first byte of a UTF-8 character: read its continuation bytes
            key += os.read(fd, (key[0] >= 0xE0) + (key[0] >= 0xF0) + 1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    if key == b"\x03":
        raise KeyboardInterrupt
    return "q" if key in (b"\x04", b"") else key.decode("utf-8", "replace")  # Ctrl-D, or the terminal went away


def _prompt(question: str) -> str:
    return typer.prompt(question, default="", show_default=False)


CREDIT_PROMPT = "credit: '@user@host' or the photographer's name (Enter cancels)"


def ask_credit(out: Output, ask: Callable[[str], str], platform: str | None = None) -> str | None:
    """A valid credit from the reviewer (asked up to three times); None when the answer is empty."""
    prompt = CREDIT_PROMPT.replace("'@user@host'", "'@username'") if platform in BARE_HANDLES else CREDIT_PROMPT
    for _ in range(3):
        answer = " ".join(ask(prompt).split())
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
