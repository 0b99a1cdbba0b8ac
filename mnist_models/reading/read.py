"""Read one drawing with the networks in use: the one path the page and `read` share.

The drawing page and ``python -m mnist_models read`` both turn their input into a
``raster.Preprocessed`` (``pen.from_strokes`` for canvas strokes, ``read_image`` +
``from_image`` for uploads) and then call :func:`read`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from mnist_models.nets import checkpoint, networks, registry
from mnist_models.reading import ood
from mnist_models.reading.predict import Prediction, predict
from mnist_models.reading.raster import Preprocessed


@dataclass
class NetworkReading:
    """What one network says about a drawing."""

    arch: str
    version: registry.Version
    prediction: Prediction
    verdict: ood.Verdict | None  # None: no not-a-digit detector for this checkpoint

    def to_json(self) -> dict[str, Any]:
        p, v = self.prediction, self.verdict
        return {
            "version": self.version.id,
            "digit": p.digit,
            "confidence": round(p.confidence, 6),
            "sure": p.sure,
            "probs": [round(q, 6) for q in p.probs],
            "not_digit": v.not_digit if v else None,
            "not_digit_score": round(v.score, 6) if v else None,
            "not_digit_threshold": round(v.threshold, 6) if v else None,
        }


@dataclass
class Reading:
    """Every network's reading of one drawing, or nothing to read (``pre`` is None)."""

    pre: Preprocessed | None
    networks: dict[str, NetworkReading]
    # Several digits side by side (reading/several.py), left to right: every network read
    # each group of strokes as this digit, sure, and none flagged it. None: one drawing.
    several: list[int] | None = None

    @property
    def nothing_to_read(self) -> bool:
        return self.pre is None

    @property
    def not_digit(self) -> bool | None:
        """The page's verdict "this doesn't look like a digit" (None: cannot tell)."""
        return ood.combined({a: r.verdict for a, r in self.networks.items()})

    def to_json(self) -> dict[str, Any]:
        if self.pre is None:
            return {"nothing_to_read": True, "message": "nothing to read"}
        return {
            "nothing_to_read": False,
            "not_digit": self.not_digit,
            "several_digits": self.several,
            "networks": {a: r.to_json() for a, r in self.networks.items()},
        }


Models = Mapping[str, tuple[nn.Module, registry.Version]]


def read(pre: Preprocessed | None, models: Models, store: ood.DetectorStore = ood.STORE) -> Reading:
    """Each network's answer, confidence, ten probabilities and not-a-digit verdict (None
    for a network without a detector)."""
    if pre is None:
        return Reading(None, {})
    x = pre.tensor()
    out = {}
    for arch, (model, version) in models.items():
        meta = version.meta
        temperature = float(meta.get("temperature", 1.0))
        det = store.get(meta.get("sha256", ""), arch)
        if det is None:
            pred, verdict = predict(model, x, temperature=temperature), None
        else:  # one pass through the network gives both
            pred, verdict = det.read(model, x, temperature)
        out[arch] = NetworkReading(arch, version, pred, verdict)
    return Reading(pre, out, _several(pre, models, store))


def _several(pre: Preprocessed, models: Models, store: ood.DetectorStore) -> list[int] | None:
    """Each piece's digit where every network reads every piece of the drawing as one
    digit, sure and unflagged; None otherwise (and for a drawing in one piece)."""
    if not pre.pieces:
        return None
    digits = []
    for piece in pre.pieces:
        said = read(piece, models, store).networks.values()
        answers = {r.prediction.digit for r in said}
        if len(answers) != 1 or not all(
            r.prediction.sure and not (r.verdict and r.verdict.not_digit) for r in said
        ):
            return None
        digits.append(answers.pop())
    return digits


def _load(version: registry.Version) -> nn.Module:
    return checkpoint.load(version.path)[0]


def load_active(
    load: Callable[[registry.Version], nn.Module] = _load,
) -> tuple[dict[str, tuple[nn.Module, registry.Version]], list[str]]:
    """(arch -> (model, version)) for the networks in use, in table order, and warnings
    about broken choices.

    A chosen version that cannot be loaded falls back to the shipped model, as the
    page does; a broken shipped model raises checkpoint.CheckpointError. A network
    that ships no weights is in use only once one of its versions is chosen.
    """
    models, warnings = {}, []
    for arch in networks.keys():
        try:
            version, warning = registry.active_version(arch)
        except registry.NoVersion as exc:
            if exc.chosen:  # a choice that broke; with none made, the network is simply unused
                warnings.append(exc.args[0])
            continue
        if warning:
            warnings.append(warning)
        try:
            model = load(version)
        except checkpoint.CheckpointError as exc:
            if version.shipped:
                raise
            shipped = registry.DEFAULT_ACTIVE[arch]
            if not shipped:
                warnings.append(f"{version.id} failed to load ({exc}); none is shipped")
                continue
            warnings.append(f"{version.id} failed to load ({exc}); using the shipped model")
            version = registry.get_version(shipped)
            model = load(version)
        models[arch] = (model, version)
    return models, warnings
