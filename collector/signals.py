"""Opt-out signals as accounts and posts serve them, what [consent] says to do about each, and the "ask first"
marks they leave on stored items.

Fediverse conventions: #nobot / #noindex-style hashtags in a bio or profile field. Mastodon's account entity
(mastodon/mastodon app/serializers/rest/account_serializer.rb; mastodon/documentation content/en/entities/Account.md
at 2903485d): `noindex` (4.0, served for the instance's own accounts only: `attribute :noindex, if: :local?`),
`discoverable` (3.1, nullable: null is "never chose", not "no"), `indexable` (4.2 in the ActivityPub actor, 4.3 in
the entity; an opt-in to full-text search whose column defaults to false, so false is what nearly everyone serves:
its own switch, `not_indexable`, off by default). Pixelfed's AccountTransformer (8aae92d7) always says
`discoverable: true` and has no noindex/indexable: only the bio speaks there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlmodel import Session, col, select

from collector.html import html_to_text
from core.decisions import SYSTEM_ACTOR, lock_items
from core.models import Author, Decision, Post, Status
from core.posts import PostData
from core.settings import ConsentSettings

# Hashtag (lower case, no '#') → the [consent] switch it falls under.
BIO_TAGS = {"nobot": "nobot", "nobots": "nobot", "noindex": "noindex", "nosearch": "noindex", "noarchive": "noindex"}
MAX_BIO = 20_000  # characters of a bio read (Mastodon allows 500; a hostile instance sends more)
MAX_FIELDS = 16
MAX_TAGS = 64  # hashtags of one post kept for the no-repost markers
MAX_TAG = 100
# A whole hashtag: not inside a word or a URL ("x#nobot", "/#nobot"), not a longer tag ("#nobotanist").
_HASHTAG = re.compile(r"(?<![\w/#&])#(\w{1,100})(?!\w)")
Signal = tuple[str, str]  # (the [consent] switch, what showed it: "#nobot in their bio")


def hashtags(text: str) -> list[str]:
    """The whole hashtags in plain text, lower case, without '#'; full-width forms ("＃ＮｏＢｏｔ") fold as Mastodon
    folds them (Tag::Naming takes '＃', HashtagNormalizer applies NFKC)."""
    return [t.lower() for t in _HASHTAG.findall(unicodedata.normalize("NFKC", text))]


def _bio_tags(html: object, where: str) -> list[Signal]:
    if not isinstance(html, str) or not html:
        return []
    found = dict.fromkeys(t for t in hashtags(html_to_text(html[:MAX_BIO])) if t in BIO_TAGS)
    return [(BIO_TAGS[t], f"#{t} in {where}") for t in found]


def account_signals(account: object) -> tuple[Signal, ...]:
    """The opt-out signals of a Mastodon/Pixelfed Account entity as served."""
    if not isinstance(account, dict):
        return ()
    found = _bio_tags(account.get("note"), "their bio")
    fields = account.get("fields") if isinstance(account.get("fields"), list) else []
    for field in fields[:MAX_FIELDS]:
        if isinstance(field, dict):  # the name is plain text, the value HTML: "#NoBot | please" counts
            found += _bio_tags(field.get("name"), "their profile fields") + _bio_tags(field.get("value"),
                                                                                   "their profile fields")
    if account.get("noindex") is True:
        found.append(("noindex", "noindex: true on their account"))
    if account.get("discoverable") is False:  # None: never chose
        found.append(("not_discoverable", "discoverable: false on their account"))
    if account.get("indexable") is False:
        found.append(("not_indexable", "indexable: false on their account"))
    return tuple(dict.fromkeys(found))


def post_tags(values: object) -> tuple[str, ...]:
    """A platform's list of a post's hashtags, bounded: names only, lower case, without '#'."""
    names = [v.get("name") if isinstance(v, dict) else v for v in values] if isinstance(values, list) else []
    kept = [n.strip().lstrip("#").lower() for n in names if isinstance(n, str) and 0 < len(n) <= MAX_TAG]
    return tuple(dict.fromkeys(kept))[:MAX_TAGS]


def marker_signals(post: PostData, markers: Iterable[str]) -> list[Signal]:
    """[consent] no_repost_markers the post carries: a '#tag' marker as a whole hashtag of its text or tags, any
    other marker as whole words of its text; case does not matter."""
    tags = set(hashtags(post.text)) | {t for t in post.tags if isinstance(t, str)}
    found = []
    for marker in markers:
        word = marker.strip().lower()
        if word.startswith("#"):
            hit = word[1:] in tags
        else:
            hit = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", post.text.lower()) is not None
        if hit:
            found.append(("no_repost", f"{marker.strip()} in the post"))
    return found


def decide(post: PostData, consent: ConsentSettings) -> tuple[str | None, list[str]]:
    """(why the post is skipped, or None; the signals to ask first about), as the [consent] switches say."""
    signals = [s for s in post.author.signals if isinstance(s, tuple) and len(s) == 2]
    asks = []
    for switch, what in [*signals, *marker_signals(post, consent.no_repost_markers)]:
        action = getattr(consent, switch, "skip")  # a signal without a switch is honoured
        if action == "skip":
            return f"opt-out signal ({what})", []
        if action == "ask" and what not in asks:
            asks.append(what)
    return None, asks


def account_asks(post: PostData, consent: ConsentSettings) -> list[str]:
    """The author's account signals the config does not ignore ("skip" and "ask" alike): what their items stored
    before the signal appeared must now ask about. A post's own marker concerns that post only."""
    signals = [s for s in post.author.signals if isinstance(s, tuple) and len(s) == 2]
    return list(dict.fromkeys(what for switch, what in signals if getattr(consent, switch, "skip") != "ignore"))


def ask_first_new(session: Session, asks: dict[str, list[str]]) -> None:
    """Posts just stored whose signals the config turned into "ask first" (Post.ask_first)."""
    for post in session.exec(select(Post).where(col(Post.key).in_(list(asks)))) if asks else []:
        post.ask_first = asks[post.key]
        session.add(post)
    session.flush()


# Items not reposted yet, whose photographer's newer wish still matters.
NOT_YET_REPOSTED = (Status.NEW, Status.PENDING, Status.APPROVED, Status.AWAITING, Status.NO_ANSWER)


def ask_first_for_stored(session: Session, signalled: dict[str, list[str]]) -> list[str]:
    """An account that now shows opt-out signals (#nobot added to a bio): its items stored before, not reposted
    yet, ask first from now on, approved ones included (the publish gate holds them until the photographer
    agrees). Nothing is rejected for it: a person may already have their permission. Commits; a note per item."""
    rows = session.exec(select(Post.id, Author.key, Post.ask_first).join(Author, Author.id == Post.author_id)
                        .where(col(Author.key).in_(list(signalled)), col(Post.status).in_(NOT_YET_REPOSTED)))
    todo = {pid: key for pid, key, asked in rows if set(signalled[key]) - set(asked or [])}
    if not todo:
        return []
    notes = []
    for post in lock_items(session, sorted(todo)):  # under the rows' lock: a decision meanwhile is seen
        missing = [w for w in signalled[todo[post.id]] if w not in post.ask_first]
        if post.status not in NOT_YET_REPOSTED or not missing:
            continue
        post.ask_first = [*post.ask_first, *missing]
        session.add(Decision(post_id=post.id, action="ask-first", from_status=post.status, to_status=post.status,
                             actor=SYSTEM_ACTOR, reason="; ".join(missing)))
        session.add(post)
        notes.append(f"item #{post.id} ({post.status}): the photographer's account now shows {'; '.join(missing)}; "
                     f"it is reposted only once they agree")
    session.commit()
    return notes
