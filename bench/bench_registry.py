"""What listing the versions costs on every page render, with and without a huge file.

    python bench/bench_registry.py [--versions 20] [--repeat 20]

A temporary app home gets --versions trained versions (copies of the shipped
checkpoints), then a 1.5 GB .pt file (sparse: no disk used) with valid metadata.
Prints the median time of registry.list_versions() with and without verify
(sha256 of every .pt), of validating one shipped metadata file, and of
sizing an architecture (the .pt size limit).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import files
from mnist_models.nets import (
    checkpoint,
    metadata,
    registry,
)


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[files.HOME_ENV] = tmp
        folder = registry.versions_dir()
        folder.mkdir(parents=True)
        shipped = [registry.SHIPPED_DIR / "mlp.pt", registry.SHIPPED_DIR / "cnn.pt"]
        for i in range(a.versions):
            src = shipped[i % 2]
            shutil.copy(src, folder / f"v{i}.pt")
            shutil.copy(checkpoint.meta_path(src), folder / f"v{i}.json")
        print(
            f"{a.versions} trained versions (MLP 5.8 MB and ConvNet 0.5 MB alternately) "
            f"+ 3 shipped; median of {a.repeat}"
        )
        for label in ("without the huge file", "with a 1.5 GB .pt"):
            if label.startswith("with a"):
                (folder / "huge.pt").touch()
                os.truncate(folder / "huge.pt", 1536 * 2**20)
                shutil.copy(registry.SHIPPED_DIR / "mlp.json", folder / "huge.json")
            for verify in (False, True):
                ms = median_ms(lambda v=verify: registry.list_versions(verify=v), a.repeat)
                print(f"  list_versions(verify={verify!s:5}) {label:22}: {ms:8.1f} ms")
        broken = [v for v in registry.list_versions() if not v.ok]
        print(f"  broken: {[f'{v.id}: {v.error}' for v in broken]}")
    meta = json.loads((registry.SHIPPED_DIR / "cnn_first1000.json").read_text())
    print(
        f"validate(shipped cnn_first1000.json, 100 epochs of history): "
        f"{median_ms(lambda: metadata.validate(meta), a.repeat * 10):.2f} ms"
    )
    for arch in ("mlp", "cnn"):
        ms = median_ms(
            lambda k=arch: metadata.weights_size_limit({"architecture": k}), a.repeat * 10
        )
        print(f"weights_size_limit({arch}) (the network built on the meta device): {ms:.2f} ms")


if __name__ == "__main__":
    main()
