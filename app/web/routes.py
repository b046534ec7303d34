"""The pages: sign-in, the grid of thumbnails, an item with its decisions. Every action is a plain form
(POST, then a redirect), so nothing needs JavaScript; htmx only renews the lease of an open item."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from app.accounts import MAX_PASSWORD, authenticate, has_accounts
from app.web import actions, auth
from app.web import media as media_files
from app.web.auth import Reviewer
from app.workspace import Workspace
from core.errors import UsageError
from core.models import Post
from curation import leases
from curation.filters import STATUS_CHOICES, ItemFilter, parse_since
from curation.views import get_item, queue_page

PAGE = 48  # thumbnails per grid page: rows of 2, 3, 4, 6 or 8 come out even
FILTER_KEYS = ("status", "channel", "author", "since", "possible_duplicates", "needs_permission", "needs_credit")
FLAGS = ("possible_duplicates", "needs_permission", "needs_credit")
MATCHES_SHOWN = 6
# Bytes of a posted form: every form here fits (a 5,000-character caption of emoji is 60 KB percent-encoded), and
# anyone may post to /login, so a body never grows past this in memory, nor an upload onto the disk.
MAX_FORM, MAX_FIELDS = 256 * 1024, 100
# Sign-ins checked at once. Each waits for one of two 128 MiB hashes in a worker thread; without a bound, a flood
# of posts to /login held every thread of the pool, and no page or image of anyone signed in could load.
MAX_SIGNING_IN = 8

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)
templates = Jinja2Templates(env=_env)


def _ws(request: Request) -> Workspace:
    return request.app.state.ws


def _local(ws: Workspace) -> Callable[[str | datetime | None], str]:
    zone = ZoneInfo(ws.settings.timezone)

    def fmt(value: str | datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        if not value:
            return ""
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
        return when.astimezone(zone).strftime(pattern)

    return fmt


def render(request: Request, name: str, context: dict, status: int = 200) -> Response:
    ws = _ws(request)
    context = {"local": _local(ws), "publish_channels": ws.publish_channels(), **context}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    # A page holds unpublished items and the session's CSRF token: no cache keeps it, no back button after sign-out.
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in(request: Request) -> tuple[Reviewer | None, str | None]:
    return auth.current(_ws(request).db, request, _ws(request).settings.web)


def _with_cookie(response: Response, request: Request, token: str | None) -> Response:
    if token:
        auth.set_cookie(response, request, token, _ws(request).settings.web)
    return response


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


async def read_form(request: Request) -> FormData:
    """The posted form, read up to MAX_FORM bytes (413 beyond); only URL-encoded forms (415 otherwise, e.g. uploads)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise HTTPException(415, "only plain forms are accepted here")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM:  # refused before reading a byte of it
        raise HTTPException(413, "this form is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise HTTPException(413, "this form is too large")
    try:
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise HTTPException(413, "this form has too many fields") from None
    return FormData(fields)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never '//evil.example' or 'https://…'."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x21 for c in target)):  # browsers drop tabs and newlines: "/\t/evil" is "//evil"
        return "/"
    return target


# Sign-in and sign-out

def login_form(request: Request, message: str = "", status: int = 200, name: str = "") -> Response:
    reviewer, token = _signed_in(request)
    if reviewer is not None:
        return _with_cookie(RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303),
                            request, token)
    login_token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {
        "message": message, "name": name, "login_csrf": login_token, "next": _safe_next(request.query_params.get("next")),
        "no_accounts": not has_accounts(_ws(request).db)}, status)
    response.set_cookie(auth.LOGIN_COOKIE, login_token, max_age=3600, httponly=True, samesite="strict",
                        secure=auth.is_https(request, _ws(request).settings.web), path="/login")
    return response


async def login(request: Request) -> Response:
    form = await read_form(request)
    state = request.app.state
    if state.signing_in >= MAX_SIGNING_IN:  # counted on the event loop: no lock needed
        return PlainTextResponse("too many sign-ins at once; try again in a moment", 503, headers={"Retry-After": "5"})
    state.signing_in += 1
    try:
        return await run_in_threadpool(_login, request, form)
    finally:
        state.signing_in -= 1


def _login(request: Request, form: FormData) -> Response:
    ws = _ws(request)
    if not auth.csrf_ok(request.cookies.get(auth.LOGIN_COOKIE), form.get("csrf")):
        return login_form(request, "the sign-in form expired; please try again", 403)
    name, password = str(form.get("username", "")).strip()[:64], str(form.get("password", ""))[:MAX_PASSWORD]
    throttle, address = request.app.state.throttle, auth.peer(request)
    if throttle.blocked(address, name):
        return login_form(request, "too many failed attempts; wait ten minutes and try again", 429, name)
    account = authenticate(ws.db, name, password) if name and password else None
    if account is None:
        if password:  # only a checked password counts: one without costs nothing and could flood the throttle
            throttle.fail(address, name)
        return login_form(request, "wrong name or password", 401, name)
    throttle.succeed(address, name)
    token, _ = auth.start_session(ws.db, account, ws.settings.web)
    response = RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)
    response.delete_cookie(auth.LOGIN_COOKIE, path="/login")
    return _with_cookie(response, request, token)


async def logout(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_logout, request, form)


def _logout(request: Request, form: FormData) -> Response:
    reviewer, _ = _signed_in(request)
    if reviewer is None:
        return RedirectResponse("/login", status_code=303)
    if not auth.csrf_ok(reviewer.csrf, form.get("csrf")):
        return PlainTextResponse("this form expired (CSRF check failed); reload the page and try again", 403)
    auth.end_session(_ws(request).db, reviewer)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/")
    return response


# The grid

def filter_from(params) -> tuple[ItemFilter, dict[str, str]]:
    """The queue filter from query or form fields, and the same fields cleaned for links (what `wlb queue` takes)."""
    clean = {k: str(params.get(k, "")).strip()[:100] for k in FILTER_KEYS if str(params.get(k, "")).strip()}
    clean = {k: ("1" if k in FLAGS else v) for k, v in clean.items() if k not in FLAGS or v in ("1", "on", "true")}
    flt = ItemFilter(status=clean.get("status", "pending"), channel=clean.get("channel"),
                     author=clean.get("author"), since=parse_since(clean["since"]) if "since" in clean else None,
                     **{k: k in clean for k in FLAGS})
    return flt, clean


def grid(request: Request) -> Response:
    reviewer, token = _signed_in(request)
    if reviewer is None:
        return _to_login(request)
    ws = _ws(request)
    try:
        flt, clean = filter_from(request.query_params)
        offset = max(0, int(request.query_params.get("offset", "0") or 0))
        if offset > actions.MAX_ID:
            raise ValueError(offset)
    except (UsageError, ValueError) as exc:
        flt, clean, offset = ItemFilter(), {}, 0
        error = actions.web_words(str(exc)) if isinstance(exc, UsageError) else "offset: a number"
    else:
        error = ""
    items, total = queue_page(ws.db, ws.store, flt, limit=PAGE, offset=offset, settings=ws.settings)
    pages = {"prev": urlencode({**clean, "offset": max(0, offset - PAGE)}) if offset else None,
             "next": urlencode({**clean, "offset": offset + PAGE}) if total > offset + len(items) else None}
    response = render(request, "grid.html", {
        "reviewer": reviewer, "items": items, "total": total, "offset": offset, "filters": clean, "error": error,
        "query": urlencode(clean), "pages": pages, "statuses": STATUS_CHOICES, "describe": flt.describe(),
        "channels": sorted(n for n, c in ws.settings.channels.items() if c.collect),
        "flash": request.app.state.flash.pop(reviewer.session_id, None),
    }, 400 if error else 200)
    return _with_cookie(response, request, token)


# One item

def item_page(request: Request) -> Response:
    reviewer, token = _signed_in(request)
    if reviewer is None:
        return _to_login(request)
    item_id = request.path_params["item_id"]
    back = back_query(request.query_params)
    ws = _ws(request)
    if not _exists(ws, item_id):
        return PlainTextResponse(f"no item #{item_id}", 404)
    holder = leases.claim(ws.db, item_id, reviewer.lease_owner, settings=ws.settings)
    flash = request.app.state.flash.pop(reviewer.session_id, None)
    return _with_cookie(show_item(request, reviewer, item_id, back, holder=holder, flash=flash), request, token)


def _exists(ws: Workspace, item_id: int) -> bool:
    if item_id > actions.MAX_ID:  # the URL takes any number of digits; the database does not
        return False
    with ws.db.session() as session:
        return session.get(Post, item_id) is not None


def back_query(params) -> str:
    """The grid this item was opened from (its filters and page), rebuilt from known fields only."""
    if "back" in params:
        params = dict(parse_qsl(str(params["back"])[:500]))
    try:
        _, clean = filter_from(params)
    except UsageError:
        clean = {}
    offset = str(params.get("offset", ""))
    return urlencode({**clean, **({"offset": offset} if offset.isdigit() else {})})


def show_item(request: Request, reviewer: Reviewer, item_id: int, back: str, *, holder=None, message: str = "",
              flash: str | None = None, refused: str | None = None, form: FormData | None = None,
              status: int = 200) -> Response:
    """The item page: the photo(s), text, credit, licence, duplicates side by side, history and the decision forms."""
    ws = _ws(request)
    view = get_item(ws.db, ws.store, item_id, settings=ws.settings)
    if holder is None:
        with ws.db.session() as session:
            post = session.get(Post, item_id)
            holder = leases.held_by_other(post, reviewer.lease_owner) if post else None
    return render(request, "item.html", {
        "reviewer": reviewer, "item": view, "others": _side_by_side(ws, view), "holder": holder, "back": back,
        "message": message, "refused": refused, "flash": flash, "form": form or {},
        "offer_override": bool(holder) or refused in ("changed", "leased"),
        "checked_targets": view["targets"] or ws.publish_channels(),
    }, status)


def _side_by_side(ws: Workspace, view: dict) -> list[dict]:
    """The items this one duplicates or was matched with, each with the relation in words and its first image."""
    notes: dict[int, str] = {}
    if view["duplicate_of"]:
        notes[view["duplicate_of"]] = f"this item is a duplicate of #{view['duplicate_of']}"
    for match in view["matches"]:
        notes.setdefault(match["id"], match["note"])
    for other in view["duplicates"]:
        notes.setdefault(other, f"#{other} is a duplicate of this item")
    shown = []
    for other_id, note in list(notes.items())[:MATCHES_SHOWN]:
        try:
            other = get_item(ws.db, ws.store, other_id)
        except UsageError:
            continue
        shown.append({"id": other_id, "note": note, "status": other["status"], "author": other["author"]["handle"],
                      "media": other["media"][:1], "candidate": any(m["id"] == other_id for m in view["matches"])})
    return shown


async def decide(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_decide, request, form)


def _decide(request: Request, form: FormData) -> Response:
    reviewer, _ = _signed_in(request)
    if reviewer is None:
        return PlainTextResponse("sign in first", 401)
    given = form.get("csrf") or request.headers.get("x-csrf-token")
    if not auth.csrf_ok(reviewer.csrf, given):
        return PlainTextResponse("this form expired (CSRF check failed); reload the page and try again", 403)
    item_id, verb = request.path_params["item_id"], request.path_params["verb"]
    ws = _ws(request)
    if verb == "renew":  # htmx, every minute while the page is open
        return PlainTextResponse("ok" if item_id <= actions.MAX_ID and leases.renew(ws.db, reviewer.lease_owner, item_id, settings=ws.settings)
                                 else "lost", 200)
    if verb not in actions.VERBS:
        return PlainTextResponse("no such action", 404)
    if not _exists(ws, item_id):  # else the refusal's page, which shows the item, has none to show
        return PlainTextResponse(f"no item #{item_id}", 404)
    back = back_query(form)
    try:
        message = actions.apply(ws, reviewer, item_id, verb, form)
    except actions.Refusal as refusal:
        return show_item(request, reviewer, item_id, back, message=refusal.message, refused=refusal.why,
                         form=form, status=refusal.status)
    request.app.state.flash[reviewer.session_id] = message
    if verb == "edit":  # still undecided: back to the item
        return RedirectResponse(f"/items/{item_id}?{urlencode({'back': back})}", status_code=303)
    return RedirectResponse(f"/?{back}", status_code=303)


def _media_route(serve: Callable[[Workspace, Request, int], Response]):
    def route(request: Request) -> Response:
        reviewer, token = _signed_in(request)
        if reviewer is None:
            return PlainTextResponse("sign in first", 401)
        media_id = request.path_params["media_id"]
        if media_id > actions.MAX_ID:
            return PlainTextResponse("no such image", status_code=404)
        return _with_cookie(serve(_ws(request), request, media_id), request, token)

    return route


media = _media_route(media_files.original)
thumb = _media_route(media_files.thumbnail)
