"""The item page's forms → curation.queue, with the status the page showed and the signed-in reviewer."""

from __future__ import annotations

import re

from starlette.datastructures import FormData

from app.decide import confirmation, with_consent
from app.web.auth import Reviewer
from app.workspace import Workspace
from core.errors import UsageError
from core.models import Status
from curation import queue
from curation.views import get_item

VERBS = ("approve", "reject", "duplicate", "edit")
MAX_REASON = 1000
MAX_ID = 2**31 - 1  # the largest id a PostgreSQL integer column holds: a larger number names no item
# What the reviewer can do about a refusal, in the page's words rather than the CLI's flags.
NEXT_STEP = {
    "changed": "Nothing changed. The page now shows the item as it is: decide again, or tick "
               "“decide anyway (recorded)” to keep your decision.",
    "leased": "Nothing changed. Wait for them, or tick “decide anyway (recorded)”.",
    "licence": "Nothing changed. Ask the photographer; once they agree, tick “force” and say how they agreed.",
    "credit": "Nothing changed. Open the original post, then fill in who took the photo under “credit”.",
    "publishing": "Nothing changed.",
}


class Refusal(Exception):
    """A decision that did not happen: what to show and the HTTP status (409 when the item's state refused it)."""

    def __init__(self, message: str, why: str, status: int):
        super().__init__(message)
        self.message, self.why, self.status = message, why, status


def web_words(message: str) -> str:
    """A service-layer message names CLI flags (--force); the page names its fields."""
    return re.sub(r"--([a-z][a-z-]*)", r"“\1”", message)


def apply(ws: Workspace, reviewer: Reviewer, item_id: int, verb: str, form: FormData) -> str:
    """Carry out one form; the confirmation line, or Refusal."""
    try:
        expected = Status(str(form.get("expected", "")))
    except ValueError:
        raise Refusal("this form lacks the status the page showed; reload the page", "form", 400) from None
    shown = str(form.get("version", ""))  # the item's last decision on the page: a colleague's edit since refuses
    version = int(shown) if re.fullmatch(r"[0-9]{1,18}", shown) else None
    common = {"actor": reviewer.name, "expected": expected, "override": form.get("override") == "1",
              "lease_owner": reviewer.lease_owner, "version": version}
    try:
        return _VERB[verb](ws, item_id, form, common)
    except queue.Refused as exc:
        fact = str(exc).split("; nothing changed")[0].split("; ask the photographer")[0].split("; open its link")[0]
        step = NEXT_STEP.get(exc.why, "")
        return_status = 404 if exc.why == "missing" else 409
        raise Refusal(web_words(f"{fact}. {step}" if step else str(exc)), exc.why, return_status) from None
    except UsageError as exc:
        raise Refusal(web_words(str(exc)), "input", 400) from None


def _text(form: FormData, name: str, limit: int = MAX_REASON) -> str:
    value = str(form.get(name, "")).strip()
    if len(value) > limit:
        raise UsageError(f"the {name} is {len(value)} characters; at most {limit}")
    return value


def _targets(ws: Workspace, form: FormData) -> list[str]:
    """Ticked channels; all of them is stored as 'every publishing channel' (as `wlb approve` without --to)."""
    channels = ws.publish_channels()
    ticked = [c for c in channels if c in form.getlist("targets")]
    if channels and not ticked:
        raise UsageError("tick at least one channel to publish to")
    return [] if ticked == channels else ticked


def _approve(ws: Workspace, item_id: int, form: FormData, common: dict) -> str:
    posts = queue.approve(ws.db, [item_id], targets=_targets(ws, form), publish_channels=ws.publish_channels(),
                          caption=_text(form, "caption", queue.MAX_CAPTION) or None, reason=_text(form, "reason"),
                          settings=ws.settings, force=form.get("force") == "1",
                          credit=_text(form, "credit", 200) or None, **common)
    return with_consent(ws.db, confirmation("approve", posts, ws.publish_channels()), posts)


def _reject(ws: Workspace, item_id: int, form: FormData, common: dict) -> str:
    posts = queue.reject(ws.db, [item_id], reason=_text(form, "reason"), **common)
    return with_consent(ws.db, confirmation("reject", posts, []), posts)


def _duplicate(ws: Workspace, item_id: int, form: FormData, common: dict) -> str:
    of = str(form.get("of", "")).strip().lstrip("#")
    if not re.fullmatch(r"[0-9]{1,10}", of):  # "²".isdigit() is true, and int() refuses it
        raise UsageError("say which item this one duplicates (its number)")
    if int(of) > MAX_ID:
        raise UsageError(f"no item #{of}")
    post = queue.mark_duplicate(ws.db, item_id, int(of), reason=_text(form, "reason"), **common)
    return f"✓ #{post.id} marked as a duplicate of #{post.duplicate_of}"


def _edit(ws: Workspace, item_id: int, form: FormData, common: dict) -> str:
    """Only what differs from the item as stored is changed (each change is recorded in its history)."""
    view = get_item(ws.db, ws.store, item_id)
    changes: dict = {}
    caption = _text(form, "caption", queue.MAX_CAPTION)
    if "caption" in form and caption != (view["caption"] or ""):
        changes["caption"] = caption
    if "targets_shown" in form:
        targets = _targets(ws, form)
        if targets != view["targets"]:
            changes["targets"] = targets
    credit = _text(form, "credit", 200)
    if credit and credit != (view["credit"] or ""):
        changes["credit"] = credit
    if not changes:
        return f"nothing to save on #{item_id}: it already reads so"
    queue.edit(ws.db, item_id, publish_channels=ws.publish_channels(), **changes, **common)
    return f"✓ #{item_id}: {', '.join(changes)} saved"


_VERB = {"approve": _approve, "reject": _reject, "duplicate": _duplicate, "edit": _edit}
