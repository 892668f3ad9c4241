"""Event-store wiring: a crash-safe SQLite factory, the durability check, and outage-aware PostgreSQL."""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import InfrastructureFactory, InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteFactory,
)


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    """Every connection commits with ``synchronous=FULL``: an acknowledged write survives power loss."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL;")
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory with WAL (its default) and full fsync on every commit."""

    def __init__(self, env: object) -> None:
        super().__init__(env)  # type: ignore[arg-type]
        old = self.datastore.pool
        old.close()
        self.datastore.pool = DurableSQLiteConnectionPool(
            db_name=old.db_name, lock_timeout=old.lock_timeout
        )


@dataclass(frozen=True)
class Durability:
    journal_mode: str
    synchronous: str

    @property
    def crash_safe(self) -> bool:
        return self.journal_mode == "wal" and self.synchronous == "full"


_SYNCHRONOUS = {0: "off", 1: "normal", 2: "full", 3: "extra"}


def sqlite_durability(factory: InfrastructureFactory) -> Durability | None:
    """The journal and sync modes a SQLite store really runs with (``None`` for other stores)."""
    datastore = getattr(factory, "datastore", None)
    if not isinstance(datastore, SQLiteDatastore):
        return None
    with datastore.get_connection(commit=False) as connection:
        raw = connection._sqlite_conn
        journal = str(raw.execute("PRAGMA journal_mode;").fetchone()[0]).lower()
        sync = int(raw.execute("PRAGMA synchronous;").fetchone()[0])
    return Durability(journal_mode=journal, synchronous=_SYNCHRONOUS.get(sync, str(sync)))


# -- PostgreSQL: an outage is answered in seconds and healed without a restart ------------------

STORE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
    sqlite3.OperationalError)


def is_store_unavailable(error: BaseException) -> bool:
    """The store cannot be reached (or is locked) right now: worth retrying later, not a bug."""
    return isinstance(error, STORE_ERRORS)


def _pool_gave_up(error: BaseException) -> bool:
    """The pool waited its whole timeout for a connection: another attempt would wait again."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, psycopg_pool.PoolTimeout):
            return True
        cause = cause.__cause__
    return False


def _bounded(method: Any, attempts: int = 3) -> Any:
    """The library's method without its ten-times retry: a broken pooled connection is retried
    at once (after dropping every broken idle one), a pool that found no connection is not."""
    inner = method.__wrapped__

    @functools.wraps(inner)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return inner(self, *args, **kwargs)
            except (InterfaceError, OperationalError) as e:
                if attempt == attempts or _pool_gave_up(e):
                    raise
                self.datastore.pool.check()  # drop the idle connections the outage broke
        raise AssertionError("unreachable")

    return call


class OutageAwarePostgresRecorder(PostgresApplicationRecorder):
    """Fails within the pool's timeout while the database is away, instead of retrying for ages."""

    insert_events = _bounded(PostgresApplicationRecorder.insert_events)
    select_events = _bounded(PostgresApplicationRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class OutageAwarePostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory with timeouts fit for an outage.

    A request waits at most ``POSTGRES_POOL_WAIT`` seconds for a connection, a new connection
    at most ``POSTGRES_CONNECT_TIMEOUT`` seconds, and the pool stops retrying a lost connection
    after ``POSTGRES_RECONNECT_TIMEOUT`` seconds (the next request grows it again at once), so
    the service answers 503 quickly while the database is away and heals when it is back.
    """

    application_recorder_class = OutageAwarePostgresRecorder

    def __init__(self, env: object) -> None:
        super().__init__(env)  # type: ignore[arg-type]
        pool = self.datastore.pool  # not opened yet: it opens on first use
        pool.timeout = float(self.env.get("POSTGRES_POOL_WAIT") or pool.timeout)
        pool.reconnect_timeout = float(self.env.get("POSTGRES_RECONNECT_TIMEOUT") or pool.reconnect_timeout)
        assert isinstance(pool.kwargs, dict)
        pool.kwargs["connect_timeout"] = int(self.env.get("POSTGRES_CONNECT_TIMEOUT") or 5)
        # A database that vanishes without closing its connections (a cable, a firewall) is
        # noticed by TCP in seconds, not after the kernel's quarter of an hour.
        pool.kwargs.update(keepalives=1, keepalives_idle=10, keepalives_interval=3,
                           keepalives_count=3, tcp_user_timeout=10000)
