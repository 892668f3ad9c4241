"""Event-store wiring: a crash-safe SQLite factory and the durability check."""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.persistence import InfrastructureFactory
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
