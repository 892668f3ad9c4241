"""A departure is recorded only from the decision the pupil's rule made, never from a caller's say-so."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from service.domain.decisions import (
    Collector,
    HomeAloneAllowed,
    NotDecidedByRule,
    ReleaseAllowed,
)
from service.domain.errors import RuleError
from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.refs import ActorRecord, AdultRef, PlaceRef
from tests.refs import TEACHER, actor, adult, place, staff

BY = actor("t1", "张老师", "teacher", "2026-11-23T16:00:00+08:00")
GUARD: ActorRecord = {**BY, "staff_id": "g1", "staff_name": "刘保安", "role": "guard"}
DAY = date(2026, 11, 23)  # a Monday
GATE: PlaceRef = place("gate", "东门", "gate")
MUM: AdultRef = adult("李梅", "母亲")


def a_pupil(key: str = "k1") -> Pupil:
    pupil = Pupil.register("s1", key, "张小明", "男", "c1", BY)
    pupil.add_guardian("g-mum", "李梅", "母亲", "13800138000", True, None, BY)
    pupil.file_statement("st1", DAY, None, [1], None, "g-mum", BY)
    return pupil


def held_by_guard(pupil: Pupil, day: date = DAY) -> PupilDay:
    pd = PupilDay.open("s1", str(pupil.id), day, "after_school", "c1")
    pd.sign_in(staff("g1", "刘保安"), GATE, GUARD)
    return pd


def mums_release(pupil: Pupil, day: date = DAY) -> ReleaseAllowed:
    allowed = pupil.decide_collection(day=day, collector_id="g-mum", name=None, id_tail=None)
    assert isinstance(allowed, ReleaseAllowed)
    return allowed


def departures(pd: PupilDay) -> list[str]:
    return [e["type"] for e in pd.entries if e["type"] in ("released", "went_home_alone", "left_early")]


def test_the_rules_decision_releases_to_the_collector_it_names() -> None:
    pupil = a_pupil()
    pd = held_by_guard(pupil)
    pd.release_to(mums_release(pupil), MUM, "id_card", GATE, GUARD)
    assert pd.status == "gone"
    assert pd.entries[-1]["collector"] == {"kind": "guardian", "ref_id": "g-mum", "name": "李梅"}


def forged_releases(pupil: Pupil) -> list[Any]:
    real = mums_release(pupil)
    stranger = Collector("guardian", "g-mum", "陌生人", None, None)
    return [
        ReleaseAllowed(str(pupil.id), DAY.isoformat(), stranger),  # built by hand
        ReleaseAllowed(str(pupil.id), DAY.isoformat(), real.collector),  # even a true copy
        replace(real, collector=stranger),  # the rule's decision, altered
        {"pupil_id": str(pupil.id), "day": DAY.isoformat(), "collector": real.collector},
        pupil.decide_collection(day=DAY, collector_id=None, name="陌生人", id_tail=None),  # a refusal
    ]


@pytest.mark.parametrize("which", range(5))
def test_a_release_the_rule_did_not_make_is_refused_and_records_nothing(which: int) -> None:
    pupil = a_pupil()
    pd = held_by_guard(pupil)
    forged = forged_releases(pupil)[which]
    with pytest.raises(NotDecidedByRule):
        pd.release_to(forged, adult("陌生人"), "id_card", GATE, GUARD)
    with pytest.raises(NotDecidedByRule):
        pd.leave_early(forged, adult("陌生人"), TEACHER, "看病", True, BY)
    assert pd.status == "in_custody" and departures(pd) == []


def test_a_decision_for_another_pupil_or_day_is_refused() -> None:
    pupil, sibling = a_pupil(), a_pupil("k2")
    pd = held_by_guard(pupil)
    with pytest.raises(NotDecidedByRule):
        pd.release_to(mums_release(sibling), MUM, "id_card", GATE, GUARD)
    with pytest.raises(NotDecidedByRule):
        pd.release_to(mums_release(pupil, DAY + timedelta(days=1)), MUM, "id_card", GATE, GUARD)
    assert departures(pd) == []


def test_the_adult_recorded_is_the_one_the_rule_allowed() -> None:
    pupil = a_pupil()
    pd = held_by_guard(pupil)
    with pytest.raises(RuleError) as e:
        pd.release_to(mums_release(pupil), adult("陌生人"), "id_card", GATE, GUARD)
    assert e.value.field == "adult" and departures(pd) == []


def test_going_home_alone_needs_the_statement_the_rule_found() -> None:
    pupil = a_pupil()
    tuesday = pupil.decide_home_alone(DAY + timedelta(days=1))
    assert (tuesday.refusal, tuesday.statement_id) == ("no_statement", None)
    pd = held_by_guard(pupil)
    for forged in (HomeAloneAllowed(str(pupil.id), DAY.isoformat(), "st-made-up"), "st1", tuesday):
        with pytest.raises(NotDecidedByRule):
            pd.go_home_alone(forged, GATE, GUARD)  # type: ignore[arg-type]
    assert departures(pd) == []
    monday = pupil.decide_home_alone(DAY)
    assert isinstance(monday, HomeAloneAllowed)
    pd.go_home_alone(monday, GATE, GUARD)
    assert pd.entries[-1]["statement_id"] == "st1" and pd.status == "gone"


def test_an_early_departure_records_the_collector_the_rule_allowed() -> None:
    pupil = a_pupil()
    pd = PupilDay.open("s1", str(pupil.id), DAY, "after_school", "c1")
    pd.leave_early(mums_release(pupil), MUM, TEACHER, "看病", True, BY)
    assert pd.status == "gone"
    assert pd.entries[-1]["collector"] == {"kind": "guardian", "ref_id": "g-mum", "name": "李梅"}


# -- a question the rule cannot answer is bad input: refused, and nothing decided or recorded -----

def test_a_collector_id_that_is_none_of_the_pupils_entries_is_bad_input() -> None:
    pupil, sibling = a_pupil(), a_pupil("k2")
    sibling.add_guardian("g-sib", "王芳", "母亲", "13700137000", True, None, BY)
    pd = held_by_guard(pupil)
    pupil.collect_events()
    pd.collect_events()
    for typo in ("nope-typo", "g-sib"):  # a typing mistake; another pupil's guardian
        with pytest.raises(RuleError) as e:
            pupil.decide_collection(day=DAY, collector_id=typo, name=None, id_tail=None)
        assert e.value.field == "collector_id"
    assert pupil.collect_events() == [] and pd.collect_events() == [] and pd.entries[-1]["type"] == "signed_in"


def test_a_collector_named_with_another_adults_name_is_bad_input() -> None:
    pupil = a_pupil()
    pupil.restrict("r1", "王大力", None, "法院禁止令", None, None, None, BY)
    pupil.collect_events()
    for stranger in ("陌生人", "王大力", "\u200b"):
        with pytest.raises(RuleError) as e:
            pupil.decide_collection(day=DAY, collector_id="g-mum", name=stranger, id_tail=None)
        assert e.value.field == "adult.name"
    with pytest.raises(RuleError) as e:
        pupil.decide_collection(day=DAY, collector_id=None, name=None, id_tail=None)
    assert e.value.field == "collector_id" and pupil.collect_events() == []
    # The collector's own name, however it is written, is the same adult.
    allowed = pupil.decide_collection(day=DAY, collector_id="g-mum", name="李\u200b梅", id_tail=None)
    assert isinstance(allowed, ReleaseAllowed) and allowed.collector.ref_id == "g-mum"
