"""What the public site shows: published reposts, newest first, with remote text cleaned and links checked."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session, col, func, select

from core.licenses import attribution
from core.models import Author, Media, MediaState, Post, Publication, PubState, Status
from core.safe_text import one_line, strip_control
from core.settings import Settings
from platforms.registry import NETWORK_NAMES
from publisher.credit import CreditAuthor, credit_line, reviewer_credit

# credit_line names the photographer for a target network; the site is no network, so every credit is
# written in words with its network ("Jane (@jane@social.example on Mastodon)"), as on a foreign target.
SITE = "site"
MAX_URL = 2048
_IN_CHUNK = 500  # ids per IN (...) list
# Noncharacters are parse errors in HTML and invalid in XML; strip_control already removed C0/C1 and bidi overrides.
_NONCHARACTERS = re.compile("[\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe"
                            "\U0003ffff\U0004fffe\U0004ffff\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe"
                            "\U0007ffff\U0008fffe\U0008ffff\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe"
                            "\U000bffff\U000cfffe\U000cffff\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe"
                            "\U000fffff\U0010fffe\U0010ffff\ufffd]")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}")


def clean(text: object, *, multiline: bool = False) -> str:
    """Remote text as characters HTML and XML both accept: no controls, bidi overrides or noncharacters."""
    return _NONCHARACTERS.sub("", strip_control(text, multiline=multiline)).strip()


def safe_url(url: str | None) -> str | None:
    """`url` if it is an http(s) link with a host and nothing a browser would read differently; else None."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL or url != clean(url) or any(c.isspace() or c in "<>\"'`\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


@dataclass(frozen=True)
class Repost:
    """Our repost on one channel."""

    channel: str
    network: str  # its kind in words: "Mastodon", "Bluesky"; "" for a channel no longer configured
    url: str | None


@dataclass(frozen=True)
class Source:
    """One stored image of an item, as the database names it (the path is checked before it is read)."""

    media_id: int
    path: str | None
    alt: str


@dataclass
class Entry:
    """One published item as the site shows it; every field is cleaned text or a checked URL."""

    id: int
    published_at: datetime
    text: str
    language: str | None
    who: str  # the photographer, in the publisher's credit wording
    credit: str  # the whole credit: "Photo by …" or, for licensed work, CC's Title-Author-Licence line
    original_url: str | None
    license: str | None
    license_url: str | None
    sensitive: bool
    spoiler_text: str
    reposts: list[Repost]
    sources: list[Source]
    images: list = field(default_factory=list)  # the builder's renditions, one per source


def published(session: Session, settings: Settings, *, limit: int | None = None) -> list[Entry]:
    """Items with status published and at least one published repost, newest repost first."""
    first = func.min(func.coalesce(Publication.published_at, Publication.created_at)).label("first")
    reposted = (select(Publication.post_id, first).where(Publication.state == PubState.PUBLISHED)
                .group_by(Publication.post_id).subquery())
    query = (select(Post, reposted.c.first).join(reposted, reposted.c.post_id == Post.id)
             .where(Post.status == Status.PUBLISHED).order_by(reposted.c.first.desc(), col(Post.id).desc()))
    rows = session.exec(query.limit(limit) if limit else query).all()
    posts = [post for post, _ in rows]
    authors, media, pubs = _load(session, posts)
    return [_entry(post, at, authors[post.author_id], media[post.id], pubs[post.id], settings) for post, at in rows]


def _load(session: Session, posts: list[Post]) -> tuple[dict[int, Author], dict[int, list[Media]],
                                                        dict[int, list[Publication]]]:
    """Authors, usable images and published reposts of `posts`, in a few queries."""
    authors: dict[int, Author] = {}
    media: dict[int, list[Media]] = defaultdict(list)
    pubs: dict[int, list[Publication]] = defaultdict(list)
    ids = [p.id for p in posts]
    for chunk in (ids[i:i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)):
        for m in session.exec(select(Media).where(col(Media.post_id).in_(chunk), Media.state == MediaState.OK)
                              .order_by(Media.post_id, Media.position)):
            media[m.post_id].append(m)
        for pub in session.exec(select(Publication).where(col(Publication.post_id).in_(chunk),
                                                          Publication.state == PubState.PUBLISHED)
                                .order_by(Publication.post_id, Publication.channel)):
            pubs[pub.post_id].append(pub)
    author_ids = sorted({p.author_id for p in posts})
    for chunk in (author_ids[i:i + _IN_CHUNK] for i in range(0, len(author_ids), _IN_CHUNK)):
        authors.update((a.id, a) for a in session.exec(select(Author).where(col(Author.id).in_(chunk))))
    return authors, media, pubs


def _entry(post: Post, at: datetime, author: Author, media: list[Media], pubs: list[Publication],
           settings: Settings) -> Entry:
    who, name = _who(post, author, settings)
    # The publisher's wording: a licensed work (Flickr) gets CC's attribution line, with the photographer's
    # name as the publisher writes it there (its link is shown beside it); else "Photo by" the credit line.
    credit = clean(attribution(post.title, (name or who) if post.license else who, None, post.license, None))
    language = post.language if post.language and _LANGUAGE.fullmatch(post.language) else None
    text = post.caption if post.caption is not None else post.text
    return Entry(id=post.id, published_at=at, text=clean(text, multiline=True), language=language, who=who,
                 credit=credit, original_url=safe_url(post.url), license=clean(post.license) or None,
                 license_url=safe_url(post.license_url), sensitive=post.sensitive,
                 spoiler_text=clean(post.spoiler_text), reposts=[_repost(p, settings) for p in pubs],
                 sources=[Source(m.id, m.path, clean(m.alt_text, multiline=True) or settings.publish.alt_fallback)
                          for m in media])


def _who(post: Post, author: Author, settings: Settings) -> tuple[str, str]:
    """(the credit as a repost on a foreign network words it, the name CC's attribution line uses)."""
    if post.credit:  # a reviewer's: the collector could not tell who took the photo
        try:
            given = reviewer_credit(post.credit, platform=post.platform, network=author.network)
        except ValueError:  # stored before today's checks: show it as the words it is
            return one_line(post.credit), one_line(post.credit)
        return clean(given.line(SITE)), "" if given.author else clean(given.text)
    credited = CreditAuthor(network=author.network, handle=author.handle, name=author.name, uid=author.uid)
    source = settings.channels.get(post.channel)
    try:
        who = credit_line(credited, SITE, source_host=source.host if source else "")
    except ValueError:  # a fediverse account whose channel left the config: no host to complete its handle
        who = f"{author.handle} on {NETWORK_NAMES.get(author.network, author.network)}"
    return clean(who), clean(author.name)


def _repost(pub: Publication, settings: Settings) -> Repost:
    channel = settings.channels.get(pub.channel)
    network = channel.kind.capitalize() if channel else ""  # mastodon → Mastodon, x → X
    return Repost(channel=clean(pub.channel), network=network, url=safe_url(pub.remote_url))
