"""Helpers the page tests and the benchmarks share: canvas data as the canvas component
sends it, and what a page wrote as HTML."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def fabric(strokes: Sequence[np.ndarray], brush: int = 24) -> dict:
    """Strokes in canvas pixels as the canvas's json_data: Fabric.js path objects."""
    objects = []
    for s in strokes:
        s = np.asarray(s, dtype=float)
        lo, hi = s.min(0), s.max(0)
        objects.append(
            {
                "type": "Path",
                "originX": "center",
                "originY": "center",
                "left": float((lo[0] + hi[0]) / 2),
                "top": float((lo[1] + hi[1]) / 2),
                "width": float(hi[0] - lo[0]),
                "height": float(hi[1] - lo[1]),
                "stroke": "#000000",
                "strokeWidth": brush,
                "scaleX": 1,
                "scaleY": 1,
                "angle": 0,
                "path": [["M", *map(float, s[0])]] + [["L", *map(float, p)] for p in s[1:]],
            }
        )
    return {"version": "7.4.0", "objects": objects, "background": "#ffffff"}


def canvas_value(strokes: Sequence[np.ndarray], brush: int = 28) -> str:
    """The same strokes as the canvas component's widget value, as a browser sends it."""
    return json.dumps({"drawing": {"raw": fabric(strokes, brush), "data": None}})


def html_of(at: Any) -> str:
    """Everything an AppTest run wrote as markdown or HTML (the answers are HTML)."""
    return "\n".join([m.value for m in at.markdown] + [h.proto.body for h in at.get("html")])


def streamed_html(elements: Iterable[tuple[str, Any]]) -> str:
    """The same for the (kind, proto) elements a websocket session received, alerts
    included: a phone's "Sent" is one (bench/bench_room.py)."""
    return "".join(
        getattr(sub, "body", "") for kind, sub in elements if kind in ("html", "markdown", "alert")
    )
