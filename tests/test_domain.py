"""Aggregate rules, without a store: the events each command collects, or the error it raises."""

from __future__ import annotations

from datetime import date

import pytest

from service.domain.decisions import ReleaseAllowed
from service.domain.errors import ConflictError, RuleError
from service.domain.handover import Handover
from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.refs import ActorRecord
from tests.refs import CLUB_ROOM, CLUB_TEACHER, GATE, TEACHER, actor, adult, staff

BY = actor("t1", "张老师", "teacher", "2026-11-23T16:00:00+08:00")
GUARD: ActorRecord = {**BY, "staff_id": "g1", "staff_name": "刘保安", "role": "guard"}
DAY = date(2026, 11, 23)


def a_pupil() -> Pupil:
    pupil = Pupil.register("s1", "k1", "张小明", "男", "c1", BY)
    pupil.add_guardian("g-mum", "李梅", "母亲", "13800138000", True, "1234", BY)
    pupil.add_guardian("g-dad", "张强", "父亲", "13900139000", False, None, BY)
    return pupil


def in_custody_of_guard() -> PupilDay:
    day = PupilDay.open("s1", str(Pupil.create_id("s1", "k1")), DAY, "after_school", "c1")
    day.sign_in(staff("g1", "刘保安"), GATE, GUARD)
    return day


def test_a_guardian_without_the_right_to_collect_is_not_a_collector() -> None:
    pupil = a_pupil()
    assert pupil.decide_collection(day=DAY, collector_id="g-dad", name=None, id_tail=None).refusal == "not_authorised"
    assert pupil.decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None).collector is not None


def test_an_id_tail_on_file_must_match_the_one_shown() -> None:
    pupil = a_pupil()
    assert pupil.decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail="9999").refusal == "id_mismatch"


def test_a_restriction_beats_every_authorisation_and_names_itself() -> None:
    pupil = a_pupil()
    pupil.restrict("r1", "李 梅", None, "法院裁定", "（2025）沪0101民初1号", None, None, BY)
    decision = pupil.decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None)
    assert (decision.refusal, decision.restriction_id) == ("restricted", "r1")
    assert pupil.collectors_on(DAY) == []


def test_a_lifted_restriction_no_longer_counts() -> None:
    pupil = a_pupil()
    pupil.restrict("r1", "李梅", None, "临时", None, None, None, BY)
    pupil.lift_restriction("r1", "撤销", BY)
    assert pupil.decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None).collector is not None


def test_a_phone_authorisation_must_name_the_guardian_who_called() -> None:
    pupil = a_pupil()
    with pytest.raises(RuleError):
        pupil.authorise("a1", "舅舅", None, None, None, DAY, DAY, None, None, "phone_call", None, True, BY)


def test_a_released_pupil_is_gone_and_a_second_release_is_a_conflict() -> None:
    day = in_custody_of_guard()
    mum = adult("李梅")
    allowed = a_pupil().decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None)
    assert isinstance(allowed, ReleaseAllowed)
    day.release_to(allowed, mum, "id_card", GATE, GUARD)
    assert day.status == "gone"
    with pytest.raises(ConflictError) as e:
        day.release_to(allowed, mum, "id_card", GATE, GUARD)
    assert e.value.state["status"] == "gone"
    assert [type(ev).__name__ for ev in day.collect_events()] == ["Opened", "SignedIn", "Released"]


def test_an_unknown_identity_check_is_refused() -> None:
    allowed = a_pupil().decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None)
    assert isinstance(allowed, ReleaseAllowed)
    with pytest.raises(RuleError):
        in_custody_of_guard().release_to(
            allowed, adult("李梅"), "looked_friendly", GATE, GUARD)


def test_a_correction_voids_a_fact_but_keeps_it_in_the_chain() -> None:
    day = PupilDay.open("s1", "p1", DAY, "after_school", "c1")
    day.mark_absent(False, "", BY)
    day.correct(2, "在图书馆", BY)
    assert day.status == "not_handed_over"
    assert [e["type"] for e in day.entries] == ["absent", "corrected"]


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    day = in_custody_of_guard()
    day.refuse_release(adult("陌生人"), "not_authorised", None, None, GUARD)
    events = day.collect_events()
    replayed = None
    for ev in events:
        replayed = ev.mutate(replayed)
    assert isinstance(replayed, PupilDay)
    assert replayed.view() == day.view() and replayed.entries == day.entries


def test_a_handover_confirmed_with_a_different_count_is_a_mismatch() -> None:
    handover = Handover.offer(school_id="s1", day="2026-11-23", session="after_school", kind="transfer",
                              giver=TEACHER, to=CLUB_TEACHER,
                              place=CLUB_ROOM, pupil_ids=["p1", "p2"], count_given=2, note=None, by=BY)
    missing = handover.confirm(1, ["p1"], {**BY, "staff_id": "t2"})
    assert missing == ["p2"] and handover.mismatch is True
    with pytest.raises(ConflictError):
        handover.confirm(2, None, {**BY, "staff_id": "t2"})
