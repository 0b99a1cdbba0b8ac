"""A room database that stops answering (its machine or the network gone): the store gives
its one sentence within seconds instead of waiting for TCP's minutes.

The database here is a loopback listener that takes connections and never says a word,
as a hung server or a half-dead network does. (The database stopped and started again
under load is tests/test_deploy.py's outage test.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mnist_models.rooms import sql
from mnist_models.rooms.rules import StoreUnavailable
from mnist_models.rooms.store import open_store


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed: the test is over
                return

    threading.Thread(target=hold, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for c in held:
            c.close()


def refusal_after(url: str, bound: float = 30.0) -> tuple[float, str]:
    """(seconds until open_store(url) gave up, its sentence with the detail the server's log
    gets); fails if it was still waiting after `bound` seconds."""
    out: dict = {}

    def attempt() -> None:
        t = time.monotonic()
        try:
            open_store(url).close()
            out["message"] = "opened"
        except StoreUnavailable as exc:
            out["message"] = exc.full()  # the sentence, and (for the log) why
        out["seconds"] = time.monotonic() - t

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(bound)
    assert not worker.is_alive(), f"the store still waited for the database after {bound:.0f} s"
    return out["seconds"], out["message"]


@pytest.mark.slow  # waits out the 5 s connect timeout
def test_a_database_that_does_not_answer_is_refused_in_seconds(silent_port: int) -> None:
    seconds, message = refusal_after(
        f"postgresql+psycopg://ann:secret@127.0.0.1:{silent_port}/rooms"
    )
    assert sql.PG_CONNECT["connect_timeout"] - 0.5 <= seconds < 20
    assert "cannot be opened" in message and "timeout" in message
    assert "\n" not in message and "secret" not in message


@pytest.mark.slow  # waits out a 2 s connect timeout
def test_the_urls_own_connect_timeout_wins(silent_port: int) -> None:
    seconds, message = refusal_after(
        f"postgresql+psycopg://ann@127.0.0.1:{silent_port}/rooms?connect_timeout=2"
    )
    assert 1.5 <= seconds < sql.PG_CONNECT["connect_timeout"] - 0.5
    assert "cannot be opened" in message
