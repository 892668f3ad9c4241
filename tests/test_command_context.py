"""The command's id and request fingerprint travel with the actor, not as an argument of each use case."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from service.application import HandoverApp
from service.domain.common import Actor
from service.domain.errors import IdempotencyKeyReusedError
from service.use_cases.clock import FixedClock
from tests.conftest import MORNING, settings_for


def an_admin(tmp_path: Path) -> tuple[HandoverApp, Actor]:
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings_for("memory", tmp_path, None).eventsourcing_env(), clock=clock)
    created = app.init_school("第一小学", "Asia/Shanghai", "王校长")
    admin = Actor(school_id=created["school_id"], staff_id=created["admin_id"], staff_name="王校长",
                  role="admin", at=clock.now(), command_id="add-gate-1", fingerprint="request-a")
    return app, admin


def test_a_retry_of_the_same_request_answers_the_first_time_and_records_once(tmp_path: Path) -> None:
    app, admin = an_admin(tmp_path)
    try:
        first = app.add_gate(admin, "东门")
        again = app.add_gate(admin, "东门")
        assert again.replayed and again.body == first.body
        assert [g["name"] for g in app.school(admin.school_id).gates.values()] == ["东门"]
    finally:
        app.close()


def test_the_same_command_id_with_another_request_is_refused(tmp_path: Path) -> None:
    app, admin = an_admin(tmp_path)
    try:
        app.add_gate(admin, "东门")
        with pytest.raises(IdempotencyKeyReusedError):
            app.add_gate(replace(admin, fingerprint="request-b"), "西门")
        assert len(app.school(admin.school_id).gates) == 1
    finally:
        app.close()


def test_the_fingerprint_is_never_stored_in_the_facts() -> None:
    actor = Actor(school_id="s1", staff_id="t1", staff_name="张老师", role="teacher",
                  at=MORNING, command_id="k", fingerprint="secret-digest")
    assert "secret-digest" not in str(actor.record())
