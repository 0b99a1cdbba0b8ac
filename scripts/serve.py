"""Start the app: `.venv/bin/python scripts/serve.py [streamlit options]`.

It runs `streamlit run app.py` with the same options, from the project folder, after two
things that a Streamlit script cannot do before the server is up:

- it makes the presenter's gate from the settings and prints, as the server starts, the
  passcode (not in local single-user mode) or the one sentence that says what is wrong
  with the settings; the app then does not print it again at its first page view;
- it tells uvicorn (the web server under Streamlit) to believe no X-Forwarded-For header
  by itself (FORWARDED_ALLOW_IPS=""), so the app sees each client's real address and
  believes only the proxies in MNIST_TRUSTED_PROXIES (docs/network.md).

`streamlit run app.py` still works; it prints the passcode at the first page view.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_models import files, presenter  # noqa: E402  (needs the project on the path)

UVICORN_TRUST_ENV = "FORWARDED_ALLOW_IPS"


def option(argv: Sequence[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in argv (the last one), or None."""
    found = None
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            found = arg.split("=", 1)[1]
    return found


def listen_address(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The address Streamlit will listen on: its option, else its environment variable,
    else its config files (the project's over the user's), else None (every interface)."""
    given = option(argv, "server.address") or env.get("STREAMLIT_SERVER_ADDRESS")
    if given:
        return given
    address = None
    for path in (Path.home() / ".streamlit" / "config.toml", ROOT / ".streamlit" / "config.toml"):
        try:
            address = tomllib.loads(path.read_text()).get("server", {}).get("address", address)
        except (OSError, tomllib.TOMLDecodeError):
            continue  # Streamlit itself reports a broken config file
    return address


def main(argv: Sequence[str]) -> int:
    """Check and print the presenter's settings, then become the Streamlit server."""
    os.chdir(ROOT)  # Streamlit reads .streamlit/ (config, secrets) from where it starts
    result = presenter.setup(
        secret_files=[
            Path.home() / ".streamlit" / "secrets.toml",
            ROOT / ".streamlit" / "secrets.toml",
        ],
        listen_address=listen_address(argv, os.environ),
        env=os.environ,
        home=files.home(),
    )
    presenter.announce(result, {})
    env = {
        **os.environ,
        UVICORN_TRUST_ENV: "",
        presenter.ANNOUNCED_ENV: presenter.fingerprint(result.messages),
    }
    command = [sys.executable, "-m", "streamlit", "run", "app.py", *argv]
    os.execve(sys.executable, command, env)
    return 1  # not reached: execve replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
