"""The reading half of the drawing page: the models menu, uploads and test digits, and
the answers column with its explanations.

app_pages/draw.py imports this module only once the canvas is on the page: it imports
torch (through the networks' table), which takes a second or more at a server's first
page view (bench/bench_first_page.py), and the canvas need not wait for it.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from app_pages import answers, common, inuse, presenter_ui
from mnist_models import data as mdata
from mnist_models.cpu import one_thread
from mnist_models.nets import checkpoint, registry
from mnist_models.reading import canvas as canvas_data
from mnist_models.reading import pen, raster, saliency, uploads
from mnist_models.reading.predict import NOT_SURE_BELOW
from mnist_models.text import md_escape


def enlarge(img: np.ndarray, side: int = 196) -> Image.Image:
    """A small grey image blown up with hard pixel edges, ink dark on white."""
    pil = Image.fromarray((255 - np.clip(img, 0, 1) * 255).astype(np.uint8))
    scale = side / max(img.shape)
    return pil.resize(
        (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
        Image.Resampling.NEAREST,
    )


def _activate(arch: str, key: str, ids: dict[str, str]) -> None:
    try:
        presenter_ui.require("change the models in use")
        registry.set_active(arch, ids[st.session_state[key]])
    except presenter_ui.NotPresenter as exc:
        st.session_state[f"{key}-error"] = str(exc)
    except (KeyError, ValueError, OSError) as exc:
        st.session_state[f"{key}-error"] = (
            f"This model cannot be put in use: {common.for_visitors(exc)}"
        )


def models_menu() -> None:
    """Which trained version each network uses (shared by everyone: the presenter's choice)."""
    allowed = presenter_ui.is_presenter()
    if not allowed:
        st.caption("Everyone here uses these models. Only the presenter can change them.")
    for arch, name in common.names().items():
        # Menu label -> version id (the id is added where two labels would clash).
        # Verified: each file is loaded once (per state of the file) to be offered at all.
        found = registry.list_versions(arch)
        usable = [v for v in found if v.ok]
        for v in found:
            if not v.ok and allowed:
                st.caption(md_escape(f"Not offered: {v.label()}"))
        labels = [v.label() for v in usable]
        ids = {
            (lab if labels.count(lab) == 1 else f"{lab} [{v.id}]"): v.id
            for lab, v in zip(labels, usable)
        }
        key = f"use-{arch}"
        # Follow changes made elsewhere (the Retrain page, another browser).
        active = registry.active_version(arch, verify=False)[0].id
        st.session_state[key] = next(
            (lab for lab, vid in ids.items() if vid == active), next(iter(ids), None)
        )
        st.selectbox(
            name,
            list(ids),
            key=key,
            on_change=_activate,
            args=(arch, key, ids),
            width=420,
            disabled=not allowed,
            help="Shared by everyone using this app; the Retrain page adds versions.",
        )
        if err := st.session_state.pop(f"{key}-error", None):
            st.error(err)
    presenter_ui.control("draw-presenter")


def title_row() -> None:
    """The page's title, naming the networks, and the Models in use menu beside it."""
    title_col, models_col = st.columns([4, 1], vertical_alignment="center")
    versus = " vs ".join(md_escape(n) for n in common.names().values())
    title_col.markdown(f"## What digit is this? {versus}")
    try:
        inuse.models_in_use()
    except (checkpoint.CheckpointError, KeyError):
        return  # no menu of models that cannot be loaded: the answers column says why
    with models_col.popover("Models in use", icon=":material/tune:", width="stretch"):
        models_menu()


def models_or_error() -> dict[str, inuse.InUse] | None:
    """The models in use, or None after saying in a sentence why they cannot be loaded."""
    try:
        return inuse.models_in_use()
    except (checkpoint.CheckpointError, KeyError) as exc:
        st.error(
            f"The shipped weights cannot be loaded: {common.for_visitors(exc)}. "
            "Restore the `weights/` folder "
            "(e.g. `git checkout weights/`) or retrain them: see the README."
        )
        return None


def read_strokes(json_data: dict | None) -> tuple[raster.Preprocessed | None, str | None]:
    """The canvas's drawing as a 28x28 input; (the input or None, why it cannot be read)."""
    try:
        return pen.from_strokes(canvas_data.strokes_from_fabric(json_data)), None
    except ValueError as exc:  # a drawing the reader refuses (too many strokes, bad data)
        return None, f"This drawing cannot be read: {exc}"


def explored_digit(index: int) -> tuple[raster.Preprocessed, int]:
    """A test digit sent from the Test-set explorer, and its label; a button goes back."""
    test = mdata.load_split("test")
    label = int(test.labels[index])
    st.info(
        f"Showing MNIST test digit **#{index}** (labelled **{label}**), "
        "sent from the Test-set explorer.",
        icon=":material/search:",
    )
    st.button(
        "Back to drawing",
        key="explore-back",
        icon=":material/draw:",
        on_click=lambda: st.session_state.pop("explore_digit", None),
    )
    image = mdata.to_float(test.images[index : index + 1])[0, 0].numpy()
    return raster.Preprocessed(image=image, steps={"28x28": image}), label  # already 28x28


def photo(img: np.ndarray, side: int = 196) -> Image.Image:
    """An uploaded image (as read: turned upright, at most WORK_SIDE) fitted in side x side."""
    pil = Image.fromarray(img)
    scale = side / max(pil.size)
    size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
    # A small image is enlarged with hard pixel edges, as the 28x28 beside it.
    return pil.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST)


def upload_input() -> tuple[raster.Preprocessed | None, str | None]:
    """The uploader, the image itself beside its 28x28 version; (the input or None, why
    there is nothing to read: one sentence, shown where the answers would be)."""
    upload = st.file_uploader(
        "A photo or scan of one handwritten digit (PNG, JPEG, WebP, GIF or BMP)",
        type=["png", "jpg", "jpeg", "webp", "gif", "bmp"],
        key="upload",
    )
    if upload is None:
        return None, None
    try:
        img = uploads.read_image(upload.getvalue())
        pre = raster.from_image(img)
    except ValueError as exc:
        return None, f"Cannot use this file: {exc}."
    mine, seen = st.columns(2)
    mine.html(
        '<div class="digit-photo">'
        + common.image_html(photo(img), "The uploaded image", caption="Your image")
        + "</div>"
    )
    if pre is None:
        return (
            None,
            "No ink found in this image, so there is nothing to read: is there a digit on it?",
        )
    seen.html(
        common.image_html(
            enlarge(pre.image),
            "The image as the networks see it: 28 by 28 grey pixels",
            196,
            "What the networks see (28×28)",
        )
    )
    return pre, None


def seen_models(uses: dict[str, inuse.InUse]) -> None:
    """Say so when the models in use changed since this page's previous answer."""
    ids = {k: u.version.id for k, u in uses.items()}
    before = st.session_state.get("seen-models")
    st.session_state["seen-models"] = ids
    if before and before != ids:
        changed = [
            f"the {u.net.name} is now {md_escape(u.version.label())}"
            for k, u in uses.items()
            if before.get(k) != ids[k]
        ]
        st.info(
            "The models in use have changed: " + "; ".join(changed) + ".", icon=":material/sync:"
        )


def answers_column(
    pre: raster.Preprocessed | None,
    label: int | None,
    problem: str | None,
    present: bool,
    uploaded: bool,
) -> None:
    """Every network's answer and the headline over them, then how the input was read."""
    uses = models_or_error()
    if uses is None:
        return
    for note in inuse.notes():
        st.warning(note, icon=":material/warning:")
    if pre is None:
        if problem:  # one message, where the answers would be
            st.error(problem, icon=":material/image_not_supported:")
        elif not present:
            st.info(
                f"Draw a digit on the canvas (or upload a photo) and "
                f"{common.both(len(uses))} networks will read it. Nothing to read yet.",
                icon=":material/draw:",
            )
        else:
            st.html(
                '<div class="verdict" role="status" aria-live="polite" id="verdict">'
                "Draw a digit.</div>"
            )
        return
    seen_models(uses)
    x = pre.tensor()
    reading = inuse.read_drawing(pre, uses)
    preds = {k: r.prediction for k, r in reading.networks.items()}
    st.html(answers.answers_html(uses, reading, label=label, detail=not present))
    if present:
        return
    if uploaded:  # its 28x28 version is beside the image already
        why = st.container()
    else:
        see, why = st.columns([1, 3])
        see.html(
            common.image_html(
                enlarge(pre.image, 140),
                "The drawing as the networks see it: 28 by 28 grey pixels",
                140,
                "What the networks see (28×28)",
            )
        )
    wrong = {
        k: next(
            (
                r.get("wrong_when_sure")
                for r in (u.version.meta.get("calibration") or {}).get("thresholds", [])
                if r.get("threshold") == NOT_SURE_BELOW
            ),
            None,
        )
        for k, u in uses.items()
    }
    why.caption(
        f"A network is marked **not sure** when its top probability is below "
        f"{NOT_SURE_BELOW:.0%}."
        + "".join(
            f" Above it, the {uses[k].net.name} is wrong on {w:.2%} of MNIST test digits."
            for k, w in wrong.items()
            if isinstance(w, (int, float))
        )
    )
    with st.expander("How the drawing becomes 28×28"):
        # "dropped" only appears when stray marks were set aside (stray.stray_mask).
        names = [
            n
            for n in ("strokes", "ink", "dropped", "crop", "20x20", "28x28")
            if n in pre.steps and (n != "dropped" or pre.steps[n].any())
        ]
        step_cols = st.columns(len(names))
        captions = {
            "strokes": "strokes re-drawn at MNIST thickness",
            "ink": "ink",
            "dropped": "ignored: stray marks away from the digit",
            "crop": "cropped to the ink",
            "20x20": "longer side scaled to 20 px",
            "28x28": "centre of mass centred in 28×28",
        }
        if pre.widened > 1.01:  # the strokes re-drawn, or an image scaled, wider
            widened = "strokes" if "strokes" in names else "20x20"
            captions[widened] += f", {pre.widened:.1f}× as wide: drawn far narrower than digits are"
        for c, n in zip(step_cols, names):
            c.html(
                common.image_html(
                    enlarge(pre.steps[n], 140), f"Step: {captions[n]}", 140, captions[n]
                )
            )
    with st.expander("What each network looks at"):
        # Occlusion saliency, and the first-layer feature maps of the networks that
        # have them (saliency.py).
        if st.toggle("Show the maps (under 0.1 s per drawing)", key="look-maps"):
            look = st.columns(len(uses) + 1)
            for c, (k, u) in zip(look, uses.items()):
                d = preds[k].digit
                with one_thread():
                    heat = saliency.occlusion(u.model, x, d).numpy()
                img = Image.fromarray(saliency.overlay(pre.image, heat))
                c.html(
                    common.image_html(
                        img.resize((196, 196), Image.Resampling.NEAREST),
                        f"Saliency map of the {u.net.name} for its answer {d}",
                        196,
                        f"{u.net.name}: evidence for {d}",
                    )
                )
            look[-1].markdown(
                "Each 4×4 patch is blanked in turn. **Red**: the ink there supports the "
                "answer (blanking it lowers its log-odds); **blue**: it argues "
                "against it. Each map is scaled to its own strongest value."
            )
            for u in uses.values():
                if not common.has_feature_maps(u.net):
                    continue
                with one_thread():
                    maps = saliency.feature_maps(u.model, x).numpy()
                st.html(
                    common.image_html(
                        enlarge(saliency.tile(maps), 760),
                        f"The {u.net.name}'s {len(maps)} first-layer feature maps for this drawing",
                        760,
                        f"The {u.net.name}'s {len(maps)} first-layer feature maps (after ReLU) "
                        "for this input: dark = strong response. Each 3×3 filter picks out an "
                        "edge or stroke direction.",
                    )
                )
