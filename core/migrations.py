"""Ordered schema migrations, recorded in table wlb_schema.

Each migration is frozen once released: change the schema by appending a new one, never by
editing an old one. tests/core/test_migrations.py checks the result matches core/models.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import WlbError
from core.models import UTCDateTime

if TYPE_CHECKING:  # alembic is imported only when a migration is due: most commands find the schema current
    from alembic.operations import Operations


def _v1_initial(op: Operations) -> None:
    op.create_table(
        "author",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(512), nullable=False, unique=True),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(320), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("profile_url", sa.String(2048), nullable=False),
    )
    op.create_table(
        "post",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(2048), nullable=False, unique=True),
        sa.Column("channel", sa.String(128), nullable=False, index=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(256), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id"), nullable=False, index=True),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("sensitive", sa.Boolean, nullable=False),
        sa.Column("spoiler_text", sa.String, nullable=False),
        sa.Column("license", sa.String(128)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("collected_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("post.id"), index=True),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("caption", sa.String),
        sa.Column("targets", sa.JSON, nullable=False),
    )
    op.create_table(
        "media",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("remote_url", sa.String(2048)),
        sa.Column("alt_text", sa.String),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("refused_reason", sa.String),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), index=True),
        sa.Column("path", sa.String(512)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("format", sa.String(16)),
        sa.Column("bytes", sa.Integer),
        sa.Column("phash", sa.BigInteger),
        sa.Column("dhash", sa.BigInteger),
        sa.UniqueConstraint("post_id", "position"),
    )
    op.create_table(
        "decision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "publication",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False, index=True),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("remote_id", sa.String(256)),
        sa.Column("remote_url", sa.String(2048)),
        sa.Column("error", sa.String),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime),
        sa.UniqueConstraint("post_id", "channel"),
    )
    op.create_table(
        "cursor",
        sa.Column("channel", sa.String(128), primary_key=True),
        sa.Column("hashtag", sa.String(128), primary_key=True),
        sa.Column("watermark", sa.String(256), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def _v2_licences(op: Operations) -> None:
    """Flickr and Bluesky: licence link and photo title on posts, stable account ids (DIDs) on authors."""
    op.add_column("post", sa.Column("license_url", sa.String(2048)))
    op.add_column("post", sa.Column("title", sa.String))
    op.add_column("author", sa.Column("uid", sa.String(512)))


def _v3_hash_sets(op: Operations) -> None:
    """Every kind of perceptual hash per image, and the matches behind merges and possible duplicates."""
    op.add_column("media", sa.Column("hash_version", sa.Integer))
    op.add_column("media", sa.Column("hash_set", sa.LargeBinary))
    op.create_table(
        "image_match",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False, index=True),
        sa.Column("other_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False, index=True),
        sa.Column("media_id", sa.Integer, sa.ForeignKey("media.id"), nullable=False),
        sa.Column("other_media_id", sa.Integer, sa.ForeignKey("media.id"), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("phash_distance", sa.Integer, nullable=False),
        sa.Column("dhash_distance", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("post_id", "other_id"),
    )


def _v4_credit(op: Operations) -> None:
    """Items without a known photographer: flagged, and credited by a reviewer before publishing."""
    op.add_column("post", sa.Column("needs_credit", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("post", sa.Column("credit", sa.String(512)))


def _v5_queue_order(op: Operations) -> None:
    """Indexes in the queue's order (newest first), so a page of 100,000 items is read without sorting them all."""
    op.create_index("ix_post_status_created_at", "post", ["status", "created_at", "id"])
    op.create_index("ix_post_created_at", "post", ["created_at", "id"])


def _v6_wide_watermarks(op: Operations) -> None:
    """Cursor.watermark becomes text: collectors store one versioned JSON mark instead of capping it to 256."""
    # SQLite cannot alter a column's type: batch mode copies the table (a handful of rows); PostgreSQL alters it.
    with op.batch_alter_table("cursor") as batch:
        batch.alter_column("watermark", type_=sa.String(), existing_type=sa.String(256), existing_nullable=False)


def _v7_team_review(op: Operations) -> None:
    """Review leases on items (two sessions never show the same one) and the web view's accounts and sessions."""
    op.add_column("post", sa.Column("lease_owner", sa.String(200)))
    op.add_column("post", sa.Column("lease_until", UTCDateTime))
    op.create_table(
        "account",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )


def _v8_pins(op: Operations) -> None:
    """A reviewer's pin of an approved item: to a posting slot (`approve --at`) or to the next free one (`--next`)."""
    op.add_column("post", sa.Column("publish_at", UTCDateTime))
    op.add_column("post", sa.Column("publish_next", sa.Boolean, nullable=False, server_default=sa.false()))


def _v9_takedown(op: Operations) -> None:
    """Taking reposts down (publication.deleted_at) and the right to be forgotten: its audit and its deny-list."""
    op.add_column("publication", sa.Column("deleted_at", UTCDateTime))
    op.create_table(
        "forget_request",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("authors", sa.Integer, nullable=False),
        sa.Column("media_files", sa.Integer, nullable=False),
        sa.Column("reposts", sa.JSON, nullable=False),
        sa.Column("done_at", UTCDateTime),
    )
    op.create_table(
        "denied",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("forget_id", sa.Integer, sa.ForeignKey("forget_request.id"), nullable=False, index=True),
        sa.Column("phash", sa.BigInteger),
        sa.Column("dhash", sa.BigInteger),
        sa.Column("sha256", sa.String(64)),
        sa.Column("author_digest", sa.String(64), index=True),
    )


def _v10_consent(op: Operations) -> None:
    """Asking before reposting: the consent ledger, photographers' opt-outs, and per-item "ask first" signals."""
    op.add_column("post", sa.Column("ask_first", sa.JSON, nullable=False, server_default="[]"))
    op.create_table(
        "consent_request",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("post.id"), nullable=False, unique=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id"), index=True),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("asked_by", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.Column("target_url", sa.String(2048), nullable=False),
        sa.Column("request_text", sa.String, nullable=False),
        sa.Column("request_remote_id", sa.String(512)),
        sa.Column("request_url", sa.String(2048)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.String),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, index=True),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("answer_text", sa.String),
        sa.Column("answer_url", sa.String(2048)),
        sa.Column("answer_remote_id", sa.String(512)),
        sa.Column("answered_at", UTCDateTime),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("proof", sa.String),
    )
    op.create_table(
        "opt_out",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person", sa.Integer, nullable=False, index=True),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(512), nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("network", "handle"),
    )



def _v11_scale_indexes(op: Operations) -> None:
    """Indexes the large reads need (tests/core/test_query_plans.py): pending images, the queue's filters, approvals."""
    # Downloads and curation look for pending images every run: a partial index holds only those rows.
    op.create_index("ix_media_pending", "media", ["state", "post_id"], sqlite_where=sa.text("state = 'pending'"),
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_index("ix_post_channel_status", "post", ["channel", "status", "created_at", "id"])
    op.create_index("ix_decision_action", "decision", ["action", "post_id", "at"])
    # The queue's rarer filters, in the queue's order: items needing credit, items with a possible duplicate.
    op.create_index("ix_post_needs_credit", "post", ["status", "created_at", "id"],
                    sqlite_where=sa.text("needs_credit IS 1 AND credit IS NULL"),
                    postgresql_where=sa.text("needs_credit IS true AND credit IS NULL"))
    op.create_index("ix_image_match_possible", "image_match", ["post_id"], sqlite_where=sa.text("tier = 'possible'"),
                    postgresql_where=sa.text("tier = 'possible'"))
    # --needs-permission first lists the distinct stored licences: only items from licensed sources have one.
    op.create_index("ix_post_license", "post", ["license"], sqlite_where=sa.text("license IS NOT NULL"),
                    postgresql_where=sa.text("license IS NOT NULL"))


# Every change that removes an image from the duplicate index or alters one it holds bumps index_state.generation,
# whichever code (or hand-written SQL) makes it, so the index checks one row instead of summing every hash
# (curation/index_sync.py). Images joining the index are found by id instead: new media rows, decisions from `new`.
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER index_media_changed AFTER UPDATE ON media
       WHEN (OLD.phash IS NOT NEW.phash OR OLD.dhash IS NOT NEW.dhash OR OLD.hash_set IS NOT NEW.hash_set
             OR OLD.sha256 IS NOT NEW.sha256 OR OLD.post_id IS NOT NEW.post_id)
         AND EXISTS (SELECT 1 FROM post WHERE post.id IN (OLD.post_id, NEW.post_id) AND post.status != 'new')
       BEGIN UPDATE index_state SET generation = generation + 1; END""",
    """CREATE TRIGGER index_media_deleted AFTER DELETE ON media
       WHEN OLD.phash IS NOT NULL AND EXISTS (SELECT 1 FROM post WHERE post.id = OLD.post_id AND post.status != 'new')
       BEGIN UPDATE index_state SET generation = generation + 1; END""",
    """CREATE TRIGGER index_post_uncurated AFTER UPDATE OF status ON post
       WHEN OLD.status != 'new' AND NEW.status = 'new'
       BEGIN UPDATE index_state SET generation = generation + 1; END""",
    """CREATE TRIGGER index_post_deleted AFTER DELETE ON post WHEN OLD.status != 'new'
       BEGIN UPDATE index_state SET generation = generation + 1; END""",
)
_PG_TRIGGERS = (
    """CREATE FUNCTION wlb_index_changed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN UPDATE index_state SET generation = generation + 1; RETURN NULL; END $$""",
    """CREATE FUNCTION wlb_index_media_changed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN  -- NEW is NULL in a DELETE trigger
         IF EXISTS (SELECT 1 FROM post WHERE post.id IN (OLD.post_id, NEW.post_id) AND post.status <> 'new') THEN
           UPDATE index_state SET generation = generation + 1;
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER index_media_changed AFTER UPDATE ON media FOR EACH ROW
       WHEN (OLD.phash IS DISTINCT FROM NEW.phash OR OLD.dhash IS DISTINCT FROM NEW.dhash
             OR OLD.hash_set IS DISTINCT FROM NEW.hash_set OR OLD.sha256 IS DISTINCT FROM NEW.sha256
             OR OLD.post_id IS DISTINCT FROM NEW.post_id)
       EXECUTE FUNCTION wlb_index_media_changed()""",
    """CREATE TRIGGER index_media_deleted AFTER DELETE ON media FOR EACH ROW WHEN (OLD.phash IS NOT NULL)
       EXECUTE FUNCTION wlb_index_media_changed()""",
    """CREATE TRIGGER index_post_uncurated AFTER UPDATE OF status ON post FOR EACH ROW
       WHEN (OLD.status <> 'new' AND NEW.status = 'new') EXECUTE FUNCTION wlb_index_changed()""",
    """CREATE TRIGGER index_post_deleted AFTER DELETE ON post FOR EACH ROW WHEN (OLD.status <> 'new')
       EXECUTE FUNCTION wlb_index_changed()""",
)


def _v12_index_generation(op: Operations) -> None:
    """A counter the duplicate index checks at open: bumped by the database on every change to an indexed image."""
    op.create_table("index_state", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("generation", sa.BigInteger, nullable=False))
    op.execute("INSERT INTO index_state (id, generation) VALUES (1, 0)")
    for statement in _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


MIGRATIONS: dict[int, Callable[[Operations], None]] = {
    1: _v1_initial,
    2: _v2_licences,
    3: _v3_hash_sets,
    4: _v4_credit,
    5: _v5_queue_order,
    6: _v6_wide_watermarks,
    7: _v7_team_review,
    8: _v8_pins,
    9: _v9_takedown,
    10: _v10_consent,
    11: _v11_scale_indexes,
    12: _v12_index_generation,
}

_schema_table = sa.table("wlb_schema", sa.column("version", sa.Integer), sa.column("applied_at", sa.String))


def apply(conn: Connection) -> list[int]:
    """Apply, inside the caller's transaction and lock, every migration not yet recorded."""
    if not sa.inspect(conn).has_table("wlb_schema"):
        conn.execute(sa.text("CREATE TABLE wlb_schema (version INTEGER PRIMARY KEY, applied_at VARCHAR(40) NOT NULL)"))
    done = {row[0] for row in conn.execute(sa.text("SELECT version FROM wlb_schema"))}
    newest = max(MIGRATIONS)
    if done and max(done) > newest:
        raise WlbError(f"the database has schema version {max(done)}, newer than this wlb ({newest}); upgrade wlb")
    if not set(MIGRATIONS) - done:
        return []
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    op = Operations(MigrationContext.configure(conn))
    applied = []
    for version in sorted(set(MIGRATIONS) - done):
        MIGRATIONS[version](op)
        conn.execute(sa.insert(_schema_table).values(version=version, applied_at=datetime.now(UTC).isoformat()))
        applied.append(version)
    return applied
