"""Duty as the duty leaders meet it: the day's roster, patrols, rooms without an adult (空堂), clearing
the school (清校) and the duty log (the in-memory store, over HTTP)."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from service.api.app import create_app
from service.application import HandoverApp
from service.settings import Settings
from service.use_cases.clock import FixedClock
from service.workers.watcher import Watcher
from tests.builders import (
    SESSION_DAY,
    Staff,
    World,
    a_school,
    add_staff,
    handed_to_teacher,
    key,
    walked_to_gate,
)
from tests.conftest import SHANGHAI
from tests.stores import every_durable_store, every_store

PROBLEM = "application/problem+json"


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 23, hour, minute, tzinfo=SHANGHAI)


class Duty:
    def __init__(self, world: World) -> None:
        c, admin = world.client, world.admin
        self.world = world
        self.leaders = [add_staff(c, admin, "陈主任", ["duty_leader"]),
                        add_staff(c, admin, "周主任", ["duty_leader"])]
        self.spare = add_staff(c, admin, "吴主任", ["duty_leader"])
        self.guards = [world.guard, add_staff(c, admin, "马保安", ["guard"])]

    def roster(self, leaders: list[Staff] | None = None, replaces: int | None = None,
               who: Staff | None = None) -> Any:
        w = self.world
        body = {"day": SESSION_DAY, "leader_ids": [s.staff_id for s in leaders or self.leaders],
                "guards": [{"staff_id": self.guards[0].staff_id, "gate_id": w.gate_id},
                           {"staff_id": self.guards[1].staff_id}], "replaces": replaces}
        return w.client.put("/v1/duty/roster", json=body, headers=(who or w.admin).h())


def watch(client: TestClient) -> dict[str, int]:
    return Watcher(client.app.state.handover, client.app.state.views).run_once()  # type: ignore[attr-defined]


def alerts(world: World, kind: str) -> list[dict[str, Any]]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = world.client.get("/v1/alerts", params={"min_position": head, "kind": kind},
                         headers=world.admin.h())
    assert r.status_code == 200, r.text
    return list(r.json()["alerts"])


def test_the_admin_sets_the_days_roster_and_a_change_names_the_roster_it_replaces(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    duty = Duty(world)
    assert duty.roster(who=world.teacher).status_code == 403
    r = duty.roster(leaders=[duty.leaders[0], world.teacher])
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = duty.roster()
    assert r.status_code == 201, r.text
    assert [p["name"] for p in r.json()["roster"]["leaders"]] == ["陈主任", "周主任"]
    assert [g["gate"] for g in r.json()["roster"]["guards"]] == ["东门", None]

    r = duty.roster(leaders=[duty.leaders[0], duty.spare])
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    r = duty.roster(leaders=[duty.leaders[0], duty.spare], replaces=1)
    assert r.status_code == 200, r.text
    r = client.get("/v1/duty", params={"day": SESSION_DAY}, headers=world.guard.h())
    assert r.status_code == 200
    shown = r.json()
    assert shown["roster"]["roster_no"] == 2 and shown["roster"]["replaces"] == 1
    assert [p["name"] for p in shown["roster"]["leaders"]] == ["陈主任", "吴主任"]
    assert [p["name"] for p in shown["replaced"][0]["leaders"]] == ["陈主任", "周主任"]


def test_a_duty_leader_off_the_roster_signs_on_only_as_a_substitute_for_one_on_it(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    duty = Duty(world)
    assert duty.roster().status_code == 201
    clock.set(at(15, 30))
    r = world.post(duty.spare, "/v1/shifts/sign-on", {"place_id": "duty"})
    assert r.status_code == 422 and "值班安排" in r.json()["detail"]
    r = world.post(world.admin, "/v1/shifts/sign-on", {"place_id": "duty", "staff_id": duty.spare.staff_id,
                                                       "substitute_for": duty.leaders[1].staff_id})
    assert r.status_code == 201, r.text
    r = world.post(duty.leaders[0], "/v1/shifts/sign-on", {"place_id": "duty"})
    assert r.status_code == 201, r.text


def test_a_duty_leader_records_a_patrol_from_the_phone(client: TestClient, app: HandoverApp,
                                                       clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    duty = Duty(world)
    clock.set(at(16, 40))
    body = {"place": "三楼走廊", "seen": "各作业组秩序良好", "notes": "301 窗户未关", "at": "2026-11-23T16:35:00+08:00"}
    assert world.post(world.teacher, "/v1/duty/patrols", body).status_code == 403
    r = world.post(duty.leaders[0], "/v1/duty/patrols", {**body, "at": "2026-11-23T17:35:00+08:00"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = world.post(duty.leaders[0], "/v1/duty/patrols", body)
    assert r.status_code == 201, r.text
    r = client.get("/v1/duty", headers=duty.leaders[1].h())
    [patrol] = r.json()["patrols"]
    assert patrol["place"] == "三楼走廊" and patrol["at"].startswith("2026-11-23T16:35")
    assert patrol["by"]["staff_id"] == duty.leaders[0].staff_id


def test_a_group_holding_pupils_with_no_adult_signed_on_raises_an_alert_until_someone_signs_on(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    duty = Duty(world)
    assert duty.roster().status_code == 201
    clock.set(at(15, 40))
    handed_to_teacher(world)
    clock.set(at(15, 44))
    watch(client)
    assert alerts(world, "unattended") == []
    clock.set(at(15, 46))
    watch(client)
    [alert] = alerts(world, "unattended")
    assert alert["subject"]["group_id"] == world.group_id and alert["subject"]["count"] == 2
    assert "空堂" in alert["detail"] and "三年级作业组" in alert["detail"]
    assert alert["level"] == 0 and alert["subject"]["since"].startswith("2026-11-23T15:45")
    clock.set(at(15, 55))
    watch(client)
    [alert] = alerts(world, "unattended")
    assert alert["level"] == 1 and alert["steps"][0]["notify"] == ["duty_leader", "homeroom_teacher"]
    clock.set(at(16, 5))
    watch(client)
    assert alerts(world, "unattended")[0]["steps"][-1]["notify"] == ["safety_officer"]

    r = world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id})
    assert r.status_code == 201, r.text
    watch(client)
    [alert] = alerts(world, "unattended")
    assert alert["status"] == "resolved" and alert["resolved"]["how"] == "attended"
    watch(client)
    assert len(alerts(world, "unattended")) == 1  # signed on: no second alert


def test_a_school_keeping_no_duty_roster_that_day_is_not_told_its_rooms_are_unattended(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    clock.set(at(15, 40))
    handed_to_teacher(world)
    clock.set(at(16, 0))
    watch(client)
    assert alerts(world, "unattended") == []


def test_clearing_is_refused_while_a_pupil_is_held_or_an_injury_is_open_and_a_later_event_alerts(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    duty = Duty(world)
    leader = duty.leaders[0]
    clock.set(at(15, 40))
    world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(1), "with_leave": True})
    n = 1
    r = world.post(world.homeroom, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": n,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    r = world.post(world.teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": n})
    assert r.status_code == 200, r.text
    r = world.post(world.teacher, "/v1/incidents", {
        "kind": "injury", "description": "跑步时摔倒", "pupil_ids": [world.pupil(0)], "where": "操场"})
    incident = r.json()["incident_id"]
    clock.set(at(17, 10))
    assert world.post(world.teacher, "/v1/duty/clearing", {}).status_code == 403
    r = world.post(leader, "/v1/duty/clearing", {"note": "各楼层已查"})
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    blockers = r.json()["errors"]
    assert {(b["kind"], b["name"]) for b in blockers} == {
        ("pupil", "学生0"), ("alert", "incident_guardian"), ("incident", "injury")}
    assert "学生0" in r.json()["detail"]
    r = client.get("/v1/access-log", params={"pupil": world.pupil(0)}, headers=world.admin.h())
    assert "clearing" in {e["what"] for e in r.json()["reads"]}  # the refusal named where they are
    r = client.get("/v1/duty", headers=leader.h())
    [refused] = r.json()["clearing_refused"]  # the refusal is on record
    assert refused["by"]["staff_id"] == leader.staff_id and len(refused["blockers"]) == 3
    r = client.post("/v1/duty/clearing", json={}, headers=leader.h(**key(), **{"Accept-Language": "en"}))
    assert r.status_code == 409
    assert "学生0 (in custody: 三年级作业组), " in r.json()["detail"] and "：" not in r.json()["detail"]
    assert {b["detail"] for b in r.json()["errors"] if b["kind"] != "alert"} == {
        "in custody: 三年级作业组", "injury (学生0): the guardian not reached yet"}

    world.post(world.teacher, f"/v1/incidents/{incident}/guardian-notifications",
               {"pupil_id": world.pupil(0), "guardian": "家长0", "how": "phone", "reached": True})
    walked_to_gate(world, [0])
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    assert r.status_code == 200, r.text
    r = world.post(leader, "/v1/duty/clearing", {"note": "各楼层已查"})
    assert r.status_code == 200, r.text
    assert r.json()["cleared"]["by"]["staff_id"] == leader.staff_id and r.json()["cleared"]["pupils"] == 2
    assert world.post(leader, "/v1/duty/clearing", {}).status_code == 409
    watch(client)
    assert alerts(world, "after_clearing") == []

    seq = world.state(1)["chain"][-1]["seq"]
    r = world.post(world.homeroom, "/v1/corrections", {"pupil_id": world.pupil(1), "day": SESSION_DAY,
                   "corrects": seq, "reason": "学生其实到校了"})
    assert r.status_code == 200, r.text
    watch(client)
    [alert] = alerts(world, "after_clearing")
    assert alert["subject"]["pupil_id"] == world.pupil(1) and "清校后" in alert["detail"]
    assert "学生1" in alert["detail"] and "未交接" in alert["detail"]


def test_the_duty_log_tells_the_day_in_json_a_workbook_and_a_pdf_with_chinese_text(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    duty = Duty(world)
    assert duty.roster().status_code == 201
    clock.set(at(15, 35))
    assert world.post(duty.leaders[0], "/v1/shifts/sign-on", {"place_id": "duty"}).status_code == 201
    clock.set(at(16, 40))
    world.post(duty.leaders[0], "/v1/duty/patrols", {"place": "三楼走廊", "seen": "各作业组秩序良好"})
    world.post(world.teacher, "/v1/incidents", {"kind": "property", "description": "水杯遗失",
                                                "pupil_ids": [world.pupil(0)], "where": "301教室"})
    world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": True})
    clock.set(at(17, 40))
    assert world.post(duty.leaders[0], "/v1/duty/clearing", {"note": "已清校"}).status_code == 200

    assert client.get("/v1/duty/log", headers=world.teacher.h()).status_code == 403
    r = client.get("/v1/duty/log", headers=world.inspector.h())
    assert r.status_code == 200, r.text
    log = r.json()
    assert [p["name"] for p in log["roster"]["leaders"]] == ["陈主任", "周主任"]
    assert [s["staff"]["name"] for s in log["shifts"]] == ["陈主任"]
    assert [p["seen"] for p in log["patrols"]] == ["各作业组秩序良好"]
    [incident] = log["incidents"]
    assert incident["pupil_names"] == ["学生0"] and incident["blocks_clearing"] is False
    assert log["cleared"]["note"] == "已清校"

    r = client.get("/v1/access-log", params={"pupil": world.pupil(0)}, headers=world.admin.h())
    reads = [e for e in r.json()["reads"] if e["what"] == "duty_log"]  # the log named the pupil
    assert reads and reads[0]["staff_id"] == world.inspector.staff_id

    r = client.get("/v1/duty/log/export", params={"format": "xlsx"}, headers=world.inspector.h())
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["值班安排", "签到", "巡查记录", "事件及处理结果", "警报", "清校"]
    assert any(row[1] == "三楼走廊" for row in book["巡查记录"].iter_rows(values_only=True))

    r = client.get("/v1/duty/log/export", headers=duty.leaders[1].h())
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    assert reader.metadata is not None and reader.metadata.title == "实验小学 2026-11-23 值班记录"
    text = "".join(page.extract_text() for page in reader.pages)
    for words in ("实验小学 值班记录", "陈主任", "马保安", "三楼走廊", "各作业组秩序良好", "水杯遗失",
                  "学生0", "已清校"):
        assert words in text, words


def test_the_minutes_a_room_was_left_without_an_adult_count_as_a_room_unattended_in_the_statement(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    duty = Duty(world)
    assert duty.roster().status_code == 201
    clock.set(at(15, 40))
    handed_to_teacher(world)
    clock.set(at(15, 46))
    watch(client)
    clock.set(at(16, 0))
    assert world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id}).status_code == 201
    watch(client)
    clock.set(at(17, 31))
    head = client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = client.get(f"/v1/statements/staff/{world.teacher.staff_id}",
                   params={"month": "2026-11", "min_position": head}, headers=world.admin.h())
    assert r.status_code == 200, r.text
    [room] = r.json()["unattended_rooms"]["items"]
    assert (room["day"], room["group_id"], room["pupils"], room["minutes"]) == (
        SESSION_DAY, world.group_id, 2, 15.0)  # from 15:45, the grace over
    assert [ref["event"] for ref in room["refs"]] == ["Alert.Raised", "Alert.Resolved"]
    assert r.json()["subsidy"]["deduction_percent"] == 100


@every_store
def test_thirty_patrols_sent_at_the_same_moment_are_all_recorded(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    duty = Duty(world)
    assert duty.roster().status_code == 201
    clock.set(at(16, 40))
    places = [f"{n}号楼{floor}层" for n in range(1, 7) for floor in range(1, 6)]
    start = threading.Barrier(len(places))

    def patrol(i: int) -> int:
        leader = duty.leaders[i % 2]
        start.wait()
        r = world.post(leader, "/v1/duty/patrols", {"place": places[i], "seen": "无人逗留"})
        return int(r.status_code)

    with ThreadPoolExecutor(len(places)) as pool:
        answers = list(pool.map(patrol, range(len(places))))
    assert answers == [201] * len(places), answers
    listed = client.get("/v1/duty", headers=world.admin.h()).json()["patrols"]
    assert sorted(p["place"] for p in listed) == sorted(places)


@every_durable_store
def test_the_days_duty_rebuilt_from_the_stored_events_alone_is_the_same(
        client: TestClient, app: HandoverApp, settings: Settings, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    duty = Duty(world)
    assert duty.roster().status_code == 201
    assert duty.roster(leaders=[duty.leaders[1], duty.spare], replaces=1).status_code == 200
    clock.set(at(15, 40))
    handed_to_teacher(world)
    clock.set(at(16, 40))
    world.post(duty.leaders[1], "/v1/duty/patrols", {"place": "操场", "seen": "无人逗留"})
    assert world.post(duty.leaders[1], "/v1/duty/clearing", {}).status_code == 409
    walked_to_gate(world, [0])
    world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
               "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    clock.set(at(17, 40))
    assert world.post(duty.leaders[1], "/v1/duty/clearing", {"note": "已清校"}).status_code == 200
    before = client.get("/v1/duty", headers=world.admin.h()).json()
    log = client.get("/v1/duty/log", headers=world.admin.h()).json()
    fresh = HandoverApp(env={**settings.eventsourcing_env(), "AGGREGATE_CACHE_MAXSIZE": "0"}, clock=clock)
    try:
        with TestClient(create_app(settings, application=fresh, clock=clock)) as other:
            assert other.get("/v1/duty", headers=world.admin.h()).json() == before
            assert other.get("/v1/duty/log", headers=world.admin.h()).json() == log
    finally:
        fresh.close()
    assert [r["roster_no"] for r in [*before["replaced"], before["roster"]]] == [1, 2]
    assert len(before["patrols"]) == 1 and len(before["clearing_refused"]) == 1
    assert before["cleared"]["note"] == "已清校" and log["cleared"]["note"] == "已清校"


def test_a_cell_too_long_for_one_page_goes_on_in_the_rows_after_it() -> None:
    from service.reports.exports import Table
    from service.reports.pdf import pdf_bytes

    names = "、".join(f"学生{i:04d}（东门）" for i in range(400))  # a refusal naming a whole school
    body = pdf_bytes(title="值班记录", heading="值班记录", lines=[], tables=[
        Table("未能清校", ["时间", "未能清校的原因"], [["17:40", names], ["17:50", "已清校"]], widths=[6, 30])])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    compact = text.replace("\n", "")
    assert "学生0000" in compact and "学生0399" in compact and "已清校" in compact
    assert len(PdfReader(io.BytesIO(body)).pages) > 1


def test_a_gate_tablet_is_never_rostered_as_a_guard_nor_as_a_duty_leader(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    duty = Duty(world)
    r = world.post(world.admin, "/v1/devices", {"name": "东门平板", "kind": "gate_tablet",
                                                "place_id": world.gate_id})
    assert r.status_code == 201, r.text
    r = client.post("/v1/devices/pair", json={"code": r.json()["code"]})
    assert r.status_code == 201, r.text
    tablet = Staff(r.json()["device_id"], r.json()["token"])
    duty.guards[1] = tablet
    r = duty.roster()
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert r.json()["errors"][0]["field"] == "guards" and "东门平板" in r.json()["detail"]
    r = duty.roster(leaders=[duty.leaders[0], tablet])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "leader_ids", r.text
    r = client.get("/v1/duty", params={"day": SESSION_DAY}, headers=world.admin.h())
    assert r.status_code == 200 and r.json()["roster"] is None, r.text


def test_a_room_left_when_its_teacher_signs_off_is_unattended_from_then_and_the_teacher_signs_back_on(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    duty = Duty(world)
    assert duty.roster().status_code == 201
    clock.set(at(15, 38))
    assert world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id}).status_code == 201
    clock.set(at(15, 40))
    handed_to_teacher(world)
    clock.set(at(17, 1))
    r = world.post(world.teacher, "/v1/shifts/sign-off", {"place_id": world.group_id})
    assert r.status_code == 422 and r.json()["held"] == 2, r.text  # custody is handed on first
    # The pupils stay in the room with a colleague who never signs on for the group.
    r = world.post(world.teacher, "/v1/handovers", {
        "pupil_ids": [world.pupil(0), world.pupil(1)], "count": 2,
        "to_staff_id": world.club_teacher.staff_id, "place_id": world.group_id})
    assert r.status_code == 201, r.text
    r = world.post(world.club_teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm",
                   {"count": 2})
    assert r.status_code == 200, r.text
    clock.set(at(17, 2))
    r = world.post(world.teacher, "/v1/shifts/sign-off", {"place_id": world.group_id})
    assert r.status_code == 200, r.text
    clock.set(at(17, 3))
    watch(client)
    [alert] = alerts(world, "unattended")
    assert alert["subject"]["since"].startswith("2026-11-23T17:02")
    assert "17:02" in alert["detail"] and alert["level"] == 0 and alert["steps"] == []
    clock.set(at(17, 11))
    watch(client)
    assert alerts(world, "unattended")[0]["level"] == 0
    clock.set(at(17, 12))
    watch(client)
    assert alerts(world, "unattended")[0]["level"] == 1
    clock.set(at(17, 22))
    watch(client)
    [alert] = alerts(world, "unattended")
    assert alert["level"] == 2 and alert["steps"][-1]["notify"] == ["safety_officer"]

    clock.set(at(17, 25))
    r = world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id})
    assert r.status_code == 200, r.text
    assert r.json()["signed_off_at"] is None and r.json()["signed_on_at"].startswith("2026-11-23T15:38")
    again = world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id})
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    watch(client)
    [alert] = alerts(world, "unattended")
    assert alert["status"] == "resolved" and alert["resolved"]["how"] == "attended"
    clock.set(at(17, 31))
    head = client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = client.get(f"/v1/statements/staff/{world.teacher.staff_id}",
                   params={"month": "2026-11", "min_position": head}, headers=world.admin.h())
    [room] = r.json()["unattended_rooms"]["items"]
    assert room["minutes"] == 23.0  # 17:02 to 17:25
