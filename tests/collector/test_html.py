"""Status HTML as Mastodon and Pixelfed send it, turned into plain text."""

from __future__ import annotations

import pytest

from collector.html import html_to_text

HASHTAG = (
    '<a href="https://fake.social/tags/welovebrussels" class="mention hashtag" rel="tag">'
    "#<span>welovebrussels</span></a>"
)
MENTION = (
    '<span class="h-card" translate="no"><a href="https://other.example/@bob" class="u-url mention">'
    "@<span>bob</span></a></span>"
)
LONG_LINK = (
    '<a href="https://www.brussels.be/grand-place-flower-carpet-2024" target="_blank" '
    'rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://www.</span>'
    '<span class="ellipsis">brussels.be/grand-place-flow</span>'
    '<span class="invisible">er-carpet-2024</span></a>'
)


def test_hashtag_link_renders_as_hashtag():
    assert html_to_text(f"<p>Golden hour {HASHTAG}</p>") == "Golden hour #welovebrussels"


def test_mention_renders_as_at_user():
    assert html_to_text(f"<p>{MENTION} look at this!</p>") == "@bob look at this!"


def test_long_link_keeps_the_whole_url():
    text = html_to_text(f"<p>Programme: {LONG_LINK}</p>")
    assert text == "Programme: https://www.brussels.be/grand-place-flower-carpet-2024"


def test_paragraphs_are_separated_by_one_blank_line():
    html = "<p>Premier paragraphe.</p><p>Tweede alinea.</p><p>Third.</p>"
    assert html_to_text(html) == "Premier paragraphe.\n\nTweede alinea.\n\nThird."


def test_br_is_a_newline():
    html = "<p>Ligne un<br>Lijn twee<br />Line three<br/></p><p>Next</p>"
    assert html_to_text(html) == "Ligne un\nLijn twee\nLine three\n\nNext"


def test_entities_are_unescaped_and_nbsp_is_a_space():
    html = "<p>Fish &amp; chips &lt;3 &#39;frites&#39; &quot;ok&quot;&nbsp;!</p>"
    assert html_to_text(html) == "Fish & chips <3 'frites' \"ok\" !"


def test_emoji_and_accents_survive():
    html = "<p>Été à Bruxelles 🌇🇧🇪 — Zoë’s café, één pintje 🍺</p>"
    assert html_to_text(html) == "Été à Bruxelles 🌇🇧🇪 — Zoë’s café, één pintje 🍺"


def test_full_mastodon_status():
    html = (
        f"<p>{MENTION} Le Mont des Arts ce matin ☀️<br />De Kunstberg vanochtend</p>"
        f"<p>Plus de photos: {LONG_LINK}</p>"
        f"<p>{HASHTAG} <a href=\"https://fake.social/tags/bxl\" class=\"mention hashtag\" rel=\"tag\">"
        "#<span>bxl</span></a></p>"
    )
    assert html_to_text(html) == (
        "@bob Le Mont des Arts ce matin ☀️\nDe Kunstberg vanochtend\n\n"
        "Plus de photos: https://www.brussels.be/grand-place-flower-carpet-2024\n\n"
        "#welovebrussels #bxl"
    )


def test_markup_newlines_are_layout_not_content():
    # Pixelfed and some remote servers put newlines next to their <br>s.
    html = "<p>Atomium\n<br />\n  by night</p>\n\n<p>second</p>"
    assert html_to_text(html) == "Atomium\nby night\n\nsecond"


def test_other_tags_are_stripped_but_keep_their_text():
    html = "<p><strong>Bold</strong> and <em>em</em> and <code>code</code> <del>gone</del></p>"
    assert html_to_text(html) == "Bold and em and code gone"


def test_lists_and_quotes_become_lines():
    html = "<p>Menu:</p><ul><li>frites</li><li>gaufres</li></ul><blockquote><p>quoted</p></blockquote>"
    assert html_to_text(html) == "Menu:\n\nfrites\ngaufres\n\nquoted"


def test_script_and_style_content_is_dropped():
    assert html_to_text("<p>a<script>alert(1)</script>b<style>p{}</style>c</p>") == "abc"


def test_many_empty_paragraphs_collapse_to_one_blank_line():
    html = "<p>top</p><p></p><p><br><br><br></p><p>bottom</p>"
    assert html_to_text(html) == "top\n\nbottom"


def test_no_leading_or_trailing_whitespace():
    assert html_to_text("  <p>  <br> hello  <br></p>  ") == "hello"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>unclosed paragraph", "unclosed paragraph"),
        ("</p>stray close</p><p>next", "stray close\n\nnext"),
        ("<p>unclosed <a href='x'>link", "unclosed link"),
        ("<p>broken <span class=", "broken"),
        ("text</script>after", "textafter"),
        ("<p>a</p></p></p><p>b", "a\n\nb"),
        ("<!-- comment --><p>visible</p>", "visible"),
        ("<p>a<!-- b --> c<!-- unclosed <b>bold</b>", "a c"),
    ],
)
def test_malformed_html_does_not_raise(html, expected):
    assert html_to_text(html) == expected


@pytest.mark.parametrize("junk", ["<", "<<>>", "<![CDATA[", "<!", "&#xD800;", "&#99999999;", "<p <a>", "</"])
def test_junk_never_raises(junk):
    assert isinstance(html_to_text(junk), str)


def test_plain_text_keeps_its_lines():
    assert html_to_text("  Ligne 1\nLigne 2\n\n\n\nLigne 3 &amp; fin  ") == "Ligne 1\nLigne 2\n\nLigne 3 & fin"


def test_plain_text_with_angle_brackets_is_text():
    assert html_to_text("I <3 Brussels > Paris") == "I <3 Brussels > Paris"


def test_empty():
    assert html_to_text("") == ""
    assert html_to_text("<p></p>") == ""
