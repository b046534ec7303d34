"""Before crediting anyone: ask the post's origin whether it still says what we stored (author, image)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from core.posts import OriginClaim, OriginSource
from core.media import MediaStore
from core.errors import PlatformError
from core.http import Http
from core.images import RefusedImage, inspect_image
from core.models import Author, Media, MediaState, Post
from core.settings import Settings
from core.fingerprints import hash_image
from core.hashbits import hamming


@dataclass(frozen=True)
class Verdict:
    """One of: fine (all None/False), deleted, a problem (the origin disagrees), or unconfirmed (ask again later)."""

    deleted: bool = False
    problem: str | None = None
    unconfirmed: str | None = None


def claim_of(session: Session, post: Post) -> OriginClaim:
    """What we are about to credit, as stored, for the origin to confirm."""
    author = session.get(Author, post.author_id)
    media = session.exec(select(Media).where(Media.post_id == post.id).order_by(Media.position))
    urls = tuple(u for m in media for u in (m.url, m.remote_url) if u)
    return OriginClaim(key=post.key, remote_id=post.remote_id, url=post.url, author_handle=author.handle,
                       author_uid=author.uid, media_urls=urls, reviewer_credit=post.credit)


def check_origin(session: Session, settings: Settings, store: MediaStore, http: Http | None,
                 source: OriginSource | None, post: Post) -> Verdict:
    """The origin's verdict on one item; a PlatformError from asking it propagates (a channel error)."""
    if source is None:
        return Verdict(unconfirmed=f"channel {post.channel!r} that collected it is no longer configured, so its "
                                   f"origin cannot be asked")
    check = source.verify(claim_of(session, post))
    if check.deleted:
        return Verdict(deleted=True)
    if check.problem:
        return Verdict(problem=check.problem)
    if not check.verified:
        return Verdict(unconfirmed="its origin could not confirm the author and images")
    if check.image_urls:
        return _compare_images(session, settings, store, http, post, check.image_urls)
    return Verdict()


def _compare_images(session: Session, settings: Settings, store: MediaStore, http: Http | None, post: Post,
                    urls: tuple[str, ...]) -> Verdict:
    """Each of our images against the origin's at the same position, by perceptual hash within the merge
    distance: a forger could put the real photo first and its own second."""
    ours = list(session.exec(select(Media).where(Media.post_id == post.id, Media.state == MediaState.OK)
                             .order_by(Media.position)))
    if not ours or http is None:
        return Verdict(unconfirmed="no stored image to compare with the origin's")
    if len(ours) > len(urls):
        return Verdict(problem=f"we stored {len(ours)} images, its origin has {len(urls)}")
    for position, (media, url) in enumerate(zip(ours, urls, strict=False), 1):
        verdict = _compare_image(settings, store, http, media, url)
        if verdict.problem:
            return Verdict(problem=f"image {position}: {verdict.problem}")
        if verdict.unconfirmed:
            return verdict
    return Verdict()


def _compare_image(settings: Settings, store: MediaStore, http: Http, ours: Media, url: str) -> Verdict:
    """One stored image against one of the origin's, by perceptual hash within the dedup merge distance."""
    try:
        data = http.download(url, max_bytes=settings.network.max_media_bytes)
    except PlatformError as exc:
        return Verdict(unconfirmed=f"could not fetch the origin's image ({exc})")
    try:
        inspect_image(data, max_pixels=settings.network.max_pixels, max_bytes=settings.network.max_media_bytes)
        theirs = hash_image(data).phash
    except RefusedImage as exc:
        return Verdict(problem=f"the origin's image is not a usable image ({exc.reason})")
    mine = ours.phash if ours.phash is not None else hash_image(store.read(ours.path)).phash
    distance, limit = hamming(mine, theirs), settings.dedup.phash_distance
    if distance > limit:
        return Verdict(problem=f"its image is not the one we stored (pHash distance {distance}, limit {limit})")
    return Verdict()
