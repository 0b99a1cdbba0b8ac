"""Plain titles and markdown escaping: the rules, checked as properties over any text."""

from __future__ import annotations

import html
import re
import string

from hypothesis import given
from hypothesis import strategies as st

from mnist_models.text import WORD_JOINER, md_escape, plain

# What md_escape may emit: a backslash-escaped ASCII punctuation character, one
# of five entities, or any character that is neither punctuation nor a line break.
PUNCT = re.escape(string.punctuation)
ESCAPED = re.compile(rf"(?:\\[{PUNCT}]|&(?:lt|gt|amp|quot|#x27);|[^{PUNCT}\r\n])*")


def text_node(md: str) -> str:
    """The text CommonMark makes of md_escape's output: escapes and entities decoded.
    GFM's bare links and Streamlit's :emoji: are then looked for in this text."""
    return html.unescape(re.sub(rf"\\([{PUNCT}])", r"\1", md))


TITLES = st.text(st.characters(codec="utf-8"), max_size=200) | st.sampled_from(
    [
        "![x](http://example.com/i.png)",
        "**bold** _it_",
        "[link](http://example.com)",
        "<img src=x onerror=alert(1)>",
        "&lt;b&gt;",
        "\\*not\\*",
        "    code",
        "# h",
        "1. item",
        ":red[red] :material/home: $x^2$",
        "http://example.com www.example.com",
        "a\\",
    ]
)


@given(TITLES)
def test_md_escape_leaves_no_markdown_or_html_syntax(s: str) -> None:
    out = md_escape(s)
    assert ESCAPED.fullmatch(out), out
    shown = text_node(out)
    assert shown.replace(WORD_JOINER, "") == " ".join(s.splitlines()).strip().replace(
        WORD_JOINER, ""
    )  # reads as written: the joiners are invisible
    assert not re.search(r"(?i)https?://|www\.|@[-\w]|:[-\w+]", shown)


@given(TITLES)
def test_plain_is_one_clean_bounded_line(s: str) -> None:
    out = plain(s, 40)
    assert len(out) <= 40 and out == out.strip() and "  " not in out
    assert not any(c in out for c in "\n\r\t\x00\x1b\u202e\u200b")


def test_plain_examples() -> None:
    assert plain("  A  title\n\twith\x00 junk\u202e ") == "A title with junk"
    assert plain("x" * 200) == "x" * 119 + "…"
    assert plain(3.5) == "3.5"


def test_md_escape_examples() -> None:
    wj = WORD_JOINER
    assert md_escape("![x](http://e.com/i.png)") == rf"\!\[x\]\(http\:{wj}\/\/e\.com\/i\.png\)"
    assert md_escape("www.a.b me@a.b") == rf"www{wj}\.a\.b me\@{wj}a\.b"
    assert md_escape("<b>Tom & Jerry's</b>") == "&lt;b&gt;Tom &amp; Jerry&#x27;s&lt;\\/b&gt;"
    assert md_escape("two\nlines") == "two lines"
    assert md_escape("MLP (60,000 images)") == r"MLP \(60\,000 images\)"
