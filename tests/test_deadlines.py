"""DESIGN §3.3 Every expected pupil has a deadline, and §3.1 counts: use cases on the in-memory store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.clock import FixedClock
from service.watcher import Watcher
from tests.builders import World, a_school, handed_to_teacher
from tests.conftest import SHANGHAI

# Grade 3 is the middle band: dismissal 17:20 in autumn, plus 10 minutes' grace.
DEADLINE = datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI)


@pytest.fixture
def store() -> str:
    return "memory"  # these rules do not depend on the store


def watch(client: TestClient) -> dict[str, int]:
    return Watcher(client.app.state.handover, client.app.state.views).run_once()  # type: ignore[attr-defined]


def alerts(world: World, kind: str) -> list[dict[str, Any]]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = world.client.get("/v1/alerts", params={"kind": kind, "min_position": head}, headers=world.admin.h())
    assert r.status_code == 200, r.text
    return list(r.json()["alerts"])


# -- counts --------------------------------------------------------------------

def test_a_handover_whose_count_differs_from_the_pupils_named_is_flagged_when_offered(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 2,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    assert r.status_code == 201 and r.json()["mismatch"] is True
    [alert] = alerts(world, "count_mismatch")
    assert alert["subject"]["handover_id"] == r.json()["handover_id"]
    assert alert["subject"]["count_given"] == 2 and len(alert["subject"]["pupil_ids"]) == 3
    # Confirming it later raises no second alert for the same handover.
    c = world.post(world.teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 3})
    assert c.status_code == 200 and c.json()["mismatch"] is True
    assert len(alerts(world, "count_mismatch")) == 1


def test_a_handover_whose_count_matches_raises_no_alert_when_offered(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 2,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    assert r.status_code == 201 and r.json()["mismatch"] is False
    assert alerts(world, "count_mismatch") == []


# -- the gate search -------------------------------------------------------------

@pytest.mark.parametrize(("name", "typed"), [
    ("曾昊杰", "zhj"), ("曾昊杰", "chj"), ("单雨", "sy"), ("单雨", "cy"), ("解小明", "xxm"),
    ("仇敌", "qd"), ("区小明", "oxm"), ("查理", "zl"), ("查理", "cl"),
])
def test_initials_match_every_reading_of_a_polyphonic_character(name: str, typed: str) -> None:
    from service.projections.roster import initial_options, initials_match

    assert initials_match(typed, initial_options(name))
    assert not initials_match(typed + "q", initial_options(name))  # longer than the name


def test_a_guard_typing_zhj_finds_zeng_haojie(client: TestClient, app: HandoverApp) -> None:
    from tests.builders import enrolled_pupil

    world = a_school(client, app, 1)
    world.pupils.append(enrolled_pupil(world, "曾昊杰", "曾爸爸", "13512345678"))
    head = app.recorder.max_notification_id()
    for typed in ("zhj", "chj", "zh"):
        r = client.get("/v1/roster", params={"q": typed, "min_position": head}, headers=world.guard.h())
        assert r.status_code == 200, r.text
        assert [p["name"] for p in r.json()["pupils"]] == ["曾昊杰"], typed


# -- who is still in the school ----------------------------------------------------

def test_still_in_school_lists_a_pupil_expected_but_never_handed_over(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(2), "with_leave": True, "reason": "病假"})
    r = world.post(world.homeroom, "/v1/sign-ins", {"pupil_ids": [world.pupil(0)], "place_id": world.group_id})
    assert r.status_code == 200, r.text
    head = app.recorder.max_notification_id()
    found = client.get("/v1/roster", params={"min_position": head}, headers=world.admin.h()).json()
    # Pupil 1 was never handed over and is still the school's; pupil 2 is absent with leave.
    assert sorted(found["still_in_school"]) == sorted([world.pupil(0), world.pupil(1)])
    by_gate = client.get("/v1/roster", params={"gate_id": world.gate_id}, headers=world.admin.h()).json()
    assert by_gate["pupils"] == [] and by_gate["still_in_school"] == found["still_in_school"]
