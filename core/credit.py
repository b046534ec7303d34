"""A credit a reviewer supplies for an item no source could name: checked the same way everywhere."""

from __future__ import annotations

import re
import unicodedata

# A reviewer's credit: "@user@host" is a fediverse account (Account::MENTION_RE's username, a dotted host).
_HANDLE = re.compile(r"@(?P<user>[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)@(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)+)", re.IGNORECASE)
MAX_CREDIT = 200
# Platforms (config kinds) where a bare "@handle" names one account, as there is one namespace and no host part.
# Instagram usernames: letters, digits, periods and underscores, at most 30.
BARE_HANDLES = {"instagram": re.compile(r"[a-z0-9._]{1,30}", re.IGNORECASE)}


def parse_credit(text: str, *, platform: str | None = None) -> tuple[str, str | None]:
    """Normalize "@user@host" or a plain name to (text, fediverse handle or None); raise ValueError saying what is wrong.

    For an item of a `platform` in BARE_HANDLES, "@user" is that platform's account: (text, "user").
    """
    text = " ".join(text.split())
    if not text:
        raise ValueError("empty; give '@handle@host' or the photographer's name")
    if len(text) > MAX_CREDIT or any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\u200d" for c in text):
        raise ValueError(f"at most {MAX_CREDIT} printable characters")
    if text.startswith("@"):
        match = _HANDLE.fullmatch(text)
        bare = BARE_HANDLES.get(platform or "")
        if not match and bare and bare.fullmatch(text[1:]):
            return text, text[1:]
        if not match:
            on = f" or '@user' for an account on {platform}" if bare else ""
            raise ValueError(f"{text!r} is not a fediverse handle; write it '@user@host'{on}, or give a name "
                             f"without '@'")
        handle = f"{match['user']}@{match['host'].lower()}"
        return f"@{handle}", handle
    if "@" in text.split()[0] or "://" in text:
        raise ValueError(f"{text!r}: a handle starts with '@' ('@user@host'); a name has no '@' or link")
    return text, None
