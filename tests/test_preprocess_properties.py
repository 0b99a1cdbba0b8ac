"""Property-based: whatever arrives, the answer is a result, "nothing to read" or one clear error.

The deadline bounds runaway work per example; it is generous and not a speed test.
"""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from mnist_models.reading.canvas import DrawingRejected, strokes_from_fabric
from mnist_models.reading.pen import from_strokes
from mnist_models.reading.raster import from_image
from mnist_models.reading.uploads import WORK_SIDE, ImageRejected, read_image

SETTINGS = settings(
    max_examples=150,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Anything JSON (and Python's json module, which also parses NaN and Infinity) can hold.
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-400, 800),  # plausible canvas coordinates, often
    st.integers(-(10**30), 10**30),
    st.sampled_from([10**400, -(10**400)]),  # Python's json reads these; no float holds them
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
commands = st.one_of(
    st.tuples(st.sampled_from(["M", "L"]), numbers, numbers).map(list),
    st.tuples(st.just("Q"), numbers, numbers, numbers, numbers).map(list),
    st.tuples(st.just("C"), *[numbers] * 6).map(list),
    st.lists(json_scalars, max_size=8),
    json_values,
)
canvas = st.floats(0, 560)
drawn = st.lists(
    st.one_of(  # what free drawing sends: M, then L and Q segments
        st.tuples(st.just("L"), canvas, canvas).map(list),
        st.tuples(st.just("Q"), canvas, canvas, canvas, canvas).map(list),
    ),
    min_size=1,
    max_size=60,
).map(lambda c: [["M", 100.0, 100.0]] + c)
path_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["path", "Path", "rect", None, 3])},
    optional={
        "path": st.one_of(drawn, st.lists(commands, max_size=40), json_values),
        "scaleX": json_scalars,
        "scaleY": json_scalars,
        "angle": json_scalars,
        "left": json_scalars,
        "top": json_scalars,
        "width": json_scalars,
        "height": json_scalars,
        "originX": json_values,
        "flipX": json_values,
    },
)
fabric = st.one_of(
    st.fixed_dictionaries({"objects": st.lists(st.one_of(path_objects, json_values), max_size=6)}),
    st.fixed_dictionaries(
        {
            "objects": st.lists(
                st.fixed_dictionaries({"type": st.just("path"), "path": drawn}),
                min_size=1,
                max_size=6,
            )
        }
    ),
    st.fixed_dictionaries({}, optional={"objects": json_values, "version": json_values}),
    json_values,
)


def _check_result(pre) -> None:
    event("nothing to read" if pre is None else "read")
    if pre is not None:
        assert pre.image.shape == (28, 28) and pre.image.dtype == np.float32
        assert np.isfinite(pre.image).all() and 0 <= pre.image.min() <= pre.image.max() <= 1
        if "dropped" in pre.steps:
            assert pre.steps["dropped"].shape == pre.steps["strokes"].shape


@SETTINGS
@given(fabric)
def test_any_canvas_data_gives_strokes_or_one_clear_error(payload):
    try:
        strokes = strokes_from_fabric(payload)
    except DrawingRejected:
        event("rejected")
        return
    assert isinstance(strokes, list)
    for s in strokes:
        assert s.ndim == 2 and s.shape[1] == 2 and np.isfinite(s).all()
    try:
        _check_result(from_strokes(strokes))
    except DrawingRejected:
        pass


stroke_lists = st.one_of(
    # Raw lists, as JSON would give them: NaN, infinities, huge integers included.
    st.lists(st.lists(st.tuples(numbers, numbers), max_size=60), max_size=8),
    st.lists(
        hnp.arrays(
            np.float64,
            st.tuples(st.integers(0, 60), st.just(2)),
            elements=st.floats(allow_nan=True, allow_infinity=True),
        ),
        max_size=8,
    ),
    # Plausible drawings: points anywhere on a large canvas.
    st.lists(
        st.lists(st.tuples(st.floats(0, 560), st.floats(0, 560)), max_size=80).map(
            lambda p: np.array(p, dtype=float).reshape(-1, 2)
        ),
        max_size=12,
    ),
    json_values,
)


@SETTINGS
@given(stroke_lists)
def test_any_strokes_give_an_answer_nothing_or_one_clear_error(strokes):
    try:
        _check_result(from_strokes(strokes))
    except DrawingRejected:
        event("rejected")


def _sample_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    img = np.full((60, 40, 3), 255, np.uint8)
    img[10:50, 18:24] = 0
    out = []
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP"):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=fmt)
        out.append(buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 65535, (30, 20), dtype=np.uint16)).save(buf, format="PNG")
    out.append(buf.getvalue())
    return out


SAMPLES = _sample_files()


@st.composite
def damaged_files(draw) -> bytes:
    """A real small image file with bytes flipped, cut, or inserted."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(max_size=64))
    return bytes(data)


@SETTINGS
@given(st.one_of(damaged_files(), st.binary(max_size=2048)))
def test_any_file_gives_an_image_or_one_clear_error(data):
    try:
        arr = read_image(data)
    except ImageRejected as err:
        assert str(err) and "\n" not in str(err)
        event("rejected")
        return
    event("read")
    assert arr.dtype == np.uint8 and arr.ndim in (2, 3) and max(arr.shape[:2]) <= WORK_SIDE
    pre = from_image(arr)
    if pre is not None:
        assert np.isfinite(pre.image).all()
