"""Drawings that are not digits: letters, shapes, crosses, zigzags, scribbles, signs, doodles.

What people at a demo booth draw to test the networks. Each drawing is a list of
stroke polylines in canvas pixels, as the canvas sends them, so it goes through
``pen.from_strokes`` exactly like a drawn digit. Shapes that a person could
fairly call a digit (a circle is a 0, a single line a 1, an S a 5, a Z a 2) are
left out on purpose; random strokes will now and then make something digit-like
anyway, as visitors' scribbles do. (Random mixes of circles, arcs and lines were
tried as a kind and dropped: too many of them are digits, two circles an 8.)
"""

from __future__ import annotations

import numpy as np

Polyline = list[tuple[float, float]]

# Letters in a unit box (x right, y down), as strokes a person would draw.
LETTERS: dict[str, list[Polyline]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(0.9, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "R": [
        [(0, 1), (0, 0), (0.7, 0), (0.95, 0.15), (0.95, 0.35), (0.7, 0.5), (0, 0.5)],
        [(0.4, 0.5), (1, 1)],
    ],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.4), (0.75, 1), (1, 0)]],
    # Letters the networks read as digits, confident, before they were here: L a 6, T a 7,
    # Y a 4, U a 0, V a 4 or a 1. (Z, S, D, G and O are left out: they are drawn 2, 5
    # and 0 too.)
    "L": [[(0, 0), (0, 1), (0.8, 1)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "U": [
        [
            (0, 0),
            (0, 0.6),
            (0.07, 0.82),
            (0.25, 0.97),
            (0.5, 1),
            (0.75, 0.97),
            (0.93, 0.82),
            (1, 0.6),
            (1, 0),
        ]
    ],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "#": [
        [(0.35, 0), (0.25, 1)],
        [(0.75, 0), (0.65, 1)],
        [(0, 0.33), (1, 0.33)],
        [(0, 0.67), (1, 0.67)],
    ],
}


def _circle(
    cx: float, cy: float, r: float, a0: float = 0.0, a1: float = 2 * np.pi, n: int = 24
) -> Polyline:
    t = np.linspace(a0, a1, n)
    return list(zip(cx + r * np.cos(t), cy + r * np.sin(t)))


def _star(points: int = 5) -> list[Polyline]:
    ang = -np.pi / 2 + np.arange(points + 1) * (2 * np.pi * 2 / points)
    return [list(zip(0.5 + 0.5 * np.cos(ang), 0.5 + 0.5 * np.sin(ang)))]


def _heart() -> list[Polyline]:
    t = np.linspace(0, 2 * np.pi, 40)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [list(zip((x + 17) / 34, (y + 17) / 34))]


SHAPES: dict[str, list[Polyline]] = {
    "triangle": [[(0.5, 0), (1, 1), (0, 1), (0.5, 0)]],
    "square": [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]],
    "star": _star(5),
    "heart": _heart(),
    "arrow": [[(0, 0.5), (1, 0.5)], [(0.7, 0.2), (1, 0.5), (0.7, 0.8)]],
    "house": [[(0, 1), (0, 0.4), (0.5, 0), (1, 0.4), (1, 1), (0, 1)]],
    "smiley": [
        _circle(0.5, 0.5, 0.5, n=32),
        [(0.33, 0.35), (0.34, 0.36)],
        [(0.66, 0.35), (0.67, 0.36)],
        _circle(0.5, 0.5, 0.3, 0.2 * np.pi, 0.8 * np.pi),
    ],
    "spiral": [
        list(
            zip(
                0.5 + np.linspace(0.02, 0.5, 60) * np.cos(np.linspace(0, 6 * np.pi, 60)),
                0.5 + np.linspace(0.02, 0.5, 60) * np.sin(np.linspace(0, 6 * np.pi, 60)),
            )
        )
    ],
}


def _wave(cycles: float = 1.5) -> Polyline:
    t = np.linspace(0, 2 * np.pi * cycles, 40)
    return list(zip(t / t[-1], 0.5 + 0.2 * np.sin(t)))


# Signs and marks a visitor might try instead of a digit.
SYMBOLS: dict[str, list[Polyline]] = {
    "=": [[(0, 0.35), (1, 0.35)], [(0, 0.65), (1, 0.65)]],
    "%": [_circle(0.2, 0.2, 0.15), [(0.9, 0), (0.1, 1)], _circle(0.8, 0.8, 0.15)],
    "?": [_circle(0.5, 0.3, 0.3, np.pi, 2.5 * np.pi, 20) + [(0.5, 0.75)], [(0.5, 0.95), (0.5, 1)]],
    "@": [
        _circle(0.5, 0.5, 0.2, 0, 2 * np.pi, 20)
        + [(0.7, 0.7)]
        + _circle(0.5, 0.5, 0.5, 0.25 * np.pi, 2.1 * np.pi, 30)
    ],
    "check": [[(0, 0.55), (0.35, 1), (1, 0)]],
    "wave": [_wave(1.5)],
    "infinity": [
        list(
            zip(
                0.5 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, 40)),
                0.5 + 0.25 * np.sin(2 * np.linspace(0, 2 * np.pi, 40)),
            )
        )
    ],
    "<": [[(1, 0), (0, 0.5), (1, 1)]],
    "pi": [[(0, 0.1), (1, 0.1)], [(0.3, 0.1), (0.25, 1)], [(0.7, 0.1), (0.75, 1)]],
}

# Little drawings: what people doodle when asked to draw anything.
DOODLES: dict[str, list[Polyline]] = {
    "sun": [_circle(0.5, 0.5, 0.22)]
    + [
        [
            (0.5 + 0.3 * np.cos(a), 0.5 + 0.3 * np.sin(a)),
            (0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)),
        ]
        for a in np.arange(8) * np.pi / 4
    ],
    "stick figure": [
        _circle(0.5, 0.15, 0.15),
        [(0.5, 0.3), (0.5, 0.7)],
        [(0.15, 0.45), (0.85, 0.45)],
        [(0.2, 1), (0.5, 0.7), (0.8, 1)],
    ],
    "tree": [
        [(0.5, 0), (0.1, 0.7), (0.9, 0.7), (0.5, 0)],
        [(0.42, 0.7), (0.42, 1), (0.58, 1), (0.58, 0.7)],
    ],
    "flower": [_circle(0.5, 0.3, 0.1)]
    + [
        _circle(0.5 + 0.2 * np.cos(a), 0.3 + 0.2 * np.sin(a), 0.1)
        for a in np.arange(5) * 2 * np.pi / 5
    ]
    + [[(0.5, 0.5), (0.5, 1)]],
    "fish": [
        _circle(0.4, 0.5, 0.35, 0.2 * np.pi, 1.8 * np.pi, 24) + [(1, 0.3), (1, 0.7), (0.68, 0.35)]
    ],
    "cat face": [
        _circle(0.5, 0.6, 0.4),
        [(0.18, 0.35), (0.2, 0), (0.4, 0.22)],
        [(0.6, 0.22), (0.8, 0), (0.82, 0.35)],
    ],
    "cloud": [
        _circle(0.25, 0.6, 0.2, 0.5 * np.pi, 1.5 * np.pi, 10)
        + _circle(0.5, 0.4, 0.25, np.pi, 2 * np.pi, 12)
        + _circle(0.75, 0.6, 0.2, -0.5 * np.pi, 0.5 * np.pi, 10)
        + [(0.25, 0.8)]
    ],
    "eye": [
        _circle(0.5, 1.0, 0.7, 1.25 * np.pi, 1.75 * np.pi, 12)
        + _circle(0.5, 0.0, 0.7, 0.25 * np.pi, 0.75 * np.pi, 12)[::-1],
        _circle(0.5, 0.5, 0.13),
    ],
}

KINDS = ("letter", "shape", "cross", "zigzag", "loops", "random", "symbol", "doodle")


def _cross(rng: np.random.Generator) -> list[Polyline]:
    """An X, a plus or an asterisk, its arms at slightly random angles."""
    arms = int(rng.choice([2, 2, 2, 3, 4]))
    base = rng.choice([np.pi / 4, 0.0]) if arms == 2 else rng.uniform(0, np.pi)
    out = []
    for i in range(arms):
        a = base + i * np.pi / arms + rng.normal(0, 0.08)
        dx, dy = 0.5 * np.cos(a), 0.5 * np.sin(a)
        out.append([(0.5 - dx, 0.5 - dy), (0.5 + dx, 0.5 + dy)])
    return out


def _zigzag(rng: np.random.Generator) -> list[Polyline]:
    """A zigzag of 2-6 teeth, lying or standing."""
    teeth = int(rng.integers(2, 7))
    xs = np.linspace(0, teeth * rng.uniform(0.3, 0.8), 2 * teeth + 1)
    ys = np.where(np.arange(len(xs)) % 2 == 0, 0.0, 1.0)
    pts = list(zip(xs, ys))
    if rng.random() < 0.3:
        pts = [(y, x) for x, y in pts]
    return [pts]


def _loops(rng: np.random.Generator) -> list[Polyline]:
    """A coil of 2-4 loops (like cursive 'eeee'), or a tangled closed scribble."""
    if rng.random() < 0.6:
        loops = int(rng.integers(2, 5))
        t = np.linspace(0, 2 * np.pi * loops, 30 * loops)
        r = rng.uniform(0.4, 0.7)
        x = t / (2 * np.pi) * rng.uniform(0.6, 1.2) + r * np.cos(t + np.pi)
        y = r * 1.4 * np.sin(t + np.pi)
        return [list(zip(x, y))]
    k = int(rng.integers(6, 14))
    pts = rng.uniform(0, 1, size=(k, 2))
    # Smooth the random polygon into a scribble: a closed Catmull-Rom-like sweep.
    t = np.linspace(0, k, 12 * k, endpoint=False)
    i = np.floor(t).astype(int)
    f = (t - i)[:, None]
    p0, p1, p2, p3 = pts[(i - 1) % k], pts[i % k], pts[(i + 1) % k], pts[(i + 2) % k]
    curve = 0.5 * (
        2 * p1
        + (-p0 + p2) * f
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f**2
        + (-p0 + 3 * p1 - 3 * p2 + p3) * f**3
    )
    return [[tuple(p) for p in curve]]


def _random_strokes(rng: np.random.Generator) -> list[Polyline]:
    """One to four random polylines of 4-8 points each, anywhere in the box."""
    return [
        [tuple(p) for p in rng.uniform(0, 1, size=(int(rng.integers(4, 9)), 2))]
        for _ in range(int(rng.integers(1, 5)))
    ]


def shape_strokes(kind: str, rng: np.random.Generator) -> list[Polyline]:
    """Strokes of one drawing of a kind (see KINDS), in unit-box-ish coordinates."""
    if kind == "letter":
        return LETTERS[str(rng.choice(list(LETTERS)))]
    if kind == "shape":
        return SHAPES[str(rng.choice(list(SHAPES)))]
    if kind == "cross":
        return _cross(rng)
    if kind == "zigzag":
        return _zigzag(rng)
    if kind == "loops":
        return _loops(rng)
    if kind == "random":
        return _random_strokes(rng)
    if kind == "symbol":
        return SYMBOLS[str(rng.choice(list(SYMBOLS)))]
    if kind == "doodle":
        return DOODLES[str(rng.choice(list(DOODLES)))]
    raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")


def _densify(pts: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` px along a polyline, as a mouse or finger reports them."""
    if len(pts) < 2:
        return pts
    out = [pts[:1]]
    for a, b in zip(pts[:-1], pts[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        out.append(a + (b - a) * np.linspace(0, 1, n + 1)[1:, None])
    return np.concatenate(out)


def place(
    strokes: list[Polyline],
    rng: np.random.Generator,
    canvas: int = 336,
    size: tuple[float, float] = (0.3, 0.9),
    tremor: float = 1.0,
) -> list[np.ndarray]:
    """Unit-box strokes -> canvas pixels: random tilt, aspect, size and position; hand tremor."""
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    allp = np.concatenate(arrays)
    centre = (allp.min(0) + allp.max(0)) / 2
    a = np.deg2rad(rng.uniform(-15, 15))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    stretch = np.array([rng.uniform(0.75, 1.25), 1.0])
    arrays = [((s - centre) * stretch) @ rot.T for s in arrays]
    allp = np.concatenate(arrays)
    lo, hi = allp.min(0), allp.max(0)
    side = rng.uniform(*size) * canvas
    scale = side / max(float((hi - lo).max()), 1e-6)
    ext = (hi - lo) * scale
    left = rng.uniform(0, max(canvas - ext[0], 0.0))
    top = rng.uniform(0, max(canvas - ext[1], 0.0))
    out = []
    for s in arrays:
        p = _densify((s - lo) * scale + [left, top], step=3.0)
        out.append(np.clip(p + rng.normal(0, tremor, size=p.shape), 0, canvas - 1))
    return out


def make_set(
    n: int, seed: int = 0, canvas: int = 336, kinds: tuple[str, ...] = KINDS
) -> list[tuple[str, list[np.ndarray]]]:
    """n non-digit drawings (kind, strokes in canvas pixels), the kinds in turn."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out.append((kind, place(shape_strokes(kind, rng), rng, canvas)))
    return out
