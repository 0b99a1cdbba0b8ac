"""Helpers the page tests and the benchmarks share: canvas data as the canvas component
sends it, what a page wrote as HTML, a small third network for the table, and the
command line run in this interpreter."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_models import cli, data
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.nets.evaluate import evaluate

ROOT = Path(__file__).resolve().parent.parent


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


def one_flag_doodle() -> tuple[list[np.ndarray], str]:
    """(strokes in canvas pixels, the network that flags it) of a synthetic non-digit both
    shipped networks read as the same digit, sure of it, while only one flags it as not a
    digit: the case of a house or a heart, which used to get a green "Both networks read 0"."""
    from mnist_models.drawings import nondigits
    from mnist_models.reading import headline, pen
    from mnist_models.reading import read as mread

    models, _ = mread.load_active()
    for _, strokes in nondigits.make_set(300, seed=7, canvas=448, kinds=("shape", "random")):
        arrays = [np.asarray(s, dtype=float) for s in strokes]
        pre = pen.from_strokes(arrays)
        if pre is None:
            continue
        said = headline.said_of(mread.read(pre, models))
        flagged = [s.name for s in said if s.flagged]
        if len(flagged) == 1 and len({s.digit for s in said}) == 1 and all(s.sure for s in said):
            return arrays, flagged[0]
    raise AssertionError("no doodle that only one network flags among 300")


# A fresh interpreter under a memory limit (RLIMIT_AS): each path through the real command
# line (mnist_models.__main__.main), its exit status, its stderr and its time, as JSON lines.
_UNDER_LIMIT = r"""
import contextlib, io, json, resource, sys, time
setup, command, headroom, paths = json.loads(sys.argv[1])
exec(setup)  # what the command imports and loads, before the limit is set
from mnist_models.__main__ import main
size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
limit = size + headroom
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
for path in paths:
    err = io.StringIO()
    t = time.monotonic()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main([path if a == "{path}" else a for a in command])
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:
            code = "crash: " + type(exc).__name__ + ": " + str(exc)[:200]
    print(json.dumps({"path": path, "code": code, "err": err.getvalue(),
                      "s": time.monotonic() - t}), flush=True)
"""
HEADROOM = 700 * 2**20  # bytes of address space beyond what the imports took


def cli_under_memory_limit(
    command: list[str],
    paths: Sequence[object],
    setup: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> list[dict]:
    """Run `python -m mnist_models *command` once per path ("{path}" in command stands for
    it) in one child under a memory limit of HEADROOM beyond what `setup` imported; a dict
    per path: path, code (exit status, or "crash: ..."), err (stderr) and s (seconds)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    arg = json.dumps([setup, command, HEADROOM, [str(p) for p in paths]])
    r = subprocess.run(
        [sys.executable, "-c", _UNDER_LIMIT, arg],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return [json.loads(line) for line in r.stdout.splitlines()]


def can_mount_read_only() -> bool:
    """Whether this process may make a private mount namespace (root and unshare)."""
    import os
    import subprocess

    return os.geteuid() == 0 and subprocess.run(["unshare", "-m", "true"]).returncode == 0


def run_with_read_only(folder: object, command: str, env: dict[str, str] | None = None):
    """Run the shell command in a private mount namespace where folder is mounted
    read-only (see can_mount_read_only), from the repository root; its CompletedProcess."""
    import os
    import subprocess
    from pathlib import Path

    remount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", remount + f"exec {command}"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def run_here(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI in this interpreter from the repository root, as a child would report it.

    For the many bad command lines: each is refused before any work, and a fresh
    interpreter per line (PyTorch imported each time) would cost seconds apiece. An
    exception other than the CLI's own exit propagates and fails the test.
    """
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
