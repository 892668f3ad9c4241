"""DESIGN §3.5 Isolation, roles and tokens; §3.4 a retried command never records twice."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.application import HandoverApp
from tests.builders import a_school, auth, handed_to_teacher
from tests.stores import every_store


def test_another_schools_pupil_answers_404_never_403(client: TestClient, app: HandoverApp) -> None:
    ours = a_school(client, app, 1, name="一小")
    theirs = a_school(client, app, 1, name="二小")
    for path in (f"/v1/pupils/{theirs.pupil(0)}", f"/v1/pupils/{theirs.pupil(0)}/afternoon"):
        r = client.get(path, headers=ours.admin.h())
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
    r = ours.post(ours.homeroom, "/v1/absences", {"pupil_id": theirs.pupil(0), "with_leave": True})
    assert r.status_code == 404
    assert theirs.state(0)["chain"] == []


def test_a_school_lists_only_its_own_pupils_and_staff(client: TestClient, app: HandoverApp) -> None:
    ours = a_school(client, app, 2, name="一小")
    a_school(client, app, 3, name="二小")
    assert len(client.get("/v1/pupils", headers=ours.admin.h()).json()["pupils"]) == 2
    names = {s["name"] for s in client.get("/v1/staff", headers=ours.admin.h()).json()}
    assert "王校长" in names and len(names) == 6


def test_inspectors_read_and_never_write(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    assert client.get(f"/v1/pupils/{world.pupil(0)}/afternoon", headers=world.inspector.h()).status_code == 200
    r = world.post(world.inspector, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": True})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert world.state(0)["chain"] == []


def test_only_admins_change_the_school_set_up(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = world.post(world.teacher, "/v1/school/gates", {"name": "西门"})
    assert r.status_code == 403


def test_no_token_or_a_bad_token_answers_401(client: TestClient, app: HandoverApp) -> None:
    a_school(client, app, 1)
    assert client.get("/v1/school").status_code == 401
    r = client.get("/v1/school", headers=auth("hov_not-a-token"))
    assert r.status_code == 401 and r.json()["status"] == 401


def test_a_staff_member_who_left_can_no_longer_sign_in(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    assert world.post(world.admin, f"/v1/staff/{world.guard.staff_id}/leave", {}).status_code == 200
    assert client.get("/v1/me", headers=world.guard.h()).status_code == 401


def test_tokens_are_stored_only_as_hashes(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    stored = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=10_000))
    assert world.guard.token.encode() not in stored
    assert world.admin.token.encode() not in stored


@every_store
def test_a_retried_command_returns_the_first_answer_and_records_once(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    headers = world.homeroom.h(**{"Idempotency-Key": "retry-me"})
    body = {"pupil_id": world.pupil(0), "with_leave": True, "reason": "发烧"}
    first = client.post("/v1/absences", json=body, headers=headers)
    second = client.post("/v1/absences", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(world.state(0)["chain"]) == 1


def test_a_retried_refusal_is_recorded_once(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    headers = world.teacher.h(**{"Idempotency-Key": "gate-retry"})
    body = {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id, "identity_check": "id_card",
            "adult": {"name": "陌生人"}}
    codes = [client.post("/v1/releases", json=body, headers=headers).status_code for _ in range(3)]
    assert codes == [422, 422, 422]
    assert world.state(0)["refusals"] == 1


def test_the_same_key_with_another_body_is_refused(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    headers = world.homeroom.h(**{"Idempotency-Key": "k"})
    client.post("/v1/absences", json={"pupil_id": world.pupil(0), "with_leave": True}, headers=headers)
    r = client.post("/v1/absences", json={"pupil_id": world.pupil(1), "with_leave": True}, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert world.state(1)["chain"] == []


def test_bad_input_names_the_field_and_changes_nothing(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = world.post(world.homeroom, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": -1,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "count"
    assert world.state(0)["chain"] == []
