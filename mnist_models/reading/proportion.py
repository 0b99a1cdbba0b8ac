"""How much wider to read a drawing far narrower than digits are.

MNIST fits each digit's longer side to 20 px with a pen of 2-3 px, so a 0, 4 or 8 drawn
tall and thin (a fifth as wide as tall) becomes a bar of ink there, a 1 to both
networks. So a drawing narrower than NARROWEST of its height is read with its width
stretched towards that, at most STRETCH times; a near-vertical line (a 1: narrower
than LINE) is left as it is, and from LINE to twice it the stretch grows from none.
(Traced MNIST test digits: 95 in 100 of each digit but 1 are at least 0.38-0.58 times
as wide as tall; half the 1s are under 0.14. The figures are in docs/preprocessing.md,
"Tall, thin drawings".)

A 1 with a flag is as narrow as such a digit, but its width is all in the flag: under
its top FLAG of the height it is one upright stroke. Stretched, its flag became a 7's
bar (both networks read a 7). So the stretch also needs the drawing to be wide below
its top: none where what lies under the top FLAG spans at most STEM_ALONE of the
drawing's width, all of it from STEM_SPREAD up (a 0, 4 or 8 spans nearly all of it).

``pen.from_strokes`` stretches the strokes before its pen re-draws them;
``raster.from_image`` stretches the cropped ink of an image before scaling it.
"""

from __future__ import annotations

LINE, NARROWEST, STRETCH = 0.1, 0.4, 1.8
FLAG, STEM_ALONE, STEM_SPREAD = 0.25, 0.3, 0.6


def stretch(width: float, height: float, spread_below: float | None = None) -> float:
    """How much wider to read a drawing this wide and tall (the rule above); 1 for most.

    spread_below: the share of the width that the drawing spans under its top FLAG of
    the height (None: all of it). Only needed where the answer without it is over 1.
    """
    if width <= 0 or height <= 0 or width >= NARROWEST * height:
        return 1.0
    aspect = width / height
    most = 1 + (STRETCH - 1) * min(1.0, max(0.0, aspect / LINE - 1))  # none up to LINE
    factor = min(most, NARROWEST / aspect)
    if spread_below is not None and factor > 1.0:
        wide = (spread_below - STEM_ALONE) / (STEM_SPREAD - STEM_ALONE)
        factor = 1 + (factor - 1) * min(1.0, max(0.0, wide))
    return factor
