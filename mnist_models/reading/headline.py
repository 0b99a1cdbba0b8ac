"""The one line over the answers: what the networks read, and whether to trust it.

One rule for every page that shows a reading (the drawing page, the phone page): a
confident headline ("Both networks read 7.") only when no network flags the drawing as
not a digit and every network is sure of its answer (predict.NOT_SURE_BELOW); otherwise
the line says what each network reads and why it is not sure. A house or a heart that
one network flags is no longer "Both networks read 0" in green while that network's own
badge says "not a digit?". Pure: it takes what each network said and returns text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mnist_models.nets import networks
from mnist_models.reading.predict import NOT_SURE_BELOW
from mnist_models.reading.read import Reading


@dataclass(frozen=True)
class Said:
    """What one network said about a drawing."""

    name: str
    digit: int
    confidence: float
    flagged: bool | None = None  # its not-a-digit check; None: it has none

    @property
    def sure(self) -> bool:
        return self.confidence >= NOT_SURE_BELOW


@dataclass(frozen=True)
class Headline:
    """kind: "ok" (confident, or right against a label), "mixed" (not sure, or not a
    digit) or "bad" (the networks disagree, or are wrong); text: one or two sentences."""

    kind: str
    text: str

    @property
    def confident(self) -> bool:
        return self.kind == "ok"


def sure_text(confidence: float) -> str:
    """'87.3% sure'; never a rounded-up 100%."""
    return "over 99.9% sure" if confidence > 0.999 else f"{confidence:.1%} sure"


def _every(said: Sequence[Said], verb: str) -> str:
    """'Both networks read', 'All 3 networks are', 'The MLP reads' (verb: 'read', 'are')."""
    if len(said) == 1:
        return f"The {said[0].name} " + {"are": "is"}.get(verb, verb + "s")
    return ("Both networks" if len(said) == 2 else f"All {len(said)} networks") + " " + verb


def _low(text: str) -> str:
    return text[0].lower() + text[1:]


def _why(s: Said) -> str:
    """'the MLP reads 0 but flags it as not a digit', 'the ConvNet reads 9, 98.0% sure'."""
    if s.flagged:
        return f"the {s.name} reads {s.digit} but flags it as not a digit"
    if not s.sure:
        return f"the {s.name} reads {s.digit} but is only {sure_text(s.confidence)}"
    return f"the {s.name} reads {s.digit}, {sure_text(s.confidence)}"


def _against_label(said: Sequence[Said], label: int) -> Headline:
    """A test digit with its true label: each network right or wrong against it."""
    right = [s for s in said if s.digit == label]
    if len(right) == len(said):
        return Headline("ok", f"Labelled {label}: {_low(_every(said, 'read'))} it right.")
    if not right:
        reads = ", ".join(f"the {s.name} reads {s.digit}" for s in said)
        return Headline("bad", f"Labelled {label}: {_low(_every(said, 'are'))} wrong ({reads}).")
    marks = ", ".join(
        f"the {s.name} is {'right' if s.digit == label else f'wrong ({s.digit})'}" for s in said
    )
    return Headline("mixed", f"Labelled {label}: {marks}.")


def headline(
    said: Sequence[Said], label: int | None = None, several: Sequence[int] | None = None
) -> Headline:
    """The line over the answers for what each network said (in table order).

    With a known true label (a test digit), each network is marked right or wrong
    against it. Otherwise: a drawing every checked network flags does not look like a
    digit (with what each would still say: a classifier always picks one of ten); a
    reading is confident only when no network flags it and all are sure; anything else
    says what each network reads and why it is not sure. `several`: the digits of a
    drawing of several side by side (read.Reading.several), never read as one.
    """
    if not said:
        raise ValueError("a headline needs at least one network's answer")
    if label is not None:
        return _against_label(said, label)
    would = ", ".join(f"the {s.name} would say {s.digit}" for s in said)
    if several:
        return Headline(
            "mixed",
            f"This looks like {len(several)} digits side by side, {' '.join(map(str, several))}. "
            f"Draw one at a time: read as one, {would}.",
        )
    checked = [s for s in said if s.flagged is not None]
    if checked and all(s.flagged for s in checked):
        return Headline(
            "mixed",
            f"This doesn't look like a digit. A classifier always picks one of ten: {would}.",
        )
    digits = {s.digit for s in said}
    confident = all(s.sure and not s.flagged for s in said)
    if len(digits) > 1:
        if confident:
            reads = ", ".join(f"the {s.name} reads {s.digit}" for s in said)
            return Headline("bad", f"The networks disagree: {reads}.")
        return Headline("bad", "The networks disagree: " + "; ".join(map(_why, said)) + ".")
    if confident:
        return Headline("ok", f"{_every(said, 'read')} {digits.pop()}.")
    return Headline("mixed", "Not sure: " + "; ".join(map(_why, said)) + ".")


def said_of(reading: Reading) -> list[Said]:
    """What each network said in a reading, named from the table of networks."""
    return [
        Said(
            networks.get(key).name,
            r.prediction.digit,
            r.prediction.confidence,
            None if r.verdict is None else r.verdict.not_digit,
        )
        for key, r in reading.networks.items()
    ]
