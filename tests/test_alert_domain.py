"""DESIGN §3.3 Deadlines on the Alert aggregate alone: one alert per cause, escalated one level at
a time until acknowledged, resolved once saying how; the events each command collects."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from service.domain.alert import Alert
from service.domain.errors import ConflictError, RuleError
from service.domain.messages import message
from tests.refs import actor

AT = "2026-11-23T17:35:00+08:00"
TEACHER = actor("t1", "张老师", "teacher")
CAUSE = "unpicked/p1/2026-11-23/after_school"


def names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def an_unpicked_alert() -> Alert:
    alert = Alert.raise_for("s1", "unpicked", CAUSE, {"pupil_id": "p1"}, AT,
                            message("alert.unpicked", name="张小明", deadline="17:35"))
    assert names(alert.collect_events()) == ["Raised"]
    return alert


def test_one_alert_per_cause() -> None:
    alert = an_unpicked_alert()
    assert alert.id == Alert.create_id("s1", CAUSE)
    assert Alert.create_id("s1", CAUSE) != Alert.create_id("s2", CAUSE)


def test_an_alert_escalates_one_level_at_a_time_until_acknowledged() -> None:
    alert = an_unpicked_alert()
    alert.escalate(1, "guardian_contacted", ["guardian"], AT)
    with pytest.raises(ConflictError):
        alert.escalate(3, "safety_officer", ["safety_officer"], AT)  # a level skipped
    alert.escalate(2, "handed_to_gatehouse", ["teacher", "duty_leader"], AT)
    alert.acknowledge("已联系家长，在路上", TEACHER)
    with pytest.raises(ConflictError):
        alert.escalate(3, "safety_officer", ["safety_officer"], AT)

    [first, second, acknowledged] = alert.collect_events()
    assert isinstance(first, Alert.Escalated) and isinstance(second, Alert.Escalated)
    assert isinstance(acknowledged, Alert.Acknowledged)
    assert [(e.level, e.step) for e in (first, second)] == [
        (1, "guardian_contacted"), (2, "handed_to_gatehouse")]
    assert acknowledged.by["staff_id"] == "t1"
    assert alert.view()["status"] == "acknowledged" and alert.level == 2


def test_an_alert_is_resolved_once_saying_how() -> None:
    alert = an_unpicked_alert()
    with pytest.raises(RuleError):
        alert.resolve("forgotten", "", TEACHER)
    alert.resolve("released", "家长17:50接走", TEACHER)
    with pytest.raises(ConflictError):
        alert.resolve("released", "again", TEACHER)
    with pytest.raises(ConflictError):
        alert.escalate(1, "guardian_contacted", ["guardian"], AT)
    [resolved] = alert.collect_events()
    assert isinstance(resolved, Alert.Resolved) and resolved.how == "released"
    assert alert.view()["status"] == "resolved"
