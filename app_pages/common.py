"""What the pages share: the cached models, the models in use, and how an answer is shown.

Every page (the drawing page, the explorer, the experiments, the audience phone
page) reads the networks from ``mnist_models.nets.networks`` and the models in use
from here, so a model is loaded once per server process and every open page
follows the same choice. A drawing page, in short::

    common.page_style()                        # answer styles, phone layout
    st.html(common.canvas_head_html())         # the Clear button above the canvas
    result = st_canvas(width=448, height=448, ...)
    uses = common.models_in_use()              # two stat calls; cheap per drawing
    reading = common.read_drawing(pre, uses)   # answers and not-a-digit verdicts
    st.html(common.answers_html(uses, reading))  # verdict + answers side by side
    common.canvas_script()                     # once, at the end of the page
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import streamlit as st
import torch
from PIL import Image
from torch import nn

from mnist_models import files
from mnist_models.nets import checkpoint, networks, registry
from mnist_models.reading import ood, raster
from mnist_models.reading import read as mread
from mnist_models.reading.predict import Prediction

# A model in use is "weak" when it scores this much (absolute) below the shipped
# one of the same network on the test set; the drawing page then says so beside
# its answer, so a visitor does not blame the network for a small training set.
WEAK_BELOW_SHIPPED = 0.02


@st.cache_resource(max_entries=12, show_spinner="Loading the network…")
def load_model(path: str, sha256: str) -> tuple[nn.Module, dict]:
    """One checkpoint, loaded once per server process and shared read-only.

    Keyed by path and sha256, so a file replaced under the same name is loaded
    afresh. Callers must never train or otherwise change the model returned.
    """
    model, meta = checkpoint.load(path)
    model.eval()
    with torch.inference_mode():  # the first call pays one-off setup costs; pay them here
        model(torch.zeros(1, 1, 28, 28))
    return model, meta


@dataclass(frozen=True)
class InUse:
    """One network's model in use: its table entry, version, loaded model, and any note."""

    net: networks.Network
    version: registry.Version
    model: nn.Module
    note: str | None = None  # why the chosen model is not the one in use (a fallback)
    shipped_accuracy: float | None = None  # the shipped model's, for the weak-model note

    @property
    def key(self) -> str:
        return self.net.key

    @property
    def temperature(self) -> float:
        t = self.version.meta.get("temperature", 1.0)
        return float(t) if isinstance(t, (int, float)) and t > 0 else 1.0

    def weak_note(self) -> str | None:
        """'trained on 300 images, 91% on test' when well below the shipped model, else None."""
        acc, ref = self.version.test_accuracy, self.shipped_accuracy
        if self.version.shipped or not isinstance(acc, (int, float)) or ref is None:
            return None
        if acc > ref - WEAK_BELOW_SHIPPED:
            return None
        subset = self.version.subset
        trained = f"trained on {subset:,} images, " if isinstance(subset, int) else ""
        return f"{trained}{acc:.0%} on test (the shipped {self.net.name}: {ref:.1%})"


def _stat(path: os.PathLike | str) -> tuple[int, int] | None:
    try:
        s = os.stat(path)
    except OSError:
        return None
    return s.st_mtime_ns, s.st_size


def _stamp() -> tuple:
    """What the models in use depend on, read with two stat calls and no file contents.

    The choice lives in active.json; a version appearing in or vanishing from
    versions/ (a new model, a deletion) changes that folder's mtime.
    """
    home = files.home()
    return _stat(home / "active.json"), _stat(home / "versions"), str(home)


def _shipped(net: networks.Network) -> registry.Version:
    return registry.get_version(net.shipped, verify=False)


@st.cache_resource(max_entries=4, show_spinner=False)
def _resolve(stamp: tuple) -> dict[str, InUse]:
    """The models in use for one state of the files (see _stamp); shared by every session."""
    out = {}
    for key in networks.keys():
        net = networks.get(key)
        shipped = _shipped(net)
        ref = shipped.test_accuracy if isinstance(shipped.test_accuracy, (int, float)) else None
        version, note = registry.active_version(key, verify=False)
        try:
            model, _ = load_model(str(version.path), str(version.meta.get("sha256", "")))
        except checkpoint.CheckpointError as exc:
            if version.shipped:
                raise
            note = f"{version.id} could not be loaded ({exc})"
            version = shipped
            model, _ = load_model(str(version.path), str(version.meta.get("sha256", "")))
        if note:
            note = (
                f"The {net.name} chosen for this app cannot be used ({note}), so the "
                f"shipped {net.name} answers instead."
            )
        out[key] = InUse(net, version, model, note, ref)
    return out


def models_in_use() -> dict[str, InUse]:
    """The model in use for every network in the table, cheap enough to call on every drawing.

    Raises checkpoint.CheckpointError or KeyError when even a shipped model cannot be loaded.
    """
    return _resolve(_stamp())


def names() -> dict[str, str]:
    """Network key -> display name, in table order."""
    return {k: networks.get(k).name for k in networks.keys()}


def colours() -> dict[str, str]:
    """Display name -> colour, in table order (the shape Altair's scales want)."""
    return {networks.get(k).name: networks.get(k).colour for k in networks.keys()}


def presenting() -> bool:
    """Presentation mode: `?present=1` in the address, or the page's switch."""
    return str(st.query_params.get("present", "")).lower() in ("1", "true", "yes", "on")


def error_colour(count: int, top: int) -> str:
    """White for no error, deepening to dark red (#8b0000) at `top`, on a square-root scale."""
    t = (count / max(top, 1)) ** 0.5 if count > 0 else 0.0
    r, g, b = (round(255 + (end - 255) * t) for end in (0x8B, 0x00, 0x00))
    return f"#{r:02x}{g:02x}{b:02x}"


def ink_for(fill: str) -> str:
    """Black or white, whichever contrasts more with this fill (never under 4.58:1)."""
    lum = sum(
        w * (((int(fill[i : i + 2], 16) / 255) + 0.055) / 1.055) ** 2.4
        for w, i in ((0.2126, 1), (0.7152, 3), (0.0722, 5))
    )
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


# ---------------------------------------------------------------- answers as HTML


def sure_text(confidence: float) -> str:
    """'87.3% sure'; never a rounded-up 100%."""
    return "over 99.9% sure" if confidence > 0.999 else f"{confidence:.1%} sure"


def bars_html(probs: Sequence[float], top: int, colour: str, name: str) -> str:
    """Ten probability bars as plain HTML: instant to build and to draw, sharp on a projector."""
    bars = []
    for d, p in enumerate(probs):
        fill = colour if d == top else "var(--digit-bar-grey)"
        bars.append(
            f'<div class="pbar" title="{d}: {p:.2%}">'
            f'<div class="pval">{f"{p:.0%}" if p >= 0.05 else ""}</div>'
            f'<div class="pfill" style="height:{max(p, 0.004) * 100:.1f}%;background:{fill}">'
            f'</div><div class="pdig">{d}</div></div>'
        )
    summary = ", ".join(f"{d}: {p:.0%}" for d, p in enumerate(probs) if p >= 0.01)
    return (
        f'<div class="pchart" role="img" aria-label="{html.escape(name)} probabilities: '
        f'{summary}">{"".join(bars)}</div>'
    )


def read_drawing(pre: raster.Preprocessed, uses: dict[str, InUse]) -> mread.Reading:
    """Every network's answer and not-a-digit verdict: the same function as `read` on the
    command line (mnist_models.reading.read), so the page and the command never disagree."""
    return mread.read(pre, {k: (u.model, u.version) for k, u in uses.items()})


def answer_html(
    use: InUse, pred: Prediction, detail: bool = True, verdict: ood.Verdict | None = None
) -> str:
    """One network's answer: name, big digit, confidence, badge, bars; `detail` adds the model
    and the not-a-digit score."""
    name, colour = use.net.name, use.net.colour
    if verdict is not None and verdict.not_digit:
        badge = '<span class="badge badge-unsure">not a digit?</span>'
    elif pred.sure:
        badge = '<span class="badge badge-sure">confident</span>'
    else:
        badge = '<span class="badge badge-unsure">not sure</span>'
    parts = [
        f'<section class="answer" aria-label="{html.escape(name)} answer: {pred.digit}, '
        f'{sure_text(pred.confidence)}">',
        f'<div class="answer-name">{html.escape(name)}</div>',
        f'<div class="answer-main"><div class="digit-answer" style="color:{colour}" '
        f'id="answer-{use.key}">{pred.digit}</div>',
        f'<div class="answer-side"><div class="digit-conf">{sure_text(pred.confidence)}</div>'
        f"{badge}</div></div>",
        bars_html(pred.probs, pred.digit, colour, name),
    ]
    if (weak := use.weak_note()) is not None:
        parts.append(f'<div class="weak-note">Weak model: {html.escape(weak)}</div>')
    if detail:
        check = (
            "no not-a-digit check for this version"
            if verdict is None
            else f"not-a-digit score {verdict.score:.2f} (flagged above {verdict.threshold:.2f})"
        )
        parts.append(
            f'<div class="answer-model">{html.escape(use.version.label())} · '
            f'{pred.ms:.1f} ms</div><div class="answer-model answer-check">{check}</div>'
        )
    parts.append("</section>")
    return "".join(parts)


def verdict_html(
    preds: dict[str, Prediction], label: int | None = None, not_digit: bool | None = None
) -> str:
    """One line over the answers, announced to screen readers (role=status).

    With a known true label (a test digit), each network is marked right or wrong
    against it; a drawing that does not look like a digit says so, with what each
    network would still have said (a classifier always picks one of ten);
    otherwise the line says whether the networks agree.
    """
    nm = names()
    if not_digit and label is None:
        kind, text = (
            "mixed",
            (
                "This doesn't look like a digit. A classifier always picks one "
                "of ten: "
                + ", ".join(f"the {nm[k]} would say {p.digit}" for k, p in preds.items())
                + "."
            ),
        )
    elif label is not None:
        right = [k for k, p in preds.items() if p.digit == label]
        if len(right) == len(preds):
            kind, text = "ok", f"Labelled {label}: both networks read it right."
        elif not right:
            kind, text = (
                "bad",
                (
                    f"Labelled {label}: both networks are wrong ("
                    + ", ".join(f"the {nm[k]} reads {p.digit}" for k, p in preds.items())
                    + ")."
                ),
            )
        else:
            kind, text = (
                "mixed",
                (
                    f"Labelled {label}: "
                    + ", ".join(
                        f"the {nm[k]} is {'right' if p.digit == label else f'wrong ({p.digit})'}"
                        for k, p in preds.items()
                    )
                    + "."
                ),
            )
    else:
        digits = {p.digit for p in preds.values()}
        if len(digits) == 1:
            kind, text = "ok", f"Both networks read {digits.pop()}."
        else:
            kind, text = (
                "bad",
                (
                    "The networks disagree: "
                    + ", ".join(f"the {nm[k]} reads {p.digit}" for k, p in preds.items())
                    + "."
                ),
            )
    return (
        f'<div class="verdict verdict-{kind}" role="status" aria-live="polite" '
        f'id="verdict">{html.escape(text)}</div>'
    )


def answers_html(
    uses: dict[str, InUse], reading: mread.Reading, label: int | None = None, detail: bool = True
) -> str:
    """The verdict and every network's answer side by side, on any screen width."""
    preds = {k: r.prediction for k, r in reading.networks.items()}
    cards = "".join(
        answer_html(uses[k], r.prediction, detail, r.verdict) for k, r in reading.networks.items()
    )
    return f'{verdict_html(preds, label, reading.not_digit)}<div class="answers">{cards}</div>'


def notes(uses: Iterable[InUse]) -> list[str]:
    """The fallback notes of the models in use (empty when every choice is used)."""
    return [u.note for u in uses if u.note]


# Styles for the HTML above, legible in the light and the dark theme: text takes
# the theme's colour (currentColor), greys are mixed from it, and the badges and
# the verdict carry their own background with a dark-enough text colour.
STYLE = """
<style>
:root {--digit-bar-grey: #8a96a3;}
.block-container {padding-top: 3.8rem !important;}
.answers {display: flex; gap: clamp(0.6rem, 2vw, 2rem); align-items: flex-start;}
.answers > .answer {flex: 1 1 0; min-width: 0;}
.answer-name {font-size: clamp(1.1rem, 1.6vw, 1.9rem); font-weight: 700;}
.digit-answer {font-size: clamp(3.2rem, 7vw, 10rem); font-weight: 800; line-height: 1;}
.digit-conf {font-size: clamp(1rem, 1.5vw, 2.1rem); font-weight: 600; margin: 0.2rem 0 0.4rem 0;}
.badge {display: inline-block; padding: 0.1rem 0.6rem; border-radius: 0.5rem;
        font-weight: 700; font-size: clamp(0.9rem, 1.1vw, 1.5rem);}
.badge-unsure {background: #fff3cd; color: #5c4400; border: 2px solid #c99a00;}
.badge-sure {background: #e3f6e8; color: #145228; border: 2px solid #3d8f55;}
.weak-note {margin-top: 0.5rem; padding: 0.3rem 0.6rem; border-radius: 0.4rem;
            background: #fff3cd; color: #5c4400; border-left: 5px solid #c99a00;
            font-weight: 600; font-size: clamp(0.85rem, 1vw, 1.3rem);}
.answer-model {margin-top: 0.4rem; font-size: 0.85rem; overflow-wrap: anywhere;
               color: color-mix(in srgb, currentColor 78%, transparent);}
.verdict {padding: 0.5rem 0.9rem; border-radius: 0.5rem; font-weight: 700;
          font-size: clamp(1rem, 1.5vw, 2rem); margin-bottom: 0.8rem;}
.verdict-ok {background: #e3f6e8; color: #145228;}
.verdict-bad {background: #fde2e1; color: #8a1712;}
.verdict-mixed {background: #fff3cd; color: #5c4400;}
.pchart {display: flex; align-items: flex-end; gap: 3px; height: clamp(90px, 16vh, 240px);
         margin: 0.8rem 0 0.3rem 0; padding-bottom: 1.7rem; position: relative;}
.pbar {flex: 1; height: 100%; display: flex; flex-direction: column;
       justify-content: flex-end; align-items: center; position: relative;}
.pfill {width: 100%; border-radius: 3px 3px 0 0;}
.pval {font-size: clamp(0.65rem, 0.8vw, 1.1rem); line-height: 1.2;
       color: color-mix(in srgb, currentColor 85%, transparent);}
.pdig {position: absolute; bottom: -1.7rem; font-size: clamp(1rem, 1.3vw, 1.8rem);
       font-weight: 700;}
/* Phones: the canvas at the screen's width, then both answers side by side, all in
   view without scrolling on 390x844; the title row gives way. */
@media (max-width: 640px) {
  .block-container {padding-top: 3.6rem !important; padding-bottom: 2rem !important;}
  .st-key-draw-title {display: none !important;}
  .verdict {font-size: 1rem; padding: 0.35rem 0.7rem; margin-bottom: 0.4rem;}
  .answer-name {font-size: 1rem;}
  div[data-testid="stHorizontalBlock"]:has(.canvas-head) {row-gap: 0.6rem !important;}
  .answer-main {display: flex; align-items: center; gap: 0.5rem;}
  .digit-answer {font-size: 3.3rem;}
  .digit-conf {font-size: 0.85rem; margin: 0 0 0.2rem 0;}
  .badge {font-size: 0.8rem; padding: 0 0.4rem;}
  .pchart {height: 64px; gap: 2px; margin-top: 0.4rem; padding-bottom: 1.3rem;}
  .pdig {font-size: 0.85rem; bottom: -1.3rem;}
  .pval {font-size: 0.55rem;}
  .answer-model {font-size: 0.7rem;}
  .answer-check {display: none;}  /* the answers stay in view under the canvas */
  .canvas-caption {display: none;}
}
</style>
"""

# Presentation mode: no navigation, toolbar or explanations; only the canvas,
# the answers and the verdict, and more of the screen for them.
PRESENT_STYLE = """
<style>
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], .present-hide,
[data-testid="stCaptionContainer"], [data-testid="stExpander"] {display: none !important;}
.block-container {padding-top: 1rem !important;}
.digit-canvas-host, [data-testid="stBidiComponentIsolated"] {
  --digit-canvas: min(100cqw, max(300px, calc(100vh - 130px)));}
.digit-answer {font-size: clamp(4rem, 11vw, 17rem);}
.answer-name {font-size: clamp(1.2rem, 2.2vw, 2.8rem);}
.digit-conf {font-size: clamp(1.1rem, 2vw, 2.6rem);}
.badge {font-size: clamp(1rem, 1.4vw, 1.9rem);}
.verdict {font-size: clamp(1.1rem, 2vw, 2.6rem);}
.pchart {height: clamp(90px, 24vh, 320px); padding-bottom: 2.2rem;}
.pdig {font-size: clamp(1rem, 1.7vw, 2.2rem); bottom: -2.2rem;}
.pval {font-size: clamp(0.7rem, 1vw, 1.4rem);}
</style>
"""


# On every page (from app.py): captions less faded than Streamlit's (its 60%
# opacity gives 3.9:1 on white, under the 4.5:1 small text needs), in both
# themes; in the dark theme, a selected segment's red text lighter (the theme's
# primary colour cannot be: white text on primary buttons needs it dark); on a
# phone, the button that opens the page list says "Pages", not a bare ">>".
APP_STYLE = """
<style>
[data-testid="stCaptionContainer"] {opacity: 0.82 !important;}
html[data-digit-theme="dark"] button[data-selected="true"] p {color: #ff8f99 !important;}
[data-testid="stExpandSidebarButton"]::after {content: "Pages"; margin-left: 0.3rem;
  font-weight: 600; font-size: 1rem; color: inherit;}
[data-testid="stExpandSidebarButton"] {width: auto !important; padding: 0 0.6rem !important;}
</style>
<script>
// Streamlit follows the browser's light or dark setting (or the user's choice in
// its menu) and exposes no CSS variable for it: mark the root element with the theme in
// use, read from the app's background, so styles can choose legible colours.
(() => {
  if (window.__digitTheme) return;
  window.__digitTheme = true;
  const mark = () => {
    const app = document.querySelector(".stApp") || document.body;
    const m = getComputedStyle(app).backgroundColor.match(/[0-9.]+/g);
    if (!m) return;
    const dark = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2] < 128;
    const theme = dark ? "dark" : "light";
    if (document.documentElement.dataset.digitTheme !== theme) {
      document.documentElement.dataset.digitTheme = theme;
    }
  };
  mark();
  setInterval(mark, 400);
})();
</script>
"""


def app_style() -> None:
    """The styles every page shares (captions legible, the page list labelled on phones)."""
    st.html(APP_STYLE, unsafe_allow_javascript=True)


def image_html(img: Image.Image, alt: str, width: int | None = None, caption: str = "") -> str:
    """A PIL image as an <img> with alt text (st.image gives none), sharp when enlarged."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    src = base64.b64encode(buf.getvalue()).decode()
    w = f' width="{width}"' if width else ""
    tag = (
        f'<img src="data:image/png;base64,{src}" alt="{html.escape(alt)}"{w} '
        f'style="image-rendering:pixelated;max-width:100%">'
    )
    if not caption:
        return tag
    return (
        f'<figure class="digit-figure">{tag}<figcaption>{html.escape(caption)}'
        "</figcaption></figure>"
    )


def page_style(present: bool | None = None) -> None:
    """Put the shared styles on the page (and the presentation ones when presenting)."""
    present = presenting() if present is None else present
    st.html(STYLE + (PRESENT_STYLE if present else ""))


def present_switch(present: bool) -> None:
    """A button into presentation mode (`?present=1`), or a small one out of it."""
    if present:
        if st.button("Leave presentation", key="present-off", type="tertiary"):
            st.query_params.pop("present", None)
            st.rerun()
    elif st.button(
        "Presentation mode",
        key="present-on",
        icon=":material/slideshow:",
        help="Only the canvas, the answers and the verdict, large, for a "
        "projector. The address ?present=1 opens the page this way.",
    ):
        st.query_params["present"] = "1"
        st.rerun()


@st.cache_resource(show_spinner=False)
def freeze_gc() -> bool:
    """Move everything loaded so far (torch, the models) out of the garbage collector's sight.

    Python's full collections walk every tracked object; after the models load,
    almost all of them live for the whole process, so they are frozen once.
    """
    import gc

    gc.collect()
    gc.freeze()
    return True


# ---------------------------------------------------------------- the canvas


def canvas_head_html(caption: str = "") -> str:
    """The band above the canvas: a Clear button on the left (the toolbar sits on the right).

    Clear empties the canvas in the browser (it presses the toolbar's reset), so a
    stroke begun right after it is never lost to a re-created canvas.
    """
    cap = f'<span class="canvas-caption">{html.escape(caption)}</span>' if caption else ""
    return (
        f'<div class="canvas-head"><button type="button" class="digit-clear" '
        f'data-digit-clear="1" aria-label="Clear the canvas">Clear</button>{cap}</div>'
    )


# The canvas component draws in a shadow root, out of reach of page CSS; this
# script adds style rules into it and wires the Clear button. Its toolbar
# (upload, undo, redo, edit, reset) hid at the top right *over* the canvas until
# hovered, and while hidden still took the pointer, so strokes begun there were
# lost: it is moved just above the canvas and always shown. The canvas keeps its
# own pixel size (strokes come back in those units) and is scaled on screen to
# --digit-canvas (set in CANVAS_STYLE from the column width and window height);
# Fabric.js maps the pointer through that scaling.
CANVAS_SCRIPT = """
<script>
(() => {
  if (window.__digitCanvasFix) return;
  window.__digitCanvasFix = true;
  const css = ".dc-toolbar{top:-3.3rem !important;opacity:1 !important;transition:none !important;"
    + "pointer-events:none} .dc-toolbar-card{pointer-events:auto}"
    + ".dc-root{width:var(--digit-canvas) !important;max-width:none !important}"
    + ".dc-scroll{overflow:visible !important}"
    + ".dc-container,.dc-container .canvas-container{width:var(--digit-canvas) !important;"
    + "height:var(--digit-canvas) !important}"
    + ".dc-container canvas{width:100% !important;height:100% !important}"
    + ".dc-container{touch-action:none}";
  const hosts = () => document.querySelectorAll('[data-testid="stBidiComponentIsolated"]');
  const patch = () => {
    for (const el of hosts()) {
      const root = el.shadowRoot;
      if (!root || !root.querySelector(".dc-toolbar")) continue;
      if (!root.__digitFixed) {
        const style = document.createElement("style");
        style.textContent = css;
        root.appendChild(style);
        root.__digitFixed = true;
        el.classList.add("digit-canvas-host");
      }
      const top = root.querySelector("canvas.upper-canvas")
        || root.querySelector("canvas:last-of-type");
      if (top && !top.getAttribute("aria-label")) {
        top.setAttribute("role", "img");
        top.setAttribute("aria-label",
                         "Drawing canvas: draw one digit here with the mouse or a finger");
      }
      for (const c of root.querySelectorAll("canvas:not([aria-label])")) {
        c.setAttribute("aria-hidden", "true");
      }
    }
  };
  document.addEventListener("click", (e) => {
    const b = e.target.closest ? e.target.closest("[data-digit-clear]") : null;
    if (!b) return;
    for (const el of hosts()) {
      const reset = el.shadowRoot
        && el.shadowRoot.querySelector('[aria-label="Reset canvas & history"]');
      if (reset) reset.click();
    }
  });
  patch();
  setInterval(patch, 100);
})();
</script>
"""

CANVAS_STYLE = """
<style>
/* The innermost block holding the canvas (a column, or the page on a page without
   columns) is a size container: the canvas takes its width, but never more than the
   window's height leaves (answers stay in view). */
div[data-testid="stVerticalBlock"]:has(.canvas-head):not(
  :has(div[data-testid="stVerticalBlock"] .canvas-head)) {container-type: inline-size;}
.digit-canvas-host, [data-testid="stBidiComponentIsolated"] {
  --digit-canvas: min(100cqw, max(300px, calc(100vh - 240px)));}
@media (max-width: 640px) {
  .digit-canvas-host, [data-testid="stBidiComponentIsolated"] {--digit-canvas: 100cqw;}
}
.canvas-head {display: flex; align-items: center; gap: 0.8rem; min-height: 3.3rem;
              padding-bottom: 0.2rem;}
.digit-clear {font: inherit; font-weight: 600; padding: 0.35rem 1.1rem; cursor: pointer;
              border-radius: 0.5rem; border: 1px solid color-mix(in srgb, currentColor 35%,
              transparent); background: transparent; color: inherit; min-height: 2.5rem;}
.digit-clear:hover {border-color: #d62728; color: #d62728;}
.digit-clear:focus-visible {outline: 3px solid #1f77b4; outline-offset: 2px;}
.digit-figure {margin: 0; text-align: center;}
.digit-figure figcaption {font-size: 0.85rem; margin-top: 0.2rem;
  color: color-mix(in srgb, currentColor 80%, transparent);}
.canvas-caption {font-size: 0.9rem; color: color-mix(in srgb, currentColor 80%, transparent);}
</style>
"""


def canvas_script() -> None:
    """Add the canvas fixes (toolbar, scaling, Clear, accessible name); call once, at the end."""
    st.html(CANVAS_STYLE + CANVAS_SCRIPT, unsafe_allow_javascript=True)
