"""The launcher, scripts/serve.py: the presenter's passcode (or what is wrong with the
settings) is printed as the server starts; none in local single-user mode."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
serve = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(serve)


def started(env: dict[str, str]) -> str:
    """What the launcher printed until the server listened (it is stopped afterwards)."""
    from browser_utils import free_port

    proc = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--server.headless", "true"]
        + ["--server.port", str(free_port()), "--server.fileWatcherType", "none"],
        cwd=ROOT,
        env={**os.environ, "HOME": env["MNIST_APP_HOME"], **env},  # no user secrets
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not any("URL:" in line for line in said):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise AssertionError("the server stopped: " + "".join(said))
            said.append(line)
            assert time.monotonic() < deadline, "no URL printed: " + "".join(said)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    return "".join(said)


@pytest.mark.slow  # starts the server twice (about 7 s)
def test_the_passcode_is_printed_as_the_server_starts_and_kept_for_a_restart(tmp_path):
    env = {"MNIST_APP_HOME": str(tmp_path), "MNIST_PRESENTER_PASSCODE": ""}
    first = started(env)
    codes = re.findall(r"Presenter passcode: (\S+)", first)
    assert len(codes) == 1 and first.index("Presenter passcode") < first.index("URL:")
    assert (tmp_path / "presenter-passcode").read_text().strip() == codes[0]
    assert re.findall(r"Presenter passcode: (\S+)", started(env)) == codes


def test_no_passcode_is_printed_in_local_mode(tmp_path):
    said = started({"MNIST_APP_HOME": str(tmp_path), "MNIST_LOCAL_MODE": "1"})
    assert "URL:" in said and "passcode" not in said.lower()


@pytest.mark.parametrize(
    "argv, env, address",
    [
        (["--server.address", "0.0.0.0"], {}, "0.0.0.0"),
        (["--server.address=::", "--server.port", "1"], {}, "::"),
        ([], {"STREAMLIT_SERVER_ADDRESS": "10.0.0.5"}, "10.0.0.5"),
        ([], {}, "127.0.0.1"),  # the project's .streamlit/config.toml
    ],
)
def test_the_launcher_knows_where_streamlit_will_listen(argv, env, address, monkeypatch):
    monkeypatch.setenv("HOME", "/nonexistent")  # no user config in the way
    assert serve.listen_address(argv, env) == address
