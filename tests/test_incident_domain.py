"""Incidents on the aggregate alone: the events each step collects, and what it refuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from service.domain.errors import ConflictError, ForbiddenError, RuleError
from service.domain.incident import FirstAid, Incident, RefusalRef
from tests.refs import GATE, GUARD, TEACHER, adult, by, staff

SAFETY = staff("s9", "孙安全")


def names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def an_injury(pupils: Sequence[str] = ("p1",), kind: str = "injury") -> Incident:
    aid: FirstAid = {"given_by": TEACHER, "note": "冰敷，创可贴"}
    return Incident.report(
        school_id="s1", cause="report/1", day="2026-11-23", session="after_school", kind=kind,
        severity="minor", pupil_ids=list(pupils), place=None, where="操场", description="跑步时摔倒，膝盖擦伤",
        witnesses=["王同学", " "], first_aid=aid, by=by(TEACHER))


def test_a_report_records_what_happened_and_who_gave_first_aid() -> None:
    incident = an_injury()
    [reported] = incident.collect_events()
    assert isinstance(reported, Incident.Reported)
    assert reported.kind == "injury" and reported.pupil_ids == ["p1"] and reported.witnesses == ["王同学"]
    assert reported.first_aid == {"given_by": TEACHER, "note": "冰敷，创可贴"}
    assert incident.view()["status"] == "open" and incident.guardians_pending == ["p1"]


def a_report(kind: str = "missing_pupil", severity: str = "critical", description: str = "走失",
             pupil_ids: Sequence[str] = ("p1",)) -> Incident:
    return Incident.report(
        school_id="s1", cause="report/1", day="2026-11-23", session=None, kind=kind,
        severity=severity, pupil_ids=list(pupil_ids), place=None, where="", description=description,
        witnesses=[], first_aid=None, by=by(TEACHER))


@pytest.mark.parametrize("field, change", [
    ("kind", {"kind": "fire"}), ("severity", {"severity": "huge"}), ("description", {"description": "  "}),
    ("pupil_ids", {"pupil_ids": []}), ("pupil_ids", {"pupil_ids": ["p1", "p1"]}),
])
def test_a_report_missing_what_the_policy_needs_is_refused(field: str, change: dict[str, Any]) -> None:
    a_report()  # as it stands, it is a report
    with pytest.raises(RuleError) as refused:
        a_report(**change)
    assert refused.value.field == field


def test_an_injury_stays_open_until_the_guardian_of_every_pupil_is_reached() -> None:
    incident = an_injury(["p1", "p2"])
    incident.collect_events()
    incident.notify_guardian("p1", "李梅（母亲）", "phone", False, "无人接听", by(TEACHER))
    with pytest.raises(ConflictError):
        incident.close("已处理", by(SAFETY, "safety_officer"))
    incident.notify_guardian("p1", "李梅（母亲）", "phone", True, "已告知，家长稍后来接", by(TEACHER))
    assert incident.guardians_pending == ["p2"]
    incident.notify_guardian("p2", "王强（父亲）", "in_person", True, "", by(TEACHER))
    incident.close("家长已接回，无大碍", by(SAFETY, "safety_officer"))
    assert names(incident.collect_events()) == ["GuardianNotified"] * 3 + ["Closed"]
    assert incident.view()["status"] == "closed" and incident.view()["outcome"] == "家长已接回，无大碍"
    with pytest.raises(ConflictError):
        incident.record_action("补记", by(TEACHER))


def test_a_voided_notification_no_longer_counts_as_the_guardian_reached() -> None:
    incident = an_injury()
    incident.notify_guardian("p1", "李梅", "phone", True, "", by(TEACHER))
    seq = incident.steps[-1]["seq"]
    incident.correct(seq, "打错了家长电话，实际未联系上", by(TEACHER))
    assert incident.guardians_pending == ["p1"] and incident.view()["voided"] == [seq]
    with pytest.raises(ConflictError):
        incident.correct(seq, "again", by(TEACHER))
    with pytest.raises(RuleError):
        incident.correct(1, "the report itself", by(TEACHER))


def test_a_property_incident_closes_without_a_guardian_and_escalation_names_whom() -> None:
    incident = an_injury(["p1"], kind="property")
    with pytest.raises(RuleError):
        incident.escalate([" "], "", by(TEACHER))
    incident.escalate(["校长", "安全副校长"], "已报领导小组", by(TEACHER))
    incident.record_action("已通知保卫处调取监控", by(TEACHER))
    incident.close("物品已找回", by(TEACHER))
    incident.guardian_acknowledges("p1", "家长知悉", by(TEACHER))
    with pytest.raises(ConflictError):
        incident.guardian_acknowledges("p1", "twice", by(TEACHER))
    assert [s["step"] for s in incident.steps] == [
        "reported", "escalated", "action", "closed", "guardian_acknowledged"]
    assert incident.view()["escalated"] is True


def test_every_refusal_at_the_gate_for_the_pupil_joins_one_incident_once() -> None:
    first: RefusalRef = {"pupil_id": "p1", "day": "2026-11-23", "session": "after_school", "seq": 3,
                         "adult": adult("王某", "父亲"), "reason": "restricted"}
    incident = Incident.report(
        school_id="s1", cause="attempted/p1/2026-11-23", day="2026-11-23", session="after_school",
        kind="attempted_collection", severity="serious", pupil_ids=["p1"], place=GATE, where="东门",
        description="禁止接送人员试图接走学生", witnesses=[], first_aid=None, by=by(GUARD, "guard"),
        refusal=first)
    assert incident.id == Incident.create_id("s1", "attempted/p1/2026-11-23")
    incident.link_refusal(first, by(GUARD, "guard"))  # the same refusal again: nothing new
    second: RefusalRef = {**first, "seq": 5}
    incident.link_refusal(second, by(GUARD, "guard"))
    assert names(incident.collect_events()) == ["Reported", "RefusalLinked"]
    assert [r["seq"] for r in incident.refusals] == [3, 5]
    assert incident.guardians_pending == []  # an attempted collection closes once handled


def test_only_whoever_recorded_a_step_or_an_admin_duty_leader_or_safety_officer_voids_it() -> None:
    incident = an_injury()
    incident.notify_guardian("p1", "李梅", "phone", True, "", by(TEACHER))
    seq = incident.steps[-1]["seq"]
    incident.collect_events()
    for role in ("teacher", "guard", "inspector"):
        with pytest.raises(ForbiddenError):
            incident.correct(seq, "没有联系上", by(GUARD, role))
    assert incident.collect_events() == [] and incident.guardians_pending == []
    for who, role in ((GUARD, "duty_leader"), (GUARD, "safety_officer"), (GUARD, "admin"),
                      (TEACHER, "teacher")):
        incident.notify_guardian("p1", "李梅", "phone", True, "", by(TEACHER))
        incident.correct(incident.steps[-1]["seq"], "没有联系上", by(who, role))
    corrected = [e for e in incident.collect_events() if isinstance(e, Incident.Corrected)]
    assert [e.by["role"] for e in corrected] == ["duty_leader", "safety_officer", "admin", "teacher"]
