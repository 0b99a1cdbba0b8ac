"""Retrain any network on any number of MNIST images; watch it learn; keep it or not.

One page of four parts, each in its own file and sharing the presenter's rights and
the message shown after an action: the run in progress (retrain_run.py), the form for
a new run (retrain_form.py), teaching a room's handwriting (teach.py) and every
version (retrain_versions.py); the chart is charts.training_curves.
"""

from __future__ import annotations

import streamlit as st

from app_pages import common, presenter_ui, retrain_form, retrain_run, retrain_versions, teach
from mnist_models.nets import registry
from mnist_models.text import md_escape
from mnist_models.training import jobs

NAMES = common.names()


for key, value in retrain_form.defaults().items():
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
    "training run at a time, on every server of this app; everyone looking at this page sees "
    "the same run."
)
with st.container():  # one fixed slot, so a message does not shift the widgets below
    if "flash" in st.session_state:
        kind, text = st.session_state.pop("flash")
        getattr(st, kind)(text)

jobs.prepare()  # the first run in this server starts training at once
status = jobs.status()
st.session_state.rendered_job = (status.id, status.state)

actives = {a: retrain_versions.active_or_none(a) for a in registry.ARCHS}
active_now = " · ".join(retrain_versions.active_text(NAMES[a], v) for a, (v, _) in actives.items())
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
retrain_run.section(status, PRESENTER)
retrain_form.section(status, PRESENTER)


teach.section(PRESENTER)  # app_pages/teach.py: teach the room's handwriting
retrain_versions.section(PRESENTER)
