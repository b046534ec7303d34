"""Every remote field of a collected post checked and bounded before it reaches the database.

Collectors parse what platforms send; this is the one place that makes sure the result fits the columns
(core/models.py) and holds together, whatever a hostile or broken server put in it. What identifies a post
(key, ids, url, author handle, media url) must be valid or the post is skipped with a reason; what only
decorates it (names, texts, alt texts) is cut to size.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx

from core.posts import AuthorData, MediaData, PostData

URL_MAX = 2048  # Post.url, Post.key, Media.url, Author.profile_url, Post.license_url
REMOTE_ID_MAX = 256  # Post.remote_id
WATERMARK_MAX = 8_192  # Cursor.watermark is text: this keeps one channel's mark from filling a row
HANDLE_MAX = 320  # Author.handle
AUTHOR_KEY_MAX = 512  # Author.key, Author.uid
NAME_MAX = 512  # Author.name
NETWORK_MAX = 32  # Author.network
LANGUAGE_MAX = 16  # Post.language
LICENSE_MAX = 128  # Post.license
# Text columns have no size in the schema; these keep one post from filling the database or a screen.
TEXT_MAX = 20_000  # Mastodon's default is 500 characters, Pixelfed's 2,000, Flickr descriptions run longer
SPOILER_MAX = 2_000
TITLE_MAX = 1_000
ALT_MAX = 5_000  # Mastodon allows 1,500 by default (MAX_DESCRIPTION_LENGTH), instances raise it
FLAG_MAX = 500
MEDIA_MAX = 20  # Mastodon allows 4 attachments, Pixelfed up to 20 (config pixelfed.max_album_length)
PIXELS_SIDE_MAX = 1_000_000

FUTURE_SLACK = timedelta(days=1)
# Posts dated before their platform existed are forged or broken: such a date must not make a copy look
# like the earliest one. Dates from the platforms' first public releases (rss: the format's early days).
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # when the caller does not say when its platform began


class Skip(Exception):
    """The post cannot be stored: its message is the reason counted in the channel summary."""


def _text(value: object, limit: int) -> str:
    """A decorative string: anything else becomes empty, NUL characters go (PostgreSQL refuses them), cut to size."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "")[:limit]


def _optional_text(value: object, limit: int) -> str | None:
    return _text(value, limit) or None


def _identity(value: object, limit: int, what: str) -> str:
    """A string that identifies something: present, within its column, no NUL; else the post is skipped."""
    if not isinstance(value, str) or not value.strip():
        raise Skip(f"malformed ({what} missing)")
    if len(value) > limit:
        raise Skip(f"malformed ({what} too long)")
    if "\x00" in value:
        raise Skip(f"malformed ({what} has a NUL character)")
    return value


def is_web_url(value: object) -> bool:
    """True for an absolute http(s) URL with a host, short enough for a URL column."""
    if not isinstance(value, str) or len(value) > URL_MAX or "\x00" in value or any(c.isspace() for c in value):
        return False
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _url(value: object, what: str) -> str:
    if not is_web_url(value):
        raise Skip(f"malformed ({what} not a valid http(s) URL)")
    return value  # type: ignore[return-value]


def _optional_url(value: object) -> str | None:
    return value if is_web_url(value) else None  # type: ignore[return-value]


def _size(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= PIXELS_SIDE_MAX:
        return None
    return value


def _author(author: object, *, uncredited: bool = False) -> AuthorData:
    if not isinstance(author, AuthorData):
        raise Skip("malformed (no author)")
    if uncredited and author.handle == "" and author.uid:  # a placeholder keyed by its uid; a reviewer credits it
        handle = ""
    else:
        handle = _identity(author.handle, HANDLE_MAX, "author handle")
    network = _identity(author.network, NETWORK_MAX, "author network")
    uid = author.uid
    if uid is not None:
        uid = _identity(uid, AUTHOR_KEY_MAX, "author id")
    bounded = dataclasses.replace(author, handle=handle, network=network, uid=uid,
                                  name=_text(author.name, NAME_MAX),
                                  profile_url=_optional_url(author.profile_url) or "",
                                  authoritative=author.authoritative is True)
    if len(bounded.key) > AUTHOR_KEY_MAX:
        raise Skip("malformed (author handle too long)")
    return bounded


def _media(media: object) -> MediaData:
    if not isinstance(media, MediaData):
        raise Skip("malformed (media)")
    return dataclasses.replace(media, url=_url(media.url, "media url"),
                               kind=media.kind if media.kind in ("image", "video", "gifv", "audio") else "unknown",
                               remote_url=_optional_url(media.remote_url),
                               alt_text=_optional_text(media.alt_text, ALT_MAX),
                               width=_size(media.width), height=_size(media.height))


def _date(value: object, kind: str, now: datetime, start: datetime) -> tuple[datetime, str | None]:
    """The post's date in UTC, clamped to now (and why) when it is in the future or before the platform."""
    if not isinstance(value, datetime):
        raise Skip("malformed (no date)")
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)  # a timestamp without a zone is read as UTC (issue 7)
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 with a positive offset, year 9999 with a negative one
        return now, "its date is out of range; shown with the collection time instead"
    if value > now + FUTURE_SLACK:
        return now, f"dated {value:%Y-%m-%d}, in the future; shown with the collection time instead"
    if value < start:
        return now, (f"dated {value:%Y-%m-%d}, before {kind} existed ({start:%Y-%m-%d}); shown with the "
                     f"collection time instead")
    return value, None


def bound_post(post: PostData, kind: str, now: datetime, *, launched: datetime = EARLIEST) -> PostData:
    """The post with every field checked and bounded; raise Skip with the reason when it cannot be stored.

    `launched`: when the `kind` platform began (platforms/registry.py); a post dated earlier is forged or broken.
    """
    if not isinstance(post, PostData):
        raise Skip("malformed (not a post)")
    created_at, date_flag = _date(post.created_at, kind, now, launched)
    media = post.media if isinstance(post.media, tuple | list) else ()
    flags = [_text(f, FLAG_MAX) for f in (post.flags if isinstance(post.flags, tuple | list) else ())]
    language = post.language if isinstance(post.language, str) and 0 < len(post.language) <= LANGUAGE_MAX \
        and "\x00" not in post.language else None
    return dataclasses.replace(
        post,
        key=_identity(post.key, URL_MAX, "key"),
        remote_id=_identity(post.remote_id, REMOTE_ID_MAX, "id"),
        url=_url(post.url, "post url"),
        author=_author(post.author, uncredited=post.needs_credit is True),
        created_at=created_at,
        text=_text(post.text, TEXT_MAX),
        language=language,
        # Anything but a clear False is treated as sensitive: a reviewer looks before anyone else does.
        sensitive=post.sensitive is not False,
        spoiler_text=_text(post.spoiler_text, SPOILER_MAX),
        media=tuple(_media(m) for m in media[:MEDIA_MAX]),
        # A licence decides what may be reposted: an odd one is dropped (not allowed), never shortened.
        license=post.license if isinstance(post.license, str) and 0 < len(post.license) <= LICENSE_MAX
        and "\x00" not in post.license else None,
        license_url=_optional_url(post.license_url),
        title=_optional_text(post.title, TITLE_MAX),
        needs_credit=post.needs_credit is not False,
        flags=tuple(f for f in [*flags, date_flag] if f),
    )


def as_int(value: object) -> int | None:
    """A whole number as platforms send one: 640, 640.0, "640", " 640 ", "640px" (HTML); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip().removesuffix("px"))
        except ValueError:  # also past Python's 4,300-digit limit
            return None
    return None


def bound_watermark(value: object) -> str | None:
    """A watermark that fits its column, or None (the watermark is then not advanced)."""
    if isinstance(value, str) and 0 < len(value) <= WATERMARK_MAX and "\x00" not in value:
        return value
    return None
