"""Enrolment for many pupils at once and from the roster: rules on the aggregate, the rest in memory."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Mapper
from fastapi.testclient import TestClient
from openpyxl import Workbook

from service.application import HandoverApp
from service.domain.errors import ConflictError, RuleError
from service.domain.pupil import Pupil
from service.imports.roster import parse_roster
from service.use_cases.enrolment import Term, enrol_through_to_signed
from tests.builders import TERM, World, a_school, add_staff, key
from tests.refs import actor

BY = actor("a1", "王校长", "admin", "2026-11-23T08:00:00+08:00")
AUTUMN = Term("2026秋", date(2026, 9, 1), date(2027, 1, 20), ["after_school"])
HEADER = "姓名,性别,班级,班主任,家长姓名,联系电话"


@pytest.fixture
def store() -> str:
    return "memory"  # the store does not matter here; tests/test_enrolment_stores.py covers it


def a_pupil() -> Pupil:
    return Pupil.register("s1", "k1", "张小明", "男", "c1", BY)


def steps(pupil: Pupil) -> list[tuple[str, str | None]]:
    return [(type(e).__name__, getattr(e, "step", None)) for e in pupil.collect_events()]


# -- the aggregate ----------------------------------------------------------------------------

def test_the_signed_step_records_the_agreement_date_and_reference_and_who_signed() -> None:
    pupil = a_pupil()
    pupil.apply_for_care("2026秋", date(2026, 9, 1), date(2027, 1, 20), ["after_school"], None, BY)
    pupil.advance_enrolment("class_reviewed", None, BY)
    pupil.advance_enrolment("school_approved", None, BY)
    pupil.collect_events()
    pupil.advance_enrolment("signed", None, BY, {"signed_on": "2026-08-28", "reference": "档案盒3"})
    [signed] = pupil.collect_events()
    assert isinstance(signed, Pupil.EnrolmentAdvanced)
    assert signed.agreement == {"signed_on": "2026-08-28", "reference": "档案盒3"}
    assert signed.by["staff_id"] == "a1"
    assert pupil.enrolment_view()["agreement"] == {"signed_on": "2026-08-28", "reference": "档案盒3"}


def test_an_agreement_goes_only_with_the_signed_step() -> None:
    pupil = a_pupil()
    pupil.apply_for_care("2026秋", date(2026, 9, 1), date(2027, 1, 20), ["after_school"], None, BY)
    with pytest.raises(RuleError):
        pupil.advance_enrolment("class_reviewed", None, BY, {"signed_on": "2026-08-28"})
    assert pupil.enrolment["status"] == "applied"


def test_a_step_recorded_before_agreements_were_kept_still_reads(app: HandoverApp) -> None:
    pupil = a_pupil()
    pupil.apply_for_care("2026秋", date(2026, 9, 1), date(2027, 1, 20), ["after_school"], None, BY)
    pupil.advance_enrolment("class_reviewed", "ok", BY)
    plain: Mapper[UUID] = Mapper(transcoder=app.mapper.transcoder)  # the stored JSON, unencrypted
    stored = plain.to_stored_event(pupil.collect_events()[-1])
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2 and state.pop("agreement") is None
    old = type(stored)(stored.originator_id, stored.originator_version, stored.topic,
                       json.dumps(state).encode())
    read = plain.to_domain_event(old)
    assert isinstance(read, Pupil.EnrolmentAdvanced)
    assert (read.step, read.note, read.agreement) == ("class_reviewed", "ok", None)


def test_enrolment_reached_means_at_or_past_the_step_for_that_term() -> None:
    pupil = a_pupil()
    assert not pupil.enrolment_reached("applied")
    pupil.apply_for_care("2026秋", date(2026, 9, 1), date(2027, 1, 20), ["after_school"], None, BY)
    pupil.advance_enrolment("class_reviewed", None, BY)
    assert pupil.enrolment_reached("applied") and pupil.enrolment_reached("class_reviewed")
    assert not pupil.enrolment_reached("school_approved")
    assert not pupil.enrolment_reached("applied", "2027春")


def test_a_paper_agreement_takes_the_pupil_through_each_remaining_step_in_order() -> None:
    fresh, halfway = a_pupil(), a_pupil()
    halfway.apply_for_care("2026秋", date(2026, 9, 1), date(2027, 1, 20), ["after_school"], None, BY)
    halfway.advance_enrolment("class_reviewed", None, BY)
    halfway.collect_events()
    assert enrol_through_to_signed(fresh, AUTUMN, {"signed_on": None, "reference": None}, "纸质", BY) == "done"
    assert steps(fresh)[1:] == [("EnrolmentApplied", None), ("EnrolmentAdvanced", "class_reviewed"),
                                ("EnrolmentAdvanced", "school_approved"), ("EnrolmentAdvanced", "signed")]
    enrol_through_to_signed(halfway, AUTUMN, {"signed_on": None, "reference": None}, "纸质", BY)
    assert steps(halfway) == [("EnrolmentAdvanced", "school_approved"), ("EnrolmentAdvanced", "signed")]
    assert enrol_through_to_signed(halfway, AUTUMN, {}, "纸质", BY) == "already"
    assert halfway.collect_events() == []


def test_a_paper_agreement_never_reenrols_a_withdrawn_pupil() -> None:
    pupil = a_pupil()
    enrol_through_to_signed(pupil, AUTUMN, {}, "纸质", BY)
    pupil.withdraw(date(2026, 11, 2), "转学", BY)
    pupil.collect_events()
    with pytest.raises(ConflictError):
        enrol_through_to_signed(pupil, AUTUMN, {}, "纸质", BY)
    assert pupil.collect_events() == [] and pupil.enrolment["status"] == "withdrawn"


# -- the roster's 协议 column -----------------------------------------------------------------

def test_the_roster_agreement_column_reads_yes_no_dates_and_references() -> None:
    rows = [f"{HEADER},已签协议,协议编号",
            "甲,男,三年级(2)班,李老师,甲父,13800000001,是,XY-001",
            "乙,女,三年级(2)班,李老师,乙母,13800000002,否,",
            "丙,男,三年级(2)班,李老师,丙父,13800000003,2026年8月28日,",
            "丁,女,三年级(2)班,李老师,丁母,13800000004,,",
            "戊,女,三年级(2)班,李老师,戊母,13800000005,,XY-005"]
    parsed = parse_roster("\n".join(rows).encode(), "r.csv")
    assert parsed.ok, parsed.errors
    got = {r.name: r.agreement for r in parsed.rows}
    assert got["甲"] is not None and (got["甲"].signed, got["甲"].reference) == (True, "XY-001")
    assert got["乙"] is not None and not got["乙"].signed
    assert got["丙"] is not None and got["丙"].signed_on == date(2026, 8, 28)
    assert got["丁"] is None
    assert got["戊"] is not None and got["戊"].signed


def test_an_excel_date_in_the_agreement_column_is_the_date_signed() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([*HEADER.split(","), "协议签订日期"])
    sheet.append(["刘洋", "男", "二(1)班", "黄老师", "刘强", 13600136000, date(2026, 9, 3)])
    buf = io.BytesIO()
    book.save(buf)
    [row] = parse_roster(buf.getvalue(), "r.xlsx").rows
    assert row.agreement is not None and row.agreement.signed_on == date(2026, 9, 3)


def test_an_unreadable_agreement_cell_is_a_row_error() -> None:
    rows = [f"{HEADER},协议", "甲,男,三年级(2)班,李老师,甲父,13800000001,交了",
            "乙,男,三年级(2)班,李老师,乙父,13800000002,2026-02-30"]
    parsed = parse_roster("\n".join(rows).encode(), "r.csv")
    assert [(e.row, e.column) for e in parsed.errors] == [(2, "协议"), (3, "协议")]


# -- bulk steps over HTTP, in memory ----------------------------------------------------------

def new_pupils(world: World, n: int, class_id: str | None = None) -> list[str]:
    ids = []
    for i in range(n):
        r = world.post(world.admin, "/v1/pupils", {"name": f"新生{i}", "gender": "女",
                       "class_id": class_id or world.class_id})
        assert r.status_code == 201, r.text
        ids.append(r.json()["pupil_id"])
    return ids


def results(r: Any) -> dict[str, tuple[str, str | None]]:
    assert r.status_code == 200, r.text
    return {p["pupil_id"]: (p["result"], (p["reason"] or {}).get("code")) for p in r.json()["pupils"]}


def status(world: World, pupil_id: str) -> str:
    r = world.client.get(f"/v1/pupils/{pupil_id}", headers=world.admin.h())
    return str(r.json()["enrolment"]["status"])


def test_a_whole_class_goes_through_the_four_steps_each_pupil_by_its_own_event(
    client: TestClient, app: HandoverApp
) -> None:
    world = a_school(client, app, 1)
    ids = new_pupils(world, 3)
    r = world.post(world.admin, "/v1/enrolment/apply", {"class_id": world.class_id, **TERM})
    assert results(r) == {world.pupil(0): ("already", None), **{i: ("done", None) for i in ids}}
    assert (r.json()["done"], r.json()["already"], r.json()["refused"]) == (3, 1, 0)
    reviewed = world.post(world.homeroom, "/v1/enrolment/class_reviewed", {"class_id": world.class_id})
    assert results(reviewed)[ids[0]] == ("done", None)
    world.post(world.admin, "/v1/enrolment/school_approved", {"class_id": world.class_id})
    r = world.post(world.admin, "/v1/enrolment/signed", {"class_id": world.class_id,
                   "signed_on": "2026-11-20", "reference": "教导处档案柜"})
    assert r.json()["done"] == 3
    assert [status(world, i) for i in ids] == ["signed"] * 3
    pupil = app.pupil(world.school_id, ids[0])
    assert [(h["step"], h["by"]["staff_id"]) for h in pupil.enrolment["history"]] == [
        ("applied", world.admin.staff_id), ("class_reviewed", world.homeroom.staff_id),
        ("school_approved", world.admin.staff_id), ("signed", world.admin.staff_id)]
    assert pupil.enrolment["agreement"] == {"signed_on": "2026-11-20", "reference": "教导处档案柜"}


def test_a_refused_pupil_does_not_stop_the_others_and_says_why(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    applied, fresh = new_pupils(world, 2)
    world.post(world.admin, f"/v1/pupils/{applied}/enrolment/apply", TERM)
    r = world.post(world.admin, "/v1/enrolment/class_reviewed",
                   {"pupil_ids": [applied, fresh, world.pupil(0), "no-such-pupil"]})
    assert results(r) == {applied: ("done", None), fresh: ("refused", "conflict"),
                          world.pupil(0): ("already", None), "no-such-pupil": ("refused", "not-found")}
    refused = next(p for p in r.json()["pupils"] if p["pupil_id"] == fresh)
    assert refused["enrolment_status"] == "none" and refused["reason"]["current_state"]["status"] == "none"
    assert (status(world, applied), status(world, fresh)) == ("class_reviewed", "none")


def test_a_retried_bulk_step_answers_the_same_and_records_nothing_twice(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    new_pupils(world, 2)
    headers = world.admin.h(**{"Idempotency-Key": "bulk-apply-1"})
    body = {"class_id": world.class_id, **TERM}
    first = client.post("/v1/enrolment/apply", json=body, headers=headers)
    position = app.recorder.max_notification_id()
    again = client.post("/v1/enrolment/apply", json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json() and first.json()["done"] == 2
    assert app.recorder.max_notification_id() == position
    other = client.post("/v1/enrolment/apply", json={**body, "term": "2027春"}, headers=headers)
    assert other.status_code == 422 and "idempotency-key-reused" in other.json()["type"]


def test_bad_input_for_a_bulk_step_is_refused_whole_and_changes_nothing(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    ids = new_pupils(world, 2)
    for body in ({"class_id": world.class_id, **TERM, "sessions": ["night_club"]},
                 {"class_id": world.class_id, **TERM, "ends": "2026-08-01"},
                 {"pupil_ids": ids, "class_id": world.class_id, **TERM},
                 {**TERM},
                 {"pupil_ids": [], **TERM}):
        r = world.post(world.admin, "/v1/enrolment/apply", body)
        assert r.status_code == 422, body
        assert r.headers["content-type"].startswith("application/problem+json")
    assert [status(world, i) for i in ids] == ["none", "none"]
    r = world.post(world.admin, "/v1/enrolment/apply", {"class_id": "no-such-class", **TERM})
    assert r.status_code == 404


def test_the_homeroom_teacher_reviews_only_their_own_class(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    other_teacher = add_staff(client, world.admin, "陈老师", ["teacher"])
    r = world.post(world.admin, "/v1/school/classes", {"grade": 4, "class_no": 1,
                   "homeroom_teacher_id": other_teacher.staff_id})
    other_class = r.json()["class_id"]
    mine, theirs = new_pupils(world, 1)[0], new_pupils(world, 1, other_class)[0]
    world.post(world.admin, "/v1/enrolment/apply", {"pupil_ids": [mine, theirs], **TERM})
    assert world.post(world.homeroom, "/v1/enrolment/class_reviewed", {"class_id": other_class}).status_code == 403
    r = world.post(world.homeroom, "/v1/enrolment/class_reviewed", {"pupil_ids": [mine, theirs]})
    assert results(r) == {mine: ("done", None), theirs: ("refused", "forbidden")}
    assert world.post(world.homeroom, f"/v1/pupils/{theirs}/enrolment/class_reviewed", {}).status_code == 403
    assert world.post(other_teacher, f"/v1/pupils/{theirs}/enrolment/class_reviewed", {}).status_code == 200
    assert (status(world, mine), status(world, theirs)) == ("class_reviewed", "class_reviewed")


def test_approval_and_signing_stay_with_admins(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    [pid] = new_pupils(world, 1)
    world.post(world.admin, f"/v1/pupils/{pid}/enrolment/apply", TERM)
    world.post(world.homeroom, f"/v1/pupils/{pid}/enrolment/class_reviewed", {})
    for who in (world.homeroom, world.guard, world.inspector):
        assert world.post(who, "/v1/enrolment/school_approved", {"pupil_ids": [pid]}).status_code == 403
        assert world.post(who, f"/v1/pupils/{pid}/enrolment/school_approved", {}).status_code == 403
        assert world.post(who, "/v1/enrolment/apply", {"pupil_ids": [pid], **TERM}).status_code == 403
    assert world.post(world.guard, "/v1/enrolment/class_reviewed", {"pupil_ids": [pid]}).status_code == 403
    assert status(world, pid) == "class_reviewed"


def test_another_schools_pupils_are_refused_as_if_they_did_not_exist(client: TestClient, app: HandoverApp) -> None:
    ours = a_school(client, app, 0)
    theirs = a_school(client, app, 1, name="第二小学")
    r = ours.post(ours.admin, "/v1/enrolment/school_approved", {"pupil_ids": [theirs.pupil(0)]})
    assert results(r) == {theirs.pupil(0): ("refused", "not-found")}
    assert r.json()["pupils"][0]["name"] is None
    assert ours.post(ours.admin, "/v1/enrolment/apply", {"class_id": theirs.class_id, **TERM}).status_code == 404


# -- the roster import records agreements already signed on paper -------------------------------

def upload(world: World, rows: list[str], **params: str) -> Any:
    return world.client.post("/v1/imports/roster", params=params, headers=world.admin.h(**key()),
                             files={"file": ("名单.csv", "\n".join(rows).encode(), "text/csv")})


AUTUMN_PARAMS = {"term": "2026秋", "term_starts": "2026-09-01", "term_ends": "2027-01-20"}
ROWS = [f"{HEADER},协议", "王小红,女,三年级(2)班,李老师,王大明,13800138000,2026/8/28",
        "陈一鸣,男,三年级(2)班,李老师,陈静,13900139000,否",
        "赵四,男,三年级(2)班,李老师,赵五,13700137000,是"]


def by_name(world: World) -> dict[str, dict[str, Any]]:
    pupils = world.client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"]
    return {p["name"]: world.client.get(f"/v1/pupils/{p['pupil_id']}", headers=world.admin.h()).json()
            for p in pupils}


def test_an_agreement_column_enrols_those_pupils_through_signed_by_the_importing_admin(
    client: TestClient, app: HandoverApp
) -> None:
    world = a_school(client, app, 0)
    r = upload(world, ROWS, **AUTUMN_PARAMS, agreement_ref="教导处2026秋协议册")
    assert r.status_code == 201, r.text
    assert (r.json()["pupils_created"], r.json()["pupils_signed"], r.json()["term"]) == (3, 2, "2026秋")
    pupils = by_name(world)
    assert pupils["陈一鸣"]["enrolment"]["status"] == "none"
    wang = pupils["王小红"]["enrolment"]
    assert (wang["status"], wang["term"], wang["starts"], wang["sessions"]) == (
        "signed", "2026秋", "2026-09-01", ["after_school"])
    assert wang["agreement"] == {"signed_on": "2026-08-28", "reference": "教导处2026秋协议册"}
    assert pupils["赵四"]["enrolment"]["agreement"] == {"signed_on": None, "reference": "教导处2026秋协议册"}
    history = app.pupil(world.school_id, pupils["王小红"]["pupil_id"]).enrolment["history"]
    assert [h["step"] for h in history] == ["applied", "class_reviewed", "school_approved", "signed"]
    assert {h["by"]["staff_id"] for h in history} == {world.admin.staff_id}


def test_the_whole_file_may_be_declared_signed_and_a_cell_saying_no_still_wins(
    client: TestClient, app: HandoverApp
) -> None:
    world = a_school(client, app, 0)
    rows = [HEADER.replace(",联系电话", ",联系电话,协议"), ROWS[2], "赵四,男,三年级(2)班,李老师,赵五,13700137000,"]
    r = upload(world, rows, **AUTUMN_PARAMS, agreements_signed="true", agreement_date="2026-09-01")
    assert r.json()["pupils_signed"] == 1, r.text
    pupils = by_name(world)
    assert pupils["陈一鸣"]["enrolment"]["status"] == "none"
    assert pupils["赵四"]["enrolment"]["agreement"]["signed_on"] == "2026-09-01"
    plain = a_school(client, app, 0, name="第二小学")
    r = upload(plain, [HEADER, "钱七,男,五(3)班,周老师,钱八,13600000000"], **AUTUMN_PARAMS,
               agreements_signed="true")
    assert r.json()["pupils_signed"] == 1
    assert next(iter(by_name(plain).values()))["enrolment"]["status"] == "signed"


def test_signed_agreements_without_a_term_import_nothing(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    for params in ({}, {"term": "2026秋"}, {**AUTUMN_PARAMS, "sessions": "night_club"},
                   {**AUTUMN_PARAMS, "term_ends": "2026-08-01"}):
        r = upload(world, ROWS, **params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert by_name(world) == {}
    assert upload(world, ROWS[:1] + ROWS[2:3]).status_code == 201  # nobody signed: no term needed


def test_a_dry_run_reports_the_agreements_and_records_nothing(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = upload(world, ROWS, **AUTUMN_PARAMS, dry_run="true")
    assert r.status_code == 200 and r.json()["pupils_signed"] == 2
    assert by_name(world) == {}


def test_reimporting_with_agreements_enrols_pupils_already_there_and_never_a_withdrawn_one(
    client: TestClient, app: HandoverApp
) -> None:
    world = a_school(client, app, 0)
    plain = [HEADER, *(row.rsplit(",", 1)[0] for row in ROWS[1:])]
    assert upload(world, plain).status_code == 201
    pupils = by_name(world)
    zhao = pupils["赵四"]["pupil_id"]
    for step in ("apply", "class_reviewed", "school_approved", "signed"):
        world.post(world.admin, f"/v1/pupils/{zhao}/enrolment/{step}", TERM if step == "apply" else {})
    world.post(world.admin, f"/v1/pupils/{zhao}/enrolment-withdrawal", {"on": "2026-11-02", "reason": "转学"})
    rows = [f"{HEADER},协议", *(row.rsplit(",", 1)[0] + ",是" for row in ROWS[1:])]
    r = upload(world, rows, **AUTUMN_PARAMS)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["pupils_created"], report["pupils_already_present"], report["pupils_signed"]) == (0, 3, 2)
    assert [(x["name"], x["row"]) for x in report["agreements_refused"]] == [("赵四", 4)]
    after = by_name(world)
    assert [after[n]["enrolment"]["status"] for n in ("王小红", "陈一鸣", "赵四")] == ["signed", "signed", "withdrawn"]
    again = upload(world, rows, **AUTUMN_PARAMS)
    assert (again.json()["pupils_signed"], again.json()["pupils_already_signed"]) == (0, 2)


def test_one_pupils_signed_step_may_name_the_agreement_and_no_other_step_may(
    client: TestClient, app: HandoverApp
) -> None:
    world = a_school(client, app, 0)
    [pid] = new_pupils(world, 1)
    world.post(world.admin, f"/v1/pupils/{pid}/enrolment/apply", TERM)
    r = world.post(world.admin, f"/v1/pupils/{pid}/enrolment/class_reviewed", {"signed_on": "2026-08-28"})
    assert r.status_code == 422 and status(world, pid) == "applied"
    world.post(world.admin, f"/v1/pupils/{pid}/enrolment/class_reviewed", {})
    world.post(world.admin, f"/v1/pupils/{pid}/enrolment/school_approved", {})
    r = world.post(world.admin, f"/v1/pupils/{pid}/enrolment/signed",
                   {"signed_on": "2026-08-28", "reference": "协议书第7号"})
    assert r.status_code == 200, r.text
    assert r.json()["enrolment"]["agreement"] == {"signed_on": "2026-08-28", "reference": "协议书第7号"}
