"""The care log (看护日志) of a group's session, on every store: as JSON, CSV, XLSX and a printed page."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from urllib.parse import quote

import openpyxl
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.reports.exports import Table, content_disposition, csv_bytes, xlsx_bytes
from service.use_cases.clock import FixedClock
from tests.builders import SESSION_DAY, World, a_school
from tests.conftest import SHANGHAI
from tests.stores import every_store


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 23, hh, mm, tzinfo=SHANGHAI)


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def hand_over(world: World, giver: Any, receiver: Any, place: str, clock: FixedClock,
              when: tuple[int, int], confirmed: tuple[int, int], count: int, **names: Any) -> str:
    clock.set(at(*when))
    hid = ok(world.post(giver, "/v1/handovers", {"count": count, "to_staff_id": receiver.staff_id,
                                                 "place_id": place, **names}), 201)["handover_id"]
    clock.set(at(*confirmed))
    ok(world.post(receiver, f"/v1/handovers/{hid}/confirm", {"count": count}))
    return str(hid)


def an_afternoon(client: TestClient, app: HandoverApp, clock: FixedClock) -> World:
    """Five pupils of 三(2)班: one on sick leave, four handed to 张老师's homework group; 学生2 goes
    to the Go club and back; 学生0 is collected at the east gate, a stranger is turned away for
    学生1; 张老师 writes a note and an emergency (学生3 fell and grazed a knee)."""
    world = a_school(client, app, 5)
    clock.set(at(15, 30))
    ok(world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(4), "with_leave": True,
                                                    "reason": "病假"}))
    hand_over(world, world.homeroom, world.teacher, world.group_id, clock, (15, 40), (15, 42), 4,
              class_id=world.class_id)
    hand_over(world, world.teacher, world.club_teacher, world.club_id, clock, (16, 0), (16, 2), 1,
              pupil_ids=[world.pupil(2)])
    hand_over(world, world.club_teacher, world.teacher, world.group_id, clock, (16, 50), (16, 52), 1,
              pupil_ids=[world.pupil(2)])
    hand_over(world, world.teacher, world.guard, world.gate_id, clock, (17, 5), (17, 6), 2,
              pupil_ids=[world.pupil(0), world.pupil(1)])
    clock.set(at(17, 10))
    ok(world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                                                "identity_check": "id_card",
                                                "collector_id": world.guardian(0)["guardian_id"]}))
    clock.set(at(17, 12))
    refused = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(1)], "gate_id": world.gate_id,
                                                       "identity_check": "id_card", "adult": {"name": "陌生人"}})
    assert refused.status_code == 422
    clock.set(at(17, 15))
    ok(world.post(world.teacher, "/v1/care-notes", {"group_id": world.group_id, "text": "作业均已完成，秩序良好"}), 201)
    clock.set(at(17, 18))
    ok(world.post(world.teacher, "/v1/care-notes", {
        "group_id": world.group_id, "kind": "emergency", "pupil_ids": [world.pupil(3)],
        "text": "学生3 在教室摔倒，膝盖擦伤 <轻微>", "actions_taken": "先行处置：校医消毒包扎",
        "guardian_notified": True, "reported_to_leadership": True}), 201)
    clock.set(at(17, 40))  # after 三年级's 17:20 dismissal: the group's session has closed
    return world


def care_log(world: World, group_id: str | None = None, **params: Any) -> dict[str, Any]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    params = {"group_id": group_id or world.group_id, "min_position": head, **params}
    return ok(world.client.get("/v1/care-log", params=params, headers=world.admin.h()))


def export(world: World, fmt: str, **params: Any) -> Any:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = world.client.get("/v1/care-log/export", headers=world.inspector.h(), params={
        "group_id": world.group_id, "format": fmt, "min_position": head, **params})
    assert r.status_code == 200, r.text
    return r


def test_the_care_log_shows_who_supervised_when_and_every_handover_with_both_counts(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    log = care_log(world)
    assert (log["group_name"], log["day"], log["closed"]) == ("三年级作业组", SESSION_DAY, True)
    [zhang] = log["supervisors"]
    assert (zhang["name"], zhang["first_at"][11:16], zhang["last_at"], zhang["holding_now"]) == \
           ("张老师", "15:42", None, 2)
    lines = [(h["direction"], h["kind"], h["giver"]["name"], h["to"]["name"], h["count_given"],
              h["count_received"], h["mismatch"]) for h in log["handovers"]]
    assert lines == [("into", "class_handover", "李老师", "张老师", 4, 4, False),
                     ("out", "transfer", "张老师", "赵老师", 1, 1, False),
                     ("into", "transfer", "赵老师", "张老师", 1, 1, False),
                     ("out", "to_gate", "张老师", "刘保安", 2, 2, False)]
    counts = log["counts"]
    assert (counts["expected"], counts["absent_with_leave"], counts["handover_given"],
            counts["handover_received"], counts["received"], counts["released"]) == (5, 1, 4, 4, 4, 1)
    assert (counts["in_custody_now"], counts["at_close"], counts["refusals"], counts["emergencies"]) == (2, 2, 1, 1)


def test_the_attendance_sheet_tells_each_pupils_afternoon(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    rows = {r["name"]: r for r in care_log(world)["attendance"]}
    assert list(rows) == ["学生0", "学生1", "学生2", "学生3", "学生4"]
    assert (rows["学生0"]["status_label"], rows["学生0"]["collected_by"], rows["学生0"]["gate"],
            rows["学生0"]["identity_check"], rows["学生0"]["handled_by"], rows["学生0"]["gone_at"][11:16]) == \
           ("家长接走", "家长0（母亲）", "东门", "身份证", "刘保安", "17:10")
    assert (rows["学生0"]["received_from"], rows["学生0"]["received_by"], rows["学生0"]["left_to"]) == \
           ("李老师", "张老师", "东门（刘保安）")
    first = rows["学生1"]
    assert (first["status"], first["custodian"], first["refusals"]) == ("in_custody", "刘保安", 1)
    second = rows["学生2"]
    assert (second["transfers"], second["in_group_now"], second["remarks"]) == (1, True, "走班 1 次")
    assert (rows["学生4"]["status_label"], rows["学生4"]["absence_reason"], rows["学生4"]["arrived_at"]) == \
           ("请假", "病假", None)
    assert [r["in_group_at_close"] for r in rows.values()] == [False, False, True, True, False]


def test_the_timeline_tells_the_afternoon_in_order_with_refusals_alerts_and_notes(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    log = care_log(world)
    told = [(r["at"][11:16], r["kind"], [p["name"] for p in r["pupils"]]) for r in log["timeline"]]
    assert told[0] == ("15:30", "absent", ["学生4"])
    assert ("16:00", "handover_offered", ["学生2"]) in told and ("16:52", "handover_confirmed", ["学生2"]) in told
    assert ("17:12", "release_refused", ["学生1"]) in told and ("17:12", "alert_raised", ["学生1"]) in told
    assert [t[1] for t in told][-2:] == ["note", "emergency"]
    refusal = next(r for r in log["timeline"] if r["kind"] == "release_refused")
    assert "陌生人" in refusal["summary"] and refusal["by"]["name"] == "刘保安"
    [alert] = log["alerts"]
    assert (alert["kind"], alert["status"], alert["pupils"][0]["name"]) == ("release_refused", "open", "学生1")
    emergency = log["notes"][1]
    assert (emergency["kind"], emergency["guardian_notified"], emergency["reported_to_leadership"],
            emergency["by"]["name"], emergency["pupils"][0]["name"], emergency["outstanding"]) == \
           ("emergency", True, True, "张老师", "学生3", [])


def test_the_club_log_shows_the_club_teacher_and_the_visiting_pupil(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    log = care_log(world, world.club_id)
    [zhao] = log["supervisors"]
    assert (zhao["name"], zhao["first_at"][11:16], zhao["last_at"][11:16], zhao["holding_now"]) == \
           ("赵老师", "16:02", "16:52", 0)
    [visitor] = log["attendance"]
    assert (visitor["name"], visitor["member"], visitor["left_to"]) == ("学生2", "visitor", "三年级作业组（张老师）")
    assert [h["direction"] for h in log["handovers"]] == ["into", "out"]
    assert log["notes"] == [] and log["counts"]["at_close"] == 0


def test_a_correction_names_the_fact_it_voids(client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    clock.set(at(15, 30))
    absent = ok(world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(1), "with_leave": False}))
    clock.set(at(15, 35))
    ok(world.post(world.homeroom, "/v1/corrections", {"pupil_id": world.pupil(1), "day": SESSION_DAY,
                                                     "corrects": absent["version"], "reason": "家长已请假，误记"}))
    ok(world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(1), "with_leave": True, "reason": "事假"}))
    log = care_log(world)
    told = [(r["at"][11:16], r["kind"], r["voided"]) for r in log["timeline"]]
    assert told == [("15:30", "absent", True), ("15:35", "corrected", False), ("15:35", "absent", False)]
    assert "作废第 2 条记录（缺勤 15:30），原因：家长已请假，误记" in log["timeline"][1]["summary"]
    assert log["counts"]["absent_with_leave"] == 1 and log["counts"]["absent_without_leave"] == 0


def test_the_csv_opens_in_excel_with_chinese_headers_and_a_row_per_pupil(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    r = export(world, "csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    assert f"filename*=UTF-8''{quote('看护日志_三年级作业组_2026-11-23.csv')}" in r.headers["content-disposition"]
    assert r.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["姓名"] for row in rows] == ["学生0", "学生1", "学生2", "学生3", "学生4"]
    first = rows[0]
    assert (first["出勤情况"], first["接送人"], first["校门"], first["核验方式"], first["离校时间"]) == \
           ("家长接走", "家长0（母亲）", "东门", "身份证", "17:10")
    assert (rows[4]["出勤情况"], rows[4]["请假/缺勤原因"]) == ("请假", "病假")
    timeline = list(csv.DictReader(io.StringIO(export(world, "csv", sheet="timeline").content.decode("utf-8-sig"))))
    assert any(t["类型"] == "突发事件" and "膝盖擦伤" in t["内容"] for t in timeline)


def test_the_xlsx_has_a_titled_sheet_for_attendance_and_for_the_timeline(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    r = export(world, "xlsx")
    assert quote("看护日志_三年级作业组_2026-11-23.xlsx") in r.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["签到表", "时间线", "交接记录", "看护记录"]
    sheet = book["签到表"]
    assert "实验小学 看护日志" in sheet["A1"].value and "三年级作业组" in sheet["A2"].value
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert values[0][:5] == ["序号", "姓名", "班级", "类别", "出勤情况"]
    assert [v[1] for v in values[1:]] == ["学生0", "学生1", "学生2", "学生3", "学生4"]
    assert values[1][14] == "家长0（母亲）"
    timeline = [row[4] for row in book["时间线"].iter_rows(min_row=4, values_only=True)]
    assert any("陌生人" in text for text in timeline) and any("校医消毒包扎" in text for text in timeline)
    handovers = [(h[1], h[6], h[7]) for h in book["交接记录"].iter_rows(min_row=4, values_only=True)]
    assert handovers == [("转入", 4, 4), ("转出", 1, 1), ("转入", 1, 1), ("转出", 2, 2)]


def test_the_printable_page_lists_the_pupils_and_has_signature_lines(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    r = export(world, "html")
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert all(f"学生{i}" in page for i in range(5))
    assert "带班教师（签名）" in page and "值日领导（签名）" in page
    assert "@page { size: A4" in page and "实验小学" in page and "2026-11-23 星期一" in page
    assert "膝盖擦伤 &lt;轻微&gt;" in page and "<轻微>" not in page


def test_another_schools_group_is_not_found(client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    other = a_school(client, app, 1, name="第二小学")
    for path in ("/v1/care-log", "/v1/care-log/export"):
        r = client.get(path, params={"group_id": other.group_id}, headers=world.admin.h())
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = world.post(world.teacher, "/v1/care-notes", {"group_id": other.group_id, "text": "x"})
    assert r.status_code == 404


def test_bad_input_is_refused_naming_the_field(client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    r = client.get("/v1/care-log", params={"group_id": world.group_id, "session": "night"}, headers=world.admin.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "session"
    r = client.get("/v1/care-log/export", params={"group_id": world.group_id, "format": "pdf"},
                   headers=world.admin.h())
    assert r.status_code == 422 and "format" in r.json()["errors"][0]["field"]
    r = world.post(world.teacher, "/v1/care-notes", {"group_id": world.group_id, "kind": "emergency", "text": "摔倒"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "actions_taken"
    r = world.post(world.inspector, "/v1/care-notes", {"group_id": world.group_id, "text": "巡查"})
    assert r.status_code == 403


def test_an_emergency_followed_up_later_no_longer_waits_on_anyone(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    clock.set(at(16, 30))
    note = ok(world.post(world.teacher, "/v1/care-notes", {
        "group_id": world.group_id, "kind": "emergency", "text": "流鼻血", "actions_taken": "止血"}), 201)
    assert note["outstanding"] == ["notify_guardian", "report_to_leadership"]
    assert care_log(world)["notes"][0]["outstanding"] == ["notify_guardian", "report_to_leadership"]
    clock.set(at(16, 40))
    ok(world.post(world.teacher, f"/v1/care-notes/{note['note_id']}/follow-ups",
                  {"actions_taken": "已电话告知母亲", "guardian_notified": True, "reported_to_leadership": True}))
    [logged] = care_log(world)["notes"]
    assert logged["outstanding"] == [] and logged["follow_ups"][0]["by"]["name"] == "张老师"
    again = world.post(world.teacher, f"/v1/care-notes/{note['note_id']}/follow-ups", {"guardian_notified": True})
    assert again.status_code == 422


@every_store
def test_a_rebuild_from_zero_gives_the_same_care_log(client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app, clock)
    before = care_log(world)
    runner = client.app.state.views.runners["care_log"]  # type: ignore[attr-defined]
    runner.stop()
    runner.view.reset()
    runner.catch_up()
    after = care_log(world)
    # Everything but the position: other parts of the service may have written since.
    assert {k: v for k, v in after.items() if k != "position"} == \
           {k: v for k, v in before.items() if k != "position"}


def test_a_substitute_who_takes_over_the_group_supervises_from_their_confirmation(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    hand_over(world, world.homeroom, world.teacher, world.group_id, clock, (15, 40), (15, 41), 2,
              class_id=world.class_id)
    hand_over(world, world.teacher, world.club_teacher, world.group_id, clock, (16, 30), (16, 31), 2,
              pupil_ids=[world.pupil(0), world.pupil(1)])
    log = care_log(world)
    assert [(s["name"], s["first_at"][11:16], s["last_at"] and s["last_at"][11:16], s["holding_now"])
            for s in log["supervisors"]] == [("张老师", "15:41", "16:31", 0), ("赵老师", "16:31", None, 2)]
    assert [h["direction"] for h in log["handovers"]] == ["into", "within"]


def test_a_cell_that_looks_like_a_formula_stays_text_in_csv_and_xlsx() -> None:
    table = Table("签到表", ["姓名", "备注"], [["学生0", "=HYPERLINK(\"http://x\")"], ["学生1", None]])
    [header, first, second] = list(csv.reader(io.StringIO(csv_bytes(table).decode("utf-8-sig"))))
    assert header == ["姓名", "备注"] and first == ["学生0", "'=HYPERLINK(\"http://x\")"] and second == ["学生1", ""]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes("看护日志", ["第一行"], [table])))["签到表"]
    assert sheet["B4"].value == "=HYPERLINK(\"http://x\")" and sheet["B4"].data_type == "s"
    assert content_disposition("看护日志/三年级.csv", "care-log.csv").startswith(
        'attachment; filename="care-log.csv"; filename*=UTF-8\'\'%E7%9C%8B')


def test_a_groups_care_log_is_written_by_those_who_supervise_it(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    note = {"group_id": world.group_id, "text": "作业均已完成"}
    for who in (world.guard, world.club_teacher, world.homeroom):
        r = world.post(who, "/v1/care-notes", note)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert world.post(world.teacher, "/v1/care-notes", note).status_code == 201
    assert world.post(world.admin, "/v1/care-notes", note).status_code == 201
    # A substitute signed on for the group that session writes in its log.
    r = world.post(world.admin, "/v1/shifts/sign-on", {"place_id": world.group_id,
                                                       "staff_id": world.club_teacher.staff_id,
                                                       "substitute_for": world.teacher.staff_id})
    assert r.status_code == 201, r.text
    assert world.post(world.club_teacher, "/v1/care-notes", note).status_code == 201
