"""A shared gate tablet releases under the guard signed on at it with their PIN, never as itself."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.domain.errors import ConflictError, RuleError
from service.domain.pin import (
    PIN_TRIES,
    PIN_WINDOW,
    PinTries,
    StaffPin,
    TooManyPinTriesError,
    check_pin,
)
from service.domain.shift import Shift
from service.use_cases.clock import FixedClock
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
from tests.conftest import MORNING
from tests.refs import actor
from tests.stores import every_durable_store

BY = actor("device-1", "东门平板", "guard", MORNING.isoformat())


# -- the aggregates ---------------------------------------------------------------------------
def a_gate_shift() -> Shift:
    return Shift.sign_on(
        school_id="school-1", staff={"staff_id": "guard-1", "name": "刘保安"},
        day=MORNING.date(), session="after_school",
        place={"id": "gate-1", "label": "东门", "kind": "gate"}, substitute_for=None,
        at=MORNING, starts_at=MORNING, ends_at=MORNING + timedelta(hours=10), by=BY)


def test_a_gate_shift_handed_to_a_colleague_and_resumed_is_open_only_while_signed_on() -> None:
    shift = a_gate_shift()
    shift.hand_over({"staff_id": "guard-2", "name": "陈保安"}, MORNING + timedelta(hours=1), BY)
    with pytest.raises(ConflictError):
        shift.hand_over({"staff_id": "guard-2", "name": "陈保安"}, MORNING + timedelta(hours=2), BY)
    shift.resume(MORNING + timedelta(hours=3), BY)
    with pytest.raises(ConflictError):
        shift.resume(MORNING + timedelta(hours=4), BY)
    assert shift.open_at(MORNING + timedelta(minutes=30))
    assert not shift.open_at(MORNING + timedelta(hours=2))
    assert shift.open_at(MORNING + timedelta(hours=5))
    assert not shift.open_at(MORNING - timedelta(seconds=20))
    assert shift.open_at(MORNING - timedelta(seconds=20), timedelta(seconds=30))  # a device's clock
    off = MORNING + timedelta(hours=1)
    assert not shift.open_at(off + timedelta(seconds=5), timedelta(seconds=30))  # never after
    _, handed, resumed = shift.collect_events()
    assert isinstance(handed, Shift.HandedOver) and handed.to["staff_id"] == "guard-2"
    assert isinstance(resumed, Shift.Resumed)
    assert shift.view()["signed_off_at"] is None and shift.view()["handed_to"] is None


def test_a_gate_is_handed_only_to_someone_else_and_a_group_is_resumed_but_not_handed_over() -> None:
    shift = a_gate_shift()
    with pytest.raises(RuleError):
        shift.hand_over({"staff_id": "guard-1", "name": "刘保安"}, MORNING, BY)
    group = Shift.sign_on(
        school_id="school-1", staff={"staff_id": "t-1", "name": "张老师"}, day=MORNING.date(),
        session="after_school", place={"id": "g-1", "label": "作业组", "kind": "group"},
        substitute_for=None, at=MORNING, starts_at=MORNING, ends_at=MORNING + timedelta(hours=1),
        by=BY)
    group.sign_off(MORNING + timedelta(minutes=5), BY)
    with pytest.raises(RuleError):
        group.resume(MORNING + timedelta(minutes=4), BY)
    group.resume(MORNING + timedelta(minutes=10), BY)
    assert group.open_at(MORNING + timedelta(minutes=12)) and not group.open_at(MORNING + timedelta(minutes=7))
    with pytest.raises(ConflictError):
        group.resume(MORNING + timedelta(minutes=11), BY)
    with pytest.raises(RuleError):
        group.hand_over({"staff_id": "t-2", "name": "李老师"}, MORNING + timedelta(minutes=16), BY)


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "1111", "1234", "9876", "１２３５"])
def test_a_pin_is_four_to_eight_digits_and_not_guessed_at_once(pin: str) -> None:
    with pytest.raises(RuleError):
        check_pin(pin)


def test_a_pin_is_stored_only_as_a_salted_hash_and_changed_with_a_new_salt() -> None:
    stored = StaffPin.set_first("school-1", "guard-1", "2580", BY)
    assert stored.matches("2580") and not stored.matches("2581")
    first = stored.salt
    stored.change("4711", BY)
    assert stored.salt != first and stored.matches("4711") and not stored.matches("2580")
    assert all("2580" not in str(vars(e)) and "4711" not in str(vars(e))
               for e in stored.collect_events())


def test_wrong_pins_are_limited_in_any_window_of_time_wherever_it_starts() -> None:
    tries = PinTries(school_id="school-1", staff_id="guard-1")
    first = MORNING.replace(minute=14, second=50)  # ten seconds before a quarter-hour
    for k in range(PIN_TRIES):
        tries.failed(first + timedelta(seconds=k), "wrong-pin")
    past_the_quarter = first + timedelta(seconds=15)
    with pytest.raises(TooManyPinTriesError) as refused:
        tries.failed(past_the_quarter, "wrong-pin")
    assert refused.value.retry_after == (PIN_WINDOW - timedelta(seconds=15)).total_seconds()
    assert tries.refused_for(first + PIN_WINDOW - timedelta(seconds=1)) == 1
    # The earliest wrong PIN a whole window old: one more try is taken, and refused after it.
    again = first + PIN_WINDOW
    assert tries.refused_for(again) is None
    tries.failed(again, "wrong-pin")
    assert tries.refused_for(again) == 1  # the second wrong PIN is a window old a second later
    assert tries.refused_for(again + timedelta(seconds=1)) is None
    events = tries.collect_events()
    assert [type(e) for e in events[1:]] == [PinTries.Failed] * (PIN_TRIES + 1)
    assert len(tries.last_failures) == PIN_TRIES


# -- over HTTP --------------------------------------------------------------------------------
def a_paired_tablet(world: World) -> Staff:
    r = world.post(world.admin, "/v1/devices", {"name": "东门平板", "kind": "gate_tablet",
                                                "place_id": world.gate_id})
    assert r.status_code == 201, r.text
    r = world.client.post("/v1/devices/pair", json={"code": r.json()["code"]})
    assert r.status_code == 201, r.text
    return Staff(r.json()["device_id"], r.json()["token"])


def with_pin(world: World, who: Staff, pin: str) -> None:
    r = world.client.put(f"/v1/staff/{who.staff_id}/pin", json={"pin": pin},
                         headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text


def at_the_gate(client: TestClient, app: HandoverApp,
                walked: tuple[int, ...] = (0, 1, 2)) -> tuple[World, Staff]:
    world = a_school(client, app, 3)
    handed_to_teacher(world)
    if walked:
        walked_to_gate(world, list(walked))
    with_pin(world, world.guard, "2580")
    return world, a_paired_tablet(world)


def release_body(world: World, i: int) -> dict[str, Any]:
    return {"pupil_ids": [world.pupil(i)], "gate_id": world.gate_id,
            "collector_id": world.guardian(i)["guardian_id"], "identity_check": "known_to_staff"}


def alerts(world: World, kind: str) -> list[dict[str, Any]]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = world.client.get("/v1/alerts", params={"min_position": head, "kind": kind},
                         headers=world.admin.h())
    assert r.status_code == 200, r.text
    return list(r.json()["alerts"])


def released_by(app: HandoverApp) -> list[dict[str, Any]]:
    return [app.mapper.to_domain_event(n).by  # type: ignore[attr-defined]
            for n in app.recorder.select_notifications(start=1, limit=10_000)
            if n.topic.endswith("PupilDay.Released")]


def sign_on(world: World, tablet: Staff, who: Staff, pin: str, **extra: Any) -> Any:
    return world.post(tablet, "/v1/gate/guards/sign-on", {"staff_id": who.staff_id, "pin": pin,
                                                          **extra})


def test_with_no_guard_signed_on_the_tablet_refuses_to_release_and_records_nothing(
        client: TestClient, app: HandoverApp) -> None:
    world, tablet = at_the_gate(client, app)
    r = world.post(tablet, "/v1/releases", release_body(world, 0))
    assert r.status_code == 422 and r.json()["type"].endswith("/guard-not-signed-on"), r.text
    refusal = {"pupil_id": world.pupil(1), "adult": {"name": "陌生人"}, "reason": "不在接送名单",
               "gate_id": world.gate_id}
    assert world.post(tablet, "/v1/refusals", refusal).status_code == 422
    assert released_by(app) == [] and world.state(0)["status"] != "gone"


def test_a_guard_signs_on_at_the_tablet_with_their_pin_and_releases_are_recorded_as_theirs(
        client: TestClient, app: HandoverApp) -> None:
    world, tablet = at_the_gate(client, app)
    r = client.get("/v1/gate/guards", headers=tablet.h())
    assert r.status_code == 200, r.text
    [listed] = r.json()["guards"]
    assert (listed["name"], listed["has_pin"], listed["on_duty"]) == ("刘保安", True, False)
    wrong = sign_on(world, tablet, world.guard, "0852")
    assert wrong.status_code == 422 and wrong.json()["type"].endswith("/wrong-pin"), wrong.text
    r = sign_on(world, tablet, world.guard, "2580")
    assert r.status_code == 201 and r.json()["place"]["kind"] == "gate", r.text
    assert sign_on(world, tablet, world.guard, "2580").status_code == 200  # on duty already
    assert client.get("/v1/gate/guards", headers=tablet.h()).json()["guards"][0]["on_duty"]
    r = world.post(tablet, "/v1/releases", release_body(world, 0), **{"X-Guard-Id": world.guard.staff_id})
    assert r.status_code == 200, r.text
    [by] = released_by(app)
    assert (by["staff_id"], by["staff_name"], by["device"], by["place"]) == (
        world.guard.staff_id, "刘保安", tablet.staff_id, world.gate_id)


def test_a_second_guard_takes_over_and_a_release_queued_before_still_names_the_first(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world, tablet = at_the_gate(client, app)
    second = add_staff(client, world.admin, "陈保安", ["guard"])
    with_pin(world, second, "4711")
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201
    queued_at = clock.now().isoformat()
    clock.advance(minutes=20)
    r = sign_on(world, tablet, second, "4711", taking_over_from=world.guard.staff_id,
                pupil_ids=[world.pupil(i) for i in range(3)], count_received=3)
    assert r.status_code == 201, r.text
    assert [world.state(i)["custodian"]["staff_id"] for i in range(3)] == [second.staff_id] * 3
    assert alerts(world, "count_mismatch") == []
    clock.advance(minutes=1)
    now_as_first = world.post(tablet, "/v1/releases", release_body(world, 1),
                              **{"X-Guard-Id": world.guard.staff_id})
    assert now_as_first.status_code == 422, now_as_first.text
    assert now_as_first.json()["type"].endswith("/guard-not-on-duty")
    replayed = world.post(tablet, "/v1/releases", release_body(world, 1),
                          **{"X-Guard-Id": world.guard.staff_id, "X-Device-Time": queued_at})
    # On duty when it was made, but the pupil has passed to the colleague since.
    assert replayed.status_code == 409 and "陈保安" in replayed.json()["detail"], replayed.text
    mine = world.post(tablet, "/v1/releases", release_body(world, 2), **{"X-Guard-Id": second.staff_id})
    assert mine.status_code == 200, mine.text
    assert [b["staff_id"] for b in released_by(app)] == [second.staff_id]
    r = client.get("/v1/shifts", headers=world.admin.h())
    first = next(s for s in r.json()["shifts"] if s["staff"]["staff_id"] == world.guard.staff_id)
    assert first["off_at"] is not None and first["place"]["kind"] == "gate"
    r = client.get(f"/v1/statements/staff/{world.guard.staff_id}", headers=world.admin.h(),
                   params={"month": "2026-11", "min_position": r.json()["position"]})
    assert r.status_code == 200, r.text
    statement = r.json()
    assert statement["sessions_supervised"]["count"] == 1, r.text
    assert statement["early_leaves"]["count"] == 0, r.text  # handing the gate over is no early leave
    r = client.get(f"/v1/staff/{world.guard.staff_id}/shift", headers=world.admin.h())
    assert r.status_code == 200, r.text
    mine = [(e["what"], e["device"]) for e in r.json()["entries"] if e["subject"]["kind"] == "shift"]
    assert ("handed_over", tablet.staff_id) in mine, mine  # the guard's day says where and to whom


def test_taking_over_passes_every_pupil_the_leaving_guard_holds_and_a_short_count_is_a_mismatch(
        client: TestClient, app: HandoverApp) -> None:
    world, tablet = at_the_gate(client, app)
    second = add_staff(client, world.admin, "陈保安", ["guard"])
    with_pin(world, second, "4711")
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201
    r = sign_on(world, tablet, second, "4711", taking_over_from=world.guard.staff_id,
                pupil_ids=[world.pupil(2)], count_received=1)
    assert r.status_code == 201, r.text
    assert [world.state(i)["custodian"]["staff_id"] for i in range(3)] == [second.staff_id] * 3
    [alert] = alerts(world, "count_mismatch")
    assert (alert["subject"]["count_given"], alert["subject"]["count_received"]) == (3, 1)
    assert alert["subject"]["giver"]["staff_id"] == world.guard.staff_id
    mine = world.post(tablet, "/v1/releases", release_body(world, 0), **{"X-Guard-Id": second.staff_id})
    assert mine.status_code == 200, mine.text


def test_taking_over_names_only_pupils_the_leaving_guard_holds_and_counts_them_all_by_default(
        client: TestClient, app: HandoverApp) -> None:
    world, tablet = at_the_gate(client, app, walked=(0, 1))
    second = add_staff(client, world.admin, "陈保安", ["guard"])
    with_pin(world, second, "4711")
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201
    r = sign_on(world, tablet, second, "4711", taking_over_from=world.guard.staff_id,
                pupil_ids=[world.pupil(2)])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pupil_ids", r.text
    assert world.state(2)["custodian"]["staff_id"] == world.teacher.staff_id
    listed = client.get("/v1/gate/guards", headers=tablet.h()).json()["guards"]
    assert [g["name"] for g in listed if g["on_duty"]] == ["刘保安"]  # nothing changed
    r = sign_on(world, tablet, second, "4711", taking_over_from=world.guard.staff_id)
    assert r.status_code == 201, r.text
    assert [world.state(i)["custodian"]["staff_id"] for i in range(2)] == [second.staff_id] * 2
    assert alerts(world, "count_mismatch") == []


def test_a_guard_holding_pupils_at_the_gate_cannot_sign_off_until_they_are_gone_or_handed_over(
        client: TestClient, app: HandoverApp) -> None:
    world, tablet = at_the_gate(client, app)
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201
    off = {"staff_id": world.guard.staff_id, "pin": "2580"}
    r = world.post(tablet, "/v1/gate/guards/sign-off", off)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/still-holds-pupils") and r.json()["held"] == 3, r.text
    assert "3" in r.json()["detail"] and "东门" in r.json()["detail"], r.text
    assert client.get("/v1/gate/guards", headers=tablet.h()).json()["guards"][0]["on_duty"]
    for i in range(3):
        r = world.post(tablet, "/v1/releases", release_body(world, i),
                       **{"X-Guard-Id": world.guard.staff_id})
        assert r.status_code == 200, r.text
    r = world.post(tablet, "/v1/gate/guards/sign-off", off)
    assert r.status_code == 200 and r.json()["signed_off_at"], r.text


def test_a_duty_leader_cannot_sign_a_guard_off_the_gate_while_the_guard_holds_pupils(
        client: TestClient, app: HandoverApp) -> None:
    world, tablet = at_the_gate(client, app)
    leader = add_staff(client, world.admin, "陈主任", ["duty_leader"])
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201
    off = {"place_id": world.gate_id, "staff_id": world.guard.staff_id}
    r = world.post(leader, "/v1/shifts/sign-off", off)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/still-holds-pupils") and r.json()["held"] == 3, r.text
    assert "3" in r.json()["detail"] and "hand them over first" in r.json()["detail"], r.text
    assert client.get("/v1/gate/guards", headers=tablet.h()).json()["guards"][0]["on_duty"]
    assert world.state(0)["custodian"]["staff_id"] == world.guard.staff_id
    r = world.post(world.guard, "/v1/handovers", {
        "pupil_ids": [world.pupil(i) for i in range(3)], "count": 3,
        "to_staff_id": leader.staff_id, "place_id": world.gate_id})
    assert r.status_code == 201, r.text
    r = world.post(leader, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 3})
    assert r.status_code == 200, r.text
    r = world.post(leader, "/v1/shifts/sign-off", off)
    assert r.status_code == 200 and r.json()["signed_off_at"], r.text
    assert not client.get("/v1/gate/guards", headers=tablet.h()).json()["guards"][0]["on_duty"]


def test_at_the_tablet_only_a_guard_on_the_days_roster_signs_on_or_comes_back(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world, tablet = at_the_gate(client, app, walked=())
    other = add_staff(client, world.admin, "马保安", ["guard"])
    stranger = add_staff(client, world.admin, "新保安", ["guard"])
    with_pin(world, stranger, "4711")

    def roster(guards: list[Staff], replaces: int | None) -> Any:
        body = {"day": SESSION_DAY, "leader_ids": [lead.staff_id for lead in leaders],
                "guards": [{"staff_id": g.staff_id, "gate_id": world.gate_id} for g in guards],
                "replaces": replaces}
        return client.put("/v1/duty/roster", json=body, headers=world.admin.h())
    leaders = [add_staff(client, world.admin, n, ["duty_leader"]) for n in ("陈主任", "周主任")]
    assert roster([world.guard, other], None).status_code == 201
    r = sign_on(world, tablet, stranger, "4711")
    assert r.status_code == 422 and "值班安排" in r.json()["detail"], r.text
    assert r.json()["errors"][0]["field"] == "staff_id"
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201
    off = {"staff_id": world.guard.staff_id, "pin": "2580"}
    assert world.post(tablet, "/v1/gate/guards/sign-off", off).status_code == 200
    assert roster([stranger, other], 1).status_code == 200
    clock.advance(minutes=10)
    r = sign_on(world, tablet, world.guard, "2580")
    assert r.status_code == 422 and "值班安排" in r.json()["detail"], r.text
    assert not client.get("/v1/gate/guards", headers=tablet.h()).json()["guards"][0]["on_duty"]
    assert sign_on(world, tablet, stranger, "4711").status_code == 201


def test_a_guard_signs_off_with_their_pin_and_comes_back_after_a_break(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world, tablet = at_the_gate(client, app, walked=())
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201
    off = {"staff_id": world.guard.staff_id, "pin": "0000"}
    assert world.post(tablet, "/v1/gate/guards/sign-off", off).status_code == 422
    r = world.post(tablet, "/v1/gate/guards/sign-off", {**off, "pin": "2580"})
    assert r.status_code == 200 and r.json()["signed_off_at"], r.text
    made = clock.now().isoformat()  # on the tablet's clock, the same second as the sign-off
    clock.advance(seconds=0.4)
    refused = world.post(tablet, "/v1/releases", release_body(world, 0),
                         **{"X-Guard-Id": world.guard.staff_id, "X-Device-Time": made})
    assert refused.status_code == 422 and released_by(app) == [], refused.text
    clock.advance(minutes=10)
    r = sign_on(world, tablet, world.guard, "2580")
    assert r.status_code == 200 and r.json()["signed_off_at"] is None, r.text
    walked_to_gate(world, [0])
    ok = world.post(tablet, "/v1/releases", release_body(world, 0), **{"X-Guard-Id": world.guard.staff_id})
    assert ok.status_code == 200, ok.text


def test_only_a_guard_with_a_pin_signs_on_and_only_a_tablet_names_a_guard(
        client: TestClient, app: HandoverApp) -> None:
    world, tablet = at_the_gate(client, app)
    with_pin(world, world.teacher, "3691")
    r = sign_on(world, tablet, world.teacher, "3691")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "staff_id", r.text
    fresh = add_staff(client, world.admin, "新保安", ["guard"])
    r = sign_on(world, tablet, fresh, "3691")
    assert r.status_code == 422 and r.json()["type"].endswith("/no-pin"), r.text
    assert world.post(world.guard, "/v1/gate/guards/sign-on",
                      {"staff_id": world.guard.staff_id, "pin": "2580"}).status_code == 403
    r = world.post(world.guard, "/v1/releases", release_body(world, 0),
                   **{"X-Guard-Id": world.guard.staff_id})
    assert r.status_code == 422, r.text  # a person's own token acts as themselves
    r = client.put(f"/v1/staff/{world.guard.staff_id}/pin", json={"pin": "7777"},
                   headers=world.teacher.h(**key()))
    assert r.status_code == 403, r.text
    r = client.put(f"/v1/staff/{world.guard.staff_id}/pin", json={"pin": "2468"},
                   headers=world.guard.h(**key()))
    assert r.status_code == 200, r.text  # one's own
    r = client.put(f"/v1/staff/{world.guard.staff_id}/pin", json={"pin": "12"},
                   headers=world.guard.h(**key()))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_wrong_pins_for_one_guard_are_refused_even_the_right_one_for_a_while(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world, tablet = at_the_gate(client, app)
    for pin in ("1357", "2468", "3579", "4680", "5791"):
        assert sign_on(world, tablet, world.guard, pin).status_code == 422
    r = sign_on(world, tablet, world.guard, "2580")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0, r.text
    assert r.json()["type"].endswith("/pin-tries-exceeded")
    clock.advance(minutes=16)
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201


def test_wrong_pins_typed_either_side_of_a_quarter_hour_are_counted_together(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world, tablet = at_the_gate(client, app)
    clock.set(clock.now().replace(minute=14, second=50))
    for pin in ("1357", "2468", "3579", "4680", "5791"):
        assert sign_on(world, tablet, world.guard, pin).status_code == 422
    clock.advance(seconds=15)  # a new quarter-hour: still within fifteen minutes of them all
    r = sign_on(world, tablet, world.guard, "1470")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 15 * 60 - 15, r.text
    clock.advance(minutes=15)
    assert sign_on(world, tablet, world.guard, "2580").status_code == 201


def test_a_guard_signs_on_at_a_gate_with_their_own_token_one_place_at_a_time(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = world.post(world.guard, "/v1/shifts/sign-on", {"place_id": world.gate_id})
    assert r.status_code == 201 and r.json()["place"]["kind"] == "gate", r.text
    r = world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.gate_id})
    assert r.status_code == 422, r.text
    south = world.post(world.admin, "/v1/school/gates", {"name": "南门"}).json()["gate_id"]
    r = world.post(world.guard, "/v1/shifts/sign-on", {"place_id": south})
    assert r.status_code == 409, r.text


def offer_to_guard(world: World, i: int) -> str:
    r = world.post(world.teacher, "/v1/handovers", {"pupil_ids": [world.pupil(i)], "count": 1,
                   "to_staff_id": world.guard.staff_id, "place_id": world.gate_id})
    assert r.status_code == 201, r.text
    return str(r.json()["handover_id"])


def test_a_guard_to_whom_pupils_are_being_handed_cannot_sign_off_until_the_offer_is_answered(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    handed_to_teacher(world)
    gate = {"place_id": world.gate_id}
    assert world.post(world.guard, "/v1/shifts/sign-on", gate).status_code == 201
    hid = offer_to_guard(world, 0)
    r = world.post(world.guard, "/v1/shifts/sign-off", gate)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/handover-pending"), r.text
    assert r.json()["pending"] == [{"handover_id": hid, "pupils": 1, "place": "东门",
                                    "giver": {"staff_id": world.teacher.staff_id, "name": "张老师"}}]
    assert "张老师" in r.json()["detail"] and "撤回" in r.json()["detail"], r.text
    r = world.post(world.teacher, f"/v1/handovers/{hid}/withdraw", {"reason": "家长改到西门"})
    assert r.status_code == 200, r.text
    r = world.post(world.guard, "/v1/shifts/sign-off", gate)
    assert r.status_code == 200 and r.json()["signed_off_at"], r.text


def test_a_guard_who_has_signed_off_cannot_take_pupils_until_back_on_duty(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    handed_to_teacher(world)
    gate = {"place_id": world.gate_id}
    assert world.post(world.guard, "/v1/shifts/sign-on", gate).status_code == 201
    assert world.post(world.guard, "/v1/shifts/sign-off", gate).status_code == 200
    hid = offer_to_guard(world, 0)
    r = world.post(world.guard, f"/v1/handovers/{hid}/confirm", {"count": 1})
    assert r.status_code == 422 and r.json()["type"].endswith("/receiver-off-duty"), r.text
    assert "签退" in r.json()["detail"] and "signed off" in r.json()["detail"], r.text
    state = world.state(0)
    assert state["custodian"]["staff_id"] == world.teacher.staff_id
    assert state["pending"]["handover_id"] == hid  # the offer stands: the teacher still holds
    assert world.post(world.guard, "/v1/shifts/sign-on", gate).status_code == 200  # resumed
    r = world.post(world.guard, f"/v1/handovers/{hid}/confirm", {"count": 1})
    assert r.status_code == 200, r.text
    assert world.state(0)["custodian"]["staff_id"] == world.guard.staff_id
    r = world.post(world.guard, "/v1/shifts/sign-off", gate)
    assert r.status_code == 422 and r.json()["type"].endswith("/still-holds-pupils"), r.text


@every_durable_store
def test_a_sign_off_and_a_handover_to_the_same_guard_at_the_same_moment_never_both_succeed(
        client: TestClient, app: HandoverApp) -> None:
    rounds = 12
    world = a_school(client, app, rounds)
    handed_to_teacher(world)
    gate = {"place_id": world.gate_id}
    tablet = a_paired_tablet(world)
    both = []
    for i in range(rounds):
        r = world.post(world.guard, "/v1/shifts/sign-on", gate)
        assert r.status_code in (200, 201, 409), r.text  # 409: still on duty from the last round
        start = threading.Barrier(2)

        def sign_off(start: threading.Barrier = start) -> int:
            start.wait()
            return int(world.post(world.guard, "/v1/shifts/sign-off", gate).status_code)

        def offer_and_confirm(i: int = i, start: threading.Barrier = start) -> tuple[str, int]:
            start.wait()
            hid = offer_to_guard(world, i)
            r = world.post(world.guard, f"/v1/handovers/{hid}/confirm", {"count": 1})
            return hid, int(r.status_code)

        with ThreadPoolExecutor(2) as pool:
            off = pool.submit(sign_off)
            handed = pool.submit(offer_and_confirm)
            off_status, (hid, confirm_status) = off.result(), handed.result()
        assert {off_status, confirm_status} <= {200, 422}, (off_status, confirm_status)
        both.append((off_status, confirm_status))
        state = world.state(i)
        on_duty = client.get("/v1/gate/guards", headers=tablet.h()).json()["guards"]
        guard_on = any(g["staff_id"] == world.guard.staff_id and g["on_duty"] for g in on_duty)
        if state["custodian"]["staff_id"] == world.guard.staff_id:
            assert guard_on, f"round {i}: the pupil is held by a guard who signed off"
            r = world.post(world.guard, "/v1/releases", release_body(world, i))
            assert r.status_code == 200, r.text
        else:
            assert confirm_status == 422 and state["pending"]["handover_id"] == hid
            r = world.post(world.teacher, f"/v1/handovers/{hid}/withdraw", {"reason": "改交他人"})
            assert r.status_code == 200, r.text
    assert (200, 200) not in both, both


def test_a_guard_who_has_signed_off_signs_no_pupil_in_until_back_on_duty(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    gate = {"place_id": world.gate_id}
    roll_call = {"pupil_ids": [world.pupil(0)], "place_id": world.gate_id}
    assert world.post(world.guard, "/v1/shifts/sign-on", gate).status_code == 201
    assert world.post(world.guard, "/v1/shifts/sign-off", gate).status_code == 200
    r = world.post(world.guard, "/v1/sign-ins", roll_call)
    assert r.status_code == 422 and r.json()["type"].endswith("/receiver-off-duty"), r.text
    assert world.state(0)["status"] == "not_handed_over"
    assert world.post(world.guard, "/v1/shifts/sign-on", gate).status_code == 200
    r = world.post(world.guard, "/v1/sign-ins", roll_call)
    assert r.status_code == 200, r.text
    r = world.post(world.guard, "/v1/shifts/sign-off", gate)
    assert r.status_code == 422 and r.json()["type"].endswith("/still-holds-pupils"), r.text
