"""The drawing page under AppTest, with the canvas result supplied by the test."""

from __future__ import annotations

import io
import types
from unittest import mock

import numpy as np
import pytest
from helpers import fabric, html_of, one_flag_doodle, third_network, trained_third
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnist_models import data
from mnist_models.drawings import synth

PAGE = "../app_pages/draw.py"  # AppTest resolves paths against this file


pytestmark = pytest.mark.usefixtures("app_home")  # conftest: a private app home per test


@pytest.fixture(scope="module", autouse=True)
def canvas_component_registered():
    """The canvas module can only be imported once Streamlit has registered its
    component, which a first AppTest run does; only then can the test patch it."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception


def run_page(json_data: dict | None) -> AppTest:
    fake = mock.Mock(return_value=types.SimpleNamespace(json_data=json_data))
    with mock.patch("streamlit_drawable_canvas.st_canvas", fake):
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.run()
    return at


@pytest.fixture(scope="module")
def digits():
    test = data.load_split("test")
    out = {}
    for i in range(200):
        label = int(test.labels[i])
        if label in (0, 1, 7) and label not in out:
            out[label] = synth.place_strokes(
                synth.digit_strokes(test.images[i].numpy()), 220, 50, 60
            )
    return out


def test_blank_canvas_shows_no_prediction():
    at = run_page({"objects": []})
    assert not at.exception
    assert any("Nothing to read yet" in i.value for i in at.info)
    assert "answer-mlp" not in html_of(at)


def test_no_canvas_data_yet_shows_no_prediction():
    at = run_page(None)
    assert not at.exception
    assert "answer-cnn" not in html_of(at)


DEEP = "[" * 300_000 + "]" * 300_000


def streamlits_own_parse(*args, **kwargs):
    """The canvas as Streamlit hands it to the page when the browser sent its state nested
    300,000 deep: Streamlit parses that JSON itself, before the page sees json_data."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    from streamlit.runtime.state.common import unpack_widget_state_value

    state = WidgetState(id="canvas", json_value='{"drawing": {"raw": ' + DEEP + "}}")
    return types.SimpleNamespace(json_data=unpack_widget_state_value(state)["drawing"]["raw"])


@pytest.mark.parametrize(
    "json_data",
    ["{not json", '{"objects": ' + DEEP + "}", streamlits_own_parse],
    ids=["text that is not JSON", "text nested 300,000 deep", "state nested 300,000 deep"],
)
def test_unreadable_canvas_data_gets_one_sentence_not_a_traceback(json_data):
    if callable(json_data):
        with mock.patch("streamlit_drawable_canvas.st_canvas", side_effect=json_data):
            at = AppTest.from_file(PAGE, default_timeout=60)
            at.run()
    else:
        at = run_page(json_data)
    assert not at.exception
    assert [e.value for e in at.error] == [
        "This drawing cannot be read: The drawing data from the canvas is malformed; "
        "clear the canvas and draw again."
    ]
    assert "answer-mlp" not in html_of(at)


@pytest.mark.parametrize("label", [0, 1, 7])
def test_a_drawn_digit_is_read_by_both_networks(digits, label):
    at = run_page(fabric(digits[label]))
    assert not at.exception
    html = html_of(at)
    assert f'id="answer-mlp">{label}<' in html
    assert f'id="answer-cnn">{label}<' in html
    assert 'role="status"' in html and f"Both networks read {label}." in html
    # Which checkpoint answered, and the step-by-step view, are on the page.
    assert "99.50% test · " in html and " ms</div>" in html
    assert at.expander[0].label.startswith("How the drawing")


def test_disagreement_and_not_sure_are_marked(digits):
    """One network reading 1 and the other 7, unsure: both marks appear."""
    from mnist_models.reading.predict import Prediction

    def fake_predict(model, x, temperature=1.0):
        digit = 1 if type(model).__name__ == "MLP" else 7
        probs = [0.05] * 10
        probs[digit] = 0.55
        return Prediction(probs, digit, 0.55, 0.1)

    from mnist_models.reading import ood

    real = ood.Detector.read

    def fake_read(det, model, x, temperature):  # a network with a not-a-digit detector
        return fake_predict(model, x), real(det, model, x, temperature)[1]

    # What the page calls: predict, or the detector's one pass for both answer and verdict.
    with (
        mock.patch("mnist_models.reading.read.predict", fake_predict),
        mock.patch.object(ood.Detector, "read", fake_read),
    ):
        at = run_page(fabric(digits[7]))
    assert not at.exception
    html = html_of(at)
    assert (
        "The networks disagree: the MLP reads 1 but is only 55.0% sure; "
        "the ConvNet reads 7 but is only 55.0% sure." in html
    )
    assert "verdict-bad" in html and "not sure" in html


def _upload(at: AppTest, name: str, payload: bytes, mime: str) -> AppTest:
    at.segmented_control(key="source").set_value("Upload a photo").run()
    at.file_uploader(key="upload").set_value((name, payload, mime)).run()
    return at


def test_upload_of_a_photo_is_read():
    test = data.load_split("test")
    arr = synth.canvas_image(test.images[0].numpy(), 200, 40, 40, mode="dark")  # a 7
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=85)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    _upload(at, "seven.jpg", buf.getvalue(), "image/jpeg")
    assert not at.exception
    html = html_of(at)
    assert 'id="answer-cnn">7<' in html
    # The image itself beside its 28x28 version, and the 28x28 only once.
    assert 'alt="The uploaded image"' in html and "<figcaption>Your image</figcaption>" in html
    assert html.count("What the networks see (28×28)") == 1
    mine = html.index('alt="The uploaded image"')
    assert mine < html.index("What the networks see (28×28)") < html.index('id="verdict"')


@pytest.mark.parametrize(
    "payload,message",
    [
        (b"not an image", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "Cannot use this file"),
    ],
)
def test_upload_of_a_bad_file_gives_a_message(payload, message):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    _upload(at, "bad.png", payload, "image/png")
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert not at.info  # no "Nothing to read yet" beside it
    assert "answer-mlp" not in html_of(at)


def test_upload_without_ink_gives_a_message():
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buf, format="PNG")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    _upload(at, "white.png", buf.getvalue(), "image/png")
    assert not at.exception
    # One message: not a "No ink" here and a "Nothing to read yet" beside it.
    assert [e.value for e in at.error] == [
        "No ink found in this image, so there is nothing to read: is there a digit on it?"
    ]
    assert not at.info and not at.warning
    assert 'alt="The uploaded image"' in html_of(at)  # what was uploaded is shown


def _copy_of_shipped_cnn(app_home):
    import shutil

    from mnist_models.nets import registry

    versions = app_home / "versions"
    versions.mkdir()
    for ext in (".pt", ".json"):
        shutil.copy(registry.SHIPPED_DIR / f"cnn{ext}", versions / f"copy{ext}")


def test_a_visitor_cannot_switch_the_model_in_use(app_home, presenter):
    """Without the presenter's rights the menu is read-only, and a forced change is refused."""
    from mnist_models.nets import registry

    _copy_of_shipped_cnn(app_home)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    box = at.selectbox(key="use-cnn")
    assert box.disabled
    copy_label = next(o for o in box.options if "trained/copy" in o)
    # A browser cannot change a disabled widget, but a crafted websocket message can
    # send any value: AppTest refuses set_value here, so set the value it would send.
    box._value = copy_label
    box.run()
    assert not at.exception
    assert registry.active_id("cnn") == "shipped/cnn"
    assert at.selectbox(key="use-cnn").value.endswith("[shipped/cnn]")


def test_a_read_only_app_home_gives_a_message_not_a_traceback(app_home, presenter):
    """The choice cannot be written (a read-only folder; root ignores chmod, so the write
    itself fails here): the menu says so in a sentence and nothing changes."""
    from mnist_models.nets import registry

    _copy_of_shipped_cnn(app_home)
    at = presenter(AppTest.from_file(PAGE, default_timeout=60))
    at.run()
    box = at.selectbox(key="use-cnn")
    copy_label = next(o for o in box.options if "trained/copy" in o)
    refuse = mock.Mock(side_effect=PermissionError(13, "Permission denied", "active.json"))
    with mock.patch.object(registry.files, "atomic_write", refuse):
        box.set_value(copy_label).run()
    assert refuse.called
    assert not at.exception
    assert any(
        "cannot be put in use" in e.value and "Permission denied" in e.value for e in at.error
    )
    assert registry.active_id("cnn") == "shipped/cnn"


def test_the_presenter_switches_the_model_in_use(app_home, presenter):
    """Choosing another checkpoint in the menu makes it active for everyone."""
    from mnist_models.nets import registry

    _copy_of_shipped_cnn(app_home)
    at = presenter(AppTest.from_file(PAGE, default_timeout=60))
    at.run()
    box = at.selectbox(key="use-cnn")
    assert not box.disabled
    assert box.value.startswith("ConvNet (60,000 images")
    copy_label = next(o for o in box.options if "trained/copy" in o)
    box.set_value(copy_label).run()
    assert not at.exception
    assert registry.active_id("cnn") == "trained/copy"
    # A new session (another browser) shows the new choice.
    at2 = AppTest.from_file(PAGE, default_timeout=60)
    at2.run()
    assert at2.selectbox(key="use-cnn").value == copy_label


def test_missing_shipped_weights_give_a_clear_message(monkeypatch, tmp_path):
    from mnist_models.nets import registry

    monkeypatch.setattr(registry, "SHIPPED_DIR", tmp_path / "nothing-here")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("shipped weights cannot be loaded" in e.value for e in at.error)


def _copy_version(app_home, name: str, arch: str = "cnn", **meta_changes) -> str:
    """A trained version copied from a shipped one (metadata changed as given); its id."""
    import json
    import shutil

    from mnist_models.nets import registry

    versions = app_home / "versions"
    versions.mkdir(exist_ok=True)
    shutil.copy(registry.SHIPPED_DIR / f"{arch}.pt", versions / f"{name}.pt")
    meta = json.loads((registry.SHIPPED_DIR / f"{arch}.json").read_text())
    meta.update(meta_changes)
    (versions / f"{name}.json").write_text(json.dumps(meta))
    return f"trained/{name}"


def test_an_open_page_uses_the_new_model_at_its_next_drawing(app_home, digits):
    """Another browser puts a model in use: this page's next drawing uses it and says so."""
    from mnist_models.nets import registry

    vid = _copy_version(app_home, "copy", title="Copied ConvNet")
    fake = mock.Mock(return_value=types.SimpleNamespace(json_data=fabric(digits[7])))
    with mock.patch("streamlit_drawable_canvas.st_canvas", fake):
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.run()
        assert "Copied ConvNet" not in html_of(at)
        registry.set_active("cnn", vid)  # elsewhere
        at.run()
    assert not at.exception
    assert "Copied ConvNet" in html_of(at)
    assert any(
        "models in use have changed" in i.value and "Copied ConvNet" in i.value for i in at.info
    )


def test_a_deleted_model_in_use_falls_back_to_the_shipped_one_with_a_note(app_home, digits):
    from mnist_models.nets import registry

    vid = _copy_version(app_home, "gone", title="Soon gone")
    registry.set_active("cnn", vid)
    fake = mock.Mock(return_value=types.SimpleNamespace(json_data=fabric(digits[1])))
    with mock.patch("streamlit_drawable_canvas.st_canvas", fake):
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.run()
        assert "Soon gone" in html_of(at)
        (app_home / "versions" / "gone.pt").unlink()  # by hand, not through the app
        at.run()
    assert not at.exception
    html = html_of(at)
    assert "Soon gone" not in html and 'id="answer-cnn">1<' in html
    assert any("shipped ConvNet answers instead" in w.value for w in at.warning)


def test_a_weak_model_is_marked_beside_its_answer(app_home, digits):
    from mnist_models.nets import registry

    cfg = __import__("json").loads((registry.SHIPPED_DIR / "cnn.json").read_text())
    vid = _copy_version(
        app_home,
        "weak",
        title="Tiny",
        test_accuracy=0.912,
        train_config={**cfg["train_config"], "subset": 300},
    )
    registry.set_active("cnn", vid)
    at = run_page(fabric(digits[7]))
    assert not at.exception
    assert "Weak model: trained on 300 images, 91% on test (the shipped ConvNet: 99.5%)" in html_of(
        at
    )
    assert "Weak model" not in html_of(at).split('id="answer-cnn"')[0]  # the MLP is not weak


def test_presentation_mode_keeps_only_canvas_answers_and_verdict(digits):
    fake = mock.Mock(return_value=types.SimpleNamespace(json_data=fabric(digits[0])))
    with mock.patch("streamlit_drawable_canvas.st_canvas", fake):
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.query_params["present"] = "1"
        at.run()
    assert not at.exception
    html = html_of(at)
    assert 'id="answer-mlp">0<' in html and 'id="verdict"' in html
    assert not at.caption and not at.expander and not at.selectbox
    assert [b.label for b in at.button] == ["Leave presentation"]


def test_a_drawing_that_is_not_a_digit_says_so_and_shows_both_answers():
    """An X, a zigzag or a scribble is no digit: the page says so instead of a confident
    answer, and still shows what each network would have said."""
    from mnist_models.drawings import nondigits

    shown = []
    for _, strokes in nondigits.make_set(6, seed=7, canvas=448, kinds=("cross", "zigzag")):
        at = run_page(fabric([np.asarray(s, dtype=float) for s in strokes]))
        assert not at.exception
        page = html_of(at)
        if "answer-mlp" in page:
            shown.append(page)
    assert shown
    flagged = [p for p in shown if "This doesn&#x27;t look like a digit" in p]
    assert len(flagged) >= len(shown) - 1, shown[0][:400]
    for p in flagged:
        assert "the MLP would say" in p and "the ConvNet would say" in p
        assert "not a digit?" in p
        assert 'class="badge badge-sure"' not in p  # never "confident"


def test_a_doodle_one_network_flags_gets_no_confident_headline():
    """Both networks read the same digit, sure of it, but one flags the drawing: the line
    over the answers is not a green "Both networks read 0"; it says who flags it."""
    strokes, flagger = one_flag_doodle()
    at = run_page(fabric(strokes))
    assert not at.exception
    page = html_of(at)
    assert "verdict verdict-ok" not in page and "Both networks read" not in page
    assert 'class="verdict verdict-mixed"' in page and "Not sure: " in page
    assert f"the {flagger} reads " in page and "but flags it as not a digit" in page
    assert "not a digit?" in page  # its badge agrees with the line


def test_ten_drawn_on_the_canvas_is_two_digits_not_a_confident_answer():
    """A 1 and a 0 side by side: the page says it looks like two digits, 1 0, and no
    network's badge says "confident"."""
    t = np.linspace(0, 2 * np.pi, 50)
    strokes = [
        np.stack([np.full(20, 60.0), np.linspace(80, 240, 20)], 1),
        np.stack([190 + 55 * np.cos(t), 160 + 80 * np.sin(t)], 1),
    ]
    page = html_of(run_page(fabric(strokes)))
    assert "This looks like 2 digits side by side, 1 0. Draw one at a time" in page
    assert 'class="verdict verdict-mixed"' in page
    assert "several digits?" in page and 'class="badge badge-sure"' not in page


def test_a_digit_gets_no_not_a_digit_verdict(digits):
    at = run_page(fabric(digits[7]))
    page = html_of(at)
    assert "look like a digit" not in page
    assert "not-a-digit score" in page


@pytest.fixture()
def third(app_home):
    """A third network in the table, with a trained model of it in use."""
    with third_network() as net:
        trained_third()
        yield net


def test_a_third_network_in_the_table_answers_beside_the_two(third, digits):
    """A network registered in the table is read, shown and offered like the shipped two."""
    at = run_page(fabric(digits[7]))
    assert not at.exception
    html = html_of(at)
    answers = [k for k in ("mlp", "cnn", third.key) if f'id="answer-{k}">' in html]
    assert answers == ["mlp", "cnn", third.key]
    assert f'id="answer-{third.key}">7<' in html  # a linear model on 5,000 digits reads this 7
    assert html.count('<section class="answer"') == 3
    assert "What digit is this? MLP vs ConvNet vs Linear" in html
    assert "no not-a-digit check for this version" in html  # no detector was fitted for it
    menu = at.selectbox(key=f"use-{third.key}")
    assert menu.label == "Linear" and menu.value.startswith("Linear (5,000 first images")


def test_feature_maps_are_shown_for_the_networks_the_table_says_have_them(digits):
    """The table's feature_maps field decides (the ConvNet has them, the MLP has none)."""
    from mnist_models.nets import networks

    fake = mock.Mock(return_value=types.SimpleNamespace(json_data=fabric(digits[7])))
    with mock.patch("streamlit_drawable_canvas.st_canvas", fake):
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.run()
        at.toggle(key="look-maps").set_value(True).run()
    assert not at.exception
    html = html_of(at)
    for key in networks.keys():
        net = networks.get(key)
        assert (f"The {net.name}&#x27;s 20 first-layer feature maps" in html) == net.feature_maps
    assert networks.get("cnn").feature_maps and not networks.get("mlp").feature_maps


def test_a_tall_thin_zero_is_read_and_the_steps_say_it_was_drawn_wider(digits):
    t = np.linspace(-np.pi / 2, 1.5 * np.pi, 50)
    zero = np.stack([215 + 30 * np.cos(t), 220 + 180 * np.sin(t)], 1)  # 60 px by 360 px
    html = html_of(run_page(fabric([zero])))
    assert "Both networks read 0." in html
    assert "1.5× as wide: drawn far narrower than digits are" in html
    ordinary = html_of(run_page(fabric(digits[7])))
    assert "strokes re-drawn at MNIST thickness" in ordinary
    assert "as wide: drawn far narrower" not in ordinary
