"""DESIGN §3.3 Every expected pupil has a deadline, and §3.1 counts: use cases on the in-memory store."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.domain.refs import ActorRecord
from service.use_cases.clock import FixedClock
from service.workers.watcher import Watcher
from tests.builders import TERM, World, a_school, handed_to_teacher, key
from tests.conftest import SHANGHAI
from tests.refs import CLUB_ROOM, actor, adult, by, place, staff

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

def test_a_handover_whose_count_differs_from_the_pupils_named_is_flagged_when_offered(
        client: TestClient, app: HandoverApp) -> None:
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


# -- every expected pupil has a deadline ---------------------------------------------

def a_class_recorded_before_grades_were_checked(world: World, app: HandoverApp, grade: int) -> str:
    """A class as an older version accepted it: recorded without today's rules (an old log)."""
    school = app.school(world.school_id)
    class_id = f"old-{grade}"
    school._class_added(class_id=class_id, grade=grade, class_no=1, label=f"{grade}年级(1)班",
                        homeroom_teacher_id=world.homeroom.staff_id, by=an_admin(world))
    app.save(school)
    return class_id


def an_admin(world: World) -> ActorRecord:
    return actor(world.admin.staff_id, "王校长", "admin")


def a_pupil_in(world: World, class_id: str, name: str, sessions: tuple[str, ...] = ("after_school",),
               app: HandoverApp | None = None) -> str:
    """A pupil enrolled through the API; with ``app``, applied as an old log holds it (before the
    service refused care in a session the pupil's grade band does not attend)."""
    c, h = world.client, world.admin.h
    r = c.post("/v1/pupils", json={"name": name, "gender": "女", "class_id": class_id,
               "guardians": [{"name": "家长", "relation": "母亲", "phone": "13900139000"}]}, headers=h(**key()))
    assert r.status_code == 201, r.text
    pid = str(r.json()["pupil_id"])
    term = {**TERM, "sessions": list(sessions)}
    if app is None:
        assert c.post(f"/v1/pupils/{pid}/enrolment/apply", json=term, headers=h(**key())).status_code == 200
    else:
        pupil = app.pupil(world.school_id, pid)
        pupil.apply_for_care("2026秋", date(2026, 9, 1), date(2027, 1, 20), list(sessions), None,
                             an_admin(world))
        app.save(pupil)
    for step in ("class_reviewed", "school_approved", "signed"):
        assert c.post(f"/v1/pupils/{pid}/enrolment/{step}", json={}, headers=h(**key())).status_code == 200
    return pid


def test_a_pupil_whose_grade_is_in_no_band_raises_no_deadline_at_once_and_unpicked_at_the_last_dismissal(
    client: TestClient, app: HandoverApp, clock: FixedClock
) -> None:
    world = a_school(client, app, 1)
    nine = a_class_recorded_before_grades_were_checked(world, app, 9)
    pid = a_pupil_in(world, nine, "林九", app=app)
    r = world.post(world.homeroom, "/v1/sign-ins", {"pupil_ids": [pid], "place_id": world.group_id})
    assert r.status_code == 200, r.text
    clock.set(datetime(2026, 11, 23, 15, 45, tzinfo=SHANGHAI))
    watch(client)
    [alert] = alerts(world, "no_deadline")
    assert alert["subject"]["pupil_id"] == pid and alert["subject"]["reason"] == "grade_in_no_band"
    assert alert["subject"]["session"] == "after_school" and alert["status"] == "open"
    # The last band (upper, 17:30 in autumn) plus grace: held past it, the pupil is unpicked too.
    clock.set(datetime(2026, 11, 23, 17, 40, tzinfo=SHANGHAI))
    watch(client)
    unpicked = [a for a in alerts(world, "unpicked") if a["subject"]["pupil_id"] == pid]
    assert len(unpicked) == 1 and unpicked[0]["subject"]["deadline"] == "2026-11-23T17:40:00+08:00"
    assert len(alerts(world, "no_deadline")) == 1  # raised once per pupil and session


def test_a_pupil_whose_band_does_not_attend_the_session_raises_no_deadline(
    client: TestClient, app: HandoverApp, clock: FixedClock
) -> None:
    world = a_school(client, app, 1)
    school = app.school(world.school_id)
    data = school.schedule.to_dict()
    del data["sessions"][1]["dismissals"]["middle"]  # after-school care without grades 3–4
    for season in data["sessions"][1]["seasons"]:
        season["dismissals"].pop("middle", None)
    school._schedule_set(schedule=data, by=an_admin(world))  # recorded as an old log holds it
    app.save(school)
    handed_to_teacher(world)
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI))
    watch(client)
    [alert] = alerts(world, "no_deadline")
    assert alert["subject"]["pupil_id"] == world.pupil(0)
    assert alert["subject"]["reason"] == "band_not_in_session"


def test_a_pupil_enrolled_for_a_session_the_schedule_no_longer_has_raises_no_deadline(
    client: TestClient, app: HandoverApp, clock: FixedClock
) -> None:
    world = a_school(client, app, 1)
    school = app.school(world.school_id)
    data = school.schedule.to_dict()
    data["sessions"] = [s for s in data["sessions"] if s["key"] != "after_school"]
    school._schedule_set(schedule=data, by=an_admin(world))  # recorded as an old log holds it
    app.save(school)
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI))
    watch(client)
    [alert] = alerts(world, "no_deadline")
    assert alert["subject"]["pupil_id"] == world.pupil(0)
    assert alert["subject"]["reason"] == "no_such_session" and alert["subject"]["session"] == "after_school"


def test_a_no_deadline_alert_is_closed_when_the_pupil_is_released(
    client: TestClient, app: HandoverApp, clock: FixedClock
) -> None:
    from tests.builders import walked_to_gate

    world = a_school(client, app, 1)
    nine = a_class_recorded_before_grades_were_checked(world, app, 9)
    world.pupils.append({"pupil_id": a_pupil_in(world, nine, "林九", app=app), "guardians": []})
    r = world.post(world.homeroom, "/v1/handovers", {"pupil_ids": [world.pupil(1)], "count": 1,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    world.post(world.teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 1})
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI))
    watch(client)
    assert [a["status"] for a in alerts(world, "no_deadline")] == ["open"]
    walked_to_gate(world, [1])
    pupil = client.get(f"/v1/pupils/{world.pupil(1)}", headers=world.admin.h()).json()
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(1)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": pupil["guardians"][0]["guardian_id"]})
    assert r.status_code == 200, r.text
    watch(client)
    [closed] = alerts(world, "no_deadline")
    assert closed["status"] == "resolved" and closed["resolved"]["how"] == "released"


def test_the_schedule_names_why_a_deadline_cannot_be_computed() -> None:
    from dataclasses import replace
    from datetime import date

    from service.domain.schedule import SessionSpec, default_schedule

    schedule = default_schedule()
    assert schedule.deadline_gap("after_school", 3) is None
    assert schedule.deadline_gap("after_school", 9) == "grade_in_no_band"
    assert schedule.deadline_gap("after_school", None) == "no_class"
    assert schedule.deadline_gap("evening_study", 3) == "no_such_session"
    noon = schedule.session("noon")
    only_low = SessionSpec(noon.key, noon.name, noon.start, {"low": noon.dismissals["low"]}, noon.weekdays)
    gapped = replace(schedule, sessions=(only_low, schedule.session("after_school")))
    assert gapped.deadline_gap("noon", 5) == "band_not_in_session"
    last = schedule.latest_deadline_at("after_school", date(2026, 11, 23), SHANGHAI)
    assert last == datetime(2026, 11, 23, 17, 40, tzinfo=SHANGHAI)


# -- the grades a school teaches -------------------------------------------------------

def refused_field(r: Any) -> str:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return str(r.json()["errors"][0]["field"])


def test_a_primary_school_refuses_a_class_of_grade_nine(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    assert client.get("/v1/school", headers=world.admin.h()).json()["grades"] == [1, 2, 3, 4, 5, 6]
    r = world.post(world.admin, "/v1/school/classes", {"grade": 9, "class_no": 1})
    assert refused_field(r) == "grade"
    assert all(c["grade"] != 9 for c in client.get("/v1/school", headers=world.admin.h()).json()["classes"])


def test_a_roster_row_of_a_grade_the_school_does_not_teach_is_refused_naming_row_and_column(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    csv = ("姓名,性别,班级,班主任,家长姓名,家长电话\n王一,男,三(2)班,李老师,王母,13800138001\n"
           "林九,女,九年级(1)班,周老师,林母,13800138002\n")
    r = client.post("/v1/imports/roster", files={"file": ("roster.csv", csv.encode(), "text/csv")},
                    headers=world.admin.h(**key()))
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["row"] == 3 and error["column"] == "班级" and "grade 9" in error["reason"]
    assert client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"] == []  # nothing imported


def test_a_roster_row_of_a_grade_taught_but_in_no_band_is_refused_for_that_reason(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = client.put("/v1/school/profile", json={"name": "实验学校", "grades": "nine_year"},
                   headers=world.admin.h(**key()))
    assert r.status_code == 200
    csv = "姓名,性别,班级,班主任,家长姓名,家长电话\n林七,女,七年级(1)班,周老师,林母,13800138002\n"
    r = client.post("/v1/imports/roster", files={"file": ("roster.csv", csv.encode(), "text/csv")},
                    headers=world.admin.h(**key()))
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["row"] == 2 and error["column"] == "班级"
    assert "no grade band" in error["reason"] and "not taught" not in error["reason"]


def test_a_schedule_banding_a_grade_the_school_does_not_teach_is_refused(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    data = app.school(world.school_id).schedule.to_dict()
    data["bands"][2]["grades"] = [5, 6, 7]
    r = client.put("/v1/school/schedule", json=data, headers=world.admin.h(**key()))
    assert refused_field(r) == "schedule.bands[2].grades"


def test_a_schedule_leaving_a_class_in_no_band_is_refused(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)  # its class is of grade 3, the middle band
    data = app.school(world.school_id).schedule.to_dict()
    data["bands"][1]["grades"] = [4]
    r = client.put("/v1/school/schedule", json=data, headers=world.admin.h(**key()))
    assert refused_field(r) == "schedule.bands"


def test_a_schedule_dropping_a_session_pupils_are_enrolled_for_is_refused(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    data = app.school(world.school_id).schedule.to_dict()
    data["sessions"] = [s for s in data["sessions"] if s["key"] != "after_school"]
    r = client.put("/v1/school/schedule", json=data, headers=world.admin.h(**key()))
    assert refused_field(r) == "schedule.sessions"
    data = app.school(world.school_id).schedule.to_dict()
    for part in (data["sessions"][1], *data["sessions"][1]["seasons"]):
        part["dismissals"].pop("middle", None)
    r = client.put("/v1/school/schedule", json=data, headers=world.admin.h(**key()))
    assert refused_field(r) == "schedule.sessions[1].dismissals"


def test_a_school_becoming_nine_year_can_add_grade_nine_once_a_band_holds_it(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = client.put("/v1/school/profile", json={"name": "实验学校", "grades": "nine_year"},
                   headers=world.admin.h(**key()))
    assert r.status_code == 200 and r.json()["stage"] == "nine_year" and r.json()["grades"] == list(range(1, 10))
    # Taught now, but no band of the schedule times grade 9 yet.
    assert refused_field(world.post(world.admin, "/v1/school/classes", {"grade": 9, "class_no": 1})) == "grade"
    data = app.school(world.school_id).schedule.to_dict()
    data["bands"].append({"key": "junior", "name": "初中", "grades": [7, 8, 9]})
    for session in data["sessions"]:
        session["dismissals"]["junior"] = "17:50" if session["key"] == "after_school" else "13:30"
    assert client.put("/v1/school/schedule", json=data, headers=world.admin.h(**key())).status_code == 200
    assert world.post(world.admin, "/v1/school/classes", {"grade": 9, "class_no": 1}).status_code == 201


def test_a_school_cannot_stop_teaching_a_grade_it_has_a_class_of(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = client.put("/v1/school/profile", json={"name": "实验小学", "grades": "middle"},
                   headers=world.admin.h(**key()))
    assert refused_field(r) == "grades"
    assert client.get("/v1/school", headers=world.admin.h()).json()["stage"] == "primary"


def test_a_middle_school_gets_a_schedule_for_grades_seven_to_nine(app: HandoverApp) -> None:
    from service.domain.errors import RuleError

    created = app.init_school("第一中学", "Asia/Shanghai", "校长", "middle")
    school = app.school(created["school_id"])
    assert school.stage == "middle" and [b.grades for b in school.schedule.bands] == [(7, 8, 9)]
    admin = actor(created["admin_id"], "校长", "admin")
    school.add_class("c7", 7, 1, "七年级(1)班", None, admin)
    with pytest.raises(RuleError) as refused:
        school.add_class("c3", 3, 1, "三年级(1)班", None, admin)
    assert refused.value.field == "grade"


def test_a_school_from_an_older_log_teaches_the_grades_its_classes_and_bands_hold(app: HandoverApp) -> None:
    from service.domain.school import School

    school = School.found("老学校")  # as recorded before grades were declared: no GradesDeclared
    app.save(school)
    assert app.school(school.school_id).stage == "primary"
    # An older version accepted a 九年级 class into a primary school.
    school._class_added(class_id="c9", grade=9, class_no=1, label="九年级(1)班",
                        homeroom_teacher_id=None, by=actor("a0", "校长", "admin"))
    app.save(school)
    replayed = app.school(school.school_id)
    assert replayed.stage == "nine_year" and replayed.grades == tuple(range(1, 10))


def test_handover_init_declares_the_grades_given_and_primary_by_default(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main
    from service.settings import Settings

    for name, option, stage in (("一中", ["--grades", "middle"], "middle"), ("一小", [], "primary")):
        assert main(["init", "--name", name, "--store", "sqlite", "--data-dir", str(tmp_path), *option]) == 0
        school_id = capsys.readouterr().out.split(f"School:      {name} (")[1].split(")")[0]
        app = HandoverApp(env=Settings(store="sqlite", data_dir=tmp_path).eventsourcing_env())
        try:
            assert app.school(school_id).stage == stage
        finally:
            app.close()


# -- after-school care, then evening study -------------------------------------------------

EVENING = {"key": "evening", "name": "晚自习", "start": "18:00", "weekdays": [1, 2, 3, 4, 5],
           "dismissals": {"low": "19:30", "middle": "19:30", "upper": "20:00"}, "seasons": []}


def staying_for_evening_study(client: TestClient, app: HandoverApp) -> tuple[World, str]:
    """A school with evening study; one pupil stays for it, held in after-school care."""
    world = a_school(client, app, 0)
    data = app.school(world.school_id).schedule.to_dict()
    data["sessions"].append(EVENING)
    r = client.put("/v1/school/schedule", json=data, headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text
    pid = a_pupil_in(world, world.class_id, "周晚", ("after_school", "evening"))
    r = world.post(world.homeroom, "/v1/handovers", {"pupil_ids": [pid], "count": 1,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    confirm = f"/v1/handovers/{r.json()['handover_id']}/confirm"
    assert world.post(world.teacher, confirm, {"count": 1}).status_code == 200
    return world, pid


def into_evening(world: World, pid: str, **extra: Any) -> Any:
    return world.post(world.teacher, "/v1/handovers", {
        "pupil_ids": [pid], "count": 1, "to_staff_id": world.club_teacher.staff_id,
        "place_id": world.club_id, "to_session": "evening", **extra})


def roster_of(world: World, session: str) -> dict[str, Any]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = world.client.get("/v1/roster", params={"session": session, "min_position": head},
                         headers=world.admin.h())
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_pupil_handed_into_evening_study_raises_no_unpicked_alert_for_after_school_care(
    client: TestClient, app: HandoverApp, clock: FixedClock
) -> None:
    world, pid = staying_for_evening_study(client, app)
    clock.set(datetime(2026, 11, 23, 17, 20, tzinfo=SHANGHAI))
    r = into_evening(world, pid)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "to_session" and r.json()["to_session"] == "evening"
    hid = r.json()["handover_id"]
    # Until the evening teacher confirms, the after-school teacher still holds the pupil.
    [row] = roster_of(world, "after_school")["pupils"]
    assert row["custodian"]["staff_id"] == world.teacher.staff_id and row["pending"]["handover_id"] == hid
    c = world.post(world.club_teacher, f"/v1/handovers/{hid}/confirm", {"count": 1})
    assert c.status_code == 200, c.text
    clock.set(datetime(2026, 11, 23, 18, 40, tzinfo=SHANGHAI))  # past after-school's every deadline
    watch(client)
    assert alerts(world, "unpicked") == []
    earlier = roster_of(world, "after_school")
    [row] = earlier["pupils"]
    assert row["status"] == "passed_on" and row["passed_on"]["session"] == "evening"
    assert row["passed_on"]["custodian"]["staff_id"] == world.club_teacher.staff_id
    assert row["passed_on"]["place"]["id"] == world.club_id and earlier["still_in_school"] == []
    later = roster_of(world, "evening")
    [row] = later["pupils"]
    assert row["status"] == "in_custody" and row["custodian"]["staff_id"] == world.club_teacher.staff_id
    assert row["came_from"]["session"] == "after_school" and later["still_in_school"] == [pid]
    # The evening session has a deadline of its own: 19:30 plus grace for grade 3.
    clock.set(datetime(2026, 11, 23, 19, 40, tzinfo=SHANGHAI))
    watch(client)
    [alert] = alerts(world, "unpicked")
    assert alert["subject"]["session"] == "evening"


def test_an_open_unpicked_alert_closes_when_the_pupil_is_handed_into_evening_study(
    client: TestClient, app: HandoverApp, clock: FixedClock
) -> None:
    world, pid = staying_for_evening_study(client, app)
    clock.set(datetime(2026, 11, 23, 17, 35, tzinfo=SHANGHAI))
    watch(client)
    [alert] = alerts(world, "unpicked")
    hid = into_evening(world, pid).json()["handover_id"]
    world.post(world.club_teacher, f"/v1/handovers/{hid}/confirm", {"count": 1})
    watch(client)
    [closed] = alerts(world, "unpicked")
    assert closed["alert_id"] == alert["alert_id"] and closed["resolved"]["how"] == "passed_on"


def test_custody_into_evening_study_needs_the_receiver_and_a_pupil_expected_there(
    client: TestClient, app: HandoverApp, clock: FixedClock
) -> None:
    world, pid = staying_for_evening_study(client, app)
    only_after = a_pupil_in(world, world.class_id, "吴早", ("after_school",))
    r = world.post(world.homeroom, "/v1/sign-ins", {"pupil_ids": [only_after], "place_id": world.group_id})
    assert r.status_code == 200, r.text
    assert refused_field(into_evening(world, only_after)) == "pupil_ids"  # not enrolled for evening
    hid = into_evening(world, pid).json()["handover_id"]
    assert world.post(world.guard, f"/v1/handovers/{hid}/confirm", {"count": 1}).status_code == 409
    # Withdrawn, the offer leaves the pupil with the after-school teacher and free in the evening.
    assert world.post(world.teacher, f"/v1/handovers/{hid}/withdraw", {"reason": "家长来接"}).status_code == 200
    [row] = [r for r in roster_of(world, "after_school")["pupils"] if r["pupil_id"] == pid]
    assert row["status"] == "in_custody" and row["pending"] is None
    [row] = roster_of(world, "evening")["pupils"]
    assert row["status"] == "not_handed_over" and row["pending"] is None


def test_a_pupil_absent_from_evening_study_cannot_be_handed_into_it(
    client: TestClient, app: HandoverApp
) -> None:
    world, pid = staying_for_evening_study(client, app)
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": pid, "session": "evening",
                   "with_leave": True, "reason": "家长接回"})
    assert r.status_code == 200, r.text
    assert into_evening(world, pid).status_code == 409
    assert roster_of(world, "after_school")["pupils"][0]["status"] == "in_custody"


def test_a_handover_offered_before_sessions_could_be_passed_into_still_replays(app: HandoverApp) -> None:
    from uuid import UUID

    from eventsourcing.persistence import Mapper

    from service.domain.handover import Handover

    teacher, club = staff("t1", "张老师"), staff("t2", "赵老师")
    handover = Handover.offer(school_id="s1", day="2026-11-23", session="after_school", kind="transfer",
                              giver=teacher, to=club, place=CLUB_ROOM, pupil_ids=["p1"],
                              count_given=1, note=None, by=by(teacher))
    [offered] = handover.collect_events()
    plain: Mapper[UUID] = Mapper(transcoder=app.mapper.transcoder)  # the stored JSON, unencrypted
    stored = plain.to_stored_event(offered)
    state = app.mapper.transcoder.decode(stored.state)
    del state["to_session"], state["class_version"]  # as version 1 recorded it
    old = type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                       topic=stored.topic, state=app.mapper.transcoder.encode(state))
    event = plain.to_domain_event(old)
    assert isinstance(event, Handover.Event)
    replayed = event.mutate(None)
    assert isinstance(replayed, Handover)
    assert replayed.to_session is None and replayed.view()["kind"] == "transfer"


def test_only_the_named_receiver_passes_a_pupil_into_the_later_session() -> None:
    from service.domain.decisions import ReleaseAllowed
    from service.domain.errors import ConflictError
    from service.domain.pupil import Pupil
    from service.domain.pupil_day import PupilDay, derive

    teacher, evening = staff("t1", "张老师"), staff("t2", "赵老师")
    room = place("g1", "自习室", "group")
    pupil = Pupil.register("s1", "k1", "张小明", "男", "c1", by(teacher, at="t"))
    pupil.add_guardian("g-mum", "李梅", "母亲", "13800138000", True, None, by(teacher, at="t"))
    mum = pupil.decide_collection(day=datetime(2026, 11, 23).date(), collector_id="g-mum", name=None, id_tail=None)
    assert isinstance(mum, ReleaseAllowed)
    day = PupilDay.open("s1", str(pupil.id), datetime(2026, 11, 23).date(), "after_school", "c1")
    day.sign_in(teacher, room, by(teacher, at="t"))
    day.offer("h1", "to_session", teacher, evening, room, by(teacher, at="t"))
    with pytest.raises(ConflictError):
        day.pass_on("h1", "evening", by(teacher, at="t"))
    day.pass_on("h1", "evening", by(evening, at="t"))
    passed = day.state["passed_on"]
    assert day.status == "passed_on" and passed is not None and passed["session"] == "evening"
    with pytest.raises(ConflictError):
        day.release_to(mum, adult("李梅"), "id_card", room, by(teacher, at="t"))
    assert derive(day.entries) == day.state
    assert [type(e).__name__ for e in day.collect_events()] == ["Opened", "SignedIn", "HandoverOffered", "PassedOn"]


# -- no enrolment for a session the pupil's grade band does not attend ------------------------

def with_upper_only_evening(client: TestClient, app: HandoverApp) -> World:
    world = a_school(client, app, 0)
    data = app.school(world.school_id).schedule.to_dict()
    data["sessions"].append({**EVENING, "dismissals": {"upper": "20:00"}})
    r = client.put("/v1/school/schedule", json=data, headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text
    return world


def test_applying_for_a_session_the_grade_band_does_not_attend_is_refused_and_records_nothing(
    client: TestClient, app: HandoverApp
) -> None:
    world = with_upper_only_evening(client, app)
    c, h = world.client, world.admin.h
    r = c.post("/v1/pupils", json={"name": "钱三", "gender": "男", "class_id": world.class_id},
               headers=h(**key()))
    pid = r.json()["pupil_id"]
    term = {**TERM, "sessions": ["after_school", "evening"]}
    refused = c.post(f"/v1/pupils/{pid}/enrolment/apply", json=term, headers=h(**key()))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "evening" in refused.text and "钱三" in refused.text
    assert c.get(f"/v1/pupils/{pid}", headers=h()).json()["enrolment"]["status"] == "none"
    # In bulk, that pupil is refused and said why; a pupil for a session the band attends goes on.
    r = c.post("/v1/enrolment/apply", json={"pupil_ids": [pid], **term}, headers=h(**key()))
    assert r.status_code == 200, r.text
    [answer] = r.json()["pupils"]
    assert answer["result"] == "refused" and "evening" in answer["reason"]["detail"]
    ok = c.post("/v1/enrolment/apply", json={"pupil_ids": [pid], **TERM}, headers=h(**key()))
    assert ok.json()["done"] == 1


def test_a_roster_whose_signed_agreements_name_a_session_the_band_does_not_attend_imports_nothing(
    client: TestClient, app: HandoverApp
) -> None:
    world = with_upper_only_evening(client, app)
    rows = ["姓名,性别,班级,班主任,家长姓名,联系电话,协议", "孙一,男,三年级(2)班,李老师,孙二,13800138001,是",
            "周六,女,五年级(1)班,周老师,周七,13800138002,是"]
    r = client.post("/v1/imports/roster", params={
        "term": "2026秋", "term_starts": "2026-09-01", "term_ends": "2027-01-20",
        "sessions": ["after_school", "evening"]}, headers=world.admin.h(**key()),
        files={"file": ("名单.csv", "\n".join(rows).encode(), "text/csv")})
    assert r.status_code == 422, r.text
    [problem] = r.json()["errors"]
    assert problem["row"] == 2 and "evening" in problem["reason"]
    assert client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"] == []


def test_moving_a_pupil_to_a_class_whose_band_does_not_attend_one_of_their_sessions_is_refused(
    client: TestClient, app: HandoverApp
) -> None:
    world = with_upper_only_evening(client, app)
    c, h = world.client, world.admin.h
    five = c.post("/v1/school/classes", json={"grade": 5, "class_no": 1}, headers=h(**key()))
    six = c.post("/v1/school/classes", json={"grade": 6, "class_no": 1}, headers=h(**key()))
    assert five.status_code == 201 and six.status_code == 201, five.text
    pid = a_pupil_in(world, five.json()["class_id"], "周五", ("after_school", "evening"))
    before = app.recorder.max_notification_id()
    refused = c.put(f"/v1/pupils/{pid}/class", json={"class_id": world.class_id}, headers=h(**key()))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "evening" in refused.json()["detail"] and "周五" in refused.json()["detail"]
    assert app.recorder.max_notification_id() == before
    assert c.get(f"/v1/pupils/{pid}", headers=h()).json()["class_id"] == five.json()["class_id"]
    moved = c.put(f"/v1/pupils/{pid}/class", json={"class_id": six.json()["class_id"]}, headers=h(**key()))
    assert moved.status_code == 200, moved.text
    # Care in sessions every band attends does not hold a move back.
    other = a_pupil_in(world, five.json()["class_id"], "吴六")
    r = c.put(f"/v1/pupils/{other}/class", json={"class_id": world.class_id}, headers=h(**key()))
    assert r.status_code == 200, r.text
