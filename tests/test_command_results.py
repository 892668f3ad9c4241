"""Use cases answer domain results; the API alone turns them into HTTP; retries answer what was stored."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import Mapper
from pydantic import ValidationError

from service.api.deps import respond
from service.api.school import GateOut
from service.application import HandoverApp
from service.domain.common import Actor
from service.domain.idempotency import CommandRecord
from service.use_cases.clock import FixedClock
from service.use_cases.core import Outcome
from service.use_cases.results import Answer, Recorded, Refused, Rejected
from tests.conftest import MORNING, settings_for
from tests.refs import adult


def an_admin(tmp_path: Path) -> tuple[HandoverApp, Actor]:
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings_for("memory", tmp_path, None).eventsourcing_env(), clock=clock)
    created = app.init_school("第一小学", "Asia/Shanghai", "王校长")
    admin = Actor(school_id=created["school_id"], staff_id=created["admin_id"], staff_name="王校长",
                  role="admin", at=clock.now(), command_id="gate-1", fingerprint="request-a")
    return app, admin


def store_in_the_old_shape(app: HandoverApp, actor: Actor, status: int, body: object) -> None:
    """A command record as the previous release wrote it: an HTTP status and body."""
    assert actor.command_id is not None and actor.fingerprint is not None
    record = CommandRecord(school_id=actor.school_id, staff_id=actor.staff_id, key=actor.command_id,
                           fingerprint=actor.fingerprint, result={}, position_hint=None)
    [answered] = record.collect_events()
    plain: Mapper[UUID] = Mapper(transcoder=app.mapper.transcoder)  # the JSON, before compression and cipher
    stored = plain.to_stored_event(answered)
    state = app.mapper.transcoder.decode(stored.state)
    del state["result"], state["class_version"]
    state.update(status=status, body=body)
    data = app.mapper.transcoder.encode(state)
    if app.mapper.compressor is not None:
        data = app.mapper.compressor.compress(data)
    if app.mapper.cipher is not None:
        data = app.mapper.cipher.encrypt(data)
    app.recorder.insert_events([type(stored)(
        originator_id=stored.originator_id, originator_version=stored.originator_version,
        topic=stored.topic, state=data)])


def test_a_use_case_answers_a_domain_result_and_a_retry_the_same(tmp_path: Path) -> None:
    app, admin = an_admin(tmp_path)
    try:
        first = app.add_gate(admin, "东门")
        assert isinstance(first.result, Answer) and first.result.created
        again = app.add_gate(admin, "东门")
        assert again.replayed and again.result == first.result
    finally:
        app.close()


def test_a_record_written_in_the_old_shape_still_answers_its_retry(tmp_path: Path) -> None:
    app, admin = an_admin(tmp_path)
    try:
        store_in_the_old_shape(app, admin, 201, {"gate_id": "g-old", "name": "东门"})
        retried = app.add_gate(admin, "东门")
        assert retried.replayed and retried.result == Recorded(201, {"gate_id": "g-old", "name": "东门"})
        assert app.school(admin.school_id).gates == {}  # answered, not done again
        response = respond(retried, GateOut)
        assert response.status_code == 201
        assert json.loads(bytes(response.body)) == {"gate_id": "g-old", "name": "东门"}
    finally:
        app.close()


def test_an_old_refusal_record_still_answers_as_problem_json(tmp_path: Path) -> None:
    app, admin = an_admin(tmp_path)
    problem = {"type": "https://handover.invalid/problems/release-refused", "title": "Release refused and recorded",
               "status": 422, "detail": "x", "adult": {"name": "陌生人"}, "pupils": []}
    try:
        store_in_the_old_shape(app, replace(admin, command_id="release-1"), 422, problem)
        retried = app.add_gate(replace(admin, command_id="release-1"), "东门")
        response = respond(retried, GateOut)
        assert response.status_code == 422 and response.media_type == "application/problem+json"
        assert json.loads(bytes(response.body)) == problem
    finally:
        app.close()


def test_a_replayed_answer_that_no_longer_fits_todays_model_still_answers() -> None:
    stale = {"gate_id": "g1", "label": "东门"}  # as an older response model had it
    response = respond(Outcome(Answer(stale, created=True), replayed=True), GateOut)
    assert response.status_code == 201 and json.loads(bytes(response.body)) == stale
    with pytest.raises(ValidationError):  # a fresh answer that does not fit is still a bug
        respond(Outcome(Answer(stale, created=True)), GateOut)


def test_the_api_maps_refusals_and_rejections_to_problem_json() -> None:
    refused = respond(Outcome(Refused(adult("陌生人"), [
        {"pupil_id": "p1", "name": "张小明", "reason": "restricted", "refusal_event": 3}])), GateOut)
    body = json.loads(bytes(refused.body))
    assert refused.status_code == 422 and refused.media_type == "application/problem+json"
    assert body["type"].endswith("/release-refused") and body["pupils"][0]["reason_text"].startswith("此人被列入")
    rejected = respond(Outcome(Rejected("too-large", "too big", [{"field": "file"}])), GateOut)
    assert rejected.status_code == 413 and json.loads(bytes(rejected.body))["errors"] == [{"field": "file"}]
