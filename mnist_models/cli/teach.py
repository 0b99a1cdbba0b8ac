"""`train ... --room CODE` / `--extra FILE`: teach networks a room's handwriting.

Fine-tunes each network (by default the version in use; `--from` names others) on
MNIST plus the room's training drawings (``training/roomdata.py``), `--mix` of each
batch, and prints before and after on the room's held-out people and on MNIST test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from mnist_models import data as mdata
from mnist_models.cli.args import fail, writable_problem
from mnist_models.cpu import default_threads
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.reading import ood
from mnist_models.rooms import rules
from mnist_models.rooms import store as room_store
from mnist_models.training import ood_fit, roomdata, teach
from mnist_models.training.train import Diverged

NO_DETECTOR = (
    "The new models have no not-a-digit check yet: fit one with "
    "`python -m mnist_models ood fit CHECKPOINT` (minutes each), or pass --ood."
)


def models_of(a: argparse.Namespace) -> list[str]:
    """The networks to teach: one, or every one for --model both."""
    return list(networks.keys()) if a.model == "both" else [a.model]


def room_data(a: argparse.Namespace) -> roomdata.RoomData:
    """The room's dataset from the store (--room) or an exported file (--extra)."""
    try:
        if a.extra is not None:
            try:
                raw = a.extra.read_bytes()
            except OSError as exc:
                fail(f"--extra: cannot read {a.extra} ({exc.strerror or exc})")
            return roomdata.from_export(raw, a.extra.name, seed=a.seed)
        try:
            store = room_store.open_store(a.store)
        except rules.RoomError as exc:
            fail(str(exc.full() if isinstance(exc, rules.StoreUnavailable) else exc))
        try:
            room = store.get_room(a.room)
            drawings = store.drawings(room.code, include_hidden=True)
        except rules.RoomError as exc:
            fail(f"--room: {exc}")
        finally:
            store.close()
        return roomdata.from_drawings(drawings, f"room {room.code}", seed=a.seed)
    except roomdata.RoomDataError as exc:
        fail(str(exc))


def starts(a: argparse.Namespace, models: list[str]) -> dict[str, tuple[str, Path]]:
    """arch -> (what to call it, checkpoint path) to start from: --from's versions or
    files, else the version in use."""
    chosen: dict[str, tuple[str, Path]] = {}
    for name in a.start or []:
        path = Path(name)
        if not (name.endswith(".pt") or path.exists()):
            try:
                v = registry.get_version(name)
            except KeyError as exc:
                fail(f"--from: {exc.args[0]} (a version id such as shipped/cnn, or a .pt file)")
            if not v.ok:
                fail(f"--from: {name} cannot be used: {v.error}")
            label, path = name, v.path
        else:
            label = str(path)
        try:
            meta = checkpoint.read_metadata(path)
        except checkpoint.CheckpointError as exc:
            fail(f"--from: {exc}")
        arch = meta.get("architecture")
        if arch not in models:
            fail(f"--from: {name} is a {arch} model, and this run teaches {', '.join(models)}")
        if arch in chosen:
            fail(f"--from: two checkpoints of the {networks.get(arch).name}")
        chosen[arch] = (label, path)
    for arch in models:
        if arch not in chosen:
            try:
                v, _ = registry.active_version(arch)
            except registry.NoVersion as exc:
                fail(f"{exc.args[0]}: name one with --from")
            chosen[arch] = (v.id, v.path)
    return chosen


def out_paths(a: argparse.Namespace, models: list[str]) -> dict[str, Path]:
    """Where each taught network is saved: --out itself for one network, else
    --out's stem with -<network> appended."""
    if a.out is None:
        return {}
    if len(models) == 1:
        return {models[0]: a.out}
    return {m: a.out.with_name(f"{a.out.stem}-{m}{a.out.suffix}") for m in models}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def cmd_teach(a: argparse.Namespace) -> None:
    models = models_of(a)
    if a.augment is not None or a.first:
        flag = "--augment" if a.augment is not None else "--first"
        fail(f"{flag} is not for teaching a room (it augments with jitter; --no-augment: none)")
    try:
        mix = teach.check_mix(a.mix)
    except ValueError as exc:
        fail(f"--mix: {exc}")
    outs = out_paths(a, models)
    for path in outs.values():
        for p, suffix in ((path, ".pt"), (checkpoint.meta_path(path), ".json")):
            problem = writable_problem(p, suffix)
            if problem:
                fail(f"--out: {problem}")
    if a.ood and not outs:
        fail("--ood fits the detectors of saved models: give --out too")
    begun = time.perf_counter()
    data = room_data(a)
    start = starts(a, models)
    try:
        train_split = mdata.load_split("train", a.data_dir)
        test_split = mdata.load_split("test", a.data_dir)
    except mdata.DataError as exc:
        fail(str(exc))
    if not a.json:
        for line in data.describe():
            print(line)
    results: list[teach.Taught] = []
    saved: dict[str, dict[str, Any]] = {}  # arch -> the metadata written
    for arch in models:
        cfg = teach.config(
            arch,
            start[arch][1],
            subset=a.subset or teach.SUBSET,
            epochs=a.epochs or teach.EPOCHS,
            seed=a.seed,
            lr=a.lr,
            threads=a.threads or default_threads(),
            augment=not a.no_augment,
            device=a.device,
            precision=a.precision,
            **({"batch_size": a.batch_size} if a.batch_size else {}),
        )
        try:
            taught = teach.teach(
                data,
                start[arch][1],
                cfg,
                mix,
                train_split=train_split,
                test_split=test_split,
                title=a.title,
            )
        except (ValueError, checkpoint.CheckpointError, Diverged) as exc:
            fail(f"{networks.get(arch).name}: {exc}")
        results.append(taught)
        if arch in outs:
            try:
                saved[arch] = taught.fitted.save(outs[arch])
            except (OSError, checkpoint.CheckpointError) as exc:
                fail(f"cannot save {outs[arch]}: {getattr(exc, 'strerror', None) or exc}")
        if not a.json:
            print(_line(taught, start[arch][0]), flush=True)
    ready = time.perf_counter() - begun
    detectors: dict[str, str] = {}
    if a.ood:
        for taught in results:
            try:
                det = ood_fit.fit(taught.fitted.model, saved[taught.arch], seed=a.seed)
            except (ValueError, mdata.DataError) as exc:
                fail(f"{networks.get(taught.arch).name}: {exc}")
            detectors[taught.arch] = str(ood_fit.save(det, a.ood_dir))
    summary: dict[str, Any] = {
        "room": data.summary(),
        "networks": [t.summary() for t in results],
        "seconds_to_ready": round(ready, 2),
        "out": {m: str(p) for m, p in outs.items()},
        "detectors": detectors or None,
    }
    if a.json:
        print(json.dumps(summary))
        return
    print(f"From start to models ready: {ready:.1f} s.")
    for m, p in outs.items():
        print(f"Saved {p}" + (f"; not-a-digit detector {detectors[m]}" if m in detectors else ""))
    if not detectors:
        print(NO_DETECTOR)


def _line(t: teach.Taught, start: str) -> str:
    name = networks.get(t.arch).name
    return (
        f"{name} (from {start}): held-out people {_pct(t.held_before)} -> {_pct(t.held_after)} "
        f"({len(t.fixed)} fixed, {len(t.broken)} broken); MNIST test {_pct(t.test_before)} -> "
        f"{_pct(t.test_after)}; {t.oversample}x each room drawing ({t.mix:.0%} of the images), "
        f"trained in {t.train_seconds:.1f} s"
    )


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The teaching arguments of `train`."""
    g = t.add_argument_group("teaching a room's handwriting (fine-tuning)")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--room", default=None, help="a room's code: its labelled drawings")
    src.add_argument(
        "--extra", type=Path, default=None, help="an exported room (.zip): its labelled drawings"
    )
    g.add_argument(
        "--store",
        default=None,
        help="with --room: the room database, an SQLite file or a postgresql+psycopg:// URL "
        f"(default: ${room_store.STORE_ENV}, else <app home>/rooms.sqlite3)",
    )
    g.add_argument(
        "--from",
        dest="start",
        nargs="+",
        default=None,
        metavar="VERSION",
        help="start from these versions (shipped/cnn, trained/...) or .pt files, one per "
        "network (default: the versions in use)",
    )
    g.add_argument(
        "--mix",
        type=float,
        default=teach.MIX,
        help=f"share of each batch that is room drawings, oversampled (default {teach.MIX})",
    )
    g.add_argument(
        "--no-augment",
        action="store_true",
        help="no jitter augmentation while teaching (default: jitter)",
    )
    g.add_argument(
        "--ood",
        action="store_true",
        help="also fit the not-a-digit detector of each saved model (minutes each)",
    )
    g.add_argument("--ood-dir", type=Path, default=ood.OOD_DIR, help="folder of the detectors")
