"""Monthly statements (DESIGN §1 每月公示, seed 004): rules, shifts, statements traced to events, XLSX."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from service.application import HandoverApp
from service.demo.month import generate_month
from service.domain.handover import Handover
from service.domain.pupil_day import PupilDay
from service.domain.shift import Shift
from service.reports.exports import XLSX_TYPE
from service.use_cases.clock import FixedClock
from tests.builders import World, a_school, add_staff, handed_to_teacher, key
from tests.conftest import SHANGHAI
from tests.stores import every_store

MONTH = "2026-11"
BEFORE_THE_MONTH = datetime(2026, 10, 30, 8, 0, tzinfo=SHANGHAI)
FEE_RULE = {"basis": "term", "amount": "600.00", "daily_rate": "8.00", "monthly_cap": "200.00",
            "reductions": {"困难": 100, "留守": 50}}


def head(app: HandoverApp) -> int:
    return app.recorder.max_notification_id() or 0


def get(world: World, path: str, **params: Any) -> Any:
    params.setdefault("min_position", head(world.client.app.state.handover))  # type: ignore[attr-defined]
    r = world.client.get(path, params=params, headers=world.admin.h())
    assert r.status_code == 200, r.text
    return r.json()


def stored_events(app: HandoverApp) -> Iterator[Any]:
    start = 1
    while page := app.recorder.select_notifications(start=start, limit=1000):
        yield from (app.mapper.to_domain_event(n) for n in page)
        start = page[-1].id + 1


def refs_in(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if {"aggregate_id", "version", "event"} <= value.keys():
            yield value
        for v in value.values():
            yield from refs_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from refs_in(v)


# -- a generated month, checked against the events themselves ---------------------------------------

@every_store
def test_a_generated_month_gives_statements_that_agree_with_the_stored_events(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    clock.set(BEFORE_THE_MONTH)
    world = a_school(client, app, 5)
    add_staff(client, world.admin, "孙值班", ["duty_leader"])
    assert client.put("/v1/school/fee-rule", json=FEE_RULE, headers=world.admin.h(**key())).status_code == 200
    for i, tag in ((0, "困难"), (1, "留守")):
        r = client.put(f"/v1/pupils/{world.pupil(i)}/tags", json={"tags": [tag]}, headers=world.admin.h(**key()))
        assert r.status_code == 200, r.text

    done = generate_month(app, world.school_id, MONTH, seed=7).done
    assert done["substitute"] == 1 and done["correction"] == 1 and done["withdrawal"] == 1

    pupils = get(world, "/v1/statements/pupils", month=MONTH)["pupils"]
    staff = get(world, "/v1/statements/staff", month=MONTH)["staff"]
    events = list(stored_events(app))
    days = {e.originator_id: e.day for e in events if isinstance(e, PupilDay.Opened | Shift.SignedOn)}
    recorded = [(days[e.originator_id], e.by["at"]) for e in events if e.originator_id in days
                and isinstance(getattr(e, "by", None), dict)]
    assert recorded and all(  # every fact is stamped with the afternoon it happened in
        datetime.fromisoformat(at).astimezone(SHANGHAI).date().isoformat() == day for day, at in recorded)
    assert_pupil_figures_match(app, world, pupils, events)
    assert_staff_figures_match(app, world, staff, events)
    assert_fees_follow_the_rule(world, pupils)
    for ref in refs_in({"pupils": pupils, "staff": staff}):
        found = list(app.events.get(UUID(ref["aggregate_id"]), gt=ref["version"] - 1, lte=ref["version"]))
        assert [type(e).__qualname__ for e in found] == [ref["event"]], ref

    runner = client.app.state.views.runners["statements"]  # type: ignore[attr-defined]
    runner.stop()
    runner.view.reset()
    runner.catch_up()  # rebuilt from zero: the same month
    assert get(world, "/v1/statements/pupils", month=MONTH)["pupils"] == pupils
    assert get(world, "/v1/statements/staff", month=MONTH)["staff"] == staff


def service_days() -> list[date]:
    first = date(2026, 11, 1)
    days = [first + timedelta(days=i) for i in range(30)]
    return [d for d in days if d.isoweekday() <= 4]  # the default schedule: Mon–Thu


def assert_pupil_figures_match(app: HandoverApp, world: World, pupils: list[dict[str, Any]],
                               events: list[Any]) -> None:
    chains = {(e.pupil_id, e.day): e.originator_id for e in events if isinstance(e, PupilDay.Opened)}
    expected: dict[str, Counter[str]] = {}
    for i in range(len(world.pupils)):
        pid, counts = world.pupil(i), Counter[str]()
        pupil = app.pupil(world.school_id, pid, readonly=True)
        for d in service_days():
            if not pupil.expected_on(d, "after_school"):
                continue
            counts["enrolled"] += 1
            chain = chains.get((pid, d.isoformat()))
            entries: list[dict[str, Any]] = app.repository.get(chain).entries if chain else []
            voided = {e["corrects"] for e in entries if e["type"] == "corrected"}
            kinds = [e for e in entries if e["seq"] not in voided]
            types = {e["type"] for e in kinds}
            absent = [e for e in kinds if e["type"] == "absent"]
            if types & {"signed_in", "custody_taken"}:
                counts["attended"] += 1
            elif absent:
                counts["absent_with_leave" if absent[-1]["with_leave"] else "absent_without_leave"] += 1
            if "left_early" in types:
                counts["left_early"] += 1
        expected[pid] = counts
    for row in pupils:
        got = {k: row[k]["count"] for k in ("enrolled", "attended", "absent_with_leave",
                                             "absent_without_leave", "left_early")}
        assert got == {k: expected[row["pupil_id"]][k] for k in got}, row["name"]
        assert row["unrecorded"]["count"] == 0
    assert sum(r["absent_with_leave"]["count"] + r["absent_without_leave"]["count"] for r in pupils) > 0
    assert sum(r["left_early"]["count"] for r in pupils) > 0


def assert_staff_figures_match(app: HandoverApp, world: World, staff: list[dict[str, Any]],
                               events: list[Any]) -> None:
    shifts: list[Any] = [app.repository.get(e.originator_id) for e in events
                         if isinstance(e, Shift.SignedOn)]
    by_staff = {s["staff_id"]: s for s in staff}
    counts: dict[str, Counter[str]] = {}
    for s in shifts:
        c = counts.setdefault(s.staff["staff_id"], Counter())
        c["duty_sessions" if s.place["id"] == "duty" else "sessions_supervised"] += 1
        late_after = datetime.fromisoformat(s.starts_at) + timedelta(minutes=5)
        c["late_arrivals"] += datetime.fromisoformat(s.signed_on_at) > late_after
        c["early_leaves"] += bool(s.signed_off_at) and (
            datetime.fromisoformat(s.signed_off_at) < datetime.fromisoformat(s.ends_at))
        c["substitutions"] += s.substitute_for is not None
    for e in events:
        if isinstance(e, Handover.Confirmed) and e.mismatch:
            h: Any = app.repository.get(e.originator_id)
            for party in {h.giver["staff_id"], h.to["staff_id"]}:
                counts.setdefault(party, Counter())["handover_violations"] += 1
        if isinstance(e, PupilDay.Corrected) and e.corrected_type == "released":
            released: dict[str, Any] = app.repository.get(e.originator_id).entries[e.corrects - 1]
            counts.setdefault(released["by"]["staff_id"], Counter())["handover_violations"] += 1
    group_days = {(s.day, s.place["id"]) for s in shifts}
    unattended = [d for d in service_days() if (d.isoformat(), world.group_id) not in group_days]
    counts.setdefault(world.teacher.staff_id, Counter())["unattended_rooms"] = len(unattended)
    for sid, c in counts.items():
        row = by_staff[sid]
        for figure in ("sessions_supervised", "duty_sessions", "late_arrivals", "early_leaves",
                       "substitutions", "unattended_rooms", "handover_violations"):
            assert row[figure]["count"] == c[figure], (row["name"], figure)
        pct = min(100, (100 if c["early_leaves"] >= 3 else 10 * c["early_leaves"])
                  + (100 if c["unattended_rooms"] else 0)
                  + (100 if c["handover_violations"] >= 3 else 10 * c["handover_violations"]))
        gross = 20 * c["sessions_supervised"] + 7 * c["duty_sessions"]
        assert Decimal(row["subsidy"]["gross"]) == gross
        assert Decimal(row["subsidy"]["net"]) == Decimal(gross * (100 - pct)) / 100, row["name"]
    totals = Counter[str]()
    for c in counts.values():
        totals.update(c)
    assert totals["unattended_rooms"] == 1 and totals["substitutions"] == 1
    assert totals["late_arrivals"] > 0 and totals["early_leaves"] > 0
    assert totals["handover_violations"] == 2 * 2 + 1  # two miscounts (both parties), one voided release


def assert_fees_follow_the_rule(world: World, pupils: list[dict[str, Any]]) -> None:
    by_id = {r["pupil_id"]: r for r in pupils}
    hardship, left_behind = by_id[world.pupil(0)], by_id[world.pupil(1)]
    assert hardship["fee"]["owed"] == "0.00" and hardship["fee"]["gross"] == "124.39"  # 600 × 17/82
    assert left_behind["fee"]["owed"] == "62.19"  # less 50 %: 62.195 waived, rounded half up
    withdrawn = [r for r in pupils if r["enrolled"]["count"] < 17]
    assert len(withdrawn) == 1
    attended = withdrawn[0]["attended"]["count"]
    assert Decimal(withdrawn[0]["fee"]["owed"]) == min(Decimal("124.39"), 8 * attended)


# -- shifts over HTTP -------------------------------------------------------------------------------

def at(clock: FixedClock, hhmm: str) -> None:
    hour, minute = (int(x) for x in hhmm.split(":"))
    clock.set(datetime(2026, 11, 23, hour, minute, tzinfo=SHANGHAI))


def test_a_teacher_who_signs_on_late_and_off_early_sees_both_on_the_shift(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    at(clock, "15:52")  # the session starts at 15:40; five minutes' grace by default
    r = world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id})
    assert r.status_code == 201, r.text
    assert r.json()["minutes_late"] == 12 and r.json()["ends_at"].startswith("2026-11-23T17:20")
    at(clock, "17:05")  # grade 3 (middle band) is dismissed at 17:20
    r = world.post(world.teacher, "/v1/shifts/sign-off", {"place_id": world.group_id})
    assert r.status_code == 200, r.text
    assert r.json()["left_early"] is True
    listed = get(world, "/v1/shifts", day="2026-11-23")["shifts"]
    assert [(s["staff"]["name"], s["place"]["label"], s["off_at"][11:16]) for s in listed] == \
        [("张老师", "三年级作业组", "17:05")]
    statement = get(world, f"/v1/statements/staff/{world.teacher.staff_id}", month=MONTH)
    assert statement["late_arrivals"]["count"] == 1 and statement["early_leaves"]["count"] == 1
    assert statement["subsidy"]["net"] == "18.00"  # 20.00 less 10 % for the early leave


def test_only_an_admin_or_duty_leader_signs_on_a_colleague_or_a_substitute(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    at(clock, "15:35")
    r = world.post(world.homeroom, "/v1/shifts/sign-on", {"place_id": world.group_id,
                   "staff_id": world.club_teacher.staff_id})
    assert r.status_code == 403, r.text
    r = world.post(world.homeroom, "/v1/shifts/sign-on", {"place_id": world.group_id,
                   "substitute_for": world.teacher.staff_id})
    assert r.status_code == 403, r.text
    r = world.post(world.admin, "/v1/shifts/sign-on", {"place_id": world.group_id,
                   "staff_id": world.homeroom.staff_id, "substitute_for": world.teacher.staff_id})
    assert r.status_code == 201, r.text
    assert r.json()["substitute_for"]["name"] == "张老师" and r.json()["signed_on_by"] == world.admin.staff_id
    statement = get(world, f"/v1/statements/staff/{world.homeroom.staff_id}", month=MONTH)
    assert statement["substitutions"]["items"][0]["replaced"]["name"] == "张老师"


def test_a_second_sign_on_is_refused_while_one_is_open(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    at(clock, "15:35")
    assert world.post(world.club_teacher, "/v1/shifts/sign-on", {"place_id": world.club_id}).status_code == 201
    again = world.post(world.club_teacher, "/v1/shifts/sign-on", {"place_id": world.club_id})
    assert again.status_code == 409 and again.json()["current_state"]["place"]["label"] == "围棋社"
    elsewhere = world.post(world.club_teacher, "/v1/shifts/sign-on", {"place_id": world.group_id})
    assert elsewhere.status_code == 409, elsewhere.text
    duty = world.post(world.club_teacher, "/v1/shifts/sign-on", {"place_id": "duty"})
    assert duty.status_code == 422 and duty.json()["errors"][0]["field"] == "place_id"
    at(clock, "23:00")
    off = world.post(world.teacher, "/v1/shifts/sign-off", {"place_id": world.group_id})
    assert off.status_code == 404


def test_an_unattended_room_and_a_miscounted_handover_cost_the_teacher_their_month(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 3)
    at(clock, "15:45")
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 4,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    world.post(world.teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 3})
    assert get(world, f"/v1/statements/staff/{world.teacher.staff_id}", month=MONTH)[
        "unattended_rooms"]["count"] == 0  # the session is not over yet: nobody judged
    at(clock, "17:31")  # the last band is dismissed at 17:30
    statement = get(world, f"/v1/statements/staff/{world.teacher.staff_id}", month=MONTH)
    [room] = statement["unattended_rooms"]["items"]
    assert (room["day"], room["group_name"], room["pupils"]) == ("2026-11-23", "三年级作业组", 3)
    assert statement["handover_violations"]["items"][0]["kind"] == "count_mismatch"
    assert statement["subsidy"]["deduction_percent"] == 100
    giver = get(world, f"/v1/statements/staff/{world.homeroom.staff_id}", month=MONTH)
    assert giver["handover_violations"]["count"] == 1


def test_a_corrected_absence_counts_as_attendance_and_says_where_it_came_from(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    at(clock, "09:00")
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": False})
    world.post(world.homeroom, "/v1/corrections", {"pupil_id": world.pupil(0), "day": "2026-11-23",
               "corrects": r.json()["version"], "reason": "记错了，学生在校"})
    world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(1), "with_leave": True, "reason": "病假"})
    at(clock, "15:45")
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 1,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    world.post(world.teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 1})
    present = get(world, f"/v1/statements/pupils/{world.pupil(0)}", month=MONTH)
    assert present["attended"]["days"] == ["2026-11-23"] and present["absent_without_leave"]["count"] == 0
    assert present["attended"]["refs"][0]["event"] == "PupilDay.CustodyTaken"
    away = get(world, f"/v1/statements/pupils/{world.pupil(1)}", month=MONTH)
    assert away["absent_with_leave"]["refs"][0]["event"] == "PupilDay.MarkedAbsent"
    assert away["enrolled"]["count"] == 5  # Mon–Thu from the 23rd, the day the enrolment was signed


# -- rules, refusals, isolation, the workbook -----------------------------------------------------

def test_only_an_admin_sets_the_rules_each_change_names_who_and_bad_input_names_the_field(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    assert get(world, "/v1/school/subsidy-rule")["per_session"] == "20.00"
    r = client.put("/v1/school/fee-rule", json=FEE_RULE, headers=world.teacher.h(**key()))
    assert r.status_code == 403
    r = client.put("/v1/school/subsidy-rule", json={"per_session": 25, "per_duty_session": "8.50"},
                   headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text
    found = client.get("/v1/school/subsidy-rule", headers=world.guard.h()).json()
    assert (found["per_session"], found["per_duty_session"], found["set_by"]["staff_name"]) == \
        ("25.00", "8.50", "王校长")
    assert found["deductions"]["early_leave"] == {"each_pct": 10, "all_at": 3}
    for path, params in (("/v1/statements/pupils", {"month": "2026-13"}),
                         ("/v1/statements/publication", {"month": "2026/11"})):
        r = client.get(path, params=params, headers=world.admin.h())
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        assert "month" in r.json()["errors"][0]["field"]
    r = client.put("/v1/school/fee-rule", json={**FEE_RULE, "reductions": {"富裕": 10}},
                   headers=world.admin.h(**key()))
    assert r.status_code == 422 and "reductions" in r.json()["errors"][0]["field"]
    r = client.put("/v1/school/fee-rule", json={**FEE_RULE, "amount": "1.234"}, headers=world.admin.h(**key()))
    assert r.status_code == 422 and "amount" in r.json()["errors"][0]["field"]


def test_another_schools_pupils_and_staff_are_not_found(client: TestClient, app: HandoverApp) -> None:
    ours, theirs = a_school(client, app, 1), a_school(client, app, 1, name="第二小学")
    for path in (f"/v1/statements/pupils/{theirs.pupil(0)}", f"/v1/statements/staff/{theirs.teacher.staff_id}"):
        r = client.get(path, params={"month": MONTH, "min_position": head(app)}, headers=ours.admin.h())
        assert r.status_code == 404, r.text


def test_the_publication_is_a_workbook_of_two_chinese_sheets_titled_with_school_and_month(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    at(clock, "15:35")
    world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id})
    handed_to_teacher(world)
    r = client.get("/v1/statements/publication", params={"month": MONTH, "min_position": head(app)},
                   headers=world.inspector.h())
    assert r.status_code == 200 and r.headers["content-type"] == XLSX_TYPE
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["学生考勤与收费", "教师课后服务补助"]
    pupils, staff = book["学生考勤与收费"], book["教师课后服务补助"]
    assert pupils["A1"].value.startswith("实验小学 2026年11月")
    rows = list(pupils.iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if row[0] == "班级")
    assert rows[header][:4] == ("班级", "学生", "应到天数", "出勤天数")
    assert [row[1] for row in rows[header + 1:]] == ["学生0", "学生1"]
    assert rows[header + 1][3] == 1
    teacher = next(row for row in staff.iter_rows(values_only=True) if row[0] == "张老师")
    assert teacher[1] == 1 and teacher[-1] == 20
