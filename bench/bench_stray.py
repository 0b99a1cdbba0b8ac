"""Stray marks: both shipped networks' accuracy with and without setting them aside.

    python bench/bench_stray.py                 # the rule in use (stray.STRAYS)
    python bench/bench_stray.py --sweep         # and a grid of other rules

MNIST test digits are traced into pen strokes (synth.digit_strokes), placed at
a random size (100-300 px) anywhere on a 336 px canvas, and read through the
draw page's path (from_strokes) in these sets:

- plain: as drawn;
- dot / stroke: plus a stray tap or a short slip (10-25% of the digit's size)
  at a random place at least 30% of the digit's size from its ink (stroke
  50%: at least half the digit's size away);
- gaps 8% / gaps 12%: two gaps of that fraction of the digit's size cut into
  its strokes (a 5's top bar, a 4 or a 7 drawn in two strokes, loose ends);
- dashed: the whole digit drawn as dashes (12% drawn, 5% left out);
- raster plain / raster dot: the same, drawn at brush 18 and read as an
  image (from_image, the upload path); raster thin: brush 6, with gaps or a dot.

It prints each network's accuracy per set without the rule ("off") and with
it ("on"), and how often the rule set ink aside. On the sets with no stray
mark, anything set aside is a real part of a digit lost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import data
from mnist_models.drawings import synth
from mnist_models.nets import checkpoint
from mnist_models.reading import pen, raster, stray

CANVAS = 336


def build_sets(n: int, seed: int = 0) -> tuple[dict[str, list], np.ndarray]:
    """Named sets of drawings (strokes, or RGBA images for the raster sets) and their labels."""
    test = data.load_split("test")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test), n, replace=False)
    sets: dict[str, list] = {
        k: []
        for k in (
            "plain",
            "dot",
            "stroke",
            "stroke 50%",
            "gaps 8%",
            "gaps 12%",
            "dashed",
            "raster plain",
            "raster dot",
            "raster thin gaps 12%",
            "raster thin dot",
        )
    }
    for i in idx:
        size = float(rng.uniform(100, 300))
        left, top = (float(rng.uniform(0, CANVAS - size)) for _ in range(2))
        s = synth.place_strokes(synth.digit_strokes(test.images[i].numpy()), size, left, top)
        dot = synth.add_stray(s, rng, "dot", canvas=CANVAS)
        sets["plain"].append(s)
        sets["dot"].append(dot)
        sets["stroke"].append(synth.add_stray(s, rng, "stroke", canvas=CANVAS))
        sets["stroke 50%"].append(synth.add_stray(s, rng, "stroke", 0.5, canvas=CANVAS))
        sets["gaps 8%"].append(synth.with_gaps(s, rng, 0.08))
        sets["gaps 12%"].append(synth.with_gaps(s, rng, 0.12))
        sets["dashed"].append(synth.dashed(s))
        sets["raster plain"].append(synth.render_strokes(s, 18, canvas=CANVAS))
        sets["raster dot"].append(synth.render_strokes(dot, 18, canvas=CANVAS))
        sets["raster thin gaps 12%"].append(
            synth.render_strokes(synth.with_gaps(s, rng, 0.12), 6, canvas=CANVAS)
        )
        sets["raster thin dot"].append(synth.render_strokes(dot, 6, canvas=CANVAS))
    return sets, test.labels[idx].numpy()


def read(sets: dict[str, list], rule: stray.StrayRule | None) -> dict[str, tuple]:
    """Set name -> (28x28 batch, how many had ink set aside)."""
    out = {}
    for name, items in sets.items():
        pres = [
            raster.from_image(x, strays=rule)
            if name.startswith("raster")
            else pen.from_strokes(x, strays=rule)
            for x in items
        ]
        batch = torch.cat(
            [p.tensor() if p is not None else torch.zeros(1, 1, 28, 28) for p in pres]
        )
        out[name] = (batch, sum(p is not None and "dropped" in p.steps for p in pres))
    return out


def accuracies(
    models: dict, batches: dict[str, tuple], labels: np.ndarray
) -> dict[str, dict[str, float]]:
    y = torch.from_numpy(labels)
    res = {}
    with torch.inference_mode():
        for name, (x, _) in batches.items():
            res[name] = {a: float((m(x).argmax(1) == y).float().mean()) for a, m in models.items()}
    return res


def per_digit(models: dict, batches: dict[str, tuple], labels: np.ndarray, name: str) -> str:
    """ConvNet accuracy per digit for one set (which digits lose parts)."""
    y = torch.from_numpy(labels)
    with torch.inference_mode():
        ok = models["cnn"](batches[name][0]).argmax(1) == y
    return " ".join(f"{d}:{float(ok[y == d].float().mean()):.0%}" for d in range(10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--digits", type=int, default=1000)
    ap.add_argument("--sweep", action="store_true", help="also try a grid of rules")
    args = ap.parse_args()
    torch.set_num_threads(1)
    models = {a: checkpoint.load(ROOT / "weights" / f"{a}.pt")[0] for a in ("mlp", "cnn")}
    t0 = time.perf_counter()
    sets, labels = build_sets(args.digits)
    print(f"{args.digits} MNIST test digits per set, built in {time.perf_counter() - t0:.0f} s")
    off = read(sets, None)
    acc_off = accuracies(models, off, labels)
    on = read(sets, stray.STRAYS)
    acc_on = accuracies(models, on, labels)
    print(f"\nRule in use: {stray.STRAYS}")
    print("| set | MLP off | MLP on | ConvNet off | ConvNet on | ink set aside |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in sets:
        a, b = acc_off[name], acc_on[name]
        print(
            f"| {name} | {a['mlp']:.2%} | {b['mlp']:.2%} | {a['cnn']:.2%} | {b['cnn']:.2%} "
            f"| {on[name][1] / args.digits:.1%} |"
        )
    for name in ("gaps 12%", "dashed"):
        print(f"ConvNet per digit, {name}: off {per_digit(models, off, labels, name)}")
        print(
            f"{' ' * len(f'ConvNet per digit, {name}: ')}on  {per_digit(models, on, labels, name)}"
        )
    if args.sweep:
        names = list(sets)
        print("\n| dist | dist_per_mass | " + " | ".join(names) + " |")
        print("|---|---|" + "---:|" * len(names))
        for dist, per_mass in ((0.1, 0.0), (0.1, 0.3), (0.1, 0.5), (0.1, 1.0), (0.05, 1.0)):
            rule = stray.StrayRule(stray.STRAYS.grid, stray.STRAYS.mass, dist, per_mass)
            b = read(sets, rule)
            acc = accuracies(models, b, labels)
            cells = [f"{acc[n]['mlp']:.1%} {acc[n]['cnn']:.1%} ({b[n][1]})" for n in names]
            print(f"| {dist} | {per_mass} | " + " | ".join(cells) + " |")
        print("(each cell: MLP, ConvNet accuracy, and in brackets how many had ink set aside)")


if __name__ == "__main__":
    main()
