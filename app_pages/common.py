"""Small things every page shares: the networks' names and colours, images.

A drawing page is put together from the modules next to this one::

    styles.page_style(present)                    # answer styles, phone layout (assets/)
    st.html(canvas.head_html())                   # Undo, Redo and Clear above the canvas
    result = st_canvas(width=canvas.SIZE, ...)
    canvas.fixes()                                # once, after the canvas
    uses = inuse.models_in_use()                  # two stat calls; cheap per drawing
    reading = inuse.read_drawing(pre, uses)       # answers and not-a-digit verdicts
    st.html(answers.answers_html(uses, reading))  # headline + answers side by side

The drawing page does the first three before anything imports torch (app_pages/draw.py).

The networks are those of the table (mnist_models.nets.networks): every list of networks
on a page loops over it, so a network registered there appears on every page.
"""

from __future__ import annotations

import base64
import gc
import html
import io
import logging
import os

import streamlit as st
from PIL import Image

from mnist_models import files, text
from mnist_models.nets import networks

log = logging.getLogger("mnist_app")


def for_visitors(error: object) -> str:
    """An error as a page shows it: one line without the server's folders (a file's name at
    most). The whole message, paths included, goes to the server's log."""
    log.warning("shown on a page: %s", error)
    return without_paths(error)


def without_paths(message: object) -> str:
    """for_visitors without the log line: for notes shown on every page view."""
    message = str(message)
    for folder in (files.home(), files.ROOT):  # also names with spaces in them
        message = message.replace(f"{os.path.abspath(folder)}{os.sep}", "")
    return text.without_paths(message)


def names() -> dict[str, str]:
    """Network key -> display name, in table order."""
    return {k: networks.get(k).name for k in networks.keys()}


def colours() -> dict[str, str]:
    """Display name -> colour, in table order (the shape Altair's scales want)."""
    return {networks.get(k).name: networks.get(k).colour for k in networks.keys()}


def both(count: int) -> str:
    """'both' for two networks, 'all 3' for three: 'both networks read 7'."""
    return "both" if count == 2 else f"all {count}"


def count_word(count: int) -> str:
    """'two', 'three', ... 'nine', then digits: 'the two networks in use'."""
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return words[count] if 0 <= count < len(words) else str(count)


def listed(items: list[str], last: str = "and") -> str:
    """'the MLP and the ConvNet', 'a, b or c'."""
    return items[0] if len(items) < 2 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def has_feature_maps(net: networks.Network) -> bool:
    """Whether the network has convolutional feature maps to show (saliency.feature_maps)."""
    return net.feature_maps  # the table says (networks.Network.feature_maps)


def error_colour(count: int, top: int) -> str:
    """White for no error, deepening to dark red (#8b0000) at `top`, on a square-root scale."""
    t = (count / max(top, 1)) ** 0.5 if count > 0 else 0.0
    r, g, b = (round(255 + (end - 255) * t) for end in (0x8B, 0x00, 0x00))
    return f"#{r:02x}{g:02x}{b:02x}"


def ink_for(fill: str) -> str:
    """Black or white, whichever contrasts more with this fill (never under 4.58:1)."""
    lum = sum(
        w * (((int(fill[i : i + 2], 16) / 255) + 0.055) / 1.055) ** 2.4
        for w, i in ((0.2126, 1), (0.7152, 3), (0.0722, 5))
    )
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def image_html(img: Image.Image, alt: str, width: int | None = None, caption: str = "") -> str:
    """A PIL image as an <img> with alt text (st.image gives none), sharp when enlarged."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    src = base64.b64encode(buf.getvalue()).decode()
    w = f' width="{width}"' if width else ""
    tag = (
        f'<img src="data:image/png;base64,{src}" alt="{html.escape(alt)}"{w} '
        f'style="image-rendering:pixelated;max-width:100%">'
    )
    if not caption:
        return tag
    return (
        f'<figure class="digit-figure">{tag}<figcaption>{html.escape(caption)}'
        "</figcaption></figure>"
    )


@st.cache_resource(show_spinner=False)
def freeze_gc() -> bool:
    """Move everything loaded so far (torch, the models) out of the garbage collector's sight.

    Python's full collections walk every tracked object; after the models load,
    almost all of them live for the whole process, so they are frozen once.
    """
    gc.collect()
    gc.freeze()
    return True
