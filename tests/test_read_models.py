"""DESIGN §2 The afternoon and the pupil list are read from the roster view, with the same answers,
the same cut per role and the same access log as a read of every pupil's aggregates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.projections.reads import ViewReads
from service.use_cases.clock import FixedClock
from tests.builders import (
    TERM,
    Staff,
    World,
    a_school,
    add_staff,
    enrolled_pupil,
    handed_to_teacher,
    key,
    walked_to_gate,
)
from tests.conftest import SHANGHAI
from tests.stores import every_store


@pytest.fixture
def afternoon(client: TestClient, app: HandoverApp, clock: FixedClock) -> Iterator[World]:
    """A school partway through an afternoon: absent, in custody, at the gate, refused, released,
    gone home early, withdrawn, renamed, tagged, moved to another class."""
    world = a_school(client, app, 8)
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI))
    assert world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(7), "with_leave": True,
                      "reason": "病假"}).status_code == 200
    world.pupils.pop()
    handed_to_teacher(world)
    walked_to_gate(world, [0, 1, 2])
    enrolled_pupil(world, "插班生", "新家长", "13900002222")  # nobody handed over yet: no chain
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    assert r.status_code == 200, r.text
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(1)], "gate_id": world.gate_id,
                   "identity_check": "known_to_staff", "adult": {"name": "陌生人", "phone": "13900001111"}})
    assert r.status_code == 422, r.text
    admin = world.admin
    assert world.post(admin, f"/v1/pupils/{world.pupil(3)}/enrolment-withdrawal",
                      {"on": "2026-11-23", "reason": "转学"}).status_code == 200
    r = client.put(f"/v1/pupils/{world.pupil(4)}/profile", json={"name": "王小明", "gender": "女"},
                   headers=admin.h(**key()))
    assert r.status_code == 200, r.text
    r = client.put(f"/v1/pupils/{world.pupil(5)}/tags", json={"tags": ["留守"]}, headers=admin.h(**key()))
    assert r.status_code == 200, r.text
    other = client.post("/v1/school/classes", json={"grade": 3, "class_no": 1}, headers=admin.h(**key()))
    assert other.status_code == 201, other.text
    r = client.put(f"/v1/pupils/{world.pupil(6)}/class", json={"class_id": other.json()["class_id"]},
                   headers=admin.h(**key()))
    assert r.status_code == 200, r.text
    r = client.post("/v1/pupils", json={"name": "未报名", "gender": "男", "class_id": world.class_id,
                    "guardians": []}, headers=admin.h(**key()))
    assert r.status_code == 201, r.text
    pid = r.json()["pupil_id"]
    assert client.post(f"/v1/pupils/{pid}/enrolment/apply", json=TERM, headers=admin.h(**key())).status_code == 200
    yield world


def _both(client: TestClient, monkeypatch: pytest.MonkeyPatch, app: HandoverApp, path: str,
          who: Staff, **params: Any) -> tuple[Any, Any, list[Any], list[Any]]:
    """The answer from the views and from the aggregates, and what each noted in the access log."""
    notes: list[Any] = []
    loads: list[str] = []
    real_note, real_pupil = app.access.note, app.pupil

    def note(actor: Any, what: str, reads: dict[tuple[str, ...], list[str]]) -> None:
        notes.append((actor.staff_id, what, {k: sorted(v) for k, v in reads.items()}))
        real_note(actor, what, reads)

    def pupil(*args: Any, **kwargs: Any) -> Any:
        loads.append(args[1])
        return real_pupil(*args, **kwargs)

    monkeypatch.setattr(app.access, "note", note)
    monkeypatch.setattr(app, "pupil", pupil)
    r = client.get(path, params=params, headers=who.h())
    assert r.status_code == 200, r.text
    assert loads == [], "the views answer without loading a pupil"
    from_views, noted = r.json(), list(notes)
    notes.clear()
    with monkeypatch.context() as m:
        m.setattr(ViewReads, "_caught_up", lambda self: False)
        r = client.get(path, params=params, headers=who.h())
    assert r.status_code == 200, r.text
    listed = from_views["pupils"] if isinstance(from_views, dict) else from_views
    assert loads or not listed, "the aggregates were read"
    return from_views, r.json(), noted, list(notes)


@every_store
def test_the_afternoon_from_the_views_is_the_afternoon_from_the_aggregates_for_every_reader(
        client: TestClient, app: HandoverApp, afternoon: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world = afternoon
    readers = [world.admin, world.homeroom, world.teacher, world.guard, world.inspector,
               add_staff(client, world.admin, "值日领导", ["duty_leader"])]
    for who in readers:
        for params in ({}, {"class_id": world.class_id}, {"day": "2026-11-22"}, {"session": "evening"}):
            views, aggregates, noted_views, noted_aggregates = _both(client, monkeypatch, app, "/v1/afternoon",
                                                                     who, **params)
            assert views == aggregates, (who, params)
            assert noted_views == noted_aggregates
    views, _, _, _ = _both(client, monkeypatch, app, "/v1/afternoon", world.admin)
    assert views["counts"] == {"gone": 1, "in_custody": 5, "absent": 1, "not_handed_over": 1}
    assert views["expected"] == 8  # the withdrawn pupil and the one only applied are not expected
    gone = next(p for p in views["pupils"] if p["status"] == "gone")
    assert gone["refusals"] == 0 and gone["version"] > 1
    guard_view, _, _, _ = _both(client, monkeypatch, app, "/v1/afternoon", world.guard)
    assert next(p for p in guard_view["pupils"] if p["status"] == "gone")["gone"]["adult"]["phone"] is None


@every_store
def test_the_pupil_list_from_the_views_is_the_list_from_the_aggregates_for_every_reader(
        client: TestClient, app: HandoverApp, afternoon: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world = afternoon
    for who in (world.admin, world.homeroom, world.teacher, world.guard, world.inspector):
        for params in ({}, {"class_id": world.class_id}, {"q": "王小"}, {"q": "学生"}, {"q": " "}):
            views, aggregates, noted_views, noted_aggregates = _both(client, monkeypatch, app, "/v1/pupils",
                                                                     who, **params)
            assert views == aggregates, (who, params)
            assert noted_views == noted_aggregates
    listed, _, _, _ = _both(client, monkeypatch, app, "/v1/pupils", world.admin)
    assert len(listed["pupils"]) == listed["total"] == 10
    assert {p["name"]: p["tags"] for p in listed["pupils"]}["学生5"] == ["留守"]
    teacher_view, _, _, _ = _both(client, monkeypatch, app, "/v1/pupils", world.teacher)
    assert {p["name"]: p["tags"] for p in teacher_view["pupils"]}["学生5"] is None


def test_the_afternoon_a_write_just_made_shows_is_read_from_the_views_at_once(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI))
    for i in range(2):
        r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(i), "with_leave": False})
        assert r.status_code == 200, r.text
        r = client.get("/v1/afternoon", headers=world.admin.h())
        assert r.json()["counts"] == {"absent": i + 1, **({"not_handed_over": 1} if i == 0 else {})}


def test_a_stuck_view_leaves_the_afternoon_to_the_aggregates(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    views = client.app.state.views  # type: ignore[attr-defined]
    views.stop()
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI))
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": True})
    assert r.status_code == 200, r.text
    reads = ViewReads(views, timeout=0.2)
    assert reads.pupils(world.school_id) is None
    r = client.get("/v1/afternoon", headers=world.admin.h())
    assert r.status_code == 200 and r.json()["counts"] == {"absent": 1, "not_handed_over": 1}


@every_store
def test_the_roster_cache_holds_what_the_view_holds_as_the_afternoon_goes_on_and_after_a_rebuild(
        client: TestClient, app: HandoverApp, afternoon: World) -> None:
    world = afternoon
    views = client.app.state.views  # type: ignore[attr-defined]
    cache, view = views.roster_cache, views.view("roster")
    prefixes = [f"pupil/{world.school_id}/", f"day/{world.school_id}/2026-11-23/after_school/"]

    def caught_up() -> None:
        views.runners["roster"].wait(app.recorder.max_notification_id(), timeout=10)

    def same() -> None:
        caught_up()
        for prefix in prefixes:
            assert cache.scan(prefix) == view.scan(prefix), prefix

    same()
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(1)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": world.guardian(1)["guardian_id"]})
    assert r.status_code == 200, r.text
    same()
    r = client.put(f"/v1/pupils/{world.pupil(2)}/profile", json={"name": "李小红", "gender": "女"},
                   headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text
    newcomer = enrolled_pupil(world, "又一插班生", "家长", "13900003333")
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": newcomer["pupil_id"], "with_leave": False})
    assert r.status_code == 200, r.text
    same()
    assert any(d["name"] == "李小红" for d in cache.scan(prefixes[0]).values())
    views.stop()
    view.reset()
    views.runners["roster"].catch_up()
    same()
