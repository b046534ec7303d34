"""Photographers who asked never to be collected (`wlb optout`): their handles as typed, as stored, as matched.

A handle is stored the way Author keys compare (core/posts.py AuthorData.key): lower case, per network. An account
is matched by its handle and by its stable id where the platform has one (a Bluesky DID, a Flickr NSID, an X
account id), so a renamed account stays opted out once its id is known.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.credit import parse_credit
from core.errors import UsageError
from core.models import Author, ConsentRequest, ConsentState, OptOut, Post

OPTED_OUT = "opted out"  # the reason collect counts a skipped post under, and the rejection's
REJECTED = "the photographer opted out"
MAX_HANDLE = 320
_FEDI = re.compile(r"@?(?P<user>[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)@(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::\d{1,5})?)")
_DID = re.compile(r"did:(?:plc:[a-z2-7]{24}|web:[a-z0-9.-]+(?:%3a\d{1,5})?)")
_BSKY_HANDLE = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
_SHAPES = {  # "network:" prefix → what follows it, as the platform spells an account
    "bluesky": _BSKY_HANDLE,
    "flickr": re.compile(r"\d{1,20}@n\d{1,4}|[a-z0-9_-]{1,64}"),  # an NSID, or the account's path alias
    "instagram": re.compile(r"@?[a-z0-9._]{1,30}"),
    "x": re.compile(r"@?[a-z0-9_]{1,15}|id:\d{1,20}"),  # a username, or the account's numeric id as "id:N"
}
EXAMPLES = ("@user@host (fediverse), did:plc:… or bluesky:alice.bsky.social, flickr:12345678@N01, "
            "instagram:@user, x:@user")


@dataclass(frozen=True)
class Handle:
    """One account, as stored: (network, handle) with the handle lower case and without '@'."""

    network: str
    handle: str

    def __str__(self) -> str:
        """As a person types it back (wlb optout remove)."""
        if self.network == "fediverse":
            return f"@{self.handle}"
        if self.network == "bluesky" and self.handle.startswith("did:"):
            return self.handle
        bare = self.network in ("instagram", "x") and not self.handle.startswith("id:")
        return f"{self.network}:{'@' if bare else ''}{self.handle}"


def ascii_host(handle: str) -> str:
    """user@host with the host as Mastodon serves a remote domain: punycode (TagManager#normalize_domain, Addressable's
    normalized_host), lower case, without the root's trailing dot; the handle unchanged if the host is no name."""
    user, at, host = handle.rpartition("@")
    try:
        host = host.rstrip(".").encode("idna").decode("ascii") if not host.isascii() else host.rstrip(".")
    except UnicodeError:
        return handle
    return f"{user}{at}{host.lower()}" if user else handle


def parse_handle(text: str) -> Handle:
    """A handle as typed → Handle; anything else is a UsageError naming the accepted forms."""
    raw = text.strip()
    value = raw.lower()
    if value.startswith("@") and value.count("@") == 2:
        value = ascii_host(value)
    if not value or len(value) > MAX_HANDLE:
        raise UsageError(f"{raw[:80]!r} is not a handle; write one of: {EXAMPLES}")
    if value.startswith("did:"):
        if _DID.fullmatch(value):
            return Handle("bluesky", value)
    elif (found := _FEDI.fullmatch(value)) and value.startswith("@"):
        return Handle("fediverse", f"{found['user']}@{found['host']}")
    else:
        network, _, rest = value.partition(":")
        shape = _SHAPES.get(network)
        if shape is not None and shape.fullmatch(rest):
            if network == "bluesky" and rest.startswith("did:"):
                return Handle("bluesky", rest)
            return Handle(network, rest.lstrip("@"))
        if network == "bluesky" and _DID.fullmatch(rest):
            return Handle("bluesky", rest)
    raise UsageError(f"{raw[:80]!r} is not a handle wlb can match; write one of: {EXAMPLES}")


def identities(network: str, handle: str, uid: str | None) -> set[str]:
    """What an account is matched by in the opt-out table: its handle, and its stable id where it has one."""
    found = {handle.lower().lstrip("@")} if handle else set()
    if network == "fediverse" and handle:
        found.add(ascii_host(handle.lower().lstrip("@")))
    if uid and network in ("bluesky", "flickr"):  # a DID, an NSID: no handle looks like one
        found.add(uid.lower())
    elif uid and network == "x" and uid.isdigit():  # X usernames can be all digits: the id is written "id:N"
        found.add(f"id:{uid}")
    return found


def opted_out(session: Session, authors: Iterable[tuple[str, str, str | None]]) -> set[tuple[str, str, str | None]]:
    """Which of these (network, handle, uid) accounts opted out."""
    wanted = {(a, i) for a in set(authors) for i in identities(*a)}
    if not wanted:
        return set()
    handles = {i for _, i in wanted}
    rows = set(session.exec(select(OptOut.network, OptOut.handle).where(col(OptOut.handle).in_(list(handles)))))
    return {a for a, i in wanted if (a[0], i) in rows}


def remember_ids(session: Session, authors: Iterable[tuple[str, str, str | None]], *, actor: str) -> None:
    """Opted-out accounts seen again: the identities their opt-out lacks (a DID, an NSID, an X id, recorded when only
    the handle was known) join their person, so a renamed account stays out. Flushed, not committed."""
    for network, handle, uid in authors:
        ids = identities(network, handle, uid)
        rows = list(session.exec(select(OptOut).where(OptOut.network == network, col(OptOut.handle).in_(list(ids)))))
        for missing in sorted(ids - {r.handle for r in rows}) if rows else []:
            try:
                if parse_handle(str(Handle(network, missing))) != Handle(network, missing):
                    continue  # only what reads back as a handle: the archive holds what remote servers sent
                with session.begin_nested():
                    session.add(OptOut(person=rows[0].person, network=network, handle=missing, reason=rows[0].reason,
                                       actor=actor))
            except (UsageError, IntegrityError):  # not a handle; another run recorded it a moment ago
                continue


def author_opted_out(session: Session, author_id: int) -> bool:
    """Whether this stored author opted out (on any of their linked handles)."""
    author = session.get(Author, author_id)
    return author is not None and bool(opted_out(session, [(author.network, author.handle, author.uid)]))


def _credited(post: Post, author: Author | None) -> tuple[str, str, None] | None:
    """The account a reviewer's --credit names ("@user@host", or "@user" on Instagram), as opt-outs match it."""
    try:
        handle = parse_credit(post.credit, platform=post.platform)[1] if post.credit else None
    except ValueError:
        return None
    if not handle:
        return None
    return ("fediverse", handle, None) if "@" in handle else ((author.network if author else post.platform), handle, None)


def opted_out_hold(session: Session, post: Post) -> str | None:
    """The publish gate's word for an item whose photographer opted out (after it was approved), or None: the
    author, or the account a reviewer credited for an item no source could credit (an Instagram hashtag find)."""
    credited = _credited(post, session.get(Author, post.author_id))
    if author_opted_out(session, post.author_id) or (credited and opted_out(session, [credited])):
        return f"{REJECTED} ('wlb optout list'); it is never reposted"
    return None


def ask_first_hold(session: Session, post: Post) -> str | None:
    """The publish gate's word for an item whose photographer's account asks to be asked first and who has not
    said yes (no granted consent request), or None. A reviewer's forced approval is the caller's to weigh."""
    if not post.ask_first or session.exec(select(ConsentRequest.id).where(
            ConsentRequest.post_id == post.id, ConsentRequest.state == ConsentState.GRANTED)).first() is not None:
        return None
    return (f"the photographer's account asks to be asked first ({'; '.join(post.ask_first)}); ask them, then "
            f"approve with --force --reason 'how they agreed'")
