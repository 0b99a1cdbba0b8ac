"""Titles escaped with md_escape render as their own text in a real browser: no image is
fetched, no link, no formatting, no HTML, in st.markdown, st.caption and HTML-enabled markdown."""

from __future__ import annotations

import json

import pytest
from browser_utils import ROOT, launch_chromium, require_browser, streamlit_server

from mnist_models.text import WORD_JOINER

pytestmark = pytest.mark.browser

TITLES = [
    "![x](http://example.com/image.png)",
    "[click me](http://example.com/link) and <http://example.com/auto>",
    "**bold** __bold__ *it* _it_ ~~struck~~ `code`",
    '<img src="http://example.com/html.png"> <b>html</b> <script>alert(1)</script>',
    "# heading",
    "- item",
    "1. item",
    "> quote",
    "| a | b |",
    "http://example.com/bare www.example.com/bare WWW.EXAMPLE.COM me@example.com",
    ":smile: :+1: :material/home:",
    ":red[red] :material/home: $x^2$",
    "&lt;b&gt; &amp; &#60;",
    "\\*backslashed\\* and a trailing backslash \\",
    "[ref]: http://example.com/ref",
    "ConvNet (60,000 images, augmented)",
]
FORMATTING = (
    "img, a, strong, em, del, code, pre, h1, h2, h3, h4, h5, h6, ul, ol, li, "
    "blockquote, table, script, iframe, .katex, [data-testid='stIconMaterial']"
)


def test_titles_render_as_plain_text() -> None:
    require_browser()
    env = {"MD_TITLES": json.dumps(TITLES), "PYTHONPATH": str(ROOT)}
    with streamlit_server("tests/markdown_app.py", env=env) as url, launch_chromium() as browser:
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        page.get_by_text("rendered-all").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        # The control (not escaped) shows the test can see what it looks for.
        assert page.locator("img[src*='control.png']").count() == 1
        for i, title in enumerate(TITLES):
            for kind in ("markdown", "caption", "html"):
                box = page.locator(f".st-key-{kind}-{i} [data-testid='stMarkdown']")
                shown = " ".join(box.inner_text().replace(WORD_JOINER, "").split())
                want = " ".join(title.split())
                if kind == "html":
                    want = f"Active now: {want} · 99.5% test"
                assert shown == want, (kind, title)
                assert box.locator(FORMATTING).count() == 0, (kind, title)
        assert not [u for u in requests if "example.com" in u and "control" not in u]
        page.close()
