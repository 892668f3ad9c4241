"""Woken by PostgreSQL: the library announces every insert of events with ``NOTIFY`` on the
events table's channel; listening to it, a process learns of other processes' writes at once
instead of at its next poll (the API processes' writes, for the worker's views; the worker's and
the other API processes', for a process's live streams)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


class PgWake:
    """A thread with its own connection, ``LISTEN``-ing on ``channel``; each notification calls
    ``wake``. A lost connection is said (``error``, the log), retried with back-off, and on
    reconnecting ``wake`` is called once for whatever was written meanwhile."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], channel: str,
                 wake: Callable[[], None], *, first_retry: float = 0.5, max_retry: float = 10.0) -> None:
        self.connect, self.channel, self.wake = connect, channel, wake
        self.first_retry, self.max_retry = first_retry, max_retry
        self.error: BaseException | None = None
        self.failures = 0
        self.listening = False
        self.woken = 0
        self.last_ok: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pg-wake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def health(self) -> dict[str, Any]:
        return {"running": self._thread is not None and self._thread.is_alive(),
                "error": repr(self.error) if self.error else None, "failed_rounds": self.failures,
                "last_ok": self.last_ok.isoformat() if self.last_ok else None}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.connect() as conn:
                    conn.autocommit = True
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    if self.error is not None:
                        log.warning("listening for writes again after %d failures", self.failures)
                    self.error, self.failures, self.listening = None, 0, True
                    self.last_ok = datetime.now(UTC)
                    self.wake()  # whatever was written while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.woken += 1
                            self.wake()
                        self.last_ok = datetime.now(UTC)
            except Exception as e:  # noqa: BLE001 - said, shown in /health, retried
                self.listening = False
                self.error, self.failures = e, self.failures + 1
                delay = min(self.max_retry, self.first_retry * 2 ** (self.failures - 1))
                log.error("not woken by the database's writes (%d in a row): %r; the views poll "
                          "meanwhile; listening again in %.1fs", self.failures, e, delay)
                self._stop.wait(delay)
        self.listening = False


def pg_wake(datastore: Any, recorder: Any, wake: Callable[[], None]) -> PgWake:
    """A listener on the application's PostgreSQL store, with a connection of its own (not one
    of the pool's, which serve requests)."""
    kwargs = {"connect_timeout": 5, **{k: v for k, v in datastore.pool.kwargs.items()
                                       if k != "row_factory"}}

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(**kwargs)
    return PgWake(connect, recorder.channel_name, wake)
