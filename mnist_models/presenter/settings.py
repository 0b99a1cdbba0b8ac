"""From the server's settings to its gate: the passcode's source, local single-user mode,
the trusted proxies, and what the terminal should say.

The launcher (scripts/serve.py) and the app make the same Setup from the same settings:
the launcher to say it in the terminal as the server starts, the app to use it. A problem
in the settings never stops the server: the pages work for visitors, and the terminal and
the presenter's control say what to fix, in one sentence.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from mnist_models import addresses
from mnist_models.addresses import is_local_address, trusted_proxies
from mnist_models.presenter.gate import MIN_PASSCODE_LENGTH, Gate, generate_passcode
from mnist_models.presenter.keep import (
    PASSCODE_FILE,
    REVOKED_FILE,
    KeepError,
    Revoked,
    kept_passcode,
    server_secret,
)

PASSCODE_ENV = "MNIST_PRESENTER_PASSCODE"
LOCAL_MODE_ENV = "MNIST_LOCAL_MODE"  # "1": no passcode while the server listens on localhost only
# Set by the launcher to the fingerprint of what it printed, so the app does not repeat it.
ANNOUNCED_ENV = "MNIST_PRESENTER_ANNOUNCED"
SECRETS_HINT = f"set {PASSCODE_ENV} or presenter_passcode in .streamlit/secrets.toml"


@dataclass(frozen=True)
class Setup:
    """The gate, or the one sentence that says why there is none; and what to print."""

    gate: Gate | None
    problem: str | None = None
    messages: tuple[str, ...] = field(default=())


def read_secrets(paths: Sequence[Path | str]) -> dict:
    """The secrets in these TOML files, later ones first (as Streamlit reads them); a file
    that is missing (or a folder) is skipped. ValueError (one sentence) for a broken one."""
    found: dict = {}
    for path in map(Path, paths):
        if not path.is_file():
            continue
        try:
            found.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path} cannot be read ({str(exc)[:120]})") from None
    return found


def setup(
    secret_files: Sequence[Path | str],
    listen_address: str | None,
    env: Mapping[str, str],
    home: Path | None,
) -> Setup:
    """The gate for a server listening on `listen_address`, with its passcode from the
    secrets, else the environment, else generated and kept in `home` (None: not kept)."""
    said: list[str] = []

    def off(reason: str) -> Setup:
        sentence = f"Presenter rights are off: {reason}; fix it and restart the server."
        return Setup(None, sentence, (*said, sentence))

    try:
        found = read_secrets(secret_files)
        proxies = trusted_proxies(env)
    except ValueError as exc:
        return off(str(exc))
    wanted = bool(found.get("local_mode")) or env.get(LOCAL_MODE_ENV, "") in ("1", "true")
    local = wanted and is_local_address(listen_address) and not proxies
    if wanted and not local:
        why = (
            f"{addresses.TRUSTED_PROXIES_ENV} says a proxy stands in front of it"
            if proxies
            else "the server listens beyond this machine"
        )
        said.append(f"Local single-user mode is off: {why}, so the presenter passcode is required.")

    chosen = found.get("presenter_passcode")
    if chosen not in (None, ""):
        if isinstance(chosen, bool) or not isinstance(chosen, str | int):
            return off("presenter_passcode in .streamlit/secrets.toml must be text in quotes")
        passcode, source, where = str(chosen), "secrets", "presenter_passcode"
    elif env.get(PASSCODE_ENV):
        passcode, source, where = env[PASSCODE_ENV], "environment", PASSCODE_ENV
    else:
        passcode, source, where = "", "generated", ""
    if source != "generated" and len(passcode) < MIN_PASSCODE_LENGTH:
        return off(
            f"the presenter passcode ({where}) has {len(passcode)} characters and needs at "
            f"least {MIN_PASSCODE_LENGTH}"
        )

    secret = None
    if home is not None:
        try:
            secret = server_secret(home)
        except KeepError as exc:
            return off(str(exc))
        except OSError as exc:
            said.append(
                f"Presenter unlocks will not outlast this server: {home} cannot keep its key "
                f"({exc.strerror or exc})."
            )
    if source == "generated":
        if local:
            passcode = generate_passcode()  # never shown: this machine needs none
        else:
            try:
                passcode, kept = _generated(home if secret is not None else None)
            except KeepError as exc:
                return off(str(exc))
            said.append(
                f"Presenter passcode: {passcode}   ({kept}to choose your own, {SECRETS_HINT})"
            )
    revoked = Revoked(home / REVOKED_FILE if secret is not None and home else None)
    gate = Gate(passcode, source, local_mode=local, secret=secret, revoked=revoked, proxies=proxies)
    return Setup(gate, None, tuple(said))


def _generated(home: Path | None) -> tuple[str, str]:
    """A generated passcode and where it is kept (a note for the terminal); KeepError when
    the kept one is damaged."""
    if home is not None:
        try:
            path = home / PASSCODE_FILE
            return kept_passcode(home, generate_passcode), f"kept in {path}; "
        except OSError:
            pass  # a read-only home: a new one for this run only
    return generate_passcode(), "new at each start; "


def fingerprint(messages: Sequence[str]) -> str:
    """A short digest of what was said, to tell whether the app would repeat the launcher."""
    return hashlib.sha256("\n".join(messages).encode()).hexdigest()[:16]


def announce(
    result: Setup, env: Mapping[str, str], write: Callable[[str], None] | None = None
) -> None:
    """Print the setup's messages in the terminal, unless the launcher printed just these."""
    if not result.messages or env.get(ANNOUNCED_ENV) == fingerprint(result.messages):
        return
    for message in result.messages:
        (write or _print)(message)


def _print(message: str) -> None:
    bar = "=" * min(100, len(message))
    sys.stderr.write(f"\n{bar}\n{message}\n{bar}\n\n")
    sys.stderr.flush()
