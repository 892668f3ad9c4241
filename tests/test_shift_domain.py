"""Fee and subsidy rules, and the Shift aggregate, on their own: what a month comes to, and why."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from service.domain.errors import ConflictError, RuleError
from service.domain.refs import StaffRef
from service.domain.rules import FeePeriod, FeeRule, SchoolRules, SubsidyRule
from service.domain.shift import ReceiverOffDutyError, Shift, receiving_shifts
from tests.conftest import SHANGHAI
from tests.refs import actor

BY = actor("admin-1", "王校长", "admin", "2026-11-01T08:00:00+08:00")
START = datetime(2026, 11, 23, 15, 40, tzinfo=SHANGHAI)
DISMISSAL = datetime(2026, 11, 23, 17, 20, tzinfo=SHANGHAI)
FULL_MONTH = FeePeriod(window_days=17, month_days=17, term_days=80, attended_days=15, withdrawn=False)


def test_a_monthly_fee_is_capped_and_then_halved_for_a_left_behind_child() -> None:
    rule = FeeRule.parse({"basis": "month", "amount": "150.00", "monthly_cap": "120.00",
                          "reductions": {"留守": 50}})
    fee = rule.charge([FULL_MONTH], ["留守"])
    assert (fee.gross, fee.reduction, fee.owed) == (Decimal("120.00"), Decimal("60.00"), Decimal("60.00"))
    assert [line["step"] for line in fee.lines] == ["base", "cap", "reduction"]


def test_a_family_in_hardship_owes_nothing_and_the_largest_reduction_wins() -> None:
    rule = FeeRule.parse({"amount": "100.00", "reductions": {"困难": 100, "随迁": 30}})
    assert rule.charge([FULL_MONTH], ["随迁", "困难"]).owed == Decimal("0.00")
    assert rule.charge([FULL_MONTH], ["随迁"]).owed == Decimal("70.00")
    assert rule.charge([FULL_MONTH], []).owed == Decimal("100.00")


def test_a_term_fee_is_shared_among_months_by_their_service_days() -> None:
    rule = FeeRule.parse({"basis": "term", "amount": "600.00"})
    assert rule.charge([FULL_MONTH], []).owed == Decimal("127.50")  # 600 × 17 / 80


def test_a_month_joined_halfway_costs_half_a_monthly_fee() -> None:
    rule = FeeRule.parse({"amount": "100.00"})
    half = FeePeriod(window_days=8, month_days=16, term_days=80, attended_days=8, withdrawn=False)
    assert rule.charge([half], []).owed == Decimal("50.00")


def test_a_withdrawal_month_is_settled_by_the_days_attended() -> None:
    gone = FeePeriod(window_days=17, month_days=17, term_days=80, attended_days=6, withdrawn=True)
    with_rate = FeeRule.parse({"amount": "170.00", "daily_rate": "8.00"})
    assert with_rate.charge([gone], []).owed == Decimal("48.00")
    by_share = FeeRule.parse({"amount": "170.00"})  # the month's own 10.00 a day
    assert by_share.charge([gone], []).owed == Decimal("60.00")
    greedy = FeeRule.parse({"amount": "17.00", "daily_rate": "50.00"})
    assert greedy.charge([gone], []).owed == Decimal("17.00")  # never more than the share


def test_subsidy_is_paid_per_session_and_duty_session() -> None:
    rule = SubsidyRule()
    settled = rule.settle(10, 2, {})
    assert (settled.gross, settled.net) == (Decimal("214.00"), Decimal("214.00"))


def test_each_early_leave_costs_a_tenth_and_three_cost_the_whole_month() -> None:
    rule = SubsidyRule()
    assert rule.settle(10, 0, {"early_leave": 1}).net == Decimal("180.00")
    assert rule.settle(10, 0, {"early_leave": 2, "handover_violation": 1}).net == Decimal("140.00")
    assert rule.settle(10, 0, {"early_leave": 3}).net == Decimal("0.00")
    assert rule.settle(10, 0, {"handover_violation": 3}).percent == 100


def test_one_unattended_room_costs_the_whole_month_and_lateness_costs_nothing_by_default() -> None:
    rule = SubsidyRule()
    assert rule.settle(10, 5, {"unattended_room": 1}).net == Decimal("0.00")
    assert rule.settle(10, 0, {"late": 4}).net == Decimal("200.00")
    strict = SubsidyRule.parse({"deductions": {"late": {"each_pct": 5}}})
    assert strict.settle(10, 0, {"late": 4}).net == Decimal("160.00")


@pytest.mark.parametrize(("data", "field"), [
    ({"basis": "week"}, "basis"),
    ({"amount": "-1"}, "amount"),
    ({"amount": "12.345"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"reductions": {"富裕": 10}}, "reductions.富裕"),
    ({"reductions": {"困难": 120}}, "reductions.困难"),
])
def test_a_bad_fee_rule_is_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleError) as refused:
        FeeRule.parse(data)
    assert refused.value.field == field


def test_a_bad_subsidy_rule_is_refused_naming_the_field() -> None:
    with pytest.raises(RuleError) as refused:
        SubsidyRule.parse({"deductions": {"early_leave": {"each_pct": 10, "all_at": 0}}})
    assert refused.value.field == "deductions.early_leave.all_at"
    with pytest.raises(RuleError) as refused:
        SubsidyRule.parse({"deductions": {"sleeping": {"each_pct": 10}}})
    assert refused.value.field == "deductions.sleeping"


def test_every_rule_change_is_an_event_naming_who_made_it() -> None:
    rules = SchoolRules(school_id="school-1")
    rules.set_fee_rule({"amount": "100.00"}, BY)
    rules.set_subsidy_rule({"per_session": "25.00"}, BY)
    events = rules.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "FeeRuleSet", "SubsidyRuleSet"]
    assert all(e.by["staff_name"] == "王校长" for e in events[1:])  # type: ignore[attr-defined]
    assert rules.subsidy_rule.per_session == Decimal("25.00")
    assert SchoolRules.create_id("school-1") == rules.id


def a_shift(at: datetime = START, substitute_for: dict[str, Any] | None = None) -> Shift:
    return Shift.sign_on(
        school_id="school-1", staff={"staff_id": "t-1", "name": "张老师"}, day=START.date(),
        session="after_school", place={"id": "g-1", "label": "三年级作业组", "kind": "group"},
        substitute_for=substitute_for, at=at, starts_at=START, ends_at=DISMISSAL, by=BY)


def test_a_shift_records_how_late_and_how_early_against_the_timetable_of_the_day() -> None:
    shift = a_shift(START + timedelta(minutes=12))
    shift.sign_off(DISMISSAL - timedelta(minutes=15), BY)
    view = shift.view()
    assert view["minutes_late"] == 12 and view["left_early"] is True
    assert [type(e).__name__ for e in shift.collect_events()] == ["SignedOn", "SignedOff"]


def test_a_shift_is_signed_off_once_and_never_before_it_was_signed_on() -> None:
    shift = a_shift()
    with pytest.raises(RuleError):
        shift.sign_off(START - timedelta(minutes=1), BY)
    shift.sign_off(DISMISSAL, BY)
    with pytest.raises(ConflictError):
        shift.sign_off(DISMISSAL + timedelta(minutes=1), BY)


def test_a_substitute_replaces_someone_else() -> None:
    with pytest.raises(RuleError) as refused:
        a_shift(substitute_for={"staff_id": "t-1", "name": "张老师"})
    assert refused.value.field == "substitute_for"
    assert a_shift(substitute_for={"staff_id": "t-2", "name": "李老师"}).view()["substitute_for"]["name"] == "李老师"


def a_guard_shift(place_id: str = "gate-1", label: str = "东门") -> Shift:
    return Shift.sign_on(
        school_id="school-1", staff={"staff_id": "guard-1", "name": "刘保安"}, day=START.date(),
        session="after_school", place={"id": place_id, "label": label, "kind": "gate"},
        substitute_for=None, at=START, starts_at=START, ends_at=DISMISSAL, by=BY)


def test_pupils_pass_to_a_shift_only_while_it_is_open_and_each_handover_is_recorded_on_it() -> None:
    shift = a_guard_shift()
    gate = shift.place
    shift.take_custody("handover-1", ["pupil-1", "pupil-2"], gate, START + timedelta(minutes=5), BY)
    shift.sign_off(START + timedelta(minutes=30), BY)
    with pytest.raises(ReceiverOffDutyError) as refused:
        shift.take_custody("handover-2", ["pupil-3"], gate, START + timedelta(minutes=31), BY)
    assert "刘保安" in refused.value.detail and "东门" in refused.value.detail
    _, taken, off = shift.collect_events()
    assert isinstance(taken, Shift.PupilsReceived) and isinstance(off, Shift.SignedOff)
    assert (taken.handover_id, taken.pupil_ids) == ("handover-1", ["pupil-1", "pupil-2"])
    assert shift.received == ["handover-1"]


def test_a_receiver_signed_off_at_the_handovers_place_or_everywhere_receives_nobody() -> None:
    guard: StaffRef = {"staff_id": "guard-1", "name": "刘保安"}
    east, west = a_guard_shift(), a_guard_shift("gate-2", "西门")
    assert receiving_shifts(guard, east.place, []) == []  # a school that signs nobody on
    assert receiving_shifts(guard, west.place, [east]) == [east]  # on duty at another gate
    east.sign_off(START + timedelta(minutes=30), BY)
    with pytest.raises(ReceiverOffDutyError):
        receiving_shifts(guard, east.place, [east, west])  # left the place of the handover
    with pytest.raises(ReceiverOffDutyError):
        receiving_shifts(guard, west.place, [east])  # off duty everywhere
    assert receiving_shifts(guard, west.place, [east, west]) == [west]
