"""A room as one file: export to a zip and import it back (round-trips).

Export format (``export_room``): one zip holding

- ``room.npz`` (numpy, no pickles): ``ids`` int64 (N,), ``images`` uint8
  (N, 28, 28), ink = 255; ``labels`` int8 (N,), -1 where none was given;
  ``probs`` float32 (N, K, 10), each network's probabilities; ``networks``
  str (K,), the network keys in the order of ``probs``' second axis;
- ``room.json``: ``{"format": "mnist-room", "version": 1, "room": {code,
  title, state, created}, "networks": [...], "drawings": [{id, created,
  participant, nickname, label, hidden, not_digit (true, false or null: the
  not-a-digit check's verdict), versions: {net: version id},
  strokes: [[[x, y], ...], ...]}, ...]}``, the drawings in the npz's order;
  times are Unix seconds, strokes are canvas pixels.

``import_room`` reads that zip into a store, all or nothing; ``read_export`` checks it
first (sizes before reading, by ``archive``; then every value's type and bounds).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from mnist_models.reading import canvas
from mnist_models.rooms import archive, rules
from mnist_models.rooms.rules import Answer, Drawing, Room, RoomError
from mnist_models.rooms.store import Rooms


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
                "not_digit": d.not_digit,
                "versions": {k: a.version for k, a in d.answers.items()},
                "strokes": json.loads(d.strokes),
            }
            for d in ds
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("room.npz", npz.getvalue())
        # Strict JSON: every time is finite, so allow_nan=False never refuses a real room.
        z.writestr("room.json", json.dumps(meta, separators=(",", ":"), allow_nan=False))
    return out.getvalue()


def _net_order(key: str) -> tuple[int, str]:
    # Imported here: the network table loads PyTorch, which listing, opening and
    # importing rooms from the command line do not need.
    from mnist_models.nets import networks

    order = networks.keys()
    return (order.index(key) if key in order else len(order), key)


def _strokes(strokes: object) -> str:
    """An exported drawing's strokes (point lists) -> the stored text, by the canvas rules."""
    try:
        return canvas.encode_strokes(strokes)
    except canvas.DrawingRejected as exc:
        raise RoomError(f"A drawing in the export cannot be stored: {exc}") from None


def _get(d: dict, key: str, kinds: tuple[type, ...], where: str, optional: bool = False):
    """d[key] if it is one of `kinds` (never a bool standing in for a number), else RoomError."""
    if key not in d:
        if optional:
            return None
        raise RoomError(f"The room export is incomplete: {where} has no {key!r}.")
    value = d[key]
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise RoomError(
            f"The room export is malformed: {where}'s {key!r} is {type(value).__name__}, "
            f"not {' or '.join(k.__name__ for k in kinds)}."
        )
    return value


def read_export(data: bytes) -> tuple[Room, list[Drawing]]:
    """An export's room and drawings, every value checked for its type and bounds; every
    size checked before it is read (``archive``). RoomError (one sentence) otherwise."""
    z = archive.open_zip(data, {"room.npz", "room.json"}, "the file")
    with z:
        meta = archive.loads(archive.member(z, "room.json", archive.MAX_JSON_BYTES))
        if not isinstance(meta, dict) or meta.get("format") != "mnist-room":
            raise RoomError("This file is not a room export (format is not mnist-room).")
        version = meta.get("version")
        if type(version) is not int or version != 1:
            raise RoomError(f"Room export version {str(version)[:20]!r} is not supported.")
        info = _get(meta, "room", (dict,), "the export")
        nets = _get(meta, "networks", (list,), "the export")
        rows = _get(meta, "drawings", (list,), "the export")
        if len(rows) > archive.MAX_DRAWINGS or len(nets) > archive.MAX_NETWORKS:
            raise RoomError(
                f"This room export is too large to import ({len(rows):,} drawings, "
                f"{len(nets)} networks; at most {archive.MAX_DRAWINGS:,} and "
                f"{archive.MAX_NETWORKS})."
            )
        if not all(isinstance(k, str) and 0 < len(k) <= archive.MAX_NETWORK_NAME for k in nets):
            raise RoomError("The room export is malformed: its networks are not names.")
        arrays = archive.read_npz(
            archive.member(z, "room.npz", archive.MAX_NPZ_BYTES), len(rows), len(nets)
        )
    if [str(x) for x in arrays["networks"]] != nets:
        raise RoomError("The room export's arrays do not match its networks.")
    if not np.isin(arrays["labels"], range(-1, 10)).all():
        raise RoomError("The room export's labels are malformed.")
    code = _get(info, "code", (str,), "the room", optional=True)
    room = Room(
        code or "",
        _get(info, "title", (str,), "the room"),
        rules.check_state(_get(info, "state", (str,), "the room")),
        rules.check_time(_get(info, "created", (int, float), "the room")),
    )
    return room, [_drawing(row, i, nets, arrays) for i, row in enumerate(rows)]


def _drawing(row: object, i: int, nets: list[str], arrays: dict[str, np.ndarray]) -> Drawing:
    """Drawing i of the export, from its JSON row and the npz's arrays."""
    where = f"drawing {i + 1}"
    if not isinstance(row, dict):
        raise RoomError(f"The room export is malformed: {where} is not an object.")
    versions = _get(row, "versions", (dict,), where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in versions.items()):
        raise RoomError(f"The room export is malformed: {where}'s versions are not names.")
    label = int(arrays["labels"][i])
    given = _get(row, "label", (int,), where, optional=True)
    if given is not None and given != label:
        raise RoomError(f"The room export is malformed: {where}'s label differs in its arrays.")
    answers = rules.check_answers(
        {
            net: Answer(tuple(float(p) for p in arrays["probs"][i, j]), versions[net])
            for j, net in enumerate(nets)
            if net in versions
        }
    )
    return Drawing(
        0,
        "",
        rules.check_time(_get(row, "created", (int, float), where)),
        rules.clean_participant(_get(row, "participant", (str,), where)),
        rules.clean_nickname(_get(row, "nickname", (str,), where, optional=True)),
        _strokes(_get(row, "strokes", (list,), where)),
        arrays["images"][i].tobytes(),
        None if label < 0 else label,
        answers,
        bool(_get(row, "hidden", (bool,), where, optional=True)),
        _get(row, "not_digit", (bool,), where, optional=True),
    )


def import_room(store: Rooms, data: bytes) -> Room:
    """Read an exported room into `store` under its code (a new code if that one is taken),
    with its title, state and creation time; all of it in one transaction, or nothing."""
    room, drawings = read_export(data)
    return store.import_room(room, drawings)
