"""DESIGN §3.6 and §3.7 for inspectors: the audit trail searched, a pupil's evidence pack (JSON with
proofs that verify against the public keys, and a PDF), the live store's verification, and the
access record paged; admins and inspectors only, every read of a pupil logged; on each durable
store, a pack made over a row altered in SQL fails the proofs that pass through it."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from service.application import HandoverApp
from service.domain.evidence import verify_proof
from service.domain.privacy import Data
from service.projections.views import Views
from service.reports.evidence import verify_live
from service.reports.evidence_pack import evidence_pack, trusted_of
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import SESSION_DAY, World, a_school, handed_to_teacher, walked_to_gate
from tests.stores import every_durable_store
from tests.test_evidence_api import signed_to_head
from tests.test_evidence_stores import Rows


def an_afternoon(client: TestClient, app: HandoverApp) -> World:
    """Three pupils handed over together, pupil 0 walked to the gate and released, and an
    incident naming pupils 0 and 1 whose description names pupil 1."""
    world = a_school(client, app, 3)
    handed_to_teacher(world)
    walked_to_gate(world, [0])
    r = world.post(world.guard, "/v1/releases", {
        "pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
        "collector_id": world.guardian(0)["guardian_id"], "identity_check": "known_to_staff"})
    assert r.status_code == 200, r.text
    r = world.post(world.teacher, "/v1/incidents", {
        "kind": "injury", "severity": "minor", "description": "学生0与学生1追跑时相撞",
        "pupil_ids": [world.pupil(0), world.pupil(1)], "place_id": world.group_id, "where": "操场东侧",
        "witnesses": ["学生2"], "first_aid": "冰敷"})
    assert r.status_code == 201, r.text
    return world


def reads_logged(world: World, what: str) -> list[dict[str, Any]]:
    r = world.client.get("/v1/access-log", headers=world.admin.h())
    assert r.status_code == 200, r.text
    return [x for x in r.json()["reads"] if x["what"] == what]


@pytest.mark.parametrize("path", ["/v1/evidence/search", "/v1/evidence/verification",
                                  "/v1/evidence/pupils/{pupil}/pack",
                                  "/v1/evidence/pupils/{pupil}/pack?format=pdf"])
def test_only_admins_and_inspectors_search_verify_and_take_packs(
        client: TestClient, app: HandoverApp, path: str) -> None:
    world = a_school(client, app, 1)
    path = path.replace("{pupil}", world.pupil(0))
    for who in (world.guard, world.teacher, world.homeroom):
        r = client.get(path, headers=who.h())
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(path).status_code == 401
    for who in (world.admin, world.inspector):
        assert client.get(path, headers=who.h()).status_code == 200


def test_the_trail_is_searched_by_pupil_staff_type_device_and_time_with_each_hits_place_in_the_log(
        client: TestClient, app: HandoverApp) -> None:
    world = an_afternoon(client, app)
    h = world.inspector.h()
    r = client.get("/v1/evidence/search", params={"pupil": world.pupil(0), "type": "PupilDay"}, headers=h)
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert [x["what"] for x in hits] == ["opened", "offered", "custody_taken", "offered", "custody_taken",
                                        "released"]
    assert all(x["subject"]["pupil_ids"] == [world.pupil(0)] for x in hits)
    positions = [x["position"] for x in hits]
    assert positions == sorted(positions) and all(p > 0 for p in positions)
    released = hits[-1]
    assert released["who"]["staff_id"] == world.guard.staff_id and released["at"]
    assert released["facts"]["adult"]["phone"] is None  # contact data is not the trail's to show
    by_guard = client.get("/v1/evidence/search", params={"staff": world.guard.staff_id}, headers=h).json()
    assert by_guard["hits"] and all(x["who"]["staff_id"] == world.guard.staff_id for x in by_guard["hits"])
    exact = client.get("/v1/evidence/search", params={"type": "PupilDay.Released"}, headers=h).json()
    assert [x["position"] for x in exact["hits"]] == [released["position"]]
    incident = client.get("/v1/evidence/search", params={"pupil": world.pupil(1), "type": "Incident"},
                          headers=h).json()["hits"]
    assert [x["event"] for x in incident] == ["Incident.Reported"]
    assert client.get("/v1/evidence/search", params={"device": "no-such-tablet"}, headers=h).json()["hits"] == []
    later = client.get("/v1/evidence/search", params={"from": "2100-01-01T00:00"}, headers=h).json()
    assert later["hits"] == [] and later["next_after"] is None
    paged = client.get("/v1/evidence/search", params={"pupil": world.pupil(0), "limit": 2}, headers=h).json()
    assert len(paged["hits"]) == 2 and paged["next_after"] == paged["hits"][-1]["position"]
    rest = client.get("/v1/evidence/search", params={"pupil": world.pupil(0), "after": paged["next_after"]},
                      headers=h).json()["hits"]
    assert rest and rest[0]["position"] > paged["next_after"]
    read = reads_logged(world, "audit_search")
    assert read and all(x["staff_id"] == world.inspector.staff_id for x in read)
    assert world.pupil(0) in {p for x in read for p in x["pupil_ids"]}


def test_a_pupils_search_over_today_finds_leave_recorded_today_for_a_later_day_and_no_other_pupils_chain(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": True,
                                                     "reason": "病假", "day": "2026-11-26"})
    assert r.status_code == 200, r.text
    handed_to_teacher(world)
    hits = client.get("/v1/evidence/search", params={
        "pupil": world.pupil(0), "type": "PupilDay", "from": f"{SESSION_DAY}T00:00",
        "to": f"{SESSION_DAY}T23:59"}, headers=world.inspector.h()).json()["hits"]
    assert [x["what"] for x in hits] == ["opened", "absent", "opened", "offered", "custody_taken"]
    assert {x["facts"].get("day") for x in hits if x["what"] == "opened"} == {"2026-11-26", SESSION_DAY}
    assert all(x["subject"]["pupil_ids"] == [world.pupil(0)] for x in hits)


def test_a_search_with_a_range_backwards_or_a_bad_type_is_bad_input(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    for params in ({"from": "2026-11-23T18:00", "to": "2026-11-23T17:00"}, {"type": "1; drop"},
                   {"limit": "0"}, {"from": "yesterday"}):
        r = client.get("/v1/evidence/search", params=params, headers=world.inspector.h())
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_a_pupils_pack_holds_the_chain_incidents_and_proofs_that_verify_with_the_keys_alone(
        client: TestClient, app: HandoverApp) -> None:
    world = an_afternoon(client, app)
    signed_to_head(world, app)
    r = client.get(f"/v1/evidence/pupils/{world.pupil(0)}/pack",
                   params={"from": SESSION_DAY, "to": SESSION_DAY}, headers=world.inspector.h())
    assert r.status_code == 200, r.text
    pack = r.json()
    assert pack["pupil"]["name"] == "学生0"
    assert [e["what"] for e in pack["custody"]] == ["opened", "offered", "custody_taken", "offered",
                                                    "custody_taken", "released"]
    [incident] = pack["incidents"]
    assert incident["description"] == "学生0与（其他学生）追跑时相撞"
    assert incident["pupil_ids"] == [world.pupil(0), "redacted"]
    assert world.pupil(1) not in r.text and "学生1" not in r.text and "学生2" not in r.text
    assert pack["redacted_pupils"] == 1
    assert incident["events"][0]["facts"]["witnesses"] == ["（其他学生）"]
    events = [*pack["custody"], *incident["events"], *(e for a in pack["alerts"] for e in a["events"])]
    assert pack["proofs"] == {"verified": len(events), "pending": 0, "failed": 0}
    keys = trusted_of(pack)
    for e in events:
        assert verify_proof(e["proof"], keys) is None, e
        assert e["proof"]["position"] == e["position"]
    tampered = {**events[0]["proof"], "record": {**events[0]["proof"]["record"], "originator_version": 9}}
    assert verify_proof(tampered, keys) is not None
    assert reads_logged(world, "evidence_pack")[0]["pupil_ids"] == [world.pupil(0)]


def test_an_event_after_the_last_checkpoint_is_in_the_pack_without_a_proof_yet(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    signed_to_head(world, app)
    handed_to_teacher(world)
    pack = client.get(f"/v1/evidence/pupils/{world.pupil(0)}/pack", headers=world.inspector.h()).json()
    assert pack["custody"] and all(e["proof_status"] == "pending" and e["proof"] is None
                                   for e in pack["custody"])


def test_the_printed_pack_names_the_pupil_and_the_custody_entries_and_no_other_pupil(
        client: TestClient, app: HandoverApp) -> None:
    world = an_afternoon(client, app)
    signed_to_head(world, app)
    r = client.get(f"/v1/evidence/pupils/{world.pupil(0)}/pack", params={"format": "pdf"},
                   headers=world.inspector.h())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert "学生0" in text and "学生证据包" in text
    for label in ("交接", "接收", "放行", "刘保安", "张老师", "已验证", "受伤", "未结案", "报告事件",
                  "学生0：受伤，尚未联系上家长"):
        assert label in text, label
    assert "学生1" not in text and "学生2" not in text


def test_a_pack_of_more_than_a_month_or_of_another_schools_pupil_is_refused(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    other = a_school(client, app, 1, name="第二小学")
    h = world.inspector.h()
    r = client.get(f"/v1/evidence/pupils/{world.pupil(0)}/pack",
                   params={"from": "2026-10-01", "to": SESSION_DAY}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = client.get(f"/v1/evidence/pupils/{world.pupil(0)}/pack",
                   params={"from": SESSION_DAY, "to": "2026-11-01"}, headers=h)
    assert r.status_code == 422
    assert client.get(f"/v1/evidence/pupils/{other.pupil(0)}/pack", headers=h).status_code == 404


def test_the_live_store_verifies_against_its_checkpoints_with_the_last_one_and_its_key(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = an_afternoon(client, app)
    views = signed_to_head(world, app)
    r = client.get("/v1/evidence/verification", headers=world.inspector.h())
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["ok"] and status["first_fault"] is None and status["checkpoints_verified"] >= 1
    last = views.evidence.last_checkpoint(world.school_id)
    assert last is not None and status["last_checkpoint"]["seq"] == last.seq
    assert status["current_key"]["key_id"] == last.key_id
    assert status["events"] == views.evidence.head(world.school_id)["seq"]  # type: ignore[index]
    assert "OK" in status["report"][0]


def test_the_access_record_is_paged_and_searched_by_pupil_and_staff(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    for _ in range(3):
        for i in (0, 1):
            assert client.get(f"/v1/pupils/{world.pupil(i)}", headers=world.teacher.h()).status_code == 200
    h = world.inspector.h()
    mine = {"pupil": world.pupil(0), "staff": world.teacher.staff_id}
    first = client.get("/v1/access-log", params={**mine, "limit": 2}, headers=h).json()
    assert len(first["reads"]) == 2 and first["truncated"] and first["next_offset"] == 2
    rest = client.get("/v1/access-log", params={**mine, "offset": first["next_offset"]}, headers=h).json()
    assert len(rest["reads"]) == 1 and rest["next_offset"] is None
    assert all(x["pupil_ids"] == [world.pupil(0)] and x["staff_id"] == world.teacher.staff_id
               for x in first["reads"] + rest["reads"])


@every_durable_store
def test_a_packs_proofs_through_a_row_holding_another_pupils_state_fail_and_the_later_ones_hold(
        client: TestClient, app: HandoverApp, settings: Settings) -> None:
    world = an_afternoon(client, app)
    state: Any = client.app.state  # type: ignore[attr-defined]
    views: Views = state.views
    for part in (state.checkpointer, state.deliverer, state.watcher):
        part.stop()
    head = -1
    while head != app.recorder.max_notification_id():  # what the views' own reactions record, too
        app.access.flush()
        head = app.recorder.max_notification_id() or 0
        for name in views.runners:
            views.reflect(name, head, timeout=30)
    views.evidence.sign_due(app.clock.now(), force=True)
    views.stop()
    school = app.school(world.school_id, readonly=True)
    day = date.fromisoformat(SESSION_DAY)

    def pack_of(i: int) -> dict[str, Any]:
        return evidence_pack(app, views, school, world.pupil(i), day, day,
                             frozenset({Data.PROFILE, Data.CUSTODY}), app.clock.now())

    untouched = pack_of(1)
    assert untouched["proofs"]["failed"] == untouched["proofs"]["pending"] == 0
    taken = {i: next(e["position"] for e in pack_of(i)["custody"] if e["what"] == "custody_taken")
             for i in (0, 1)}
    rows = Rows(settings, app)
    rows.set_state(taken[1], rows.get(taken[0])[3])  # pupil 0's ciphertext decrypts fine in pupil 1's row
    for i in (0, 1):  # every proof that passes through the altered record fails; the later ones hold
        pack = pack_of(i)
        events = [*pack["custody"], *(e for x in pack["incidents"] for e in x["events"])]
        assert {e["position"] for e in events if e["proof_status"] == "failed"} == {
            e["position"] for e in events if e["position"] <= taken[1]}
        assert all(e["proof_status"] == "verified" for e in events if e["position"] > taken[1])
        assert any(e["position"] > taken[1] for e in events)
    [report] = verify_live(app, views.evidence, app.clock.now())
    assert report.first is not None and report.first.position == taken[1]
