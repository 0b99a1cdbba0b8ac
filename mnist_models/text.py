"""Text that comes from files or visitors, made safe to show: plain lines and escaped markdown."""

from __future__ import annotations

import html
import string
import unicodedata

# Control (Cc), format (Cf: bidi overrides, zero-width characters), surrogate
# (Cs) and unassigned or private (Cn, Co) characters: invisible or misleading
# in a title, and a bidi override can make one title read as another.
_HIDDEN = {"Cc", "Cf", "Cs", "Cn", "Co"}

# HTML's metacharacters become entities, which CommonMark decodes back to the
# same characters, so they read the same in markdown and inside raw HTML.
_ENTITIES = {c: html.escape(c) for c in "&<>\"'"}
# Every other ASCII punctuation character may be backslash-escaped in
# CommonMark; escaping all of them also covers GFM (tables, strikethrough,
# autolinks) and Streamlit's additions (:red[...], :material/...:, $math$).
_BACKSLASHED = {c: "\\" + c for c in string.punctuation if c not in _ENTITIES}
_MD_TABLE = str.maketrans({**_ENTITIES, **_BACKSLASHED})


def plain(value: object, limit: int = 120) -> str:
    """One line of plain text: hidden characters dropped, spaces collapsed, at most limit chars."""
    s = value if isinstance(value, str) else str(value)
    s = s[: limit * 8]  # bounds the work on a huge string; the cut below is exact
    s = "".join(" " if c.isspace() else c for c in s
                if c.isspace() or unicodedata.category(c) not in _HIDDEN)
    s = " ".join(s.split())
    if len(s) > limit:
        s = s[: max(limit - 1, 0)].rstrip() + "…"
    return s


def md_escape(value: object) -> str:
    """Text that st.markdown shows exactly as written: no links, images, HTML or formatting.

    Meant for one line (a title, a label): line breaks become spaces, so no
    line can start a heading, list, quote or code block. Markdown inside
    HTML blocks is not parsed; to put text inside HTML, use html.escape.
    """
    s = value if isinstance(value, str) else str(value)
    # Leading spaces would start a code block; HTML would not show them anyway.
    s = " ".join(s.splitlines()).strip()
    return s.translate(_MD_TABLE)
