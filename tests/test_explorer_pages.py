"""Test-set explorer, Experiments page and the drawing page's insight parts, under AppTest."""

from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

EXPLORER = "../app_pages/explorer.py"  # AppTest resolves paths against this file
EXPERIMENTS = "../app_pages/experiments.py"
DRAW = "../app_pages/draw.py"
APP = "../app.py"
TIMEOUT = 300  # the first run reads all 10,000 test digits through both networks


pytestmark = pytest.mark.usefixtures("app_home")  # conftest: a private app home per test


def text_of(at: AppTest) -> str:
    return "\n".join(
        [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    )


def test_explorer_shows_matrices_and_filters_misclassified_digits():
    at = AppTest.from_file(EXPLORER, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert [s.value for s in at.subheader] == [
        "Confusion matrices",
        "Misclassified digits",
        "Where the networks disagree",
    ]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    at.selectbox(key="wrong-by").set_value("the ConvNet")
    at.selectbox(key="true-digit").set_value("4")
    at.run()
    assert not at.exception
    # Each gallery page is one HTML grid of tiles, and one choice of the digit to compare.
    grids = [h.proto.body for h in at.get("html") if 'class="explorer-tiles"' in h.proto.body]
    assert len(grids) == 2 and 'id="tile-wrong-' in grids[0]
    cards = grids[0].split('<div class="tile" ')[1:]
    assert cards, "the ConvNet gets some 4s wrong"
    assert all('alt="Test digit #' in c and "labelled 4" in c for c in cards)
    wrong = 'ConvNet <span class="tile-bad">✗<span class="tile-word"> wrong</span>'
    assert all(wrong in c for c in cards)
    assert not at.button  # no button a tile
    # The misclassified gallery's choices are the numbers of its tiles, in their order.
    from mnist_models import data

    labels = data.load_split("test").labels
    choice = at.button_group(key="wrong-compare")
    shown = [int(o.lstrip("#")) for o in choice.options]
    assert shown == [int(c.split('id="tile-wrong-')[1].split('"')[0]) for c in cards]
    assert all(int(labels[i]) == 4 for i in shown)
    assert choice.value is None
    assert any("test digits." in c.value for c in at.caption)


def test_explorer_pages_through_a_gallery_and_its_choices_follow():
    at = AppTest.from_file(EXPLORER, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    first = at.button_group(key="wrong-compare").options
    assert len(first) == 30  # a full page: both networks get more than 30 digits wrong
    at.number_input(key="wrong-page").set_value(2).run()
    assert not at.exception
    second = at.button_group(key="wrong-compare").options
    assert second and not set(first) & set(second)
    grid = next(h.proto.body for h in at.get("html") if 'id="tile-wrong-' in h.proto.body)
    assert all(f'id="tile-wrong-{o.lstrip("#")}"' in grid for o in second)


def test_confusion_colours_start_at_white_and_numbers_stay_legible():
    from app_pages import common

    assert common.error_colour(0, 10) == "#ffffff"  # no error: white, not tinted
    assert common.error_colour(10, 10) == "#8b0000"
    shades = [common.error_colour(n, 10) for n in range(11)]
    assert shades == sorted(shades, reverse=True)  # darker with every error
    assert common.ink_for("#ffffff") == "#000000" and common.ink_for("#8b0000") == "#ffffff"
    for fill in shades:  # the number on every shade reads at 4.5:1 or better
        ink = common.ink_for(fill)
        lum = [
            sum(
                w * ((int(c[i : i + 2], 16) / 255 + 0.055) / 1.055) ** 2.4
                for w, i in ((0.2126, 1), (0.7152, 3), (0.0722, 5))
            )
            for c in (fill, ink)
        ]
        assert (max(lum) + 0.05) / (min(lum) + 0.05) >= 4.5, (fill, ink)


def test_compare_sends_the_digit_to_the_drawing_page():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/explorer.py")
    at.run()
    assert not at.exception
    choice = at.button_group(key="disagree-compare")
    index = int(choice.options[-1].lstrip("#"))
    choice.set_value(index).run()
    assert not at.exception
    assert at.session_state["explore_digit"] == index
    assert f"test digit **#{index}**" in text_of(at)
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert 'id="answer-cnn"' in html
    # The verdict states the true label and marks each network against it.
    from mnist_models import data

    assert f"Labelled {int(data.load_split('test').labels[index])}: " in html


def test_drawing_page_reads_a_test_digit_and_shows_the_maps():
    at = AppTest.from_file(DRAW, default_timeout=TIMEOUT)
    at.session_state["explore_digit"] = 0  # a 7
    at.run()
    assert not at.exception
    assert "labelled **7**" in text_of(at)
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert 'id="answer-cnn">7<' in html and 'id="answer-mlp">7<' in html
    assert "Labelled 7: both networks read it right." in html
    at.toggle(key="look-maps").set_value(True)
    at.run()
    assert not at.exception
    shown = "\n".join(h.proto.body for h in at.get("html"))
    assert shown.count('alt="Saliency map of the') == 2
    assert '20 first-layer feature maps for this drawing"' in shown
    at.button(key="explore-back").click()
    at.run()
    assert not at.exception
    assert "explore_digit" not in at.session_state
    assert "Nothing to read yet" in text_of(at)


def test_experiments_page_with_a_trained_version(app_home, root):
    versions = app_home / "versions"
    versions.mkdir()
    shutil.copy(root / "weights" / "cnn.pt", versions / "mine.pt")
    meta = json.loads((root / "weights" / "cnn.json").read_text())
    meta.update(
        title="My little ConvNet",
        test_accuracy=0.9321,
        train_config={**meta["train_config"], "subset": 2_000},
    )
    (versions / "mine.json").write_text(json.dumps(meta))
    at = AppTest.from_file(EXPERIMENTS, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Experiments"]
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 2  # the reliability diagrams, plus the curves when the data exists
    if (root / "data" / "curves.json").is_file():
        assert len(charts) == 3
        assert b"My little ConvNet" in charts[0].proto.SerializeToString()
        assert any("blog's two claims" in c.value for c in at.caption)
    tables = at.table  # static tables, shown in full
    assert len(tables) == 2
    figures = tables[0].value
    assert set(figures.index) == {"MLP", "ConvNet"}
    assert {"ECE (15 bins)", "NLL", "Brier"} <= set(figures.columns)
    assert len(tables[1].value) >= 2 * 5  # every threshold of both networks
    text = " ".join(m.value for m in at.markdown)
    assert "**ECE** (expected calibration error)" in text and "**Brier**" in text
    # Each reliability bin's count is drawn over its bar.
    assert b'"label"' in charts[-1].proto.SerializeToString()


@pytest.mark.parametrize("page", [EXPLORER, EXPERIMENTS])
def test_a_corrupt_mnist_file_gives_a_message_not_a_traceback(page, tmp_path, monkeypatch):
    """A damaged test-images file: the page says what to restore, and nothing crashes."""
    import streamlit as st

    from mnist_models import data as mdata

    broken = tmp_path / "mnist"
    shutil.copytree(mdata.DEFAULT_DATA_DIR, broken)
    images = next(broken.glob("t10k-images*"))
    images.write_bytes(images.read_bytes()[:5000])
    monkeypatch.setenv(mdata.DATA_DIR_ENV, str(broken))
    st.cache_data.clear()  # the pages cache the test set per process
    st.cache_resource.clear()
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    at.run()
    st.cache_data.clear()
    st.cache_resource.clear()
    assert not at.exception
    assert any("cannot be read" in e.value and "data/mnist" in e.value for e in at.error)
