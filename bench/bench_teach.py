"""Teaching both networks a room's handwriting, measured without a room.

    python bench/bench_teach.py                    # both stand-ins, 50/200/1,000 drawings
    python bench/bench_teach.py --sizes 200 --mixes 0.1 0.3 0.5   # the mix, compared
    python bench/bench_teach.py --ready-only       # only: a room of 300, Start to ready

Two stand-ins for a room's handwriting, each with a style of its own:

- optdigits: scikit-learn's bundled digits (``sklearn.datasets.load_digits``, 1,797
  8x8 digits by writers outside MNIST), each drawn as dark ink on a white 336x336
  image, written as a PNG and read the way an upload is (``uploads.read_image``,
  then ``raster.from_image``). The file carries no writer ids: its digits are cut
  into 13 blocks of consecutive ones standing for people, and the split is by
  block (a block may hold more than one writer, or share one with its neighbour).
- styled MNIST: MNIST test digits traced into strokes and redrawn in one room's
  style (slanted 0.6, 0.45 as wide, a 30-px pen on the 336-px canvas) and read
  as the page reads a raster. The digits to learn from are test images 0-4,999,
  the held-out ones 5,000-9,999 (MNIST's test set takes its halves from two
  different groups of writers, so nobody is on both sides); the MNIST test
  figure is on the original test images, undrawn.

For each network and room size: accuracy on the held-out drawings and on all 10,000
MNIST test images before and after, and the fine-tune's training time. Then the
command line from start to both models ready (`train --model both --extra`) on a
room of 300 styled drawings by 10 people (split by person: about 210 to learn
from) with the default settings, wall time of the whole process. Figures depend on
the machine's load: print it with them.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import data as mdata  # noqa: E402
from mnist_models.drawings import synth  # noqa: E402
from mnist_models.nets import networks, registry  # noqa: E402
from mnist_models.reading import raster, uploads  # noqa: E402
from mnist_models.training import roomdata, teach  # noqa: E402

CANVAS = 336
BLOCKS = 13  # optdigits' stand-in people
SLANT, NARROW, PEN = 0.6, 0.45, 30.0  # the styled room


def optdigits_rows() -> list[roomdata.Row]:
    """The 1,797 optdigits read as uploads, in BLOCKS consecutive blocks as people."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rows = []
    for i, (img, label) in enumerate(zip(d.images, d.target)):
        ink = (img / 16.0 * 255).astype(np.uint8)
        big = Image.fromarray(ink).resize((200, 200), Image.Resampling.BILINEAR)
        page = Image.new("L", (CANVAS, CANVAS), 0)
        page.paste(big, (68, 68))
        paper = Image.fromarray(255 - np.asarray(page))  # dark ink on white paper
        buf = io.BytesIO()
        paper.save(buf, format="PNG")
        pre = raster.from_image(uploads.read_image(buf.getvalue()))
        image = b"" if pre is None else np.round(np.clip(pre.image, 0, 1) * 255).astype(np.uint8)
        block = i * BLOCKS // len(d.images)
        rows.append(roomdata.Row(i, f"block{block}", int(label), bytes(image)))
    return rows


def styled(images: np.ndarray) -> np.ndarray:
    """MNIST digits redrawn in the room's style, read as a raster; uint8 (N, 28, 28)."""
    rng = np.random.default_rng(0)
    out = np.zeros_like(images)
    for i, img in enumerate(images):
        strokes = synth.digit_strokes(img)
        if not strokes:
            continue
        strokes = synth.squash(synth.shear(strokes, SLANT), NARROW)
        allp = np.concatenate(strokes)
        lo, hi = allp.min(0), allp.max(0)
        size = rng.uniform(0.5, 0.8) * CANVAS
        k = size / max(float((hi - lo).max()), 1e-6)
        left = rng.uniform(0, CANVAS - (hi - lo)[0] * k)
        top = rng.uniform(0, CANVAS - (hi - lo)[1] * k)
        placed = synth.place_strokes(strokes, size, left, top)
        pre = raster.from_image(synth.render_strokes(placed, PEN, CANVAS))
        if pre is not None:
            out[i] = np.round(np.clip(pre.image, 0, 1) * 255)
    return out


def styled_room(test: mdata.Split, n_pool: int, n_held: int) -> roomdata.RoomData:
    """The styled room: n_pool drawings to learn from (test 0..), n_held held out (5,000..);
    the split is by writer group, so it is set here rather than by from_drawings' rule."""

    def side(lo: int, n: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        imgs = styled(test.images[lo : lo + n].numpy())
        inked = imgs.reshape(len(imgs), 28 * 28).any(1)  # a digit with nothing to trace is left out
        ids = [lo + i for i in np.flatnonzero(inked).tolist()]
        return torch.from_numpy(imgs[inked]), test.labels[ids].clone(), ids

    train, held = side(0, n_pool), side(5000, n_held)
    return roomdata.RoomData(
        "styled MNIST", *train, *held, people=(1, 1), by_person=True, drawings=n_pool + n_held
    )


def page_ready_time(room: roomdata.RoomData, n: int) -> dict:
    """The Retrain page in headless Chromium (a fresh server and app home, local mode: this
    browser is the presenter), the same room imported: from the click on Start teaching
    to both networks' before and after shown, with the page's estimate before the click."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser_utils import launch_chromium, streamlit_server  # type: ignore

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "room.zip"
        export_zip(to_learn_from(room, n), path)
        env = {**os.environ, "MNIST_APP_HOME": d}
        subprocess.run(
            [sys.executable, "-m", "mnist_models", "room", "import", str(path)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        server_env = {"MNIST_APP_HOME": d, "MNIST_LOCAL_MODE": "1"}
        with streamlit_server("app.py", env=server_env) as url, launch_chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            live = page.locator('[data-stale="false"]')
            page.goto(url + "/retrain")
            start = live.get_by_role("button", name="Start teaching")
            start.wait_for(timeout=300_000)
            estimate = live.get_by_text("Teaching should take about")
            deadline = time.monotonic() + 600
            while "Measuring" in page.locator("body").inner_text():  # the calibration
                if time.monotonic() > deadline:
                    raise SystemExit("the page kept measuring this machine")
                time.sleep(0.5)
            page.wait_for_timeout(1500)
            shown = estimate.first.inner_text()
            t0 = time.perf_counter()
            start.click()
            live.get_by_role("button", name="Put both new versions in use").wait_for(
                timeout=3_600_000
            )
            wall = time.perf_counter() - t0
    return {"click_to_result": round(wall, 1), "estimate": shown}


def to_learn_from(room: roomdata.RoomData, n: int) -> roomdata.RoomData:
    """n of the room's drawings and no held-out side: the command or the page splits the
    exported room by person, as it would any room."""
    return replace(
        take(room, n),
        held_images=room.held_images[:0],
        held_labels=room.held_labels[:0],
        held_ids=[],
    )


def take(data: roomdata.RoomData, n: int, seed: int = 0) -> roomdata.RoomData:
    """The room with only n of its drawings to learn from (a seeded random choice)."""
    n = min(n, len(data.train_ids))
    pick = torch.from_numpy(np.random.default_rng(seed).permutation(len(data.train_ids))[:n])
    return replace(
        data,
        train_images=data.train_images[pick],
        train_labels=data.train_labels[pick],
        train_ids=[data.train_ids[i] for i in pick.tolist()],
    )


def export_zip(data: roomdata.RoomData, path: Path) -> None:
    """The room (training and held-out drawings) as an exported room file."""
    from mnist_models.rooms import exchange, rules
    from mnist_models.rooms.store import open_store

    with tempfile.TemporaryDirectory() as d:
        store = open_store(Path(d) / "rooms.sqlite3")
        code = store.create_room("Bench room").code
        answers = {"mlp": rules.Answer(tuple([0.1] * 10), "shipped/mlp")}
        images = torch.cat([data.train_images, data.held_images])
        labels = torch.cat([data.train_labels, data.held_labels])
        ds = [
            rules.Drawing(
                0,
                code,
                time.time(),
                f"p{i % 10}",
                None,
                "[[[10,10],[60,80]]]",
                img.numpy().tobytes(),
                int(y),
                answers,
            )
            for i, (img, y) in enumerate(zip(images, labels))
        ]
        store.import_drawings(code, ds)
        path.write_bytes(exchange.export_room(store, code))
        store.close()


def run_grid(rooms, sizes, mixes, train, test, threads, models, lr_scales) -> list[dict]:
    rows = []
    for name, room in rooms:
        for n in sizes:
            data = take(room, n)
            for mix, arch, scale in itertools.product(mixes, models, lr_scales):
                start = registry.get_version(networks.get(arch).shipped).path
                cfg = teach.config(arch, start, threads=threads, lr_scale=scale)
                t = teach.teach(data, start, cfg, mix, train_split=train, test_split=test)
                row = {"room": name, "drawings": len(data.train_ids), **t.summary()}
                row["lr"] = cfg.lr
                row["held_out"] = len(data.held_ids)
                del row["fixed"], row["broken"]
                row["fixed"], row["broken"] = len(t.fixed), len(t.broken)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| room | drawings | mix | network | rate | held-out before | after | MNIST test before "
        "| after | fixed / broken | training |\n|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['room']} | {r['drawings']:,} | {r['mix']:.2f} | "
            f"{networks.get(r['model']).name} | {r['lr']:.0e} | "
            f"{r['held_before']:.1%} | {r['held_after']:.1%} | "
            f"{r['test_before']:.2%} | {r['test_after']:.2%} | {r['fixed']} / {r['broken']} | "
            f"{r['train_seconds']:.1f} s |"
        )
    return "\n".join(lines)


def ready_time(room: roomdata.RoomData, n: int) -> dict:
    """The command line from start to both models ready, default settings, saved to a
    temporary folder: a room of n styled drawings by 10 people, exported, which the
    command splits by person as it would any room."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "room.zip"
        export_zip(to_learn_from(room, n), path)
        env = {**os.environ, "MNIST_APP_HOME": d}
        cmd = [sys.executable, "-m", "mnist_models", "train", "--model", "both"]
        cmd += ["--extra", str(path), "--from", "shipped/mlp", "shipped/cnn", "--json"]
        cmd += ["--out", str(Path(d) / "taught.pt")]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(proc.stderr)
        out = json.loads(proc.stdout)
    return {
        "drawings": out["room"]["drawings"],
        "train": out["room"]["train"],
        "wall_seconds": round(wall, 1),
        "seconds_to_ready_inside": out["seconds_to_ready"],
        "train_seconds": {n["model"]: n["train_seconds"] for n in out["networks"]},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    p.add_argument("--mixes", type=float, nargs="+", default=[teach.MIX])
    p.add_argument("--rooms", nargs="+", choices=["optdigits", "styled"], default=None)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--ready-only", action="store_true")
    p.add_argument("--ready-drawings", type=int, default=300)
    p.add_argument(
        "--page", action="store_true", help="also from the Retrain page in Chromium (start to end)"
    )
    p.add_argument("--models", nargs="+", choices=networks.keys(), default=list(networks.keys()))
    p.add_argument(
        "--lr-scales",
        type=float,
        nargs="+",
        default=[None],
        help="fine-tuning rates as shares of the network's peak (default: each one's own)",
    )
    a = p.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    train, test = mdata.load_split("train"), mdata.load_split("test")
    t0 = time.perf_counter()
    pool = a.ready_drawings if a.ready_only else max(a.sizes + [a.ready_drawings])
    styled_data = styled_room(test, pool, 0 if a.ready_only else 500)
    print(f"styled room drawn in {time.perf_counter() - t0:.1f} s", flush=True)
    if not a.ready_only:
        rooms = []
        if a.rooms is None or "optdigits" in a.rooms:
            rooms.append(("optdigits", roomdata.from_drawings(optdigits_rows(), "optdigits")))
        if a.rooms is None or "styled" in a.rooms:
            rooms.append(("styled MNIST", styled_data))
        for name, r in rooms:
            print(name, *r.describe(), flush=True)
        rows = run_grid(rooms, a.sizes, a.mixes, train, test, a.threads, a.models, a.lr_scales)
        print(table(rows))
    ready = ready_time(styled_data, a.ready_drawings)
    print(
        f"command line, {ready['train']} drawings to learn from ({ready['drawings']} in the "
        f"room), both networks, default settings: {ready['wall_seconds']} s from start to "
        f"both models saved (inside the process: {ready['seconds_to_ready_inside']} s; "
        f"training {ready['train_seconds']})"
    )
    if a.page:
        got = page_ready_time(styled_data, a.ready_drawings)
        print(
            f"the Retrain page, the same room: {got['click_to_result']} s from the click on "
            f"Start teaching to both networks' before and after shown ({got['estimate']})"
        )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
