"""The Retrain page's training run (retrain.py calls section()): the server's job as it
is now, its progress refreshed while it runs, its curves, and each network's result to
keep or discard.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app_pages import charts, common
from app_pages.retrain_form import duration
from app_pages.retrain_versions import activate, confirm_delete, shared_action
from mnist_models.nets import registry
from mnist_models.text import md_escape
from mnist_models.training import jobs

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


def show_result(run: jobs.RunStatus, presenter: bool) -> None:
    """A finished network next to the model that was active, with keep/discard buttons."""
    name = common.names()[run.model]
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
        disabled=is_active or not presenter,
        icon=":material/check:",
    ):
        activate(run.model, mine.id, mine.title)
    with b2:
        confirm_delete(mine, f"discard-{mine.id}", presenter, "Discard")


def job_panel(presenter: bool) -> None:
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
            where = f"{common.names()[run.model]}: measuring on all 10,000 test images"
        elif (
            not run.batches_done
            and run.config.get("augment")
            and run.config.get("augment_style") == "drawn"
        ):
            where = f"{common.names()[run.model]}: redrawing the digits as this app sees drawings"
        else:
            where = (
                f"{common.names()[run.model]}: epoch {max(run.epoch, 1)} of {run.epochs}, "
                f"batch {run.batch} of {run.batches}"
            )
        eta = "" if status.eta is None else f" · about {duration(status.eta)} left"
        st.progress(status.fraction, text=f"{where} · {duration(status.elapsed)} elapsed{eta}")
        # Its slot stays when the line goes (the last evaluation): the lines below keep their
        # places, so a refresh under way never shows one of them twice.
        epoch_line = st.empty()
        if run is not None and run.loss is not None and run.state == "training":
            epoch_line.caption(
                f"This epoch so far: loss {run.loss:.4f}, train accuracy {run.accuracy:.2%}"
            )
        if status.started_by:
            st.caption(f"Started by {md_escape(status.started_by)}.")
        if status.elsewhere:
            st.caption("Training on another server of this app; shown here as it goes.")
        if status.cancel_requested:
            st.info("Cancelling…", icon=":material/hourglass_top:")
        elif presenter:
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
    if status.elsewhere and not status.running:
        st.caption("Run by another server of this app (or by this one before a restart).")
    if wait_for_end(status):  # drawn above first: nothing of this panel looks stale meanwhile
        st.rerun()


def job_curves(presenter: bool) -> None:
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
            show_result(run, presenter)
    if not status.running and presenter and st.button("Dismiss", icon=":material/close:"):
        shared_action("dismiss a training run", jobs.clear)


def section(status: jobs.JobStatus, presenter: bool) -> None:
    """The run's panel and its curves, each a fragment refreshed on its own while it runs."""
    # Every refresh redraws two charts in the browser, which takes CPU from the
    # training thread: the blog's experiment took 65 s of training with a refresh
    # every second and 49 s every 2 s (alone, 36 s; python bench/bench_retrain.py).
    st.fragment(job_panel, run_every=POLL if status.running else 3.0)(presenter)
    st.fragment(job_curves, run_every=CURVES_EVERY if status.running else None)(presenter)
