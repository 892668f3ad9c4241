"""DESIGN §3.2 Release: only to an authorised, unrestricted adult; refusals are recorded; once a session."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from httpx import Response

from service.application import HandoverApp
from tests.builders import World, a_school, handed_to_teacher, walked_to_gate
from tests.stores import every_store


def at_the_gate(client: TestClient, app: HandoverApp, pupils: int = 3) -> World:
    world = a_school(client, app, pupils)
    handed_to_teacher(world)
    walked_to_gate(world, list(range(pupils)))
    return world


def release(world: World, indexes: list[int], **who: object) -> Response:
    body = {"pupil_ids": [world.pupil(i) for i in indexes], "gate_id": world.gate_id,
            "identity_check": "id_card", **who}
    r: Response = world.post(world.guard, "/v1/releases", body)
    return r


def test_release_to_a_restricted_adult_is_refused_and_recorded(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    r = world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/restrictions",
                   {"name": "王大力", "reason": "法院禁止令", "document": "（2025）沪0101民初1234号"})
    assert r.status_code == 201, r.text
    # The restricted adult is even on the authorised list: the restriction still wins.
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/authorisations", {"name": "王大力"})

    r = release(world, [0], adult={"name": "王 大力"})

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["pupils"][0]["reason"] == "restricted"
    state = world.state(0)
    assert state["status"] == "in_custody"
    refusal = state["chain"][-1]
    assert refusal["type"] == "release_refused" and refusal["adult"]["name"] == "王 大力"
    assert refusal["by"]["staff_id"] == world.guard.staff_id


def test_the_guard_sees_who_the_restricted_adult_is_to_the_child_but_not_the_court_papers(
        client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    r = world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/restrictions",
                   {"name": "王大力", "relation": "生父", "reason": "法院禁止令", "id_tail": "1234"})
    assert r.status_code == 201, r.text
    card = client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.guard.h()).json()
    [shown] = card["restrictions"]
    assert (shown["name"], shown["relation"]) == ("王大力", "生父")
    assert shown["reason"] is None and shown["id_tail"] is None
    r = world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/restrictions",
                   {"name": "李四", "relation": "舅" * 21, "reason": "x"})
    assert r.status_code == 422 and "relation" in r.text


def test_release_to_an_adult_not_on_the_list_is_refused_and_recorded(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    r = release(world, [0], adult={"name": "陌生人"})
    assert r.status_code == 422
    assert r.json()["pupils"][0]["reason"] == "not_authorised"
    assert world.state(0)["refusals"] == 1


def test_an_expired_restriction_no_longer_counts(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/restrictions",
               {"name": "家长0", "reason": "临时禁令", "valid_to": "2026-11-01"})
    assert release(world, [0], collector_id=world.guardian(0)["guardian_id"]).status_code == 200


def test_an_expired_authorisation_no_longer_counts(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/authorisations",
               {"name": "外婆", "valid_from": "2026-09-01", "valid_to": "2026-11-22"})
    r = release(world, [0], adult={"name": "外婆"})
    assert r.status_code == 422 and r.json()["pupils"][0]["reason"] == "not_authorised"


def test_a_phone_call_becomes_a_one_day_authorisation_naming_caller_and_taker(
        client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    guardian = world.guardian(0)
    r = world.post(world.guard, f"/v1/pupils/{world.pupil(0)}/phone-authorisations",
                   {"guardian_id": guardian["guardian_id"], "adult": {"name": "舅舅", "id_tail": "123X"}})
    assert r.status_code == 201, r.text
    auth = r.json()["authorisations"][0]
    assert auth["via"] == "phone_call" and auth["one_day"] is True
    assert auth["caller"].startswith(guardian["name"])
    assert auth["recorded_by"]["staff_id"] == world.guard.staff_id
    assert auth["valid_from"] == auth["valid_to"] == "2026-11-23"

    wrong_id = release(world, [0], adult={"name": "舅舅", "id_tail": "9999"})
    assert wrong_id.status_code == 422 and wrong_id.json()["pupils"][0]["reason"] == "id_mismatch"
    assert release(world, [0], adult={"name": "舅舅", "id_tail": "123x"}).status_code == 200


def test_a_one_day_authorisation_counts_only_on_its_day(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/authorisations", {"name": "姑姑", "day": "2026-11-24"})
    assert release(world, [0], adult={"name": "姑姑"}).status_code == 422


def test_siblings_are_released_together_to_one_adult(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    for i in (0, 1):
        world.post(world.admin, f"/v1/pupils/{world.pupil(i)}/authorisations",
                   {"name": "爷爷", "valid_from": "2026-09-01"})
    r = release(world, [0, 1], adult={"name": "爷爷"})
    assert r.status_code == 200, r.text
    assert [p["status"] for p in r.json()["pupils"]] == ["gone", "gone"]


def test_siblings_are_not_released_if_the_adult_may_not_take_one_of_them(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/authorisations", {"name": "爷爷"})
    r = release(world, [0, 1], adult={"name": "爷爷"})
    assert r.status_code == 422
    assert world.state(0)["status"] == "in_custody"
    assert world.state(1)["refusals"] == 1


def test_a_pupil_the_school_does_not_hold_cannot_be_released(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(1), "with_leave": True, "reason": "病假"})
    for i in (0, 1):
        r = world.post(world.guard, "/v1/releases", {
            "pupil_ids": [world.pupil(i)], "gate_id": world.gate_id, "identity_check": "id_card",
            "collector_id": world.guardian(i)["guardian_id"]})
        assert r.status_code == 409
        assert r.json()["current_state"]["status"] in ("not_handed_over", "absent")


def test_only_the_custodian_releases(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    r = release(world, [0], collector_id=world.guardian(0)["guardian_id"])
    assert r.status_code == 409
    assert r.json()["current_state"]["custodian"]["staff_id"] == world.teacher.staff_id


@every_store
def test_two_guards_releasing_at_once_release_the_pupil_once(client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app, 1)
    body = {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id, "identity_check": "id_card",
            "collector_id": world.guardian(0)["guardian_id"]}
    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda _: world.post(world.guard, "/v1/releases", body).status_code, range(4)))
    assert codes == [200, 409, 409, 409]
    assert [e["type"] for e in world.state(0)["chain"]].count("released") == 1


def test_going_home_alone_needs_a_statement_on_file_and_a_refusal_is_recorded(
        client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app, 2)
    r = world.post(world.guard, "/v1/home-alone", {"pupil_id": world.pupil(0), "gate_id": world.gate_id})
    assert r.status_code == 422 and r.json()["pupils"][0]["reason"] == "no_statement"
    assert world.state(0)["status"] == "in_custody" and world.state(0)["refusals"] == 1

    guardian = world.guardian(1)["guardian_id"]
    world.post(world.admin, f"/v1/pupils/{world.pupil(1)}/statements",
               {"valid_from": "2026-09-01", "weekdays": [1, 2, 3], "given_by_guardian_id": guardian,
                "document": "自行回家说明书 2026-09-01"})
    r = world.post(world.guard, "/v1/home-alone", {"pupil_id": world.pupil(1), "gate_id": world.gate_id})
    assert r.status_code == 200, r.text
    assert r.json()["gone"]["how"] == "went_home_alone"


def test_a_statement_for_other_weekdays_does_not_let_a_pupil_go_alone_today(
        client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app, 1)
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/statements",
               {"valid_from": "2026-09-01", "weekdays": [4], "given_by_guardian_id": world.guardian(0)["guardian_id"]})
    r = world.post(world.guard, "/v1/home-alone", {"pupil_id": world.pupil(0)})
    assert r.status_code == 422


def test_an_early_departure_names_who_collected_who_approved_and_why(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    body = {"pupil_id": world.pupil(0), "collector_id": world.guardian(0)["guardian_id"],
            "approved_by_staff_id": world.homeroom.staff_id, "reason": "看牙医", "homeroom_informed": True}
    r = world.post(world.teacher, "/v1/early-departures", body)
    assert r.status_code == 200, r.text
    entry = world.state(0)["chain"][-1]
    assert entry["type"] == "left_early"
    assert entry["approved_by"]["name"] == "李老师" and entry["reason"] == "看牙医"
    assert entry["adult"]["name"] == "家长0"


def test_an_early_departure_without_informing_the_homeroom_teacher_is_refused(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/early-departures", {
        "pupil_id": world.pupil(0), "collector_id": world.guardian(0)["guardian_id"],
        "approved_by_staff_id": world.homeroom.staff_id, "reason": "看牙医", "homeroom_informed": False})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "homeroom_informed"
    assert world.state(0)["status"] == "in_custody"


def test_an_invisible_character_in_a_name_does_not_get_past_a_restriction(
        client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app)
    pupil = world.pupil(0)
    r = world.post(world.admin, f"/v1/pupils/{pupil}/restrictions", {"name": "坏 人", "reason": "法院禁止令"})
    assert r.status_code == 201, r.text
    # Nobody can be authorised under that name, however it is written, by phone or on file.
    r = world.post(world.guard, f"/v1/pupils/{pupil}/phone-authorisations",
                   {"guardian_id": world.guardian(0)["guardian_id"], "adult": {"name": "坏\u200b人"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "adult.name", r.text
    r = world.post(world.admin, f"/v1/pupils/{pupil}/authorisations", {"name": "坏・人"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name", r.text
    r = client.get(f"/v1/pupils/{pupil}", headers=world.admin.h())
    assert r.status_code == 200 and r.json()["authorisations"] == []

    r = release(world, [0], adult={"name": "坏\u2060人"})
    assert r.status_code == 422 and r.json()["pupils"][0]["reason"] == "restricted"
    assert world.state(0)["status"] == "in_custody"


def test_an_unknown_or_mismatched_collector_is_bad_input_and_records_nothing(
        client: TestClient, app: HandoverApp) -> None:
    world = at_the_gate(client, app, 2)
    mum, other_mum = world.guardian(0)["guardian_id"], world.guardian(1)["guardian_id"]
    before = [world.state(i)["chain"] for i in (0, 1)]
    stranger = {"name": "陌生人"}
    # A typing mistake, another pupil's guardian, a collector named with another adult's name.
    for i, own, other in ((0, mum, other_mum), (1, other_mum, mum)):
        for who, field in (({"collector_id": "nope-typo"}, "collector_id"),
                           ({"collector_id": other}, "collector_id"),
                           ({"collector_id": own, "adult": stranger}, "adult.name")):
            r = release(world, [i], **who)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
            assert "pupils" not in r.json()  # no refusal was recorded
            r = world.post(world.teacher, "/v1/early-departures", {
                "pupil_id": world.pupil(i), "approved_by_staff_id": world.homeroom.staff_id,
                "reason": "看牙医", "homeroom_informed": True, **who})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    assert [world.state(i)["chain"] for i in (0, 1)] == before

    r = release(world, [0], collector_id=mum, adult={"name": " 家长０ "})
    assert r.status_code == 200, r.text
    seen = {"min_position": r.headers["X-Log-Position"]}
    alerts = client.get("/v1/alerts", params={**seen, "kind": "release_refused"}, headers=world.admin.h())
    assert alerts.status_code == 200 and alerts.json()["alerts"] == []
    incidents = client.get("/v1/incidents", params=seen, headers=world.admin.h())
    assert incidents.status_code == 200 and incidents.json()["incidents"] == []


def test_an_early_departure_approved_by_someone_who_may_not_approve_it_is_refused(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    for who in (world.guard, world.inspector, world.club_teacher):
        r = world.post(world.teacher, "/v1/early-departures", {
            "pupil_id": world.pupil(0), "collector_id": world.guardian(0)["guardian_id"],
            "approved_by_staff_id": who.staff_id, "reason": "看牙医", "homeroom_informed": True})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "approved_by_staff_id", r.text
    assert world.state(0)["status"] == "in_custody"
