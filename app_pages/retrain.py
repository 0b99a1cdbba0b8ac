"""Retrain any network on any number of MNIST images; watch it learn; keep it or not.

Over 400 lines because it is one page of three parts that share the presenter's rights
and the messages after an action: the run in progress (job_panel), the form for a new
run, and every version (versions_section); the chart is charts.training_curves.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app_pages import charts, common, presenter_ui, teach
from mnist_models.nets import networks, registry
from mnist_models.text import md_escape
from mnist_models.training import jobs, settings
from mnist_models.training.train import TrainConfig

NAMES = {k: networks.get(k).name for k in networks.keys()}
# The bounds are the training settings table's (the command line's too).
SUBSET_MAX = settings.get("subset").hi
EPOCHS_MAX = settings.get("epochs").hi
SEED_MAX = settings.get("seed").hi
EVERY = (  # the choice that trains every network of the table in turn
    "Both, one after the other"
    if len(NAMES) == 2
    else f"All {common.count_word(len(NAMES))}, one after the other"
)
NETWORKS = {**{name: (k,) for k, name in NAMES.items()}, EVERY: tuple(NAMES)}  # label -> keys


def choice(keys: tuple[str, ...]) -> str | None:
    """The Network choice that trains these networks (None: no choice does)."""
    return next((label for label, ks in NETWORKS.items() if ks == keys), None)


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
        "network": choice(("cnn",)),
        "subset": 1_000,
        "selection": FIRST,
        "epochs": 100,
        "augment": JITTER,
    },
    "MLP vs ConvNet on 1,000: the blog's experiment for both networks": {
        "network": choice(("mlp", "cnn")),
        "subset": 1_000,
        "selection": FIRST,
        "epochs": 100,
        "augment": JITTER,
    },
    "Quick look: both networks, 1,000 balanced images, 10 epochs": {
        "network": choice(("mlp", "cnn")),
        "subset": 1_000,
        "selection": BALANCED,
        "seed": 0,
        "epochs": 10,
        "augment": NO_AUGMENT,
    },
    "ConvNet on all 60,000 images, 10 epochs": {
        "network": choice(("cnn",)),
        "subset": 60_000,
        "selection": BALANCED,
        "seed": 0,
        "epochs": 10,
        "augment": NO_AUGMENT,
    },
}
PRESETS = {name: preset for name, preset in _PRESETS.items() if preset["network"]}
DEFAULTS = {
    "preset": CUSTOM,
    "network": choice(("cnn",)) or next(iter(NETWORKS)),
    "subset": 1_000,
    "selection": BALANCED,
    "seed": 0,
    "epochs": 10,
    "augment": NO_AUGMENT,
}


# Scrolls the page to the run's panel: on Start the progress appears above the form,
# out of view on a laptop's screen (Streamlit keeps the scroll position on a rerun).
SCROLL_TO_RUN = """<script>
setTimeout(() => {
  const top = document.getElementById("training-run");
  if (top) top.scrollIntoView({behavior: "smooth", block: "start"});
}, 150);
</script>"""


# The progress refreshes every POLL seconds while a job runs (each refresh redraws two
# charts in the browser, CPU taken from training). When the job should end before the
# next refresh, or is in its last evaluation, the refresh waits for it, looking every
# END_LOOK s for up to END_WAIT s, so the result shows as soon as it is saved rather
# than up to POLL s later.
POLL = 2.0
# The curves, a point every few epochs, are redrawn every CURVES_EVERY s only: the
# browser's and the server's work takes CPU from the training process, which runs at a
# lower priority (the blog's experiment trained 1.14x slower from the page than from
# the command line on a quiet machine, 4.1x on a busy one; bench/bench_retrain.py).
CURVES_EVERY = 6.0
END_WAIT = 1.5
END_LOOK = 0.1


def wait_for_end(status: jobs.JobStatus) -> bool:
    """Whether a job about to end (due within POLL s, or in its last evaluation) ended
    within END_WAIT s; False at once if it is not about to."""
    if not status.running or status.eta is None:
        return False
    run = status.current_run
    last = status.current == len(status.runs) - 1 and run.state == "evaluating"
    if status.eta > POLL and not last:
        return False
    deadline = time.monotonic() + END_WAIT
    while time.monotonic() < deadline:
        time.sleep(END_LOOK)
        if not jobs.status().running:
            return True
    return False


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


def apply_preset() -> None:
    """Fill the form from the chosen preset."""
    for key, value in PRESETS.get(st.session_state.preset, {}).items():
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
        for m in NETWORKS[network]
    ]


def flash(kind: str, text: str) -> None:
    """A message shown once, after the rerun that follows an action."""
    st.session_state.flash = (kind, text)


def shared_action(what: str, action, done: str | None = None) -> None:
    """Run a change to what everyone shares if this session is the presenter's; report the
    outcome (or the refusal) after the rerun, and rerun."""
    try:
        presenter_ui.require(what)
        action()
        if done:
            flash("success", done)
    except presenter_ui.NotPresenter as exc:
        flash("error", str(exc))
    except (ValueError, KeyError, OSError) as exc:
        flash("error", f"Could not {what}: {common.for_visitors(exc)}")
    st.rerun()


def activate(arch: str, vid: str, title: str) -> None:
    """Make a version active for everyone (the presenter only)."""
    shared_action(
        "put a model in use",
        lambda: registry.set_active(arch, vid),
        f"The {NAMES[arch]} is now {md_escape(title)}.",
    )


def delete(vid: str, title: str) -> None:
    """Delete a trained version for good (the presenter only)."""
    shared_action(
        "delete a version", lambda: registry.delete_version(vid), f"Deleted {md_escape(title)}."
    )


def confirm_delete(v: registry.Version, key: str, label: str = "Delete") -> None:
    """A Delete button that asks once more before anything is removed."""
    with st.popover(
        label,
        icon=":material/delete:",
        disabled=v.shipped or not PRESENTER,
        help="Shipped models cannot be deleted." if v.shipped else None,
    ):
        st.markdown(
            f"Delete **{md_escape(v.title)}** for good? Its weights are removed from "
            "this server"
            + (
                " and the shipped model is put back in use."
                if registry.active_id(v.architecture or "") == v.id
                else "."
            )
        )
        if st.button(
            "Delete for good",
            key=f"{key}-confirm",
            type="primary",
            icon=":material/delete_forever:",
        ):
            delete(v.id, v.title)


def show_result(run: jobs.RunStatus) -> None:
    """A finished network next to the model that was active, with keep/discard buttons."""
    name = NAMES[run.model]
    try:
        mine = registry.get_version(run.version_id, verify=False) if run.version_id else None
    except KeyError:
        mine = None
    st.markdown(f"#### {md_escape(run.title)}")
    if mine is None:
        st.caption("Discarded." if run.version_id else "Not saved.")
        return
    is_active = registry.active_id(run.model) == mine.id
    base = run.baseline
    c1, c2, c3 = st.columns(3)
    c1.metric(
        f"{name} test accuracy (10,000 images)",
        f"{run.test_accuracy:.2%}",
        delta=None
        if base is None
        else f"{(run.test_accuracy - base['test_accuracy']) * 100:+.2f} points vs active",
    )
    c2.metric("Training time", duration(run.train_seconds))
    if base is None:
        c3.metric(f"Active {name}", "—", help="The active model could not be measured.")
    else:
        c3.metric(
            f"Active {name} when it finished",
            f"{base['test_accuracy']:.2%}",
            help=f"version {base['id']}",
        )
        c3.caption(
            md_escape(base["title"])
            + (
                f" · trained in {duration(base['train_seconds'])}"
                if base.get("train_seconds")
                else ""
            )
        )
    per_class = {"this model": [f"{v:.1%}" for v in run.per_class]}
    if base is not None:
        per_class[f"active: {base['title']}"] = [f"{v:.1%}" for v in base["per_class"]]
        per_class["difference (points)"] = [
            f"{(a - b) * 100:+.1f}" for a, b in zip(run.per_class, base["per_class"])
        ]
    with st.expander(f"Per-digit test accuracy of the new {name}", expanded=True):
        st.table(pd.DataFrame(per_class, index=[str(d) for d in range(10)]).T)
    if is_active:
        st.caption(f"This {name} is the active one now.")
    b1, b2, _ = st.columns([1, 1, 3])
    if b1.button(
        "Use this model",
        key=f"use-{mine.id}",
        type="primary",
        disabled=is_active or not PRESENTER,
        icon=":material/check:",
    ):
        activate(run.model, mine.id, mine.title)
    with b2:
        confirm_delete(mine, f"discard-{mine.id}", "Discard")


def job_panel() -> None:
    """The server's training job as it is now; polls while one runs."""
    status = jobs.status()
    if (status.id, status.state) != st.session_state.get("rendered_job"):
        st.rerun()  # a job started, finished or appeared from another browser: redraw all
    if status.state == "idle":
        return
    st.subheader("Training run", anchor="training-run")
    if st.session_state.pop("show-run", False):
        # Just started from the form below: bring the progress into view (once).
        st.html(SCROLL_TO_RUN, unsafe_allow_javascript=True)
    if status.running:
        run = status.current_run
        if run is None or run.state == "waiting":
            where = "loading MNIST"
        elif run.state == "evaluating":
            where = f"{NAMES[run.model]}: measuring on all 10,000 test images"
        elif (
            not run.batches_done
            and run.config.get("augment")
            and run.config.get("augment_style") == "drawn"
        ):
            where = f"{NAMES[run.model]}: redrawing the digits as this app sees drawings"
        else:
            where = (
                f"{NAMES[run.model]}: epoch {max(run.epoch, 1)} of {run.epochs}, "
                f"batch {run.batch} of {run.batches}"
            )
        eta = "" if status.eta is None else f" · about {duration(status.eta)} left"
        st.progress(status.fraction, text=f"{where} · {duration(status.elapsed)} elapsed{eta}")
        if run is not None and run.loss is not None and run.state == "training":
            st.caption(f"This epoch so far: loss {run.loss:.4f}, train accuracy {run.accuracy:.2%}")
        if status.started_by:
            st.caption(f"Started by {md_escape(status.started_by)}.")
        if status.cancel_requested:
            st.info("Cancelling…", icon=":material/hourglass_top:")
        elif PRESENTER:
            if st.button("Cancel training", icon=":material/stop_circle:"):
                shared_action("cancel a training run", jobs.cancel)
    elif status.state == "done":
        st.success(f"Finished in {duration(status.elapsed)}.", icon=":material/check_circle:")
    elif status.state == jobs.JobState.LOST:
        st.warning(
            f"A training run was {status.error}: "
            + " then ".join(r.title for r in status.runs)
            + ". Nothing was saved; the active models are unchanged.",
            icon=":material/history:",
        )
    elif status.state == "cancelled":
        st.info(
            f"Cancelled after {duration(status.elapsed)}. Nothing was saved; the active "
            "models are unchanged.",
            icon=":material/cancel:",
        )
    else:
        st.error(
            f"Training failed: {md_escape(common.without_paths(status.error))}. "
            "Nothing was saved; the active models are unchanged.",
            icon=":material/error:",
        )
    if wait_for_end(status):  # drawn above first: nothing of this panel looks stale meanwhile
        st.rerun()


def job_curves() -> None:
    """The job's curves, and its results once done; refreshed less often than its progress."""
    status = jobs.status()
    if status.state == "idle":
        return
    specs = charts.training_curves(status.runs)
    if specs is not None:
        left, right = st.columns(2)
        left.vega_lite_chart(specs[0], width="stretch")
        right.vega_lite_chart(specs[1], width="stretch")
        st.caption(
            f"Test accuracy while training is measured on "
            f"{jobs.MONITOR_TEST_IMAGES:,} of the 10,000 test images; the final figure "
            "uses all of them."
        )
    if status.state == "done":
        for run in status.runs:
            show_result(run)
    if not status.running and PRESENTER and st.button("Dismiss", icon=":material/close:"):
        shared_action("dismiss a training run", jobs.clear)


def estimate_note(configs: list[TrainConfig], timing: bool) -> None:
    """The estimate from the click on Start to the result shown, for the form's runs."""
    now_timing = jobs.calibrating()
    if timing and not now_timing:  # the measured rates are in: redraw the page once
        st.rerun()
    est = jobs.estimate_total(configs)
    order = [f"the {md_escape(NAMES[c.model])}" for c in configs]
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
        st.caption(
            f"A run is in progress (above): one at a time per server. "
            f"{md_escape(status.describe())}."
        )


def active_text(name: str, v: registry.Version | None) -> str:
    """'MLP (60,000 images, augmented as drawn), 99.37% on test' (the name once)."""
    if v is None:
        return f"{md_escape(name)}: no model yet"
    title = v.title if v.title.startswith(name) else f"{name}: {v.title}"
    acc = f", {v.test_accuracy:.2%} on test" if v.ok and v.test_accuracy is not None else ""
    return md_escape(title) + acc if v.ok else f"{md_escape(name)}: {md_escape(v.label())}"


def active_or_none(arch: str) -> tuple[registry.Version | None, str | None]:
    """(the version a network uses, a warning if its choice broke); None: it has none yet."""
    try:
        return registry.active_version(arch, verify=False)
    except KeyError:  # no shipped model, and none trained yet (or the shipped one is gone)
        return None, None


def versions_section() -> None:
    """Every version, broken ones marked; make any usable one active, or delete a trained one."""
    st.subheader("All versions")
    versions = registry.list_versions()
    active = {registry.active_id(a): a for a in registry.ARCHS}
    rows = []
    for v in versions:
        cfg = v.meta.get("train_config") or {}
        rows.append(
            {
                "version": v.id,
                "network": NAMES.get(v.architecture or "", "?"),
                "title": v.title,
                "images": cfg.get("subset"),
                "epochs": cfg.get("epochs"),
                "test accuracy": v.test_accuracy,
                "training time (s)": v.meta.get("train_seconds"),
                "status": ("broken: " + v.error)
                if not v.ok
                else ("active" if v.id in active else ""),
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={"test accuracy": st.column_config.NumberColumn(format="percent")},
    )
    by_id = {v.id: v for v in versions}
    choice = st.selectbox(
        "Version",
        list(by_id),
        key="version_choice",
        format_func=lambda vid: (
            f"{NAMES.get(by_id[vid].architecture or '', '?')}: {by_id[vid].label()}"
        ),
    )
    if choice is None:
        return
    v = by_id[choice]
    if not v.ok:
        st.warning(f"{v.id} is broken and cannot be made active: {md_escape(v.error)}")
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button(
        "Make active", disabled=not v.ok or v.id in active or not PRESENTER, icon=":material/check:"
    ):
        activate(v.architecture, v.id, v.title)
    with c2:
        confirm_delete(v, f"delete-{v.id}")


# --- the page --------------------------------------------------------------

for key, value in DEFAULTS.items():
    st.session_state.setdefault(key, value)

PRESENTER = presenter_ui.is_presenter()
title_col, lock_col = st.columns([5, 1], vertical_alignment="center")
title_col.title("Retrain the networks")
with lock_col:
    presenter_ui.control("retrain-presenter")
which = ", ".join(f"the {md_escape(n)}" for n in NAMES.values())
st.caption(
    f"Train {which} or {'both' if len(NAMES) == 2 else 'all of them'} on as few or as many "
    "MNIST images as you like, watch them learn, then keep the result or throw it away. One "
    "training run at a time per server; everyone looking at this page sees the same run."
)
with st.container():  # one fixed slot, so a message does not shift the widgets below
    if "flash" in st.session_state:
        kind, text = st.session_state.pop("flash")
        getattr(st, kind)(text)

jobs.prepare()  # the first run in this server starts training at once
status = jobs.status()
st.session_state.rendered_job = (status.id, status.state)

actives = {a: active_or_none(a) for a in registry.ARCHS}
active_now = " · ".join(active_text(NAMES[a], v) for a, (v, _) in actives.items())
st.markdown(f"**Active now:** {active_now}")
if not PRESENTER:
    st.info(
        "You are watching: only the presenter can start, cancel or keep a training run, "
        "put a model in use or delete one (unlock with the Presenter button above).",
        icon=":material/visibility:",
    )
with st.container():
    for _, warning in actives.values():
        if warning:
            st.warning(warning)

# The run first: on a projector its progress is what people watch.
# Every refresh redraws two charts in the browser, which takes CPU from the
# training thread: the blog's experiment took 65 s of training with a refresh
# every second and 49 s every 2 s (alone, 36 s; python bench/bench_retrain.py).
st.fragment(job_panel, run_every=POLL if status.running else 3.0)()
st.fragment(job_curves, run_every=CURVES_EVERY if status.running else None)()

with st.container(border=True):
    st.subheader("New training run")
    st.selectbox("Preset", [CUSTOM, *PRESETS], key="preset", on_change=apply_preset)
    c1, c2 = st.columns(2)
    with c1:
        network = st.radio(
            "Network", list(NETWORKS), key="network", on_change=to_custom, horizontal=True
        )
        subset = st.number_input(
            f"Training images (1 to {SUBSET_MAX:,})", key="subset", step=100, on_change=to_custom
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
        disabled=status.running or not PRESENTER,
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


teach.section(PRESENTER)  # app_pages/teach.py: teach the room's handwriting
versions_section()
