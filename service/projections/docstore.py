"""Tracked document views: a projection's JSON documents and its log position, written together."""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from time import monotonic
from typing import Any

from eventsourcing.persistence import Cipher, IntegrityError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore

from service.adapters.files import private_file

Doc = dict[str, Any]
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(doc, ensure_ascii=False), made once
Changes = Mapping[str, Doc | None]  # None deletes the document


class Seal:
    """Documents as stored: JSON, or with the events' cipher (AES-GCM) JSON sealed, so that a
    copy of the view tables shows no child's name, as a copy of the events shows none."""

    def __init__(self, cipher: Cipher | None) -> None:
        self.cipher = cipher

    @property
    def on(self) -> bool:
        return self.cipher is not None

    def close(self, doc: Doc) -> str | bytes:
        text = _ENCODE(doc)
        return text if self.cipher is None else self.cipher.encrypt(text.encode())

    def open(self, stored: Any) -> Doc:
        if self.cipher is None:
            return stored if isinstance(stored, dict) else json.loads(stored)
        doc: Doc = json.loads(self.cipher.decrypt(bytes(stored)))
        return doc


class DocView(TrackingRecorder):
    """Documents by key plus the last log position applied, committed in one transaction.

    A write whose position is not past the recorded one raises ``IntegrityError`` and
    changes nothing: that is what makes each event apply exactly once, however many
    runners race for the same view.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._advanced = threading.Condition()
        # The positions this process has committed, by application: a wait for one of them
        # is answered without asking the store (another process's commits are still asked for).
        self._reached: dict[str, int] = {}

    @abstractmethod
    def get_many(self, keys: Iterable[str]) -> dict[str, Doc]: ...

    @abstractmethod
    def scan(self, prefix: str) -> dict[str, Doc]: ...

    @abstractmethod
    def _commit(self, changes: Changes, tracking: Tracking, after: int | None) -> None: ...

    @abstractmethod
    def reset(self) -> None:
        """Drop every document and the position: the next run rebuilds from zero."""

    @abstractmethod
    def add(self, key: str, doc: Doc) -> bool:
        """Write a document no log position stands for, only if none is under its key yet:
        whether it was written (for records of their own, such as signed checkpoints)."""

    @abstractmethod
    def replace(self, key: str, doc: Doc) -> None:
        """Write a document no log position stands for, over any under its key."""

    def get(self, key: str) -> Doc | None:
        return self.get_many([key]).get(key)

    def commit(self, changes: Changes, tracking: Tracking, after: int | None = None) -> None:
        """Write the changes and the position; with ``after``, only if the view is still exactly
        there (a batch read from a position another runner, or a reset, has moved is refused)."""
        self._commit(changes, tracking, after)
        with self._advanced:
            name, position = tracking.application_name, tracking.notification_id
            self._reached[name] = max(position, self._reached.get(name, position))
            self._advanced.notify_all()

    def insert_tracking(self, tracking: Tracking) -> None:
        self.commit({}, tracking)

    def has_tracking_id(self, application_name: str, notification_id: int | None) -> bool:
        if notification_id is None or self._reached.get(application_name, -1) >= notification_id:
            return True
        current = self.max_tracking_id(application_name)
        return current is not None and current >= notification_id

    def wait(self, application_name: str, notification_id: int | None, timeout: float = 1.0,
             interrupt: threading.Event | None = None) -> None:
        """Block until the view reflects the position (read-your-writes); ``TimeoutError`` if not."""
        deadline = monotonic() + timeout
        while not self.has_tracking_id(application_name, notification_id):
            left = deadline - monotonic()
            if left <= 0:
                raise TimeoutError(f"view {self.name} has not reached position {notification_id}")
            with self._advanced:
                # Woken by a commit in this process; the short cap covers other processes.
                self._advanced.wait(min(left, 0.05))


def _check(name: str, current: int | None, tracking: Tracking, after: int | None) -> None:
    if current is not None and current >= tracking.notification_id:
        raise IntegrityError(f"{name} is already at {current}")
    if after is not None and (current or 0) != after:
        raise IntegrityError(f"{name} moved from {after} to {current} meanwhile")


class MemoryDocView(DocView):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._docs: dict[str, str] = {}
        self._positions: dict[str, int] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, Doc]:
        with self._lock:
            return {k: json.loads(self._docs[k]) for k in keys if k in self._docs}

    def scan(self, prefix: str) -> dict[str, Doc]:
        with self._lock:
            return {k: json.loads(v) for k, v in self._docs.items() if k.startswith(prefix)}

    def _commit(self, changes: Changes, tracking: Tracking, after: int | None) -> None:
        with self._lock:
            current = self._positions.get(tracking.application_name)
            _check(self.name, current, tracking, after)
            for key, doc in changes.items():
                if doc is None:
                    self._docs.pop(key, None)
                else:
                    self._docs[key] = json.dumps(doc, ensure_ascii=False)
            self._positions[tracking.application_name] = tracking.notification_id

    def max_tracking_id(self, application_name: str) -> int | None:
        with self._lock:
            return self._positions.get(application_name)

    def reset(self) -> None:
        self._reached.clear()
        with self._lock:
            self._docs.clear()
            self._positions.clear()

    def add(self, key: str, doc: Doc) -> bool:
        with self._lock:
            if key in self._docs:
                return False
            self._docs[key] = json.dumps(doc, ensure_ascii=False)
            return True

    def replace(self, key: str, doc: Doc) -> None:
        with self._lock:
            self._docs[key] = json.dumps(doc, ensure_ascii=False)


class SQLiteDocView(DocView):
    """Views live in their own SQLite file, so view writes never queue behind event writes."""

    def __init__(self, name: str, path: str, cipher: Cipher | None = None) -> None:
        super().__init__(name)
        self.path = path
        self.seal = Seal(cipher)
        # Sealed documents live in tables of their own; a view kept before in the clear is
        # dropped there and rebuilt from the log, sealed.
        self.docs, self.tracking = (("sealed_docs", "sealed_tracking") if self.seal.on
                                    else ("view_docs", "view_tracking"))
        self._local = threading.local()
        private_file(Path(path))  # owner-only, like the event store
        with self._connection() as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS {self.docs} (view TEXT, key TEXT, doc, "
                      "PRIMARY KEY (view, key)) WITHOUT ROWID")
            c.execute(f"CREATE TABLE IF NOT EXISTS {self.tracking} (view TEXT, application TEXT, "
                      "position INTEGER, PRIMARY KEY (view, application)) WITHOUT ROWID")
            plain = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if self.seal.on and "view_docs" in plain:
                c.execute("PRAGMA secure_delete=ON")  # the clear copy is overwritten, not freed
                c.execute("DELETE FROM view_docs WHERE view=?", (name,))
                c.execute("DELETE FROM view_tracking WHERE view=?", (name,))
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor left in the write-ahead log

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # A view can always be rebuilt from the log, so it need not fsync every commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get_many(self, keys: Iterable[str]) -> dict[str, Doc]:
        keys = list(keys)
        out: dict[str, Doc] = {}
        c = self._connection()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for key, doc in c.execute(
                f"SELECT key, doc FROM {self.docs} WHERE view=? AND key IN ({marks})", [self.name, *chunk]
            ):
                out[key] = self.seal.open(doc)
        return out

    def scan(self, prefix: str) -> dict[str, Doc]:
        rows = self._connection().execute(
            f"SELECT key, doc FROM {self.docs} WHERE view=? AND key >= ? AND key < ?",
            (self.name, prefix, prefix + "\U0010ffff"),
        )
        return {key: self.seal.open(doc) for key, doc in rows}

    def _commit(self, changes: Changes, tracking: Tracking, after: int | None) -> None:
        c = self._connection()
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute(f"SELECT position FROM {self.tracking} WHERE view=? AND application=?",
                            (self.name, tracking.application_name)).fetchone()
            _check(self.name, None if row is None else int(row[0]), tracking, after)
            deletes = [(self.name, k) for k, d in changes.items() if d is None]
            upserts = [(self.name, k, self.seal.close(d)) for k, d in changes.items() if d is not None]
            if deletes:
                c.executemany(f"DELETE FROM {self.docs} WHERE view=? AND key=?", deletes)
            if upserts:
                c.executemany(f"INSERT OR REPLACE INTO {self.docs} VALUES (?, ?, ?)", upserts)
            c.execute(f"INSERT OR REPLACE INTO {self.tracking} VALUES (?, ?, ?)",
                      (self.name, tracking.application_name, tracking.notification_id))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def max_tracking_id(self, application_name: str) -> int | None:
        row = self._connection().execute(
            f"SELECT position FROM {self.tracking} WHERE view=? AND application=?",
            (self.name, application_name)).fetchone()
        return None if row is None else int(row[0])

    def reset(self) -> None:
        self._reached.clear()
        c = self._connection()
        c.execute("BEGIN IMMEDIATE")
        c.execute(f"DELETE FROM {self.docs} WHERE view=?", (self.name,))
        c.execute(f"DELETE FROM {self.tracking} WHERE view=?", (self.name,))
        c.execute("COMMIT")

    def add(self, key: str, doc: Doc) -> bool:
        cursor = self._connection().execute(
            f"INSERT OR IGNORE INTO {self.docs} VALUES (?, ?, ?)",
            (self.name, key, self.seal.close(doc)))
        return cursor.rowcount == 1

    def replace(self, key: str, doc: Doc) -> None:
        self._connection().execute(f"INSERT OR REPLACE INTO {self.docs} VALUES (?, ?, ?)",
                                   (self.name, key, self.seal.close(doc)))


class PostgresDocView(DocView):
    def __init__(self, name: str, datastore: PostgresDatastore, cipher: Cipher | None = None) -> None:
        super().__init__(name)
        self.datastore = datastore
        self.seal = Seal(cipher)
        self._cast = "" if self.seal.on else "::jsonb"  # a sealed document is BYTEA
        schema = datastore.schema

        def table(t: str) -> str:
            return f'"{schema}".{t}' if schema else t
        plain_docs, plain_tracking = table("view_docs"), table("view_tracking")
        # Sealed documents (BYTEA) live in tables of their own; a view kept before in the clear
        # is dropped there and rebuilt from the log, sealed.
        self.docs, self.tracking = ((table("sealed_view_docs"), table("sealed_view_tracking"))
                                    if self.seal.on else (plain_docs, plain_tracking))
        with datastore.transaction(commit=True) as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS {self.docs} (view TEXT, key TEXT, "
                      f"doc {'BYTEA' if self.seal.on else 'JSONB'}, PRIMARY KEY (view, key))")
            c.execute(f"CREATE TABLE IF NOT EXISTS {self.tracking} (view TEXT, application TEXT, "
                      "position BIGINT, PRIMARY KEY (view, application))")
            if self.seal.on:
                c.execute("SELECT to_regclass(%s) AS found", (plain_docs,))
                row = c.fetchone()
                if row and row["found"]:
                    c.execute(f"DELETE FROM {plain_docs} WHERE view=%s", (name,))
                    c.execute(f"DELETE FROM {plain_tracking} WHERE view=%s", (name,))

    def get_many(self, keys: Iterable[str]) -> dict[str, Doc]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT key, doc FROM {self.docs} WHERE view=%s AND key = ANY(%s)",
                      (self.name, list(keys)))
            return {row["key"]: self.seal.open(row["doc"]) for row in c.fetchall()}

    def scan(self, prefix: str) -> dict[str, Doc]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT key, doc FROM {self.docs} WHERE view=%s AND key >= %s AND key < %s",
                      (self.name, prefix, prefix + "\uffff"))
            return {row["key"]: self.seal.open(row["doc"]) for row in c.fetchall()}

    def _commit(self, changes: Changes, tracking: Tracking, after: int | None) -> None:
        with self.datastore.transaction(commit=True) as c:
            # Lock the view's position row (or its absence, via the insert) for this transaction.
            c.execute(f"INSERT INTO {self.tracking} VALUES (%s, %s, 0) ON CONFLICT DO NOTHING",
                      (self.name, tracking.application_name))
            c.execute(f"SELECT position FROM {self.tracking} WHERE view=%s AND application=%s "
                      "FOR UPDATE", (self.name, tracking.application_name))
            row = c.fetchone()
            current = int(row["position"]) if row and row["position"] else None
            _check(self.name, current, tracking, after)
            c.execute(f"UPDATE {self.tracking} SET position=%s WHERE view=%s AND application=%s",
                      (tracking.notification_id, self.name, tracking.application_name))
            deletes = [k for k, d in changes.items() if d is None]
            upserts = [(self.name, k, self.seal.close(d)) for k, d in changes.items() if d is not None]
            if deletes:
                c.execute(f"DELETE FROM {self.docs} WHERE view=%s AND key = ANY(%s)", (self.name, deletes))
            if upserts:
                c.executemany(f"INSERT INTO {self.docs} VALUES (%s, %s, %s{self._cast}) "
                              "ON CONFLICT (view, key) DO UPDATE SET doc = EXCLUDED.doc", upserts)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position FROM {self.tracking} WHERE view=%s AND application=%s",
                      (self.name, application_name))
            row = c.fetchone()
            return None if row is None else int(row["position"])

    def reset(self) -> None:
        self._reached.clear()
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.docs} WHERE view=%s", (self.name,))
            c.execute(f"DELETE FROM {self.tracking} WHERE view=%s", (self.name,))

    def add(self, key: str, doc: Doc) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {self.docs} VALUES (%s, %s, %s{self._cast}) ON CONFLICT DO NOTHING",
                      (self.name, key, self.seal.close(doc)))
            return bool(c.rowcount == 1)

    def replace(self, key: str, doc: Doc) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {self.docs} VALUES (%s, %s, %s{self._cast}) "
                      "ON CONFLICT (view, key) DO UPDATE SET doc = EXCLUDED.doc",
                      (self.name, key, self.seal.close(doc)))
