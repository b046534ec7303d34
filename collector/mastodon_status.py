"""A Mastodon/Pixelfed Status → PostData: strict on identity (who, which post, where from), lenient on decoration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from collector.html import html_to_text
from collector.signals import account_signals, post_tags
from core.posts import AuthorData, MediaData, PostData

MAX_URL = 2048  # Post.url / Post.key / Media.url columns
MAX_ID = 256
MAX_HANDLE = 320
MAX_NAME = 512
MAX_LANGUAGE = 16
# Attachments whose bytes may be an image. "unknown": the instance failed to cache a remote file
# (MediaAttachment#set_unknown_type); `remote_url` still holds the original, so the bytes decide.
_STILLS = ("image", "unknown")
_MOVING = ("video", "gifv", "audio")
# Mastodon's Status#visibility values, Pixelfed's scopes, and forks' extras (Pleroma's "list", "local").
_NOT_PUBLIC = ("unlisted", "private", "direct", "limited", "list", "local", "group")


class Malformed(ValueError):
    """A status that cannot be read; it costs that one record."""


def _text(value: object, what: str, *, limit: int = MAX_URL) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"{what} missing")
    if len(value) > limit:
        raise Malformed(f"{what} too long")
    return value.strip()


def _web_url(value: object, what: str) -> str:
    url = _text(value, what)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Malformed(f"{what} is not a web address")
    return url


def _optional(value: object, limit: int) -> str | None:
    return value if isinstance(value, str) and value and len(value) <= limit else None


def netloc(url: str) -> str:
    """host[:port], lowercased: what an ActivityPub domain (LOCAL_DOMAIN may carry a port) is compared with."""
    return urlsplit(url).netloc.rpartition("@")[2].lower()


def on_origin(url: str, domain: str) -> bool:
    """Whether a URL is served by the account domain, or by its web domain in Mastodon's documented split form.

    LOCAL_DOMAIN=example.com with WEB_DOMAIN=mastodon.example.com: handles read @alice@example.com, while uri and
    profile live on mastodon.example.com (mastodon/documentation content/en/admin/config.md, WEB_DOMAIN).
    """
    host, domain = netloc(url), domain.lower()
    return bool(domain) and (host == domain or host.endswith("." + domain))


def parse_created(value: object) -> datetime:
    """ISO 8601 as Mastodon and Pixelfed write it; a time without a zone is read as UTC."""
    try:
        moment = datetime.fromisoformat(_text(value, "created_at", limit=64).replace("Z", "+00:00"))
    except ValueError:
        raise Malformed("created_at is not a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _author(account: object, domain: str, web_host: str) -> tuple[AuthorData, str, bool]:
    """(author, the author's domain, whether the serving instance is their home)."""
    if not isinstance(account, dict):
        raise Malformed("account missing")
    acct = _text(account.get("acct"), "account.acct", limit=MAX_HANDLE).lstrip("@")
    user, _, home = acct.partition("@")
    if not user or "@" in home or "/" in acct:
        raise Malformed("account.acct is not user@domain")
    local = not home or home.lower() in (domain.lower(), web_host)
    # A local account's acct has no domain: it is the instance's own `domain` (GET /api/v2/instance), which can
    # differ from the web host in account.url (LOCAL_DOMAIN vs WEB_DOMAIN). One person, one handle.
    home = domain if local else home
    if len(user) + len(home) >= MAX_HANDLE:
        raise Malformed("account.acct too long")
    profile = _web_url(account.get("url"), "account.url")
    name = account.get("display_name") or account.get("username") or user
    author = AuthorData(handle=f"{user}@{home}".lower(), name=str(name)[:MAX_NAME] if isinstance(name, str) else user,
                        profile_url=profile, authoritative=local, signals=account_signals(account))
    return author, home, local


def _media(attachments: object) -> list[MediaData]:
    media = []
    for attachment in attachments if isinstance(attachments, list) else []:
        if not isinstance(attachment, dict):
            continue
        kind = attachment.get("type") if isinstance(attachment.get("type"), str) else "unknown"
        url, remote = _optional(attachment.get("url"), MAX_URL), _optional(attachment.get("remote_url"), MAX_URL)
        if kind in _MOVING:
            media.append(MediaData(url=url or remote or "", kind=kind))
            continue
        if not (url or remote):
            continue
        # `url` is null while the instance still processes the file; `remote_url` is then the original.
        url, remote = (url, remote) if url else (remote, None)
        meta = attachment.get("meta")
        size = meta.get("original") if isinstance(meta, dict) else None
        size = size if isinstance(size, dict) else {}
        width, height, alt = size.get("width"), size.get("height"), attachment.get("description")
        media.append(MediaData(url=url, kind="image", remote_url=remote if remote != url else None,
                               alt_text=alt if isinstance(alt, str) else None,
                               width=width if type(width) is int else None,
                               height=height if type(height) is int else None))
    return media


def parse_status(status: object, domain: str, web_host: str = "") -> tuple[PostData | None, str | None]:
    """A Status → (post, None), or (None, why skipped). `domain`: the serving instance's own domain."""
    try:
        return _parse(status, domain.lower(), (web_host or domain).lower())
    except Malformed as exc:
        return None, f"malformed: {exc}"


def _parse(status: object, domain: str, web_host: str) -> tuple[PostData | None, str | None]:
    if not isinstance(status, dict):
        raise Malformed("not an object")
    original = status.get("reblog") or status
    if not isinstance(original, dict):
        raise Malformed("reblog is not a status")
    visibility = original.get("visibility")
    if visibility != "public":  # followers-only, unlisted, direct: never a candidate for a public repost
        named = visibility if visibility in _NOT_PUBLIC else "missing" if visibility is None else "other"
        return None, f"not public ({named})"
    author, home, local = _author(original.get("account"), domain, web_host)
    post_id = original.get("id")
    if type(post_id) not in (str, int) or not str(post_id) or len(str(post_id)) > MAX_ID:
        raise Malformed("id missing")
    uri = _web_url(original.get("uri"), "uri")
    # An instance can serve any uri for any acct: the uri must be on the author's own domain (or, for a local
    # account, on this instance's web host), or one instance could speak for another's users.
    if not _ours(uri, home, local, web_host):
        return None, "identity mismatch (uri not on the author's domain)"
    flags = []
    url = original.get("url")
    if url is None:
        url = uri
    elif not isinstance(url, str) or not _ours(url, home, local, web_host):
        flags.append("link not on the author's instance; the post's uri is shown instead")
        url = uri
    if not _ours(author.profile_url, home, local, web_host):
        flags.append("profile link not on the author's instance")
        account_uri = original["account"].get("uri")
        profile = account_uri if isinstance(account_uri, str) and _ours(account_uri, home, local, web_host) else uri
        author = replace(author, profile_url=profile)
    media = _media(original.get("media_attachments"))
    if not media:
        return None, "no media"
    if not any(m.kind == "image" for m in media):
        return None, "video only" if any(m.kind in _MOVING for m in media) else "no image"
    language = original.get("language")
    return PostData(
        key=uri, remote_id=str(post_id), url=url, author=author, created_at=parse_created(original.get("created_at")),
        text=html_to_text(original["content"]) if isinstance(original.get("content"), str) else "",
        language=language if isinstance(language, str) and len(language) <= MAX_LANGUAGE else None,
        sensitive=original.get("sensitive") is True,
        spoiler_text=original["spoiler_text"] if isinstance(original.get("spoiler_text"), str) else "",
        media=tuple(m for m in media if m.kind == "image"),
        flags=tuple(flags), tags=post_tags(original.get("tags")),
    ), None


def _ours(url: str, home: str, local: bool, web_host: str) -> bool:
    """Whether a web URL is on the author's origin (for a local account, this instance's web host counts too)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        return False
    return on_origin(url, home) or (local and netloc(url) == web_host)
