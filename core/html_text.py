"""Status HTML (Mastodon, Pixelfed, Flickr, RSS) as the plain text a person would read: collected posts and replies."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

# Tags that start a new line; <p> (and friends below) start a new paragraph.
_LINE_TAGS = {"li", "tr", "div", "dt", "dd"}
_PARAGRAPH_TAGS = {"p", "blockquote", "pre", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
_HIDDEN_TAGS = {"script", "style", "template"}
# [^<>] rather than [^>] keeps the search linear on junk like "<a<a<a…".
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<!--")
# html.parser rescans the rest of the input for every unclosed "<!--" (quadratic); comments carry
# no text, so they go first, an unclosed one taking the rest of the input with it.
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)


class _TextParser(HTMLParser):
    """Collects text nodes and the line breaks that block tags imply."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.pre = 0
        # Newlines owed by block boundaries; </li><li> or </p><p> must give one break, not two.
        self.pending = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag)
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "pre":
            self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag)

    def _open(self, tag: str) -> None:
        if tag == "br":
            self._emit("\n")
        else:
            self._block(tag)

    def handle_endtag(self, tag: str) -> None:
        # A stray closing tag must not drive a counter negative and hide the rest of the post.
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag != "br":
            self._block(tag)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        # Outside <pre>, newlines in the markup are layout, not content: Mastodon writes <br>.
        text = data if self.pre else re.sub(r"\s+", " ", data.replace("\xa0", " "))
        if self.pending and not text.strip():
            return
        self._emit(text)

    def _emit(self, text: str) -> None:
        self.parts.append("\n" * self.pending + text)
        self.pending = 0

    def _block(self, tag: str) -> None:
        if tag in _PARAGRAPH_TAGS:
            self.pending = 2
        elif tag in _LINE_TAGS:
            self.pending = max(self.pending, 1)


def html_to_text(html: str) -> str:
    """Plain text of a status' sanitized HTML (or of text that has no tags at all)."""
    if not _TAG.search(html):
        return _tidy(unescape(html))
    parser = _TextParser()
    parser.feed(_drop_unfinished_tag(_COMMENT.sub("", html)))
    parser.close()
    return _tidy("".join(parser.parts))


def _drop_unfinished_tag(html: str) -> str:
    """Cut a tag left open by the end of the input (a truncated post); the parser would print it."""
    start = html.rfind("<")
    if start >= 0 and ">" not in html[start:] and re.match(r"<[a-zA-Z/!]", html[start:]):
        return html[:start]
    return html


def _tidy(text: str) -> str:
    """Spaces for no-break spaces, no spaces at line ends, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = "\n".join(line.strip(" \t") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
