"""DESIGN §3.1 Custody and §3.4 Nothing edited: one state, one custodian, counts kept, corrections."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import a_school, add_staff, handed_to_teacher, walked_to_gate
from tests.stores import every_durable_store


def test_custody_stays_with_the_giver_until_the_receiver_confirms(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": 1,
                   "to_staff_id": world.club_teacher.staff_id, "place_id": world.club_id})
    assert r.status_code == 201 and r.json()["kind"] == "transfer"
    state = world.state(0)
    assert state["custodian"]["staff_id"] == world.teacher.staff_id
    assert state["pending"]["to"]["staff_id"] == world.club_teacher.staff_id

    not_receiver = world.post(world.guard, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 1})
    assert not_receiver.status_code == 409

    world.post(world.club_teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 1})
    state = world.state(0)
    assert state["custodian"]["staff_id"] == world.club_teacher.staff_id
    assert state["place"]["label"] == "围棋社" and state["pending"] is None


def test_a_pupil_goes_to_the_club_and_back_to_the_group(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    for giver, receiver, place in ((world.teacher, world.club_teacher, world.club_id),
                                   (world.club_teacher, world.teacher, world.group_id)):
        r = world.post(giver, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": 1,
                       "to_staff_id": receiver.staff_id, "place_id": place})
        assert world.post(receiver, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 1}).status_code == 200
    state = world.state(0)
    assert state["place"]["label"] == "三年级作业组"
    assert [e["type"] for e in state["chain"]].count("custody_taken") == 3


def test_both_counts_are_kept_and_a_mismatch_is_recorded_at_once(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 3,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    hid = r.json()["handover_id"]
    r = world.post(world.teacher, f"/v1/handovers/{hid}/confirm",
                   {"count": 2, "received_pupil_ids": [world.pupil(0), world.pupil(1)]})
    assert r.status_code == 200
    assert r.json()["count_given"] == 3 and r.json()["count_received"] == 2
    assert r.json()["mismatch"] is True
    # The pupil who never arrived was not silently moved: still not handed over, nothing pending.
    missing = world.state(2)
    assert missing["status"] == "not_handed_over" and missing["pending"] is None
    assert world.state(0)["status"] == "in_custody"


def test_absent_pupils_are_left_out_of_a_class_handover(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(1), "with_leave": True, "reason": "病假"})
    assert r.status_code == 200 and r.json()["status"] == "absent"
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 2,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    assert sorted(r.json()["pupil_ids"]) == sorted([world.pupil(0), world.pupil(2)])


def test_a_pupil_cannot_be_in_two_handovers_at_once(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    first = world.post(world.teacher, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": 1,
                       "to_staff_id": world.club_teacher.staff_id, "place_id": world.club_id})
    assert first.status_code == 201
    second = world.post(world.teacher, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": 1,
                        "to_staff_id": world.guard.staff_id, "place_id": world.gate_id})
    assert second.status_code == 409
    assert second.json()["current_state"]["pending"]["handover_id"] == first.json()["handover_id"]


def test_a_withdrawn_handover_leaves_custody_with_the_giver(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": 1,
                   "to_staff_id": world.club_teacher.staff_id, "place_id": world.club_id})
    w = world.post(world.teacher, f"/v1/handovers/{r.json()['handover_id']}/withdraw", {"reason": "社团取消"})
    assert w.status_code == 200 and w.json()["status"] == "withdrawn"
    state = world.state(0)
    assert state["pending"] is None and state["custodian"]["staff_id"] == world.teacher.staff_id


def test_a_waiting_child_is_handed_to_the_gatehouse(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/handovers", {"pupil_ids": [world.pupil(0)], "count": 1,
                   "to_staff_id": world.guard.staff_id, "place_id": "gatehouse"})
    assert r.json()["kind"] == "to_gatehouse"
    world.post(world.guard, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 1})
    assert world.state(0)["place"] == {"id": "gatehouse", "label": "门卫室", "kind": "gatehouse"}


def test_a_correction_names_the_event_and_why_and_the_event_stays_on_record(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": False})
    assert r.json()["status"] == "absent"
    seq = world.state(0)["chain"][-1]["seq"]

    r = world.post(world.homeroom, "/v1/corrections", {"pupil_id": world.pupil(0), "day": "2026-11-23",
                   "corrects": seq, "reason": "学生在厕所，已找到"})
    assert r.status_code == 200 and r.json()["status"] == "not_handed_over"
    chain = world.state(0)["chain"]
    assert [e["type"] for e in chain] == ["absent", "corrected"]
    assert chain[1]["corrects"] == seq and chain[1]["reason"] == "学生在厕所，已找到"

    again = world.post(world.homeroom, "/v1/corrections", {"pupil_id": world.pupil(0), "day": "2026-11-23",
                       "corrects": seq, "reason": "again"})
    assert again.status_code == 409


def test_a_refusal_cannot_be_corrected_away(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    world.post(world.teacher, "/v1/refusals", {"pupil_id": world.pupil(0), "adult": {"name": "陌生人"},
               "reason": "不在名单"})
    seq = world.state(0)["chain"][-1]["seq"]
    r = world.post(world.admin, "/v1/corrections", {"pupil_id": world.pupil(0), "day": "2026-11-23",
                   "corrects": seq, "reason": "hide it"})
    assert r.status_code == 422


def test_only_whoever_recorded_a_fact_or_an_admin_duty_leader_or_safety_officer_voids_it(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    walked_to_gate(world, [0])
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    assert r.status_code == 200, r.text
    seq = world.state(0)["chain"][-1]["seq"]
    body = {"pupil_id": world.pupil(0), "day": "2026-11-23", "corrects": seq, "reason": "点错了"}

    for stranger in (world.club_teacher, world.teacher):  # not involved; or involved, not in this fact
        r = world.post(stranger, "/v1/corrections", body)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    state = world.state(0)
    assert state["status"] == "gone" and state["chain"][-1]["type"] == "released"

    # A teacher who is also the duty leader corrects as the duty leader.
    leader = add_staff(client, world.admin, "钱主任", ["teacher", "duty_leader"])
    r = world.post(leader, "/v1/corrections", body)
    assert r.status_code == 200 and r.json()["status"] == "in_custody", r.text
    corrected = world.state(0)["chain"][-1]
    assert corrected["type"] == "corrected" and corrected["by"]["role"] == "duty_leader"


def test_every_event_records_who_where_when_and_the_command_id(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = world.client.post("/v1/sign-ins", json={"pupil_ids": [world.pupil(0)], "place_id": world.group_id},
                          headers=world.teacher.h(**{"Idempotency-Key": "tablet-7-cmd-1",
                                                     "X-Device-Id": "tablet-7",
                                                     "X-Device-Time": "2026-11-23T15:41:00+08:00"}))
    assert r.status_code == 200, r.text
    assert int(r.headers["X-Log-Position"]) > 0
    by = world.state(0)["chain"][-1]["by"]
    assert by["staff_id"] == world.teacher.staff_id and by["role"] == "teacher"
    assert by["command_id"] == "tablet-7-cmd-1" and by["device"] == "tablet-7"
    assert by["device_time"] == "2026-11-23T15:41:00+08:00"
    assert by["at"] == "2026-11-23T08:00:00+08:00"


@every_durable_store
def test_the_state_rebuilt_from_stored_events_alone_is_the_same(
    client: TestClient, app: HandoverApp, settings: Settings, clock: FixedClock
) -> None:
    world = a_school(client, app, 3)
    handed_to_teacher(world)
    world.post(world.teacher, "/v1/refusals", {"pupil_id": world.pupil(2), "adult": {"name": "陌生人"}, "reason": "x"})
    before = client.get("/v1/afternoon", headers=world.admin.h()).json()
    fresh = HandoverApp(env={**settings.eventsourcing_env(), "AGGREGATE_CACHE_MAXSIZE": "0"}, clock=clock)
    try:
        with TestClient(create_app(settings, application=fresh, clock=clock)) as other:
            after = other.get("/v1/afternoon", headers=world.admin.h()).json()
    finally:
        fresh.close()
    assert after == before
    assert before["counts"] == {"in_custody": 3}
