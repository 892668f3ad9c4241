"""DESIGN §3.6 Evidence over HTTP: checkpoints, keys, rotation, export and proofs, for admins and
inspectors only; the chain's failure never holds a write back and shows in /health."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.cli import main
from service.domain.evidence import (
    CHECKPOINT_AFTER,
    CHECKPOINT_EVERY,
    KeyRotation,
    PublicKey,
    verify_export,
    verify_proof,
)
from service.projections.evidence import Chain
from service.projections.views import Views
from service.reports.evidence import export_lines
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import World, a_school, add_staff, key
from tests.test_outage import eventually


def views_of(world: World) -> Views:
    views: Views = world.client.app.state.views  # type: ignore[attr-defined]
    return views


def signed_to_head(world: World, app: HandoverApp) -> Views:
    views = views_of(world)
    views.reflect("evidence", app.recorder.max_notification_id())
    views.evidence.sign_due(app.clock.now(), force=True)
    return views


@pytest.mark.parametrize("path", ["/v1/evidence/checkpoints", "/v1/evidence/keys",
                                  "/v1/evidence/export", "/v1/evidence/proof?position=1"])
def test_only_admins_and_inspectors_read_the_evidence(client: TestClient, app: HandoverApp, path: str) -> None:
    world = a_school(client, app, 1)
    signed_to_head(world, app)
    for who in (world.guard, world.teacher, world.homeroom):
        r = client.get(path, headers=who.h())
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(path).status_code == 401
    for who in (world.admin, world.inspector):
        assert client.get(path, headers=who.h()).status_code in (200, 404)


def test_checkpoints_are_paged_and_name_the_chains_head(client: TestClient, app: HandoverApp,
                                                       clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    views = views_of(world)
    for i in range(70):  # a few events each: a member of staff, their token, the command
        add_staff(client, world.admin, f"老师{i}", ["teacher"])
    views.reflect("evidence", app.recorder.max_notification_id())
    events = views.evidence.head(world.school_id)["seq"]  # type: ignore[index]
    assert events > 2 * CHECKPOINT_EVERY and events % CHECKPOINT_EVERY
    made = views.evidence.sign_due(clock.now())
    every = list(range(CHECKPOINT_EVERY, events + 1, CHECKPOINT_EVERY))
    assert [c.seq for c in made if c.school_id == world.school_id] == every
    mine = world.school_id
    clock.advance(seconds=CHECKPOINT_AFTER - 1)
    assert [c for c in views.evidence.sign_due(clock.now()) if c.school_id == mine] == []
    clock.advance(seconds=1)  # the tail after the last hundred has waited five minutes
    [tail] = [c for c in views.evidence.sign_due(clock.now()) if c.school_id == mine]
    assert tail.seq == events
    clock.advance(seconds=CHECKPOINT_AFTER)
    assert views.evidence.sign_due(clock.now()) == []  # nothing unsigned: nothing due
    add_staff(client, world.admin, "新老师", ["teacher"])
    views.reflect("evidence", app.recorder.max_notification_id())
    assert views.evidence.sign_due(clock.now()) == []  # the first look notes the unsigned event
    clock.advance(seconds=CHECKPOINT_AFTER)
    [late] = [c for c in views.evidence.sign_due(clock.now()) if c.school_id == mine]

    r = client.get("/v1/evidence/checkpoints", params={"limit": 2}, headers=world.inspector.h())
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["seq"] for c in body["checkpoints"]] == every[:2]
    assert body["next_after_seq"] == every[1]
    assert body["chain"]["events"] == late.seq and body["chain"]["link"] == late.link
    r = client.get("/v1/evidence/checkpoints", params={"after_seq": body["next_after_seq"]},
                   headers=world.inspector.h())
    assert [c["seq"] for c in r.json()["checkpoints"]] == [*every[2:], tail.seq, late.seq]
    assert r.json()["next_after_seq"] is None


def test_an_admin_rotates_the_key_and_the_old_one_stays_published_with_its_validity(
        client: TestClient, app: HandoverApp, clock: FixedClock, settings: Settings) -> None:
    world = a_school(client, app, 1)
    views = signed_to_head(world, app)
    r = client.post("/v1/evidence/keys/rotate", headers=world.inspector.h(**key()))
    assert r.status_code == 403
    clock.advance(hours=1)

    r = client.post("/v1/evidence/keys/rotate", headers=world.admin.h(**key()))

    assert r.status_code == 201, r.text
    new = r.json()
    [old, current] = client.get("/v1/evidence/keys", headers=world.inspector.h()).json()["keys"]
    assert current == new and old["valid_until"] == new["valid_from"] == clock.now().isoformat()
    add_staff(client, world.admin, "新老师", ["teacher"])
    signed_to_head(world, app)
    [first, second] = views.evidence.checkpoints(world.school_id)
    assert (first.key_id, second.key_id) == (old["key_id"], new["key_id"])
    files = sorted((settings.signing_keys_dir / world.school_id).iterdir())
    assert [f.stem for f in files] == sorted([old["key_id"], new["key_id"]])
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert b"ENCRYPTED PRIVATE KEY" in f.read_bytes()  # with the store's cipher key
    stored = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=100_000))
    assert b"PRIVATE KEY" not in stored


def test_a_repeated_rotation_answers_the_first_and_the_log_records_who_rotated_when(
        client: TestClient, app: HandoverApp, clock: FixedClock, settings: Settings) -> None:
    world = a_school(client, app, 1)
    signed_to_head(world, app)
    clock.advance(hours=1)
    headers = world.admin.h(**key())

    first = client.post("/v1/evidence/keys/rotate", headers=headers)
    clock.advance(minutes=2)
    again = client.post("/v1/evidence/keys/rotate", headers=headers)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    rotated_at = (clock.now() - timedelta(minutes=2)).isoformat()
    assert first.json()["rotated"]["staff_id"] == world.admin.staff_id
    assert first.json()["rotated"]["at"] == rotated_at
    [old, current] = client.get("/v1/evidence/keys", headers=world.inspector.h()).json()["keys"]
    assert old["rotated"] is None and current == first.json()
    assert old["valid_until"] == current["valid_from"] == rotated_at
    assert len(list((settings.signing_keys_dir / world.school_id).iterdir())) == 2

    position = int(first.headers["X-Log-Position"])
    [n] = app.recorder.select_notifications(start=position, limit=1)
    assert n.topic.endswith("KeyRotation.Rotated")
    event = app.mapper.to_domain_event(n)
    assert isinstance(event, KeyRotation.Rotated)
    assert (event.school_id, event.key_id, event.public_key) == (
        world.school_id, current["key_id"], current["public_key"])
    assert event.by["staff_id"] == world.admin.staff_id and event.by["at"] == rotated_at
    assert b"PRIVATE KEY" not in n.state and "private" not in json.dumps(event.__dict__, default=str)
    views_of(world).reflect("evidence", position)
    assert views_of(world).evidence.school_known(str(n.originator_id)) == world.school_id

    found = client.get("/v1/evidence/search", params={"type": "KeyRotation", "staff": world.admin.staff_id},
                       headers=world.inspector.h())
    assert found.status_code == 200, found.text
    assert [h["position"] for h in found.json()["hits"]] == [position]

    other = client.post("/v1/evidence/keys/rotate", headers=world.admin.h(**key()))
    assert other.status_code == 201 and other.json()["key_id"] != current["key_id"]
    assert len(client.get("/v1/evidence/keys", headers=world.inspector.h()).json()["keys"]) == 3


def test_a_proof_ties_a_pupils_event_to_the_next_signed_checkpoint(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 2)
    views = signed_to_head(world, app)
    position = int(views.evidence.entry(world.school_id, 10)["p"])  # type: ignore[index]

    r = client.get("/v1/evidence/proof", params={"position": position}, headers=world.inspector.h())

    assert r.status_code == 200, r.text
    proof = r.json()
    keys = {k["key_id"]: PublicKey.from_json(k)
            for k in client.get("/v1/evidence/keys", headers=world.inspector.h()).json()["keys"]}
    assert proof["seq"] == 10 and verify_proof(proof, keys) is None
    assert all(set(step) == {"seq", "position", "digest"} for step in proof["path"])


def test_a_proof_of_another_schools_event_is_not_found(client: TestClient, app: HandoverApp) -> None:
    mine = a_school(client, app, 1)
    theirs = a_school(client, app, 1, name="城北小学")
    views = signed_to_head(mine, app)
    position = int(views.evidence.entry(theirs.school_id, 1)["p"])  # type: ignore[index]
    r = client.get("/v1/evidence/proof", params={"position": position}, headers=mine.inspector.h())
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.get("/v1/evidence/export", headers=mine.inspector.h())
    assert theirs.school_id not in r.text


def test_a_failing_chain_never_holds_a_write_back_and_shows_in_health(
        client: TestClient, app: HandoverApp, monkeypatch: pytest.MonkeyPatch) -> None:
    world = a_school(client, app, 1)
    views = views_of(world)
    original = Chain.apply_recorded

    def broken(self: Chain, notification: Any, event: Any, batch: Any) -> None:
        raise RuntimeError("the chain cannot be written")

    monkeypatch.setattr(Chain, "apply_recorded", broken)
    added = add_staff(client, world.admin, "新老师", ["teacher"])  # the write succeeds

    assert client.get("/v1/staff", headers=world.admin.h()).status_code == 200
    health, _ = eventually(lambda: (r := client.get("/health")).status_code == 503 and r.json())
    assert health["failing"] == ["views.evidence"]
    assert "the chain cannot be written" in health["views"]["evidence"]["failure"]["cause"]
    assert health["checkpointer"]["running"] is True
    monkeypatch.setattr(Chain, "apply_recorded", original)
    views.reflect("evidence", app.recorder.max_notification_id(), timeout=15)
    assert client.get("/health").status_code == 200 and added.staff_id


def test_an_inspectors_own_verifier_written_from_the_format_document_agrees(
        client: TestClient, app: HandoverApp) -> None:
    """docs/evidence-export.md, followed by hand with hashlib, struct and an Ed25519 library."""
    world = a_school(client, app, 2)
    signed_to_head(world, app)
    lines = [json.loads(line) for line in
             client.get("/v1/evidence/export", headers=world.inspector.h()).text.splitlines()]
    [key] = [line for line in lines if line["kind"] == "key"]
    checkpoints = {c["seq"]: c for c in lines if c["kind"] == "checkpoint"}
    link = hashlib.sha256(b"handover-evidence/1\x00" + world.school_id.encode()).digest()
    for line in (e for e in lines if e["kind"] == "event"):
        oid, topic = line["originator_id"].encode(), line["topic"].encode()
        digest = hashlib.sha256(struct.pack(">QI", line["position"], len(oid)) + oid
                                + struct.pack(">QI", line["originator_version"], len(topic)) + topic
                                + hashlib.sha256(base64.b64decode(line["state"])).digest()).digest()
        link = hashlib.sha256(link + digest).digest()
        assert link.hex() == line["link"]
        if line["seq"] in checkpoints:
            c = checkpoints.pop(line["seq"])
            assert c["link"] == link.hex() and c["position"] == line["position"]
            payload = json.dumps({"format": "handover-checkpoint/1", **{k: c[k] for k in (
                "school_id", "seq", "position", "link", "at", "key_id")}}, sort_keys=True,
                separators=(",", ":")).encode()
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
            public.verify(base64.b64decode(c["signature"]), payload)  # raises if it does not hold
            assert hashlib.sha256(base64.b64decode(key["public_key"])).hexdigest()[:16] == c["key_id"]
    assert checkpoints == {}


def test_verify_without_an_export_or_with_one_that_is_not_is_bad_usage(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 2
    (tmp_path / "not.jsonl").write_text('{"kind": "event"}\n')
    (tmp_path / "keys.json").write_text('{"keys": []}')
    assert main(["verify", str(tmp_path / "not.jsonl"), "--key", str(tmp_path / "keys.json")]) == 2
    assert "cannot be read as an evidence export" in capsys.readouterr().err


def test_a_lost_signing_key_stops_signing_until_an_admin_rotates_and_old_checkpoints_still_verify(
        client: TestClient, app: HandoverApp, clock: FixedClock, settings: Settings) -> None:
    world = a_school(client, app, 1)
    views = signed_to_head(world, app)
    checkpointer = client.app.state.checkpointer  # type: ignore[attr-defined]
    for f in (settings.signing_keys_dir / world.school_id).iterdir():
        f.unlink()  # the data directory was restored without its keys
    add_staff(client, world.admin, "新老师", ["teacher"])
    views.reflect("evidence", app.recorder.max_notification_id())

    with pytest.raises(FileNotFoundError):
        checkpointer.run_once(force=True)
    clock.advance(minutes=1)
    assert client.post("/v1/evidence/keys/rotate", headers=world.admin.h(**key())).status_code == 201
    checkpointer.run_once(force=True)

    keys = client.get("/v1/evidence/keys", headers=world.inspector.h())
    (Path(settings.data_dir) / "keys.json").write_text(keys.text)
    export = client.get("/v1/evidence/export", headers=world.inspector.h())
    (Path(settings.data_dir) / "export.jsonl").write_bytes(export.content)
    assert main(["verify", str(Path(settings.data_dir) / "export.jsonl"),
                 "--key", str(Path(settings.data_dir) / "keys.json")]) == 0
    assert len(views.evidence.checkpoints(world.school_id)) == 2


def test_a_clock_set_back_never_signs_outside_the_keys_validity(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    views = signed_to_head(world, app)
    clock.advance(hours=-2)
    add_staff(client, world.admin, "新老师", ["teacher"])
    signed_to_head(world, app)
    assert client.post("/v1/evidence/keys/rotate", headers=world.admin.h(**key())).status_code == 201
    keys = {k.key_id: k for k in views.evidence.keys(world.school_id)}
    for checkpoint in views.evidence.checkpoints(world.school_id):
        assert keys[checkpoint.key_id].valid_at(checkpoint.at), checkpoint


def test_checkpoints_saved_from_the_api_are_checked_beside_the_exports_own(
        client: TestClient, app: HandoverApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = a_school(client, app, 1)
    signed_to_head(world, app)
    saved = client.get("/v1/evidence/checkpoints", headers=world.inspector.h())
    (tmp_path / "kept.json").write_text(saved.text)
    (tmp_path / "keys.json").write_text(client.get("/v1/evidence/keys", headers=world.inspector.h()).text)
    add_staff(client, world.admin, "新老师", ["teacher"])
    signed_to_head(world, app)
    lines = client.get("/v1/evidence/export", headers=world.inspector.h()).text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if '"kind":"checkpoint"' in line)
    del lines[first]  # the export no longer lists the checkpoint the inspector kept
    (tmp_path / "export.jsonl").write_text("".join(lines))
    command = ["verify", str(tmp_path / "export.jsonl"), "--key", str(tmp_path / "keys.json")]
    capsys.readouterr()

    assert main(command) == 0
    assert " 1 signed checkpoints verified" in capsys.readouterr().out
    assert main([*command, "--checkpoints", str(tmp_path / "kept.json")]) == 0
    assert " 2 signed checkpoints verified" in capsys.readouterr().out


def test_a_store_kept_unencrypted_is_exported_with_the_hashes_of_its_states_only(
        tmp_path: Path, clock: FixedClock) -> None:
    settings = Settings(store="memory", data_dir=tmp_path)
    plain = {k: v for k, v in settings.eventsourcing_env().items() if "CIPHER" not in k}
    app = HandoverApp(env=plain, clock=clock)
    try:
        school_id = app.init_school("城南小学", "Asia/Shanghai", "陈主任")["school_id"]
        views = Views(app, settings)
        views.catch_up()
        views.evidence.sign_due(clock.now(), force=True)
        lines = list(export_lines(app, views.evidence, school_id, clock.now()))
        events = [json.loads(line) for line in lines if '"kind":"event"' in line]
        assert events and all("state" not in e and len(e["state_sha256"]) == 64 for e in events)
        assert "城南小学" not in "".join(lines) and "陈主任" not in "".join(lines)
        assert verify_export(lines, keys=views.evidence.all_keys()).ok
    finally:
        app.close()
