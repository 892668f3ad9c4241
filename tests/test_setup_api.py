"""School set-up, pupils and enrolment over HTTP: every setting change is an event naming who."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.domain.schedule import default_schedule
from tests.builders import TERM, a_school, enrolled_pupil, key


def test_a_new_school_has_the_default_schedule_and_its_admin(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    school = client.get("/v1/school", headers=world.admin.h()).json()
    assert school["timezone"] == "Asia/Shanghai"
    assert [s["key"] for s in school["schedule"]["sessions"]] == ["noon", "after_school"]
    assert {s["name"]: s["roles"] for s in school["staff"]}["王校长"] == ["admin"]


def test_a_schedule_with_seasons_sessions_and_holidays_is_stored_and_applied(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    schedule = default_schedule().to_dict()
    schedule["no_service_dates"] = ["2026-11-23"]
    schedule["sessions"].append({"key": "evening", "name": "晚自习", "start": "18:15",
                                 "dismissals": {"upper": "19:30"}, "weekdays": [1, 2, 3, 4], "seasons": []})
    r = client.put("/v1/school/schedule", json=schedule, headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text
    assert r.json()["no_service_dates"] == ["2026-11-23"]
    # No service today: nobody is expected and nothing can be recorded for today.
    assert client.get("/v1/afternoon", headers=world.admin.h()).json()["expected"] == 0
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": True})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "day"


def test_an_invalid_schedule_is_refused_naming_the_field(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    schedule = default_schedule().to_dict()
    schedule["sessions"][1]["dismissals"]["nobody"] = "17:00"
    r = client.put("/v1/school/schedule", json=schedule, headers=world.admin.h(**key()))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"].startswith("schedule.sessions[1]")
    after = client.get("/v1/school/schedule", headers=world.admin.h()).json()
    assert after == default_schedule().to_dict()


def test_friday_has_no_after_school_service_by_default(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = client.get("/v1/afternoon", params={"day": "2026-11-27"}, headers=world.admin.h())
    assert r.json()["service"] is False and r.json()["pupils"] == []


def test_the_same_class_twice_is_a_conflict(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = world.post(world.admin, "/v1/school/classes", {"grade": 3, "class_no": 2})
    assert r.status_code == 409


def test_enrolment_moves_one_step_at_a_time(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = world.post(world.admin, "/v1/pupils", {"name": "新生", "gender": "女", "class_id": world.class_id,
                   "guardians": [{"name": "新家长", "phone": "13912345678"}]})
    pid = r.json()["pupil_id"]
    assert r.json()["enrolment"]["status"] == "none"
    skipped = world.post(world.admin, f"/v1/pupils/{pid}/enrolment/signed", {})
    assert skipped.status_code == 409 and skipped.json()["current_state"]["status"] == "none"
    world.post(world.admin, f"/v1/pupils/{pid}/enrolment/apply", TERM)
    out_of_order = world.post(world.admin, f"/v1/pupils/{pid}/enrolment/school_approved", {})
    assert out_of_order.status_code == 409


def test_only_signed_current_enrolments_are_expected(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    r = world.post(world.admin, "/v1/pupils", {"name": "未签约", "gender": "男", "class_id": world.class_id})
    world.post(world.admin, f"/v1/pupils/{r.json()['pupil_id']}/enrolment/apply", TERM)
    world.post(world.admin, f"/v1/pupils/{world.pupil(1)}/enrolment-withdrawal",
               {"on": "2026-11-20", "reason": "家长接回"})
    today = client.get("/v1/afternoon", headers=world.admin.h()).json()
    assert [p["pupil_id"] for p in today["pupils"]] == [world.pupil(0)]
    before = client.get("/v1/afternoon", params={"day": "2026-11-19"}, headers=world.admin.h()).json()
    assert before["expected"] == 2


def test_a_withdrawn_pupil_cannot_be_handed_over(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/enrolment-withdrawal", {"on": "2026-11-23", "reason": "转学"})
    r = world.post(world.homeroom, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": 1,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    assert r.status_code == 422


def test_every_pupil_change_names_who_made_it(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/authorisations",
                   {"name": "奶奶", "relation": "奶奶", "valid_from": "2026-09-01", "valid_to": "2027-01-31",
                    "given_by_guardian_id": world.guardian(0)["guardian_id"], "via": "written"})
    grandma = r.json()["authorisations"][0]
    assert grandma["recorded_by"]["staff_id"] == world.admin.staff_id
    assert grandma["given_by_guardian_id"] == world.guardian(0)["guardian_id"]
    assert grandma["recorded_by"]["at"].startswith("2026-11-23")


def test_priority_tags_are_limited_to_the_policy_groups(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    ok = client.put(f"/v1/pupils/{world.pupil(0)}/tags", json={"tags": ["留守", "困难"]},
                    headers=world.admin.h(**key()))
    assert ok.status_code == 200 and ok.json()["tags"] == ["困难", "留守"]
    bad = client.put(f"/v1/pupils/{world.pupil(0)}/tags", json={"tags": ["VIP"]}, headers=world.admin.h(**key()))
    assert bad.status_code == 422


def test_groups_are_proposed_from_signed_enrolments(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    other = world.post(world.admin, "/v1/school/classes", {"grade": 3, "class_no": 1}).json()["class_id"]
    world.class_id = other
    enrolled_pupil(world, "一班学生", "一班家长", "13700000001")
    r = client.get("/v1/school/group-proposal", headers=world.admin.h())
    assert r.status_code == 200
    [group] = r.json()
    assert group["count"] == 4 and sorted(group["class_ids"]) == sorted([other, world.pupils[0]["class_id"]])
