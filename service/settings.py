"""One typed settings object; it alone produces the event store's environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Store = Literal["sqlite", "postgres", "memory"]


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
    postgres_schema: str = ""
    postgres_pool_size: int = Field(default=10, ge=1)
    postgres_pool_wait: float = Field(
        default=3.0, gt=0, description="Seconds a request waits for a database connection before it answers 503")
    postgres_connect_timeout: int = Field(default=3, ge=1, description="Seconds to open one database connection")
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
    run_projections: bool = Field(
        default=True, description="Run the projection runners inside the API process")
    retry_max_backoff: float = Field(
        default=10.0, gt=0, description="Longest pause of a view, watcher or deliverer retrying after a failure")
    health_max_view_lag: int = Field(
        default=1000, ge=0, description="Events a view may be behind the log before /health answers 503")
    health_watcher_grace: float = Field(
        default=60.0, gt=0,
        description="Seconds past its interval without a good round before the watcher counts as behind")

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / self.sqlite_file

    def eventsourcing_env(self) -> dict[str, str]:
        """The library's environment for the chosen store."""
        env: dict[str, str] = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
        }
        if self.store == "sqlite":
            self.data_dir.mkdir(parents=True, exist_ok=True)
            env["PERSISTENCE_MODULE"] = "service.store:DurableSQLiteFactory"
            env["SQLITE_DBNAME"] = str(self.sqlite_path)
            env["SQLITE_LOCK_TIMEOUT"] = str(self.sqlite_lock_timeout)
        elif self.store == "postgres":
            env.update(
                PERSISTENCE_MODULE="service.store:OutageAwarePostgresFactory",
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
                POSTGRES_LOCK_TIMEOUT="5",
            )
            if self.postgres_schema:
                env["POSTGRES_SCHEMA"] = self.postgres_schema
        else:
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        return env
