"""Helpers the page tests and the benchmarks share: canvas data as the canvas component
sends it, what a page wrote as HTML, and a small third network for the table."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_models import data
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.nets.evaluate import evaluate


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


class Linear(nn.Module):
    """The third network of the tests: a linear classifier, 784 -> 10 (7,850 parameters)."""

    def __init__(self, hidden: int = 0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


THIRD = networks.Network(
    key="tiny",
    name="Linear",
    colour="#2ca02c",
    cls=Linear,
    channels_last=False,
    defaults={"optimizer": "sgd", "lr": 0.05, "batch_size": 64, "label_smoothing": 0.0},
    large={},
    train_rate=(20_000.0, 10_000.0),
    eval_rate=50_000.0,
    kwarg_bounds={"hidden": (0, 0)},
    # Nothing shipped, no layers for the not-a-digit check, no feature maps: what a
    # network added in one table entry has before anyone fits or ships anything for it.
)


@contextlib.contextmanager
def third_network() -> Iterator[networks.Network]:
    """The table with a third network (no shipped model) while in the block."""
    net = networks.register(THIRD)
    try:
        yield net
    finally:
        networks.unregister(net.key)


def trained_third(images: int = 5_000) -> str:
    """A Linear trained on the first MNIST training images, saved as a version in the app
    home and put in use; its version id."""
    train, test = data.load_split("train"), data.load_split("test")
    x, y = data.to_float(train.images[:images]), train.labels[:images].long()
    torch.manual_seed(0)
    model = Linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):
        for i in range(0, images, 100):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i : i + 100]), y[i : i + 100]).backward()
            opt.step()
    model.eval()
    accuracy = evaluate(model, test.images, test.labels).accuracy
    path = registry.new_version_path(THIRD.key, images, "20260101-000000")
    title = f"Linear ({images:,} first images, 3 epochs)"
    checkpoint.save(model, path, THIRD.key, {"title": title, "test_accuracy": accuracy})
    vid = f"trained/{path.stem}"
    registry.set_active(THIRD.key, vid)
    return vid
