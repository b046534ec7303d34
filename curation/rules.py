"""The community's automatic rules: reasons a collected post is rejected before human review."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from core.settings import RulesSettings


def check_rules(rules: RulesSettings, *, author: str, text: str, spoiler_text: str = "", sensitive: bool,
                language: str | None, sizes: Sequence[tuple[int, int]]) -> list[str]:
    """Every rule the post breaks, one line each naming the rule; [] sends it to review."""
    reasons: list[str] = []
    handle = _handle(author)
    own = next((entry for entry in rules.own_accounts if _handle_matches(handle, entry)), None)
    if own is not None:
        reasons.append(f"posted by our own account {handle}")
    blocked = next((entry for entry in rules.blocked_authors if _handle_matches(handle, entry)), None)
    if blocked is not None:
        reasons.append(f"author {handle} is blocked (blocked_authors: {blocked.strip()})")
    for word in _blocked_words(rules.blocked_words, text, spoiler_text):
        reasons.append(f"contains the blocked word {word!r} (blocked_words)")
    if rules.sensitive == "skip":
        if sensitive:
            reasons.append("marked sensitive (sensitive = \"skip\")")
        elif spoiler_text.strip():
            reasons.append(f"has a content warning {spoiler_text.strip()!r} (sensitive = \"skip\")")
    if rules.languages and language and not _language_allowed(language, rules.languages):
        reasons.append(f"language {language!r} is not one of {', '.join(rules.languages)} (languages)")
    size_reason = _size_reason(sizes, rules.min_width, rules.min_height)
    if size_reason:
        reasons.append(size_reason)
    return reasons


def _blocked_words(words: Sequence[str], *texts: str) -> list[str]:
    """The configured words or phrases that appear as whole words in any of the texts."""
    haystack = "\0".join(_fold(t) for t in texts)  # NUL: a phrase cannot span two texts
    return [word for word in words if word.strip() and _word_pattern(word).search(haystack)]


def _fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Café' and 'CAFE' both become 'cafe'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _word_pattern(word: str) -> re.Pattern[str]:
    """Whole word or phrase: no letter or digit right before or after, any whitespace inside."""
    parts = [re.escape(part) for part in _fold(word).split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)")


def _handle(value: str) -> str:
    return value.strip().lstrip("@").lower()


def _handle_matches(handle: str, entry: str) -> bool:
    """Exact handle, or '*@host' for every account of an instance."""
    pattern = _handle(entry)
    if pattern.startswith("*@"):
        return handle.rpartition("@")[2] == pattern[2:] and "@" in handle
    return bool(pattern) and handle == pattern


def _language_allowed(language: str, allowed: Sequence[str]) -> bool:
    """'fr-BE' passes a list holding 'fr' (and 'fr-BE' itself); comparison ignores case."""
    code = language.strip().lower().replace("_", "-")
    wanted = {entry.strip().lower().replace("_", "-") for entry in allowed}
    return code in wanted or code.split("-")[0] in wanted


def _size_reason(sizes: Sequence[tuple[int, int]], min_width: int, min_height: int) -> str | None:
    if not sizes:
        return "no usable image"
    known = [(w or 0, h or 0) for w, h in sizes]
    if any(w >= min_width and h >= min_height for w, h in known):
        return None
    width, height = max(known, key=lambda size: size[0] * size[1])
    return f"image too small: {width}x{height}, minimum {min_width}x{min_height}"
