"""Planning one repost: the text, the images and the idempotency key for one item on one channel."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlmodel import Session, select

from core.images import image_size, prepare_for_upload
from core.licenses import attribution
from core.media import MediaStore
from core.models import Author, Media, MediaState, Post, Publication
from core.settings import Settings
from publisher.base import Publisher, PublishRequest, UploadImage
from publisher.claim import last_decision
from publisher.credit import CreditAuthor, CreditInput, compose, credit_line, reviewer_credit


def idempotency_key(post: Post, channel: str) -> str:
    """Stable per item and channel, so every retry sends the same key."""
    return hashlib.sha256(f"wlb|{post.key}|{channel}".encode()).hexdigest()[:40]


@dataclass
class Planned:
    """What is (or would be, with --dry-run) sent for one item to one channel."""

    item: int
    channel: str
    text: str
    images: list[dict] = field(default_factory=list)
    idempotency_key: str = ""
    result: str = "planned"
    url: str | None = None
    at: str | None = None  # when the plan had it go (ISO, UTC): now, or the slot now falls in
    why: str | None = None  # queue, pinned, next, or retry (an interrupted attempt finished)


class Plans(list):
    """A publish run's Planned items in order, and `held`: what waits, why and until when (publisher.slots.Held)."""

    def __init__(self, planned: list[Planned] = ()):
        super().__init__(planned)
        self.held: list = []


@dataclass(frozen=True)
class Plan:
    """One item's request for one channel, with what the claim checks it against."""

    post: Post
    channel: str
    request: PublishRequest
    decided: int  # the item's newest decision when the request was built: the claim refuses if it moved
    publication: Publication | None  # the row an earlier attempt left, if any

    def planned(self, result: str = "planned", url: str | None = None) -> Planned:
        """What the run reports for this plan."""
        request = self.request
        return Planned(item=self.post.id, channel=self.channel, text=request.text,
                       idempotency_key=request.idempotency_key, result=result, url=url,
                       images=[{"mime": i.mime, "bytes": len(i.data), "alt": i.alt} for i in request.images])


def plan(session: Session, settings: Settings, store: MediaStore, publisher: Publisher, post: Post,
         channel: str) -> Plan:
    """The request for `post` on `channel`, the decision it was built from and its publication row so far."""
    return Plan(post=post, channel=channel, request=request(session, settings, store, publisher, post, channel),
                decided=last_decision(session, post.id),
                publication=session.exec(select(Publication).where(Publication.post_id == post.id,
                                                                   Publication.channel == channel)).first())


def request(session: Session, settings: Settings, store: MediaStore, publisher: Publisher, post: Post,
            channel: str) -> PublishRequest:
    """The text (caption, credit, link, within the target's limits) and the images prepared for upload."""
    author = session.get(Author, post.author_id)
    source = settings.channels.get(post.channel)
    credited = CreditAuthor(network=author.network, handle=author.handle, name=author.name, uid=author.uid)
    name = author.name
    if post.credit:  # a reviewer's: the collector could not tell who took the photo
        given = reviewer_credit(post.credit, platform=post.platform, network=author.network)
        credited, credit = given.author, given.line(publisher.network)
        name = "" if given.author else given.text
    elif post.needs_credit:
        raise ValueError("no credit: approve it with --credit")  # publishable() refuses earlier; never post uncredited
    else:
        credit = credit_line(credited, publisher.network, source_host=source.host if source else "")
    # X charges ~13x for a post with a link: there the original is linked only with link_original = true.
    links = getattr(publisher, "link_original", True)
    if post.license:  # licensed work (Flickr): the licence's attribution (title, author, licence), the link follows
        credit = attribution(post.title, name or credit, None, post.license, post.license_url if links else None)
    template = settings.channels[channel].template or settings.publish.template
    limits = publisher.limits()
    text = compose(template, CreditInput(caption=post.caption if post.caption is not None else post.text,
                                         credit=credit, url=post.url if links else "", hashtags=settings.hashtags,
                                         author_name=name), limits)
    images = []
    media = session.exec(select(Media).where(Media.post_id == post.id, Media.state == MediaState.OK).order_by(Media.position))
    for m in list(media)[: limits.max_media]:
        data, mime = prepare_for_upload(store.read(m.path), max_bytes=limits.max_image_bytes,
                                        max_pixels=limits.max_image_pixels)
        width, height = image_size(data)
        images.append(UploadImage(data=data, mime=mime, alt=(m.alt_text or "").strip() or settings.publish.alt_fallback,
                                  width=width, height=height))
    return PublishRequest(text=text, images=images, idempotency_key=idempotency_key(post, channel),
                          original_url=post.url, sensitive=post.sensitive, spoiler_text=post.spoiler_text,
                          language=post.language, visibility=settings.publish.visibility, author=credited)
