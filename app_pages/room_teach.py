"""The wall's "taught on this room" panel: the last finished teach job of this room
(``training/teach.py`` through the server's job runner, started on the Retrain page),
each network before and after on the room's held-out people and on MNIST test.

room_wall.py adds ``result_html(code)`` to its live column; it is empty until a teach
job of this room has finished in this server.
"""

from __future__ import annotations

import html

from mnist_models.nets import networks
from mnist_models.training import jobs

STYLE = "font-size:26px;line-height:1.35;margin-top:10px"


def _pct(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:.{digits}%}"


def result_html(code: str) -> str:
    """The panel for room `code`, or "" when no teach job of this room has finished."""
    status = jobs.status()
    runs = [r for r in status.runs if r.taught is not None and r.room == code]
    if status.state != "done" or not runs:
        return ""
    rows = []
    for run in runs:
        t, net = run.taught, networks.get(run.model)
        rows.append(
            f'<div class="wall-taught-net" data-model="{run.model}">'
            f'<b style="color:{net.colour}">{html.escape(net.name)}</b>: '
            f"people it did not learn from {_pct(t['held_before'])} → "
            f"<b>{_pct(t['held_after'])}</b> ({len(t['fixed'])} fixed, "
            f"{len(t['broken'])} broken) · MNIST {_pct(t['test_before'], 1)} → "
            f"{_pct(t['test_after'], 1)}</div>"
        )
    n = runs[0].taught["held_out"]
    return (
        f'<div class="wall-taught" id="wall-taught" style="{STYLE}">'
        f"<div><b>Taught your handwriting</b> · checked on {n:,} drawings by people "
        "held out</div>" + "".join(rows) + "</div>"
    )
