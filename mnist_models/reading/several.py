"""Several digits side by side ("12", "2026"): told apart from one digit, never read as one.

A classifier reads whatever it is given as one of ten digits, so "12" drawn on the page
read "Both networks read 2." with both sure. ``side_by_side`` splits a drawing's strokes
into groups with a clear gap between them (no stroke of one group over another's
columns, and at least GAP of the drawing's height of bare canvas between them), each at
least TALL of the drawing's height; ``pen.from_strokes`` reads each group as a drawing of
its own (``Preprocessed.pieces``). Only when every network reads every group as the same
digit, sure and not flagged as "not a digit", does the reading say "several digits"
(``read.Reading.several``). A 4 whose bar stops short of its stem, or a 0 in two arcs,
reads as before: it is taller than wide (WIDE), and its parts are no digits the
networks are sure of. Measured in docs/preprocessing.md, "Several digits side by side".
"""

from __future__ import annotations

import numpy as np

GAP = 0.05  # bare canvas between two groups, as a share of the drawing's height
TALL = 0.4  # each group at least this share of the drawing's height (not a dot or a dash)
WIDE = 0.75  # the whole drawing at least this wide for its height (a 4 or a 0 in parts is not)
MOST = 6  # more groups than this: read as one drawing (a row of ticks is no number)


def side_by_side(strokes: list[np.ndarray]) -> list[list[np.ndarray]] | None:
    """The strokes in groups from left to right, or None where they are one drawing (one
    group, a group that is not TALL, or more than MOST)."""
    if len(strokes) < 2:
        return None
    allp = np.concatenate(strokes)
    height = float(np.ptp(allp[:, 1]))
    if height <= 0 or float(np.ptp(allp[:, 0])) < WIDE * height:
        return None
    order = sorted(range(len(strokes)), key=lambda i: float(strokes[i][:, 0].min()))
    groups: list[list[np.ndarray]] = []
    right = -np.inf
    for i in order:
        s = strokes[i]
        if not groups or float(s[:, 0].min()) > right + GAP * height:
            groups.append([])
        groups[-1].append(s)
        right = max(right, float(s[:, 0].max())) if len(groups[-1]) > 1 else float(s[:, 0].max())
    if not 2 <= len(groups) <= MOST:
        return None
    for g in groups:
        ys = np.concatenate(g)[:, 1]
        if float(np.ptp(ys)) < TALL * height:
            return None
    return groups
