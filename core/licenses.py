"""Licences: which family a licence belongs to, whether we may repost without asking, and the credit.

Creative Commons licences are named by their elements (BY, NC, ND, SA), a version and sometimes a
port ("CC BY-SA 3.0 DE"); `licenses.allowed` lists families, so versions and ports are dropped.
"""

from __future__ import annotations

import re

_ELEMENTS = {"by": "BY", "attribution": "BY", "nc": "NC", "noncommercial": "NC", "nd": "ND",
             "noderivatives": "ND", "noderivs": "ND", "sa": "SA", "sharealike": "SA"}
_ORDER = ("BY", "NC", "ND", "SA")
_PUBLIC_DOMAIN = {"CC0": "CC0 1.0", "Public Domain Mark": "Public Domain Mark 1.0"}  # CC's own names for them
# Titles cameras and phones give files: not a title a person chose, so the credit leaves them out.
_CAMERA_TITLE = re.compile(r"(?:img|dsc[fn]?|dji|gopr|pxl|p|_mg|_dsc|photo|image)[ _-]?[\d_-]+(?:\.\w{3,4})?",
                           re.IGNORECASE)
MAX_TITLE = 60


def _cc_elements(text: str) -> list[str] | None:
    """["BY", "NC"] for "CC BY-NC 2.0" or "Creative Commons Attribution-NonCommercial 4.0 International"."""
    rest = re.sub(r"^(?:cc|creative\s+commons)\s+", "", text, flags=re.IGNORECASE)
    if rest == text:
        return None
    elements = []
    for token in re.split(r"[-\s]+", rest):
        if not token or token[0].isdigit():
            break
        element = _ELEMENTS.get(token.lower())
        if element is None:
            return None
        elements.append(element)
    return sorted(set(elements), key=_ORDER.index) if "BY" in elements else None


def family(name: str) -> str:
    """The licence family: "CC BY-NC-SA 2.0" → "CC BY-NC-SA", "Public Domain Mark 1.0" → "Public Domain Mark"."""
    text = " ".join(name.split())
    lower = text.lower()
    if re.search(r"\bcc0\b|public domain dedication|cc zero", lower):
        return "CC0"
    if lower.startswith("public domain mark"):
        return "Public Domain Mark"
    elements = _cc_elements(text)
    return "CC " + "-".join(elements) if elements else text


def needs_permission(license: str | None, allowed: list[str], *, non_commercial: bool) -> str | None:
    """Why reposting needs the author's permission, or None when it does not (also when there is no licence)."""
    if not license or not license.strip():
        return None  # the platform has no licence metadata (Mastodon, Bluesky): the usual credit rules apply
    name = " ".join(license.split())
    fam = family(name)
    listed = {" ".join(family(a).split()).casefold() for a in allowed}
    parts = set(fam.removeprefix("CC ").split("-")) if fam.startswith("CC ") else set()
    without_nc = "CC " + "-".join(p for p in _ORDER if p in parts and p != "NC")
    if "NC" in parts and not non_commercial:
        return f"licence {name} forbids commercial use; only channels with non_commercial = true may repost it"
    if fam.casefold() in listed or ("NC" in parts and without_nc.casefold() in listed):
        return None
    if "ND" in parts:
        return (f"licence {name} forbids derivatives and a repost is re-encoded (and may be cropped); "
                f"list \"{fam}\" in licenses.allowed to accept that")
    return f"licence {name} is not in licenses.allowed"


def _title(title: str | None) -> str | None:
    text = " ".join((title or "").split())
    if not text or _CAMERA_TITLE.fullmatch(text):
        return None
    if len(text) > MAX_TITLE:
        cut = text[:MAX_TITLE].rsplit(" ", 1)[0] if " " in text[:MAX_TITLE] else text[:MAX_TITLE]
        text = cut.rstrip(",;:.-–— ") + "…"
    return text


def attribution(title: str | None, author_name: str | None, source_url: str | None, license: str | None,
                license_url: str | None) -> str:
    """CC's recommended credit, Title-Author-Source-Licence, in one line of plain text with bare links."""
    short = _title(title)
    line = f"“{short}”" if short else "Photo"
    author = " ".join((author_name or "").split())
    line += f" by {author}" if author else ""
    line += f" ({source_url})" if source_url else ""
    if not license or not license.strip():
        return line
    name = " ".join(license.split())
    fam = family(name)
    shown = _PUBLIC_DOMAIN.get(fam, name)
    shown += f" ({license_url})" if license_url else ""
    if fam in _PUBLIC_DOMAIN:
        return f"{line} is marked with {shown}"
    if fam.startswith("CC "):
        return f"{line} is licensed under {shown}"
    return f"{line}, {shown}"  # All Rights Reserved (reposted with permission), No known copyright restrictions, …
