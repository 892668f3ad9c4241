"""Reading the stored events of many aggregates at once, straight from the event store.

A sign-off asks where every pupil of the roll is (thousands of chains): one query (a few on
SQLite, whose statements take a bounded number of parameters) instead of one per pupil. The
events are the store's own, as of one moment, never a view that may lag behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, StoredEvent
from eventsourcing.popo import POPOAggregateRecorder
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg import sql

SQLITE_CHUNK = 500  # ids per statement: well under SQLite's bound on a statement's parameters


def select_events_of(recorder: AggregateRecorder,
                     ids: Iterable[UUID]) -> dict[UUID, list[StoredEvent]]:
    """Each aggregate's stored events in version order; an aggregate never saved is absent."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    if isinstance(recorder, PostgresAggregateRecorder):
        return _postgres(recorder, wanted)
    if isinstance(recorder, SQLiteAggregateRecorder):
        return _sqlite(recorder, wanted)
    if isinstance(recorder, POPOAggregateRecorder):
        found = {i: list(recorder.select_events(i)) for i in wanted}
        return {i: events for i, events in found.items() if events}
    return {i: events for i in wanted if (events := list(recorder.select_events(i)))}


def _grouped(rows: Sequence[StoredEvent]) -> dict[UUID, list[StoredEvent]]:
    out: dict[UUID, list[StoredEvent]] = {}
    for row in rows:
        out.setdefault(UUID(str(row.originator_id)), []).append(row)
    for events in out.values():
        events.sort(key=lambda e: e.originator_version)
    return out


def _postgres(recorder: PostgresAggregateRecorder, ids: list[UUID]) -> dict[UUID, list[StoredEvent]]:
    statement = sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(schema=sql.Identifier(recorder.datastore.schema),
             table=sql.Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [ids])
        rows = [StoredEvent(originator_id=row["originator_id"],
                            originator_version=row["originator_version"],
                            topic=row["topic"], state=bytes(row["state"]))
                for row in curs.fetchall()]
    return _grouped(rows)


def _sqlite(recorder: SQLiteAggregateRecorder, ids: list[UUID]) -> dict[UUID, list[StoredEvent]]:
    rows: list[StoredEvent] = []
    # One read transaction for every chunk: the chains as of one moment.
    with recorder.datastore.transaction(commit=False) as c:
        for first in range(0, len(ids), SQLITE_CHUNK):
            chunk = [i.hex for i in ids[first:first + SQLITE_CHUNK]]
            marks = ",".join("?" * len(chunk))
            c.execute(f"SELECT originator_id, originator_version, topic, state "
                      f"FROM {recorder.events_table_name} WHERE originator_id IN ({marks})", chunk)
            rows += [StoredEvent(originator_id=row["originator_id"],
                                 originator_version=row["originator_version"],
                                 topic=row["topic"], state=row["state"])
                     for row in c.fetchall()]
    return _grouped(rows)
