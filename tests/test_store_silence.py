"""A database connection gives up on silence, not on a long answer that keeps arriving."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Generator

import pytest
from psycopg._enums import Ready, Wait

from service.adapters.store import NoAnswer, _wait_until_silent


def _reader(sock: socket.socket, want: int) -> Generator[Wait, Ready | int, bytes]:
    """Reads ``want`` bytes the way psycopg's generators do: yield R, read what is there."""
    got = b""
    while len(got) < want:
        ready = yield Wait.R
        if ready & Ready.R:
            got += sock.recv(want - len(got))
    return got


def _trickle(sock: socket.socket, chunks: int, gap: float) -> threading.Thread:
    def send() -> None:
        for _ in range(chunks):
            time.sleep(gap)
            sock.send(b"x")
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_an_answer_that_keeps_arriving_is_read_to_the_end_however_long_it_takes() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        _trickle(theirs, chunks=8, gap=0.15)  # 1.2 s in all, never silent for 0.5 s
        started = time.monotonic()
        assert _wait_until_silent(_reader(ours, 8), ours.fileno(), silence=0.5) == b"x" * 8
        assert time.monotonic() - started > 1.0


def test_a_database_that_falls_silent_is_given_up_on_after_the_silence() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        _trickle(theirs, chunks=2, gap=0.1)  # two bytes, then nothing
        started = time.monotonic()
        with pytest.raises(NoAnswer, match="did not answer within 0.5s"):
            _wait_until_silent(_reader(ours, 8), ours.fileno(), silence=0.5)
        assert 0.6 < time.monotonic() - started < 3
