"""What the app does once per server process, and the browser tab's title.

Torch-free to import, so that app.py and the drawing page can put the canvas on the
screen before torch is imported (a second or more at a server's first page view;
bench/bench_first_page.py): what needs torch is imported inside :func:`start_once`.
"""

from __future__ import annotations

import streamlit as st

_started = False  # start_once has run in this process (torch is imported, models loaded)


def started() -> bool:
    """Whether this server has done its start-up, asked without importing torch: the
    drawing page holds the title's place while it has not (app_pages/draw.py)."""
    return _started


@st.cache_resource(show_spinner=False)
def start_once() -> None:
    """Once per server process: remove files that saves killed mid-way left behind, make
    the presenter's gate (a generated passcode is printed in the terminal), and load and
    warm the models in use, so that the first drawing is answered at once."""
    # Imported here, not at the top: torch comes with them (see the module docstring).
    from app_pages import common, inuse, presenter_ui
    from mnist_models.nets import checkpoint
    from mnist_models.training import jobs

    jobs.cleanup_at_start()
    presenter_ui.gate()
    try:
        inuse.models_in_use()  # each checkpoint is loaded and run once (inuse.load_model)
    except (checkpoint.CheckpointError, KeyError):
        pass  # the pages say so in a sentence, where the answers would be
    common.freeze_gc()
    global _started
    _started = True


def ready() -> None:
    """Once per run, when the page may import torch: the start-up, and the tab's title
    with the networks' names ("MNIST: MLP vs ConvNet")."""
    from app_pages import common  # here, not at the top: see the module docstring

    start_once()
    st.set_page_config(page_title="MNIST: " + " vs ".join(common.names().values()))
