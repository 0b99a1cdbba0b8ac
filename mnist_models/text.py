"""Text that comes from files or visitors, made safe to show: plain lines and escaped markdown."""

from __future__ import annotations

import html
import re
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
# CommonMark; escaping all of them also covers GFM (tables, strikethrough)
# and Streamlit's additions (:red[...], :material/...:, $math$).
_BACKSLASHED = {c: "\\" + c for c in string.punctuation if c not in _ENTITIES}
_MD_TABLE = str.maketrans({**_ENTITIES, **_BACKSLASHED})
WORD_JOINER = "\u2060"  # invisible, and not a space: a link or emoji needs one before it
_WWW = re.compile(r"(www)(?=\.)", re.IGNORECASE)


# An absolute path (POSIX) in an error message: every folder up to its last part.
_FOLDERS = re.compile(r"(?<![\w.~:/-])/(?:[^\s'\"/:;,()]+/)+(?=[^\s'\"/:;,()]*)")


def without_paths(message: object, limit: int = 300) -> str:
    """An error message for visitors: one plain line, every absolute path cut to its last
    part (a file's name, never the server's folders); the whole message belongs in the log."""
    return plain(_FOLDERS.sub("", str(message)), limit)


def plain(value: object, limit: int = 120) -> str:
    """One line of plain text: hidden characters dropped, spaces collapsed, at most limit chars."""
    s = value if isinstance(value, str) else str(value)
    s = s[: limit * 8]  # bounds the work on a huge string; the cut below is exact
    s = "".join(
        " " if c.isspace() else c
        for c in s
        if c.isspace() or unicodedata.category(c) not in _HIDDEN
    )
    s = " ".join(s.split())
    if len(s) > limit:
        s = s[: max(limit - 1, 0)].rstrip() + "…"
    return s


def md_escape(value: object) -> str:
    """Text that st.markdown shows exactly as written: no links, images, HTML or formatting.

    Meant for one line (a title, a label): line breaks become spaces, so no
    line can start a heading, list, quote or code block. Invisible word
    joiners (U+2060) follow ':', '@' and 'www'. Markdown inside
    HTML blocks is not parsed; to put text inside HTML, use html.escape.
    """
    s = value if isinstance(value, str) else str(value)
    # Leading spaces would start a code block; HTML would not show them anyway.
    s = " ".join(s.splitlines()).strip()
    # Bare URLs, e-mail addresses and :emoji: are found in the parsed text,
    # where escapes no longer count: an invisible word joiner splits them.
    s = _WWW.sub(
        "\\1" + WORD_JOINER, s.replace(":", ":" + WORD_JOINER).replace("@", "@" + WORD_JOINER)
    )
    return s.translate(_MD_TABLE)
