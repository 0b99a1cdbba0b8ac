"""Experiments: learning curves against training-set size, and calibration of the networks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from app_pages import charts, common, inuse, pace
from mnist_models import data as mdata
from mnist_models.nets import checkpoint, registry
from mnist_models.reading.predict import NOT_SURE_BELOW
from mnist_models.text import md_escape
from mnist_models.training import calibration, curves

# Chart text in the theme's ink (charts.ink), as the browser reported it for this run.
DARK = st.context.theme.type == "dark"
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
    model, _ = inuse.load_model(path, sha256)
    return calibration.test_logits(model).numpy()


# What the page shows is computed once per model version (checkpoint, sha256 and
# temperature) and theme, and shared by every session: a rerun only sends it again.
# Charts are kept as Vega-Lite specs (Altair validates a chart on every to_dict).


@st.cache_resource(max_entries=16, show_spinner="Reading the 10,000 test digits…")
def calibration_view(
    path: str, sha256: str, temperature: float, title: str, colour: str, dark: bool
) -> tuple[dict, list[dict], list[dict]]:
    """(reliability diagram spec, the figures' rows, the threshold table's rows) of one
    checkpoint at its temperature."""
    lg = torch.from_numpy(test_logits(path, sha256))
    labels = mdata.load_split("test").labels
    t = temperature
    spec = charts.reliability_chart(
        calibration.reliability(torch.softmax(lg.double() / t, 1), labels), title, colour, dark
    ).to_dict()
    rows = []
    for temp, when in ((1.0, "raw"), (t, "as used (stored T)")):
        f = calibration.figures(lg, labels, temp)
        rows.append(
            {
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
    thresholds = [
        {
            "threshold": f"{r['threshold']:.0%}"
            + (" (in use)" if math.isclose(r["threshold"], NOT_SURE_BELOW) else ""),
            "not sure": f"{r['not_sure']:.2%}",
            "wrong when sure": f"{r['wrong_when_sure']:.3%}",
            "errors flagged": f"{r['wrong_caught']:.0%}",
        }
        for r in calibration.threshold_table(lg, labels, t)
    ]
    return spec, rows, thresholds


@st.cache_resource(max_entries=8, show_spinner=False)
def curves_view(path: str, mtime: float, points: tuple, dark: bool) -> tuple[dict, str, str]:
    """(the curves chart's spec, the summary table, curves.json to download) for one state of
    the curves file and of the versions marked on it."""
    data = read_curves(path, mtime)
    frame = pd.DataFrame(list(points), columns=POINT_COLUMNS)
    spec = charts.curves_chart(data, frame, dark).to_dict()
    return spec, curves.summary_table(curves.summarise(data)), json.dumps(data, indent=1)


POINT_COLUMNS = ["title", "network", "images", "accuracy", "kind"]


@st.cache_resource(max_entries=4, show_spinner=False)
def version_points(stamp: tuple) -> tuple[tuple, ...]:
    """Every usable checkpoint with a training-set size and a test accuracy, as chart points
    (rows of POINT_COLUMNS), for one state of the versions (inuse.stamp)."""
    return tuple(
        (
            v.title,
            NAMES.get(v.architecture, "?"),
            v.subset,
            v.test_accuracy,
            "shipped" if v.shipped else "trained on the Retrain page",
        )
        for v in registry.list_versions(verify=False)
        if v.ok and v.subset and v.test_accuracy is not None
    )


DEFINITIONS = (
    "**ECE** (expected calibration error): the gap between confidence and accuracy, "
    "averaged over the bins, weighted by how many answers fall in each; 0 is perfect.  \n"
    "**NLL** (negative log-likelihood): the mean of −log p(true digit); lower is better.  \n"
    "**Brier**: the mean squared distance between the ten probabilities and the right "
    "answer; lower is better."
)


pace.pace()  # one client reruns the heavy pages a few times a second at most
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
    spec, summary, download = curves_view(
        str(CURVES_FILE), CURVES_FILE.stat().st_mtime, version_points(inuse.stamp()), DARK
    )
    st.markdown(charts.curves_legend(), unsafe_allow_html=True)
    st.vega_lite_chart(spec=spec, width="stretch")
    eps = ", ".join(
        f"{int(n):,}: {e}"
        for n, e in sorted(data["epochs_per_size"].items(), key=lambda kv: int(kv[0]))
    )
    st.caption(
        "Lines: mean test accuracy (all 10,000 test images) over seeds; bands: lowest to "
        "highest seed. ◆: the blog's two claims ("
        + "; ".join(c["text"].removeprefix("blog: ") for c in curves.BLOG_CLAIMS)
        + f"). ▲: the shipped checkpoints and those "
        f"trained on the Retrain page. "
        f"{len(data['runs'])} runs. Every run sees the same budget of "
        f"{data['budget']:,} training samples (epochs = budget / images, at most "
        f"{data['max_epochs']}), so small subsets get many epochs and the full set few; "
        f"epochs per size: {eps}. Training-set subsets are class-balanced random samples "
        f"drawn with each seed."
    )
    st.markdown(summary)
    with st.expander("How this was made"):
        st.markdown(
            f"Command (resumable: runs already in the file are skipped):\n\n"
            f"```\n{data.get('command', '')}\n```\n\n"
            f"Data file: `data/{CURVES_FILE.name}`, with every run's accuracy and "
            f"training time; {data.get('training', '')}."
        )
        st.download_button(
            "Download curves.json",
            download,
            file_name="curves.json",
            mime="application/json",
        )

# ---------------------------------------------------------------- calibration
st.header("Can you trust the percentages?")
st.caption(
    f"Reliability diagrams of the {common.count_word(len(NAMES))} networks in use on the "
    "10,000 test images: "
    f"the top probability, in {calibration.BINS} bins, against how often that answer "
    "is right. A calibrated network's bars touch the dashed diagonal. The number over "
    "each bar is how many test answers fall in that bin: almost all fall in the last "
    "one, so the diagram's left part rests on few digits."
)
try:
    test_labels = mdata.load_split("test").labels
    uses = inuse.models_in_use()
except (OSError, ValueError, KeyError, checkpoint.CheckpointError, mdata.DataError) as exc:
    st.error(
        f"The test images or the shipped weights cannot be read ({common.for_visitors(exc)}). "
        "Restore the "
        "`data/mnist` and `weights/` folders."
    )
    st.stop()
rows = []
cols = st.columns(len(uses))
for note in inuse.notes():
    st.warning(note)
views = {
    arch: calibration_view(
        str(u.version.path),
        u.version.meta.get("sha256", ""),
        u.temperature,
        f"{NAMES[arch]} (T = {u.temperature:.3g})",
        COLOURS[NAMES[arch]],
        DARK,
    )
    for arch, u in uses.items()
}
for col, (arch, u) in zip(cols, uses.items()):
    with col:
        st.vega_lite_chart(spec=views[arch][0])
        st.caption(md_escape(u.version.label()))
    rows += [{"network": NAMES[arch], **r} for r in views[arch][1]]
st.table(pd.DataFrame(rows).set_index("network"))
st.markdown(DEFINITIONS)

st.subheader("Where to say “not sure”")
thr_rows = [{"network": NAMES[arch], **r} for arch in uses for r in views[arch][2]]
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
