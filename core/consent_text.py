"""The words of a permission request: French, Dutch and English templates, the post's language, and the limits
of the platforms the request is sent on (rendered at approval, stored in the ledger, sent by the consent stage)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache

LANGUAGES = ("fr", "nl", "en")
# Long form first; the short one when a long handle or link pushes the long one past the platform's limit.
TEMPLATES: dict[str, tuple[str, str]] = {
    "fr": ("Bonjour {mention} ! Votre photo nous a fait craquer 💛 Nous aimerions la partager sur WeLoveBrussels, "
           "avec votre nom bien sûr : {link}\n{answer}",
           "{mention} Votre photo sur WeLoveBrussels, avec votre nom ? {link}\n{answer}"),
    "nl": ("Hallo {mention}! We zijn verliefd op je foto 💛 Mogen we hem delen op WeLoveBrussels, natuurlijk met "
           "je naam erbij? {link}\n{answer}",
           "{mention} Je foto op WeLoveBrussels, met je naam? {link}\n{answer}"),
    "en": ("Hi {mention}! We love your photo 💛 May we share it on WeLoveBrussels, credited to you of course? "
           "{link}\n{answer}",
           "{mention} Your photo on WeLoveBrussels, credited to you? {link}\n{answer}"),
}
# How to answer: by reply (the consent stage reads it), or in words for a message a person sends by hand.
ANSWER = {"fr": "Répondez #oui ou #non à ce message. Merci !",
          "nl": "Antwoord #ja of #nee op dit bericht. Dank je!",
          "en": "Reply #yes or #no to this message. Thank you!"}
ANSWER_BY_HAND = {"fr": "Un simple oui ou non nous suffit. Merci !",
                  "nl": "Een simpel ja of nee is genoeg. Dank je!",
                  "en": "A simple yes or no is all we need. Thank you!"}
# What a reply may be: Bluesky counts graphemes (app.bsky.feed.post record: text maxGraphemes 300,
# github.com/bluesky-social/atproto lexicons/app/bsky/feed/post.json); Mastodon's default is 500 characters
# (MAX_CHARS in app/validators/status_length_validator.rb; it counts a URL as 23 and a mention by its username,
# so counting every character is the safe side). Pixelfed speaks the Mastodon API with the same default.
LIMITS = {"bluesky": 300, "fediverse": 500}
DEFAULT_LIMIT = 500
_ALIASES = {"fra": "fr", "fre": "fr", "french": "fr", "nld": "nl", "dut": "nl", "dutch": "nl", "vls": "nl",
            "eng": "en", "english": "en"}
_NOISE = re.compile(r"https?://\S+|www\.\S+|[#@][\w.@-]+|\S+@\S+", re.UNICODE)
_PLACEHOLDER = re.compile(r"\{(mention|link|answer)\}")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
MIN_LETTERS = 8  # fewer letters than this (after tags, mentions and links): the detector would guess
MIN_DISTANCE = 0.15  # lingua's minimum relative distance: below it, "unsure" (the default language) beats a guess


class TooLong(ValueError):
    """The request would not fit the platform's limit, even in its short form."""


def normalise(code: object) -> str | None:
    """A platform's language field ("fr-BE", "nl_BE", "NL", "fra") → fr/nl/en; None when it names none of them."""
    if not isinstance(code, str) or not code.strip():
        return None
    main = re.split(r"[-_\s]", code.strip().lower(), maxsplit=1)[0]
    main = _ALIASES.get(main, main)
    return main if main in LANGUAGES else None


def detectable(text: str) -> str:
    """The words of a post a detector should read: no hashtags, mentions or links."""
    return " ".join(_NOISE.sub(" ", text or "").split())[:2000]


@cache
def _detector():
    """lingua, built once with only French, Dutch and English (each loaded model costs memory and time)."""
    from lingua import Language, LanguageDetectorBuilder  # ~100 MB of models: imported when a text needs it

    return (LanguageDetectorBuilder.from_languages(Language.FRENCH, Language.DUTCH, Language.ENGLISH)
            .with_minimum_relative_distance(MIN_DISTANCE).build())


def detect(text: str) -> str | None:
    """fr, nl or en for a short text, or None when it is too short or the detector is unsure."""
    words = detectable(text)
    if len(_LETTER.findall(words)) < MIN_LETTERS:
        return None
    found = _detector().detect_language_of(words)
    return found.iso_code_639_1.name.lower() if found is not None else None


def choose_language(platform_field: str | None, text: str, default: str) -> str:
    """The request's language: what the platform says the post is in, else what its words are in, else `default`.
    A platform naming another language (de, es) means the words would mislead a three-language detector."""
    if platform_field and platform_field.strip():
        return normalise(platform_field) or default
    return detect(text) or default


def graphemes(text: str) -> int:
    """User-perceived characters, near enough for a limit: combining marks, joiners and variation selectors join the
    character before them, and so does what follows a zero-width joiner (emoji sequences)."""
    count, joined = 0, False
    for char in text:
        if joined or unicodedata.combining(char) or char in "\u200d\ufe0e\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff":
            joined = char == "\u200d"
            continue
        count += 1
    return count


def limit_for(network: str) -> int:
    return LIMITS.get(network, DEFAULT_LIMIT)


def _fill(template: str, language: str, mention: str, link: str, by_hand: bool) -> str:
    """The placeholders filled in one pass: a "{link}" in a remote name or URL stays as they wrote it."""
    values = {"mention": mention, "link": link, "answer": (ANSWER_BY_HAND if by_hand else ANSWER)[language]}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template).strip()


def render(language: str, *, mention: str, link: str, network: str, overrides: Mapping[str, str] | None = None,
           by_hand: bool = False) -> str:
    """The request in `language`: the config's template if it has one, else ours (the short form when the long one
    does not fit). A message sent by hand says "yes or no" in words instead of asking for a hashtag reply."""
    language = language if language in LANGUAGES else "en"
    custom = (overrides or {}).get(language)
    forms = (custom,) if custom else TEMPLATES[language]
    limit = limit_for(network)
    for template in forms:
        text = _fill(template, language, mention, link, by_hand)
        if by_hand or graphemes(text) <= limit:
            return text
    raise TooLong(f"the {language} request is {graphemes(text)} characters, more than the {limit} "
                  f"{network} allows" + ("; shorten [consent] templates." + language if custom else ""))
