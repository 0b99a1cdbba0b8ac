"""The wall's pieces as HTML: a drawing's tile, the stats line, the scoreboard, highlights.

Everything from visitors (names, titles) is escaped here; the CSS is assets/wall.css.
Sized for a projector seen from the back of a room: no text under 24 px.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Sequence

import streamlit as st
from PIL import Image

from app_pages import common
from mnist_models.nets import networks
from mnist_models.rooms import rules, scoreboard

NEW_S = 5.0  # a tile is marked new for its first seconds on the wall...
NEW_MAX = 3  # ...and at most this many at once (the newest), however busy the room
HIGHLIGHTS = 4  # drawings per highlight row (one row at 1920 px)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def png_uri(d: rules.Drawing) -> str:
    """The drawing's 28x28 image as an inline PNG, ink dark on white (made once per drawing)."""
    cache = st.session_state.setdefault("wall-png", {})
    if d.id not in cache:
        buf = io.BytesIO()
        Image.fromarray(255 - d.pixels()).save(buf, format="PNG")
        cache[d.id] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return cache[d.id]


def new_ids(newest_first: Sequence[rules.Drawing], now: float | None = None) -> set[int]:
    """The drawings to mark new: sent in the last NEW_S seconds, the newest NEW_MAX of them."""
    now = time.time() if now is None else now
    return {d.id for d in newest_first[:NEW_MAX] if now - d.created <= NEW_S}


def tile_html(d: rules.Drawing, nets: Sequence[str], new: bool) -> str:
    """One drawing: its image, each network's answer, right or wrong once labelled; a
    drawing flagged as not one digit (the not-a-digit check's, or several digits side by
    side, as the phone read it) says so and gets no marks (it is not scored)."""
    odd = bool(d.not_digit)
    cells = []
    for k in nets:
        a = d.answers.get(k)
        if a is None:
            continue
        net = networks.get(k)
        right = None if odd else d.right(k)
        mark = "" if right is None else ("✓" if right else "✗")
        cls = "" if right is None else (" ta-right" if right else " ta-wrong")
        # Not one digit: the answer in the text's colour, not the network's (no confident look).
        colour = "" if odd else f' style="color:{net.colour}"'
        cells.append(
            f'<div class="ta"><div class="ta-name">{html.escape(net.name)}</div>'
            f'<div class="ta-digit"{colour}>'
            f'{a.digit}</div><div class="ta-mark{cls}">{mark}</div></div>'
        )
    if odd:
        meant = '<span class="tile-odd-mark">not one digit</span>'
    else:
        meant = f"meant {d.label}" if d.label is not None else "no label"
    who = f" · {html.escape(d.nickname)}" if d.nickname else ""
    classes = "tile" + (" tile-new" if new else "") + (" tile-odd" if odd else "")
    return (
        f'<div class="{classes}" id="tile-{d.id}" '
        f'data-label="{"" if d.label is None else d.label}" data-not-digit="{int(odd)}">'
        f'<div class="tile-top"><img src="{png_uri(d)}" alt="drawing {d.id}">'
        f'<div class="tile-answers">{"".join(cells)}</div></div>'
        f'<div class="tile-foot">#{d.id} · {meant}{who}</div></div>'
    )


def tiles_html(newest_first: Sequence[rules.Drawing], nets: Sequence[str]) -> str:
    """The tiles of these drawings, newest first, the newest few marked new."""
    if not newest_first:
        return (
            '<div class="wall-empty" id="tiles">No drawings yet: scan the code and '
            "draw a digit on your phone.</div>"
        )
    fresh = new_ids(newest_first)
    return (
        '<div class="tiles" id="tiles">'
        + "".join(tile_html(d, nets, d.id in fresh) for d in newest_first)
        + "</div>"
    )


def stats_html(room: rules.Room, board: scoreboard.Scoreboard, people: int, last: int) -> str:
    """People taking part, drawings, labelled digits, drawings that are not one digit, state."""
    n = board.not_digits
    apart = f" · {n:,} not one digit" if n else ""
    return (
        f'<div class="wall-stats" id="wall-stats" data-drawings="{board.drawings}" '
        f'data-people="{people}" data-last="{last}" data-not-digits="{board.not_digits}">'
        f"{people:,} taking part · {plural(board.drawings, 'drawing')} · "
        f"{board.labelled:,} labelled{apart}"
        f'<span class="wall-state wall-state-{room.state}">{room.state}</span></div>'
    )


def confused_text(s: scoreboard.NetScore) -> str:
    """'7→1 ×2, 4→9 ×2, 3→5 ×2; 2 more pairs tied at ×2', or 'nothing yet'."""
    if not s.confused:
        return "nothing yet"
    text = ", ".join(f"{m}→{r} ×{n}" for (m, r), n in s.confused)
    if s.confused_tied:
        last = s.confused[-1][1]
        more = "1 more pair" if s.confused_tied == 1 else f"{s.confused_tied} more pairs"
        text += f"; {more} tied at ×{last}"
    return text


def score_html(board: scoreboard.Scoreboard, nets: Sequence[str]) -> str:
    """Each network's accuracy on the labelled digits, per digit, and what it confuses."""
    parts = []
    for k in nets:
        net, s = networks.get(k), board.nets[k]
        acc = "–" if s.accuracy is None else f"{s.accuracy:.0%}"
        digits = "".join(
            f'<span title="digit {d}"><b>{d}</b>{r:,}/{n:,}</span>'
            for d, (r, n) in s.per_digit.items()
        )
        parts.append(
            f'<div class="score-net" id="score-{k}" style="--net-colour:{net.colour}">'
            f'<div class="score-name">{html.escape(net.name)}</div>'
            f'<div class="score-acc">{acc}</div>'
            f'<div class="score-count" data-right="{s.right}" data-labelled="{s.labelled}">'
            f"{s.right:,} right of {s.labelled:,}</div>"
            f'<div class="score-digits">{digits}</div>'
            f'<div class="score-confused" data-tied="{s.confused_tied}">'
            f"Confuses most: {confused_text(s)}</div></div>"
        )
    apart = ""
    if board.not_digits:
        apart = (
            f'<div class="score-apart" id="score-apart">'
            f"{plural(board.not_digits, 'drawing')} not one digit (no digit, or several side "
            "by side): shown, not scored"
            "</div>"
        )
    return f'<div class="score">{"".join(parts)}</div>{apart}'


def highlights_html(board: scoreboard.Scoreboard, nets: Sequence[str]) -> str:
    """Drawings only one network read right, and drawings that stumped every network."""

    def row(ds: list[rules.Drawing]) -> str:
        if not ds:
            return '<div class="hl-none">None yet.</div>'
        cells = []
        for d in ds[:HIGHLIGHTS]:
            reads = " ".join(
                f'<span class="hl-read" style="color:{networks.get(k).colour}">'
                f"{d.answers[k].digit}</span>"
                for k in nets
                if k in d.answers
            )
            cells.append(
                f'<div class="hl"><img src="{png_uri(d)}" alt="drawing {d.id}">'
                f"meant {d.label} · {reads}</div>"
            )
        return f'<div class="hl-row">{"".join(cells)}</div>'

    return (
        f'<div class="hl-title">Only one network right ({len(board.only_one_right)})</div>'
        f"{row(board.only_one_right)}"
        f'<div class="hl-title">Stumped {common.both(len(nets))} ({len(board.both_wrong)})</div>'
        f"{row(board.both_wrong)}"
    )
