"""The DutyDay aggregate on its own: the roster and what replaces it, patrols, clearing the school."""

from __future__ import annotations

import pytest

from service.domain.duty import Blocker, DutyDay, RosterGuard, check_rostered
from service.domain.errors import ConflictError, RuleError
from service.domain.refs import ActorRecord, StaffRef
from tests.refs import actor, staff

ADMIN = actor("admin-1", "王校长", "admin", "2026-11-23T08:00:00+08:00")
LEADER = actor("lead-1", "陈主任", "duty_leader", "2026-11-23T17:45:00+08:00")
LEADERS: list[StaffRef] = [staff("lead-1", "陈主任"), staff("lead-2", "周主任")]
GUARDS: list[RosterGuard] = [{"staff_id": "guard-1", "name": "刘保安", "gate_id": "g1", "gate": "东门"},
                             {"staff_id": "guard-2", "name": "马保安", "gate_id": None, "gate": None}]


def a_day() -> DutyDay:
    return DutyDay(school_id="s1", day="2026-11-23", session="after_school")


def test_a_roster_names_two_duty_leaders_and_two_guards() -> None:
    day = a_day()
    with pytest.raises(RuleError):
        day.set_roster(LEADERS[:1], GUARDS, "", None, ADMIN)
    with pytest.raises(RuleError):
        day.set_roster([LEADERS[0], LEADERS[0]], GUARDS, "", None, ADMIN)
    with pytest.raises(RuleError):
        day.set_roster(LEADERS, GUARDS[:1], "", None, ADMIN)
    with pytest.raises(RuleError):
        day.set_roster(LEADERS, [GUARDS[0], {**GUARDS[1], "staff_id": "lead-2"}], "", None, ADMIN)
    day.set_roster(LEADERS, GUARDS, "", None, ADMIN)
    assert day.roster is not None and day.roster["roster_no"] == 1
    assert [type(e).__name__ for e in day.collect_events()] == ["Opened", "RosterSet"]


def test_a_changed_roster_names_the_one_it_replaces_and_both_stay_on_record() -> None:
    day = a_day()
    day.set_roster(LEADERS, GUARDS, "", None, ADMIN)
    swapped: list[StaffRef] = [LEADERS[0], staff("lead-3", "吴主任")]
    with pytest.raises(ConflictError):
        day.set_roster(swapped, GUARDS, "周主任病假", None, ADMIN)  # must name no. 1
    day.set_roster(swapped, GUARDS, "周主任病假", 1, ADMIN)
    assert day.roster is not None and day.roster["replaces"] == 1 and day.roster["roster_no"] == 2
    assert [p["name"] for p in day.rosters[0]["leaders"]] == ["陈主任", "周主任"]
    rebuilt = None  # the events alone rebuild the same state
    for e in day.collect_events():
        rebuilt = e.mutate(rebuilt)
    assert isinstance(rebuilt, DutyDay) and rebuilt.rosters == day.rosters


def test_only_whoever_the_roster_names_or_their_substitute_signs_on() -> None:
    day = a_day()
    check_rostered(day, "lead-9", None, "leaders")  # no roster set yet: nothing to check against
    day.set_roster(LEADERS, GUARDS, "", None, ADMIN)
    check_rostered(day, "lead-2", None, "leaders")
    check_rostered(day, "lead-9", "lead-2", "leaders")  # 替班 for a rostered leader
    with pytest.raises(RuleError, match="值班安排"):
        check_rostered(day, "lead-9", None, "leaders")
    with pytest.raises(RuleError):
        check_rostered(day, "lead-1", None, "guards")


def test_a_patrol_says_where_and_what_was_seen_and_comes_after_it_was_made() -> None:
    day = a_day()
    day.record_patrol("三楼走廊", "2026-11-23T16:30:00+08:00", "各班秩序良好", "", LEADER)
    # The same minute written in UTC, as the server's clock may give it, is no later.
    in_utc: ActorRecord = {**LEADER, "at": "2026-11-23T09:45:00+00:00"}
    day.record_patrol("操场", "2026-11-23T17:45:00+08:00", "无人逗留", "", in_utc)
    with pytest.raises(RuleError):
        day.record_patrol(" ", "2026-11-23T16:30:00+08:00", "秩序良好", "", LEADER)
    with pytest.raises(RuleError):
        day.record_patrol("操场", "2026-11-23T18:30:00+08:00", "秩序良好", "", LEADER)
    assert [p["place"] for p in day.patrols] == ["三楼走廊", "操场"] and day.patrols[0]["by"] == LEADER


def test_a_refused_clearing_is_recorded_naming_what_blocked_it_and_the_school_is_cleared_once() -> None:
    day = a_day()
    blockers: list[Blocker] = [{"kind": "pupil", "id": "p1", "name": "王小明", "code": "in_custody",
                                "place": "301", "detail": "在校看护中：301"}]
    assert day.clear(blockers, {"p1": 3}, "", LEADER) is False
    assert day.cleared is None and day.refusals == [{"at": LEADER["at"], "by": LEADER, "blockers": blockers}]
    assert day.clear([], {"p1": 5}, "全部离校", LEADER) is True
    assert [type(e).__name__ for e in day.collect_events()] == ["Opened", "ClearingRefused", "Cleared"]
    assert day.cleared is not None and day.cleared["pupils"] == 1 and day.versions == {"p1": 5}
    with pytest.raises(ConflictError):
        day.clear([], {"p1": 5}, "", LEADER)
    with pytest.raises(ConflictError):
        day.set_roster(LEADERS, GUARDS, "", 1, ADMIN)
