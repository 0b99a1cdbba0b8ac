"""Experiments: learning curves against training-set size, and calibration of both networks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from app_pages import common
from mnist_models import data as mdata
from mnist_models.nets import checkpoint, registry
from mnist_models.reading.predict import NOT_SURE_BELOW
from mnist_models.text import md_escape
from mnist_models.training import calibration, curves

CURVES_FILE = Path(__file__).resolve().parent.parent / "data" / "curves.json"
NAMES = common.names()
COLOURS = common.colours()


@st.cache_data(show_spinner=False)
def read_curves(path: str, mtime: float) -> dict | None:
    """The learning-curves file (re-read when it changes)."""
    return curves.load_results(Path(path))


@st.cache_data(max_entries=8, show_spinner="Reading the 10,000 test digits…")
def test_logits(path: str, sha256: str) -> np.ndarray:
    """(10000, 10) test-set logits of one checkpoint (cached by its sha256)."""
    model, _ = common.load_model(path, sha256)
    return calibration.test_logits(model).numpy()


def curves_chart(data: dict, points: pd.DataFrame) -> alt.LayerChart:
    """Mean accuracy per size (lines), min-max over seeds (bands), claims and versions (marks)."""
    cells = curves.summarise(data)
    df = pd.DataFrame(
        [
            {
                "network": NAMES[c.model],
                "augmentation": "with" if c.augment else "without",
                "images": c.subset,
                "mean": c.mean,
                "low": c.low,
                "high": c.high,
                "std": c.std,
                "seeds": c.n,
                "epochs": c.epochs,
            }
            for c in cells
        ]
    )
    x = alt.X(
        "images:Q",
        scale=alt.Scale(type="log", domain=[80, 75_000]),
        axis=alt.Axis(title="training images (log scale)", values=list(curves.SIZES), format=","),
    )
    y_scale = alt.Scale(domain=[0.7, 1.0], clamp=True)
    colour = alt.Color(
        "network:N",
        scale=alt.Scale(domain=list(COLOURS), range=list(COLOURS.values())),
        legend=None,
    )
    # The legend is curves_legend(), above the chart: Vega-Lite drew this layered
    # chart's dash legend without its line symbols.
    dash = alt.StrokeDash(
        "augmentation:N",
        scale=alt.Scale(domain=["with", "without"], range=[[1, 0], [5, 4]]),
        legend=None,
    )
    base = alt.Chart(df).encode(x=x, color=colour)
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y("low:Q", scale=y_scale), y2="high:Q", detail="augmentation:N"
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", scale=y_scale, axis=alt.Axis(format="%", title="test accuracy")),
        strokeDash=dash,
        tooltip=[
            "network",
            "augmentation",
            alt.Tooltip("images:Q", format=","),
            "epochs",
            alt.Tooltip("mean:Q", format=".2%"),
            alt.Tooltip("std:Q", format=".2%"),
            alt.Tooltip("low:Q", format=".2%"),
            alt.Tooltip("high:Q", format=".2%"),
            "seeds",
        ],
    )
    claims = pd.DataFrame(
        [
            {
                "network": NAMES[c["model"]],
                "images": c["subset"],
                "accuracy": c["accuracy"],
                "text": c["text"],
            }
            for c in curves.BLOG_CLAIMS
        ]
    )
    claim_marks = (
        alt.Chart(claims)
        .mark_point(shape="diamond", size=220, filled=True, stroke="black", strokeWidth=1.5)
        .encode(
            x=x,
            y=alt.Y("accuracy:Q", scale=y_scale),
            color=colour,
            tooltip=["text", alt.Tooltip("accuracy:Q", format=".0%")],
        )
    )
    claim_text = (
        alt.Chart(claims)
        .mark_text(align="right", dx=-4, dy=22, fontSize=12)
        .encode(x=x, y=alt.Y("accuracy:Q", scale=y_scale), text="text")
    )
    layers = [band, line, claim_marks, claim_text]
    if len(points):
        layers.append(
            alt.Chart(points)
            .mark_point(shape="triangle-up", size=160, filled=True, stroke="black")
            .encode(
                x=x,
                y=alt.Y("accuracy:Q", scale=y_scale),
                color=colour,
                tooltip=[
                    "title",
                    "network",
                    alt.Tooltip("images:Q", format=","),
                    alt.Tooltip("accuracy:Q", format=".2%"),
                    "kind",
                ],
            )
        )
    return alt.layer(*layers).properties(height=460)


def curves_legend() -> str:
    """The chart's key as HTML: colour per network, solid/dashed for augmentation, marks."""

    def item(colour: str, line: str, text: str, spacing: str = "-2px") -> str:
        return (
            f'<span style="color:{colour};font-weight:700;letter-spacing:{spacing}">'
            f"{line}</span>&nbsp;{text}"
        )

    parts = [item(c, "━━━", n) for n, c in COLOURS.items()]
    parts += [
        item("inherit", "━━━", "with augmentation"),
        item("inherit", "━ ━ ━", "without", "0"),
        "◆ the blog's claims",
        "▲ checkpoints in the app",
    ]
    return '<div style="font-size:1.05rem">' + " &nbsp;&nbsp;·&nbsp;&nbsp; ".join(parts) + "</div>"


def version_points() -> pd.DataFrame:
    """Every usable checkpoint with a training-set size and a test accuracy, as chart points."""
    rows = []
    for v in registry.list_versions(verify=False):
        if v.ok and v.subset and v.test_accuracy is not None:
            rows.append(
                {
                    "title": v.title,
                    "network": NAMES.get(v.architecture, "?"),
                    "images": v.subset,
                    "accuracy": v.test_accuracy,
                    "kind": "shipped" if v.shipped else "trained on the Retrain page",
                }
            )
    return pd.DataFrame(rows, columns=["title", "network", "images", "accuracy", "kind"])


def reliability_chart(bins: list[calibration.Bin], title: str, colour: str) -> alt.LayerChart:
    """Accuracy against confidence per bin (bar width = bin), the diagonal, and each bin's count."""
    df = pd.DataFrame(
        [
            {
                "low": b.low,
                "high": b.high,
                "mid": (b.low + b.high) / 2,
                "accuracy": b.accuracy,
                "confidence": b.confidence,
                "count": b.count,
                "label": f"{b.count:,}",
            }
            for b in bins
            if b.count
        ]
    )
    scale = alt.Scale(domain=[0, 1])
    bars = (
        alt.Chart(df)
        .mark_rect(opacity=0.75, color=colour, stroke="white")
        .encode(
            x=alt.X("low:Q", scale=scale, title="confidence (top probability)"),
            x2="high:Q",
            y=alt.Y("accuracy:Q", scale=scale, title="accuracy", axis=alt.Axis(format="%")),
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("low:Q", format=".2f"),
                alt.Tooltip("high:Q", format=".2f"),
                "count:Q",
                alt.Tooltip("confidence:Q", format=".2%"),
                alt.Tooltip("accuracy:Q", format=".2%"),
            ],
        )
    )
    # How many test answers fall in each bin, above its bar: the left bins rest on few.
    counts = (
        alt.Chart(df)
        .mark_text(dy=-7, fontSize=10, angle=0)
        .encode(x=alt.X("mid:Q", scale=scale), y=alt.Y("accuracy:Q", scale=scale), text="label:N")
    )
    diag = (
        alt.Chart(pd.DataFrame({"a": [0, 1]}))
        .mark_line(color="gray", strokeDash=[4, 4])
        .encode(x=alt.X("a:Q", scale=scale), y=alt.Y("a:Q", scale=scale))
    )
    return alt.layer(bars, diag, counts).properties(title=title, width=300, height=260)


DEFINITIONS = (
    "**ECE** (expected calibration error): the gap between confidence and accuracy, "
    "averaged over the bins, weighted by how many answers fall in each; 0 is perfect.  \n"
    "**NLL** (negative log-likelihood): the mean of −log p(true digit); lower is better.  \n"
    "**Brier**: the mean squared distance between the ten probabilities and the right "
    "answer; lower is better."
)


st.title("Experiments")

# ---------------------------------------------------------------- learning curves
st.header("How much data does each network need?")
data = read_curves(str(CURVES_FILE), CURVES_FILE.stat().st_mtime) if CURVES_FILE.is_file() else None
if not data or not data.get("runs"):
    st.info(
        f"No learning-curve results yet ({CURVES_FILE.name} is missing or empty). "
        "Make them with `python -m mnist_models curves`."
    )
else:
    points = version_points()
    st.markdown(curves_legend(), unsafe_allow_html=True)
    st.altair_chart(curves_chart(data, points), width="stretch")
    eps = ", ".join(
        f"{int(n):,}: {e}"
        for n, e in sorted(data["epochs_per_size"].items(), key=lambda kv: int(kv[0]))
    )
    st.caption(
        f"Lines: mean test accuracy (all 10,000 test images) over seeds; bands: lowest to "
        f"highest seed. ◆: the blog's two claims. ▲: the shipped checkpoints and those "
        f"trained on the Retrain page. "
        f"{len(data['runs'])} runs. Every run sees the same budget of "
        f"{data['budget']:,} training samples (epochs = budget / images, at most "
        f"{data['max_epochs']}), so small subsets get many epochs and the full set few; "
        f"epochs per size: {eps}. Training-set subsets are class-balanced random samples "
        f"drawn with each seed."
    )
    st.markdown(curves.summary_table(curves.summarise(data)))
    with st.expander("How this was made"):
        st.markdown(
            f"Command (resumable: runs already in the file are skipped):\n\n"
            f"```\n{data.get('command', '')}\n```\n\n"
            f"Data file: `data/{CURVES_FILE.name}`, with every run's accuracy and "
            f"training time; {data.get('training', '')}."
        )
        st.download_button(
            "Download curves.json",
            json.dumps(data, indent=1),
            file_name="curves.json",
            mime="application/json",
        )

# ---------------------------------------------------------------- calibration
st.header("Can you trust the percentages?")
st.caption(
    "Reliability diagrams of the two networks in use on the 10,000 test images: "
    f"the top probability, in {calibration.BINS} bins, against how often that answer "
    "is right. A calibrated network's bars touch the dashed diagonal. The number over "
    "each bar is how many test answers fall in that bin: almost all fall in the last "
    "one, so the diagram's left part rests on few digits."
)
try:
    test_labels = mdata.load_split("test").labels
    uses = common.models_in_use()
except (OSError, ValueError, KeyError, checkpoint.CheckpointError, mdata.DataError) as exc:
    st.error(
        f"The test images or the shipped weights cannot be read ({exc}). Restore the "
        "`data/mnist` and `weights/` folders."
    )
    st.stop()
rows = []
cols = st.columns(2)
for note in common.notes(uses.values()):
    st.warning(note)
for col, (arch, u) in zip(cols, uses.items()):
    v = u.version
    lg = torch.from_numpy(test_logits(str(v.path), v.meta.get("sha256", "")))
    t = u.temperature
    with col:
        st.altair_chart(
            reliability_chart(
                calibration.reliability(torch.softmax(lg.double() / t, 1), test_labels),
                f"{NAMES[arch]} (T = {t:.3g})",
                COLOURS[NAMES[arch]],
            )
        )
        st.caption(md_escape(v.label()))
    for temp, when in ((1.0, "raw"), (t, "as used (stored T)")):
        f = calibration.figures(lg, test_labels, temp)
        rows.append(
            {
                "network": NAMES[arch],
                "probabilities": when,
                "T": f"{temp:.3f}",
                "accuracy": f"{f.accuracy:.2%}",
                "ECE (15 bins)": f"{f.ece:.3%}",
                "NLL": f"{f.nll:.4f}",
                "Brier": f"{f.brier:.4f}",
            }
        )
        if math.isclose(temp, t) and t == 1.0:
            break
st.table(pd.DataFrame(rows).set_index("network"))
st.markdown(DEFINITIONS)

st.subheader("Where to say “not sure”")
thr_rows = []
for arch, u in uses.items():
    v = u.version
    lg = torch.from_numpy(test_logits(str(v.path), v.meta.get("sha256", "")))
    for r in calibration.threshold_table(lg, test_labels, u.temperature):
        thr_rows.append(
            {
                "network": NAMES[arch],
                "threshold": f"{r['threshold']:.0%}"
                + (" (in use)" if math.isclose(r["threshold"], NOT_SURE_BELOW) else ""),
                "not sure": f"{r['not_sure']:.2%}",
                "wrong when sure": f"{r['wrong_when_sure']:.3%}",
                "errors flagged": f"{r['wrong_caught']:.0%}",
            }
        )
st.table(pd.DataFrame(thr_rows).set_index("network"))  # in full: no scroll box
st.caption(
    f"The drawing page marks an answer **not sure** below {NOT_SURE_BELOW:.0%}. "
    "“Wrong when sure”: of the test answers at or above the threshold, the share that "
    "is wrong; “errors flagged”: the share of all wrong answers that fall below it."
)
st.markdown(
    "The temperature "
    "T divides the logits before the softmax; it is fitted with `python -m mnist_models "
    "calibrate` on the last 10,000 *training* images, each given a random rotation, "
    "scaling, shift and shear, never on the test set. The shipped networks were trained on "
    "all 60,000 training images (with such jitter), so this set is only partly unseen: "
    "a fresh jitter of a known digit, not a new digit."
)
