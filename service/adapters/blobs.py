"""The blob store: files attached to records (an incident's photos and scanned notes), kept by
the SHA-256 of their content, written once and never changed.

On SQLite each blob is an owner-only file under the data directory (``blobs/ab/abcd…``); on
PostgreSQL a row of its own table (``bytea``) beside the events; in memory, a dict. With
encryption at rest on, a blob is stored encrypted with the event store's own cipher, and every
read checks the content against its hash."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Cipher
from eventsourcing.postgres import PostgresDatastore

from service.adapters.files import FILE_MODE, private_dir

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobCorruptedError(RuntimeError):
    """A stored blob's content no longer matches its hash."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(ABC):
    """Content-addressed bytes: ``put`` answers the hash, ``get`` the content or None."""

    def __init__(self, cipher: Cipher | None = None) -> None:
        self.cipher = cipher

    def put(self, data: bytes) -> str:
        digest = sha256_of(data)
        if not self._has(digest):  # the same content is kept once
            self._write(digest, self.cipher.encrypt(data) if self.cipher else data)
        return digest

    def get(self, digest: str) -> bytes | None:
        if not SHA256.match(digest):
            return None
        stored = self._read(digest)
        if stored is None:
            return None
        data = self.cipher.decrypt(stored) if self.cipher else stored
        if sha256_of(data) != digest:
            raise BlobCorruptedError(f"blob {digest} does not match its hash")
        return data

    @abstractmethod
    def _has(self, digest: str) -> bool: ...

    @abstractmethod
    def _write(self, digest: str, stored: bytes) -> None: ...

    @abstractmethod
    def _read(self, digest: str) -> bytes | None: ...


class MemoryBlobs(BlobStore):
    def __init__(self, cipher: Cipher | None = None) -> None:
        super().__init__(cipher)
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _has(self, digest: str) -> bool:
        with self._lock:
            return digest in self._blobs

    def _write(self, digest: str, stored: bytes) -> None:
        with self._lock:
            self._blobs.setdefault(digest, stored)

    def _read(self, digest: str) -> bytes | None:
        with self._lock:
            return self._blobs.get(digest)


class FileBlobs(BlobStore):
    """One owner-only file per blob, written to a temporary name, synced, then renamed into place:
    a blob is either whole or absent."""

    def __init__(self, root: Path, cipher: Cipher | None = None) -> None:
        super().__init__(cipher)
        self.root = root  # made (owner-only) with the first blob

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def _has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def _write(self, digest: str, stored: bytes) -> None:
        path = self.path(digest)
        private_dir(self.root)
        private_dir(path.parent)
        temporary = path.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(stored)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _read(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            return None


class PostgresBlobs(BlobStore):
    """A ``blobs`` table in the store's schema: the hash, the (possibly encrypted) content."""

    def __init__(self, datastore: PostgresDatastore, cipher: Cipher | None = None) -> None:
        super().__init__(cipher)
        self.datastore = datastore
        schema = datastore.schema
        self.table = f'"{schema}".blobs' if schema else "blobs"
        self._created = False
        self._lock = threading.Lock()

    def _ensure_table(self) -> None:
        """Made on first use, not when the application opens: a store that is away at start-up
        is answered as away by the first request that needs it, like every other."""
        with self._lock:
            if self._created:
                return
            with self.datastore.transaction(commit=True) as c:
                c.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (sha256 TEXT PRIMARY KEY, "
                          "size BIGINT NOT NULL, content BYTEA NOT NULL)")
            self._created = True

    def _has(self, digest: str) -> bool:
        self._ensure_table()
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT 1 FROM {self.table} WHERE sha256=%s", (digest,))
            return c.fetchone() is not None

    def _write(self, digest: str, stored: bytes) -> None:
        self._ensure_table()
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {self.table} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                      (digest, len(stored), stored))

    def _read(self, digest: str) -> bytes | None:
        self._ensure_table()
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT content FROM {self.table} WHERE sha256=%s", (digest,))
            row: Any = c.fetchone()
            return None if row is None else bytes(row["content"])


def blob_store_for(factory: object, env: dict[str, str], cipher: Cipher | None) -> BlobStore:
    """The blob store beside the event store the factory opened."""
    datastore = getattr(factory, "datastore", None)
    if isinstance(datastore, PostgresDatastore):
        return PostgresBlobs(datastore, cipher)
    directory = env.get("BLOB_DIR")
    if not directory and env.get("SQLITE_DBNAME") and ":memory:" not in env["SQLITE_DBNAME"]:
        directory = str(Path(env["SQLITE_DBNAME"]).parent / "blobs")
    if directory:
        return FileBlobs(Path(directory), cipher)
    return MemoryBlobs(cipher)
