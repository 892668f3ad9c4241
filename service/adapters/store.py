"""Event-store wiring: a crash-safe SQLite factory, the durability check, and outage-aware PostgreSQL."""

from __future__ import annotations

import functools
import selectors
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    InterfaceError,
    OperationalError,
    ProcessRecorder,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import register_topic
from psycopg import sql
from psycopg.abc import PQGen
from psycopg.rows import DictRow


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


class Breaker:
    """After a store failure every call fails at once with the same error, except one probe a
    ``probe_interval``: the first probe that succeeds closes it again. So while the database is
    away no request queues for the pool, however many arrive, and recovery needs no restart."""

    def __init__(self, probe_interval: float = 1.0) -> None:
        self.probe_interval = probe_interval
        self._lock = threading.Lock()
        self._error: str | None = None
        self._next_probe = 0.0

    @property
    def error(self) -> str | None:
        """Why the store was last found away, while it is (``None`` when it is not known away)."""
        return self._error

    def admit(self) -> None:
        """Let the call through, or raise at once while open and it is not a probe's turn."""
        with self._lock:
            if self._error is None:
                return
            now = time.monotonic()
            if now >= self._next_probe:
                self._next_probe = now + self.probe_interval
                return
            error = self._error
        raise OperationalError(f"store unavailable (failing fast until a probe succeeds): {error}")

    def succeeded(self) -> None:
        with self._lock:
            self._error = None

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._next_probe = time.monotonic() + self.probe_interval
            self._error = str(error) or type(error).__name__


def _bounded(method: Any, attempts: int = 3) -> Any:
    """The library's method without its ten-times retry, behind the store's breaker: a broken
    pooled connection is retried at once (after dropping every broken idle one), a pool that
    found no connection or a database that did not answer is not."""
    inner = method.__wrapped__

    @functools.wraps(inner)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        breaker: Breaker | None = getattr(self.datastore, "breaker", None)
        if breaker is not None:
            breaker.admit()
        for attempt in range(1, attempts + 1):
            try:
                result = inner(self, *args, **kwargs)
            except (InterfaceError, OperationalError) as e:
                if attempt == attempts or _pool_gave_up(e) or _no_answer(e):
                    if breaker is not None:
                        breaker.failed(e)
                    raise
                self.datastore.pool.check()  # drop the idle connections the outage broke
            else:
                if breaker is not None:
                    breaker.succeeded()
                return result
        raise AssertionError("unreachable")

    return call


class NoAnswer(psycopg.OperationalError):
    """The database did not answer within the query timeout: the connection is closed."""


def _no_answer(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, NoAnswer):
            return True
        cause = cause.__cause__
    return False


class BoundedConnection(psycopg.Connection[DictRow]):
    """A connection that gives up on a database that does not answer (a silent network drops
    packets and TCP itself sees nothing, as on a host whose kernel still acknowledges them).

    The bound is on silence, not on the whole exchange: a busy process that takes long to
    read a large answer it is being sent is not a database that went away."""

    answer_timeout: float = 6.0

    def wait(self, gen: PQGen[Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is not None:  # psycopg's own bounded waits (a cancel) keep their bound
            return super().wait(gen, interval, timeout)
        try:
            return _wait_until_silent(gen, self.pgconn.socket, self.answer_timeout)
        except NoAnswer:
            self.pgconn.finish()  # in an unknown state: the pool discards it
            raise


def _wait_until_silent(gen: PQGen[Any], fileno: int, silence: float) -> Any:
    """Drive a psycopg generator, raising NoAnswer once the socket stays unready for ``silence``
    seconds (the library's own wait bounds the total time instead)."""
    try:
        state = next(gen)
        with selectors.DefaultSelector() as selector:
            selector.register(fileno, state)
            while True:
                ready = selector.select(timeout=silence)
                if not ready:
                    raise NoAnswer(f"the database did not answer within {silence:g}s")
                new_state = gen.send(ready[0][1])
                if new_state != state:
                    selector.modify(fileno, state := new_state)
    except StopIteration as done:
        return done.value


class OutageAwarePostgresRecorder(PostgresApplicationRecorder):
    """Fails within the pool's timeout while the database is away, instead of retrying for ages.

    In a schema of its own (``POSTGRES_SCHEMA``) its ``NOTIFY`` channel is named after the schema
    too: channels are the database's, not the schema's, and another district's writes in the same
    database would otherwise wake this one's listeners."""

    @property
    def channel_name(self) -> str:
        return self._channel_name

    @channel_name.setter
    def channel_name(self, name: str) -> None:  # the library sets it, then writes it into its SQL
        schema = self.datastore.schema
        self._channel_name = name if schema == "public" else f"{schema}_{name}"

    insert_events = _bounded(PostgresApplicationRecorder.insert_events)
    select_events = _bounded(PostgresApplicationRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class OutageAwarePostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory with timeouts fit for an outage.

    A request waits at most ``POSTGRES_POOL_WAIT`` seconds for a connection, a new connection
    at most ``POSTGRES_CONNECT_TIMEOUT`` seconds, a statement at most ``POSTGRES_QUERY_TIMEOUT``
    seconds (the server cancels it; a second later the client gives up on a silent database),
    and the pool stops retrying a lost connection after ``POSTGRES_RECONNECT_TIMEOUT`` seconds
    (the next request grows it again at once). After a failure a breaker answers every call at
    once until a probe (one a second) succeeds, so the service answers 503 quickly, whatever
    the concurrency, while the database is away and heals by itself when it is back.
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
        query_timeout = float(self.env.get("POSTGRES_QUERY_TIMEOUT") or 5)
        pool.kwargs.update(keepalives=1, keepalives_idle=5, keepalives_interval=2,
                           keepalives_count=3, tcp_user_timeout=int(query_timeout * 1000) + 1000,
                           options=f"-c statement_timeout={int(query_timeout * 1000)}")
        pool.connection_class = type(
            "BoundedConnection", (BoundedConnection,), {"answer_timeout": query_timeout + 1})
        self.datastore.breaker = Breaker(  # type: ignore[attr-defined]
            float(self.env.get("POSTGRES_PROBE_INTERVAL") or 1))
        self._schema_made = False

    def ensure_schema(self) -> None:
        """The schema named by ``POSTGRES_SCHEMA``, made if missing, before any table in it."""
        schema = self.datastore.schema
        if self._schema_made or schema == "public":
            return
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        self._schema_made = True

    def application_recorder(self) -> ApplicationRecorder:
        self.ensure_schema()
        return super().application_recorder()

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        self.ensure_schema()
        return super().aggregate_recorder(purpose)

    def tracking_recorder(self, tracking_recorder_class: Any = None) -> Any:
        self.ensure_schema()
        return super().tracking_recorder(tracking_recorder_class)

    def process_recorder(self) -> ProcessRecorder:
        self.ensure_schema()
        return super().process_recorder()


# The factories by the module path they had before the adapters package: an operator's
# environment may still name them in PERSISTENCE_MODULE.
register_topic("service.store:DurableSQLiteFactory", DurableSQLiteFactory)
register_topic("service.store:OutageAwarePostgresFactory", OutageAwarePostgresFactory)
