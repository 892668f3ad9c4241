"""Where every pupil of the roll is, read in one batch from the event store for a sign-off: the
same chains as reading each pupil's aggregate, on every store, past SQLite's statement bound."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi.testclient import TestClient

from service.adapters.many import SQLITE_CHUNK
from service.application import HandoverApp
from tests.builders import SESSION_DAY, a_school, handed_to_teacher, walked_to_gate
from tests.stores import every_store


@every_store
def test_the_chains_read_in_one_batch_are_those_of_each_pupils_own_aggregate(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    handed_to_teacher(world)
    walked_to_gate(world, [1])
    on = date.fromisoformat(SESSION_DAY)
    strangers = [str(uuid.uuid4()) for _ in range(SQLITE_CHUNK * 2 + 1)]  # never had a chain
    ids = [*strangers[:SQLITE_CHUNK], *(world.pupil(i) for i in range(3)), *strangers[SQLITE_CHUNK:]]
    chains = app.pupil_days_now(world.school_id, ids, on, "after_school")
    assert sorted(chains) == sorted(world.pupil(i) for i in range(3))
    for i in range(3):
        own = app.existing_pupil_day(world.school_id, world.pupil(i), on, "after_school")
        assert own is not None
        assert (chains[world.pupil(i)].view(), chains[world.pupil(i)].entries) == (own.view(), own.entries)
    assert chains[world.pupil(1)].view()["custodian"]["staff_id"] == world.guard.staff_id
    school = app.school(world.school_id, readonly=True)
    held, pending = app.custody_of(school, world.guard.staff_id, on, "after_school")
    assert (list(held), pending) == ([world.pupil(1)], [])
