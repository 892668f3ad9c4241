"""A fresh PostgreSQL database for a test run: created here, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

PG_HOST = os.environ.get("HANDOVER_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HANDOVER_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HANDOVER_TEST_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("HANDOVER_TEST_PG_PASSWORD", "")


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname="postgres",
            autocommit=True, connect_timeout=5,
        )
    except psycopg.OperationalError as e:
        raise RuntimeError(
            f"PostgreSQL is required for the tests and cannot be reached at {PG_HOST}:{PG_PORT} "
            f"as {PG_USER}: {e}. Start it (make test does) or set HANDOVER_TEST_PG_*."
        ) from e


@contextmanager
def fresh_database(prefix: str = "handover_test") -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
