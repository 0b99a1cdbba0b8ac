"""How an answer is shown: each network's digit, confidence and bars, and the headline over them.

Plain HTML, styled by assets/answers.css: instant to build and to draw, sharp on a projector.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from app_pages.inuse import InUse
from mnist_models.reading import headline, ood
from mnist_models.reading import read as mread
from mnist_models.reading.headline import sure_text
from mnist_models.reading.predict import Prediction


def bars_html(probs: Sequence[float], top: int, colour: str, name: str) -> str:
    """Ten probability bars, the answer's in the network's colour, with a text alternative."""
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


def answer_html(
    use: InUse,
    pred: Prediction,
    detail: bool = True,
    verdict: ood.Verdict | None = None,
    several: bool = False,
) -> str:
    """One network's answer: name, big digit, confidence, badge, bars; `detail` adds the model
    and the not-a-digit score. `several`: the drawing is several digits side by side."""
    name, colour = use.net.name, use.net.colour
    if several:
        badge = '<span class="badge badge-unsure">several digits?</span>'
    elif verdict is not None and verdict.not_digit:
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


def verdict_html(reading: mread.Reading, label: int | None = None) -> str:
    """The headline (reading.headline: one rule for every page) as one line over the
    answers, announced to screen readers (role=status)."""
    line = headline.headline(headline.said_of(reading), label, reading.several)
    return (
        f'<div class="verdict verdict-{line.kind}" role="status" aria-live="polite" '
        f'id="verdict">{html.escape(line.text)}</div>'
    )


def answers_html(
    uses: dict[str, InUse], reading: mread.Reading, label: int | None = None, detail: bool = True
) -> str:
    """The verdict and every network's answer side by side, on any screen width."""
    cards = "".join(
        answer_html(uses[k], r.prediction, detail, r.verdict, reading.several is not None)
        for k, r in reading.networks.items()
    )
    return f'{verdict_html(reading, label)}<div class="answers">{cards}</div>'
