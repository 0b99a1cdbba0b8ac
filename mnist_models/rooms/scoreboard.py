"""The room's scoreboard: each network's accuracy on the labelled digits, per digit, its most
confused pairs (saying how many more tie with the last one shown), and the drawings only one
network (or none) read right.

A drawing the not-a-digit check flagged (a star, a house) is counted apart: it is shown on
the wall, but it is in none of the scores, tables or highlights, only in ``not_digits``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mnist_models.rooms.rules import Drawing


@dataclass
class NetScore:
    labelled: int = 0
    right: int = 0
    per_digit: dict[int, tuple[int, int]] = field(default_factory=dict)  # digit -> (right, n)
    confused: list[tuple[tuple[int, int], int]] = field(default_factory=list)  # ((meant, read), n)
    confused_tied: int = 0  # more pairs with as many mistakes as the last one in `confused`

    @property
    def accuracy(self) -> float | None:
        return self.right / self.labelled if self.labelled else None


@dataclass
class Scoreboard:
    drawings: int  # every drawing shown, digits or not
    labelled: int  # labelled digits: what the scores count
    nets: dict[str, NetScore]
    only_one_right: list[Drawing]  # newest first
    both_wrong: list[Drawing]  # newest first; "all wrong" with more than two networks
    not_digits: int = 0  # drawings the not-a-digit check flagged, counted apart


def _top(confused: Counter, top: int) -> tuple[list[tuple[tuple[int, int], int]], int]:
    """The `top` most frequent pairs (ties in digit order) and how many more tie with the
    last of them."""
    ranked = sorted(confused.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ranked[:top]
    if not shown:
        return [], 0
    last = shown[-1][1]
    return shown, sum(1 for _, n in ranked[top:] if n == last)


def scoreboard(drawings: Iterable[Drawing], nets: Sequence[str], top: int = 3) -> Scoreboard:
    """Each network's accuracy on the labelled digits, per digit, its most confused pairs."""
    shown = list(drawings)
    digits = [d for d in shown if not d.not_digit]
    labelled = [d for d in digits if d.label is not None]
    scores = {}
    for net in nets:
        s = NetScore()
        per: dict[int, list[int]] = {}
        confused: Counter = Counter()
        for d in labelled:
            if net not in d.answers:
                continue
            ok = d.right(net)
            s.labelled += 1
            s.right += bool(ok)
            cell = per.setdefault(d.label, [0, 0])
            cell[0] += bool(ok)
            cell[1] += 1
            if not ok:
                confused[(d.label, d.answers[net].digit)] += 1
        s.per_digit = {k: (v[0], v[1]) for k, v in sorted(per.items())}
        s.confused, s.confused_tied = _top(confused, top)
        scores[net] = s
    rights = [(d, [d.right(n) for n in nets]) for d in labelled]
    only_one = [d for d, r in rights if sum(bool(x) for x in r) == 1 and len(nets) > 1]
    all_wrong = [d for d, r in rights if not any(r)]
    return Scoreboard(
        len(shown),
        len(labelled),
        scores,
        only_one[::-1],
        all_wrong[::-1],
        len(shown) - len(digits),
    )
