"""Several districts in one PostgreSQL database, one schema each: the service makes its schema,
keeps everything it stores there, and neither district's reads, tokens or wake-ups reach the other."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from service.adapters.wake import pg_wake
from service.api.app import create_app
from service.application import HandoverApp
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import World, a_school, handed_to_teacher, walked_to_gate
from tests.conftest import MORNING, settings_for
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.test_group_commit import Note
from tests.test_outage import eventually


def tables_by_schema(dbname: str) -> dict[str, set[str]]:
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                         dbname=dbname) as conn:
        rows = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
    found: dict[str, set[str]] = {}
    for schema, table in rows:
        found.setdefault(schema, set()).add(table)
    return found


def count(dbname: str, query: str) -> int:
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                         dbname=dbname) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


class District:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = FixedClock(MORNING)
        self.app = HandoverApp(env=settings.eventsourcing_env(), clock=self.clock)
        self.client = TestClient(create_app(settings, application=self.app, clock=self.clock))
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.app.close()


@pytest.fixture
def districts(pg_database: str, tmp_path: Path) -> Iterator[tuple[District, District]]:
    tag = uuid.uuid4().hex[:8]
    east = District(settings_for("postgres", tmp_path / "east", pg_database, f"east_{tag}"))
    west = District(settings_for("postgres", tmp_path / "west", pg_database, f"west_{tag}"))
    yield east, west
    east.close()
    west.close()


def test_two_districts_in_one_database_keep_to_their_own_schema(
        districts: tuple[District, District], pg_database: str) -> None:
    east, west = districts
    a, b = east.settings.postgres_schema, west.settings.postgres_schema
    before = tables_by_schema(pg_database)
    assert {a, b} <= before.keys(), "each service makes its schema itself"

    east_school: World = a_school(east.client, east.app, 3, name="东区一小")
    handed_to_teacher(east_school)
    walked_to_gate(east_school, [0])
    west_school: World = a_school(west.client, west.app, 1, name="西区一小")
    for d, world in ((east, east_school), (west, west_school)):
        d.client.get("/v1/roster", headers=world.admin.h())
        d.app.access.flush()  # the reads of pupils' data recorded, in the district's own log

    after = tables_by_schema(pg_database)
    assert after.get("public", set()) == before.get("public", set()), "nothing lands in public"
    assert after[a] == after[b], "both districts keep the same tables, each its own"
    assert "handover_events" in after[a] and any("view" in t for t in after[a])
    events = {s: count(pg_database, f'SELECT count(*) FROM "{s}".handover_events') for s in (a, b)}
    assert events[a] == east.app.recorder.max_notification_id()
    assert events[b] == west.app.recorder.max_notification_id()
    assert events[a] > events[b] > 0  # three pupils walked to the gate against one enrolled

    # A school's token is nobody in the other district, and its pupils are not there.
    assert east.client.get("/v1/me", headers=east_school.admin.h()).json()["school_id"] == east_school.school_id
    assert west.client.get("/v1/me", headers=east_school.admin.h()).status_code == 401
    assert east.client.get("/v1/me", headers=west_school.admin.h()).status_code == 401
    for d, world, pupils in ((east, east_school, 3), (west, west_school, 1)):
        head = d.app.recorder.max_notification_id()
        r = d.client.get("/v1/roster", params={"min_position": head}, headers=world.admin.h())
        assert len(r.json()["pupils"]) == pupils


def test_a_districts_writes_wake_only_its_own_listeners(districts: tuple[District, District]) -> None:
    east, west = districts
    woken = {"east": 0, "west": 0}

    def counter(name: str) -> object:
        def wake() -> None:
            woken[name] += 1
        return wake
    listeners = [pg_wake(d.app.factory.datastore, d.app.recorder, counter(name))  # type: ignore[attr-defined, arg-type]
                 for name, d in (("east", east), ("west", west))]
    for listener in listeners:
        listener.start()
    try:
        eventually(lambda: all(w.listening for w in listeners), timeout=10)
        eventually(lambda: woken["east"] and woken["west"], timeout=10)  # the first, on listening
        start = dict(woken)
        west.app.save(Note("西区"))  # committed first: a crossing wake-up would come first
        east.app.save(Note("东区"))
        eventually(lambda: woken["east"] > start["east"] and woken["west"] > start["west"], timeout=10)
        time.sleep(0.3)
        assert woken == {"east": start["east"] + 1, "west": start["west"] + 1}
        assert east.settings.postgres_schema in listeners[0].channel
    finally:
        for listener in listeners:
            listener.stop()


def test_a_schema_name_that_is_not_a_plain_identifier_is_refused_at_start(tmp_path: Path) -> None:
    for bad in ("East", "east-1", 'x"; DROP TABLE y; --', "a" * 31, "1east"):
        with pytest.raises(ValueError, match="postgres_schema"):
            Settings(store="postgres", postgres_schema=bad, data_dir=tmp_path)
