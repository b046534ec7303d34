"""wlb command line: parse arguments, call one service function, render the result."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.exceptions import TyperException

from core.errors import WlbError

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
Ids = Annotated[list[int], typer.Argument(help="item ids, as shown by 'wlb queue'")]
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
    """Collect, curate, then publish due approved items. Example: wlb run --json"""
    _run(ctx, json, publish=True)


def _run(ctx: typer.Context, json: bool, *, publish: bool) -> None:
    from app.output import ProgressBars
    from app.pipeline import Pipeline

    settings = _settings(ctx)
    with ProgressBars() as bars, Pipeline(settings, progress=bars) as pipeline:
        report = pipeline.run(publish=publish)
    _output(json).report(report)
    _exit_for(report)


@app.command()
def collect(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Collect and curate without publishing. Example: wlb collect"""
    _run(ctx, json, publish=False)


@app.command()
def queue(ctx: typer.Context, status: Annotated[str, typer.Option(help="pending|approved|rejected|duplicate|published|new|all")] = "pending",
          channel: Annotated[str | None, typer.Option(help="only items collected from this channel")] = None,
          limit: Annotated[int | None, typer.Option(min=1, help="at most this many (default 50; --json: all)")] = None,
          offset: Annotated[int, typer.Option(min=0, help="skip this many newest first (the next page: --offset 50)")] = 0,
          json: JsonOpt = False) -> None:
    """List queue items, newest first, one page at a time. Example: wlb queue --status all --offset 50"""
    from app.workspace import Workspace
    from curation.views import PAGE, queue_page

    with Workspace(_settings(ctx)) as ws:
        items, total = queue_page(ws.db, ws.store, status=status, channel=channel, offset=offset,
                                  limit=limit or (None if json else PAGE), settings=ws.settings)
    _output(json).items(items, more=total - offset - len(items), status=status, offset=offset)


@app.command()
def show(ctx: typer.Context, item: Annotated[int, typer.Argument(help="item id")], json: JsonOpt = False,
         preview: Annotated[bool, typer.Option(help="draw the image in the terminal")] = True) -> None:
    """Everything about one item: author, text, images, duplicates, history. Example: wlb show 12"""
    from app.workspace import Workspace
    from curation.views import get_item

    with Workspace(_settings(ctx)) as ws:
        view = get_item(ws.db, ws.store, item, settings=ws.settings)
    drawn = None
    if preview and not json:
        from app.preview import previews  # Pillow: only when drawing

        drawn = previews(view)
    _output(json).item(view, drawn)


@app.command()
def approve(ctx: typer.Context, items: Ids,
            to: Annotated[list[str] | None, typer.Option("--to", help="publishing channel (repeatable; default all)")] = None,
            caption: Annotated[str | None, typer.Option(help="caption to use instead of the original text")] = None,
            reason: Annotated[str, typer.Option(help="why (recorded in the history)")] = "",
            force: Annotated[bool, typer.Option("--force", help="approve despite a licence that needs permission "
                                                "(needs --reason)")] = False,
            credit: Annotated[str | None, typer.Option(help="who took the photo, for items that need credit: "
                                                       "'@user@host' or a name (recorded)")] = None) -> None:
    """Approve items for reposting. Example: wlb approve 12 14 --to community"""
    from app.workspace import Workspace
    from curation.queue import approve as approve_items

    with Workspace(_settings(ctx)) as ws:
        done = approve_items(ws.db, items, targets=to or [], publish_channels=ws.publish_channels(),
                             caption=caption, reason=reason, settings=ws.settings, force=force, credit=credit)
    _output().message(f"approved {', '.join(f'#{p.id}' for p in done)} → {', '.join(done[0].targets) or 'every publishing channel'}")


@app.command()
def reject(ctx: typer.Context, items: Ids, reason: Annotated[str, typer.Option(help="why (recorded)")] = "") -> None:
    """Reject items; re-posts of the same photo stay out of the queue. Example: wlb reject 13 --reason blurry"""
    from app.workspace import Workspace
    from curation.queue import reject as reject_items

    with Workspace(_settings(ctx)) as ws:
        done = reject_items(ws.db, items, reason=reason)
    _output().message(f"rejected {', '.join(f'#{p.id}' for p in done)}", "yellow")


@app.command()
def review(ctx: typer.Context) -> None:
    """Go through pending items one key at a time (a/r/s/o/q). Example: wlb review"""
    from app.review import review_loop
    from app.workspace import Workspace

    with Workspace(_settings(ctx)) as ws:
        review_loop(ws, _output())


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
    plans_output(_output(json), plans, report, dry_run=dry_run)
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
