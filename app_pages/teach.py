"""The Retrain page's "Teach the room's handwriting" section (retrain.py calls section()).

Pick a room, see its labelled drawings per digit on each side of the split (by person,
``training/roomdata.py``), start a teach job (``training/teach.py`` through the same job
runner as every run: progress, cancel, curves and the estimate are the page's job
panel), then see each network before and after on the room's held-out people and on
MNIST test, the held-out drawings it fixed or broke, and put both new versions in use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app_pages import common, presenter_ui, room_panel
from mnist_models.nets import networks, registry
from mnist_models.rooms import rules
from mnist_models.text import md_escape
from mnist_models.training import jobs, roomdata, teach

MIX_CHOICES = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
SHOWN_CHANGES = 24  # changed drawings shown per network at most
NO_DETECTOR = (
    "The new versions have no not-a-digit check: with one of them in use, drawings are "
    "read without it. Fit one on the command line: `python -m mnist_models ood fit "
    "CHECKPOINT`."
)


def room_data(code: str) -> tuple[roomdata.RoomData | None, str | None]:
    """The room's dataset, or the sentence that says why it cannot be taught from."""
    try:
        drawings = room_panel.store().drawings(code, include_hidden=True)
        return roomdata.from_drawings(drawings, f"room {rules.shown_code(code)}"), None
    except roomdata.RoomDataError as exc:
        return None, str(exc)
    except rules.RoomError as exc:
        return None, f"The room cannot be read: {exc}"


def counts_table(data: roomdata.RoomData) -> pd.DataFrame:
    """Drawings per digit on each side of the split."""
    return pd.DataFrame(
        {"to learn from": data.counts("train"), "held out": data.counts("held")},
        index=[str(d) for d in range(10)],
    ).T


def starts() -> list[str]:
    """Each network's checkpoint in use (the teach job starts from it)."""
    return [str(registry.active_version(a, verify=False)[0].path) for a in networks.keys()]


def start_job(data: roomdata.RoomData, code: str, mix: float) -> None:
    """Start the teach job (the presenter only); the outcome is shown after the rerun."""
    try:
        who = presenter_ui.require("teach the networks a room's handwriting").name
        paths = starts()
        configs = [teach.config(a, p) for a, p in zip(networks.keys(), paths)]
        jobs.start(configs, started_by=who, teach=teach.TeachJob(data, paths, mix, room=code))
        st.session_state["show-run"] = True
    except presenter_ui.NotPresenter as exc:
        st.session_state.flash = ("error", str(exc))
    except (jobs.JobBusy, ValueError, KeyError) as exc:
        st.session_state.flash = ("error", f"Nothing was started: {md_escape(str(exc))}")
    st.rerun()


def put_in_use(runs: list[jobs.RunStatus]) -> None:
    """Every taught network's new version in use (the presenter only)."""
    try:
        presenter_ui.require("put models in use")
        for run in runs:
            registry.set_active(run.model, run.version_id)
        st.session_state.flash = (
            "success",
            "In use now: "
            + ", ".join(md_escape(registry.get_version(r.version_id).title) for r in runs)
            + ". Switch back under All versions.",
        )
    except presenter_ui.NotPresenter as exc:
        st.session_state.flash = ("error", str(exc))
    except (ValueError, KeyError, OSError) as exc:
        st.session_state.flash = ("error", f"Could not put them in use: {exc}")
    st.rerun()


def points(after: float | None, before: float | None) -> str | None:
    return None if after is None or before is None else f"{(after - before) * 100:+.1f} points"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def changed_html(ids: list[int], answers: dict, images: dict[int, bytes], fixed: bool) -> str:
    """Thumbnails of the held-out drawings whose answer changed, with before -> after."""
    out = []
    for i in ids[:SHOWN_CHANGES]:
        label, before, after = answers[i]
        raw = images.get(i)
        if raw is None:  # hidden or removed since
            continue
        img = Image.fromarray(np.frombuffer(raw, np.uint8).reshape(28, 28)).resize((56, 56))
        word = "fixed" if fixed else "broken"
        out.append(
            common.image_html(
                img,
                f"{word}: a {label}, read {before} before and {after} after",
                56,
                f"{label}: {before} → {after}",
            )
        )
    return '<div style="display:flex;flex-wrap:wrap;gap:6px">' + "".join(out) + "</div>"


def results(status: jobs.JobStatus, presenter: bool) -> None:
    """Before and after for each network of a finished teach job."""
    runs = [r for r in status.runs if r.taught is not None]
    if status.state != "done" or not runs:
        return
    code = runs[0].room or ""
    st.markdown(f"#### Taught room {md_escape(rules.shown_code(code))}: before and after")
    try:
        images = {d.id: d.image for d in room_panel.store().drawings(code)}
    except rules.RoomError:
        images = {}
    for run in runs:
        t, name = run.taught, networks.get(run.model).name
        answers = {i: (y, b, a) for i, y, b, a in t["answers"]}
        c1, c2, c3 = st.columns(3)
        c1.metric(
            f"{name} on the room's held-out people ({t['held_out']} drawings)",
            pct(t["held_after"]),
            delta=points(t["held_after"], t["held_before"]),
            help=f"before: {pct(t['held_before'])}",
        )
        c2.metric(
            f"{name} on MNIST test (10,000 images)",
            f"{t['test_after']:.2%}",
            delta=points(t["test_after"], t["test_before"]),
            help=f"before: {t['test_before']:.2%}",
        )
        c3.metric(f"{name}: drawings fixed / broken", f"{len(t['fixed'])} / {len(t['broken'])}")
        st.caption(
            f"{name} before: {pct(t['held_before'])} on the held-out people, "
            f"{t['test_before']:.2%} on MNIST test; {t['oversample']}x each room drawing, "
            f"{t['mix']:.0%} of each epoch, trained in {t['train_seconds']:.1f} s."
        )
        for word, ids, fixed in (("Fixed", t["fixed"], True), ("Broken", t["broken"], False)):
            if ids:
                st.markdown(
                    f"**{word}** ({len(ids)}): wrong before, right after"
                    if fixed
                    else f"**{word}** ({len(ids)}): right before, wrong after"
                )
                st.html(changed_html(ids, answers, images, fixed))
    saved = [r for r in runs if r.version_id]
    in_use = all(registry.active_id(r.model) == r.version_id for r in saved)
    st.caption(NO_DETECTOR)
    if saved and st.button(
        "In use" if in_use else "Put both new versions in use",
        key="teach-use",
        type="primary",
        icon=":material/check:",
        disabled=in_use or not presenter,
    ):
        put_in_use(saved)


def section(presenter: bool) -> None:
    """The section: the room, its counts, the mix, Start; the results of the last job."""
    status = jobs.status()
    with st.container(border=True):
        st.subheader("Teach the room's handwriting", anchor="teach")
        st.caption(
            "Fine-tune both networks in use on MNIST plus a room's labelled drawings, "
            "then compare them before and after on people in the room whose drawings "
            "they did not learn from, and on MNIST test (what they forgot)."
        )
        results(status, presenter)
        try:
            rooms = room_panel.store().list_rooms()
        except rules.RoomError as exc:
            st.info(f"No room can be read: {exc}")
            return
        if not rooms:
            st.info("No rooms yet: open one on the wall page, then ask people to label digits.")
            return
        titles = {r.code: f"{rules.shown_code(r.code)} · {r.title}" for r in rooms}
        code = st.selectbox("Room", list(titles), format_func=titles.get, key="teach-room")
        data, why = room_data(code)
        if data is None:
            st.warning(why, icon=":material/block:")
            return
        st.table(counts_table(data))
        lines = data.describe()
        st.caption(md_escape(lines[0]))
        for line in lines[1:]:
            (st.warning if line.startswith("Few") else st.caption)(md_escape(line))
        mix = st.select_slider(
            "Share of each batch that is room drawings (oversampled)",
            MIX_CHOICES,
            value=teach.MIX,
            key="teach-mix",
        )
        try:
            paths = starts()
            configs = [teach.config(a, p) for a, p in zip(networks.keys(), paths)]
            spec = teach.TeachJob(data, paths, mix, room=code)
            est = jobs.estimate_total([spec.estimate_config(c) for c in configs])
            st.info(
                f"Teaching should take about {est:.0f} s on this machine for both networks, "
                f"{teach.SUBSET:,} MNIST images and the room's {len(data.train_ids)} drawings, "
                f"{teach.EPOCHS} epochs.",
                icon=":material/timer:",
            )
        except (KeyError, ValueError) as exc:
            st.warning(f"Cannot teach now: {exc}")
            return
        if st.button(
            "Start teaching",
            key="teach-start",
            type="primary",
            disabled=status.running or not presenter,
            icon=":material/school:",
        ):
            start_job(data, code, mix)
