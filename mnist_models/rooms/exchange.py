"""A room as one file: export to a zip and import it back (round-trips).

Export format (``export_room``): one zip holding

- ``room.npz`` (numpy, no pickles): ``ids`` int64 (N,), ``images`` uint8
  (N, 28, 28), ink = 255; ``labels`` int8 (N,), -1 where none was given;
  ``probs`` float32 (N, K, 10), each network's probabilities; ``networks``
  str (K,), the network keys in the order of ``probs``' second axis;
- ``room.json``: ``{"format": "mnist-room", "version": 1, "room": {code,
  title, state, created}, "networks": [...], "drawings": [{id, created,
  participant, nickname, label, hidden, versions: {net: version id},
  strokes: [[[x, y], ...], ...]}, ...]}``, the drawings in the npz's order;
  times are Unix seconds, strokes are canvas pixels.

``import_room`` reads that zip into a store.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from mnist_models.nets import networks
from mnist_models.reading import canvas
from mnist_models.rooms import rules
from mnist_models.rooms.rules import Answer, Drawing, Room, RoomError
from mnist_models.rooms.store import Rooms

MAX_IMPORT_BYTES = 200_000_000  # uncompressed size of an imported zip's members


def export_room(store: Rooms, code: str) -> bytes:
    """One room as the zip described in the module docstring."""
    room = store.get_room(code)
    ds = store.drawings(room.code, include_hidden=True)
    nets = sorted({k for d in ds for k in d.answers}, key=_net_order)
    n = len(ds)
    images = np.zeros((n, 28, 28), np.uint8)
    labels = np.full(n, -1, np.int8)
    probs = np.full((n, len(nets), 10), np.nan, np.float32)
    for i, d in enumerate(ds):
        images[i] = d.pixels()
        if d.label is not None:
            labels[i] = d.label
        for j, net in enumerate(nets):
            if net in d.answers:
                probs[i, j] = d.answers[net].probs
    npz = io.BytesIO()
    np.savez_compressed(
        npz,
        ids=np.array([d.id for d in ds], np.int64),
        images=images,
        labels=labels,
        probs=probs,
        networks=np.array(nets, dtype=str),
    )
    meta = {
        "format": "mnist-room",
        "version": 1,
        "room": {
            "code": room.code,
            "title": room.title,
            "state": room.state,
            "created": room.created,
        },
        "networks": nets,
        "drawings": [
            {
                "id": d.id,
                "created": d.created,
                "participant": d.participant,
                "nickname": d.nickname,
                "label": d.label,
                "hidden": d.hidden,
                "versions": {k: a.version for k, a in d.answers.items()},
                "strokes": json.loads(d.strokes),
            }
            for d in ds
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("room.npz", npz.getvalue())
        z.writestr("room.json", json.dumps(meta, separators=(",", ":")))
    return out.getvalue()


def _net_order(key: str) -> tuple[int, str]:
    order = networks.keys()
    return (order.index(key) if key in order else len(order), key)


def _strokes(strokes: object) -> str:
    """An exported drawing's strokes (point lists) -> the stored text, by the canvas rules."""
    try:
        return canvas.encode_strokes(strokes)
    except canvas.DrawingRejected as exc:
        raise RoomError(f"A drawing in the export cannot be stored: {exc}") from None


def import_room(store: Rooms, data: bytes) -> Room:
    """Read an exported room into `store` under its code (a new code if that one is taken)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if not {"room.npz", "room.json"} <= names:
                raise RoomError("This zip is not a room export (it needs room.npz and room.json).")
            if sum(z.getinfo(m).file_size for m in ("room.npz", "room.json")) > MAX_IMPORT_BYTES:
                raise RoomError("This room export is too large to import.")
            meta = json.loads(z.read("room.json"))
            if not isinstance(meta, dict) or meta.get("format") != "mnist-room":
                raise RoomError("This file is not a room export (format is not mnist-room).")
            if meta.get("version") != 1:
                raise RoomError(f"Room export version {meta.get('version')!r} is not supported.")
            with np.load(io.BytesIO(z.read("room.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in ("ids", "images", "labels", "probs", "networks")}
    except RoomError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
        raise RoomError(f"This file is not a readable room export ({exc}).") from None
    try:
        info, rows = meta["room"], meta["drawings"]
        nets = [str(x) for x in arrays["networks"]]
        n = len(rows)
        if not (
            arrays["images"].shape == (n, 28, 28)
            and arrays["labels"].shape == (n,)
            and arrays["probs"].shape == (n, len(nets), 10)
        ):
            raise RoomError("The room export's arrays do not match its drawings.")
        if arrays["images"].dtype != np.uint8 or not np.isin(arrays["labels"], range(-1, 10)).all():
            raise RoomError("The room export's images or labels are malformed.")
        drawings = []
        for i, row in enumerate(rows):
            answers = rules.check_answers(
                {
                    net: Answer(
                        tuple(float(p) for p in arrays["probs"][i, j]), row["versions"][net]
                    )
                    for j, net in enumerate(nets)
                    if net in row["versions"]
                }
            )
            label = int(arrays["labels"][i])
            drawings.append(
                Drawing(
                    0,
                    "",
                    float(row["created"]),
                    rules.clean_participant(row["participant"]),
                    rules.clean_nickname(row.get("nickname")),
                    _strokes(row["strokes"]),
                    arrays["images"][i].tobytes(),
                    None if label < 0 else label,
                    answers,
                    bool(row.get("hidden")),
                )
            )
    except RoomError:
        raise
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise RoomError(f"The room export is incomplete or malformed ({exc!r}).") from None
    # Everything is checked before the room is made, so a bad file leaves no half room.
    try:
        room = store.create_room(str(info.get("title", "")), info.get("code"))
    except RoomError:
        room = store.create_room(str(info.get("title", "")))
    store.import_drawings(room.code, drawings)
    if info.get("state") in rules.STATES and info["state"] != "open":
        store.set_state(room.code, info["state"])
    return store.get_room(room.code)
