"""Remote text made inert for terminals and logs: no control characters, escape sequences or bidi overrides.

strip_control is the one function for it: app/output.py wraps it in rich Text for the screen, and a
logging filter can apply it to messages and arguments (single-line, so one record stays one line).
"""

from __future__ import annotations

import re

# Whole escape sequences go, not only their ESC, so "\x1b]52;c;…\x07" leaves no payload behind.
# ECMA-48: CSI is ESC [ or U+009B, then parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, one final
# byte 0x40-0x7E. OSC, DCS, SOS, PM and APC (ESC ] P X ^ _, or U+009D U+0090 U+0098 U+009E U+009F)
# run to BEL or ST (ESC \ or U+009C); an unterminated one is cut at the end of its line so the rest
# of the text stays readable. Any other ESC takes its intermediates and final byte (ESC c, ESC ( B).
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0 but tab and newline, DEL, C1; bidi embeddings/overrides U+202A-202E and isolates U+2066-2069,
# which reorder what follows them on the line (CVE-2021-42574, "Trojan Source"). Marks such as
# U+200E/U+200F, joiners (emoji ZWJ sequences), variation selectors and combining marks are kept.
_DROP = {c: None for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0),
                           *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
_DROP |= {c: "\ufffd" for c in range(0xD800, 0xE000)}  # lone surrogates cannot even be written to a UTF-8 stream
_ONE_LINE = _DROP | {ord("\t"): " ", ord("\n"): " "}
_MANY_LINES = _DROP | {ord("\t"): " "}
# What json.dumps(ensure_ascii=False) leaves raw inside strings but a terminal would act on.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def strip_control(text: object, *, multiline: bool = False) -> str:
    """`text` without control characters, escape sequences or bidi overrides; newlines kept only if multiline."""
    text = text if isinstance(text, str) else "" if text is None else str(text)
    text = _LINE_BREAKS.sub("\n", _SEQUENCE.sub("", text))
    return text.translate(_MANY_LINES if multiline else _ONE_LINE)


def escape_json_controls(dumped: str) -> str:
    """JSON text with DEL, C1, line separators, bidi controls and lone surrogates as \\u escapes; values unchanged."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def one_line(value: object, limit: int = 200) -> str:
    """Remote text (an error message, a name) as one printable line of at most `limit` characters."""
    if value is None:
        return ""
    return " ".join(strip_control(value).split())[:limit]
