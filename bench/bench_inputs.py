"""What hostile or huge inputs cost: time to refuse or read them, and peak memory for uploads.

    python bench/bench_inputs.py

Drawings (in-process, median of 5): a real-looking digit, a drawing at the
caps (200 strokes, 20,000 points), a 1,000,000-point drawing, 10,000 objects of
100 points. Uploads (each in a fresh process, for its peak memory): a 39 Mpx
JPEG photo, with and without an EXIF rotation, read by read_image (draft-mode
decoding) next to a full decode as Pillow gives it.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models.reading.canvas import DrawingRejected, strokes_from_fabric
from mnist_models.reading.pen import from_strokes


def timed(fn, repeat: int = 5) -> tuple[float, str]:
    """Median ms of fn() and what it gave (a result, nothing, or the refusal)."""
    times, outcome = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            out = fn()
            outcome = "nothing to read" if out is None else "read"
        except DrawingRejected as exc:
            outcome = f"refused: {exc}"
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), outcome


def drawings() -> None:
    rng = np.random.default_rng(0)

    def path(n: int) -> list:
        pts = rng.uniform(20, 320, (n, 2)).round(1).tolist()
        return [["M", *pts[0]]] + [["L", *p] for p in pts[1:]]

    # A digit drawn with the mouse: one stroke, 150 pointer positions as Q segments.
    t = np.linspace(0, 2 * np.pi, 151)
    loop = np.c_[168 + 60 * np.sin(t), 168 - 90 * np.cos(t)]
    digit = {
        "objects": [
            {
                "type": "path",
                "path": [["M", *loop[0]]]
                + [["Q", *a, *(a + b) / 2] for a, b in zip(loop[:-1], loop[1:])],
            }
        ]
    }
    cases = {
        "a digit (150 pointer positions)": digit,
        "at the caps (200 strokes x 100 points)": {
            "objects": [{"type": "path", "path": path(100)} for _ in range(200)]
        },
        "1,000,000 points in one stroke": {"objects": [{"type": "path", "path": path(1_000_000)}]},
        "10,000 objects of 100 points": {"objects": [{"type": "path", "path": path(100)}] * 10_000},
    }
    print("| drawing | median ms | outcome |\n|---|---:|---|")
    for name, payload in cases.items():
        ms, outcome = timed(lambda p=payload: from_strokes(strokes_from_fabric(p)))
        print(f"| {name} | {ms:.2f} | {outcome} |")


CHILD = """
import io, sys, time
sys.path.insert(0, {root!r})
from PIL import Image, ImageOps
from mnist_models.reading.uploads import read_image

def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

data = open({path!r}, 'rb').read()
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (Linux)
before = status('VmRSS')
t0 = time.perf_counter()
if {full!r}:
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    img.thumbnail((600, 600))
    shape = img.size[::-1]
else:
    shape = read_image(data).shape[:2]
ms = (time.perf_counter() - t0) * 1000
print(ms, status('VmHWM') - before, shape)
"""


def uploads() -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        # 7200 x 5400 = 38.9 Mpx, a photo-sized JPEG of a digit on paper.
        img = Image.new("RGB", (7200, 5400), (235, 232, 225))
        ink = Image.new("L", (1800, 2600), 0)
        img.paste((30, 30, 40), (2700, 1400), ink)
        files = {}
        for rot in (None, 6):
            exif = Image.Exif()
            if rot:
                exif[0x0112] = rot
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=90, exif=exif.tobytes())
            files[rot] = Path(tmp) / f"photo-{rot}.jpg"
            files[rot].write_bytes(buf.getvalue())
        del img
        print("\n| 39 Mpx JPEG | reader | ms | memory added at peak, MB | size |")
        print("|---|---|---:|---:|---|")
        for rot, path in files.items():
            for full in (True, False):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD.format(root=str(ROOT), path=str(path), full=full)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split(maxsplit=2)
                reader = "exif_transpose, then thumbnail" if full else "read_image (draft)"
                print(
                    f"| EXIF rotation {rot or 'none'} | {reader} | {float(out[0]):.0f} "
                    f"| {float(out[1]):.0f} | {out[2].strip()} |"
                )


if __name__ == "__main__":
    drawings()
    uploads()
