"""Accuracy on drawn digits, and how often drawings are flagged as "not a digit".

    python bench/bench_drawn.py                 # 1,000 test digits per set (a few minutes)
    python bench/bench_drawn.py --n 10000       # all 10,000
    python bench/bench_drawn.py --mlp other-mlp.pt --cnn other-cnn.pt
    python bench/bench_drawn.py --scores        # also the scores that need no probe
    python bench/bench_drawn.py --leave-kind-out  # the probe on kinds it never saw (~20 min)

MNIST test digits are traced into strokes and drawn the ways people draw
(mnist_models/drawings/drawsets.py): plain (anywhere, any size), rotated by 20 degrees,
slanted (shear 0.3), squashed (aspect 0.6), narrow (a fifth as wide as tall; narrow18:
the same drawn with an 18 px brush and read as an image), tiny (10-15% of the canvas),
tremor (point noise sd 1.5 px), with a stray dot or stroke, and rendered as rasters at
brush 10, 18 and 28 px; then hand-shaped 1s with a flag (flag1; flag1_18 with an 18 px
brush, read as images) and 7s with a short, level bar (bar7), not traced from MNIST,
whose 1s are mostly bare sticks; then numbers, 2-3 test digits side by side, read digit
by digit (mnist_models/reading/several.py), and how many single digits of five sets
would be taken for several. Each set goes through the drawing page's
preprocessing and the networks; the table gives each network's accuracy, the
share it marks "not sure" (below predict.NOT_SURE_BELOW, what the page did
before the not-a-digit check) and the share its not-a-digit detector flags
(mnist_models/reading/ood.py), with the page's combined verdict. The non-digit set
(mnist_models/drawings/nondigits.py, a seed the detectors were not fitted on) should be
flagged; the digits should not.

--scores compares the candidate not-a-digit scores on the same sets, each with
a threshold fitted by the detector's rule on held-out training digits (MNIST
training images 50,000-59,999 and drawn training digits, never the test set):
max softmax probability, max logit, energy, Mahalanobis distance and cosine
nearest-neighbour distance on the last hidden layer, and the fitted probe.

--leave-kind-out refits each network's probe six times, each time without one
kind of non-digit, and prints how much of that unseen kind it still flags: a
fairer guess at drawings nobody thought of than the test set above, which
comes from the same generator as the probe's examples.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import data
from mnist_models.drawings import (
    drawsets,
    nondigits,
    synth,
)
from mnist_models.nets import checkpoint
from mnist_models.reading import ood, pen
from mnist_models.reading.predict import NOT_SURE_BELOW
from mnist_models.reading.read import read
from mnist_models.training import ood_fit

NONDIGIT_SEED = 7_000  # the detectors were fitted on seeds 1,000 and 2,000 (ood_fit.fit)


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


def _last_hidden(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(input of the last nn.Linear (N, D), logits (N, 10))."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    got = []
    hook = last.register_forward_hook(lambda _m, inp, _o: got.append(inp[0]))
    with torch.inference_mode():
        logits = torch.cat([model(x[i : i + 2000]) for i in range(0, len(x), 2000)])
    hook.remove()
    return torch.cat(got).double(), logits.double()


def _candidate_scores(
    x: torch.Tensor,
    model: torch.nn.Module,
    det: ood.Detector | None,
    t: float,
    means: torch.Tensor,
    prec: torch.Tensor,
    bank: torch.Tensor,
) -> dict[str, np.ndarray]:
    """Each candidate score for a batch (higher: less like a digit)."""
    h, lg = _last_hidden(model, x)
    d = h[:, None, :] - means[None]
    hn = h / h.norm(dim=1, keepdim=True).clamp_min(1e-9)
    s = {
        "max softmax": -torch.softmax(lg / t, 1).max(1).values,
        "max logit": -lg.max(1).values,
        "energy": -torch.logsumexp(lg, 1),
        "Mahalanobis": torch.einsum("ncd,de,nce->nc", d, prec, d).min(1).values,
        "cosine 5-NN": -(hn @ bank.T).topk(5, dim=1).values[:, -1],
    }
    if det is not None:
        s["probe (ood.py)"] = det.logits(model, x.float()).double()
    return {k: v.numpy() for k, v in s.items()}


def compare_scores(models: dict, test_sets: dict[str, torch.Tensor], n_drawn: int) -> None:
    """Flag rates of each candidate score at a threshold fitted on held-out training digits."""
    train = data.load_split("train")
    fit_x = train.images[:20_000].float().div(255).unsqueeze(1)
    fit_y = train.labels[:20_000]
    held = {
        "mnist": train.images[50_000:].float().div(255).unsqueeze(1),
        **ood_fit.drawn(train.images[50_000 : 50_000 + n_drawn].numpy(), 100),
    }
    for arch, (model, meta, det) in models.items():
        t = float(meta.get("temperature", 1.0))
        f, _ = _last_hidden(model, fit_x)
        means = torch.stack([f[fit_y == c].mean(0) for c in range(10)])
        cen = f - means[fit_y]
        cov = cen.T @ cen / len(f)
        prec = torch.linalg.inv(cov + 1e-6 * cov.diagonal().mean() * torch.eye(len(cov)))
        bank = f[::2] / f[::2].norm(dim=1, keepdim=True).clamp_min(1e-9)

        def scores(x: torch.Tensor, fit=(model, det, t, means, prec, bank)) -> dict:
            return _candidate_scores(x, *fit)

        h = {k: scores(x) for k, x in held.items()}
        te = {k: scores(x) for k, x in test_sets.items()}
        drawn = [k for k in te if k not in ("mnist", "nondigits")]
        print(f"\n{models[arch][1].get('title', arch)}: flagged at the held-out threshold")
        print(f"{'score':<16} {'nondigits':>9} {'mnist':>6} {'worst drawn set':>20}")
        for name in h["mnist"]:
            thr = max(
                [np.quantile(h["mnist"][name], 1 - ood_fit.MAX_FLAG_MNIST)]
                + [
                    np.quantile(h[k][name], 1 - ood_fit.MAX_FLAG_DRAWN)
                    for k in held
                    if k != "mnist"
                ]
            )
            rate = {k: float((v[name] > thr).mean()) for k, v in te.items()}
            worst = max(drawn, key=lambda k: rate[k])
            print(
                f"{name:<16} {rate['nondigits']:>9.1%} {rate['mnist']:>6.2%} "
                f"{worst + ' ' + format(rate[worst], '.1%'):>20}"
            )


def leave_kind_out(models: dict, nd: torch.Tensor, kinds: np.ndarray, mnist: torch.Tensor) -> None:
    """Flag rate on each non-digit kind by a probe fitted without that kind."""
    cache: dict = {}  # the same drawn digits for every refit
    print(
        f"\n{'unseen kind':<12} {'network':<8} {'unseen flagged':>14} "
        f"{'other kinds':>11} {'mnist':>6}"
    )
    for arch, (model, meta, _) in models.items():
        for kind in nondigits.KINDS:
            det = ood_fit.fit(
                model, meta, kinds=tuple(k for k in nondigits.KINDS if k != kind), cache=cache
            )
            f = (det.logits(model, nd) > det.threshold).numpy()
            fm = float((det.logits(model, mnist) > det.threshold).float().mean())
            print(
                f"{kind:<12} {arch:<8} {f[kinds == kind].mean():>14.1%} "
                f"{f[kinds != kind].mean():>11.1%} {fm:>6.2%}",
                flush=True,
            )


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


def several_digits(models: dict, strokes: list, labels: np.ndarray, n: int, seed: int) -> None:
    """Numbers (2-3 traced digits side by side) read digit by digit, and single drawn
    digits that would be taken for several (reading/several.py; what the page shows)."""
    # read() needs only each version's metadata; the detectors come from ood.STORE, as above.
    as_read = {a: (m, types.SimpleNamespace(meta=meta)) for a, (m, meta, _) in models.items()}
    rng = np.random.default_rng(seed * 100 + 70)
    called = right = 0
    for _ in range(n):
        drawn, digits = drawsets.number_strokes(strokes, labels, rng)
        got = read(pen.from_strokes(drawn), as_read).several
        called, right = called + (got is not None), right + (got == digits)
    print(
        f"numbers (2-3 digits side by side, {n}): {called / n:.1%} read as several digits, "
        f"{right / n:.1%} with every digit right"
    )
    for i, variant in enumerate(("plain", "rotated", "slanted", "tremor", "stray")):
        vrng = np.random.default_rng(seed * 100 + 80 + i)
        pres = [drawsets.read_variant(s, variant, vrng) for s in strokes if s]
        split = [p for p in pres if p is not None and p.pieces]
        wrong = sum(read(p, as_read).several is not None for p in split)
        print(f"  {variant}: {wrong} of {len(pres)} single digits read as several")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="MNIST test digits per set")
    p.add_argument("--nondigits", type=int, default=3000, help="size of the non-digit set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mlp", type=Path, default=ROOT / "weights" / "mlp.pt")
    p.add_argument("--cnn", type=Path, default=ROOT / "weights" / "cnn.pt")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--scores",
        action="store_true",
        help="also compare the candidate not-a-digit scores (about a minute more)",
    )
    p.add_argument(
        "--leave-kind-out",
        action="store_true",
        help="refit the probes without each kind of non-digit (about 20 minutes)",
    )
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    models = {}
    for arch, path in (("mlp", a.mlp), ("cnn", a.cnn)):
        model, meta = checkpoint.load(path)
        models[arch] = (model, meta, ood.STORE.get(meta["sha256"], arch))
        if models[arch][2] is None:
            print(
                f"note: no not-a-digit detector for {path}; fit one with "
                f"python -m mnist_models ood fit {path}"
            )
    test = data.load_split("test")
    pick = np.random.default_rng(a.seed).permutation(len(test))[: a.n]
    images, labels = test.images[pick].numpy(), test.labels[pick].numpy()
    strokes = [synth.digit_strokes(img) for img in images]

    print(
        f"{'set':<10} {'items':>6} {'MLP acc':>8} {'unsure':>7} {'flag':>7} "
        f"{'CNN acc':>8} {'unsure':>7} {'flag':>7} {'both':>7} {'either':>7} {'empty':>6}"
    )
    mn = test.images.float().div(255).unsqueeze(1)
    print(row("mnist", run_set(models, mn), test.labels.numpy(), len(mn)))
    sets = {"mnist": mn}
    for i, variant in enumerate(drawsets.VARIANTS + drawsets.MORE_VARIANTS):
        x, kept = drawsets.build(images, variant, seed=a.seed * 100 + i, strokes=strokes)
        sets[variant] = x
        print(row(variant, run_set(models, x), labels[kept], len(images)), flush=True)
    for i, (kind, digit) in enumerate(drawsets.HAND_SETS.items()):
        x = drawsets.build_hand(kind, a.n, seed=a.seed * 100 + 50 + i)
        print(row(kind, run_set(models, x), np.full(len(x), digit), a.n), flush=True)
    several_digits(models, strokes, labels, a.n, a.seed)
    made = nondigits.make_set(a.nondigits, seed=NONDIGIT_SEED + a.seed)
    kinds = np.array([k for k, _ in made])
    pres = [pen.from_strokes(s) for _, s in made]
    ok = np.array([p is not None for p in pres])
    x = torch.stack([p.tensor()[0] for p in pres if p is not None])
    res = run_set(models, x)
    print(row("nondigits", res, None, len(made)))
    for kind in nondigits.KINDS:
        m = kinds[ok] == kind
        print(
            row(
                "  " + kind,
                {
                    k: {f: (v[m] if v is not None else None) for f, v in r.items()}
                    for k, r in res.items()
                },
                None,
                int((kinds == kind).sum()),
            )
        )
    if a.scores:
        compare_scores(models, {**sets, "nondigits": x}, n_drawn=a.n)
    if a.leave_kind_out:
        leave_kind_out(models, x, kinds[ok], mn)
    print(
        f"({time.perf_counter() - t0:.0f} s; acc: accuracy; unsure: confidence below "
        f"{NOT_SURE_BELOW:.0%}; flag: not-a-digit; both/either: flagged by both/either "
        "network; empty: nothing to read)"
    )


if __name__ == "__main__":
    main()
