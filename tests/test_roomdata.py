"""A room's labelled drawings as a training set: the split by person, what is left out, the
bad inputs, and the same dataset from an exported room file."""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest

from mnist_models.rooms import exchange, rules
from mnist_models.rooms.store import open_store
from mnist_models.training import roomdata
from mnist_models.training.roomdata import RoomDataError, Row

STROKES = "[[[10,10],[60,80]]]"
ANSWERS = {"mlp": rules.Answer(tuple([0.1] * 10), "shipped/mlp")}


def room_with(tmp_path, test_split, people: int, per_person: int, **extra):
    """A real room in a fresh store: `people` people draw `per_person` MNIST test digits
    each, labelled with their true digit; extra drawings as (participant, label, image,
    hidden) in extra["more"]."""
    store = open_store(tmp_path / "rooms.sqlite3")
    code = store.create_room("Test room").code
    drawings, i = [], 0
    for p in range(people):
        for _ in range(per_person):
            img = test_split.images[i].numpy().tobytes()
            label = int(test_split.labels[i])
            drawings.append(
                rules.Drawing(0, code, time.time(), f"p{p}", None, STROKES, img, label, ANSWERS)
            )
            i += 1
    for who, label, img, hidden in extra.get("more", []):
        drawings.append(
            rules.Drawing(0, code, time.time(), who, None, STROKES, img, label, ANSWERS, hidden)
        )
    store.import_drawings(code, drawings)
    return store, code


def test_split_by_person_keeps_everyone_on_one_side(tmp_path, test_split) -> None:
    hidden = test_split.images[500].numpy().tobytes()
    store, code = room_with(
        tmp_path,
        test_split,
        people=10,
        per_person=12,
        more=[("p0", 3, hidden, True), ("p1", None, hidden, False), ("p2", None, hidden, False)],
    )
    ds = store.drawings(code, include_hidden=True)
    data = roomdata.from_drawings(ds, f"room {code}")
    by_id = {d.id: d for d in ds}
    train_people = {by_id[i].participant for i in data.train_ids}
    held_people = {by_id[i].participant for i in data.held_ids}
    assert data.by_person and not train_people & held_people
    assert data.people == (len(train_people), len(held_people)) == (7, 3)
    assert len(data.train_ids) + len(data.held_ids) == 120
    assert data.left_out == {"hidden": 1, "unlabelled": 2} and data.drawings == 123
    # Each side holds the images and the labels the people chose, in the same order.
    for ids, images, labels in (
        (data.train_ids, data.train_images, data.train_labels),
        (data.held_ids, data.held_images, data.held_labels),
    ):
        for j, i in enumerate(ids):
            assert images[j].numpy().tobytes() == by_id[i].image
            assert int(labels[j]) == by_id[i].label
    assert sum(data.counts("train")) == 84 and sum(data.counts("held")) == 36
    assert "split by person: 7 people teach, 3 others are held out" in data.describe()[0]
    assert "1 hidden, 2 unlabelled" in data.describe()[1]
    # The same room, the same split (seeded); another seed holds out other people.
    again = roomdata.from_drawings(ds, f"room {code}")
    assert again.held_ids == data.held_ids
    other = roomdata.from_drawings(ds, f"room {code}", seed=1)
    assert other.held_ids != data.held_ids
    store.close()


def test_fewer_than_six_people_split_by_drawing_and_say_so(tmp_path, test_split) -> None:
    store, code = room_with(tmp_path, test_split, people=3, per_person=40)
    data = roomdata.from_drawings(store.drawings(code), f"room {code}")
    assert not data.by_person
    assert "split by drawing: only 3 people (fewer than 6)" in data.describe()[0]
    train, held = np.array(data.counts("train")), np.array(data.counts("held"))
    total = train + held
    # About 30% of each digit's drawings held out; a digit drawn once stays to learn from.
    assert all(h == int(t * 0.3 + 0.5) if t > 1 else h == 0 for h, t in zip(held, total))
    assert set(data.train_ids).isdisjoint(data.held_ids)
    store.close()


def test_a_digit_with_few_drawings_is_warned_about(test_split) -> None:
    rows = [
        Row(i, f"p{i % 8}", int(test_split.labels[i]), test_split.images[i].numpy().tobytes())
        for i in range(60)
    ]
    data = roomdata.from_drawings(rows, "room TEST")
    few = [d for d, n in enumerate(data.counts("train")) if n < roomdata.FEW]
    assert few
    assert data.warnings == [
        "Few drawings to learn from for "
        + ", ".join(f"{d} ({data.counts('train')[d]})" for d in few)
        + ": fewer than 5 teach the networks little about a digit."
    ]


def test_bad_labels_and_unreadable_images_are_skipped_and_counted(test_split) -> None:
    good = [
        Row(i, f"p{i}", int(test_split.labels[i]), test_split.images[i].numpy().tobytes())
        for i in range(20)
    ]
    img = test_split.images[0].numpy().tobytes()
    bad = [
        Row(100, "x", 12, img),
        Row(101, "x", -3, img),
        Row(102, "x", True, img),  # a bool is not a digit
        Row(103, "x", 3, img[:700]),  # not 28x28
        Row(104, "x", 3, bytes(784)),  # no ink at all
    ]
    data = roomdata.from_drawings(good + bad, "room TEST")
    assert data.skipped == {"with a label outside 0-9": 3, "with an unreadable image": 2}
    assert len(data.train_ids) + len(data.held_ids) == 20
    assert "3 with a label outside 0-9, 2 with an unreadable image" in data.describe()[1]


def test_rooms_that_cannot_be_taught_get_one_sentence(test_split) -> None:
    img = test_split.images[0].numpy().tobytes()
    with pytest.raises(RoomDataError, match="has no labelled drawings to learn from"):
        roomdata.from_drawings([Row(1, "a", None, img), Row(2, "b", 3, img, hidden=True)], "room X")
    with pytest.raises(RoomDataError, match="no labelled drawings"):
        roomdata.from_drawings([], "room X")
    sevens = [Row(i, f"p{i}", 7, img) for i in range(30)]
    with pytest.raises(RoomDataError, match="Every labelled drawing of room X is a 7"):
        roomdata.from_drawings(sevens, "room X")
    with pytest.raises(RoomDataError, match="too few labelled drawings"):
        roomdata.from_drawings([Row(1, "a", 1, img), Row(2, "a", 2, img)], "room X")


def test_an_exported_room_gives_the_same_dataset(tmp_path, test_split) -> None:
    store, code = room_with(
        tmp_path, test_split, people=8, per_person=10, more=[("p0", None, bytes(784), False)]
    )
    here = roomdata.from_drawings(store.drawings(code, include_hidden=True), f"room {code}")
    data = exchange.export_room(store, code)
    there = roomdata.from_export(data, "room.zip")
    assert there.source == f"room {code} (room.zip)"
    assert (there.train_ids, there.held_ids) == (here.train_ids, here.held_ids)
    assert there.train_images.equal(here.train_images)
    assert there.held_labels.equal(here.held_labels)
    assert there.left_out == here.left_out == {"hidden": 0, "unlabelled": 1}
    store.close()


def _rezip(data: bytes, labels=None, meta_edit=None) -> bytes:
    """An export with its labels or its JSON changed."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        meta = json.loads(z.read("room.json"))
        with np.load(io.BytesIO(z.read("room.npz"))) as npz:
            arrays = {k: npz[k] for k in npz.files}
    if labels is not None:
        arrays["labels"] = labels
    if meta_edit:
        meta_edit(meta)
    npz = io.BytesIO()
    np.savez(npz, **arrays)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("room.npz", npz.getvalue())
        z.writestr("room.json", json.dumps(meta))
    return out.getvalue()


def test_bad_exported_files(tmp_path, test_split) -> None:
    store, code = room_with(tmp_path, test_split, people=2, per_person=10)
    data = exchange.export_room(store, code)
    store.close()
    with pytest.raises(RoomDataError, match="x.zip is not a readable room export"):
        roomdata.from_export(b"not a zip at all", "x.zip")
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("other.txt", "hello")
    with pytest.raises(RoomDataError, match="needs room.npz and room.json"):
        roomdata.from_export(empty.getvalue(), "x.zip")
    with pytest.raises(RoomDataError, match="version 9 is not supported"):
        roomdata.from_export(_rezip(data, meta_edit=lambda m: m.update(version=9)), "x.zip")
    with pytest.raises(RoomDataError, match="arrays do not match"):
        roomdata.from_export(_rezip(data, labels=np.zeros(3, np.int8)), "x.zip")
    # Labels outside 0-9 (an edited file) are counted, not the whole file refused.
    labels = np.array([12] * 5 + [-1] * 2 + [int(y) for y in test_split.labels[7:20]], np.int8)
    odd = roomdata.from_export(_rezip(data, labels=labels), "x.zip")
    assert odd.skipped == {"with a label outside 0-9": 5}
    assert odd.left_out["unlabelled"] == 2
