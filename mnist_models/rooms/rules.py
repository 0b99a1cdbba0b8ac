"""The rules of a room: its types, limits, states and rate limit, and the checks on input.

Every store applies these (through ``store.Rooms``), whatever page or client sends and
whatever database keeps the rows.

A room has a short code (letters that cannot be mistaken for one another or
for digits), a title, a state (open, paused, closed; a closed room can be
reopened) and a creation time. A drawing records its room, the time, an
anonymous participant id, an optional nickname, the strokes (vector, JSON),
the 28x28 image (784 uint8 bytes, ink = 255), an optional label, each
network's ten probabilities and the model version it used, whether the not-a-digit
check flagged it, and a hidden flag.
The strokes are checked by the canvas rules (``reading.canvas``), the same the
drawing page applies; names by ``MAX_NICKNAME``; the rate limit is one drawing per
``MIN_INTERVAL`` seconds per participant.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from mnist_models.reading import canvas

CODE_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # no B/8, I/L/1, O/0, S/5, Z/2
# 20**6 = 64 million codes: with MAX_WRONG_CODES a minute, one address needs years to hit
# a room by guessing. Rooms made with four letters (before) keep working.
CODE_LENGTH = 6
CODE_LENGTHS = (4, CODE_LENGTH)
MAX_WRONG_CODES = 10  # unknown codes one client address may try per WRONG_CODE_WINDOW
WRONG_CODE_WINDOW = 60.0  # seconds
STATES = ("open", "paused", "closed")
MAX_TITLE = 80
MAX_NICKNAME = 24  # characters
MAX_PARTICIPANT = 64  # characters of an anonymous participant id
MIN_INTERVAL = 1.0  # seconds between two drawings of one participant
ADDRESS_INTERVAL_ENV = "MNIST_ROOM_ADDRESS_INTERVAL"  # seconds between drawings per address
NEW_PER_MINUTE_ENV = "MNIST_ROOM_NEW_PER_MINUTE"  # new participants per address a minute
NEW_WINDOW = 60.0  # seconds over which new participants per address are counted
IMAGE_BYTES = 28 * 28
# How often the pages look at a room. The goals: a drawing on every wall within 2 s of its
# Send, of its hiding or of its showing again; every phone told of a pause or a close
# within 3 s, with no tap (a wall reads every WALL_REFRESH_S, a phone every
# PHONE_FOLLOW_S a room state at most ROOM_TTL_S old).
WALL_REFRESH_S = 1.0  # a wall and the presenter's panel read new drawings this often
PHONE_FOLLOW_S = 2.0  # a phone looks at its room's state this often
ROOM_TTL_S = 0.5  # a server reads a room's state for all its phones at most this often


class RoomError(ValueError):
    """Anything a room refuses; the message is one sentence for people."""


class RoomNotFound(RoomError):
    """A malformed or unknown room code."""


class RoomNotOpen(RoomError):
    """The room is paused or closed."""


class RateLimited(RoomError):
    """The participant sent again within MIN_INTERVAL seconds."""


class TooManyTries(RoomError):
    """This client address tried too many unknown room codes."""


class TooManyNew(RoomError):
    """This client address made too many new participants in a minute."""


@dataclass(frozen=True)
class AddressLimits:
    """What one client address may do in a room, whatever sessions or ids it uses."""

    interval: float = MIN_INTERVAL  # seconds between two of its drawings; 0: no limit
    new_per_minute: int = 20  # new participants it may make; 0: no limit


def address_limits(env: dict[str, str] | Any) -> AddressLimits:
    """The per-address limits, $MNIST_ROOM_ADDRESS_INTERVAL and $MNIST_ROOM_NEW_PER_MINUTE
    overriding the defaults (a class reaching a distant server through one address needs
    them higher); RoomError, one sentence, for a value that is not a number."""
    base = AddressLimits()
    try:
        interval = float(env.get(ADDRESS_INTERVAL_ENV) or base.interval)
        new = int(env.get(NEW_PER_MINUTE_ENV) or base.new_per_minute)
    except ValueError:
        raise RoomError(
            f"{ADDRESS_INTERVAL_ENV} is a number of seconds and {NEW_PER_MINUTE_ENV} a whole "
            "number."
        ) from None
    if not (0 <= interval <= 3600 and 0 <= new <= 1_000_000):
        raise RoomError(
            f"{ADDRESS_INTERVAL_ENV} is 0 to 3600 seconds and {NEW_PER_MINUTE_ENV} 0 or more."
        )
    return AddressLimits(interval, new)


class StoreUnavailable(RoomError):
    """The database cannot be used (locked, full, damaged, unreachable).

    str() is one sentence for visitors, naming no path or server; ``detail`` says where
    and why, for the server's log and the terminal.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail

    def full(self) -> str:
        """The sentence and the detail, for the terminal of whoever runs the store."""
        return f"{self} ({self.detail})" if self.detail else str(self)


@dataclass(frozen=True)
class Room:
    code: str
    title: str
    state: str  # open, paused or closed
    created: float  # Unix seconds
    revision: int = 0  # bumped when a drawing is hidden or shown, so walls re-read


@dataclass(frozen=True)
class Answer:
    """One network's reading of a drawing, as stored."""

    probs: tuple[float, ...]  # ten probabilities, digits 0..9
    version: str  # the model version id that gave them

    @cached_property  # once per answer: the wall's scoreboard asks for it at every look
    def digit(self) -> int:
        return max(range(10), key=self.probs.__getitem__)

    @property
    def confidence(self) -> float:
        return self.probs[self.digit]


@dataclass(frozen=True)
class Drawing:
    id: int
    room: str
    created: float
    participant: str
    nickname: str | None
    strokes: str  # JSON: [[[x, y], ...], ...] in canvas pixels
    image: bytes  # 784 bytes, 28x28 uint8, ink = 255
    label: int | None
    answers: dict[str, Answer] = field(default_factory=dict)
    hidden: bool = False
    not_digit: bool | None = None  # the not-a-digit check's verdict; None: not checked

    def pixels(self) -> np.ndarray:
        """The 28x28 image as uint8 (ink = 255)."""
        return np.frombuffer(self.image, dtype=np.uint8).reshape(28, 28)

    def right(self, net: str) -> bool | None:
        """Whether network `net` read the label; None when there is no label."""
        if self.label is None or net not in self.answers:
            return None
        return self.answers[net].digit == self.label


# ---------------------------------------------------------------- codes, names, titles


def clean_code(code: Any) -> str:
    """A room code as typed (any case, spaces, a dash) -> its canonical form; RoomNotFound,
    saying what is wrong with it, if malformed."""
    typed = str(code or "")
    text = "".join(typed.replace("-", " ").split()).upper()
    shown = text_of(typed)
    unused = sorted({c for c in text if c not in CODE_LETTERS})
    if unused and all(c.isascii() and c.isalpha() for c in unused):
        letters = ", ".join(unused)
        raise RoomNotFound(
            f"“{shown}” is not a room code: {letters} {'is' if len(unused) == 1 else 'are'} "
            f"never used in codes (they use only {' '.join(CODE_LETTERS)})."
        )
    if unused:
        raise RoomNotFound(
            f"“{shown}” is not a room code: codes are letters only, as shown on the wall."
        )
    if len(text) not in CODE_LENGTHS:
        raise RoomNotFound(
            f"“{shown}” is not a room code: codes are {CODE_LENGTH} letters, as shown on the wall."
        )
    return text


def text_of(typed: str, limit: int = 20) -> str:
    """What a visitor typed, cut short and printable, to quote it back to them."""
    return _printable(typed)[:limit]


def shown_code(code: str) -> str:
    """A code as the wall shows it: six letters in two groups of three (easier to read out)."""
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


def new_code() -> str:
    """A random room code (the store checks that it is free)."""
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))


def _printable(text: Any) -> str:
    """Printable characters only, runs of white space as one space."""
    return " ".join("".join(c for c in str(text or "") if c.isprintable()).split())


def clean_title(title: Any) -> str:
    """A room title: printable text, at most MAX_TITLE characters (may be empty)."""
    return _printable(title)[:MAX_TITLE]


def clean_nickname(nickname: Any) -> str | None:
    """Printable text, at most MAX_NICKNAME characters, or None; never refuses a drawing."""
    if nickname is None:
        return None
    return _printable(nickname)[:MAX_NICKNAME] or None


def clean_participant(pid: Any) -> str:
    """An anonymous participant id: 1-64 printable characters, else RoomError."""
    text = str(pid or "")
    if not 1 <= len(text) <= MAX_PARTICIPANT or not text.isprintable():
        raise RoomError("A participant id is 1-64 printable characters.")
    return text


MAX_CLIENT = 100  # characters of a client address (an IPv6 address is at most 45)


def clean_client(client: Any) -> str:
    """A client address as the limits count it: text, at most MAX_CLIENT characters."""
    if not isinstance(client, str) or not client:
        raise RoomError("A client address is text.")
    return client[:MAX_CLIENT]


# ---------------------------------------------------------------- room states


def check_state(state: Any) -> str:
    """One of STATES, else RoomError."""
    if state not in STATES:
        raise RoomError(f"A room is open, paused or closed, not {state!r}.")
    return state


def not_found(code: str) -> RoomNotFound:
    """The error for a well-formed code that names no room."""
    return RoomNotFound(f"There is no room {code}: check the code on the wall.")


def too_many_tries() -> TooManyTries:
    """The error for a client address that tried MAX_WRONG_CODES unknown codes in a row."""
    return TooManyTries(
        "Too many wrong room codes from this network address: wait a minute, then type "
        "the code shown on the wall."
    )


def check_open(room: Room | None, code: str) -> Room:
    """The room if it takes drawings now; RoomNotFound or RoomNotOpen with the reason."""
    if room is None:
        raise not_found(code)
    if room.state == "paused":
        raise RoomNotOpen("The presenter has paused this room: wait a moment and send again.")
    if room.state == "closed":
        raise RoomNotOpen("This room is closed: thank you for taking part!")
    return room


# ---------------------------------------------------------------- the rate limit


def turn_cutoff(now: float) -> float:
    """A participant may send at `now` only if their last drawing is at or before this time."""
    return now - MIN_INTERVAL


def rate_limited() -> RateLimited:
    """The error for a drawing sent too soon after the last one."""
    return RateLimited("One drawing a second, please: send again in a moment.")


def address_limited() -> RateLimited:
    """The error for a drawing sent too soon after the last one from the same address."""
    return RateLimited(
        "Drawings from this network address are coming too fast: send again in a moment."
    )


def too_many_new() -> TooManyNew:
    """The error for an address that made too many new participants in a minute."""
    return TooManyNew(
        "Too many new people joined from this network address in the last minute: wait a "
        "minute, then reload this page."
    )


# ---------------------------------------------------------------- a drawing's parts


MAX_TIME = 1e11  # Unix seconds: the year 5138; anything later is not a time


def check_time(t: Any) -> float:
    """A finite time in Unix seconds (0 to MAX_TIME) as a float, else RoomError."""
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise RoomError(f"A time is a number of seconds, not {type(t).__name__}.")
    if not 0 <= t <= MAX_TIME:  # also NaN and infinities
        raise RoomError(f"A time is a finite number of seconds, not {t!r}.")
    return float(t)


def stored_strokes(text: object) -> str:
    """A drawing's strokes as stored (compact JSON text), checked by the one set of canvas
    rules (reading.canvas: strokes, points, coordinates, size); returns it or RoomError."""
    if not isinstance(text, str):
        raise RoomError("The drawing's strokes are not text.")
    try:
        canvas.decode_strokes(text)
    except canvas.DrawingRejected as exc:
        raise RoomError(str(exc)) from None
    return text


def image_bytes(image: np.ndarray) -> bytes:
    """A 28x28 image in [0, 1] (float) or uint8 -> the 784 stored bytes."""
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise RoomError(f"A drawing's image must be 28x28, not {a.shape}.")
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float32)) * 255 + 0.5, 0, 255).astype(np.uint8)
    return a.tobytes()


def check_flag(value: Any, what: str) -> bool | None:
    """None, True or False (numpy's too) as a plain bool, else RoomError."""
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise RoomError(f"{what} is true or false, not {type(value).__name__}.")
    return bool(value)


def check_image(image: Any) -> bytes:
    """The 784 stored bytes of a drawing's image, else RoomError."""
    if not isinstance(image, (bytes, bytearray)) or len(image) != IMAGE_BYTES:
        raise RoomError("A drawing's image must be 784 bytes (28x28).")
    return bytes(image)


def check_label(label: Any) -> int | None:
    """None, or a whole digit 0-9 as a plain int (numpy integers too), else RoomError."""
    if label is None:
        return None
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label <= 9:
        raise RoomError(f"A label is a digit from 0 to 9, not {label!r}.")
    return int(label)


def check_answers(answers: dict[str, Any]) -> dict[str, Answer]:
    """Each network's ten probabilities and version, as they will be stored; else RoomError."""
    if not isinstance(answers, dict) or not answers:
        raise RoomError("A drawing needs each network's answer.")
    out = {}
    for net, a in answers.items():
        try:
            if not isinstance(a, Answer):
                a = Answer(tuple(a["probs"]), a["version"])
            probs = tuple(float(p) for p in a.probs)
        except (KeyError, TypeError, ValueError):
            raise RoomError(f"The {net} answer must be ten probabilities and a version.") from None
        if len(probs) != 10 or not all(math.isfinite(p) and 0 <= p <= 1 for p in probs):
            raise RoomError(f"The {net} answer must be ten probabilities.")
        if not isinstance(a.version, str) or not 0 < len(a.version) <= 200:
            raise RoomError(f"The {net} answer must name its model version.")
        # Stored to 6 decimals (plenty for display and scores); the returned Drawing
        # carries the same values as the store, so what a phone sees is what is kept.
        out[str(net)] = Answer(tuple(round(p, 6) for p in probs), a.version)
    return out


def answers_json(answers: dict[str, Answer]) -> str:
    """Checked answers -> the stored JSON text."""
    return json.dumps(
        {k: {"probs": list(a.probs), "version": a.version} for k, a in answers.items()},
        separators=(",", ":"),
    )


def answers_from_json(text: str) -> dict[str, Answer]:
    """The stored JSON text -> answers."""
    return {k: Answer(tuple(v["probs"]), v["version"]) for k, v in json.loads(text).items()}
