"""Test-set explorer: confusion matrices, misclassified digits, where the networks disagree."""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st
import torch
from PIL import Image

from app_pages import charts, common, inuse, pace, styles
from mnist_models import data as mdata
from mnist_models.nets import checkpoint, networks
from mnist_models.nets.evaluate import confusion_matrix
from mnist_models.nets.evaluate import logits as model_logits
from mnist_models.text import md_escape

PER_PAGE = 30
COLS = 6


# Computed once per model version (checkpoint, sha256, temperature) and shared, read-only,
# by every session without a copy: a rerun of this page only sends what they hold again.


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@st.cache_resource(max_entries=8, show_spinner="Reading the 10,000 test digits…")
def test_probs(path: str, sha256: str, temperature: float) -> np.ndarray:
    """(10000, 10) test-set probabilities of one checkpoint (cached by its sha256)."""
    model, _ = inuse.load_model(path, sha256)
    logits = model_logits(model, mdata.load_split("test").images)
    return _frozen(torch.softmax(logits / temperature, dim=1).numpy())


@st.cache_resource(show_spinner=False)
def test_set() -> tuple[np.ndarray, np.ndarray]:
    """Test images (10000, 28, 28) uint8 and labels."""
    t = mdata.load_split("test")
    return _frozen(t.images.numpy().copy()), _frozen(t.labels.numpy().copy())


@st.cache_resource(max_entries=16, show_spinner=False)
def confusion_view(
    path: str, sha256: str, temperature: float, title: str, colour: str
) -> tuple[dict, int]:
    """(the confusion matrix chart's Vega-Lite spec, how many test digits it gets wrong)."""
    _, labels = test_set()
    preds = test_probs(path, sha256, temperature).argmax(1)
    cm = confusion_matrix(torch.from_numpy(labels.copy()), torch.from_numpy(preds)).numpy()
    wrong = int(cm.sum() - np.trace(cm))
    return charts.confusion_chart(cm, f"{title}: {wrong} wrong of 10,000", colour).to_dict(), wrong


@functools.lru_cache(maxsize=2048)
def digit_img_tag(index: int, alt: str, side: int = 84) -> str:
    """Test digit `index` as an <img> (dark ink on white, hard pixel edges) with alt text."""
    return common.image_html(Image.fromarray(255 - test_set()[0][index]), alt, side)


def open_in_draw(index: int) -> None:
    """Send a test digit to the drawing page's comparison view."""
    st.session_state["explore_digit"] = int(index)
    st.switch_page("app_pages/draw.py")


def gallery(indices: np.ndarray, key: str) -> None:
    """Test digits in a grid, each with every network's answer and a button to open it."""
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
                        '<span class="tile-ok">✓<span class="tile-word"> right</span></span>'
                        if d == labels[i]
                        else '<span class="tile-bad">✗<span class="tile-word"> wrong</span></span>'
                    )
                    lines.append(f"{name} {mark}: <b>{d}</b> ({c:.0%})")
                alt_text = f"Test digit #{i}, labelled {labels[i]}"
                st.html(
                    f'<div class="tile" id="tile-{key}-{i}">'
                    f"{digit_img_tag(int(i), alt_text)}<br>{'<br>'.join(lines)}</div>"
                )
                if st.button("Compare", key=f"{key}-{i}", help="Open on the drawing page"):
                    open_in_draw(i)


def wrong_mask(who: str, true_digit: str, answer: str) -> np.ndarray:
    """The test digits the filters pick: wrong by one network, by any or by all, with this
    true digit and this answer of a network that is wrong ("any": no filter)."""
    wrong = {k: preds[k] != labels for k in NAMES}
    if who in BY_ONE:
        mask = wrong[BY_ONE[who]].copy()
    else:
        mask = (np.logical_and if who == BY_ALL else np.logical_or).reduce(list(wrong.values()))
    if true_digit != "any":
        mask &= labels == int(true_digit)
    if answer != "any":
        hit = {k: (preds[k] == int(answer)) & wrong[k] for k in NAMES}
        mask &= hit[BY_ONE[who]] if who in BY_ONE else np.logical_or.reduce(list(hit.values()))
    return mask


NAMES = common.names()
COLOURS = {k: networks.get(k).colour for k in NAMES}
EVERY = common.both(len(NAMES))  # "both", "all 3"
BY_ANY = "either network" if len(NAMES) == 2 else "any network"
BY_ONE = {f"the {name}": k for k, name in NAMES.items()}  # filter label -> network
BY_ALL = f"{EVERY} networks"
pace.pace()  # one client reruns the heavy pages a few times a second at most
styles.put_style("explorer.css")
st.title("Test-set explorer")
st.caption(
    f"The 10,000 MNIST test digits through the {common.count_word(len(NAMES))} networks in use "
    "(choose them under **Models in use** on the drawing page). Click **Compare** under a "
    "digit to open it on the drawing page, as if you had drawn it."
)

try:
    uses = inuse.models_in_use()
except (checkpoint.CheckpointError, KeyError) as exc:
    st.error(
        f"The shipped weights cannot be loaded: {common.for_visitors(exc)}. "
        "Restore the `weights/` folder."
    )
    st.stop()
for note in inuse.notes():
    st.warning(note)
versions = {k: u.version for k, u in uses.items()}

try:
    images, labels = test_set()
except (OSError, ValueError, mdata.DataError) as exc:
    st.error(
        f"The MNIST test images cannot be read ({common.for_visitors(exc)}). "
        "Restore the `data/mnist` folder."
    )
    st.stop()
probs, preds, conf = {}, {}, {}
for arch, u in uses.items():
    try:
        probs[arch] = test_probs(
            str(u.version.path), u.version.meta.get("sha256", ""), u.temperature
        )
    except checkpoint.CheckpointError as exc:
        st.error(f"{u.version.id} cannot be loaded: {common.for_visitors(exc)}")
        st.stop()
    preds[arch] = probs[arch].argmax(1)
    conf[arch] = probs[arch].max(1)

st.subheader("Confusion matrices")
cols = st.columns(len(COLOURS))
for col, (arch, colour) in zip(cols, COLOURS.items()):
    u = uses[arch]
    spec, _ = confusion_view(
        str(u.version.path), u.version.meta.get("sha256", ""), u.temperature, NAMES[arch], colour
    )
    with col:
        st.vega_lite_chart(spec=spec)
        st.caption(
            f"{md_escape(versions[arch].label())}. Rows: true digit; columns: the network's answer."
        )

st.subheader("Misclassified digits")
f1, f2, f3 = st.columns(3)
any_digit = ["any"] + [str(d) for d in range(10)]
who = f1.selectbox("Wrong by", [BY_ANY, *BY_ONE, BY_ALL], key="wrong-by")
true_d = f2.selectbox("True digit", any_digit, key="true-digit")
pred_d = f3.selectbox("Answer (of the network that is wrong)", any_digit, key="pred-digit")
found = np.flatnonzero(wrong_mask(who, true_d, pred_d))
st.caption(f"{len(found):,} test digits.")
gallery(found, "wrong")

st.subheader("Where the networks disagree")
answers = np.stack([preds[k] for k in NAMES])
disagree = np.flatnonzero((answers != answers[0]).any(axis=0))
right = {k: int((preds[k][disagree] == labels[disagree]).sum()) for k in NAMES}
none_right = int((answers[:, disagree] != labels[disagree]).all(axis=0).sum())
counts = [
    f"the {NAMES[k]} is right on {n}" if i == 0 else f"the {NAMES[k]} on {n}"
    for i, (k, n) in enumerate(right.items())
]
st.caption(
    f"{len(disagree):,} test digits get different answers: {', '.join(counts)}, "
    f"{'neither' if len(NAMES) == 2 else 'none'} on {none_right}."
)
gallery(disagree, "disagree")
