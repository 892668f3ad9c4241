"""DESIGN §3.7 Every read of a child's personal data by staff is recorded, and listed for audit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from service.domain.access import AccessRecord
from service.domain.errors import RuleError
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import Staff, World, a_school, add_staff
from tests.stores import every_store

READ = {"staff_id": "g1", "staff_name": "刘保安", "role": "guard", "at": "2026-11-23T16:30:00+08:00",
        "device": "east-gate-tablet", "what": "pupil", "pupil_ids": ["p1"], "data": ["profile"]}


# -- the aggregate -------------------------------------------------------------

def test_an_access_record_names_who_read_which_pupils_what_when_and_from_where() -> None:
    record = AccessRecord.of("s1", [READ, {**READ, "what": "roster", "pupil_ids": ["p1", "p2"]}])

    [recorded] = record.collect_events()

    assert isinstance(recorded, AccessRecord.Recorded)
    assert recorded.school_id == "s1"
    assert recorded.reads == [READ, {**READ, "what": "roster", "pupil_ids": ["p1", "p2"]}]


@pytest.mark.parametrize("reads", [[], [{**READ, "pupil_ids": []}], [{**READ, "staff_id": ""}],
                                   [{k: v for k, v in READ.items() if k != "device"}]])
def test_an_access_record_without_a_reader_pupils_or_data_is_refused(reads: list[dict[str, Any]]) -> None:
    with pytest.raises(RuleError):
        AccessRecord.of("s1", reads)


# -- recording and listing, in-memory store ----------------------------------------

def access_log(world: World, who: Staff | None = None, **query: str) -> list[dict[str, Any]]:
    """The school's access log, without the reads of the admin who set the school up."""
    r = world.client.get("/v1/access-log", params=query, headers=(who or world.admin).h())
    assert r.status_code == 200, r.text
    return [read for read in r.json()["reads"] if read["staff_id"] != world.admin.staff_id]


@pytest.mark.parametrize("store", ["memory"])
def test_a_guard_reading_a_pupil_is_recorded_with_role_device_and_what_was_read(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)

    r = client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.guard.h(**{"X-Device-Id": "east-gate-tablet"}))
    assert r.status_code == 200

    [read] = access_log(world, pupil=world.pupil(0), staff=world.guard.staff_id)
    assert (read["staff_id"], read["staff_name"], read["role"]) == (world.guard.staff_id, "刘保安", "guard")
    assert read["device"] == "east-gate-tablet" and read["what"] == "pupil"
    assert read["pupil_ids"] == [world.pupil(0)]
    assert read["data"] == ["collectors", "profile", "restrictions"]
    assert read["at"].startswith("2026-11-23T08:00")
    assert access_log(world, pupil=world.pupil(1), staff=world.guard.staff_id) == []
    # The admin's own set-up answers showed the pupil's whole record: recorded too.
    everything = client.get("/v1/access-log", params={"pupil": world.pupil(1)}, headers=world.admin.h())
    assert {(r["staff_id"], r["what"]) for r in everything.json()["reads"]} == {(world.admin.staff_id, "pupil")}


@pytest.fixture
def saved_only_when_asked(app: HandoverApp, settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The API with no background save of reads in the test's time: only a flush saves them."""
    rarely = settings.model_copy(update={"access_flush_interval": 60.0})
    with TestClient(create_app(rarely, application=app, clock=clock)) as client:
        yield client


@pytest.mark.parametrize("store", ["memory"])
def test_a_list_read_is_one_entry_naming_every_pupil_on_it(saved_only_when_asked: TestClient,
                                                          app: HandoverApp) -> None:
    client = saved_only_when_asked
    world = a_school(client, app, 3)
    app.access.flush()  # the set-up's answers
    before = app.recorder.max_notification_id()

    caught_up = {"min_position": before}
    assert client.get("/v1/roster", params=caught_up, headers=world.guard.h()).status_code == 200
    assert client.get("/v1/pupils", headers=world.teacher.h()).status_code == 200
    app.access.flush()

    assert app.recorder.max_notification_id() == (before or 0) + 1  # both reads, one event
    roster, listing = access_log(world)
    assert roster["what"] == "roster" and sorted(roster["pupil_ids"]) == sorted(world.pupil(i) for i in range(3))
    assert listing["what"] == "pupil_list" and listing["role"] == "teacher" and listing["data"] == ["profile"]


@pytest.mark.parametrize("store", ["memory"])
def test_the_homeroom_teachers_list_read_says_they_saw_their_class_s_contacts(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)

    client.get("/v1/afternoon", headers=world.homeroom.h())

    [read] = access_log(world, staff=world.homeroom.staff_id)
    assert read["what"] == "afternoon" and "contacts" in read["data"]
    assert sorted(read["pupil_ids"]) == sorted([world.pupil(0), world.pupil(1)])


@pytest.mark.parametrize("store", ["memory"])
def test_the_access_log_filters_by_staff_and_time_and_is_for_admins_and_inspectors(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.guard.h())
    clock.advance(minutes=90)
    client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.teacher.h())

    assert [r["role"] for r in access_log(world, world.inspector)] == ["guard", "teacher"]
    assert [r["role"] for r in access_log(world, staff=world.teacher.staff_id)] == ["teacher"]
    assert [r["role"] for r in access_log(world, None, **{"from": "2026-11-23T09:00"})] == ["teacher"]
    assert [r["role"] for r in access_log(world, to="2026-11-23T01:00:00+00:00")] == ["guard"]
    for who in (world.guard, world.teacher, add_staff(client, world.admin, "安全员", ["safety_officer"])):
        r = client.get("/v1/access-log", headers=who.h())
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("store", ["memory"])
def test_a_school_sees_only_reads_of_its_own_pupils(client: TestClient, app: HandoverApp) -> None:
    ours = a_school(client, app, 1, name="一小")
    theirs = a_school(client, app, 1, name="二小")
    client.get(f"/v1/pupils/{theirs.pupil(0)}", headers=theirs.guard.h())
    client.get(f"/v1/pupils/{ours.pupil(0)}", headers=ours.guard.h())

    assert [r["pupil_ids"] for r in access_log(ours)] == [[ours.pupil(0)]]
    assert access_log(ours, pupil=theirs.pupil(0)) == []


@pytest.mark.parametrize("store", ["memory"])
def test_reads_that_cannot_be_saved_stay_pending_show_in_health_and_logs_and_are_saved_later(
        client: TestClient, app: HandoverApp, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    world = a_school(client, app, 1)
    save = app.save

    def failing(*objs: Any, **kwargs: Any) -> Any:
        if any(isinstance(o, AccessRecord) for o in objs):
            raise OSError("disk full")
        return save(*objs, **kwargs)

    app.access.flush()  # the set-up's answers
    monkeypatch.setattr(app, "save", failing)
    caplog.set_level(logging.ERROR)
    client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.guard.h())

    r = client.get("/v1/access-log", headers=world.admin.h())
    assert r.status_code == 503 and "disk full" in r.json()["detail"]
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "failing"
    assert health.json()["access_recorder"]["pending"] == 1
    assert "disk full" in health.json()["access_recorder"]["error"]
    assert "access records not saved" in caplog.text

    monkeypatch.setattr(app, "save", save)
    assert [r["role"] for r in access_log(world)] == ["guard"]
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["access_recorder"]["pending"] == 0


@pytest.mark.parametrize("store", ["memory"])
def test_pending_reads_are_saved_when_the_service_stops(app: HandoverApp, settings: Settings,
                                                        clock: FixedClock) -> None:
    rarely = settings.model_copy(update={"access_flush_interval": 60.0})  # only the stop saves them
    with TestClient(create_app(rarely, application=app, clock=clock)) as client:
        world = a_school(client, app, 1)
        app.access.flush()  # the set-up's answers
        client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.guard.h())
        assert app.access.pending == 1

    assert app.access.pending == 0
    records = [n for n in app.recorder.select_notifications(start=1, limit=10_000)
               if n.topic.endswith("AccessRecord.Recorded")]
    record: AccessRecord = app.repository.get(UUID(str(records[-1].originator_id)))
    [read] = record.reads
    assert read["staff_id"] == world.guard.staff_id


# -- where the store matters: the record's JSON and the view, on every store -----------

@every_store
def test_a_recorded_read_is_listed_from_the_access_log_view(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    client.get(f"/v1/pupils/{world.pupil(0)}/afternoon", headers=world.guard.h(**{"X-Device-Id": "gate-1"}))

    [read] = access_log(world)

    assert read["device"] == "gate-1" and read["pupil_ids"] == [world.pupil(0)]
    assert read["what"] == "pupil_afternoon" and read["data"] == ["collectors", "custody", "profile"]


@pytest.mark.parametrize("store", ["memory"])
def test_a_time_outside_the_calendar_is_refused_as_a_problem(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)

    r = client.get("/v1/access-log", params={"from": "0001-01-01T00:00:00+01:00"}, headers=world.admin.h())

    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("store", ["memory"])
def test_reading_or_exporting_a_care_log_or_the_statements_is_recorded_naming_the_pupils_on_it(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    r = world.post(world.homeroom, "/v1/sign-ins", {"pupil_ids": [world.pupil(0), world.pupil(1)],
                                                    "place_id": world.group_id})
    assert r.status_code == 200, r.text
    head = {"min_position": app.recorder.max_notification_id()}
    inspector = world.inspector.h()
    assert client.get("/v1/care-log", params={"group_id": world.group_id, **head},
                      headers=inspector).status_code == 200
    assert client.get("/v1/care-log/export", params={"group_id": world.group_id, "format": "xlsx", **head},
                      headers=inspector).status_code == 200
    assert client.get("/v1/statements/pupils", params={"month": "2026-11", **head},
                      headers=inspector).status_code == 200
    app.access.flush()

    reads = {read["what"]: read for read in access_log(world) if read["role"] == "inspector"}
    both = sorted([world.pupil(0), world.pupil(1)])
    assert sorted(reads["care_log"]["pupil_ids"]) == both
    assert sorted(reads["care_log_export_xlsx"]["pupil_ids"]) == both
    assert reads["care_log"]["data"] == ["custody", "profile"]
    assert sorted(reads["statements"]["pupil_ids"]) == both
    assert "priority" in reads["statements"]["data"]
