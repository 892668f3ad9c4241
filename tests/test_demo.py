"""The demo school: built once on SQLite, realistic enough to show, found again with new tokens."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from service.demo.school import DEMO_FILE, DEMO_NAME, plan_pupils, prepare_demo, term_around
from service.domain.common import Actor, Role
from service.domain.pupil import PRIORITY_TAGS
from service.domain.school import School
from service.domain.staff import StaffToken
from service.settings import Settings

STAFF_LINE = re.compile(
    r"^\s+(?P<name>\S+)\s+(?P<role>" + "|".join(r.value for r in Role)
    + r")\s.*\s(?P<token>hov_\S+)$"
)
RELATIONS = {"父亲", "母亲", "爷爷", "奶奶", "外公", "外婆"}
MOBILE = re.compile(r"^1[358][0-9]{9}$")
CASE_NUMBER = re.compile(r"（20[0-9]{2}）沪[0-9]{4}民[^0-9]{0,2}[0-9]+号")


def staff_in(banner: str) -> list[tuple[str, str, str]]:
    """(name, role, token) of each staff line the banner prints."""
    return [(m["name"], m["role"], m["token"]) for line in banner.splitlines()
            if (m := STAFF_LINE.match(line))]


def token_of(banner: str, role: str) -> str:
    return next(token for _, r, token in staff_in(banner) if r == role)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(store="sqlite", data_dir=tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def banner(demo_settings: Settings) -> str:
    return prepare_demo(demo_settings)  # the one demo build of this module


@pytest.fixture(scope="module")
def api(demo_settings: Settings, banner: str) -> Iterator[TestClient]:
    with TestClient(create_app(demo_settings)) as client:
        yield client


@pytest.fixture(scope="module")
def handover(api: TestClient) -> HandoverApp:
    app: HandoverApp = api.app.state.handover  # type: ignore[attr-defined]
    return app


@pytest.fixture(scope="module")
def admin(handover: HandoverApp, banner: str) -> Actor:
    who = handover.authenticate(token_of(banner, "admin"))
    assert who is not None
    return Actor(school_id=who.school_id, staff_id=who.staff_id, staff_name=who.name,
                 role="admin", at=handover.now(), command_id=None)


@pytest.fixture(scope="module")
def school(api: TestClient, banner: str) -> dict[str, Any]:
    r = api.get("/v1/school", headers=bearer(token_of(banner, "admin")))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_demo_school_has_two_classes_in_every_grade_of_the_three_bands(
    school: dict[str, Any],
) -> None:
    # Given the demo built on an empty SQLite store
    # When the admin reads the school
    # Then it is 演示小学 with classes 1(1)…6(2), spread over the low, middle and upper bands
    assert school["name"] == DEMO_NAME
    assert school["stage"] == "primary" and school["grades"] == [1, 2, 3, 4, 5, 6]
    assert Counter(c["grade"] for c in school["classes"]) == {g: 2 for g in range(1, 7)}
    bands = {b["key"]: b["grades"] for b in school["schedule"]["bands"]}
    assert set(bands) == {"low", "middle", "upper"}
    for grades in bands.values():
        assert sum(1 for c in school["classes"] if c["grade"] in grades) >= 2
    teachers = {s["staff_id"] for s in school["staff"] if "teacher" in s["roles"]}
    assert all(c["homeroom_teacher_id"] in teachers for c in school["classes"])


def test_about_two_hundred_pupils_are_expected_this_afternoon_whatever_the_day(
    api: TestClient, banner: str, school: dict[str, Any],
) -> None:
    # Given the demo schedule, which runs every session on all seven days
    assert all(s["weekdays"] == [1, 2, 3, 4, 5, 6, 7] for s in school["schedule"]["sessions"])
    # When the guard asks who is expected this afternoon
    r = api.get("/v1/afternoon", headers=bearer(token_of(banner, "guard")))
    assert r.status_code == 200, r.text
    afternoon = r.json()
    # Then there is a service today and every pupil on the roll is expected
    assert afternoon["service"] is True
    assert 180 <= afternoon["expected"] <= 220
    assert afternoon["expected"] == school["pupil_count"] == len(afternoon["pupils"])


def test_every_pupil_has_guardians_and_a_signed_enrolment_for_a_term_around_today(
    handover: HandoverApp, admin: Actor,
) -> None:
    # Given the demo pupils
    today = handover.today(handover.school(admin.school_id, readonly=True))
    pupils = [handover.describe_pupil(admin, p["pupil_id"])
              for p in handover.list_pupils(admin, None, None)]
    # Then each has one or two guardians with a relation and a mobile number
    assert 180 <= len(pupils) <= 220
    for p in pupils:
        assert 1 <= len(p["guardians"]) <= 2, p["name"]
        assert {g["relation"] for g in p["guardians"]} <= RELATIONS
        assert all(MOBILE.match(g["phone"]) for g in p["guardians"]), p["guardians"]
        # And a signed enrolment whose term covers today, for after-school care at least
        e = p["enrolment"]
        assert e["status"] == "signed", p["name"]
        assert e["starts"] < today.isoformat() < e["ends"]
        assert "after_school" in e["sessions"]
    assert any("noon" in p["enrolment"]["sessions"] for p in pupils)
    assert {p["gender"] for p in pupils} == {"男", "女"}
    # And the expected-today view counts every one of them
    assert handover.expected_today(admin, None, "after_school", None)["expected"] == len(pupils)


def test_the_demo_has_court_restrictions_statements_authorisations_and_priority_tags(
    handover: HandoverApp, admin: Actor, school: dict[str, Any],
) -> None:
    # Given the demo pupils and their class grades
    grade = {c["class_id"]: c["grade"] for c in school["classes"]}
    today = handover.today(handover.school(admin.school_id, readonly=True))
    pupils = [handover.pupil(admin.school_id, p["pupil_id"], readonly=True)
              for p in handover.list_pupils(admin, None, None)]
    # Then some adults may not collect, under a court document, and are no collector today
    restricted = [p for p in pupils if p.restrictions]
    assert restricted
    for p in restricted:
        for r in p.restrictions.values():
            assert CASE_NUMBER.search(r["document"] or ""), r["document"]
            if p.active_restriction(r["name"], r["id_tail"], today):
                assert r["name"] not in {c.name for c in p.collectors_on(today)}
    # And a restricted father on file as a guardian is still refused at the gate
    assert any(any(g["name"] == r["name"] for g in p.guardians.values())
               for p in restricted for r in p.restrictions.values())
    # And only upper-grade pupils may go home alone, under a statement
    alone = [p for p in pupils if p.statements]
    assert alone and all(grade[p.class_id] >= 5 for p in alone)
    assert any(p.statement_on(today) for p in alone)
    # And other adults are authorised for windows of days, some of which include today
    windows = [a for p in pupils for a in p.authorisations.values()]
    assert windows and all(a["valid_from"] and a["valid_to"] for a in windows)
    assert any(a["valid_from"] is not None and a["valid_to"] is not None
               and a["valid_from"] <= today.isoformat() <= a["valid_to"] for a in windows)
    # And every priority tag is in use
    assert {t for p in pupils for t in p.tags} == set(PRIORITY_TAGS)


def test_homework_groups_cover_every_class_and_three_clubs_meet_on_some_weekdays(
    school: dict[str, Any],
) -> None:
    # Given the demo school's groups and gates
    homework = [g for g in school["groups"] if g["kind"] == "homework"]
    clubs = {g["name"]: g for g in school["groups"] if g["kind"] == "club"}
    # Then each class belongs to exactly one homework group, in a classroom, with a teacher
    assert homework
    placed = Counter(cid for g in homework for cid in g["class_ids"])
    assert placed == Counter(c["class_id"] for c in school["classes"])
    assert all(g["room"].endswith("教室") and g["teacher_id"] for g in homework)
    # And the three clubs meet on some weekdays only
    assert set(clubs) == {"围棋社", "合唱团", "科学小组"}
    assert all(0 < len(c["weekdays"]) < 7 and c["teacher_id"] for c in clubs.values())
    # And pupils leave by the east and the south gates
    assert {g["name"] for g in school["gates"]} == {"东门", "南门"}


def test_there_is_a_demo_staff_member_in_every_role_and_each_printed_token_signs_in(
    api: TestClient, banner: str,
) -> None:
    # Given the staff lines of the banner
    staff = staff_in(banner)
    # Then every role is there, with three guards for the two gates
    roles = Counter(role for _, role, _ in staff)
    assert set(roles) == {r.value for r in Role}
    assert roles["guard"] == 3 and roles["teacher"] >= 12
    # When each token is used, then it signs in as the member it is printed beside
    for name, role, token in staff:
        r = api.get("/v1/me", headers=bearer(token))
        assert r.status_code == 200, r.text
        assert (r.json()["name"], role in r.json()["roles"]) == (name, True)


def test_the_banner_names_the_school_and_shows_curl_commands_with_real_tokens(
    banner: str, school: dict[str, Any], demo_settings: Settings,
) -> None:
    # Given the banner of the first run
    base = f"http://127.0.0.1:{demo_settings.port}"
    # Then it names the school and its id, and how to try the API with the guard and the admin
    assert DEMO_NAME in banner and str(school["school_id"]) in banner
    guard, admin = token_of(banner, "guard"), token_of(banner, "admin")
    assert f'curl -s {base}/v1/afternoon -H "Authorization: Bearer {guard}"' in banner
    assert f'curl -s {base}/v1/school -H "Authorization: Bearer {admin}"' in banner


def test_a_second_run_creates_nothing_and_its_new_tokens_open_the_same_school(
    api: TestClient, handover: HandoverApp, demo_settings: Settings, banner: str,
    school: dict[str, Any],
) -> None:
    # Given the demo already built, its reads so far saved, and the last event in the store
    handover.access.flush()  # else a background save of earlier reads may land in between
    before = handover.recorder.max_notification_id() or 0
    # When the demo is prepared again on the same data directory
    again = prepare_demo(demo_settings)
    # Then only new tokens were recorded, one per demo staff member
    new = handover.recorder.select_notifications(start=before + 1, limit=1000)
    assert {n.topic for n in new} == {get_topic(StaffToken.Issued)}
    assert len(new) == len(staff_in(again)) == len(staff_in(banner))
    # And the new tokens differ from the old and open the same school with the same pupils
    assert not {t for *_, t in staff_in(again)} & {t for *_, t in staff_in(banner)}
    r = api.get("/v1/school", headers=bearer(token_of(again, "admin")))
    assert r.status_code == 200, r.text
    same = (school["school_id"], school["pupil_count"])
    assert (r.json()["school_id"], r.json()["pupil_count"]) == same
    r = api.get("/v1/afternoon", headers=bearer(token_of(again, "guard")))
    assert r.json()["expected"] == school["pupil_count"]


def test_without_its_json_file_the_demo_school_is_found_in_the_store(
    handover: HandoverApp, demo_settings: Settings, school: dict[str, Any],
) -> None:
    # Given the demo built, but its demo.json lost
    remembered: Path = demo_settings.data_dir / DEMO_FILE
    remembered.unlink()
    before = handover.recorder.max_notification_id() or 0
    # When the demo is prepared again
    again = prepare_demo(demo_settings)
    # Then no second school is founded: the same one is found, remembered again, with tokens
    founded = handover.recorder.select_notifications(
        start=before + 1, limit=1000, topics=[get_topic(School.Founded)])
    assert not founded
    assert str(school["school_id"]) in again and str(school["school_id"]) in remembered.read_text()
    assert {role for _, role, _ in staff_in(again)} == {r.value for r in Role}


def test_the_plan_is_the_same_every_time_and_its_term_runs_around_the_day() -> None:
    # Given a day in March
    day = date(2026, 3, 31)
    term = term_around(day)
    # Then the term runs two months before to three months after, clamped to month ends
    assert (term.starts, term.ends) == (date(2026, 1, 31), date(2026, 6, 30))
    # And the same seed plans the same pupils with the same families
    first, second = plan_pupils(day, term), plan_pupils(day, term)
    assert [(p.name, [g.phone for g in p.guardians]) for p in first] == \
        [(p.name, [g.phone for g in p.guardians]) for p in second]
    assert len({p.name for p in first}) == len(first)
