"""The deny-list `wlb forget` leaves: what it holds, and the checks collect and curate make against it.

Authors are kept as SHA-256 digests of their key or platform uid (never the handle itself); photos as their
perceptual hashes, compared within the duplicate merge distance, and the exact file's SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlmodel import Session, col, select

from core.hashbits import hamming
from core.models import Denied, Media, MediaState

FORGOTTEN = "forgotten at the photographer's request"


def author_digest(value: str) -> str:
    """The digest an author key or uid is denied by: the same for every spelling of its case."""
    return hashlib.sha256(f"wlb-forget|{value.strip().lower()}".encode()).hexdigest()


def denied_authors(session: Session, values: Iterable[str]) -> set[str]:
    """Which of these author keys and uids are denied."""
    digests = {author_digest(v): v for v in values if v}
    if not digests:
        return set()
    found = session.exec(select(Denied.author_digest).where(col(Denied.author_digest).in_(list(digests))))
    return {digests[d] for d in found}


def denied_images(session: Session) -> list[tuple[int | None, int | None, str | None]]:
    """Every denied photo: (pHash, dHash, sha256)."""
    return [tuple(row) for row in session.exec(select(Denied.phash, Denied.dhash, Denied.sha256)
                                               .where(col(Denied.author_digest).is_(None)))]


def is_denied(denied: list[tuple[int | None, int | None, str | None]], phash: int, dhash: int, sha256: str | None, *,
              phash_limit: int, dhash_limit: int) -> bool:
    """The same file, or both hashes within the merge distance of a denied photo's."""
    for d_phash, d_dhash, d_sha in denied:
        if sha256 and d_sha == sha256:
            return True
        if d_phash is not None and d_dhash is not None and hamming(phash, d_phash) <= phash_limit \
                and hamming(dhash, d_dhash) <= dhash_limit:
            return True
    return False


def denied_photo(session: Session, post_id: int, *, phash_limit: int, dhash_limit: int) -> bool:
    """One of this item's photos is a forgotten one: a copy another account posted before the forget, say."""
    denied = denied_images(session)
    if not denied:
        return False
    media = session.exec(select(Media).where(Media.post_id == post_id, Media.state == MediaState.OK))
    return any(m.phash is not None and m.dhash is not None
               and is_denied(denied, m.phash, m.dhash, m.sha256, phash_limit=phash_limit, dhash_limit=dhash_limit)
               for m in media)
