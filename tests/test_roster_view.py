"""The roster view: built from the log on every store, exactly once, resumable and rebuildable;
searched and filtered (in the projection's code, whatever the store) on the memory store."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.projections.roster import Roster, read_roster
from service.projections.runtime import Runner
from tests.builders import World, a_school, enrolled_pupil, handed_to_teacher, walked_to_gate
from tests.stores import every_store

DAY = date(2026, 11, 23)


def an_afternoon(client: TestClient, app: HandoverApp) -> tuple[World, int]:
    world = a_school(client, app, 4)
    world.pupils.append(enrolled_pupil(world, "张小明", "张爸爸", "13512345678"))
    world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(3), "with_leave": True, "reason": "病假"})
    handed_to_teacher(world)
    walked_to_gate(world, [0, 1])
    world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
               "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(1)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "adult": {"name": "陌生人"}})
    return world, int(r.headers["X-Log-Position"])


def stop_the_views(client: TestClient) -> None:
    """What runs on the views stops first: the deliverer would otherwise wait out its catch-up
    timeout on an outbox view that no longer moves, when the client shuts down."""
    state = client.app.state  # type: ignore[attr-defined]
    state.deliverer.stop()
    state.watcher.stop()
    state.views.stop()


def roster(world: World, **params: object) -> dict:  # type: ignore[type-arg]
    r = world.client.get("/v1/roster", params=params, headers=world.admin.h())
    assert r.status_code == 200, r.text
    return dict(r.json())


@every_store
def test_the_roster_reflects_a_write_as_soon_as_asked(client: TestClient, app: HandoverApp) -> None:
    world, position = an_afternoon(client, app)
    found = roster(world, min_position=position)
    by_id = {p["pupil_id"]: p for p in found["pupils"]}
    assert found["position"] >= position
    assert by_id[world.pupil(0)]["status"] == "gone"
    assert by_id[world.pupil(1)]["status"] == "in_custody" and by_id[world.pupil(1)]["refusals"] == 1
    assert by_id[world.pupil(1)]["gate_id"] == world.gate_id
    assert by_id[world.pupil(3)]["status"] == "absent" and by_id[world.pupil(3)]["with_leave"] is True
    assert found["counts"]["by_status"] == {"gone": 1, "in_custody": 3, "absent": 1}
    assert found["counts"]["by_gate"][world.gate_id] == {"gone": 1, "in_custody": 1}
    assert sorted(found["still_in_school"]) == sorted([world.pupil(1), world.pupil(2), world.pupils[4]["pupil_id"]])


@every_store
def test_the_roster_agrees_with_the_aggregates(client: TestClient, app: HandoverApp) -> None:
    world, position = an_afternoon(client, app)
    found = roster(world, min_position=position)
    truth = client.get("/v1/afternoon", headers=world.admin.h()).json()
    keys = ("status", "custodian", "place", "pending", "gone", "with_leave")
    assert {p["pupil_id"]: [p[k] for k in keys] for p in found["pupils"]} == \
           {p["pupil_id"]: [p[k] for k in keys] for p in truth["pupils"]}


def test_the_roster_is_searched_by_pinyin_initials_name_and_class(client: TestClient, app: HandoverApp) -> None:
    world, position = an_afternoon(client, app)
    assert [p["name"] for p in roster(world, q="zxm", min_position=position)["pupils"]] == ["张小明"]
    assert [p["name"] for p in roster(world, q="小明")["pupils"]] == ["张小明"]
    assert len(roster(world, q="三(2)班")["pupils"]) == 5
    assert len(roster(world, q="3年级2班")["pupils"]) == 5
    assert roster(world, q="四(1)班")["pupils"] == []


def test_the_roster_filters_by_group_and_gate(client: TestClient, app: HandoverApp) -> None:
    world, position = an_afternoon(client, app)
    at_gate = roster(world, gate_id=world.gate_id, min_position=position)["pupils"]
    assert sorted(p["pupil_id"] for p in at_gate) == sorted([world.pupil(0), world.pupil(1)])
    in_group = roster(world, group_id=world.group_id)["pupils"]
    assert sorted(p["pupil_id"] for p in in_group) == sorted([world.pupil(2), world.pupils[4]["pupil_id"]])


@every_store
def test_a_rebuild_from_zero_equals_the_incremental_view(client: TestClient, app: HandoverApp) -> None:
    world, position = an_afternoon(client, app)
    before = roster(world, min_position=position)
    runner = client.app.state.views.runners["roster"]  # type: ignore[attr-defined]
    runner.stop()
    runner.view.reset()
    assert runner.position == 0
    runner.catch_up()
    after = roster(world)
    # Everything but the position: other parts of the service may have written since.
    assert {k: v for k, v in after.items() if k != "position"} == \
           {k: v for k, v in before.items() if k != "position"}


@every_store
def test_a_runner_killed_mid_stream_resumes_without_losing_or_repeating(client: TestClient, app: HandoverApp) -> None:
    world, position = an_afternoon(client, app)
    expected = roster(world, min_position=position)
    view = client.app.state.views.view("roster")  # type: ignore[attr-defined]
    stop_the_views(client)
    view.reset()
    first = Runner(app, Roster(view), batch_size=7)
    first.run_once()
    first.run_once()  # ...and the process dies here
    assert 0 < first.position < position
    second = Runner(app, Roster(view), batch_size=7)
    second.catch_up()
    rebuilt = read_roster(view, world.school_id, DAY, "after_school")
    assert rebuilt is not None
    assert rebuilt["pupils"] == expected["pupils"]


@every_store
def test_two_runners_on_one_view_apply_each_event_once(client: TestClient, app: HandoverApp) -> None:
    world, position = an_afternoon(client, app)
    expected = roster(world, min_position=position)
    view = client.app.state.views.view("roster")  # type: ignore[attr-defined]
    stop_the_views(client)
    view.reset()
    a, b = Runner(app, Roster(view), batch_size=5), Runner(app, Roster(view), batch_size=5)
    while a.run_once() + b.run_once():
        pass
    rebuilt = read_roster(view, world.school_id, DAY, "after_school")
    assert rebuilt is not None and rebuilt["pupils"] == expected["pupils"]
