"""A photographer's reply → "yes", "no", or None (a person reads it), in French, Dutch and English.

Pure and cautious: only a plain answer counts. A yes that is negated ("not yes", "pas oui", "niet ja"), a reply
that says both, asks a question, or sets a condition ("yes but credit my insta", "ja, maar niet op Facebook")
is left for a person, who records it with `wlb consent ID`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Answer = Literal["yes", "no"]
MAX_READ = 2000  # characters of a reply worth reading: a longer one is not a plain answer anyway

# Phrases before single words, the longest first: "no problem" is a yes although it holds "no", "pas d'accord" a no
# although it holds "d'accord". Each is matched on whole words of the folded text and taken out once counted.
YES_PHRASES = (
    "no problem", "no problemo", "no worries", "why not", "of course", "go ahead", "feel free", "with pleasure",
    "yes please", "yes of course", "sure thing", "you may", "you can", "be my guest", "i don t mind", "don t mind",
    "i do not mind", "do not mind",
    "pas de probleme", "pas de soucis", "pas de souci", "sans probleme", "pourquoi pas", "bien sur", "avec plaisir",
    "allez y", "vas y", "c est ok", "c est bon", "je veux bien", "oui bien sur", "oui avec plaisir",
    "geen probleem", "waarom niet", "ja graag", "ja hoor", "met plezier", "ga je gang", "doe maar", "mag zeker",
    "is goed", "prima hoor", "natuurlijk mag het", "dat mag", "mag het", "d accord", "tout a fait",
)
NO_PHRASES = (
    "no thanks", "no thank you", "rather not", "i d rather not", "please don t", "please do not", "do not",
    "don t", "not ok", "not okay", "no way",
    "non merci", "pas d accord", "je prefere pas", "je prefere que non", "plutot pas", "pas question", "surtout pas",
    "je ne veux pas", "liever niet", "nee bedankt", "nee dank je", "nee dank u", "niet akkoord", "mag niet",
    "ik wil het niet", "geen toestemming", "liever geen",
)
PHRASES = sorted([(p, "yes") for p in YES_PHRASES] + [(p, "no") for p in NO_PHRASES], key=lambda p: -len(p[0].split()))
YES_WORDS = re.compile(r"y+e+[sp]+|y+e+a+h*|yup|sure|ok(?:ay)?|okey|absolutely|certainly|definitely|granted|"
                       r"ou+i+|ouais|volontiers|dac|carrement|evidemment|"
                       r"ja+|graag|mag|prima|tuurlijk|natuurlijk|akkoord|zeker|oke|oki")
NO_WORDS = re.compile(r"n+o+|nope|nah|never|non+|jamais|nee+|neen|nooit|nein")  # German: Belgium's third language
NEGATORS = {"not", "pas", "niet", "ne", "n", "geen", "never", "jamais", "nooit", "don", "t"}
# A condition or a turn makes a reply something to read, whatever else it says.
CONDITIONS = {"but", "mais", "maar", "if", "si", "als", "unless", "sauf", "behalve", "except", "only", "seulement",
              "alleen", "enkel", "provided", "condition", "voorwaarde", "tenzij", "however", "pourtant",
              "cependant", "toutefois", "echter",
              # a doubt: "yes maybe", "oui peut-être", "ja misschien"
              "maybe", "perhaps", "possibly", "probably", "peut", "misschien", "wellicht", "mogelijk", "eventueel",
              "eventuellement",
              # a price: "yes for 50€", "oui pour 100 euros", "ja, tegen betaling"
              "pay", "paid", "payment", "fee", "price", "euro", "euros", "eur", "payer", "paye", "payant", "paiement",
              "prix", "betaal", "betalen", "betaling", "betaald", "prijs"}
QUESTION_MARKS = "?？¿؟﹖⸮‽⁇⁈⁉❓❔"
MONEY = "€$£"
YES_TAGS = {"yes", "oui", "ja", "ok"}
NO_TAGS = {"no", "non", "nee"}
YES_EMOJI = ("👍", "❤", "♥", "💖", "💗", "💕", "😍", "🥰", "✅", "✔", "👌", "🤝", "🙌", "💯")
NO_EMOJI = ("👎", "❌", "🚫", "🙅", "⛔", "✋")
_MENTION = re.compile(r"(?<![\w@])@[\w.-]+(?:@[\w.-]+)?")
_URL = re.compile(r"https?://\S+")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


def parse_answer(reply: str, *, ours: str = "", own_names: tuple[str, ...] = ("welovebrussels",)) -> Answer | None:
    """The answer a reply gives to our request (`ours`: its text, whose lines a quoting reply repeats)."""
    text = _without_ours(reply[:MAX_READ], ours)
    text = _URL.sub(" ", _MENTION.sub(" ", text))
    if any(mark in text for mark in QUESTION_MARKS + MONEY):
        return None  # a question back ("oui?", "for what？") is not an answer, nor one with a price
    yes = no = 0
    for tag in _HASHTAG.findall(text):
        tag = _fold(tag)
        if tag in own_names:
            continue
        yes += tag in YES_TAGS
        no += tag in NO_TAGS
    text = _HASHTAG.sub(lambda m: " " if _fold(m.group(1)) in own_names else f" {m.group(1)} ", text)
    yes += sum(text.count(e) for e in YES_EMOJI)
    no += sum(text.count(e) for e in NO_EMOJI)
    words = f" {' '.join(_fold(text).split())} "
    for phrase, meaning in PHRASES:
        found = words.count(f" {phrase} ")
        if found:
            yes, no = (yes + found, no) if meaning == "yes" else (yes, no + found)
            words = words.replace(f" {phrase} ", " ")
    tokens = words.split()
    if any(t in CONDITIONS for t in tokens):
        return None
    yes += sum(1 for t in tokens if YES_WORDS.fullmatch(t))
    if yes and any(t in NEGATORS for t in tokens):
        return None  # "not yes", "pas oui", "niet ja", "oui, je ne sais pas", "of course not"
    no += sum(1 for t in tokens if NO_WORDS.fullmatch(t))
    if yes and not no:
        return "yes"
    if no and not yes:
        return "no"
    return None


def _without_ours(reply: str, ours: str) -> str:
    """The reply without lines that repeat our request (a client that quotes what it answers). Compared without
    mentions and links, and as part of it: a quote shows "@alice" where we wrote "@alice@host", and may be wrapped
    or cut; the French request's first line holds "bien sûr", which must not read as her yes."""
    if not ours:
        return reply
    request = f" {_bare(ours)} "
    return "\n".join(line for line in reply.splitlines() if not line.lstrip().startswith(">")
                     and not (len(quoted := _bare(line)) > 12 and f" {quoted} " in request))


def _bare(text: str) -> str:
    """Folded words without mentions and links."""
    return _fold(_URL.sub(" ", _MENTION.sub(" ", text)))


def _fold(text: str) -> str:
    """Lower case, accents off, apostrophes and punctuation as spaces: "Pas d'accord !" → "pas d accord"."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", text).split())
