"""Concurrent commands share one transaction and keep their own outcomes (group commit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Recording
from fastapi.testclient import TestClient

from service.adapters.group_commit import GroupCommit
from service.application import HandoverApp
from tests.builders import a_school, key
from tests.stores import every_store


class Note(Aggregate):
    """A bare aggregate: the group commit does not care what it saves."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Rewritten")
    def rewrite(self, text: str) -> None:
        self.text = text


def slowed(app: HandoverApp, first: float) -> list[int]:
    """Slow the first transaction so that the saves arriving meanwhile queue behind it; the
    sizes of the transactions written, in order."""
    record = app._record
    sizes: list[int] = []

    def slow_record(processing: ProcessingEvent[Any]) -> list[Recording[Any]]:
        sizes.append(len(processing.events))
        if len(sizes) == 1:
            time.sleep(first)
        return record(processing)
    app.group_commit._record = slow_record
    return sizes


def together(n: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 - the outcome under test
            results[i] = e
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@every_store
def test_concurrent_saves_are_written_together_with_gap_free_positions_each_its_own(app: HandoverApp) -> None:
    sizes = slowed(app, 0.3)
    staff = [Note(f"老师{i}") for i in range(12)]
    before = app.recorder.max_notification_id() or 0

    results = together(12, lambda i: app.save(staff[i]))

    assert all(isinstance(r, list) and len(r) == 1 for r in results), results
    positions = sorted(r[0].notification.id for r in results)
    assert positions == list(range(before + 1, before + 13))  # one run, no gap, none lost
    assert len(sizes) < 12 and max(sizes) > 1  # some went in one transaction
    for i, recordings in enumerate(results):  # each save answered with its own events
        assert recordings[0].domain_event.originator_id == staff[i].id
        assert app.repository.get(staff[i].id).text == f"老师{i}"


@every_store
def test_a_conflicting_save_fails_alone_and_the_others_of_its_batch_are_recorded(app: HandoverApp) -> None:
    first = Note("原来")
    app.save(first)
    rivals: list[Note] = [app.repository.get(first.id) for _ in range(2)]  # two copies of version 1
    for n, copy in enumerate(rivals):
        copy.rewrite(f"改名{n}")
    others = [Note(f"别人{i}") for i in range(6)]
    sizes = slowed(app, 0.3)
    objs: list[Any] = [*rivals, *others]

    results = together(len(objs), lambda i: app.save(objs[i]))

    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 1 and type(failed[0]).__name__ == "IntegrityError"
    assert all(app.repository.get(o.id).text == f"别人{i}" for i, o in enumerate(others))
    assert app.repository.get(first.id).text in {"改名0", "改名1"}
    assert max(sizes) > 1


def test_a_store_failure_fails_every_save_of_the_batch_and_records_none() -> None:
    calls: list[int] = []

    def record(processing: ProcessingEvent[Any]) -> list[Recording[Any]]:
        calls.append(len(processing.events))
        if len(calls) == 1:
            time.sleep(0.2)
            return []
        raise ConnectionError("database away")
    group = GroupCommit(record)
    events: list[ProcessingEvent[Any]] = [ProcessingEvent() for _ in range(5)]
    results = together(5, lambda i: group.record(events[i]))
    failures = [r for r in results if isinstance(r, ConnectionError)]
    assert len(failures) == len(results) - results.count([])
    assert len(calls) >= 2


@pytest.mark.parametrize("store", ["sqlite"])
def test_concurrent_commands_over_http_each_answer_once_and_replay_alike(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 8)
    keys = [key() for _ in range(8)]

    def absent(i: int) -> Any:
        return client.post("/v1/absences", json={"pupil_id": world.pupil(i), "with_leave": True,
                                                 "reason": f"病假{i}"}, headers=world.homeroom.h(**keys[i]))
    first = together(8, absent)
    again = together(8, absent)
    assert [r.status_code for r in first] == [200] * 8, [r.text for r in first]
    assert [r.json() for r in again] == [r.json() for r in first]
    positions = sorted(int(r.headers["X-Log-Position"]) for r in first)
    assert len(set(positions)) == 8
    for i in range(8):
        assert world.state(i)["status"] == "absent"
