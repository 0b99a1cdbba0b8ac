"""`python -m mnist_models read`: batches of drawings and images, read as the page reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_models import __main__ as cli
from mnist_models.drawings import synth
from mnist_models.reading import pen
from mnist_models.reading import read as mread

ROOT = Path(__file__).resolve().parent.parent
X_MARK = [[[60, 60], [270, 280]], [[270, 60], [60, 280]]]


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """No active choice from this machine's app: the shipped networks are in use."""
    monkeypatch.setenv("MNIST_APP_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def digits(test_split):
    """Five test digits (label, uint8 image) the shipped networks both read right."""
    return [(int(test_split.labels[i]), test_split.images[i].numpy()) for i in range(5)]


def drawing_file(tmp_path: Path, digits, extra: list | None = None) -> Path:
    items = [
        {
            "paths": [
                s.tolist()
                for s in synth.place_strokes(synth.digit_strokes(img), 200, 60 + 10 * k, 50)
            ]
        }
        for k, (_, img) in enumerate(digits)
    ]
    path = tmp_path / "drawings.json"
    path.write_text(json.dumps({"canvas": 336, "items": items + (extra or [])}))
    return path


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    try:
        cli.main(["read", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_drawings_one_line_each(tmp_path, digits, capsys):
    path = drawing_file(tmp_path, digits, extra=[{"paths": X_MARK}, {"paths": []}])
    code, out, err = run_main(capsys, str(path), "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["item"] for r in lines] == [f"{path}#{i}" for i in range(len(digits) + 2)]
    for (label, _), r in zip(digits, lines):
        assert r["nothing_to_read"] is False and r["not_digit"] is False
        for arch in ("mlp", "cnn"):
            net = r["networks"][arch]
            assert net["digit"] == label
            assert net["version"] == f"shipped/{arch}"
            assert len(net["probs"]) == 10 and abs(sum(net["probs"]) - 1) < 1e-4
            assert net["confidence"] == max(net["probs"])
            assert net["not_digit"] is False and 0 <= net["not_digit_score"] < 0.5
    x_mark, empty = lines[-2], lines[-1]
    assert x_mark["not_digit"] is True
    assert all(
        n["not_digit"] and n["not_digit_score"] > n["not_digit_threshold"]
        for n in x_mark["networks"].values()
    )
    assert empty == {
        "item": f"{path}#{len(digits) + 1}",
        "nothing_to_read": True,
        "message": "nothing to read",
    }


def test_two_digits_side_by_side_are_said_to_be_two(tmp_path, capsys):
    """A 1 and a 0 in one drawing: the text line and the JSON say so; one digit has none."""
    t = np.linspace(0, 2 * np.pi, 50)
    ten = [
        [[60.0, float(y)] for y in np.linspace(80, 240, 20)],
        np.stack([190 + 55 * np.cos(t), 160 + 80 * np.sin(t)], 1).tolist(),
    ]
    path = tmp_path / "ten.json"
    path.write_text(json.dumps({"canvas": 336, "items": [{"paths": ten}, {"paths": ten[1:]}]}))
    code, out, err = run_main(capsys, str(path))
    assert code == 0, err
    both, zero = out.splitlines()
    assert both.endswith("; this looks like several digits side by side (1 0)")
    assert "several" not in zero
    code, out, err = run_main(capsys, str(path), "--json")
    assert [json.loads(x)["several_digits"] for x in out.splitlines()] == [[1, 0], None]


def test_same_answer_as_the_page_path(tmp_path, digits, capsys):
    """The command's output is exactly read.read() on pen.from_strokes()."""
    path = drawing_file(tmp_path, digits[:2], extra=[{"paths": X_MARK}])
    code, out, _ = run_main(capsys, str(path), "--json")
    assert code == 0
    models, _ = mread.load_active()
    doc = json.loads(path.read_text())
    for item, line in zip(doc["items"], out.splitlines()):
        pre = pen.from_strokes([np.asarray(p, dtype=float) for p in item["paths"]])
        expected = mread.read(pre, models).to_json()
        got = json.loads(line)
        got.pop("item")
        assert got == json.loads(json.dumps(expected))


def test_images_and_folders(tmp_path, digits, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for k, (label, img) in enumerate(digits[:3]):
        mode = "dark" if k % 2 else "light"
        Image.fromarray(synth.canvas_image(img, 180, 40, 50, canvas=280, mode=mode)).save(
            folder / f"{k}-digit{label}.png"
        )
    Image.new("RGB", (200, 200), "white").save(folder / "z-blank.png")
    (folder / "notes.txt").write_text("not an image, and not an image suffix: skipped")
    code, out, err = run_main(capsys, str(folder))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4
    for (label, _), line in zip(digits[:3], lines):
        assert f"MLP {label} (" in line and f"ConvNet {label} (" in line
        assert "doesn't look like a digit" not in line
    assert lines[3] == f"{folder / 'z-blank.png'}: nothing to read"
    code, out, _ = run_main(capsys, str(folder / f"0-digit{digits[0][0]}.png"), "--json")
    assert code == 0 and json.loads(out)["networks"]["cnn"]["digit"] == digits[0][0]


BAD_JSON = [
    ("{oops", "not valid JSON"),
    ("[1, 2]", "expected"),
    ('{"items": 5}', "expected"),
    ('{"canvas": -3, "items": []}', '"canvas" must be a positive number'),
    ('{"items": [{"strokes": []}]}', "item 0: expected"),
    ('{"items": [{"paths": [[[1, 2], [3]]]}]}', "item 0: every point must be [x, y]"),
    ('{"items": [{"paths": [[[1, 2], [NaN, 4]]]}]}', "two finite numbers"),
    ('{"items": [{"paths": [[["1", 2]]]}]}', "two finite numbers"),
    ('{"items": [{"paths": [5]}]}', "a path must be a list"),
]


@pytest.mark.parametrize("text,words", BAD_JSON)
def test_bad_drawing_files(tmp_path, capsys, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    code, out, err = run_main(capsys, str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"mnist_models read: error: {path}") and words in err


def test_bad_images_missing_files_and_empty_folders(tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "empty").mkdir()
    cases = [
        (tmp_path / "broken.png", "broken.png: "),
        (tmp_path / "nope.json", "no such file"),
        (tmp_path / "empty", "no image files"),
    ]
    for path, words in cases:
        code, out, err = run_main(capsys, str(path))
        assert code == 2 and out == "", err
        assert len(err.strip().splitlines()) == 1 and words in err


def test_a_bad_file_stops_the_batch_before_any_output(tmp_path, digits, capsys):
    good = drawing_file(tmp_path, digits[:1])
    (tmp_path / "bad.png").write_text("text")
    code, out, err = run_main(capsys, str(good), str(tmp_path / "bad.png"))
    assert code == 2 and out == "" and "bad.png" in err


@pytest.mark.slow  # a child interpreter loading both networks (about 5 s)
def test_as_a_user_runs_it(tmp_path, digits):
    path = drawing_file(tmp_path, digits[:1], extra=[{"paths": X_MARK}])
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_models", "read", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"MNIST_APP_HOME": str(tmp_path / "home"), "PATH": "/usr/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert f"MLP {digits[0][0]} (" in first and "sure" in first
    assert second.endswith("this doesn't look like a digit")
    bad = subprocess.run(
        [sys.executable, "-m", "mnist_models", "read", str(tmp_path / "x.png")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr


def test_a_broken_active_choice_falls_back_to_the_shipped_network(tmp_path, digits, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "active.json").write_text(json.dumps({"mlp": "trained/gone"}))
    models, warnings = mread.load_active()
    assert models["mlp"][1].id == "shipped/mlp" and models["cnn"][1].id == "shipped/cnn"
    assert len(warnings) == 1 and "trained/gone" in warnings[0]
    code, out, err = run_main(capsys, str(drawing_file(tmp_path, digits[:1])), "--json")
    assert code == 0 and "warning" in err and "trained/gone" in err
    assert json.loads(out)["networks"]["mlp"]["version"] == "shipped/mlp"


def test_a_version_without_a_detector_has_no_verdict(tmp_path):
    """A checkpoint nobody fitted a detector for still reads; its verdict is unknown."""
    from mnist_models.reading import ood

    empty = ood.DetectorStore(tmp_path / "no-detectors")
    models, _ = mread.load_active()
    pre = pen.from_strokes([np.asarray(p, dtype=float) for p in X_MARK])
    reading = mread.read(pre, models, store=empty)
    assert reading.not_digit is None
    assert all(r.verdict is None for r in reading.networks.values())
    net = reading.to_json()["networks"]["cnn"]
    assert net["not_digit"] is None and net["not_digit_score"] is None and len(net["probs"]) == 10


def test_a_drawing_the_preprocessing_refuses_stops_the_batch(tmp_path, capsys):
    """Over the page's cap on points: the page's message, exit 2, nothing printed."""
    path = tmp_path / "huge.json"
    path.write_text(
        json.dumps(
            {"items": [{"paths": X_MARK}, {"paths": [[[i % 300, i % 7] for i in range(25_000)]]}]}
        )
    )
    code, out, err = run_main(capsys, str(path), "--json")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and f"{path}#1" in err and "too many points" in err
