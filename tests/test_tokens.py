"""Staff tokens: listed without their secret, revoked one by one or all at once, and expiring."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.domain.common import Actor
from service.domain.errors import ConflictError
from service.domain.staff import StaffToken, token_hash
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import Staff, World, a_school, key
from tests.conftest import MORNING
from tests.refs import actor

BY = actor("admin-1", "王校长", "admin", MORNING.isoformat())


def test_a_token_stops_being_valid_when_revoked_once_or_when_it_expires() -> None:
    token = StaffToken.issue("hov_x", "school-1", "staff-1", BY, at=MORNING,
                             expires_at=MORNING + timedelta(days=7), label="东门平板")
    assert token.valid(MORNING) and not token.valid(MORNING + timedelta(days=7))
    token.revoke(BY)
    with pytest.raises(ConflictError):
        token.revoke(BY)
    issued, revoked = token.collect_events()
    assert isinstance(issued, StaffToken.Issued) and issued.label == "东门平板"
    assert issued.expires_at == (MORNING + timedelta(days=7)).isoformat()
    assert type(revoked).__name__ == "Revoked" and not token.valid(MORNING)


def test_a_token_issued_before_expiry_existed_still_replays_and_never_expires() -> None:
    app = HandoverApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        [issued] = StaffToken(token_hash=token_hash("hov_old"), school_id="s", staff_id="m",
                              by=None).collect_events()
        stored = app.mapper.to_stored_event(issued)
        state = json.loads(stored.state)
        for name in ("label", "issued_at", "expires_at", "class_version"):
            del state[name]  # as version 1 recorded it
        v1 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                         json.dumps(state).encode())
        event = app.mapper.to_domain_event(v1)
        assert isinstance(event, StaffToken.Event)
        token = event.mutate(None)
    finally:
        app.close()
    assert isinstance(token, StaffToken) and token.label is None and token.expires_at is None
    assert token.issued_at == issued.timestamp.isoformat()
    assert token.valid(MORNING + timedelta(days=10_000))


def tokens(client: TestClient, world: World, staff_id: str, **params: object) -> list[dict[str, object]]:
    head = client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = client.get(f"/v1/staff/{staff_id}/tokens", params={"min_position": head, **params},
                   headers=world.admin.h())
    assert r.status_code == 200, r.text
    return list(r.json()["tokens"])


@pytest.mark.parametrize("store", ["memory"])
def test_an_admin_lists_a_members_tokens_and_revokes_the_lost_tablets_at_once(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = client.post(f"/v1/staff/{world.guard.staff_id}/tokens", json={"label": "东门平板", "ttl_days": 30},
                    headers=world.admin.h(**key()))
    assert r.status_code == 201, r.text
    tablet = Staff(world.guard.staff_id, r.json()["token"])
    assert r.json()["expires_at"] == (MORNING + timedelta(days=30)).isoformat()
    listed = client.get(f"/v1/staff/{world.guard.staff_id}/tokens", headers=world.admin.h())
    assert listed.status_code == 200 and tablet.token not in listed.text
    assert token_hash(tablet.token) not in listed.text and world.guard.token not in listed.text
    listed_tokens = {t["token_id"]: t for t in tokens(client, world, world.guard.staff_id)}
    lost = listed_tokens.pop(r.json()["token_id"])
    [first] = listed_tokens.values()
    assert (lost["label"], lost["status"], first["status"]) == ("东门平板", "active", "active")
    assert client.get("/v1/me", headers=tablet.h()).status_code == 200

    r = client.post(f"/v1/staff/{world.guard.staff_id}/tokens/{lost['token_id']}/revoke",
                    headers=world.admin.h(**key()))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert r.json()["revoked_by"] == "王校长"
    assert client.get("/v1/me", headers=tablet.h()).status_code == 401
    assert client.get("/v1/me", headers=world.guard.h()).status_code == 200  # the other one works
    again = client.post(f"/v1/staff/{world.guard.staff_id}/tokens/{lost['token_id']}/revoke",
                        headers=world.admin.h(**key()))
    assert again.status_code == 409
    assert {t["token_id"]: t["status"] for t in tokens(client, world, world.guard.staff_id)} == {
        lost["token_id"]: "revoked", first["token_id"]: "active"}


@pytest.mark.parametrize("store", ["memory"])
def test_revoking_all_of_a_members_tokens_locks_every_device_out_and_only_admins_may(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = client.post(f"/v1/staff/{world.teacher.staff_id}/tokens", headers=world.admin.h(**key()))
    second = Staff(world.teacher.staff_id, r.json()["token"])
    path = f"/v1/staff/{world.teacher.staff_id}/tokens"
    assert client.get(path, headers=world.teacher.h()).status_code == 403
    assert client.post(path + "/revoke", headers=world.guard.h()).status_code == 403
    r = client.post(path + "/revoke", headers=world.admin.h(**key()))
    assert r.status_code == 200 and r.json()["revoked"] == 2
    for who in (world.teacher, second):
        assert client.get("/v1/me", headers=who.h()).status_code == 401
    held = tokens(client, world, world.teacher.staff_id)[0]["token_id"]
    other = client.post(f"/v1/staff/{world.guard.staff_id}/tokens/{held}/revoke",
                        headers=world.admin.h(**key()))
    assert other.status_code == 404  # a token is revoked through its own member only


@pytest.mark.parametrize("store", ["memory"])
def test_a_token_past_its_expiry_is_refused_and_new_tokens_take_the_default_lifetime(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    r = client.post(f"/v1/staff/{world.guard.staff_id}/tokens", json={"ttl_days": 1},
                    headers=world.admin.h(**key()))
    day_pass = Staff(world.guard.staff_id, r.json()["token"])
    day_pass_id = r.json()["token_id"]
    assert client.get("/v1/me", headers=day_pass.h()).status_code == 200
    clock.advance(days=1)
    assert client.get("/v1/me", headers=day_pass.h()).status_code == 401
    assert client.get("/v1/me", headers=world.guard.h()).status_code == 200
    held = {t["token_id"]: t for t in tokens(client, world, world.guard.staff_id)}
    assert held.pop(day_pass_id)["status"] == "expired"
    [first] = held.values()
    default = Settings().token_ttl_days
    assert first["expires_at"] == (MORNING + timedelta(days=default)).isoformat()
    r = client.post(f"/v1/staff/{world.guard.staff_id}/tokens", json={"ttl_days": 0},
                    headers=world.admin.h(**key()))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_token_revoked_through_one_process_is_refused_by_another_at_once(
        settings: Settings, app: HandoverApp, client: TestClient, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    other = HandoverApp(env=settings.eventsourcing_env(), clock=clock)  # a second API process
    try:
        assert other.authenticate(world.guard.token) is not None  # known, and cached, there
        [held] = tokens(client, world, world.guard.staff_id)
        admin = Actor(school_id=world.school_id, staff_id=world.admin.staff_id, staff_name="王校长",
                      role="admin", at=clock.now(), command_id=None)
        app.revoke_token(admin, world.guard.staff_id, str(held["token_id"]))
        assert other.authenticate(world.guard.token) is None
    finally:
        other.close()
