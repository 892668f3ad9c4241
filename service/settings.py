"""One typed settings object; it alone produces the event store's environment."""

from __future__ import annotations

import binascii
import json
import logging
import os
import sqlite3
from base64 import b64decode
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.adapters.files import private_file

Store = Literal["sqlite", "postgres", "memory"]
CIPHER_TOPIC = "eventsourcing.cryptography:AESCipher"
KEY_FILE = "cipher.key"
log = logging.getLogger("handover.settings")


class StoreKeyError(RuntimeError):
    """The store cannot be opened safely with the encryption settings given."""


def new_cipher_key() -> str:
    from eventsourcing.cryptography import AESCipher

    return AESCipher.create_key(32)


def _checked_key(key: str, source: str) -> str:
    try:
        size = len(b64decode(key.encode(), validate=True))
    except (binascii.Error, ValueError):
        size = -1
    if size not in (16, 24, 32):
        raise StoreKeyError(f"{source} is not a base64 AES key of 16, 24 or 32 bytes; make one "
                            "with: python -c \"from service.settings import new_cipher_key as k; "
                            "print(k())\"")
    return key


def _sqlite_store_is(path: Path) -> Literal["empty", "plain", "encrypted"]:
    """Whether an existing SQLite store holds events, and whether they were stored encrypted."""
    if not path.exists():
        return "empty"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            row = conn.execute("SELECT state FROM stored_events LIMIT 1").fetchone()
        except sqlite3.OperationalError:  # no table yet
            return "empty"
    if row is None:
        return "empty"
    return "plain" if _is_json_object(bytes(row[0])) else "encrypted"


def _is_json_object(state: bytes) -> bool:
    """A state stored in the clear is a JSON object; a ciphertext may begin with ``{`` by chance
    (one store in 256) but is not one."""
    try:
        return isinstance(json.loads(state.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


class Settings(BaseSettings):
    """Everything configurable, read from ``HANDOVER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="HANDOVER_", extra="ignore")

    store: Store = "sqlite"
    data_dir: Path = Path("data")
    sqlite_file: str = "handover.sqlite3"

    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: str = ""
    postgres_dbname: str = "handover"
    postgres_schema: str = Field(default="", pattern=r"^([a-z_][a-z0-9_]{0,29})?$", description=(
        "The PostgreSQL schema everything of this service is kept in (made at start if missing; "
        "lower-case letters, digits and _, at most 30): one service per schema, e.g. one a "
        "district, several in one database; empty: the database's public schema"))
    postgres_pool_size: int = Field(default=10, ge=1)
    postgres_pool_wait: float = Field(
        default=3.0, gt=0, description="Seconds a request waits for a database connection before it answers 503")
    postgres_connect_timeout: int = Field(default=3, ge=1, description="Seconds to open one database connection")
    postgres_query_timeout: float = Field(
        default=5.0, gt=0,
        description="Seconds one database statement may take before it fails (and the request answers 503)")
    postgres_reconnect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds the pool retries a lost connection before the next request retries it")
    sqlite_lock_timeout: int = Field(
        default=5, ge=1, description="Seconds a write waits for a locked SQLite file before it answers 503")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    aggregate_cache_size: int = Field(default=20000, ge=0)
    view_batch_size: int = Field(default=500, ge=1, le=10000,
                                 description="Events a view applies per transaction")
    watch_interval: float = Field(default=20.0, gt=0, description="Seconds between alert watcher rounds")
    access_flush_interval: float = Field(
        default=0.5, gt=0, le=60, description="Seconds between saves of recorded reads of pupils' data")
    clock_start: datetime | None = Field(default=None, description=(
        "Run the service's clock from this moment (ISO 8601 with its offset) on, in real time: a "
        "rehearsal on a school day's afternoon whatever the hour; unset: the real time"))
    run_projections: bool = Field(
        default=True, description="Run the projection runners inside the API process")
    retry_max_backoff: float = Field(
        default=10.0, gt=0, description="Longest pause of a view, watcher or deliverer retrying after a failure")
    checkpoint_interval: float = Field(
        default=5.0, gt=0, description=(
            "Seconds between looks for the signed checkpoints a school's chain is due (every "
            "100 events, and 5 minutes after an unsigned one)"))
    health_max_view_lag: int = Field(
        default=1000, ge=0, description="Events a view may be behind the log before /health answers 503")
    health_watcher_grace: float = Field(
        default=60.0, gt=0,
        description="Seconds past its interval without a good round before the watcher counts as behind")

    webhook_allow_hosts: str = Field(default="", description=(
        "Comma-separated host names (or addresses) a school's webhook may reach although they "
        "are private, e.g. an on-premises SMS gateway; every other private, loopback or "
        "reserved address is refused"))

    forwarded_allow_ips: str = Field(default="", description=(
        "Comma-separated addresses (or networks) of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none, each client is the address it connects from "
        "(the pairing lockout counts per client)"))

    token_ttl_days: int = Field(default=365, ge=0, le=3650, description=(
        "Days a newly issued staff token stays valid unless the admin gives its own; 0: no expiry"))
    cipher_key: SecretStr | None = Field(default=None, description=(
        "Base64 AES key that encrypts every stored event (AES-GCM). Required for PostgreSQL; "
        "SQLite keeps a generated one in the data directory when none is given"))
    unencrypted_store: bool = Field(default=False, description=(
        "Run a PostgreSQL store written before encryption without a key: the library cannot "
        "read plain records with a cipher on"))
    _memory_key: str | None = PrivateAttr(default=None)

    @property
    def signing_keys_dir(self) -> Path:
        """Where each school's Ed25519 checkpoint keys are kept (owner-only files)."""
        return self.data_dir / "evidence-keys"

    @property
    def key_file(self) -> Path:
        return self.data_dir / KEY_FILE

    def keep_generated_key(self) -> str:
        """The key kept in the data directory (an owner-only file), made on first use."""
        path = self.key_file
        if path.exists():
            return _checked_key(path.read_text().strip(), str(path))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = new_cipher_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        log.warning("generated the event store's encryption key in %s: back it up with the "
                    "store; without it the store cannot be read", path)
        return key

    def store_cipher_key(self) -> str | None:
        """The key the store's events are encrypted with, or None for an unencrypted store."""
        if self.cipher_key is not None and self.cipher_key.get_secret_value():
            key = _checked_key(self.cipher_key.get_secret_value(), "HANDOVER_CIPHER_KEY")
            if self.store == "sqlite" and _sqlite_store_is(self.sqlite_path) == "plain":
                raise StoreKeyError(
                    f"{self.sqlite_path} was written without encryption and cannot be read with "
                    "a key: unset HANDOVER_CIPHER_KEY for this store, or start a new one")
            return key
        if self.store == "memory":
            if self._memory_key is None:
                self._memory_key = new_cipher_key()
            return self._memory_key
        if self.store == "postgres":
            if self.unencrypted_store:
                log.warning("the PostgreSQL event store is not encrypted (HANDOVER_UNENCRYPTED_STORE)")
                return None
            raise StoreKeyError(
                "HANDOVER_CIPHER_KEY is required for the PostgreSQL store: the events hold pupils' "
                "names and webhook secrets. Make a key with: python -c \"from service.settings "
                "import new_cipher_key as k; print(k())\" (keep it apart from database backups), "
                "or set HANDOVER_UNENCRYPTED_STORE=true for a store written before encryption")
        state = _sqlite_store_is(self.sqlite_path)
        if self.key_file.exists() or state == "empty":
            if state == "plain":
                raise StoreKeyError(f"{self.sqlite_path} was written without encryption but "
                                    f"{self.key_file} exists: remove the key file for this store")
            return self.keep_generated_key()
        if state == "encrypted":
            raise StoreKeyError(f"{self.sqlite_path} is encrypted and its key is missing: "
                                f"restore {self.key_file} or set HANDOVER_CIPHER_KEY")
        log.warning("%s was written before encryption and stays unencrypted", self.sqlite_path)
        return None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / self.sqlite_file

    def eventsourcing_env(self) -> dict[str, str]:
        """The library's environment for the chosen store."""
        env: dict[str, str] = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
            "WEBHOOK_ALLOW_HOSTS": self.webhook_allow_hosts,
            "TOKEN_TTL_DAYS": str(self.token_ttl_days),
        }
        if self.store == "sqlite":
            private_file(self.sqlite_path)  # 0600 in a 0700 directory, before SQLite opens it
            env["PERSISTENCE_MODULE"] = "service.adapters.store:DurableSQLiteFactory"
            env["SQLITE_DBNAME"] = str(self.sqlite_path)
            env["SQLITE_LOCK_TIMEOUT"] = str(self.sqlite_lock_timeout)
            env["BLOB_DIR"] = str(self.data_dir / "blobs")
        elif self.store == "postgres":
            env.update(
                PERSISTENCE_MODULE="service.adapters.store:OutageAwarePostgresFactory",
                POSTGRES_HOST=self.postgres_host,
                POSTGRES_PORT=str(self.postgres_port),
                POSTGRES_USER=self.postgres_user,
                POSTGRES_PASSWORD=self.postgres_password,
                POSTGRES_DBNAME=self.postgres_dbname,
                POSTGRES_POOL_SIZE=str(self.postgres_pool_size),
                POSTGRES_MAX_OVERFLOW=str(self.postgres_pool_size),
                POSTGRES_CONNECT_TIMEOUT=str(self.postgres_connect_timeout),
                POSTGRES_POOL_WAIT=str(self.postgres_pool_wait),
                POSTGRES_RECONNECT_TIMEOUT=str(self.postgres_reconnect_timeout),
                POSTGRES_QUERY_TIMEOUT=str(self.postgres_query_timeout),
                POSTGRES_LOCK_TIMEOUT="5",
            )
            if self.postgres_schema:
                env["POSTGRES_SCHEMA"] = self.postgres_schema
        else:
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        key = self.store_cipher_key()
        # Both spellings: the library reads HANDOVER_CIPHER_* from the process first.
        for name in ("CIPHER_TOPIC", "HANDOVER_CIPHER_TOPIC"):
            env[name] = CIPHER_TOPIC if key else ""
        for name in ("CIPHER_KEY", "HANDOVER_CIPHER_KEY"):
            env[name] = key or ""
        return env
