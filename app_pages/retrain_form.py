"""The Retrain page's form for a new run (retrain.py calls section()): the network
choices and presets, the fields and their checks, the estimate, and Start.

duration() and flash() serve the page's other parts too (retrain_run.py,
retrain_versions.py).
"""

from __future__ import annotations

import streamlit as st

from app_pages import common, presenter_ui
from mnist_models.text import md_escape
from mnist_models.training import jobs, settings
from mnist_models.training.train import TrainConfig

# The bounds are the training settings table's (the command line's too).
SUBSET_MAX = settings.get("subset").hi
EPOCHS_MAX = settings.get("epochs").hi
SEED_MAX = settings.get("seed").hi


def network_choices() -> dict[str, tuple[str, ...]]:
    """The Network choices -> the keys each trains, for the network table as it is now: one
    per network, and one that trains every network of the table in turn."""
    names = common.names()
    every = (
        "Both, one after the other"
        if len(names) == 2
        else f"All {common.count_word(len(names))}, one after the other"
    )
    return {**{name: (k,) for k, name in names.items()}, every: tuple(names)}


def choice(keys: tuple[str, ...]) -> str | None:
    """The Network choice that trains these networks (None: no choice does)."""
    return next((label for label, ks in network_choices().items() if ks == keys), None)


BALANCED = "Balanced random sample (seeded)"
FIRST = "The first N images (as in the blog)"
CUSTOM = "Custom"
NO_AUGMENT = "Off"
JITTER = "Jitter: small rotations, scalings, shifts and shears"
AS_DRAWN = "As drawn: wider tilts and slants, narrow digits, thin and thick ink, redrawn"
AUGMENT = {NO_AUGMENT: None, JITTER: "jitter", AS_DRAWN: "drawn"}  # label -> augment style
# The presets name the blog's networks by key; one that no Network choice trains (with
# another table of networks) is not offered.
_PRESETS = {
    "The blog's experiment: ConvNet, first 1,000 images, 100 epochs, augmented": {
        "network": ("cnn",),
        "subset": 1_000,
        "selection": FIRST,
        "epochs": 100,
        "augment": JITTER,
    },
    "MLP vs ConvNet on 1,000: the blog's experiment for both networks": {
        "network": ("mlp", "cnn"),
        "subset": 1_000,
        "selection": FIRST,
        "epochs": 100,
        "augment": JITTER,
    },
    "Quick look: both networks, 1,000 balanced images, 10 epochs": {
        "network": ("mlp", "cnn"),
        "subset": 1_000,
        "selection": BALANCED,
        "seed": 0,
        "epochs": 10,
        "augment": NO_AUGMENT,
    },
    "ConvNet on all 60,000 images, 10 epochs": {
        "network": ("cnn",),
        "subset": 60_000,
        "selection": BALANCED,
        "seed": 0,
        "epochs": 10,
        "augment": NO_AUGMENT,
    },
}


def presets() -> dict[str, dict]:
    """The presets offered, each with its Network choice's label."""
    found = {
        name: {**preset, "network": choice(preset["network"])} for name, preset in _PRESETS.items()
    }
    return {name: preset for name, preset in found.items() if preset["network"]}


def defaults() -> dict:
    """The form's first values."""
    return {
        "preset": CUSTOM,
        "network": choice(("cnn",)) or next(iter(network_choices())),
        "subset": 1_000,
        "selection": BALANCED,
        "seed": 0,
        "epochs": 10,
        "augment": NO_AUGMENT,
    }


def duration(seconds: float) -> str:
    """'0.4 s', '45 s', '3 min 20 s', '1 h 05 min'."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def flash(kind: str, text: str) -> None:
    """A message shown once, after the rerun that follows an action."""
    st.session_state.flash = (kind, text)


def apply_preset() -> None:
    """Fill the form from the chosen preset."""
    for key, value in presets().get(st.session_state.preset, {}).items():
        st.session_state[key] = value


def to_custom() -> None:
    """Editing a field by hand leaves the preset."""
    st.session_state.preset = CUSTOM


def problems(subset: float | None, epochs: float | None, seed: float | None) -> list[str]:
    """Why these values cannot be trained on; empty when they can."""
    asked = [("subset", subset, "Training images"), ("epochs", epochs, "Epochs")]
    asked.append(("seed", seed, "The seed"))
    found = [settings.get(name).form_problem(value, label) for name, value, label in asked]
    return [text for text in found if text]


def configs_from(
    network: str, subset: int, first: bool, seed: int, epochs: int, augment: str | None
) -> list[TrainConfig]:
    """One TrainConfig per network (augment: None or an augment style); test accuracy
    for the curves at most 25 times."""
    return [
        TrainConfig(
            model=m,
            subset=subset,
            first=first,
            seed=seed,
            epochs=epochs,
            augment=augment is not None,
            augment_style=augment or "jitter",
            eval_every=jobs.curve_every(epochs),
        )
        for m in network_choices()[network]
    ]


def estimate_note(configs: list[TrainConfig], timing: bool) -> None:
    """The estimate from the click on Start to the result shown, for the form's runs."""
    now_timing = jobs.calibrating()
    if timing and not now_timing:  # the measured rates are in: redraw the page once
        st.rerun()
    est = jobs.estimate_total(configs)
    order = [f"the {md_escape(common.names()[c.model])}" for c in configs]
    st.info(
        f"Estimated duration on this machine: about {duration(est)}"
        + (f", {order[0]} first, then " + ", then ".join(order[1:]) if len(order) > 1 else "")
        + ". That is from Start to the result shown here."
        + (" Measuring this machine's training speed…" if now_timing else ""),
        icon=":material/timer:",
    )
    if est > 30 * 60:
        st.warning(
            "That is a long run: nobody can train anything else on this server "
            "until it ends or is cancelled."
        )


def run_note() -> None:
    """Under the form while a run goes on: where it is, kept up to date."""
    status = jobs.status()
    if status.running:
        st.caption(f"A run is in progress (above): one at a time. {md_escape(status.describe())}.")


def section(status: jobs.JobStatus, presenter: bool) -> None:
    """The form for a new run, with its estimate and the Start button (the presenter's)."""
    with st.container(border=True):
        st.subheader("New training run")
        st.selectbox("Preset", [CUSTOM, *presets()], key="preset", on_change=apply_preset)
        c1, c2 = st.columns(2)
        with c1:
            network = st.radio(
                "Network",
                list(network_choices()),
                key="network",
                on_change=to_custom,
                horizontal=True,
            )
            subset = st.number_input(
                f"Training images (1 to {SUBSET_MAX:,})",
                key="subset",
                step=100,
                on_change=to_custom,
            )
            epochs = st.number_input(
                f"Epochs (1 to {EPOCHS_MAX:,})", key="epochs", step=1, on_change=to_custom
            )
        with c2:
            selection = st.radio(
                "Which images", [BALANCED, FIRST], key="selection", on_change=to_custom
            )
            seed = st.number_input(
                "Seed of the random sample",
                key="seed",
                step=1,
                on_change=to_custom,
                disabled=selection == FIRST,
            )
            augment = st.radio(
                "Augmentation",
                list(AUGMENT),
                key="augment",
                on_change=to_custom,
                help="Each epoch shows every image changed at random. *Jitter* is what the "
                "blog did. *As drawn* is how the shipped weights were trained: it also makes "
                "digits narrow, thinner or thicker, and takes half of them as this app's "
                "drawing page would see them drawn (traced into strokes and redrawn; about "
                "3 ms an image the first time).",
            )
        wrong = problems(subset, epochs, seed)
        configs = None
        if wrong:
            for text in wrong:
                st.error(text, icon=":material/block:")
        else:
            configs = configs_from(
                network, int(subset), selection == FIRST, int(seed), int(epochs), AUGMENT[augment]
            )
            timing = jobs.calibrating()
            # While the waiting training process times this machine, the estimate is redrawn
            # every second; once it is done, the page is redrawn once with the measured one.
            st.fragment(estimate_note, run_every=1.0 if timing else None)(configs, timing)
        if status.running:
            st.fragment(run_note, run_every=2.0)()
        if st.button(
            "Start training",
            type="primary",
            disabled=status.running or not presenter,
            icon=":material/play_arrow:",
        ):
            if configs is None:
                flash("error", "Nothing was started: " + " ".join(wrong))
                st.rerun()
            try:
                who = presenter_ui.require("start a training run").name
                jobs.start(configs, started_by=who)
                st.session_state["show-run"] = True
            except presenter_ui.NotPresenter as exc:
                flash("error", str(exc))
            except (jobs.JobBusy, ValueError) as exc:
                flash("error", f"Nothing was started: {md_escape(str(exc))}")
            st.rerun()
