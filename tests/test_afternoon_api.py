"""The afternoon over HTTP on the memory store: custody and release, status and shape.

The rules themselves are carried by tests/test_custody_domain.py and tests/test_domain.py;
what depends on the store by tests/test_custody_rules.py (rebuilt from stored events).
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.application import HandoverApp
from tests.builders import a_school, handed_to_teacher, walked_to_gate


def test_a_class_handed_over_and_confirmed_is_in_the_receivers_custody(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app)
    handed_to_teacher(world)
    state = world.state(0)
    assert state["status"] == "in_custody"
    assert state["custodian"]["staff_id"] == world.teacher.staff_id
    assert state["place"]["label"] == "三年级作业组"
    assert [e["type"] for e in state["chain"]] == ["offered", "custody_taken"]


def test_a_pupil_released_to_their_guardian_is_gone_and_cannot_be_released_again(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app)
    handed_to_teacher(world)
    walked_to_gate(world, [0])
    body = {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
            "collector_id": world.guardian(0)["guardian_id"], "identity_check": "known_to_staff"}
    r = world.post(world.guard, "/v1/releases", body)
    assert r.status_code == 200, r.text
    assert r.json()["pupils"][0]["gone"]["adult"]["name"] == "家长0"
    again = world.post(world.guard, "/v1/releases", body)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["current_state"]["status"] == "gone"
