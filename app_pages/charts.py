"""The pages' charts: Vega-Lite and Altair specs, built from what the pages measured.

Each network is drawn in its colour from the table (common.colours), in table order.
Text drawn in a chart (annotations, counts) takes the theme's ink (``ink(dark)``): Vega's
default is black, which read as black on near-black in the dark theme.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from app_pages import common
from mnist_models.training import calibration, curves, jobs

# Streamlit's own text colours in its light and dark themes.
INK = {False: "#31333f", True: "#fafafa"}


def ink(dark: bool) -> str:
    """The colour of text and outlines drawn in a chart, for the theme in use."""
    return INK[bool(dark)]


# ---------------------------------------------------------------- Retrain: a job's runs


def training_curves(runs: Sequence[jobs.RunStatus]) -> tuple[dict, dict] | None:
    """Vega-Lite specs of loss and accuracy per epoch for a training job's runs (None before
    epoch 1). Plain dicts, not Altair: they are rebuilt every 2 s while a job runs, and
    Altair's validation would take the CPU (and the GIL) from the training thread."""
    names, colours = common.names(), common.colours()
    loss, acc = [], []
    for run in runs:
        name = names.get(run.model, run.model)
        for h in run.history:
            loss.append({"network": name, "epoch": h["epoch"], "value": h["loss"]})
            acc.append(
                {
                    "network": name,
                    "epoch": h["epoch"],
                    "what": "train",
                    "value": h["train_accuracy"],
                }
            )
            if h["test_accuracy"] is not None:
                acc.append(
                    {
                        "network": name,
                        "epoch": h["epoch"],
                        "what": "test",
                        "value": h["test_accuracy"],
                    }
                )
    if not loss:
        return None
    epochs = max(r.epochs for r in runs)
    x = {
        "field": "epoch",
        "type": "quantitative",
        "title": "epoch",
        "scale": {"domain": [1, max(2, epochs)]},
        "axis": {"tickMinStep": 1, "format": "d"},  # whole epochs, not 1.2, 1.4…
    }
    # Fixed y domains: the browser draws a chart once before its data arrives, and
    # a domain taken from no data made Vega-Lite warn "Infinite extent".
    top_loss = max((r["value"] for r in loss if r["value"] == r["value"]), default=1.0)
    low_acc = min((r["value"] for r in acc if r["value"] == r["value"]), default=0.0)
    loss_domain = [0, max(top_loss, 1e-3) * 1.05]
    acc_domain = [min(0.9, int(low_acc * 10) / 10), 1]
    # The legend names only the networks this job trains (in table order).
    shown = [n for n in colours if any(names.get(r.model, r.model) == n for r in runs)]
    colour = {
        "field": "network",
        "type": "nominal",
        "title": None,
        "scale": {"domain": shown, "range": [colours[n] for n in shown]},
    }

    def spec(title: str, rows: list[dict], y: dict, extra: dict) -> dict:
        return {
            "title": title,
            "height": 260,
            "data": {"values": rows},
            "mark": {"type": "line", "point": True},
            "encoding": {"x": x, "y": y, "color": colour, **extra},
        }

    return (
        spec(
            "Training loss",
            loss,
            {
                "field": "value",
                "type": "quantitative",
                "title": "cross-entropy",
                "scale": {"domain": loss_domain},
            },
            {
                "tooltip": [
                    {"field": "network"},
                    {"field": "epoch"},
                    {"field": "value", "format": ".4f", "title": "loss"},
                ]
            },
        ),
        spec(
            "Accuracy",
            acc,
            {
                "field": "value",
                "type": "quantitative",
                "title": None,
                "axis": {"format": "%"},
                "scale": {"domain": acc_domain},
            },
            # The legend shows train and test as line styles, not as the points' dots.
            {
                "strokeDash": {
                    "field": "what",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": ["train", "test"], "range": [[1, 0], [6, 4]]},
                    "legend": {
                        "symbolType": "stroke",
                        "symbolStrokeWidth": 2,
                        "symbolSize": 300,
                        "symbolStrokeColor": "#777777",
                        "symbolFillColor": "transparent",
                        "symbolOpacity": 1,
                    },
                },
                "tooltip": [
                    {"field": "network"},
                    {"field": "what"},
                    {"field": "epoch"},
                    {"field": "value", "format": ".2%", "title": "accuracy"},
                ],
            },
        ),
    )


# ---------------------------------------------------------------- Explorer


def confusion_chart(cm: np.ndarray, title: str, colour: str) -> alt.Chart:
    """Errors as a heat map from white (none) to dark red; the diagonal (right answers) grey.

    The colours are computed here, not by a Vega colour scale, so that a cell with
    no error is exactly white; each number is white on dark cells and near-black on
    light ones, and the cells are opaque, so every shade reads in either theme.
    """
    top = max(1, int((cm - np.diag(np.diag(cm))).max()))
    rows = []
    for t in range(10):
        for p in range(10):
            n = int(cm[t, p])
            fill = "#e4e7eb" if t == p else common.error_colour(n, top)
            rows.append(
                {
                    "true": str(t),
                    "predicted": str(p),
                    "count": n,
                    "fill": fill,
                    "ink": common.ink_for(fill),
                    "label": str(n) if n else "",
                }
            )
    base = alt.Chart(pd.DataFrame(rows), title=title, width=330, height=330).encode(
        x=alt.X("predicted:N", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:N"),
    )
    heat = base.mark_rect(stroke="#d0d4da", strokeWidth=0.5).encode(
        color=alt.Color("fill:N", scale=None), tooltip=["true:N", "predicted:N", "count:Q"]
    )
    text = base.mark_text(fontSize=11).encode(text="label:N", color=alt.Color("ink:N", scale=None))
    return (heat + text).properties(title=alt.TitleParams(title, color=colour))


# ---------------------------------------------------------------- Experiments


def curves_chart(data: dict, points: pd.DataFrame, dark: bool = False) -> alt.LayerChart:
    """Mean accuracy per size (lines), min-max over seeds (bands), claims and versions (marks).

    Each claim's diamond carries a short label ("blog: 95%") next to it, where no curve
    passes (the full claim is in its tooltip and the caption): the long labels
    crossed a curve and were cut off at the left on a phone.
    """
    names, colours = common.names(), common.colours()
    cells = curves.summarise(data)
    df = pd.DataFrame(
        [
            {
                "network": names[c.model],
                "augmentation": "with" if c.augment else "without",
                "images": c.subset,
                "mean": c.mean,
                "low": c.low,
                "high": c.high,
                "std": c.std,
                "seeds": c.n,
                "epochs": c.epochs,
            }
            for c in cells
        ]
    )
    x = alt.X(
        "images:Q",
        scale=alt.Scale(type="log", domain=[80, 75_000]),
        axis=alt.Axis(title="training images (log scale)", values=list(curves.SIZES), format=","),
    )
    y_scale = alt.Scale(domain=[0.7, 1.0], clamp=True)
    colour = alt.Color(
        "network:N",
        scale=alt.Scale(domain=list(colours), range=list(colours.values())),
        legend=None,
    )
    # The legend is curves_legend(), above the chart: Vega-Lite drew this layered
    # chart's dash legend without its line symbols.
    dash = alt.StrokeDash(
        "augmentation:N",
        scale=alt.Scale(domain=["with", "without"], range=[[1, 0], [5, 4]]),
        legend=None,
    )
    base = alt.Chart(df).encode(x=x, color=colour)
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y("low:Q", scale=y_scale), y2="high:Q", detail="augmentation:N"
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", scale=y_scale, axis=alt.Axis(format="%", title="test accuracy")),
        strokeDash=dash,
        tooltip=[
            "network",
            "augmentation",
            alt.Tooltip("images:Q", format=","),
            "epochs",
            alt.Tooltip("mean:Q", format=".2%"),
            alt.Tooltip("std:Q", format=".2%"),
            alt.Tooltip("low:Q", format=".2%"),
            alt.Tooltip("high:Q", format=".2%"),
            "seeds",
        ],
    )
    claims = pd.DataFrame(
        [
            {
                "network": names[c["model"]],
                "images": c["subset"],
                "accuracy": c["accuracy"],
                "text": c["text"],
                "label": f"blog: {c['accuracy']:.0%}",
                "right": c["subset"] < max(curves.SIZES),  # inside the axis, not at its end
            }
            for c in curves.BLOG_CLAIMS
        ]
    )
    outline = ink(dark) if dark else "black"
    claim_marks = (
        alt.Chart(claims)
        .mark_point(shape="diamond", size=220, filled=True, stroke=outline, strokeWidth=1.5)
        .encode(
            x=x,
            y=alt.Y("accuracy:Q", scale=y_scale),
            color=colour,
            tooltip=["text", alt.Tooltip("accuracy:Q", format=".0%")],
        )
    )
    # Under a claim inside the axis (the curves rise away from it on both sides), left of
    # one at its right end: clear of every curve from a phone's width to a projector's.
    claim_text = [
        alt.Chart(claims[claims.right == inside])
        .mark_text(
            align="center" if inside else "right",
            dx=0 if inside else -12,
            dy=18 if inside else 0,
            fontSize=12,
            fontWeight="bold",
            color=ink(dark),
        )
        .encode(x=x, y=alt.Y("accuracy:Q", scale=y_scale), text="label", tooltip=["text"])
        for inside in (True, False)
        if (claims.right == inside).any()
    ]
    layers = [band, line, claim_marks, *claim_text]
    if len(points):
        layers.append(
            alt.Chart(points)
            .mark_point(shape="triangle-up", size=160, filled=True, stroke=outline)
            .encode(
                x=x,
                y=alt.Y("accuracy:Q", scale=y_scale),
                color=colour,
                tooltip=[
                    "title",
                    "network",
                    alt.Tooltip("images:Q", format=","),
                    alt.Tooltip("accuracy:Q", format=".2%"),
                    "kind",
                ],
            )
        )
    return alt.layer(*layers).properties(height=460)


def curves_legend() -> str:
    """The chart's key as HTML: colour per network, solid/dashed for augmentation, marks."""

    def item(colour: str, line: str, text: str, spacing: str = "-2px") -> str:
        return (
            f'<span style="color:{colour};font-weight:700;letter-spacing:{spacing}">'
            f"{line}</span>&nbsp;{text}"
        )

    parts = [item(c, "━━━", n) for n, c in common.colours().items()]
    parts += [
        item("inherit", "━━━", "with augmentation"),
        item("inherit", "━ ━ ━", "without", "0"),
        "◆ the blog's claims",
        "▲ checkpoints in the app",
    ]
    return '<div style="font-size:1.05rem">' + " &nbsp;&nbsp;·&nbsp;&nbsp; ".join(parts) + "</div>"


def reliability_chart(
    bins: list[calibration.Bin], title: str, colour: str, dark: bool = False
) -> alt.LayerChart:
    """Accuracy against confidence per bin (bar width = bin), the diagonal, and each bin's count."""
    df = pd.DataFrame(
        [
            {
                "low": b.low,
                "high": b.high,
                "mid": (b.low + b.high) / 2,
                "accuracy": b.accuracy,
                "confidence": b.confidence,
                "count": b.count,
                "label": f"{b.count:,}",
            }
            for b in bins
            if b.count
        ]
    )
    scale = alt.Scale(domain=[0, 1])
    bars = (
        alt.Chart(df)
        .mark_rect(opacity=0.75, color=colour, stroke="white")
        .encode(
            x=alt.X("low:Q", scale=scale, title="confidence (top probability)"),
            x2="high:Q",
            y=alt.Y("accuracy:Q", scale=scale, title="accuracy", axis=alt.Axis(format="%")),
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("low:Q", format=".2f"),
                alt.Tooltip("high:Q", format=".2f"),
                "count:Q",
                alt.Tooltip("confidence:Q", format=".2%"),
                alt.Tooltip("accuracy:Q", format=".2%"),
            ],
        )
    )
    # How many test answers fall in each bin, above its bar: the left bins rest on few.
    counts = (
        alt.Chart(df)
        .mark_text(dy=-7, fontSize=10, angle=0, color=ink(dark))
        .encode(x=alt.X("mid:Q", scale=scale), y=alt.Y("accuracy:Q", scale=scale), text="label:N")
    )
    diag = (
        alt.Chart(pd.DataFrame({"a": [0, 1]}))
        .mark_line(color="gray", strokeDash=[4, 4])
        .encode(x=alt.X("a:Q", scale=scale), y=alt.Y("a:Q", scale=scale))
    )
    return alt.layer(bars, diag, counts).properties(title=title, width=300, height=260)
