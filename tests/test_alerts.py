"""DESIGN §3.3 Deadlines and alerts: raised once per cause, escalated on the clock, stopped by people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.use_cases.clock import FixedClock
from service.workers.watcher import Watcher
from tests.builders import World, a_school, handed_to_teacher, walked_to_gate
from tests.conftest import SHANGHAI
from tests.stores import every_store

# Grade 3 is the middle band: dismissal 17:20 in autumn, plus 10 minutes' grace.
DEADLINE = datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI)


def watcher(client: TestClient) -> Watcher:
    return Watcher(client.app.state.handover, client.app.state.views)  # type: ignore[attr-defined]


def alerts(world: World, **params: Any) -> list[dict[str, Any]]:
    """The alert list as of everything written so far (read-your-writes)."""
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    params.setdefault("min_position", head)
    r = world.client.get("/v1/alerts", params=params, headers=world.admin.h())
    assert r.status_code == 200, r.text
    return list(r.json()["alerts"])


def unpicked(world: World) -> list[dict[str, Any]]:
    return alerts(world, kind="unpicked")


@every_store
def test_a_pupil_still_in_school_after_the_deadline_raises_exactly_one_alert(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    handed_to_teacher(world)
    walked_to_gate(world, [0])
    world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
               "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    clock.set(DEADLINE.replace(minute=29))
    assert watcher(client).run_once()["raised"] == 0
    clock.set(DEADLINE)
    first, second = watcher(client), watcher(client)
    first.run_once()
    second.run_once()
    [alert] = unpicked(world)
    assert alert["subject"]["pupil_id"] == world.pupil(1)  # the released pupil raises none
    assert alert["status"] == "open"


def test_an_unpicked_alert_escalates_on_schedule_until_acknowledged(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    clock.set(DEADLINE)
    w = watcher(client)
    w.run_once()
    w.run_once()
    [alert] = unpicked(world)
    assert [s["step"] for s in alert["steps"]] == ["guardian_contacted"]
    clock.set(DEADLINE.replace(minute=59))
    w.run_once()
    assert unpicked(world)[0]["level"] == 1
    clock.set(DEADLINE.replace(hour=18, minute=0))
    w.run_once()
    w.run_once()
    assert [s["step"] for s in unpicked(world)[0]["steps"]] == ["guardian_contacted", "handed_to_gatehouse"]
    r = world.post(world.teacher, f"/v1/alerts/{alert['alert_id']}/acknowledge", {"note": "已联系家长，在路上"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    clock.set(DEADLINE.replace(hour=19))
    w.run_once()
    after = unpicked(world)[0]
    assert after["level"] == 2 and after["acknowledged"]["by"]["staff_id"] == world.teacher.staff_id


def test_releasing_the_pupil_resolves_the_unpicked_alert(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    walked_to_gate(world, [0])
    clock.set(DEADLINE)
    w = watcher(client)
    w.run_once()
    world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
               "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    w.run_once()
    [alert] = unpicked(world)
    assert alert["status"] == "resolved" and alert["resolved"]["how"] == "released"
    clock.set(DEADLINE.replace(hour=19))
    w.run_once()
    assert unpicked(world)[0]["level"] == 1


def test_a_count_mismatch_raises_an_alert_at_once(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 2,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    r = world.post(world.teacher, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": 1})
    position = int(r.headers["X-Log-Position"])
    [alert] = alerts(world, kind="count_mismatch", min_position=position)
    assert alert["subject"]["count_given"] == 2 and alert["subject"]["count_received"] == 1


def test_a_refused_release_raises_an_alert(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "adult": {"name": "陌生人"}})
    assert r.status_code == 422
    [alert] = alerts(world, kind="release_refused", min_position=int(r.headers["X-Log-Position"]))
    assert alert["subject"]["adult"]["name"] == "陌生人" and alert["subject"]["reason"] == "not_authorised"


def test_pupils_nobody_took_and_a_silent_group_raise_alerts_after_the_start(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 2)
    clock.set(datetime(2026, 11, 23, 15, 54, tzinfo=SHANGHAI))
    watcher(client).run_once()
    assert alerts(world) == []
    clock.set(datetime(2026, 11, 23, 15, 55, tzinfo=SHANGHAI))
    watcher(client).run_once()
    kinds = sorted(a["kind"] for a in alerts(world))
    assert kinds == ["not_handed_over", "not_handed_over", "zero_report"]
    world.post(world.teacher, "/v1/sign-ins", {"pupil_ids": [world.pupil(0)], "place_id": world.group_id})
    watcher(client).run_once()
    open_now = alerts(world, status="open")
    assert [a["subject"].get("pupil_id") for a in open_now if a["kind"] == "not_handed_over"] == [world.pupil(1)]


def test_a_handover_never_confirmed_raises_an_alert(client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    clock.set(datetime(2026, 11, 23, 15, 40, tzinfo=SHANGHAI))
    world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": 1,
               "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    clock.set(datetime(2026, 11, 23, 15, 50, tzinfo=SHANGHAI))
    watcher(client).run_once()
    [alert] = alerts(world, kind="unconfirmed")
    assert alert["subject"]["to"]["staff_id"] == world.teacher.staff_id


def test_an_authorisation_ending_within_two_weeks_is_warned_of_once(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/authorisations",
               {"name": "外婆", "valid_from": "2026-09-01", "valid_to": "2026-12-01", "document": "授权书"})
    world.post(world.admin, f"/v1/pupils/{world.pupil(0)}/authorisations",
               {"name": "舅舅", "valid_from": "2026-09-01", "valid_to": "2027-06-30"})
    watcher(client).run_once()
    watcher(client).run_once()
    [alert] = alerts(world, kind="document_expiring")
    assert alert["subject"]["adult"] == "外婆" and alert["subject"]["valid_to"] == "2026-12-01"


def test_an_alert_is_resolved_once_saying_how(client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    clock.set(DEADLINE)
    watcher(client).run_once()
    [alert] = unpicked(world)
    r = world.post(world.guard, f"/v1/alerts/{alert['alert_id']}/resolve",
                   {"how": "handed_to_guardian", "note": "奶奶来接"})
    assert r.status_code == 200 and r.json()["resolved"]["by"]["staff_id"] == world.guard.staff_id
    again = world.post(world.guard, f"/v1/alerts/{alert['alert_id']}/resolve", {"how": "other"})
    assert again.status_code == 409 and again.json()["current_state"]["status"] == "resolved"
