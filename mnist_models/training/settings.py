"""The bounds of every training setting, in one table.

Each entry is a setting's kind, bounds, default and help. The training loop
(``TrainConfig.resolved``), the command line's argument types (``cli/args.py``)
and the Retrain page's checks are all made from it, so a value one of them takes
the others take too, and every refusal reads the same: "must be <rule>, not <value>".
The checkpoint schema (``nets/metadata.py``) reads what these bounds allow; a test
keeps each of its ranges at least as wide as the table's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mnist_models import data as mdata
from mnist_models.text import plain

EPOCHS_MAX = 1_000  # one cap for the page, the command line and the loop
SEED_MAX = 2**32 - 1  # numpy's and torch's generators both take any seed up to here


@dataclass(frozen=True)
class Setting:
    """One training setting: whole numbers from lo to hi, or numbers in an interval."""

    name: str  # the TrainConfig field
    label: str  # how a message from the training loop names it
    whole: bool  # a whole number (else any finite number)
    lo: float
    hi: float | None  # None: no upper bound (a number must still be finite)
    default: Any
    help: str
    lo_open: bool = False  # lo itself is not allowed ("above 0")
    hi_open: bool = False  # hi itself is not allowed ("[0, 1)")

    @property
    def rule(self) -> str:
        """What a value must be, e.g. 'a whole number from 1 to 60,000'."""
        if self.whole:
            if self.hi is None:
                return f"a whole number of at least {self.lo:,}"
            return f"a whole number from {self.lo:,} to {self.hi:,}"
        if self.hi is None:
            return f"a finite number {'above' if self.lo_open else 'of at least'} {self.lo:g}"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"a number in {left}{self.lo:g}, {self.hi:g}{right}"

    def allows(self, value: Any) -> bool:
        """Whether value is of the right kind (bool is not a number) and within bounds."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.whole and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = self.lo < value if self.lo_open else self.lo <= value
        below = self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)
        return above and below

    def problem(self, value: Any, shown: str | None = None) -> str | None:
        """'must be <rule>, not <value>' if value is not allowed, else None.

        shown: the value as the user wrote it (the command line echoes its text).
        """
        if self.allows(value):
            return None
        if shown is None:
            whole = isinstance(value, int) and not isinstance(value, bool)
            shown = plain(f"{value:,}" if whole else repr(value), 40)
        return f"must be {self.rule}, not {shown}"

    def check(self, value: Any) -> Any:
        """value itself if allowed; ValueError naming the setting otherwise."""
        why = self.problem(value)
        if why:
            raise ValueError(f"{self.label} {why}")
        return value

    def number(self, text: str) -> int | float:
        """A number of this setting's kind from text ('60,000' and '60_000' allowed), not yet
        checked against the bounds; ValueError if it is not one."""
        if self.whole:
            try:
                return int(text.replace(",", "").replace("_", ""))
            except ValueError:
                raise ValueError(f"not a whole number: {text!r}") from None
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"not a number: {text!r}") from None

    def parse(self, text: str) -> int | float:
        """A value from a command line, within bounds; ValueError saying why not."""
        value = self.number(text)
        why = self.problem(value, shown=text)
        if why:
            raise ValueError(why)
        return value

    def form_problem(self, value: float | None, label: str) -> str | None:
        """A form's sentence, e.g. 'Epochs must be a whole number from 1 to 1,000, not 0.'
        (value: what a number field holds, None when empty)."""
        if value is None:
            return f"{label} must be {self.rule}."
        if isinstance(value, float) and self.whole and math.isfinite(value) and value.is_integer():
            value = int(value)  # a number field may hold 600.0
        why = self.problem(value)
        return f"{label} {why}." if why else None


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "subset",
            "subset",
            True,
            1,
            mdata.SIZES["train"],
            60_000,
            f"training images (1 to {mdata.SIZES['train']:,})",
        ),
        Setting(
            "epochs",
            "epochs",
            True,
            1,
            EPOCHS_MAX,
            10,
            f"passes over the training images (1 to {EPOCHS_MAX:,})",
        ),
        Setting(
            "batch_size",
            "batch size",
            True,
            1,
            mdata.SIZES["train"],
            None,
            "images per step (default: the network's)",
        ),
        Setting(
            "lr",
            "the learning rate",
            False,
            0.0,
            None,
            None,
            "peak learning rate (default: the network's)",
            lo_open=True,
        ),
        Setting("weight_decay", "weight decay", False, 0.0, 1e3, 0.0, "the optimizer's"),
        Setting(
            "label_smoothing",
            "label smoothing",
            False,
            0.0,
            1.0,
            None,
            "in [0, 1); default: the network's (0.1 for the ConvNet under 20,000 images, else 0)",
            hi_open=True,
        ),
        Setting("seed", "the seed", True, 0, SEED_MAX, 0, f"0 to {SEED_MAX:,}"),
        Setting(
            "eval_every",
            "eval_every",
            True,
            0,
            EPOCHS_MAX,
            1,
            "test accuracy every k epochs (0: only at the end)",
        ),
        # The command line also caps it at the cores here; more has crashed torch.
        Setting("threads", "threads", True, 1, 4096, None, "1 to the number of cores"),
        # Fine-tuning on extra images (pipeline.fit): each appears this many times an epoch.
        Setting(
            "oversample",
            "oversample",
            True,
            1,
            100,
            1,
            "times each extra training image appears in an epoch",
        ),
    )
}


def get(name: str) -> Setting:
    """A setting by name (KeyError for one not in the table)."""
    return SETTINGS[name]


def default(name: str) -> Any:
    """A setting's default."""
    return SETTINGS[name].default
