"""Shared fixtures: a store (memory unless a test asks for every store), a fixed clock, an HTTP client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.application import HandoverApp
from service.settings import Settings, new_cipher_key
from service.use_cases.clock import FixedClock
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, fresh_database

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday in term, before the after-school session: the default schedule serves Mon–Thu.
MORNING = datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
QUIET_WATCHER = 86400.0  # tests drive the watcher themselves, on the fixed clock
TEST_CIPHER_KEY = new_cipher_key()  # PostgreSQL requires one; SQLite keeps its own per data dir
# Reads are saved when a test asks (a flush, GET /v1/access-log, shutdown), never in the middle
# of a test that compares log positions.
QUIET_RECORDER = 60.0  # the longest the settings allow

# -- in parallel (pytest-xdist: `make test`, or `pytest -n auto --dist load`) --------------------
# The longest tests start first, so that no worker is left running one of them alone at the end.
LONGEST_FIRST = ("tests/test_scripted_afternoon.py", "tests/test_worker_process.py",
                 "tests/test_outage.py", "tests/test_statements.py", "tests/test_city.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: every worker sorts the same way
        rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
    # The browser tests last: Playwright's loop then runs on the main thread until the session ends.
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with fresh_database() as name:
        yield name


def settings_for(store: str, tmp_path: Path, pg_database: str | None, schema: str = "") -> Settings:
    if store == "postgres":
        assert pg_database is not None
        return Settings(store="postgres", postgres_host=PG_HOST, postgres_port=PG_PORT,
                        postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                        postgres_dbname=pg_database, postgres_schema=schema, data_dir=tmp_path,
                        watch_interval=QUIET_WATCHER, cipher_key=SecretStr(TEST_CIPHER_KEY),
                        access_flush_interval=QUIET_RECORDER)
    return Settings(store=store, data_dir=tmp_path, watch_interval=QUIET_WATCHER,  # type: ignore[arg-type]
                    access_flush_interval=QUIET_RECORDER)


def _pg_schema(request: pytest.FixtureRequest) -> str:
    """Each PostgreSQL test gets its own schema so tests never see each other's events."""
    import psycopg

    from tests.pg import PG_HOST as host

    name = "t_" + uuid.uuid4().hex[:16]
    db: str = request.getfixturevalue("pg_database")
    with psycopg.connect(host=host, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                         dbname=db, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return name


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MORNING)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """The memory store; `tests.stores.every_store` runs a test on each of STORES instead."""
    return str(getattr(request, "param", "memory"))


@pytest.fixture
def settings(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if store == "postgres":
        db = request.getfixturevalue("pg_database")
        return settings_for(store, tmp_path, db, _pg_schema(request))
    return settings_for(store, tmp_path, None)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[HandoverApp]:
    application = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    yield application
    application.close()


@pytest.fixture
def client(app: HandoverApp, settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, application=app, clock=clock)) as c:
        yield c
