"""Secrets never reach anything wlb writes: distinctive secrets for every channel kind, every command run against
fakes on 127.0.0.1, and stdout, stderr, every log record, the database and everything under data/ searched."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.pipeline import Pipeline
from core.redact import MASK, RedactingFilter, install, redact
from app.scheduler import QUIET, configure_logging, nightly_job
from app.config import load_settings
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.flickr import FakeFlickr
from tests.fakes.mastodon import FakeMastodon
from tests.site import Site

T0 = datetime.now(UTC) - timedelta(hours=3)
SECRETS = {
    "WLB_MASTO_READ": "S3cr3tMastoRead-7f1c9e2a",
    "WLB_MASTO_PUB": "S3cr3tMastoPub-b4d2a817",
    "WLB_PF_READ": "S3cr3tPixelfed-0c9d55aa",
    "WLB_BSKY_PASSWORD": "s3cr-etbs-kyap-pwd1",
    "WLB_FLICKR_KEY": "S3cr3tFlickrKey9a8b7c6d",
}


# The function every message goes through.

@pytest.mark.parametrize(("text", "shown"), [
    ("GET https://api.flickr.com/services/rest/?method=flickr.photos.search&api_key=abc123&tags=x",
     f"GET https://api.flickr.com/services/rest/?method=flickr.photos.search&api_key={MASK}&tags=x"),
    ("https://m.example/api/v1/timelines/tag/x?access_token=tok&limit=40",
     f"https://m.example/api/v1/timelines/tag/x?access_token={MASK}&limit=40"),
    ("a?token=1&key=2&password=3&client_secret=4&api_sig=5&auth_token=6&oauth_signature=7",
     f"a?token={MASK}&key={MASK}&password={MASK}&client_secret={MASK}&api_sig={MASK}&auth_token={MASK}"
     f"&oauth_signature={MASK}"),
    ("https://user:hunter2@host.example/x", f"https://user:{MASK}@host.example/x"),
    ("Authorization: Bearer eyJhbGciOi.J9.x-y", f"Authorization: Bearer {MASK}"),
    ("https://m.example/tags/x?max_id=110&author=alice&limit=40", "https://m.example/tags/x?max_id=110&author=alice&limit=40"),
])
def test_redact_masks_secret_query_parameters_and_credentials(text, shown):
    assert redact(text) == shown


def test_redact_masks_known_secret_values_in_any_form():
    secret = "tok/en+with space"
    text = f"echo {secret} and tok%2Fen%2Bwith%20space and tok%2Fen%2Bwith+space"
    assert secret not in redact(text, [secret]) and "tok%2F" not in redact(text, [secret])
    assert redact("abc and abcdef", ["abc"]) == "abc and abcdef", "values too short to be secrets are left alone"


def test_the_filter_masks_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.secrets.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install(["hunter2-secret"], logger)
        logger.warning("HTTP Request: %s %s", "GET", "https://x.example/?api_key=abc&x=1")
        logger.warning("skipped @%s", "mallory\x1b]0;pwned\x07\x1b[2J\nforged line")
        try:
            raise ValueError("the token was hunter2-secret")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert f"api_key={MASK}&x=1" in written and "abc" not in written
    assert "hunter2-secret" not in written and "ValueError: the token was ***" in written
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    assert "skipped @mallory forged line\n" in written and "\x1b" not in written, "remote text is inert in logs"


# End to end: every channel kind, every command, everything written.

@pytest.fixture
def everything(tmp_path: Path, db_url: str, capsys, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with FakeMastodon(domain="fake.social", token=SECRETS["WLB_MASTO_READ"]) as masto, \
            FakeMastodon(flavor="pixelfed", domain="pix.example", token=SECRETS["WLB_PF_READ"]) as pix, \
            FakeMastodon(domain="community.social", token=SECRETS["WLB_MASTO_PUB"]) as community, \
            FakeBluesky(password=SECRETS["WLB_BSKY_PASSWORD"]) as bsky, \
            FakeFlickr(api_key=SECRETS["WLB_FLICKR_KEY"]) as flickr:
        site = Site(tmp_path, masto, community, capsys, db_url)
        site.write_config(origins=[pix.origin, bsky.origin, flickr.origin], channels=f"""
[channels.masto]
kind = "mastodon"
base_url = "{masto.base_url}"
token_env = "WLB_MASTO_READ"

[channels.pix]
kind = "pixelfed"
base_url = "{pix.base_url}"
token_env = "WLB_PF_READ"

[channels.bsky]
kind = "bluesky"
handle = "{bsky.handle}"
base_url = "{bsky.base_url}"
token_env = "WLB_BSKY_PASSWORD"

[channels.flickr]
kind = "flickr"
base_url = "{flickr.rest_url}"
token_env = "WLB_FLICKR_KEY"

[channels.community]
kind = "mastodon"
base_url = "{community.base_url}"
collect = false
publish = true
token_env = "WLB_MASTO_PUB"
""")
        masto.add_status(images=[images.jpeg(1, size=(900, 900))], created_at=T0, acct="alice")
        pix.add_status(images=[images.jpeg(2, size=(900, 900))], created_at=T0, acct="bob")
        bsky.add_post(images=[images.jpeg(3, size=(900, 900))], created_at=T0)
        flickr.add_photo(images.jpeg(4, size=(1600, 1200)), uploaded=T0, license="4")
        yield site


def _database_text(db_url: str) -> str:
    """Every row of every table as text (the SQLite file itself is searched with data/)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            rows = [repr(row) for table in tables for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))]
    finally:
        engine.dispose()
    return "\n".join(rows)


def _files_text(root: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "config.toml")


def test_no_secret_reaches_output_logs_database_or_data(everything, db_url):
    site = everything
    log_stream = io.StringIO()
    settings = load_settings(site.config)
    handler = configure_logging(settings, log_stream)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)  # every record of every library, DEBUG included
    # serve quiets httpx & co. to WARNING; the filter must still mask whatever they log when asked to
    quiet = {name: logging.getLogger(name).level for name in QUIET}
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG)
    written: list[str] = []
    try:
        for args in (["collect", "--json"], ["collect"], ["queue", "--json"], ["doctor"], ["doctor", "--json"]):
            result = site.wlb(*args)
            written += [result.out, result.err]
        queued = [item["id"] for item in site.queue("pending")]
        assert len(queued) >= 3, "the fakes' posts were collected: the secrets were really used"
        for args in (["approve", *map(str, queued)], ["publish", "--json"], ["run", "--json"], ["queue"]):
            result = site.wlb(*args)
            written += [result.out, result.err]
        assert site.community.published, "a repost was made with the publishing token"
        # `wlb serve`'s jobs, with its logging
        report = nightly_job(settings, lambda: Pipeline(settings))
        assert report is not None
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)
    logs = log_stream.getvalue()
    everything_written = "\n".join([*written, logs, _database_text(db_url)])
    files = _files_text(site.root)
    for name, secret in SECRETS.items():
        assert secret not in everything_written, f"${name} leaked"
        assert secret.encode() not in files, f"${name} leaked into a file under {site.root}"
    assert "HTTP Request: GET" in logs and f"api_key={MASK}" in logs, "httpx logged Flickr's URLs, key masked"
