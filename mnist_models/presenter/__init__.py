"""Presenter rights: who may change what everyone using the server shares.

Everyone may draw, upload, explore and read the experiments. Changing shared state
(starting, cancelling or dismissing a training run, putting a model in use, deleting a
version, running a room) needs the presenter, who unlocks with a passcode. The passcode
comes from the app's secrets or an environment variable; if neither is set, one is
generated once, kept under the app home and printed in the terminal as the server starts.

- gate.py: the passcode check, wrong tries slowed down per client, signed tokens;
- keep.py: the files kept under the app home (server secret, generated passcode, locks);
- settings.py: from the settings to a gate, and what the terminal says.
"""

from mnist_models.presenter.gate import (
    ALPHABET,
    MAX_ATTEMPT_LENGTH,
    MAX_NAME_LENGTH,
    MIN_PASSCODE_LENGTH,
    TOKEN_TTL_S,
    Gate,
    NotPresenter,
    Token,
    TooManyTries,
    WrongPasscode,
    generate_passcode,
)
from mnist_models.presenter.keep import KeepError, Revoked
from mnist_models.presenter.settings import (
    ANNOUNCED_ENV,
    LOCAL_MODE_ENV,
    PASSCODE_ENV,
    Setup,
    announce,
    fingerprint,
    read_secrets,
    setup,
)

__all__ = [
    "ALPHABET",
    "ANNOUNCED_ENV",
    "LOCAL_MODE_ENV",
    "MAX_ATTEMPT_LENGTH",
    "MAX_NAME_LENGTH",
    "MIN_PASSCODE_LENGTH",
    "PASSCODE_ENV",
    "TOKEN_TTL_S",
    "Gate",
    "KeepError",
    "NotPresenter",
    "Revoked",
    "Setup",
    "Token",
    "TooManyTries",
    "WrongPasscode",
    "announce",
    "fingerprint",
    "generate_passcode",
    "read_secrets",
    "setup",
]
