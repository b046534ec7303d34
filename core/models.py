"""Database tables. Uniqueness that matters is a constraint here, not a check in code."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, DateTime, Index, LargeBinary, TypeDecorator, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores UTC without zone (SQLite keeps none) and always returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Status(StrEnum):
    NEW = "new"  # collected, not curated yet
    PENDING = "pending"  # waiting for a person
    APPROVED = "approved"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    PUBLISHED = "published"
    # Consent (core/consent.py): approved by a person for a channel whose policy asks the photographer first.
    AWAITING = "awaiting-consent"  # the request is planned, sent, or to be made by hand; the answer decides
    NO_ANSWER = "consent-expired"  # asked, no answer within [consent] expire_days: a person decides again


class ConsentState(StrEnum):
    """Where one permission request stands (ConsentRequest.state)."""

    PLANNED = "planned"  # the next run sends it
    SENDING = "sending"  # written, committed, before the remote call: a rerun finds or finishes it, never sends twice
    SENT = "sent"  # waiting for the photographer's answer
    MANUAL = "manual"  # the platform forbids replies to found posts: a person asks, `wlb consent ID` records it
    UNCLEAR = "unclear"  # the photographer answered something that is neither yes nor no: a person reads it
    GRANTED = "granted"
    REFUSED = "refused"
    EXPIRED = "expired"  # no answer in time
    CANCELLED = "cancelled"  # the item was rejected or its approval undone before an answer
    FAILED = "failed"  # could not be sent (the post is gone, replies closed); the error says why


class MediaState(StrEnum):
    PENDING = "pending"
    OK = "ok"
    REFUSED = "refused"


class PubState(StrEnum):
    PENDING = "pending"  # row and idempotency key written; the call may or may not have happened
    PUBLISHED = "published"
    FAILED = "failed"  # gave up on this target; reported
    # Taking a repost down (publisher/unpublish.py): DELETING is written, committed, before the remote delete, so a
    # rerun after a crash finishes it; BY_HAND: the platform's API cannot delete it (Instagram), a person must.
    DELETING = "deleting"
    DELETED = "deleted"
    BY_HAND = "delete-by-hand"


class Author(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=512)
    network: str = Field(max_length=32)
    handle: str = Field(max_length=320)
    name: str = Field(default="", max_length=512)
    profile_url: str = Field(default="", max_length=2048)
    uid: str | None = Field(default=None, max_length=512)  # the platform's stable account id (a Bluesky DID)


class Post(SQLModel, table=True):
    """A collected post: the review queue's item."""

    # The queue's order (newest first), with and without a status: a page is read without sorting the archive.
    __table_args__ = (Index("ix_post_status_created_at", "status", "created_at", "id"),
                      Index("ix_post_created_at", "created_at", "id"),
                      Index("ix_post_channel_status", "channel", "status", "created_at", "id"),
                      Index("ix_post_needs_credit", "status", "created_at", "id",
                            sqlite_where=text("needs_credit IS 1 AND credit IS NULL"),
                            postgresql_where=text("needs_credit IS true AND credit IS NULL")),
                      Index("ix_post_license", "license", sqlite_where=text("license IS NOT NULL"),
                            postgresql_where=text("license IS NOT NULL")))

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=2048)
    channel: str = Field(index=True, max_length=128)
    platform: str = Field(max_length=32)
    remote_id: str = Field(max_length=256)
    url: str = Field(max_length=2048)
    author_id: int = Field(foreign_key="author.id", index=True)
    text: str = ""
    language: str | None = Field(default=None, max_length=16)
    sensitive: bool = False
    spoiler_text: str = ""
    license: str | None = Field(default=None, max_length=128)  # e.g. "CC BY 2.0", where the platform says
    license_url: str | None = Field(default=None, max_length=2048)
    title: str | None = None  # the photo's own title, where the platform has one (Flickr)
    created_at: datetime = Field(sa_type=UTCDateTime)
    collected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=Status.NEW, index=True, max_length=16)
    duplicate_of: int | None = Field(default=None, foreign_key="post.id", index=True)
    reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    caption: str | None = None  # the reviewer's caption for the repost
    targets: list[str] = Field(default_factory=list, sa_type=JSON)  # channels chosen at approval
    needs_credit: bool = False  # no author could be determined; a reviewer must supply `credit`
    credit: str | None = Field(default=None, max_length=512)  # a reviewer's credit ("@user@host" or a name)
    # Who is looking at this item in `wlb review` or the web view, and until when (curation/leases.py):
    # another session skips it; a decision by someone else is refused until the lease ends, or --override.
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A reviewer's pin (`wlb approve --at/--next`): the slot this item goes at, or "the next free slot".
    publish_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_next: bool = False
    # Opt-out signals the config turned into "ask first" (e.g. "#nobot in their bio"): approval asks whatever the
    # channel's consent policy (core/consent.py).
    ask_first: list[str] = Field(default_factory=list, sa_type=JSON)


class Media(SQLModel, table=True):
    # Only the pending images (downloads and curation look for them every run), not the whole table (migration 11).
    __table_args__ = (UniqueConstraint("post_id", "position"),
                      Index("ix_media_pending", "state", "post_id", sqlite_where=text("state = 'pending'"),
                            postgresql_where=text("state = 'pending'")))

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    position: int = 0
    url: str = Field(max_length=2048)
    remote_url: str | None = Field(default=None, max_length=2048)
    alt_text: str | None = None
    state: str = Field(default=MediaState.PENDING, max_length=16)
    refused_reason: str | None = None
    attempts: int = 0  # failed download attempts; refused after MAX_DOWNLOAD_ATTEMPTS
    sha256: str | None = Field(default=None, index=True, max_length=64)
    path: str | None = Field(default=None, max_length=512)
    width: int | None = None
    height: int | None = None
    format: str | None = Field(default=None, max_length=16)
    bytes: int | None = None
    # 64-bit perceptual hashes stored as signed integers: compact and fast to load in bulk.
    phash: int | None = Field(default=None, sa_type=BigInteger)
    dhash: int | None = Field(default=None, sa_type=BigInteger)
    # Every kind of hash (core.fingerprints records) and the version that computed them; NULL: hash again.
    hash_version: int | None = None
    hash_set: builtins.bytes | None = Field(default=None, sa_type=LargeBinary)  # `bytes` is a column here


# ImageMatch.tier: merged automatically, or a person decides.
AUTO, POSSIBLE = "duplicate", "possible"


class ImageMatch(SQLModel, table=True):
    """Why an item was merged into, or flagged as a possible duplicate of, an earlier one."""

    __tablename__ = "image_match"
    __table_args__ = (UniqueConstraint("post_id", "other_id"),
                      Index("ix_image_match_possible", "post_id", sqlite_where=text("tier = 'possible'"),
                            postgresql_where=text("tier = 'possible'")))

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)  # the item curated later
    other_id: int = Field(foreign_key="post.id", index=True)
    media_id: int = Field(foreign_key="media.id")
    other_media_id: int = Field(foreign_key="media.id")
    rule: str = Field(max_length=32)  # same photo, framed, cropped, edges edited, mirrored, rotated, same file
    tier: str = Field(max_length=16)  # duplicate (merged automatically) or possible (a person decides)
    phash_distance: int = 0
    dhash_distance: int = 0
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Decision(SQLModel, table=True):
    """Every status change of an item: who, when, why."""

    # The publish planner reads the approvals of every item by action (publisher/slots.py).
    __table_args__ = (Index("ix_decision_action", "action", "post_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    action: str = Field(max_length=32)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    actor: str = Field(max_length=128)
    reason: str = ""
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Account(SQLModel, table=True):
    """A reviewer who signs in to the web view (`wlb user add`): history records this name."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    password_hash: str = Field(max_length=256)  # scrypt, with its parameters and salt (app/accounts.py)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, the database only its SHA-256."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class Publication(SQLModel, table=True):
    """One repost of one item to one channel; written before the remote call."""

    __table_args__ = (UniqueConstraint("post_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    channel: str = Field(max_length=128)
    idempotency_key: str = Field(unique=True, max_length=128)
    state: str = Field(default=PubState.PENDING, max_length=16)
    attempts: int = 0
    text: str = ""
    remote_id: str | None = Field(default=None, max_length=256)
    remote_url: str | None = Field(default=None, max_length=2048)
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when our repost was taken down


class ForgetRequest(SQLModel, table=True):
    """A photographer's request to be forgotten (`wlb forget`): who asked, when, and what was removed, in counts and
    ids only; nothing of theirs."""

    __tablename__ = "forget_request"

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=128)  # the reviewer who recorded the request
    reason: str = ""
    scope: str = Field(max_length=16)  # "author" or "item"
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    items: list[int] = Field(default_factory=list, sa_type=JSON)  # the item ids whose personal data went
    authors: int = 0  # author rows made anonymous
    media_files: int = 0  # image files deleted from the media folder
    reposts: dict = Field(default_factory=dict, sa_type=JSON)  # channel -> how many of our reposts were taken down
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None: interrupted, `wlb forget` again


class Denied(SQLModel, table=True):
    """The deny-list a forget leaves: a photo's perceptual hashes, or an author's key or uid as a SHA-256 digest."""

    id: int | None = Field(default=None, primary_key=True)
    forget_id: int = Field(foreign_key="forget_request.id", index=True)
    phash: int | None = Field(default=None, sa_type=BigInteger)
    dhash: int | None = Field(default=None, sa_type=BigInteger)
    sha256: str | None = Field(default=None, max_length=64)  # the exact file
    author_digest: str | None = Field(default=None, index=True, max_length=64)


class ConsentRequest(SQLModel, table=True):
    """The consent ledger: one permission request per item (never twice to the same post), the exact words sent
    and received, and their links. `wlb forget` keeps only the audit columns (ids, channel, state, times)."""

    __tablename__ = "consent_request"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", unique=True)
    author_id: int | None = Field(default=None, foreign_key="author.id", index=True)  # None once forgotten
    channel: str = Field(max_length=128)  # our account that asks (a channel with a token on the post's network)
    platform: str = Field(max_length=32)
    state: str = Field(default=ConsentState.PLANNED, max_length=16, index=True)
    language: str = Field(default="en", max_length=8)
    asked_by: str = Field(max_length=128)  # the reviewer whose approval made the request
    idempotency_key: str = Field(unique=True, max_length=128)
    target_url: str = Field(default="", max_length=2048)  # the photographer's post we answer
    request_text: str = ""
    request_remote_id: str | None = Field(default=None, max_length=512)  # our reply (status id, at:// uri)
    request_url: str | None = Field(default=None, max_length=2048)
    attempts: int = 0
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)  # the hourly throttle counts these
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer_text: str | None = None  # the photographer's words, exactly
    answer_url: str | None = Field(default=None, max_length=2048)
    answer_remote_id: str | None = Field(default=None, max_length=512)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=128)  # "reply" (parsed), or the reviewer who recorded it
    proof: str | None = None  # a reviewer's note of how the answer was given (`wlb consent ID --proof`)


class OptOut(SQLModel, table=True):
    """A photographer who asked never to be collected (`wlb optout add`); linked handles share `person`."""

    __tablename__ = "opt_out"
    __table_args__ = (UniqueConstraint("network", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    person: int = Field(index=True)  # the first row's id for a person; every handle of theirs carries it
    network: str = Field(max_length=32)  # as Author.network: fediverse, bluesky, flickr, instagram, x, web
    handle: str = Field(max_length=512)  # lower case, as Author keys compare (a handle, or a DID / account id)
    reason: str = ""
    actor: str = Field(max_length=128)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Cursor(SQLModel, table=True):
    """Per channel and hashtag: where collection stands (core/watermark.py encodes it; bounded by core/bounds.py)."""

    channel: str = Field(primary_key=True, max_length=128)
    hashtag: str = Field(primary_key=True, max_length=128)
    watermark: str
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IndexState(SQLModel, table=True):
    """One row: bumped by database triggers whenever an image the duplicate index holds changes (migration 12)."""

    __tablename__ = "index_state"

    id: int | None = Field(default=None, primary_key=True)
    generation: int = Field(default=0, sa_type=BigInteger)
