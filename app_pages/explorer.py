"""Test-set explorer: confusion matrices, misclassified digits, where the networks disagree."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import common, inuse, pace, styles
from app_pages.explorer_cache import confusion_view, test_probs, test_set, tiles_html
from mnist_models import data as mdata
from mnist_models.nets import checkpoint, networks
from mnist_models.text import md_escape

PER_PAGE = 30


def open_in_draw(index: int) -> None:
    """Send a test digit to the drawing page's comparison view."""
    st.session_state["explore_digit"] = int(index)
    st.switch_page("app_pages/draw.py")


def _picked(key: str) -> None:
    """The Compare choice of a gallery: remembered for this run, the choice itself cleared
    (so that coming back to the Explorer shows none chosen)."""
    st.session_state["_explore_pick"] = st.session_state[key]
    st.session_state[key] = None


def gallery(indices: np.ndarray, key: str) -> None:
    """Test digits in a grid, each with every network's answer, and one choice of the digit
    to open on the drawing page."""
    if len(indices) == 0:
        st.info("No test digits match these filters.")
        return
    pages = (len(indices) + PER_PAGE - 1) // PER_PAGE
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}-page")
    shown = tuple(int(i) for i in indices[(page - 1) * PER_PAGE : page * PER_PAGE])
    st.html(tiles_html(MODELS, key, shown))
    st.pills(
        "Compare on the drawing page",
        shown,
        format_func=lambda i: f"#{i}",
        key=f"{key}-compare",
        on_change=_picked,
        args=(f"{key}-compare",),
        help="Open this test digit on the drawing page, as if you had drawn it",
    )


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
    "(choose them under **Models in use** on the drawing page). Pick a digit's number under "
    "**Compare on the drawing page** to open it there, as if you had drawn it."
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
probs, preds = {}, {}
for arch, u in uses.items():
    try:
        probs[arch] = test_probs(
            str(u.version.path), u.version.meta.get("sha256", ""), u.temperature
        )
    except checkpoint.CheckpointError as exc:
        st.error(f"{u.version.id} cannot be loaded: {common.for_visitors(exc)}")
        st.stop()
    preds[arch] = probs[arch].argmax(1)
MODELS = tuple(  # what the galleries' tiles are built from, once per model version
    (NAMES[arch], (str(u.version.path), u.version.meta.get("sha256", ""), u.temperature))
    for arch, u in uses.items()
)
pick = st.session_state.pop("_explore_pick", None)
if pick is not None:  # a digit chosen under a gallery
    open_in_draw(pick)

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
