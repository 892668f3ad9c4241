"""Device pairing: a code shown once, exchanged once for a token that carries only the device's role."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.domain.common import Actor
from service.domain.device import (
    CODE_ALPHABET,
    Device,
    DeviceRevokedError,
    PairingCode,
    PairingCodeExpiredError,
    PairingCodeUnknownError,
    PairingCodeUsedError,
    PairingTries,
    TooManyPairingTriesError,
    code_hash,
    new_code,
    normalise_code,
)
from service.domain.errors import ConflictError, RuleError
from service.use_cases.clock import FixedClock
from service.use_cases.devices import PAIRING_TRIES, DeviceIdentity
from tests.builders import Staff, World, a_school, add_staff, auth, handed_to_teacher, key
from tests.conftest import MORNING
from tests.refs import actor

BY = actor("admin-1", "王校长", "admin", MORNING.isoformat())


# -- the aggregates ---------------------------------------------------------------------------
def a_gate_tablet() -> Device:
    return Device.register("school-1", "device-1", " 东门平板 ", "gate_tablet", ("gate-1", "东门"), BY)


def test_a_gate_tablet_is_a_guard_bound_to_its_gate_and_pairs_with_its_latest_code_only() -> None:
    device = a_gate_tablet()
    device.issue_code("code-1", MORNING + timedelta(minutes=10), BY)
    device.issue_code("code-2", MORNING + timedelta(minutes=10), BY)
    with pytest.raises(PairingCodeUsedError):
        device.pair("code-1", "token-1", MORNING)  # replaced by code-2
    device.pair("code-2", "token-1", MORNING)
    device.issue_code("code-3", MORNING + timedelta(minutes=20), BY)
    device.pair("code-3", "token-2", MORNING + timedelta(minutes=5))
    registered, *_, repaired = device.collect_events()
    assert isinstance(registered, Device.Registered)
    assert (registered.name, registered.role, registered.place_id) == ("东门平板", "guard", "gate-1")
    assert isinstance(repaired, Device.Paired)
    assert (repaired.token_id, repaired.replaced_token_id) == ("token-2", "token-1")
    assert device.view(MORNING)["status"] == "paired"


def test_a_revoked_device_is_revoked_once_and_never_gets_another_code() -> None:
    device = a_gate_tablet()
    device.revoke(BY)
    with pytest.raises(ConflictError):
        device.revoke(BY)
    with pytest.raises(DeviceRevokedError):
        device.issue_code("code-1", MORNING, BY)
    assert [type(e).__name__ for e in device.collect_events()] == ["Registered", "Revoked"]
    assert device.view(MORNING)["status"] == "revoked"


@pytest.mark.parametrize(("kind", "place"), [
    ("gate_tablet", None), ("classroom_tablet", None), ("duty_board", ("gate-1", "东门")),
    ("phone", None)])
def test_a_device_is_bound_to_the_place_its_kind_needs(kind: str, place: tuple[str, str] | None) -> None:
    with pytest.raises(RuleError):
        Device.register("school-1", "device-1", "平板", kind, place, BY)


def test_a_pairing_code_is_used_once_and_never_after_it_expires() -> None:
    code = new_code()
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    issued = PairingCode.issue(code, "school-1", "device-1", expires_at=MORNING + timedelta(minutes=10))
    assert code not in repr(issued.collect_events())  # only its hash is stored
    assert PairingCode.create_id(code_hash(f" {code[:4].lower()}-{code[4:]} ")) == issued.id
    late = PairingCode.issue(code, "school-1", "device-1", expires_at=MORNING)
    with pytest.raises(PairingCodeExpiredError):
        late.use(MORNING)
    issued.use(MORNING)
    with pytest.raises(PairingCodeUsedError):
        issued.use(MORNING)
    assert [type(e).__name__ for e in issued.collect_events()] == ["Used"]
    assert normalise_code("abcd-efgh") == "ABCDEFGH"


# -- the use cases, on the memory store ---------------------------------------------------------
def admin_of(app: HandoverApp) -> tuple[Actor, str]:
    created = app.init_school("实验小学", "Asia/Shanghai", "王校长")
    admin = Actor(school_id=created["school_id"], staff_id=created["admin_id"], staff_name="王校长",
                  role="admin", at=app.now())
    gate = app.add_gate(admin, "东门").body["gate_id"]
    return admin, gate


def test_a_paired_gate_tablet_signs_in_as_a_guard_at_its_gate_until_it_is_revoked(
        app: HandoverApp, clock: FixedClock) -> None:
    admin, gate = admin_of(app)
    registered = app.register_device(admin, "东门平板", "gate_tablet", gate).body
    assert registered["status"] == "waiting" and registered["role"] == "guard"
    paired = app.pair_device(registered["code"], "10.0.0.7").body
    who = app.authenticate(paired["token"])
    assert isinstance(who, DeviceIdentity)
    assert (who.roles, who.place_id, who.name) == (("guard",), gate, "东门平板")
    [listed] = app.list_devices(admin)
    assert listed["status"] == "paired" and listed["last_seen"] == MORNING.isoformat()
    assert "token" not in listed and "code" not in listed
    app.revoke_device(admin, registered["device_id"])
    assert app.authenticate(paired["token"]) is None
    assert app.list_devices(admin)[0]["status"] == "revoked"


def test_a_duty_board_opens_the_live_stream_by_ticket_as_itself_until_it_is_revoked(
        app: HandoverApp, clock: FixedClock) -> None:
    admin, _ = admin_of(app)
    registered = app.register_device(admin, "值班大屏", "duty_board", None).body
    board = app.authenticate(app.pair_device(registered["code"], "10.0.0.8").body["token"])
    assert board is not None
    ticket = app.issue_stream_ticket(board)["ticket"]
    opened = app.redeem_stream_ticket(ticket)
    assert isinstance(opened, DeviceIdentity) and opened.roles == ("inspector",)
    later = app.issue_stream_ticket(board)["ticket"]
    app.revoke_device(admin, registered["device_id"])
    assert app.redeem_stream_ticket(later) is None


def test_a_code_pairs_once_and_a_second_pairing_replaces_the_first_token(
        app: HandoverApp, clock: FixedClock) -> None:
    admin, _ = admin_of(app)
    registered = app.register_device(admin, "值班大屏", "duty_board", None).body
    first = app.pair_device(registered["code"], "10.0.0.7").body
    with pytest.raises(PairingCodeUsedError):
        app.pair_device(registered["code"], "10.0.0.7")
    again = app.issue_pairing_code(admin, registered["device_id"]).body
    second = app.pair_device(again["code"].lower(), "10.0.0.7").body
    assert app.authenticate(first["token"]) is None
    board = app.authenticate(second["token"])
    assert board is not None and board.roles == ("inspector",)


def test_an_expired_code_is_refused(app: HandoverApp, clock: FixedClock) -> None:
    admin, gate = admin_of(app)
    registered = app.register_device(admin, "东门平板", "gate_tablet", gate).body
    clock.advance(minutes=10)
    with pytest.raises(PairingCodeExpiredError):
        app.pair_device(registered["code"], "10.0.0.7")


def test_a_client_sending_wrong_codes_is_refused_even_the_right_one_until_its_window_ends(
        app: HandoverApp, clock: FixedClock) -> None:
    admin, gate = admin_of(app)
    registered = app.register_device(admin, "东门平板", "gate_tablet", gate).body
    for guess in range(PAIRING_TRIES):
        with pytest.raises(PairingCodeUnknownError):
            app.pair_device(f"AAAA-AAA{CODE_ALPHABET[guess]}", "10.0.0.66")
    with pytest.raises(TooManyPairingTriesError) as refused:
        app.pair_device(registered["code"], "10.0.0.66")
    assert 0 < refused.value.retry_after <= 15 * 60
    tries = [e for e in app.recorder.select_notifications(start=1, limit=1000)
             if e.topic.endswith("PairingTries.Failed")]
    assert len(tries) == PAIRING_TRIES
    clock.advance(seconds=refused.value.retry_after)
    fresh = app.issue_pairing_code(admin, registered["device_id"]).body
    assert app.pair_device(fresh["code"], "10.0.0.66").body["status"] == "paired"
    assert PairingTries.create_id("10.0.0.66", "a") != PairingTries.create_id("10.0.0.67", "a")


# -- the API ------------------------------------------------------------------------------------
def register(world: World, kind: str = "gate_tablet", place_id: str | None = None,
             who: Staff | None = None) -> dict[str, object]:
    body = {"name": "东门平板", "kind": kind,
            "place_id": world.gate_id if place_id is None and kind == "gate_tablet" else place_id}
    r = world.client.post("/v1/devices", json=body, headers=(who or world.admin).h(**key()))
    assert r.status_code == 201, r.text
    return dict(r.json())


def pair(client: TestClient, code: object) -> dict[str, object]:
    r = client.post("/v1/devices/pair", json={"code": code})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_an_admin_registers_a_device_and_the_device_pairs_without_a_token(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    registered = register(world)
    assert registered["kind"] == "gate_tablet" and registered["place_label"] == "东门"
    assert len(str(registered["code"])) == 9 and registered["expires_in"] == 600
    paired = pair(client, registered["code"])
    assert paired["device_id"] == registered["device_id"] and str(paired["token"]).startswith("hov_")
    r = client.get("/v1/device", headers=auth(str(paired["token"])))
    assert r.status_code == 200 and r.json()["place_id"] == world.gate_id, r.text
    assert client.get("/v1/device", headers=world.guard.h()).status_code == 404


def test_an_admin_lists_devices_without_their_codes_or_tokens(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    registered = register(world)
    paired = pair(client, registered["code"])
    r = client.get("/v1/devices", headers=world.admin.h())
    assert r.status_code == 200, r.text
    [listed] = r.json()["devices"]
    assert listed["status"] == "paired" and listed["paired_at"] == MORNING.isoformat()
    assert str(registered["code"]) not in r.text and str(paired["token"]) not in r.text
    assert client.get("/v1/devices", headers=world.guard.h()).status_code == 403
    assert client.get("/v1/devices").status_code == 401


def test_a_new_code_replaces_the_old_one_and_revoking_stops_the_token_at_once(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    registered = register(world)
    device_id = registered["device_id"]
    r = client.post(f"/v1/devices/{device_id}/codes", headers=world.admin.h(**key()))
    assert r.status_code == 201, r.text
    old = client.post("/v1/devices/pair", json={"code": registered["code"]})
    assert old.status_code == 409 and old.json()["type"].endswith("/pairing-code-used")
    paired = pair(client, r.json()["code"])
    tablet = auth(str(paired["token"]))
    assert client.get("/v1/afternoon", headers=tablet).status_code == 200
    r = client.post(f"/v1/devices/{device_id}/revoke", headers=world.admin.h(**key()))
    assert r.status_code == 200 and r.json()["status"] == "revoked", r.text
    refused = client.get("/v1/afternoon", headers=tablet)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    again = client.post(f"/v1/devices/{device_id}/revoke", headers=world.admin.h(**key()))
    assert again.status_code == 409
    reissued = client.post(f"/v1/devices/{device_id}/codes", headers=world.admin.h(**key()))
    assert reissued.status_code == 409 and reissued.json()["type"].endswith("/device-revoked")


def test_a_code_out_when_its_device_is_revoked_no_longer_pairs(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    registered = register(world)
    r = client.post(f"/v1/devices/{registered['device_id']}/revoke", headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text
    refused = client.post("/v1/devices/pair", json={"code": registered["code"]})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/device-revoked")


def test_a_used_expired_or_unknown_code_is_refused_as_a_problem(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    used = register(world)
    pair(client, used["code"])
    late = register(world)
    clock.advance(minutes=11)
    for code, status, kind in ((used["code"], 409, "pairing-code-used"),
                               (late["code"], 409, "pairing-code-expired"),
                               ("ZZZZ-ZZZZ", 422, "pairing-code-unknown"),
                               ("not a code", 422, "pairing-code-unknown")):
        r = client.post("/v1/devices/pair", json={"code": code})
        assert r.status_code == status and r.json()["type"].endswith(kind), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/v1/devices/pair", json={}).status_code == 422  # not a try: no code
    assert client.post("/v1/devices/pair", json={"code": "ZZZZ-ZZZ2"}).status_code == 422
    r = client.post("/v1/devices/pair", json={"code": "ZZZZ-ZZZ3"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0, r.text
    assert r.json()["type"].endswith("/pairing-tries-exceeded")


def signed_on_at(world: World, tablet: Staff) -> None:
    """The school's guard, given a PIN, signs on at the tablet's gate with it."""
    r = world.client.put(f"/v1/staff/{world.guard.staff_id}/pin", json={"pin": "2580"},
                         headers=world.admin.h(**key()))
    assert r.status_code == 200, r.text
    r = world.post(tablet, "/v1/gate/guards/sign-on", {"staff_id": world.guard.staff_id, "pin": "2580"})
    assert r.status_code == 201, r.text


def test_a_gate_tablet_works_its_own_gate_but_cannot_do_admin_things_or_act_at_another_gate(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    paired = pair(client, register(world)["code"])
    tablet = Staff(str(paired["device_id"]), str(paired["token"]))
    r = client.post("/v1/staff", json={"name": "新管理员", "roles": ["admin"]}, headers=tablet.h(**key()))
    assert r.status_code == 403, r.text
    assert client.post("/v1/devices", json={"name": "x", "kind": "duty_board"},
                       headers=tablet.h(**key())).status_code == 403
    assert client.put(f"/v1/staff/{tablet.staff_id}/roles", json={"roles": ["admin"]},
                      headers=tablet.h(**key())).status_code == 403
    south = client.post("/v1/school/gates", json={"name": "南门"}, headers=world.admin.h(**key()))
    ids = [world.pupil(0)]
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/handovers", {"pupil_ids": ids, "count": 1,
                   "to_staff_id": tablet.staff_id, "place_id": world.gate_id})
    assert r.status_code == 422, r.text  # custody is a named adult's, never a tablet's
    assert [e["field"] for e in r.json()["errors"]] == ["to_staff_id"]
    body = {"pupil_ids": ids, "gate_id": south.json()["gate_id"],
            "collector_id": world.guardian(0)["guardian_id"], "identity_check": "known_to_staff"}
    elsewhere = world.post(tablet, "/v1/releases", body)
    assert elsewhere.status_code == 403, elsewhere.text
    refusal = {"pupil_id": ids[0], "adult": {"name": "陌生人"}, "reason": "不在接送名单"}
    elsewhere = world.post(tablet, "/v1/refusals", {**refusal, "gate_id": south.json()["gate_id"]})
    assert elsewhere.status_code == 403, elsewhere.text
    anonymous = world.post(tablet, "/v1/refusals", {**refusal, "gate_id": world.gate_id})
    assert anonymous.status_code == 422, anonymous.text  # no guard signed on at the tablet
    assert anonymous.json()["type"].endswith("/guard-not-signed-on")
    signed_on_at(world, tablet)
    refused = world.post(tablet, "/v1/refusals", {**refusal, "gate_id": world.gate_id},
                         **{"X-Guard-Id": world.guard.staff_id})
    assert refused.status_code == 200, refused.text
    [recorded] = [n for n in app.recorder.select_notifications(start=1, limit=10_000)
                  if n.topic.endswith("PupilDay.ReleaseRefused")]
    by = app.mapper.to_domain_event(recorded).by  # type: ignore[attr-defined]
    assert (by["staff_id"], by["device"], by["place"]) == (world.guard.staff_id, tablet.staff_id,
                                                           world.gate_id)


def test_another_schools_admin_neither_sees_nor_revokes_nor_reissues_a_device(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    registered = register(world)
    other = a_school(client, app, 1, name="第二小学")
    assert client.get("/v1/devices", headers=other.admin.h()).json()["devices"] == []
    device_id = registered["device_id"]
    for path in (f"/v1/devices/{device_id}/revoke", f"/v1/devices/{device_id}/codes"):
        r = client.post(path, headers=other.admin.h(**key()))
        assert r.status_code == 404, r.text
    r = client.post("/v1/devices", json={"name": "x", "kind": "gate_tablet", "place_id": world.gate_id},
                    headers=other.admin.h(**key()))
    assert r.status_code == 422, r.text  # not one of its own gates
    assert pair(client, registered["code"])["status"] == "paired"


def test_a_teacher_adding_a_device_is_forbidden(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    member = add_staff(client, world.admin, "新老师", ["teacher"])
    r = client.post("/v1/devices", json={"name": "平板", "kind": "classroom_tablet",
                                         "place_id": world.group_id}, headers=member.h(**key()))
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/x+json",
                                          "APPLICATION/JSON; charset=UTF-8", "application/vnd.a+json"])
def test_a_gate_tablet_cannot_act_at_another_gate_whatever_the_content_type_is_spelt(
        client: TestClient, app: HandoverApp, content_type: str) -> None:
    world = a_school(client, app, 1)
    paired = pair(client, register(world)["code"])
    tablet = Staff(str(paired["device_id"]), str(paired["token"]))
    south = client.post("/v1/school/gates", json={"name": "南门"}, headers=world.admin.h(**key()))
    elsewhere = south.json()["gate_id"]
    adult = {"name": "陌生人", "relation": "邻居"}
    commands = {
        "/v1/refusals": {"pupil_id": world.pupil(0), "adult": adult, "reason": "不在接送名单",
                         "gate_id": elsewhere},
        "/v1/releases": {"pupil_ids": [world.pupil(0)], "gate_id": elsewhere,
                         "collector_id": world.guardian(0)["guardian_id"],
                         "identity_check": "known_to_staff"},
        "/v1/handovers": {"pupil_ids": [world.pupil(0)], "count": 1,
                          "to_staff_id": world.guard.staff_id, "place_id": elsewhere},
    }
    for path, body in commands.items():
        r = client.post(path, content=json.dumps(body),
                        headers=tablet.h(**key(), **{"Content-Type": content_type}))
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # The same spelling is parsed as JSON: at its own gate the tablet's refusal is recorded.
    signed_on_at(world, tablet)
    at_home = {**commands["/v1/refusals"], "gate_id": world.gate_id}
    r = client.post("/v1/refusals", content=json.dumps(at_home),
                    headers=tablet.h(**key(), **{"Content-Type": content_type,
                                                 "X-Guard-Id": world.guard.staff_id}))
    assert r.status_code == 200, r.text


def test_a_duty_board_reads_the_roster_alerts_and_stream_only_not_all_an_inspector_reads(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    paired = pair(client, register(world, "duty_board")["code"])
    board = Staff(str(paired["device_id"]), str(paired["token"]))
    for path in ("/v1/roster", "/v1/alerts", "/v1/me", "/v1/device", "/v1/school"):
        r = client.get(path, headers=board.h())
        assert r.status_code == 200, (path, r.text)
    r = client.post("/v1/stream/tickets", headers=board.h())
    assert r.status_code == 201, r.text
    assert isinstance(app.redeem_stream_ticket(r.json()["ticket"]), DeviceIdentity)
    pupil, staff = world.pupil(0), world.teacher.staff_id
    for path in ("/v1/access-log", "/v1/incidents", "/v1/statements/pupils",
                 f"/v1/statements/pupils/{pupil}", "/v1/statements/staff",
                 f"/v1/statements/staff/{staff}", "/v1/pupils", f"/v1/pupils/{pupil}",
                 f"/v1/pupils/{pupil}/afternoon", "/v1/afternoon", "/v1/care-log", "/v1/staff",
                 "/v1/shifts", "/v1/school/schedule", "/v1/school/alert-policy"):
        assert client.get(path, headers=world.inspector.h()).status_code != 403, path
        r = client.get(path, headers=board.h())
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/v1/devices", headers=world.admin.h()).json()["devices"]
    assert [d["role"] for d in listed] == ["inspector"]  # the role's stored value is unchanged


def test_pupils_are_handed_to_a_person_who_takes_custody_never_to_a_device_or_an_inspector(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    board = pair(client, register(world, "duty_board")["code"])
    handed_to_teacher(world)
    offer = {"pupil_ids": [world.pupil(0)], "count": 1, "place_id": world.gate_id}
    for receiver in (world.inspector.staff_id, str(board["device_id"])):
        for extra in ({}, {"to_session": "evening_study", "place_id": world.group_id}):
            r = world.post(world.teacher, "/v1/handovers", {**offer, **extra, "to_staff_id": receiver})
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in r.json()["errors"]] == ["to_staff_id"], r.text
    assert world.state(0)["custodian"]["staff_id"] == world.teacher.staff_id  # nothing offered
    r = world.post(world.teacher, "/v1/handovers", {**offer, "to_staff_id": world.guard.staff_id})
    assert r.status_code == 201, r.text


def test_parallel_wrong_codes_from_one_client_get_no_more_tries_than_one_after_another(
        app: HandoverApp, clock: FixedClock) -> None:
    admin_of(app)
    guesses = [f"AAAA-AA{a}{b}" for a in CODE_ALPHABET[:4] for b in CODE_ALPHABET[:4]]
    start = threading.Barrier(len(guesses))

    def guess(code: str) -> str:
        start.wait()
        try:
            app.pair_device(code, "10.0.0.99")
        except (PairingCodeUnknownError, TooManyPairingTriesError) as refused:
            return refused.code
        return "paired"

    with ThreadPoolExecutor(len(guesses)) as pool:
        answers = list(pool.map(guess, guesses))
    assert answers.count("pairing-code-unknown") == PAIRING_TRIES, answers
    assert answers.count("pairing-tries-exceeded") == len(guesses) - PAIRING_TRIES
    failed = [e for e in app.recorder.select_notifications(start=1, limit=1000)
              if e.topic.endswith("PairingTries.Failed")]
    assert len(failed) == PAIRING_TRIES
    assert app.pairing_locks._locks == {}  # nothing kept once the tries are done


def test_serve_believes_forwarded_addresses_only_from_the_proxies_configured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from uvicorn.config import Config

    from service.cli import serve
    from service.settings import Settings

    def client_seen(allowed: str) -> object:
        ran: dict[str, Any] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(kw))
        serve(Settings(store="memory", forwarded_allow_ips=allowed) if allowed else Settings(store="memory"))
        seen: list[object] = []

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["client"])

        config = Config(inner, proxy_headers=ran["proxy_headers"],
                        forwarded_allow_ips=ran["forwarded_allow_ips"])
        config.load()
        scope = {"type": "http", "client": ("127.0.0.1", 5000), "scheme": "http",
                 "headers": [(b"x-forwarded-for", b"6.6.6.6")]}
        asyncio.run(config.loaded_app(scope, None, None))
        return seen[0]

    monkeypatch.delenv("HANDOVER_FORWARDED_ALLOW_IPS", raising=False)
    assert client_seen("") == ("127.0.0.1", 5000)  # uvicorn's default would say 6.6.6.6
    assert client_seen("10.0.0.2") == ("127.0.0.1", 5000)
    assert client_seen("10.0.0.2, 127.0.0.1")[0] == "6.6.6.6"  # type: ignore[index]
