"""wlb command line: parse arguments, call one service function, render the result."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.exceptions import TyperException

from core.errors import UsageError, WlbError

if TYPE_CHECKING:
    from app.output import Output
    from core.report import RunReport
    from core.settings import Settings

# Commands import what they use when they run: `wlb approve 12` needs the database, not the atproto SDK.

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="WeLoveBrussels curation pipeline: collect, dedup, review and repost community photos.")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", envvar="WLB_CONFIG",
                                                help="config file (default: ./config.toml)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
MAX_ID = 2**63 - 1  # the database's largest id: a longer number is a typo, not an item
Ids = Annotated[list[int] | None, typer.Argument(min=1, max=MAX_ID, help="item ids, as shown by 'wlb queue'")]
# The queue's filters, shared by queue, review and the web view (curation/filters.py); bulk decisions take --where.
ChannelOpt = Annotated[str | None, typer.Option(help="only items collected from this channel")]
PossibleOpt = Annotated[bool, typer.Option("--possible-duplicates", help="only items that look like another one")]
PermissionOpt = Annotated[bool, typer.Option("--needs-permission", help="only items whose licence needs permission")]
CreditOpt = Annotated[bool, typer.Option("--needs-credit", help="only items whose photographer is unknown")]
AuthorOpt = Annotated[str | None, typer.Option(help="only this author's items: @handle (on any host) or @handle@host")]
SinceOpt = Annotated[str | None, typer.Option(help="only items posted within this long: 30m, 12h, 2d, 1w")]
OverrideOpt = Annotated[bool, typer.Option("--override", help="decide even if someone decided or opened the item since "
                                           "(recorded in its history)")]
ExpectOpt = Annotated[str | None, typer.Option("--expect-status", help="refuse unless the item still has this status "
                                               "(what you saw in 'wlb queue')")]
WhereOpt = Annotated[str | None, typer.Option(help="every item matching filters instead of ids, e.g. "
                                              "'channel=flickr author=@dirk since=2d needs-credit possible-duplicates'")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="with --where: do not ask for confirmation")]
MAX_UNEXPECTED = 500  # characters of an unexpected error's message shown; WLB_DEBUG=1 shows all of it


def _settings(ctx: typer.Context, *, check_secrets: bool = True) -> Settings:
    from app.config import load_settings

    return load_settings(ctx.obj or Path("config.toml"), check_secrets=check_secrets)


def _output(json: bool = False) -> Output:
    from app.output import Output

    return Output(json_mode=json)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"wlb {version('wlb')}")
        except PackageNotFoundError:
            typer.echo("wlb (not installed as a package)")
        raise typer.Exit()


def _exit_for(report: RunReport) -> None:
    if report.failed:
        raise typer.Exit(1)


@app.callback()
def _root(ctx: typer.Context, config: ConfigOpt = None,
          version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and exit")] = False) -> None:
    ctx.obj = config


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="where to write config.toml and data/")] = Path(".")) -> None:
    """Write a commented config.toml and data/ (never overwrites). Example: wlb init ~/wlb"""
    from core.init import write_config

    _output().message(f"wrote {write_config(directory)}; edit it, then run 'wlb run'")


@app.command()
def run(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Collect, curate, ask photographers and read answers, then publish due items. Example: wlb run --json"""
    _run(ctx, json, publish=True)


def _run(ctx: typer.Context, json: bool, *, publish: bool) -> None:
    from app.output import ProgressBars, publish_summary
    from app.pipeline import Pipeline

    settings = _settings(ctx)
    with ProgressBars() as bars, Pipeline(settings, progress=bars) as pipeline:
        report = pipeline.run(publish=publish)
    _output(json).report(report)
    if pipeline.plans is not None:
        publish_summary(_output(json), pipeline.plans, timezone=settings.timezone)
    _exit_for(report)


@app.command()
def collect(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Collect and curate without publishing. Example: wlb collect"""
    _run(ctx, json, publish=False)


@app.command()
def queue(ctx: typer.Context, status: Annotated[str, typer.Option(help="pending|approved|awaiting-consent|consent-expired|"
                                                                  "rejected|duplicate|published|new|all")] = "pending",
          channel: ChannelOpt = None, possible_duplicates: PossibleOpt = False, needs_permission: PermissionOpt = False,
          needs_credit: CreditOpt = False, author: AuthorOpt = None, since: SinceOpt = None,
          limit: Annotated[int | None, typer.Option(min=1, max=MAX_ID, help="at most this many (default 50)")] = None,
          offset: Annotated[int, typer.Option(min=0, max=MAX_ID, help="skip this many newest first (the next page: --offset 50)")] = 0,
          after: Annotated[int | None, typer.Option(min=1, max=MAX_ID, help="the page after this item id (the last one "
                                                    "shown): stable while items arrive")] = None,
          all_: Annotated[bool, typer.Option("--all", help="every matching item, not one page (--json streams them)")] = False,
          json: JsonOpt = False) -> None:
    """List queue items, newest first, one page at a time. Example: wlb queue --needs-credit --since 2d"""
    from app.workspace import Workspace
    from curation.views import PAGE, QueuePage

    if all_ and limit:
        raise UsageError("--all and --limit: use one")
    flt = _filter(status, channel, possible_duplicates, needs_permission, needs_credit, author, since)
    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        page = QueuePage(ws.db, ws.store, flt, limit=None if all_ else limit or PAGE, offset=offset, after=after,
                         settings=ws.settings)
        _output(json).items(page, more=page.more, status=status, offset=offset, after=after)


def _filter(status: str, channel: str | None, possible_duplicates: bool, needs_permission: bool, needs_credit: bool,
            author: str | None, since: str | None):
    from curation.filters import ItemFilter, parse_since

    return ItemFilter(status=status, channel=channel, possible_duplicates=possible_duplicates,
                      needs_permission=needs_permission, needs_credit=needs_credit, author=author,
                      since=parse_since(since) if since else None)


@app.command()
def show(ctx: typer.Context, item: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="item id")], json: JsonOpt = False,
         preview: Annotated[bool, typer.Option(help="draw the image in the terminal")] = True) -> None:
    """Everything about one item: author, text, images, duplicates, history. Example: wlb show 12"""
    from app.workspace import Workspace
    from curation.views import get_item

    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        view = get_item(ws.db, ws.store, item, settings=ws.settings)
    drawn = None
    if preview and not json:
        from app.preview import previews  # Pillow: only when drawing

        drawn = previews(view)
    _output(json).item(view, drawn)


@app.command()
def approve(ctx: typer.Context, items: Ids = None,
            to: Annotated[list[str] | None, typer.Option("--to", help="publishing channel (repeatable; default all)")] = None,
            caption: Annotated[str | None, typer.Option(help="caption to use instead of the original text")] = None,
            reason: Annotated[str, typer.Option(help="why (recorded in the history)")] = "",
            force: Annotated[bool, typer.Option("--force", help="approve despite a licence that needs permission, "
                                                "without asking: say how they agreed in --reason")] = False,
            credit: Annotated[str | None, typer.Option(help="who took the photo, for items that need credit: "
                                                       "'@user@host' or a name (recorded)")] = None,
            expect_status: ExpectOpt = None, override: OverrideOpt = False, where: WhereOpt = None,
            yes: YesOpt = False,
            at: Annotated[str | None, typer.Option("--at", help="pin to this posting slot, local time: "
                                                   "'2026-12-05 12:30'")] = None,
            next_slot: Annotated[bool, typer.Option("--next", help="post at the next free slot")] = False) -> None:
    """Approve items for reposting. Example: wlb approve 12 14 --to community --expect-status pending"""
    from zoneinfo import ZoneInfo

    from core.slots import parse_local
    from curation.queue import approve as approve_items

    def decide(ws, ids, expected):
        pin = parse_local(at, ZoneInfo(ws.settings.timezone)) if at is not None else None
        return approve_items(ws.db, ids, targets=to or [], publish_channels=ws.publish_channels(), caption=caption,
                             reason=reason, settings=ws.settings, force=force, credit=credit, expected=expected,
                             override=override, publish_at=pin, publish_next=next_slot)

    _decide_command(ctx, "approve", items, where, expect_status, yes, decide,
                    one_item={"--force": force, "--credit": credit, "--caption": caption, "--override": override})


@app.command()
def reject(ctx: typer.Context, items: Ids = None, reason: Annotated[str, typer.Option(help="why (recorded)")] = "",
           expect_status: ExpectOpt = None, override: OverrideOpt = False, where: WhereOpt = None,
           yes: YesOpt = False) -> None:
    """Reject items; re-posts of the same photo stay out of the queue. Example: wlb reject --where 'since=1w channel=x'"""
    from curation.queue import reject as reject_items

    def decide(ws, ids, expected):
        return reject_items(ws.db, ids, reason=reason, expected=expected, override=override)

    _decide_command(ctx, "reject", items, where, expect_status, yes, decide, one_item={"--override": override})


def _decide_command(ctx: typer.Context, verb: str, items: list[int] | None, where: str | None,
                    expect_status: str | None, yes: bool, decide, one_item: dict[str, object]) -> None:
    from app.decide import decide_by_filter, decide_by_id
    from app.workspace import Workspace

    if bool(items) == bool(where):
        raise typer.BadParameter(f"give item ids or --where, not {'both' if items else 'neither'}")
    # What speaks for one photographer or overrules one colleague is said item by item, never over a filter.
    per_item = [flag for flag, value in one_item.items() if value] + (["--expect-status"] if expect_status else [])
    if where and per_item:
        raise typer.BadParameter(f"{per_item[0]} is decided item by item: give item ids, not --where (a bulk "
                                 f"decision leaves items that need permission, credit or a colleague's say, and "
                                 f"checks each against the status it was listed with)")
    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        if items:
            decide_by_id(ws, _output(), verb, items, expect_status, decide)
        else:
            decide_by_filter(ws, _output(), verb, where, yes, decide)


@app.command()
def review(ctx: typer.Context, channel: ChannelOpt = None, possible_duplicates: PossibleOpt = False,
           needs_permission: PermissionOpt = False, needs_credit: CreditOpt = False, author: AuthorOpt = None,
           since: SinceOpt = None) -> None:
    """Go through pending items one key at a time (? for the keys). Example: wlb review --channel flickr --since 2d"""
    from app.review import review_loop
    from app.workspace import Workspace

    flt = _filter("pending", channel, possible_duplicates, needs_permission, needs_credit, author, since)
    settings = _settings(ctx, check_secrets=False)
    if not sys.stdin.isatty():
        raise UsageError("wlb review needs a terminal (stdin is not one); use 'wlb queue' and 'wlb approve/reject', "
                         "or 'wlb web'")
    with Workspace(settings) as ws:
        review_loop(ws, _output(), flt)


@app.command()
def dedup(ctx: typer.Context, paths: Annotated[list[Path], typer.Argument(help="image files or folders")],
          json: JsonOpt = False) -> None:
    """Group image files into clusters of the same photo and find them in the archive. Example: wlb dedup inbox/"""
    from app.output import dedup_output
    from curation.files import dedup as dedup_files

    config = ctx.obj or Path("config.toml")
    settings = _settings(ctx) if Path(config).exists() else None  # works without an archive too
    dedup_output(_output(json), dedup_files(paths, settings))


@app.command()
def rehash(ctx: typer.Context, everything: Annotated[bool, typer.Option("--all", help="every image, not only outdated ones")] = False,
           json: JsonOpt = False) -> None:
    """Recompute image hashes after an upgrade; resumable. Example: wlb rehash"""
    from app.output import ProgressBars
    from app.workspace import Workspace
    from curation.rehash import rehash as rehash_archive

    with Workspace(_settings(ctx)) as ws, ProgressBars() as bars:
        report = rehash_archive(ws.db, ws.store, everything=everything,
                                on_start=lambda total: bars.stage("rehash", total), on_done=lambda n: bars.advance("rehash", n))
    out = _output(json)
    out.json(report) if json else out.message(f"hashed {report.hashed} images (hash set version {report.version})"
                                              + (f"; {len(report.failed)} unreadable" if report.failed else ""))
    for failure in report.failed if not json else []:
        out.message(f"  unreadable: {failure}", "yellow")


@app.command()
def publish(ctx: typer.Context, channel: Annotated[str | None, typer.Option(help="only this publishing channel")] = None,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would be sent; send nothing")] = False,
            json: JsonOpt = False) -> None:
    """Repost due approved items. Example: wlb publish --dry-run"""
    from app.output import plans_output
    from app.pipeline import Pipeline

    with Pipeline(_settings(ctx)) as pipeline:
        report, plans = pipeline.publish(channel=channel, dry_run=dry_run)
    plans_output(_output(json), plans, report, dry_run=dry_run, timezone=pipeline.settings.timezone)
    _exit_for(report)


@app.command()
def doctor(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Check config, secrets, storage and every channel's reachability and login. Example: wlb doctor"""
    from app.doctor import doctor as check_all
    from core.http import Http

    settings = _settings(ctx, check_secrets=False)
    with Http(settings.network) as http:
        findings = check_all(settings, http)
    _output(json).findings(findings)
    if not all(f.ok for f in findings):
        raise typer.Exit(1)


@app.command()
def serve(ctx: typer.Context) -> None:
    """Run on schedule (collect every N minutes, nightly full run) until stopped. Example: wlb serve"""
    from app.scheduler import serve as serve_forever

    serve_forever(_settings(ctx))


users = typer.Typer(no_args_is_help=True, help="Accounts that sign in to the web view ('wlb web').")
app.add_typer(users, name="user")
UserName = Annotated[str, typer.Argument(help="the reviewer's name, as the history records it")]


@users.command("add")
def user_add(ctx: typer.Context, name: UserName) -> None:
    """Create an account: asks twice on a terminal, else reads one line of stdin. Example: wlb user add alice"""
    from app.accounts import add_user, read_new_password
    from app.workspace import Workspace

    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        add_user(ws.db, name, read_new_password())
    _output().message(f"✓ user {name} added; they can sign in to 'wlb web'")


@users.command("list")
def user_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Every account, when it was added and how many browsers are signed in. Example: wlb user list"""
    from app.accounts import list_users
    from app.workspace import Workspace

    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        found = list_users(ws.db)
    out = _output(json)
    out.json(found) if json else out.message("\n".join(f"{u['name']}  added {u['created_at']}  signed in: {u['sessions']}"
                                                      for u in found) or "no users yet: 'wlb user add NAME'", "default")


@users.command("remove")
def user_remove(ctx: typer.Context, name: UserName) -> None:
    """Delete an account and sign out its browsers. Example: wlb user remove alice"""
    from app.accounts import remove_user
    from app.workspace import Workspace

    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        ended = remove_user(ws.db, name)
    _output().message(f"✓ user {name} removed" + (f"; {ended} browser session(s) signed out" if ended else ""), "yellow")


@app.command()
def web(ctx: typer.Context, host: Annotated[str | None, typer.Option(help="address to listen on (default: [web] host, "
                                                                      "127.0.0.1)")] = None,
        port: Annotated[int | None, typer.Option(min=1, max=65535, help="port (default: [web] port, 8080)")] = None) -> None:
    """The review queue in a browser for colleagues, until Ctrl-C. Example: wlb web --port 8080"""
    from app.web import serve

    settings = _settings(ctx, check_secrets=False)
    serve(settings, host or settings.web.host, port or settings.web.port, announce=_output().message)


@app.command("export-site")
def export_site(ctx: typer.Context, directory: Annotated[Path, typer.Argument(help="the site's folder (replaced whole)")],
                limit: Annotated[int | None, typer.Option(min=1, help="only the newest N reposts")] = None,
                base_url: Annotated[str | None, typer.Option(help="where the site is served, for the feeds' links")] = None,
                json: JsonOpt = False) -> None:
    """Write the static site of published reposts: wall, pages, RSS and JSON Feed. Example: wlb export-site public/"""
    from app.site import export_site as export, summary
    from app.workspace import Workspace

    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        report = export(ws, directory, limit=limit, base_url=base_url)
    summary(_output(json), report)
    if report.skipped:
        raise typer.Exit(1)


@app.command()
def report(ctx: typer.Context, since: Annotated[str, typer.Option(help="the period before now: 12h, 7d, 4w")] = "7d",
           json: JsonOpt = False, csv: Annotated[bool, typer.Option("--csv", help="rows of section,key,value")] = False,
           chart: Annotated[Path | None, typer.Option(help="also draw the figures to this PNG file")] = None) -> None:
    """What the team did: collected, merged, approved, rejected, published, queue age. Example: wlb report --since 4w"""
    from app.report import csv_rows, team_report
    from app.workspace import Workspace

    if json and csv:
        raise UsageError("choose one of --json and --csv")
    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        figures = team_report(ws, since)
    if chart:
        from app.chart import draw_chart  # matplotlib: only when drawing

        draw_chart(figures, chart)
    out = _output(json)
    if csv:
        return out.csv(csv_rows(figures))
    out.team_report(figures)
    if chart:
        out.message(f"chart written to {chart}", "dim")


@app.command()
def schedule(ctx: typer.Context, days: Annotated[int, typer.Option(min=1, max=60, help="how far ahead")] = 7,
             json: JsonOpt = False) -> None:
    """Which item goes to which channel when, and what waits, why and until when. Example: wlb schedule --days 3"""
    from app.output import schedule_output
    from app.pipeline import schedule as plan_schedule
    from app.workspace import Workspace

    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        schedule_output(_output(json), plan_schedule(ws, days=days))


@app.command()
def unpublish(ctx: typer.Context, item: Annotated[int, typer.Argument(help="item id")],
              reason: Annotated[str, typer.Option(help="why (recorded in the item's history)")],
              channel: Annotated[str | None, typer.Option(help="only this publishing channel")] = None,
              json: JsonOpt = False) -> None:
    """Delete our reposts of an item and keep it out of future runs. Example: wlb unpublish 12 --reason 'asked by author'"""
    from app.output import takedown_output
    from app.pipeline import Pipeline
    from app.takedown import unpublish as take_down

    with Pipeline(_settings(ctx)) as pipeline:
        result = take_down(pipeline, item, reason=reason, channel=channel)
    takedown_output(_output(json), result.to_dict())
    if result.failed:
        raise typer.Exit(1)


@app.command()
def forget(ctx: typer.Context, reason: Annotated[str, typer.Option(help="the request: who asked, how (kept in the audit)")],
           author: Annotated[str | None, typer.Option(help="the photographer's handle: all their items")] = None,
           item: Annotated[int | None, typer.Option(help="only this item")] = None, json: JsonOpt = False) -> None:
    """Forget a photographer: reposts, files and personal data go; their photos are refused from then on.
    Example: wlb forget --author dirk@mastodon.social --reason 'email of 2 Dec'"""
    from app.output import takedown_output
    from app.pipeline import Pipeline
    from app.takedown import forget as forget_them

    with Pipeline(_settings(ctx)) as pipeline:
        result = forget_them(pipeline, author=author, item=item, reason=reason)
    takedown_output(_output(json), result)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
def consent(ctx: typer.Context,
            item: Annotated[int | None, typer.Argument(min=1, max=MAX_ID, help="item id; none: the open requests")] = None,
            granted: Annotated[bool, typer.Option("--granted", help="record the photographer's yes")] = False,
            refused: Annotated[bool, typer.Option("--refused", help="record the photographer's no")] = False,
            proof: Annotated[str | None, typer.Option(help="how and when they answered (required with an answer)")] = None,
            author: Annotated[str | None, typer.Option(help="every request to this photographer's handle")] = None,
            json: JsonOpt = False) -> None:
    """The consent ledger: open requests, one item's, a photographer's; record an answer given elsewhere.
    Example: wlb consent 12 --granted --proof 'Instagram DM of 3 Dec: oui!'"""
    from app.consent import consent as ledger, consent_output
    from app.workspace import Workspace

    with Workspace(_settings(ctx, check_secrets=False)) as ws:
        result = ledger(ws, item=item, granted=granted, refused=refused, proof=proof, author=author)
    consent_output(_output(json), result)


optouts = typer.Typer(no_args_is_help=True, help="Photographers who asked never to be collected again.")
app.add_typer(optouts, name="optout")
HandleArg = Annotated[str, typer.Argument(help="@user@host, did:plc:…, bluesky:alice.bsky.social, flickr:NSID, "
                                               "instagram:@user or x:@user")]


def _archive(ctx: typer.Context, *, remote: bool = False):
    """The archive alone (a Workspace), or with the platforms' clients when reposts must be taken down."""
    from app.pipeline import Pipeline
    from app.workspace import Workspace

    return Pipeline(_settings(ctx)) if remote else Workspace(_settings(ctx, check_secrets=False))


@optouts.command("add")
def optout_add(ctx: typer.Context, handle: HandleArg,
               reason: Annotated[str, typer.Option(help="who asked and how (kept with the opt-out)")],
               also: Annotated[list[str] | None, typer.Option("--also", help="another handle of the same person")] = None,
               forget: Annotated[bool, typer.Option("--forget", help="also 'wlb forget' their past items")] = False,
               json: JsonOpt = False) -> None:
    """Never collect this person again; reject what of theirs waits.
    Example: wlb optout add @dirk@mastodon.social --also bluesky:dirk.bsky.social --reason 'email of 2 Dec'"""
    from app.optout import add
    from app.output import optout_output

    with _archive(ctx, remote=forget) as ws:
        result = add(ws, [handle, *(also or [])], reason=reason, forget=forget)
    if not optout_output(_output(json), result):
        raise typer.Exit(1)


@optouts.command("link")
def optout_link(ctx: typer.Context, handle: HandleArg, other: HandleArg, json: JsonOpt = False) -> None:
    """OTHER is the same person as the opted-out HANDLE: opt it out too.
    Example: wlb optout link @dirk@mastodon.social x:@dirk"""
    from app.optout import link
    from app.output import optout_output

    with _archive(ctx) as ws:
        optout_output(_output(json), link(ws, handle, other))


@optouts.command("list")
def optout_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Everyone who opted out, their linked handles and why. Example: wlb optout list --json"""
    from app.optout import listing
    from app.output import optout_list_output

    with _archive(ctx) as ws:
        optout_list_output(_output(json), listing(ws))


@optouts.command("remove")
def optout_remove(ctx: typer.Context, handle: HandleArg,
                  only: Annotated[bool, typer.Option("--only", help="only this handle, not the person's others")] = False,
                  json: JsonOpt = False) -> None:
    """They changed their mind: collect them again. Example: wlb optout remove @dirk@mastodon.social"""
    from app.optout import remove

    with _archive(ctx) as ws:
        result = remove(ws, handle, only=only)
    out = _output(json)
    out.json(result) if json else out.message(f"✓ collected again from now on: {', '.join(result['removed'])}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error reaches this one place and becomes one red line and an exit code."""
    try:
        code = app(args=argv, standalone_mode=False, prog_name="wlb")
        return code if isinstance(code, int) else 0
    except WlbError as exc:
        _debug()
        _output().error(str(exc))
        return exc.exit_code
    except typer.Abort:
        _output().error("aborted")
        return 130
    except TyperException as exc:  # bad command arguments
        _debug()
        ctx = getattr(exc, "ctx", None)
        command = f"wlb {ctx.info_name} --help" if ctx is not None and ctx.parent is not None else "wlb --help"
        _output().error(f"{exc.format_message()} (see '{command}')")
        return 2
    except KeyboardInterrupt:
        _output().error("interrupted; nothing collected is lost, the next run continues where this one stopped")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one choke point: no traceback unless asked
        _debug()
        # Its text may quote a remote answer or a request URL: one line, no control sequences, secrets masked.
        from core.redact import redact
        from core.safe_text import strip_control

        message = " ".join(redact(strip_control(str(exc))).split())
        message = message if len(message) <= MAX_UNEXPECTED else message[: MAX_UNEXPECTED - 1] + "…"
        _output().error(f"unexpected {type(exc).__name__}: {message}; rerun with WLB_DEBUG=1 for details and report it")
        return 1


def _debug() -> None:
    if os.environ.get("WLB_DEBUG") == "1":
        from core.redact import redact

        sys.stderr.write(redact(traceback.format_exc()))


if __name__ == "__main__":
    sys.exit(main())
