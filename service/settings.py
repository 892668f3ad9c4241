"""One typed settings object; it alone produces the event store's environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.files import private_file

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

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    aggregate_cache_size: int = Field(default=20000, ge=0)
    view_batch_size: int = Field(default=500, ge=1, le=10000,
                                 description="Events a view applies per transaction")
    watch_interval: float = Field(default=20.0, gt=0, description="Seconds between alert watcher rounds")
    access_flush_interval: float = Field(
        default=0.5, gt=0, le=60, description="Seconds between saves of recorded reads of pupils' data")
    run_projections: bool = Field(
        default=True, description="Run the projection runners inside the API process")

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / self.sqlite_file

    def eventsourcing_env(self) -> dict[str, str]:
        """The library's environment for the chosen store."""
        env: dict[str, str] = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
        }
        if self.store == "sqlite":
            private_file(self.sqlite_path)  # 0600 in a 0700 directory, before SQLite opens it
            env["PERSISTENCE_MODULE"] = "service.store:DurableSQLiteFactory"
            env["SQLITE_DBNAME"] = str(self.sqlite_path)
            env["SQLITE_LOCK_TIMEOUT"] = "10"
        elif self.store == "postgres":
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_HOST=self.postgres_host,
                POSTGRES_PORT=str(self.postgres_port),
                POSTGRES_USER=self.postgres_user,
                POSTGRES_PASSWORD=self.postgres_password,
                POSTGRES_DBNAME=self.postgres_dbname,
                POSTGRES_POOL_SIZE=str(self.postgres_pool_size),
                POSTGRES_MAX_OVERFLOW=str(self.postgres_pool_size),
                POSTGRES_CONNECT_TIMEOUT="5",
                POSTGRES_LOCK_TIMEOUT="5",
            )
            if self.postgres_schema:
                env["POSTGRES_SCHEMA"] = self.postgres_schema
        else:
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        return env
