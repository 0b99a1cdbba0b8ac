"""What the Test-set explorer (app_pages/explorer.py) computes, once per model version.

Each is cached per checkpoint, sha256 and temperature and shared, read-only, by every
session without a copy: a rerun of the page only sends what they hold again. They live
in this module, imported once, rather than in the page script, which Streamlit runs
afresh each time (each run would otherwise hash every cached function's source again).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch
from PIL import Image

from app_pages import charts, common, inuse
from mnist_models import data as mdata
from mnist_models.nets.evaluate import confusion_matrix
from mnist_models.nets.evaluate import logits as model_logits


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


def digit_img_tag(index: int, alt: str, side: int = 84) -> str:
    """Test digit `index` as an <img> (dark ink on white, hard pixel edges) with alt text."""
    return common.image_html(Image.fromarray(255 - test_set()[0][index]), alt, side)


Model = tuple[str, str, float]  # a network in use: checkpoint path, sha256, temperature


@st.cache_resource(max_entries=256, show_spinner=False)
def tiles_html(models: tuple[tuple[str, Model], ...], key: str, shown: tuple[int, ...]) -> str:
    """One page of a gallery as one HTML grid: each test digit with every network's answer
    (`models`: each network's display name and what test_probs takes).

    Built once per model version and page, shared by every session: a rerun sends one
    element per gallery page, not a tile and a button per digit."""
    _, labels = test_set()
    probs = {name: test_probs(*m) for name, m in models}
    tiles = []
    for i in shown:
        lines = [f'<b class="tile-no">#{i}</b> · true <b>{labels[i]}</b>']
        for name, p in probs.items():
            d, c = int(p[i].argmax()), float(p[i].max())
            mark = (
                '<span class="tile-ok">✓<span class="tile-word"> right</span></span>'
                if d == labels[i]
                else '<span class="tile-bad">✗<span class="tile-word"> wrong</span></span>'
            )
            lines.append(f"{name} {mark}: <b>{d}</b> ({c:.0%})")
        alt_text = f"Test digit #{i}, labelled {labels[i]}"
        tiles.append(
            f'<div class="tile" id="tile-{key}-{i}">'
            f"{digit_img_tag(int(i), alt_text)}<br>{'<br>'.join(lines)}</div>"
        )
    return f'<div class="explorer-tiles">{"".join(tiles)}</div>'
