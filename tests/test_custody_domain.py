"""DESIGN §3.1 Custody and §3.2 Release on the aggregates alone: the events each command collects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pytest

from service.domain.decisions import ReleaseAllowed
from service.domain.errors import ConflictError, ForbiddenError, RuleError
from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.refs import ActorRecord, PlaceRef, StaffRef
from tests.refs import actor, adult, place, staff

DAY = date(2026, 11, 23)  # a Monday
AT = "2026-11-23T16:00:00+08:00"
TEACHER: StaffRef = staff("t1", "张老师")
CLUB: StaffRef = staff("t2", "赵老师")
GUARD: StaffRef = staff("g1", "刘保安")
GROUP: PlaceRef = place("group", "三年级作业组", "group")
CLUB_ROOM: PlaceRef = place("club", "美术社", "club")
GATE: PlaceRef = place("gate", "东门", "gate")


def by(who: StaffRef, role: str = "teacher") -> ActorRecord:
    return actor(who["staff_id"], who["name"], role, AT)


def names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def with_the_teacher() -> PupilDay:
    day = PupilDay.open("s1", str(Pupil.create_id("s1", "k1")), DAY, "after_school", "c1")
    day.sign_in(TEACHER, GROUP, by(TEACHER))
    day.collect_events()
    return day


def a_pupil() -> Pupil:
    pupil = Pupil.register("s1", "k1", "张小明", "男", "c1", by(TEACHER))
    pupil.add_guardian("g-mum", "李梅", "母亲", "13800138000", True, None, by(TEACHER))
    return pupil


# -- §3.1 custody --------------------------------------------------------------------------------

def test_custody_stays_with_the_giver_until_the_receiver_confirms() -> None:
    day = with_the_teacher()
    day.offer("h1", "transfer", TEACHER, CLUB, CLUB_ROOM, by(TEACHER))
    pending = day.state["pending"]
    assert day.state["custodian"] == TEACHER
    assert pending is not None and pending["handover_id"] == "h1"
    with pytest.raises(ConflictError):
        day.take_custody("h1", TEACHER, by(GUARD, "guard"))  # not the adult it was offered to
    day.take_custody("h1", TEACHER, by(CLUB))
    [offered, taken] = day.collect_events()
    assert names([offered, taken]) == ["HandoverOffered", "CustodyTaken"]
    assert isinstance(taken, PupilDay.CustodyTaken) and taken.giver == TEACHER
    assert day.state["custodian"] == CLUB and day.state["pending"] is None


def test_a_pupil_offered_in_one_handover_cannot_be_offered_in_another() -> None:
    day = with_the_teacher()
    day.offer("h1", "transfer", TEACHER, CLUB, CLUB_ROOM, by(TEACHER))
    with pytest.raises(ConflictError) as refused:
        day.offer("h2", "transfer", TEACHER, GUARD, GATE, by(TEACHER))
    assert refused.value.state["pending"]["handover_id"] == "h1"
    assert names(day.collect_events()) == ["HandoverOffered"]


def test_a_withdrawn_offer_leaves_custody_with_the_giver() -> None:
    day = with_the_teacher()
    day.offer("h1", "transfer", TEACHER, CLUB, CLUB_ROOM, by(TEACHER))
    day.withdraw_offer("h1", "美术社停课", by(TEACHER))
    assert names(day.collect_events()) == ["HandoverOffered", "HandoverWithdrawn"]
    assert day.state["custodian"] == TEACHER and day.state["pending"] is None


def test_a_handover_needs_another_adult_to_receive() -> None:
    day = with_the_teacher()
    with pytest.raises(RuleError):
        day.offer("h1", "transfer", TEACHER, TEACHER, GROUP, by(TEACHER))
    assert day.collect_events() == []


# -- §3.2 release ---------------------------------------------------------------------------------

def test_only_the_custodian_releases_and_a_refusal_records_nothing_else() -> None:
    day = with_the_teacher()
    allowed = a_pupil().decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None)
    assert isinstance(allowed, ReleaseAllowed)
    with pytest.raises(ConflictError):
        day.release_to(allowed, adult("李梅"), "id_card", GATE, by(GUARD, "guard"))
    assert day.collect_events() == [] and day.status == "in_custody"


def test_a_refused_release_is_an_event_naming_who_came_why_and_who_turned_them_away() -> None:
    day = with_the_teacher()
    day.refuse_release(adult("陌生人"), "not_authorised", "自称舅舅", GATE, by(TEACHER))
    [refused] = day.collect_events()
    assert isinstance(refused, PupilDay.ReleaseRefused)
    assert (refused.adult, refused.reason, refused.by["staff_id"]) == (
        {"name": "陌生人", "relation": None, "phone": None, "id_tail": None}, "not_authorised",
        TEACHER["staff_id"])
    assert day.view()["refusals"] == 1 and day.status == "in_custody"


def test_a_refusal_cannot_be_corrected_away() -> None:
    day = with_the_teacher()
    day.refuse_release(adult("陌生人"), "not_authorised", None, GATE, by(TEACHER))
    refusal_seq = day.entries[-1]["seq"]
    with pytest.raises(RuleError):
        day.correct(refusal_seq, "看错了", by(TEACHER))
    assert names(day.collect_events()) == ["ReleaseRefused"]


def test_an_expired_authorisation_and_an_expired_restriction_no_longer_count() -> None:
    pupil = a_pupil()
    ended = DAY - timedelta(days=1)
    pupil.authorise("a1", "王阿姨", "邻居", None, None, DAY - timedelta(days=30), ended, None,
                    "g-mum", "in_person", None, False, by(TEACHER))
    pupil.restrict("r1", "李梅", None, "临时禁止", None, DAY - timedelta(days=30), ended, by(TEACHER))
    assert pupil.decide_collection(day=ended, collector_id="a1", name=None, id_tail=None).collector
    assert pupil.decide_collection(day=ended, collector_id="g-mum", name=None,
                                   id_tail=None).refusal == "restricted"
    assert pupil.decide_collection(day=DAY, collector_id="a1", name=None,
                                   id_tail=None).refusal == "not_authorised"
    assert pupil.decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None).collector


def test_a_phone_call_is_a_one_day_authorisation_naming_the_caller_that_counts_only_that_day() -> None:
    pupil = a_pupil()
    pupil.collect_events()
    pupil.authorise("a1", "张舅舅", "舅舅", None, None, DAY, DAY, None, "g-mum", "phone_call",
                    "李梅", True, by(GUARD, "guard"))
    [authorised] = pupil.collect_events()
    recorded = vars(authorised)
    assert (recorded["name"], recorded["caller"], recorded["via"], recorded["one_day"]) == (
        "张舅舅", "李梅", "phone_call", True)
    assert recorded["by"]["staff_id"] == GUARD["staff_id"]  # who took the call
    assert pupil.decide_collection(day=DAY, collector_id="a1", name=None, id_tail=None).collector
    tomorrow = DAY + timedelta(days=1)
    assert pupil.decide_collection(day=tomorrow, collector_id="a1", name=None,
                                   id_tail=None).refusal == "not_authorised"


def test_a_statement_lets_a_pupil_go_home_alone_only_on_its_weekdays() -> None:
    pupil = a_pupil()
    pupil.file_statement("st1", DAY - timedelta(days=7), None, [2, 4], None, "g-mum", by(TEACHER))
    assert pupil.statement_on(DAY) is None  # a Monday
    assert pupil.statement_on(DAY + timedelta(days=1)) is not None  # Tuesday


# -- §3.2 release: an adult's name is the same name however it is written -----------------------

SPELLED_OTHERWISE = [
    "坏\u200b人", "坏\u200c人", "坏\u200d人", "坏\u2060人", "\ufeff坏人", "坏\u00ad人",  # invisible
    "坏\u034f人", "坏\ufe0f人",  # a grapheme joiner, a variation selector
    "坏·人", "坏•人", "坏.人", "坏・人", "坏‧人", "坏．人", "坏･人",  # separators, full- and half-width
    "坏\u3000人", "坏\u00a0人", "坏\u2009人", " 坏人\t",  # spaces of every kind
    "壞人", "壞 人",  # traditional characters
    "坏人（叔叔）", "坏人(爸爸)", "【父亲】坏人",  # a note in brackets of who they are
]


@pytest.mark.parametrize("name", SPELLED_OTHERWISE)
def test_a_restricted_adult_is_refused_however_their_name_is_written(name: str) -> None:
    pupil = a_pupil()
    pupil.restrict("r1", "坏 人", None, "法院禁止令", None, None, None, by(TEACHER))
    decision = pupil.decide_collection(day=DAY, collector_id=None, name=name, id_tail=None)
    assert (decision.refusal, decision.restriction_id) == ("restricted", "r1")


@pytest.mark.parametrize("name", ["ＬＩ　ＭＩＮＧ", "li\u200bming", "Li.Ming", "LI·MING", "ｌｉ ｍｉｎｇ"])
def test_a_latin_name_is_matched_whatever_its_case_width_or_separator(name: str) -> None:
    pupil = a_pupil()
    pupil.restrict("r1", "Li Ming", None, "法院禁止令", None, None, None, by(TEACHER))
    assert pupil.decide_collection(day=DAY, collector_id=None, name=name, id_tail=None).refusal == "restricted"


def test_an_authorised_adult_is_found_and_released_to_however_their_name_is_written() -> None:
    pupil = a_pupil()
    pupil.authorise("a1", "欧阳·娜娜", "姑姑", None, None, DAY, None, None, "g-mum", "in_person",
                    None, False, by(TEACHER))
    allowed = pupil.decide_collection(day=DAY, collector_id=None, name="欧阳\u200b娜娜", id_tail=None)
    assert isinstance(allowed, ReleaseAllowed) and allowed.collector.ref_id == "a1"
    day = with_the_teacher()
    day.release_to(allowed, adult("欧阳．娜娜"), "id_card", GATE, by(TEACHER))
    [released] = day.collect_events()
    assert isinstance(released, PupilDay.Released) and released.collector["ref_id"] == "a1"


@pytest.mark.parametrize("via", ["phone_call", "in_person"])
def test_an_authorisation_naming_a_restricted_adult_is_refused_when_recorded(via: str) -> None:
    pupil = a_pupil()
    pupil.restrict("r1", "坏 人", "123X", "法院禁止令", None, None, DAY, by(TEACHER))
    pupil.collect_events()
    caller = "李梅" if via == "phone_call" else None
    with pytest.raises(RuleError) as e:
        pupil.authorise("a1", "坏\u200b人", "舅舅", None, "123x", DAY, DAY, None, "g-mum", via,
                        caller, True, by(GUARD, "guard"))
    assert e.value.field == "name" and pupil.collect_events() == [] and pupil.authorisations == {}
    # Another adult of that name (their ID tail differs), or after the restriction ends: allowed.
    pupil.authorise("a2", "坏人", "舅舅", None, "9999", DAY, DAY, None, "g-mum", via, caller, True,
                    by(GUARD, "guard"))
    later = DAY + timedelta(days=1)
    pupil.authorise("a3", "坏人", "舅舅", None, None, later, None, None, "g-mum", via, caller,
                    False, by(GUARD, "guard"))
    assert names(pupil.collect_events()) == ["AdultAuthorised", "AdultAuthorised"]


def test_a_name_of_invisible_characters_only_is_no_name() -> None:
    pupil = a_pupil()
    pupil.collect_events()
    with pytest.raises(RuleError) as e:
        pupil.restrict("r1", "\u200b\u2060", None, "禁令", None, None, None, by(TEACHER))
    assert e.value.field == "name"
    with pytest.raises(RuleError) as e:
        pupil.authorise("a1", "\ufeff·", None, None, None, None, None, None, None, "in_person", None,
                        False, by(TEACHER))
    assert e.value.field == "name"
    with pytest.raises(RuleError) as e:
        pupil.add_guardian("g2", "\u200d", "父亲", "13900139000", True, None, by(TEACHER))
    assert e.value.field == "name" and pupil.collect_events() == []


# -- §3.4 a correction: only whoever recorded the fact, or those who answer for the afternoon ----

def released_by_the_teacher() -> PupilDay:
    day = with_the_teacher()
    allowed = a_pupil().decide_collection(day=DAY, collector_id="g-mum", name=None, id_tail=None)
    assert isinstance(allowed, ReleaseAllowed)
    day.release_to(allowed, adult("李梅"), "id_card", GATE, by(TEACHER))
    day.collect_events()
    return day


@pytest.mark.parametrize("role", ["teacher", "guard", "inspector"])
def test_a_member_of_staff_who_did_not_record_a_fact_cannot_void_it(role: str) -> None:
    day = released_by_the_teacher()
    release_seq = day.entries[-1]["seq"]
    with pytest.raises(ForbiddenError):
        day.correct(release_seq, "点错了", by(CLUB, role))
    assert day.collect_events() == [] and day.status == "gone"


@pytest.mark.parametrize("who,role", [(TEACHER, "teacher"), (CLUB, "admin"), (CLUB, "duty_leader"),
                                      (CLUB, "safety_officer")])
def test_whoever_recorded_a_fact_or_an_admin_duty_leader_or_safety_officer_voids_it(
        who: StaffRef, role: str) -> None:
    day = released_by_the_teacher()
    release_seq = day.entries[-1]["seq"]
    day.correct(release_seq, "点错了学生", by(who, role))
    [corrected] = day.collect_events()
    assert isinstance(corrected, PupilDay.Corrected) and corrected.corrects == release_seq
    assert day.status == "in_custody"


@pytest.mark.parametrize("name", ["李宏軍", "李宏军（叔叔）", "李先生"])
def test_a_restricted_adult_is_known_by_a_traditional_spelling_or_the_id_tail_on_file(name: str) -> None:
    pupil = a_pupil()
    pupil.restrict("r1", "李宏军", "5480", "人身安全保护令", None, None, None, by(TEACHER))
    decision = pupil.decide_collection(day=DAY, collector_id=None, name=name, id_tail="5480")
    assert (decision.refusal, decision.restriction_id) == ("restricted", "r1")
    with pytest.raises(RuleError):  # nor may a guardian's call authorise them for the day
        pupil.authorise("a9", name, "叔叔", None, "5480", DAY, DAY, None, "g-mum", "phone_call",
                        "李梅", True, by(TEACHER))
