"""Draw a digit (or upload one) and see what the MLP and the ConvNet read."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from mnist_models import checkpoint, registry, saliency
from mnist_models import preprocess as pp
from mnist_models.predict import NOT_SURE_BELOW, one_thread, predict

CANVAS = 336  # px, square
NAMES = {"mlp": "MLP", "cnn": "ConvNet"}


@st.cache_resource(max_entries=8, show_spinner="Loading the network…")
def load_model(path: str, sha256: str):
    """Each checkpoint is loaded once per server process and shared read-only."""
    model, meta = checkpoint.load(path)
    with torch.inference_mode():  # the first call pays one-off setup costs; pay them here
        model(torch.zeros(1, 1, 28, 28))
    return model, meta


def active_models():
    """(arch -> (model, version)), plus any warnings about broken choices."""
    out, warnings = {}, []
    for arch in ("mlp", "cnn"):
        version, warning = registry.active_version(arch, verify=False)
        if warning:
            warnings.append(warning)
        try:
            model, _ = load_model(str(version.path), version.meta.get("sha256", ""))
        except checkpoint.CheckpointError as exc:
            if version.shipped:
                raise
            warnings.append(f"{version.id} failed to load ({exc}); using the shipped model")
            version = registry.get_version(registry.DEFAULT_ACTIVE[arch])
            model, _ = load_model(str(version.path), version.meta.get("sha256", ""))
        out[arch] = (model, version)
    return out, warnings


def sure_text(confidence: float) -> str:
    """'87.3% sure'; never a rounded-up 100%."""
    return "over 99.9% sure" if confidence > 0.999 else f"{confidence:.1%} sure"


def enlarge(img: np.ndarray, side: int = 196) -> Image.Image:
    """A small grey image blown up with hard pixel edges, ink dark on white."""
    pil = Image.fromarray((255 - np.clip(img, 0, 1) * 255).astype(np.uint8))
    scale = side / max(img.shape)
    return pil.resize((max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                      Image.Resampling.NEAREST)


# The canvas component's toolbar (upload, undo, redo, edit, reset) hides at the
# top right *over* the canvas until the pointer hovers there, and while hidden
# it still takes the pointer: a stroke begun in the top-right 140x30 px (every
# touch there, and a quick mouse) was lost. The component draws in a shadow
# root, out of reach of page CSS, so this adds one style rule into it: the
# toolbar always shown, just above the canvas, never over it.
CANVAS_TOOLBAR_FIX = """
<script>
(() => {
  if (window.__digitToolbarFix) return;
  window.__digitToolbarFix = true;
  const css = ".dc-toolbar{top:-3.3rem !important;opacity:1 !important;transition:none !important;"
            + "pointer-events:none} .dc-toolbar-card{pointer-events:auto}";
  const patch = () => {
    for (const el of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const root = el.shadowRoot;
      if (root && !root.__digitFixed && root.querySelector(".dc-toolbar")) {
        const style = document.createElement("style");
        style.textContent = css;
        root.appendChild(style);
        root.__digitFixed = true;
      }
    }
  };
  patch();
  setInterval(patch, 100);
})();
</script>
"""


def bar_chart(probs: list[float], top: int, colour: str) -> str:
    """Ten probability bars as plain HTML: instant to build and to draw, sharp on a projector."""
    bars = []
    for d, p in enumerate(probs):
        fill = colour if d == top else "#9aa5b1"
        bars.append(
            f'<div class="pbar" title="{d}: {p:.2%}">'
            f'<div class="pval">{f"{p:.0%}" if p >= 0.05 else ""}</div>'
            f'<div class="pfill" style="height:{max(p, 0.004) * 100:.1f}%;background:{fill}"></div>'
            f'<div class="pdig">{d}</div></div>'
        )
    return f'<div class="pchart">{"".join(bars)}</div>'


st.markdown(
    """
    <style>
    .block-container {padding-top: 2.5rem !important;}
    .digit-answer {font-size: 6.5rem !important; font-weight: 800; line-height: 1;}
    .digit-conf {font-size: 1.6rem !important; font-weight: 600; margin: 0.2rem 0 0.4rem 0;}
    .badge {display: inline-block; padding: 0.15rem 0.6rem; border-radius: 0.5rem;
            font-weight: 700; font-size: 1.1rem;}
    .badge-unsure {background: #fff3cd; color: #7a5b00; border: 2px solid #e0b400;}
    .badge-sure {background: #e3f6e8; color: #1e6b35; border: 2px solid #49a765;}
    .pchart {display: flex; align-items: flex-end; gap: 4px; height: 150px;
             margin: 0.8rem 0 0.3rem 0; padding-bottom: 1.6rem; position: relative;}
    .pbar {flex: 1; height: 100%; display: flex; flex-direction: column;
           justify-content: flex-end; align-items: center; position: relative;}
    .pfill {width: 100%; border-radius: 3px 3px 0 0;}
    .pval {font-size: 0.75rem; color: #555; line-height: 1.2;}
    .pdig {position: absolute; bottom: -1.6rem; font-size: 1.25rem; font-weight: 700;}
    </style>
    """,
    unsafe_allow_html=True,
)




def _activate(arch: str, key: str, ids: dict[str, str]) -> None:
    try:
        registry.set_active(arch, ids[st.session_state[key]])
    except (KeyError, ValueError) as exc:
        st.session_state[f"{key}-error"] = str(exc)


try:
    models, model_warnings = active_models()
except (checkpoint.CheckpointError, KeyError) as exc:
    st.error(f"The shipped weights cannot be loaded: {exc}. Restore the `weights/` folder "
             "(e.g. `git checkout weights/`) or retrain them: see the README.")
    st.stop()
title_col, models_col = st.columns([4, 1], vertical_alignment="center")
title_col.markdown("## What digit is this? MLP vs ConvNet")
with models_col.popover("Models in use", icon=":material/tune:", width="stretch"):
    for arch in ("mlp", "cnn"):
        # Menu label -> version id (the id is added where two labels would clash).
        usable = [v for v in registry.list_versions(arch, verify=False) if v.ok]
        labels = [v.label() for v in usable]
        ids = {(lab if labels.count(lab) == 1 else f"{lab} [{v.id}]"): v.id
               for lab, v in zip(labels, usable)}
        key = f"use-{arch}"
        # Follow changes made elsewhere (the Retrain page, another browser).
        active = registry.active_version(arch, verify=False)[0].id
        st.session_state[key] = next(lab for lab, vid in ids.items() if vid == active)
        st.selectbox(NAMES[arch], list(ids), key=key, on_change=_activate,
                     args=(arch, key, ids),
                     width=420,
                     help="Shared by everyone using this app; the Retrain page adds versions.")
        if err := st.session_state.pop(f"{key}-error", None):
            st.error(err)


for w in model_warnings:
    st.warning(w)

def explored_digit(index: int) -> pp.Preprocessed:
    """A test digit sent from the Test-set explorer, as the input; a button goes back."""
    from mnist_models import data as mdata

    test = mdata.load_split("test")
    st.info(f"Showing MNIST test digit **#{index}** (labelled **{int(test.labels[index])}**), "
            "sent from the Test-set explorer.", icon=":material/search:")
    st.button("Back to drawing", key="explore-back", icon=":material/draw:",
              on_click=lambda: st.session_state.pop("explore_digit", None))
    image = mdata.to_float(test.images[index : index + 1])[0, 0].numpy()
    return pp.Preprocessed(image=image, steps={"28x28": image})  # already MNIST's 28x28


@st.fragment
def drawing_area() -> None:
    """Canvas and answers; a stroke reruns only this part of the page."""
    left, right = st.columns([5, 7], gap="large")

    with left:
        source = st.segmented_control(
            "Input", ["Draw", "Upload a photo"], default="Draw", key="source",
            label_visibility="collapsed",
        ) or "Draw"
        pre = None
        if (explored := st.session_state.get("explore_digit")) is not None:
            pre = explored_digit(explored)
        elif source == "Draw":
            brush_col, clear_col = st.columns([3, 1], vertical_alignment="bottom")
            brush = brush_col.slider(
                "Brush width", 4, 60, 24, step=2, key="brush",
                help="Any width works: strokes are re-drawn MNIST-thick before reading.",
            )
            # A new key mounts a fresh, empty canvas: a large, labelled way to clear
            # beside the toolbar's small reset icon.
            if clear_col.button("Clear", icon=":material/delete:", width="stretch"):
                st.session_state["canvas_gen"] = st.session_state.get("canvas_gen", 0) + 1
            # Above the canvas, which leaves room for its toolbar (CANVAS_TOOLBAR_FIX).
            st.caption("One digit, anywhere, any size.")
            result = st_canvas(
                stroke_width=brush,
                stroke_color="#000000",
                background_color="#ffffff",
                height=CANVAS,
                width=CANVAS,
                drawing_mode="freedraw",
                key=f"canvas-{st.session_state.get('canvas_gen', 0)}",
            )
            pre = pp.from_strokes(pp.strokes_from_fabric(result.json_data))
        else:
            upload = st.file_uploader("A photo or scan of one handwritten digit (PNG or JPEG)",
                                      type=["png", "jpg", "jpeg"], key="upload")
            if upload is not None:
                try:
                    pre = pp.from_image(pp.read_image(upload.getvalue()))
                    if pre is None:
                        st.error("No ink found in this image: is there a digit on it?")
                except ValueError as exc:
                    st.error(f"Cannot use this file: {exc}.")

    with right:
        if pre is None:
            st.info("Draw a digit on the canvas (or upload a photo) and both networks "
                    "will read it. Nothing to read yet.", icon=":material/draw:")
        else:
            x = pre.tensor()
            preds = {arch: predict(model, x, temperature=v.meta.get("temperature", 1.0))
                     for arch, (model, v) in models.items()}
            a, b = preds["mlp"], preds["cnn"]
            if a.digit != b.digit:
                st.error(f"**The networks disagree:** the MLP reads **{a.digit}**, "
                         f"the ConvNet reads **{b.digit}**.", icon=":material/compare_arrows:")
            else:
                st.success(f"Both networks read **{a.digit}**.", icon=":material/check_circle:")
            cols = st.columns([3, 4, 4])
            with cols[0]:
                st.markdown("**What the networks see** (28×28)")
                st.image(enlarge(pre.image), width=196)
            for col, arch, colour in ((cols[1], "mlp", "#1f77b4"), (cols[2], "cnn", "#d62728")):
                p = preds[arch]
                version = models[arch][1]
                with col:
                    st.markdown(f"### {NAMES[arch]}")
                    st.markdown(
                        f'<div class="digit-answer" style="color:{colour}" '
                        f'id="answer-{arch}">{p.digit}</div>'
                        f'<div class="digit-conf">{sure_text(p.confidence)}</div>',
                        unsafe_allow_html=True,
                    )
                    badge = ('<span class="badge badge-sure">confident</span>' if p.sure
                             else '<span class="badge badge-unsure">not sure</span>')
                    st.markdown(badge, unsafe_allow_html=True)
                    st.markdown(bar_chart(p.probs, p.digit, colour), unsafe_allow_html=True)
                    st.caption(f"{p.ms:.1f} ms · {version.label()}")
            wrong = {arch: next((r["wrong_when_sure"] for r in v.meta.get("calibration", {})
                                 .get("thresholds", []) if r["threshold"] == NOT_SURE_BELOW), None)
                     for arch, (_, v) in models.items()}
            st.caption(f"A network is marked **not sure** when its top probability is below "
                       f"{NOT_SURE_BELOW:.0%}." + "".join(
                           f" Above it, the {NAMES[k]} is wrong on {w:.2%} of MNIST test digits."
                           for k, w in wrong.items() if w is not None))
            with st.expander("How the drawing becomes 28×28"):
                names = [n for n in ("strokes", "ink", "crop", "20x20", "28x28") if n in pre.steps]
                step_cols = st.columns(len(names))
                captions = {"strokes": "strokes re-drawn at MNIST thickness", "ink": "ink",
                            "crop": "cropped to the ink", "20x20": "longer side scaled to 20 px",
                            "28x28": "centre of mass centred in 28×28"}
                for c, n in zip(step_cols, names):
                    c.image(enlarge(pre.steps[n], 140), caption=captions[n])
            with st.expander("What each network looks at"):
                # Occlusion saliency and the ConvNet's first-layer feature maps (saliency.py).
                if st.toggle("Show the maps (under 0.1 s per drawing)", key="look-maps"):
                    look = st.columns(3)
                    for c, arch in zip(look, ("mlp", "cnn")):
                        d = preds[arch].digit
                        with one_thread():
                            heat = saliency.occlusion(models[arch][0], x, d).numpy()
                        img = Image.fromarray(saliency.overlay(pre.image, heat))
                        c.image(img.resize((196, 196), Image.Resampling.NEAREST),
                                caption=f"{NAMES[arch]}: evidence for {d}")
                    look[2].markdown(
                        "Each 4×4 patch is blanked in turn. **Red**: the ink there supports the "
                        "answer (blanking it lowers its log-odds); **blue**: it argues "
                        "against it. Each map is scaled to its own strongest value.")
                    with one_thread():
                        maps = saliency.feature_maps(models["cnn"][0], x).numpy()
                    st.image(enlarge(saliency.tile(maps), 760),
                             caption="The ConvNet's 20 first-layer feature maps (after ReLU) "
                                     "for this input: dark = strong response. Each 3×3 filter "
                                     "picks out an edge or stroke direction.")


drawing_area()
st.html(CANVAS_TOOLBAR_FIX, unsafe_allow_javascript=True)  # at the end: no gap above
