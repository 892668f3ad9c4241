"""Incidents as the staff meet them: reported from a phone, guardians told, closed, and the gate's
refusals gathered into the pupil's incident of the day (the in-memory store, over HTTP)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.application import HandoverApp
from tests.builders import Staff, World, a_school, add_staff, handed_to_teacher, walked_to_gate
from tests.test_gate_guards import a_paired_tablet, with_pin


def injury(world: World, **extra: Any) -> dict[str, Any]:
    return {"kind": "injury", "severity": "minor", "description": "跑步时摔倒，膝盖擦伤",
            "pupil_ids": [world.pupil(0)], "place_id": world.group_id, "where": "操场东侧",
            "witnesses": ["王同学"], "first_aid": "冰敷、创可贴", **extra}


def alerts(world: World, position: str, kind: str) -> list[dict[str, Any]]:
    r = world.client.get("/v1/alerts", params={"min_position": position, "kind": kind},
                         headers=world.admin.h())
    assert r.status_code == 200, r.text
    return list(r.json()["alerts"])


def test_an_injury_alerts_until_the_guardian_is_reached_and_only_then_closes(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=2)
    safety = add_staff(client, world.admin, "孙安全", ["safety_officer"])
    r = world.post(world.teacher, "/v1/incidents", injury(world))
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["first_aid"]["given_by"]["staff_id"] == world.teacher.staff_id
    assert incident["guardians_pending"] == [world.pupil(0)] and incident["status"] == "open"
    [alert] = alerts(world, r.headers["X-Log-Position"], "incident_guardian")
    assert alert["status"] == "open" and alert["subject"]["pupil_id"] == world.pupil(0)
    assert "学生0" in alert["detail"] and "受伤" in alert["detail"]

    path = f"/v1/incidents/{incident['incident_id']}"
    r = world.post(safety, f"{path}/steps", {"step": "close", "text": "已处理"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    r = world.post(world.teacher, f"{path}/guardian-notifications",
                   {"pupil_id": world.pupil(0), "guardian": "家长0", "how": "phone", "reached": False,
                    "note": "无人接听"})
    assert r.status_code == 200 and r.json()["guardians_pending"] == [world.pupil(0)]
    r = world.post(world.teacher, f"{path}/guardian-notifications",
                   {"pupil_id": world.pupil(0), "guardian": "家长0", "how": "phone", "reached": True})
    assert r.status_code == 200 and r.json()["guardians_pending"] == []
    [alert] = alerts(world, r.headers["X-Log-Position"], "incident_guardian")
    assert alert["status"] == "resolved" and alert["resolved"]["how"] == "handed_to_guardian"

    r = world.post(world.teacher, f"{path}/steps", {"step": "close", "text": "已处理"})
    assert r.status_code == 403  # a teacher reports and acts; the safety officer closes
    r = world.post(world.teacher, f"{path}/steps", {"step": "escalate", "to": ["安全副校长"],
                                                    "text": "已报领导小组"})
    assert r.status_code == 200 and r.json()["escalated"] is True
    r = world.post(safety, f"{path}/steps", {"step": "close", "text": "家长接回，无大碍"})
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed" and closed["outcome"] == "家长接回，无大碍"
    assert [s["step"] for s in closed["steps"]] == [
        "reported", "guardian_notified", "guardian_notified", "escalated", "closed"]
    assert closed["steps"][-1]["by"]["staff_id"] == safety.staff_id


def test_a_missing_pupil_is_escalated_to_the_top_at_once(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    r = world.post(world.teacher, "/v1/incidents", {
        "kind": "missing_pupil", "severity": "critical", "description": "点名时发现不在教室",
        "pupil_ids": [world.pupil(0)], "where": "三年级作业组"})
    assert r.status_code == 201, r.text
    [alert] = alerts(world, r.headers["X-Log-Position"], "missing_pupil")
    policy = client.get("/v1/school/alert-policy", headers=world.admin.h()).json()["unpicked_steps"]
    assert alert["level"] == len(policy)
    assert [s["notify"] for s in alert["steps"]] == [s["notify"] for s in policy]
    assert "safety_officer" in alert["steps"][-1]["notify"] and "学生0" in alert["detail"]


def test_every_refusal_at_the_gate_joins_the_pupils_attempted_collection_incident(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=2)
    handed_to_teacher(world)
    walked_to_gate(world, [0, 1])
    for stranger in ("陌生人甲", "陌生人乙"):
        r = world.post(world.guard, "/v1/releases", {
            "pupil_ids": [world.pupil(0)], "gate_id": world.gate_id, "identity_check": "id_card",
            "adult": {"name": stranger}})
        assert r.status_code == 422, r.text
    r = client.get("/v1/incidents", params={"min_position": r.headers["X-Log-Position"]},
                   headers=world.admin.h())
    assert r.status_code == 200, r.text
    [incident] = r.json()["incidents"]
    assert incident["kind"] == "attempted_collection" and incident["pupil_ids"] == [world.pupil(0)]
    assert incident["refusals"] == 2 and incident["status"] == "open"
    name = world.pupils[0]["name"]
    assert incident["description"] == f"陌生人甲 试图接走 {name}，被拒绝放行（此人不在授权接送名单）"
    full = client.get(f"/v1/incidents/{incident['incident_id']}", headers=world.admin.h()).json()
    assert [f["adult"]["name"] for f in full["refusals"]] == ["陌生人甲", "陌生人乙"]
    assert [f["seq"] for f in full["refusals"]] == sorted(f["seq"] for f in full["refusals"])


def test_an_incident_is_read_by_its_reporter_and_the_leadership_only(client: TestClient,
                                                                      app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    other = a_school(client, app, pupils=1, name="另一所小学")
    r = world.post(world.teacher, "/v1/incidents", injury(world))
    path = f"/v1/incidents/{r.json()['incident_id']}"
    assert client.get(path, headers=world.teacher.h()).status_code == 200
    assert client.get(path, headers=world.inspector.h()).status_code == 200
    assert client.get(path, headers=world.club_teacher.h()).status_code == 403
    assert client.get(path, headers=other.admin.h()).status_code == 404
    assert client.get("/v1/incidents", headers=world.club_teacher.h()).status_code == 403
    assert client.get("/v1/incidents", headers=other.admin.h()).json()["incidents"] == []
    r = world.post(world.inspector, "/v1/incidents", injury(world))
    assert r.status_code == 403  # inspectors read and never write


def test_a_bad_report_is_refused_and_records_nothing(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    other = a_school(client, app, pupils=1, name="另一所小学")
    before = app.recorder.max_notification_id()
    for body, status in [({"kind": "fire", "description": "x"}, 422),
                         (injury(world, pupil_ids=[]), 422),
                         (injury(world, description="   "), 422),
                         (injury(world, pupil_ids=[other.pupil(0)]), 404),
                         (injury(world, place_id="nowhere"), 422),
                         (injury(world, first_aid_by=other.admin.staff_id), 422),
                         (injury(world, day="1900-01-01"), 422),
                         (injury(world, session="zzz"), 422)]:
        r = world.post(world.teacher, "/v1/incidents", body)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert app.recorder.max_notification_id() == before
    staff = Staff(world.teacher.staff_id, world.teacher.token)
    r = world.post(staff, "/v1/incidents/not-a-uuid/steps", {"step": "action", "text": "x"})
    assert r.status_code == 404


def test_only_the_reporter_and_those_who_handle_incidents_act_on_one(client: TestClient,
                                                                     app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    duty = add_staff(client, world.admin, "吴值班", ["duty_leader"])
    r = world.post(world.teacher, "/v1/incidents", injury(world))
    path = f"/v1/incidents/{r.json()['incident_id']}"
    told = {"pupil_id": world.pupil(0), "guardian": "随便谁", "how": "phone", "reached": True}
    for stranger in (world.guard, world.club_teacher):
        r = world.post(stranger, f"{path}/guardian-notifications", told)
        assert r.status_code == 403 and "description" not in r.text
        r = world.post(stranger, f"{path}/steps", {"step": "action", "text": "看了一眼"})
        assert r.status_code == 403 and "跑步时摔倒" not in r.text
    assert world.post(world.teacher, f"{path}/steps", {"step": "action", "text": "已冰敷"}).status_code == 200
    r = world.post(duty, f"{path}/guardian-notifications", {**told, "guardian": "家长0"})
    assert r.status_code == 200 and r.json()["guardians_pending"] == []
    seq = r.json()["steps"][-1]["seq"]
    assert world.post(duty, f"{path}/steps", {"step": "close", "text": "家长接回"}).status_code == 200
    # Closed: a correction would reopen what closing settled.
    r = world.post(duty, f"{path}/steps", {"step": "correct", "corrects": seq, "text": "记错了"})
    assert r.status_code == 409
    assert world.post(duty, f"{path}/steps", {"step": "acknowledge", "pupil_id": world.pupil(0),
                                              "text": "家长知悉"}).status_code == 200


def test_a_missing_pupil_found_closes_its_top_level_alert(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    safety = add_staff(client, world.admin, "孙安全", ["safety_officer"])
    r = world.post(world.teacher, "/v1/incidents", {
        "kind": "missing_pupil", "severity": "critical", "description": "点名时发现不在教室",
        "pupil_ids": [world.pupil(0)]})
    path = f"/v1/incidents/{r.json()['incident_id']}"
    r = world.post(safety, f"{path}/guardian-notifications",
                   {"pupil_id": world.pupil(0), "guardian": "家长0", "how": "phone", "reached": True})
    r = world.post(safety, f"{path}/steps", {"step": "close", "text": "在图书馆找到"})
    assert r.status_code == 200, r.text
    [alert] = alerts(world, r.headers["X-Log-Position"], "missing_pupil")
    assert alert["status"] == "resolved" and alert["resolved"]["how"] == "found"


def test_only_whoever_recorded_a_step_or_an_admin_duty_leader_or_safety_officer_corrects_it(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    safety = add_staff(client, world.admin, "孙安全", ["teacher", "safety_officer"])
    r = world.post(world.teacher, "/v1/incidents", injury(world))
    path = f"/v1/incidents/{r.json()['incident_id']}"
    r = world.post(world.teacher, f"{path}/guardian-notifications",
                   {"pupil_id": world.pupil(0), "guardian": "家长0", "how": "phone", "reached": True})
    assert r.status_code == 200 and r.json()["guardians_pending"] == []
    seq = r.json()["steps"][-1]["seq"]

    r = world.post(world.club_teacher, f"{path}/steps", {"step": "correct", "corrects": seq, "text": "没联系上"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    r = world.post(safety, f"{path}/steps", {"step": "correct", "corrects": seq, "text": "没联系上"})
    assert r.status_code == 200, r.text
    assert r.json()["voided"] == [seq] and r.json()["guardians_pending"] == [world.pupil(0)]
    assert [s["step"] for s in r.json()["steps"]] == ["reported", "guardian_notified", "corrected"]


def test_two_reports_sent_without_a_command_id_at_the_same_moment_are_two_incidents(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    first, second = (client.post("/v1/incidents", json=injury(world), headers=world.teacher.h())
                     for _ in range(2))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["incident_id"] != second.json()["incident_id"]


def test_a_guardian_reached_is_one_on_the_pupils_file(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    r = world.post(world.teacher, "/v1/incidents", injury(world))
    path = f"/v1/incidents/{r.json()['incident_id']}"
    r = world.post(world.teacher, f"{path}/guardian-notifications",
                   {"pupil_id": world.pupil(0), "guardian": "随便谁", "how": "phone", "reached": True})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = world.post(world.teacher, f"{path}/guardian-notifications",
                   {"pupil_id": world.pupil(0), "guardian": "家长\u200b0", "how": "phone", "reached": True})
    assert r.status_code == 200 and r.json()["guardians_pending"] == []
    assert r.json()["steps"][-1]["guardian"] == "家长0（母亲）"


def test_a_gate_tablet_reports_an_incident_only_under_the_guard_signed_on_at_it(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=1)
    tablet = a_paired_tablet(world)
    with_pin(world, world.guard, "2580")
    report = {**injury(world), "place_id": world.gate_id, "where": "东门"}
    r = world.post(tablet, "/v1/incidents", report)
    assert r.status_code == 422 and r.json()["type"].endswith("/guard-not-signed-on"), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/v1/incidents", headers=world.admin.h(),
                        params={"min_position": r.headers.get("X-Log-Position", "0")})
    assert listed.status_code == 200 and listed.json()["incidents"] == [], listed.text
    r = world.post(tablet, "/v1/gate/guards/sign-on", {"staff_id": world.guard.staff_id, "pin": "2580"})
    assert r.status_code == 201, r.text
    r = world.post(tablet, "/v1/incidents", report, **{"X-Guard-Id": world.guard.staff_id})
    assert r.status_code == 201, r.text
    by = r.json()["reported_by"]
    assert (by["staff_id"], by["device"]) == (world.guard.staff_id, tablet.staff_id), by
