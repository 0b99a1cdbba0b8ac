"""The Retrain page's versions (retrain.py calls section()): every version listed, one put
in use or deleted; the models in use now, and the presenter's changes to what everyone
shares, with their outcome shown after the rerun (retrain_run.py's buttons too).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import common, presenter_ui
from app_pages.retrain_form import flash
from mnist_models.nets import registry
from mnist_models.text import md_escape


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
        f"The {common.names()[arch]} is now {md_escape(title)}.",
    )


def delete(vid: str, title: str) -> None:
    """Delete a trained version for good (the presenter only)."""
    shared_action(
        "delete a version", lambda: registry.delete_version(vid), f"Deleted {md_escape(title)}."
    )


def confirm_delete(v: registry.Version, key: str, presenter: bool, label: str = "Delete") -> None:
    """A Delete button that asks once more before anything is removed."""
    with st.popover(
        label,
        icon=":material/delete:",
        disabled=v.shipped or not presenter,
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


def section(presenter: bool) -> None:
    """Every version, broken ones marked; make any usable one active, or delete a trained one."""
    st.subheader("All versions")
    names = common.names()
    versions = registry.list_versions()
    active = {registry.active_id(a): a for a in registry.ARCHS}
    rows = []
    for v in versions:
        cfg = v.meta.get("train_config") or {}
        rows.append(
            {
                "version": v.id,
                "network": names.get(v.architecture or "", "?"),
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
            f"{names.get(by_id[vid].architecture or '', '?')}: {by_id[vid].label()}"
        ),
    )
    if choice is None:
        return
    v = by_id[choice]
    if not v.ok:
        st.warning(f"{v.id} is broken and cannot be made active: {md_escape(v.error)}")
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button(
        "Make active", disabled=not v.ok or v.id in active or not presenter, icon=":material/check:"
    ):
        activate(v.architecture, v.id, v.title)
    with c2:
        confirm_delete(v, f"delete-{v.id}", presenter)
