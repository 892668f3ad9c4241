"""DESIGN §3.7 Children's data: each role sees only what its work needs (on the in-memory store)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from tests.builders import (
    Staff,
    World,
    a_school,
    add_staff,
    enrolled_pupil,
    handed_to_teacher,
    key,
    walked_to_gate,
)

MUM_PHONE = "13800138000"


@pytest.fixture
def store() -> str:
    return "memory"  # who sees what does not depend on the store


def a_pupil_with_a_family_file(client: TestClient, app: HandoverApp) -> World:
    """Pupil 0 has a guardian with phone and ID tail, an aunt authorised in writing, a
    restricted father under a court order, a going-home-alone statement and a priority tag."""
    world = a_school(client, app, 2)
    pid = world.pupil(0)
    guardian = world.guardian(0)
    for path, body in (
        ("guardians", {"name": "张强", "relation": "父亲", "phone": "13900139000", "id_tail": "4321",
                       "may_collect": False}),
        ("authorisations", {"name": "姑姑", "relation": "姑姑", "phone": "13700137000", "id_tail": "5678",
                            "document": "授权书-2026-17"}),
        ("restrictions", {"name": "王某", "id_tail": "9999", "reason": "法院禁止令：不得接触孩子",
                          "document": "(2026)沪0101民初123号"}),
        ("statements", {"valid_from": "2026-09-01", "weekdays": [1, 2, 3, 4], "document": "自行回家说明-17",
                        "given_by_guardian_id": guardian["guardian_id"]}),
    ):
        r = world.post(world.admin, f"/v1/pupils/{pid}/{path}", body)
        assert r.status_code == 201, r.text
    assert world.client.put(f"/v1/pupils/{pid}/tags", json={"tags": ["留守"]},
                            headers=world.admin.h(**key())).status_code == 200
    return world


def reader(world: World, who: str) -> Staff:
    if who == "admin":
        return world.admin
    if who == "homeroom_teacher":
        return world.homeroom
    if who == "teacher":
        return world.teacher
    if who == "guard":
        return world.guard
    if who == "inspector":
        return world.inspector
    return add_staff(world.client, world.admin, f"{who}-1", [who])


# who: (phones and ID tails, restriction reasons and documents, priority tags)
EXPECTED = {
    "admin": (True, True, True),
    "homeroom_teacher": (True, False, True),
    "teacher": (False, False, False),
    "guard": (False, False, False),
    "duty_leader": (False, False, False),
    "safety_officer": (False, True, False),
    "inspector": (False, False, False),
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_each_role_sees_of_a_pupil_only_what_its_work_needs(client: TestClient, app: HandoverApp,
                                                          who: str) -> None:
    world = a_pupil_with_a_family_file(client, app)
    contacts, files, tags = EXPECTED[who]

    r = client.get(f"/v1/pupils/{world.pupil(0)}", headers=reader(world, who).h())

    assert r.status_code == 200, r.text
    pupil = r.json()
    # Everyone sees who may collect and who must not, with relation and the pupil's photo slot.
    assert {(g["name"], g["relation"], g["may_collect"]) for g in pupil["guardians"]} == {
        ("家长0", "母亲", True), ("张强", "父亲", False)}
    assert [(a["name"], a["relation"]) for a in pupil["authorisations"]] == [("姑姑", "姑姑")]
    [restricted] = pupil["restrictions"]
    assert restricted["name"] == "王某" and restricted["do_not_release"] is True
    assert restricted["instruction"] == "refuse_release_and_call_duty_leader"
    assert "photo" in pupil and pupil["statements"][0]["weekdays"] == [1, 2, 3, 4]
    # The rest only for the roles whose work needs it.
    phones = {g["phone"] for g in pupil["guardians"]} | {a["phone"] for a in pupil["authorisations"]}
    assert phones == ({MUM_PHONE, "13900139000", "13700137000"} if contacts else {None})
    assert (pupil["guardians"][1]["id_tail"] == "4321") is contacts
    assert (pupil["authorisations"][0]["id_tail"] == "5678") is contacts
    assert (restricted["reason"], restricted["document"], restricted["id_tail"]) == (
        ("法院禁止令：不得接触孩子", "(2026)沪0101民初123号", "9999") if files else (None, None, None))
    assert (pupil["authorisations"][0]["document"] == "授权书-2026-17") is files
    assert (pupil["statements"][0]["document"] == "自行回家说明-17") is files
    assert pupil["tags"] == (["留守"] if tags else None)
    assert ("contacts" in pupil["shown"], "documents" in pupil["shown"]) == (contacts, files)
    if not contacts:
        assert MUM_PHONE not in r.text and "4321" not in r.text
    if not files:
        assert "法院" not in r.text and "民初" not in r.text


def test_a_homeroom_teacher_sees_contacts_of_their_own_class_only(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    other_teacher = add_staff(client, world.admin, "周老师", ["teacher"])
    r = world.post(world.admin, "/v1/school/classes", {"grade": 4, "class_no": 1,
                   "homeroom_teacher_id": other_teacher.staff_id})
    other_class = r.json()["class_id"]
    world.class_id = other_class
    other = enrolled_pupil(world, "外班学生", "外班家长", "13600136000")

    own = client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.homeroom.h()).json()
    not_own = client.get(f"/v1/pupils/{other['pupil_id']}", headers=world.homeroom.h()).json()

    assert own["guardians"][0]["phone"] == MUM_PHONE
    assert not_own["guardians"][0]["phone"] is None
    assert client.get(f"/v1/pupils/{other['pupil_id']}", headers=other_teacher.h()).json()[
        "guardians"][0]["phone"] == "13600136000"


def test_a_guard_lists_pupils_without_any_family_data(client: TestClient, app: HandoverApp) -> None:
    world = a_pupil_with_a_family_file(client, app)

    as_guard = client.get("/v1/pupils", headers=world.guard.h())
    as_admin = client.get("/v1/pupils", headers=world.admin.h())

    guards, admins = as_guard.json()["pupils"], as_admin.json()["pupils"]
    assert [p["name"] for p in guards] == [p["name"] for p in admins]
    assert all(p["tags"] is None for p in guards)
    assert ["留守"] in [p["tags"] for p in admins]
    for word in ("phone", MUM_PHONE, "guardians", "restrictions"):
        assert word not in as_guard.text


def released_to_mum(world: World) -> Any:
    handed_to_teacher(world)
    walked_to_gate(world, [0])
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "collector_id": world.guardian(0)["guardian_id"], "identity_check": "known_to_staff"})
    assert r.status_code == 200, r.text
    return r


def gone_adults(body: Any) -> list[dict[str, Any]]:
    return [p["gone"]["adult"] for p in body["pupils"] if p["gone"]]


def test_the_roster_and_the_afternoon_show_the_guard_who_collected_but_not_their_number(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    release = released_to_mum(world)
    assert gone_adults(release.json())[0]["name"] == "家长0" and MUM_PHONE not in release.text

    caught_up = {"min_position": app.recorder.max_notification_id()}
    for path in ("/v1/roster", "/v1/afternoon"):
        r = client.get(path, params=caught_up if path == "/v1/roster" else {}, headers=world.guard.h())
        assert r.status_code == 200, r.text
        [adult] = gone_adults(r.json())
        assert adult["name"] == "家长0" and adult["relation"] == "母亲" and adult["phone"] is None
        assert MUM_PHONE not in r.text
        by_homeroom = client.get(path, params=caught_up if path == "/v1/roster" else {}, headers=world.homeroom.h())
        assert gone_adults(by_homeroom.json())[0]["phone"] == MUM_PHONE
    r = client.get(f"/v1/pupils/{world.pupil(0)}/afternoon", headers=world.teacher.h())
    released = next(e for e in r.json()["chain"] if e["type"] == "released")
    assert released["adult"]["name"] == "家长0" and released["adult"]["phone"] is None
    assert MUM_PHONE not in r.text
    assert world.state(0, world.admin)["gone"]["adult"]["phone"] == MUM_PHONE


def test_a_second_release_refused_as_a_conflict_shows_the_guard_who_collected_but_not_their_number(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    released_to_mum(world)
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "collector_id": world.guardian(0)["guardian_id"], "identity_check": "known_to_staff"})
    assert r.status_code == 409
    gone = r.json()["current_state"]["gone"]
    assert gone["adult"]["name"] == "家长0" and gone["adult"]["phone"] is None
    assert MUM_PHONE not in r.text


def test_a_guard_who_takes_a_call_sees_who_rang_but_not_their_number(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    guardian = world.guardian(0)

    r = world.post(world.guard, f"/v1/pupils/{world.pupil(0)}/phone-authorisations",
                   {"guardian_id": guardian["guardian_id"], "adult": {"name": "舅舅", "phone": "13500135000"}})

    assert r.status_code == 201, r.text
    [auth] = r.json()["authorisations"]
    assert auth["caller"] == guardian["name"] and auth["phone"] is None
    assert MUM_PHONE not in r.text and "13500135000" not in r.text
    full = client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.admin.h()).json()["authorisations"][0]
    assert full["caller"] == f"{guardian['name']} ({MUM_PHONE})" and full["phone"] == "13500135000"


def test_the_live_stream_shows_a_guard_who_collected_but_not_their_number_and_records_the_read(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    start = app.recorder.max_notification_id()
    released_to_mum(world)

    def stream(who: Staff) -> Any:
        return client.get("/v1/stream", params={"once": "true", "last_event_id": start},
                          headers=who.h(**{"X-Device-Id": "gate-tablet"}))

    as_guard = stream(world.guard)
    assert as_guard.status_code == 200 and '"released"' in as_guard.text
    assert MUM_PHONE not in as_guard.text and "家长0" in as_guard.text
    assert MUM_PHONE in stream(world.admin).text
    r = client.get("/v1/access-log", params={"staff": world.guard.staff_id}, headers=world.admin.h())
    streamed = [read for read in r.json()["reads"] if read["what"] == "stream"]
    assert streamed and streamed[0]["pupil_ids"][0] == world.pupil(0)
    assert streamed[0]["device"] == "gate-tablet" and "contacts" not in streamed[0]["data"]


def test_fees_subsidies_and_other_groups_care_logs_are_not_for_every_role(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    month = {"month": "2026-11"}
    for who in (world.guard, world.teacher, world.club_teacher):
        for path in ("/v1/statements/pupils", f"/v1/statements/pupils/{world.pupil(0)}",
                     "/v1/statements/staff", "/v1/statements/publication",
                     f"/v1/statements/staff/{world.admin.staff_id}"):
            r = client.get(path, params=month, headers=who.h())
            assert r.status_code == 403, (path, r.text)
    # One's own subsidy statement, and the care log of one's own group, stay readable.
    r = client.get(f"/v1/statements/staff/{world.teacher.staff_id}", params=month, headers=world.teacher.h())
    assert r.status_code == 200, r.text
    group = {"group_id": world.group_id}
    assert client.get("/v1/care-log", params=group, headers=world.teacher.h()).status_code == 200
    assert client.get("/v1/care-log", params=group, headers=world.homeroom.h()).status_code == 200
    for who in (world.guard, world.club_teacher):
        assert client.get("/v1/care-log", params=group, headers=who.h()).status_code == 403
        r = client.get("/v1/care-log/export", params=group, headers=who.h())
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    for who in (world.admin, world.inspector):
        assert client.get("/v1/statements/pupils", params=month, headers=who.h()).status_code == 200
        assert client.get("/v1/care-log/export", params=group, headers=who.h()).status_code == 200
