"""Stray marks: small pieces of ink far from the digit (a slip of the finger, a tap).

``stray_mask`` finds them on a coarse grid with its own connected components
(``runs_labels``), so its cost does not grow with the image; ``from_image`` and
``from_strokes`` set them aside before scaling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


# Stray marks. Ink is judged on a coarse grid of `grid` cells across the longer
# side of everything drawn, as re-drawn with the MNIST-thick pen (15% of that
# side, which already joins the gaps of a digit drawn in pieces). Pieces whose
# ink touches are one cluster. A cluster is set aside when it carries less
# than `mass` of the heaviest cluster's ink and its gap to that cluster is at
# least (dist + dist_per_mass * its share of that ink) times that cluster's
# size: a tap far off goes, a detached bar of a 5 or a 7 (a larger share,
# nearer) stays. Chosen by measurement (bench/bench_stray.py prints the
# figures) on MNIST test digits drawn as strokes, with and without a stray dot
# or short stroke, with gaps cut into their strokes, and drawn as dashes: the
# most strays set aside with no digit of the sets without strays read worse.
# A flat distance of 0.1 dropped the detached top bar of a 5, a 7's bar and
# a 9's loop end found among plain MNIST digits.
@dataclass(frozen=True)
class StrayRule:
    """When a piece of ink is a stray mark: see stray_mask."""

    grid: int = 28
    mass: float = 0.5
    dist: float = 0.05
    dist_per_mass: float = 1.0  # heavier pieces must lie farther away to be set aside


STRAYS = StrayRule()


def _runs_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 8-connected pieces of a small boolean image; (labels with -1 off ink, count).

    Rows are cut into runs and touching runs of neighbouring rows are joined
    with union-find: a few dozen runs on the coarse grid, so no per-pixel loop.
    """
    h, w = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rs, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # exclusive; row-major order pairs them with starts
    n = len(starts)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    bounds = np.searchsorted(rs, np.arange(h + 1))
    s, e = starts.tolist(), ends.tolist()
    for r in range(h - 1):
        i, i_end = int(bounds[r]), int(bounds[r + 1])
        j, j_end = i_end, int(bounds[r + 2])
        while i < i_end and j < j_end:
            if s[j] <= e[i] and s[i] <= e[j]:  # overlapping or diagonal neighbours
                parent[find(i)] = find(j)
            if e[i] < e[j]:
                i += 1
            else:
                j += 1
    roots = [find(i) for i in range(n)]
    ids = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    labels = np.full((h, w), -1, dtype=np.int32)
    for r, a, b, root in zip(rs.tolist(), s, e, roots):
        labels[r, a:b] = ids[root]
    return labels, len(ids)


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Grow a boolean image by r cells in every direction (a square of side 2r+1)."""
    if r <= 0:
        return mask
    h, w = mask.shape
    # Separable max over a window: cumulative sums make each pass one subtraction.
    c = np.pad(mask, ((r + 1, r), (0, 0))).astype(np.int32).cumsum(axis=0)
    rows = (c[2 * r + 1 :] - c[:h]) > 0
    c = np.pad(rows, ((0, 0), (r + 1, r))).astype(np.int32).cumsum(axis=1)
    return (c[:, 2 * r + 1 :] - c[:, :w]) > 0


def stray_mask(ink: np.ndarray, rule: StrayRule = STRAYS, pen: float = 0.0) -> np.ndarray | None:
    """Boolean mask (ink's shape) of stray marks: light pieces of ink far from the digit.

    `pen` (a fraction of the longer side) thickens the ink first, as if it had
    been re-drawn with that pen; strokes re-drawn by from_strokes need none.
    None when there is nothing to set aside. Cost is bounded by the coarse grid
    (grid x grid cells), whatever the size of the image.
    """
    on = ink > 0.1
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    if len(rows) == 0:
        return None
    r0, c0 = int(rows[0]), int(cols[0])
    h, w = int(rows[-1]) + 1 - r0, int(cols[-1]) + 1 - c0
    block = max(1, math.ceil(max(h, w) / rule.grid))
    gh, gw = math.ceil(h / block), math.ceil(w / block)
    box = np.zeros((gh * block, gw * block), dtype=np.float32)
    box[:h, :w] = np.where(on[r0 : r0 + h, c0 : c0 + w], ink[r0 : r0 + h, c0 : c0 + w], 0.0)
    cells = box.reshape(gh, block, gw, block).sum(axis=(1, 3))  # ink per coarse cell
    occupied = cells > 0
    labels, n = _runs_labels(dilate(occupied, round(pen * rule.grid / 2)))
    if n < 2:
        return None
    labels = np.where(occupied, labels, -1)
    weights = np.bincount(labels[occupied], weights=cells[occupied], minlength=n)
    main = int(weights.argmax())
    light = np.flatnonzero(weights < rule.mass * weights[main])
    if len(light) == 0:
        return None
    main_cells = np.argwhere(labels == main)  # (m, 2)
    size = float((main_cells.max(0) - main_cells.min(0) + 1).max())
    far = []
    for k in light.tolist():
        piece = np.argwhere(labels == k)  # at most grid x grid cells in all pieces
        gap = np.sqrt(((piece[:, None, :] - main_cells[None]) ** 2).sum(-1)).min() - 1
        share = weights[k] / weights[main]
        if gap >= (rule.dist + rule.dist_per_mass * share) * size:
            far.append(k)
    if not far:
        return None
    coarse = np.isin(labels, far)  # cells of the pieces to set aside
    fine = np.zeros(ink.shape, dtype=bool)
    grown = np.repeat(np.repeat(coarse, block, axis=0), block, axis=1)[:h, :w]
    fine[r0 : r0 + h, c0 : c0 + w] = grown & on[r0 : r0 + h, c0 : c0 + w]
    return fine
