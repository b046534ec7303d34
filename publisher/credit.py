"""Repost text: the caption, the credit and the link, fitted to a target's length limits."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.credit import parse_credit
from platforms.registry import NETWORK_NAMES

FIELDS = ("caption", "credit", "url", "hashtags", "author_name")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Limits:
    """What one target accepts: text, images per post, size per image; Mastodon reports these in GET /api/v2/instance."""

    max_chars: int = 500
    max_media: int = 4
    url_chars: int = 23
    length: Callable[[str], int] | None = None  # how the target counts; None: as Mastodon does
    max_image_bytes: int | None = None  # None: the target does not say
    max_image_pixels: int | None = None


@dataclass(frozen=True)
class CreditAuthor:
    """The photographer as credited: `handle` is user@host on the fediverse, the handle on Bluesky."""

    network: str
    handle: str
    name: str = ""
    uid: str | None = None  # a Bluesky DID: what a mention facet points at


@dataclass(frozen=True)
class CreditInput:
    """The parts of a repost; only the caption may be shortened."""

    caption: str
    credit: str
    url: str
    hashtags: Sequence[str]
    author_name: str = ""


# Mastodon counts a status the way StatusLengthValidator does
# (https://docs.joinmastodon.org/user/posting/#text): "All links count as 23 characters" (really
# characters_reserved_per_url) and for "@username@domain" "only the username part will count". Only
# links with a scheme are links. The server counts grapheme clusters; we count code points, which is
# never fewer, so a text we accept is never rejected for length. The server also requires a known
# TLD; we only require an alphabetic one, and stop links at non-ASCII characters and trailing
# punctuation, which again can only make our count larger.
_URL = (
    r"https?://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9](?::\d+)?"
    r"(?:[/?#](?:[a-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*[a-z0-9\-_~/#\[\]@$&*+=%])?)?"
)
# Account::MENTION_RE: not after a word character, "=" or "/" (so not in e-mails or URL paths).
_MENTION = r"(?<![=/\w])@(?P<user>[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.-]+\w)?"
_ENTITY = re.compile(rf"(?P<url>{_URL})|{_MENTION}", re.IGNORECASE)


def mastodon_length(text: str, url_chars: int = 23) -> int:
    """Characters a Mastodon server charges for `text`."""
    total, last = 0, 0
    for match in _ENTITY.finditer(text):
        total += match.start() - last
        total += url_chars if match.group("url") else 1 + len(match.group("user"))
        last = match.end()
    return total + len(text) - last


def fediverse_handle(acct: str, source_host: str) -> str:
    """`@user@domain` for an account's acct as seen on `source_host`."""
    user, _, domain = acct.strip().lstrip("@").partition("@")
    domain = (domain or source_host).strip().lower()
    if not user or not domain:
        raise ValueError(f"cannot make a fediverse handle from acct {acct!r} on host {source_host!r}")
    return f"@{user}@{domain}"


def credit_line(author: CreditAuthor, target: str, *, source_host: str = "") -> str:
    """How a repost on the `target` network names the photographer: a mention where it reaches them, else name and handle."""
    handle = author.handle.strip().lstrip("@")
    if author.network == "fediverse":
        handle = fediverse_handle(handle, source_host)
    elif author.network == target and target in ("bluesky", "x", "instagram"):
        handle = f"@{handle}"  # a mention that notifies them (on Bluesky the publisher adds its facet)
    if author.network == target:
        return handle
    if author.network == "web":  # a feed's author: their name and the site, not a handle anyone can mention
        site = handle.rpartition("@")[2]
        return f"{' '.join(author.name.split()) or site} ({site})"
    # "@name" would mention someone else on the target (Mastodon reads a bare @word as a local user),
    # so another network's account is named in words, with the original's link beside it.
    where = NETWORK_NAMES.get(author.network, author.network)
    name = " ".join(author.name.split())
    if "@" in name:  # a display name is the author's free text: "@someone@host" in it would mention that someone
        name = ""
    if not name or name.lower() in (handle.lower(), handle.lower().lstrip("@")):
        return f"{handle} on {where}"
    return f"{name} ({handle} on {where})"


def graphemes(text: str) -> int:
    """User-perceived characters in `text`, never fewer than Unicode's extended grapheme clusters (UAX #29)."""
    # Only the certain joins are made (combining marks, variation selectors, skin tones, tag characters,
    # emoji joined by ZWJ, flag pairs); anything else counts one per code point, so a text we accept
    # is never rejected by a server counting full UAX #29 clusters (Bluesky's lexicon maxGraphemes).
    count, emoji, joined, flag = 0, False, False, False
    for char in text:
        if count and _extends(char):
            joined = emoji and char == "\u200d"
            continue
        if joined and _pictographic(char):
            joined = False
            continue
        if flag and _regional(char):
            flag = False
            continue
        count += 1
        emoji, joined, flag = _pictographic(char), False, _regional(char)
    return count


def bluesky_length(text: str) -> int:
    """Length against Bluesky's post limits: 300 graphemes and 3,000 UTF-8 bytes, i.e. ten bytes a grapheme."""
    return max(graphemes(text), -(-len(text.encode("utf-8")) // 10))


# twitter-text's configuration v3 (github.com/twitter/twitter-text config/v3.json): 280 weighted characters,
# scale 100, code points in these ranges weigh 100 (count 1), every other one 200 (count 2: CJK, emoji), and
# every link counts transformedURLLength = 23. Text is NFC-normalized first.
_X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
# twitter-text also finds links without a scheme ("brussels.be"); such a word counts at least 23 here.
_BARE_DOMAIN = re.compile(r"(?<![\w@.])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}(?:/\S*)?", re.IGNORECASE)


def x_length(text: str) -> int:
    """Weighted length X charges for `text`; never less than twitter-text counts (emoji sequences count more)."""
    text = unicodedata.normalize("NFC", text)
    total, last = 0, 0
    for match in re.finditer(rf"{_URL}|{_BARE_DOMAIN.pattern}", text, re.IGNORECASE):
        total += _x_weight(text[last:match.start()])
        total += 23 if "://" in match.group() else max(23, _x_weight(match.group()))
        last = match.end()
    return total + _x_weight(text[last:])


def _x_weight(text: str) -> int:
    return sum(1 if any(low <= ord(c) <= high for low, high in _X_LIGHT) else 2 for c in text)


def _extends(char: str) -> bool:
    """Grapheme_Cluster_Break Extend or ZWJ: joins the character before it."""
    point = ord(char)
    return (char == "\u200d" or unicodedata.category(char) in ("Mn", "Me")
            or 0x1F3FB <= point <= 0x1F3FF or 0xE0020 <= point <= 0xE007F)


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


# Blocks that are Extended_Pictographic throughout (emoji-data.txt), plus the signs most used after a
# ZWJ (gender, medical, heart); a real pictograph missing here only makes the count higher.
_PICTOGRAPHS = ((0x1F300, 0x1F3FA), (0x1F400, 0x1F53D), (0x1F546, 0x1F64F), (0x1F680, 0x1F6FF),
                (0x1F90C, 0x1F93A), (0x1F947, 0x1FAFF), (0x2640, 0x2640), (0x2642, 0x2642),
                (0x2695, 0x2696), (0x2708, 0x2708), (0x2764, 0x2764), (0x2B1B, 0x2B1C))


def _pictographic(char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in _PICTOGRAPHS)


def compose(
    template: str,
    data: CreditInput,
    limits: Limits,
    *,
    length: Callable[[str], int] | None = None,
) -> str:
    """The repost text, with the caption shortened at a word boundary if the whole is too long."""
    _check_fields(template)
    measure = length or limits.length or (lambda text: mastodon_length(text, limits.url_chars))
    caption = _clean_caption(data.caption)

    def render(cut: str) -> str:
        return _render(template, data, cut)

    def fits(cut: str) -> bool:
        return measure(render(cut)) <= limits.max_chars

    if fits(caption):
        return render(caption)
    if not fits(""):
        raise ValueError(
            f"the credit line alone is {measure(render(''))} characters, over the target's limit "
            f"of {limits.max_chars}; shorten the template"
        )
    ends = [space.start() for space in re.finditer(r"\s+", caption)]
    best = _longest_fitting(caption, ends, fits)
    if not best:
        # A caption with no usable space (one long word, or text in a script without spaces)
        # still keeps its beginning rather than disappearing.
        best = _longest_fitting(caption, _symbol_starts(caption), fits)
    return render(best)


def _check_fields(template: str) -> None:
    """Raise ValueError for a malformed template or a field other than FIELDS."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"the publish template is malformed: {exc}") from None
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            raise ValueError(f"unknown field {{{name}}} in the publish template")
        if spec:
            _check_fields(spec)


def _clean_caption(caption: str) -> str:
    """Trim line ends and collapse runs of blank lines."""
    lines = caption.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()


def _render(template: str, data: CreditInput, caption: str) -> str:
    """Fill the template and tidy the blank lines an empty field leaves behind."""
    text = template.format(
        caption=caption,
        credit=data.credit,
        url=data.url,
        hashtags=_hashtags(data.hashtags, caption),
        author_name=data.author_name,
    )
    # An empty url (X without link_original) leaves no dangling separator: "📷 @jane ·" → "📷 @jane".
    text = "\n".join(re.sub(r"\s+·$", "", line.rstrip()) if not data.url else line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).lstrip("\n").rstrip()


def _hashtags(tags: Sequence[str], caption: str) -> str:
    """"#tag" for each tag not already written in the caption, space-separated."""
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        tag = tag.strip().lstrip("#")
        if not tag or tag.casefold() in seen:
            continue
        seen.add(tag.casefold())
        if not re.search(rf"(?<![\w#])#{re.escape(tag)}(?!\w)", caption, re.IGNORECASE):
            out.append(f"#{tag}")
    return " ".join(out)


def _longest_fitting(caption: str, ends: list[int], fits: Callable[[str], bool]) -> str:
    """The longest caption[:end] + "…" that fits, by binary search over the ascending `ends`."""
    lo, hi = -1, len(ends)  # invariant: ends[lo] fits (-1 stands for the empty caption), ends[hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(_cut(caption, ends[mid])):
            lo = mid
        else:
            hi = mid
    return _cut(caption, ends[lo]) if lo >= 0 else ""


def _cut(caption: str, end: int) -> str:
    """caption[:end] with an ellipsis, without the spaces and clause punctuation before it."""
    head = caption[:end].rstrip().rstrip(",;:.-–—").rstrip()
    return head + ELLIPSIS if head else ""


def _symbol_starts(caption: str) -> list[int]:
    """Positions where a new visible symbol starts, outside links (a cut link would be dead)."""
    inside_link = set()
    for link in re.finditer(_URL, caption, re.IGNORECASE):
        inside_link.update(range(link.start() + 1, link.end()))
    return [
        i
        for i in range(1, len(caption))
        if i not in inside_link and not _continues_symbol(caption[i - 1], caption[i])
    ]


def _continues_symbol(before: str, char: str) -> bool:
    """Whether `char` belongs to the same visible symbol as `before` (accent, emoji joiner, skin tone)."""
    return (
        before == "\u200d"
        or char == "\u200d"
        or unicodedata.combining(char) > 0
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


@dataclass(frozen=True)
class ReviewerCredit:
    """The credit a reviewer supplied for an item whose author could not be determined."""

    text: str
    author: CreditAuthor | None = None  # set for a fediverse handle: mentioned on fediverse targets

    def line(self, target: str) -> str:
        """The credit as written on `target`: a mention where it reaches them, else the words given."""
        return credit_line(self.author, target) if self.author else self.text


def reviewer_credit(text: str, *, platform: str | None = None, network: str | None = None) -> ReviewerCredit:
    """Parse "@user@host", a plain name, or "@user" for an item of a platform with bare handles (its `network`)."""
    text, handle = parse_credit(text, platform=platform)
    if handle and "@" not in handle and network:
        return ReviewerCredit(text=text, author=CreditAuthor(network=network, handle=handle))
    if handle:
        return ReviewerCredit(text=text, author=CreditAuthor(network="fediverse", handle=handle))
    return ReviewerCredit(text=text)
