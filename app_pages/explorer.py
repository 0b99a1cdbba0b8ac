"""Test-set explorer: confusion matrices, misclassified digits, where the networks disagree."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from app_pages import common
from mnist_models import data as mdata
from mnist_models.nets import checkpoint
from mnist_models.nets.evaluate import confusion_matrix
from mnist_models.nets.evaluate import logits as model_logits
from mnist_models.text import md_escape

PER_PAGE = 30
COLS = 6


@st.cache_data(max_entries=8, show_spinner="Reading the 10,000 test digits…")
def test_probs(path: str, sha256: str, temperature: float) -> np.ndarray:
    """(10000, 10) test-set probabilities of one checkpoint (cached by its sha256)."""
    model, _ = common.load_model(path, sha256)
    logits = model_logits(model, mdata.load_split("test").images)
    return torch.softmax(logits / temperature, dim=1).numpy()


@st.cache_data(show_spinner=False)
def test_set() -> tuple[np.ndarray, np.ndarray]:
    """Test images (10000, 28, 28) uint8 and labels."""
    t = mdata.load_split("test")
    return t.images.numpy(), t.labels.numpy()


def digit_img_tag(img: np.ndarray, alt: str, side: int = 84) -> str:
    """A 28x28 uint8 digit as an <img> (dark ink on white, hard pixel edges) with alt text."""
    return common.image_html(Image.fromarray(255 - img), alt, side)


def confusion_chart(cm: np.ndarray, title: str, colour: str) -> alt.Chart:
    """Errors as a heat map from white (none) to dark red; the diagonal (right answers) grey.

    The colours are computed here, not by a Vega colour scale, so that a cell with
    no error is exactly white; each number is white on dark cells and near-black on
    light ones, and the cells are opaque, so every shade reads in either theme.
    """
    top = max(1, int((cm - np.diag(np.diag(cm))).max()))
    rows = []
    for t in range(10):
        for p in range(10):
            n = int(cm[t, p])
            fill = "#e4e7eb" if t == p else common.error_colour(n, top)
            rows.append(
                {
                    "true": str(t),
                    "predicted": str(p),
                    "count": n,
                    "fill": fill,
                    "ink": common.ink_for(fill),
                    "label": str(n) if n else "",
                }
            )
    base = alt.Chart(pd.DataFrame(rows), title=title, width=330, height=330).encode(
        x=alt.X("predicted:N", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:N"),
    )
    heat = base.mark_rect(stroke="#d0d4da", strokeWidth=0.5).encode(
        color=alt.Color("fill:N", scale=None), tooltip=["true:N", "predicted:N", "count:Q"]
    )
    text = base.mark_text(fontSize=11).encode(text="label:N", color=alt.Color("ink:N", scale=None))
    return (heat + text).properties(title=alt.TitleParams(title, color=colour))


def open_in_draw(index: int) -> None:
    """Send a test digit to the drawing page's comparison view."""
    st.session_state["explore_digit"] = int(index)
    st.switch_page("app_pages/draw.py")


def gallery(indices: np.ndarray, key: str) -> None:
    """Test digits in a grid, each with both answers and a button to open it."""
    if len(indices) == 0:
        st.info("No test digits match these filters.")
        return
    pages = (len(indices) + PER_PAGE - 1) // PER_PAGE
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}-page")
    shown = indices[(page - 1) * PER_PAGE : page * PER_PAGE]
    for start in range(0, len(shown), COLS):
        cols = st.columns(COLS)
        for col, i in zip(cols, shown[start : start + COLS]):
            with col:
                lines = [f"<b>#{i}</b> · true <b>{labels[i]}</b>"]
                for arch, name in NAMES.items():
                    d, c = int(preds[arch][i]), float(conf[arch][i])
                    mark = (
                        '<span class="tile-ok">✓ right</span>'
                        if d == labels[i]
                        else '<span class="tile-bad">✗ wrong</span>'
                    )
                    lines.append(f"{name} {mark}: <b>{d}</b> ({c:.0%})")
                alt_text = f"Test digit #{i}, labelled {labels[i]}"
                st.html(
                    f'<div class="tile" id="tile-{key}-{i}">'
                    f"{digit_img_tag(images[i], alt_text)}<br>{'<br>'.join(lines)}</div>"
                )
                if st.button("Compare", key=f"{key}-{i}", help="Open on the drawing page"):
                    open_in_draw(i)


NAMES = common.names()
COLOURS = {k: common.networks.get(k).colour for k in NAMES}
# Right and wrong marks carry their own background: legible in both themes.
st.html(
    "<style>.tile {line-height: 1.6; font-size: 0.95rem;}"
    ".tile-ok, .tile-bad {font-weight: 700; padding: 0 0.3em; border-radius: 0.3em;}"
    ".tile-ok {background: #e3f6e8; color: #145228;}"
    ".tile-bad {background: #fde2e1; color: #8a1712;}</style>"
)
st.title("Test-set explorer")
st.caption(
    "The 10,000 MNIST test digits through the two networks in use (choose them under "
    "**Models in use** on the drawing page). Click **Compare** under a digit to open "
    "it on the drawing page, as if you had drawn it."
)

try:
    uses = common.models_in_use()
except (checkpoint.CheckpointError, KeyError) as exc:
    st.error(f"The shipped weights cannot be loaded: {exc}. Restore the `weights/` folder.")
    st.stop()
for note in common.notes(uses.values()):
    st.warning(note)
versions = {k: u.version for k, u in uses.items()}

try:
    images, labels = test_set()
except (OSError, ValueError, mdata.DataError) as exc:
    st.error(f"The MNIST test images cannot be read ({exc}). Restore the `data/mnist` folder.")
    st.stop()
probs, preds, conf = {}, {}, {}
for arch, u in uses.items():
    try:
        probs[arch] = test_probs(
            str(u.version.path), u.version.meta.get("sha256", ""), u.temperature
        )
    except checkpoint.CheckpointError as exc:
        st.error(f"{u.version.id} cannot be loaded: {exc}")
        st.stop()
    preds[arch] = probs[arch].argmax(1)
    conf[arch] = probs[arch].max(1)

st.subheader("Confusion matrices")
cols = st.columns(2)
for col, (arch, colour) in zip(cols, COLOURS.items()):
    cm = confusion_matrix(torch.from_numpy(labels), torch.from_numpy(preds[arch])).numpy()
    wrong = int(cm.sum() - np.trace(cm))
    with col:
        st.altair_chart(confusion_chart(cm, f"{NAMES[arch]}: {wrong} wrong of 10,000", colour))
        st.caption(
            f"{md_escape(versions[arch].label())}. Rows: true digit; columns: the network's answer."
        )

st.subheader("Misclassified digits")
f1, f2, f3 = st.columns(3)
any_digit = ["any"] + [str(d) for d in range(10)]
who = f1.selectbox(
    "Wrong by", ["either network", "the MLP", "the ConvNet", "both networks"], key="wrong-by"
)
true_d = f2.selectbox("True digit", any_digit, key="true-digit")
pred_d = f3.selectbox("Answer (of the network that is wrong)", any_digit, key="pred-digit")
wrong_m, wrong_c = preds["mlp"] != labels, preds["cnn"] != labels
mask = {
    "either network": wrong_m | wrong_c,
    "the MLP": wrong_m,
    "the ConvNet": wrong_c,
    "both networks": wrong_m & wrong_c,
}[who]
if true_d != "any":
    mask &= labels == int(true_d)
if pred_d != "any":
    p = int(pred_d)
    hit = {"the MLP": (preds["mlp"] == p) & wrong_m, "the ConvNet": (preds["cnn"] == p) & wrong_c}
    mask &= hit.get(who, ((preds["mlp"] == p) & wrong_m) | ((preds["cnn"] == p) & wrong_c))
found = np.flatnonzero(mask)
st.caption(f"{len(found):,} test digits.")
gallery(found, "wrong")

st.subheader("Where the networks disagree")
disagree = np.flatnonzero(preds["mlp"] != preds["cnn"])
right_m = int((preds["mlp"][disagree] == labels[disagree]).sum())
right_c = int((preds["cnn"][disagree] == labels[disagree]).sum())
st.caption(
    f"{len(disagree):,} test digits get different answers: the MLP is right on "
    f"{right_m}, the ConvNet on {right_c}, neither on "
    f"{len(disagree) - right_m - right_c}."
)
gallery(disagree, "disagree")
