"""Accuracy on drawn digits, and how often drawings are flagged as "not a digit".

    python bench/bench_drawn.py                 # 1,000 test digits per set (a few minutes)
    python bench/bench_drawn.py --n 10000       # all 10,000
    python bench/bench_drawn.py --mlp other-mlp.pt --cnn other-cnn.pt

MNIST test digits are traced into strokes and drawn the ways people draw
(mnist_models/drawsets.py): plain (anywhere, any size), rotated by 20 degrees,
slanted (shear 0.3), squashed (aspect 0.6), tiny (10-15% of the canvas),
tremor (point noise sd 1.5 px), with a stray dot or stroke, and rendered as
rasters at brush 10, 18 and 28 px. Each set goes through the drawing page's
preprocessing and the networks; the table gives each network's accuracy, the
share it marks "not sure" (below predict.NOT_SURE_BELOW, what the page did
before the not-a-digit check) and the share its not-a-digit detector flags
(mnist_models/ood.py), with the page's combined verdict. The non-digit set
(mnist_models/nondigits.py, a seed the detectors were not fitted on) should be
flagged; the digits should not.
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

from mnist_models import checkpoint, data, drawsets, nondigits, ood, synth  # noqa: E402
from mnist_models import preprocess as pp  # noqa: E402
from mnist_models.predict import NOT_SURE_BELOW  # noqa: E402

NONDIGIT_SEED = 7_000  # the detectors were fitted on seeds 1,000 and 2,000 (ood.fit)


def run_set(models: dict, x: torch.Tensor) -> dict[str, dict[str, np.ndarray]]:
    """Per network: answers, confidences and not-a-digit flags for a batch of inputs."""
    out = {}
    for arch, (model, meta, det) in models.items():
        with torch.inference_mode():
            logits = model(x)
        probs = torch.softmax(logits / float(meta.get("temperature", 1.0)), 1)
        conf, digit = probs.max(1)
        flag = (det.logits(model, x) > det.threshold).numpy() if det else None
        out[arch] = {"digit": digit.numpy(), "conf": conf.numpy(), "flag": flag}
    return out


def row(name: str, res: dict, labels: np.ndarray | None, n_asked: int) -> str:
    cells = [f"{name:<10}", f"{len(next(iter(res.values()))['digit']):>6}"]
    for arch in ("mlp", "cnn"):
        r = res[arch]
        acc = f"{(r['digit'] == labels).mean():.2%}" if labels is not None else "-"
        flag = f"{r['flag'].mean():.1%}" if r["flag"] is not None else "n/a"
        cells += [f"{acc:>8}", f"{(r['conf'] < NOT_SURE_BELOW).mean():>7.1%}", f"{flag:>7}"]
    flags = [res[a]["flag"] for a in ("mlp", "cnn") if res[a]["flag"] is not None]
    both = f"{np.logical_and.reduce(flags).mean():.1%}" if flags else "n/a"
    either = f"{np.logical_or.reduce(flags).mean():.1%}" if flags else "n/a"
    none = n_asked - len(next(iter(res.values()))["digit"])
    return " ".join(cells) + f" {both:>7} {either:>7} {none:>6}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="MNIST test digits per set")
    p.add_argument("--nondigits", type=int, default=3000, help="size of the non-digit set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mlp", type=Path, default=ROOT / "weights" / "mlp.pt")
    p.add_argument("--cnn", type=Path, default=ROOT / "weights" / "cnn.pt")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    models = {}
    for arch, path in (("mlp", a.mlp), ("cnn", a.cnn)):
        model, meta = checkpoint.load(path)
        models[arch] = (model, meta, ood.STORE.get(meta["sha256"], arch))
        if models[arch][2] is None:
            print(f"note: no not-a-digit detector for {path}; fit one with "
                  f"python -m mnist_models.ood fit {path}")
    test = data.load_split("test")
    pick = np.random.default_rng(a.seed).permutation(len(test))[: a.n]
    images, labels = test.images[pick].numpy(), test.labels[pick].numpy()
    strokes = [synth.digit_strokes(img) for img in images]

    print(f"{'set':<10} {'items':>6} {'MLP acc':>8} {'unsure':>7} {'flag':>7} "
          f"{'CNN acc':>8} {'unsure':>7} {'flag':>7} {'both':>7} {'either':>7} {'empty':>6}")
    mn = test.images.float().div(255).unsqueeze(1)
    print(row("mnist", run_set(models, mn), test.labels.numpy(), len(mn)))
    for i, variant in enumerate(drawsets.VARIANTS):
        x, kept = drawsets.build(images, variant, seed=a.seed * 100 + i, strokes=strokes)
        print(row(variant, run_set(models, x), labels[kept], len(images)), flush=True)
    made = nondigits.make_set(a.nondigits, seed=NONDIGIT_SEED + a.seed)
    kinds = np.array([k for k, _ in made])
    pres = [pp.from_strokes(s) for _, s in made]
    ok = np.array([p is not None for p in pres])
    x = torch.stack([p.tensor()[0] for p in pres if p is not None])
    res = run_set(models, x)
    print(row("nondigits", res, None, len(made)))
    for kind in nondigits.KINDS:
        m = kinds[ok] == kind
        print(row("  " + kind, {k: {f: (v[m] if v is not None else None) for f, v in r.items()}
                                for k, r in res.items()}, None, int((kinds == kind).sum())))
    print(f"({time.perf_counter() - t0:.0f} s; acc: accuracy; unsure: confidence below "
          f"{NOT_SURE_BELOW:.0%}; flag: not-a-digit; both/either: flagged by both/either "
          "network; empty: nothing to read)")


if __name__ == "__main__":
    main()
