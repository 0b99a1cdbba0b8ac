"""Screenshots of the drawing page for the README: projector, laptop, tablet and phone (upright
and sideways), light and dark.

    python docs/screenshots.py                     # all of them
    python docs/screenshots.py draw-768x1024.png   # only these

Starts the app, draws a real MNIST test digit with the mouse (a finger on the
phone) and saves palette PNGs into docs/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_utils import draw, launch_chromium, streamlit_server, touch_draw

from mnist_models import data
from mnist_models.drawings import synth

# (file name, width, height, theme, presentation mode)
SHOTS = [
    ("draw-1920x1080.png", 1920, 1080, "light", False),
    ("draw-1920x1080-present.png", 1920, 1080, "light", True),
    ("draw-1280x800-light.png", 1280, 800, "light", False),
    ("draw-1280x800-dark.png", 1280, 800, "dark", False),
    ("draw-390x844-light.png", 390, 844, "light", False),
    ("draw-390x844-dark.png", 390, 844, "dark", False),
    ("draw-844x390.png", 844, 390, "light", False),  # a phone held sideways
    ("draw-768x1024.png", 768, 1024, "light", False),  # a tablet held upright
]
TOUCH = {"draw-390x844-light.png", "draw-390x844-dark.png", "draw-844x390.png", "draw-768x1024.png"}


def main() -> None:
    test = data.load_split("test")
    four = synth.digit_strokes(test.images[4].numpy())  # a 4
    with (
        tempfile.TemporaryDirectory() as home,
        streamlit_server(env={"MNIST_APP_HOME": home}) as url,
        launch_chromium() as browser,
    ):
        for name, w, h, scheme, present in SHOTS:
            if sys.argv[1:] and name not in sys.argv[1:]:
                continue
            phone = name in TOUCH
            ctx = browser.new_context(
                viewport={"width": w, "height": h},
                color_scheme=scheme,
                has_touch=phone,
                is_mobile=phone,
            )
            page = ctx.new_page()
            page.goto(url + ("/?present=1" if present else ""))
            canvas = page.locator("canvas").first
            canvas.wait_for(timeout=120_000)
            page.wait_for_timeout(800)
            box = canvas.bounding_box()
            strokes = synth.place_strokes(
                four, box["width"] * 0.62, box["width"] * 0.18, box["width"] * 0.16
            )
            if phone:
                touch_draw(ctx, page, box, strokes)
            else:
                draw(page, box, strokes)
            page.locator("#answer-cnn").wait_for(timeout=60_000)
            page.wait_for_timeout(600)
            page.locator('[data-testid="stStatusWidget"]').wait_for(
                state="detached", timeout=60_000
            )
            page.wait_for_timeout(400)
            out = ROOT / "docs" / name
            page.screenshot(path=str(out))
            # 256 colours: a fraction of the size, no visible loss for flat UI colours.
            Image.open(out).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(
                out, optimize=True
            )
            print(f"{out.relative_to(ROOT)}: {out.stat().st_size / 1024:.0f} KB")
            ctx.close()


if __name__ == "__main__":
    main()
