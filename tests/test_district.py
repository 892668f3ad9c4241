"""The planned district and its dismissal: the same every run, sized as schools are, leaving on the
rate curve the service is planned for (most within 30 minutes of each band's dismissal); and the
rush bench replaying it against PostgreSQL, every release answered and the roster caught up."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.demo.district import (
    TIMEZONE,
    district_timetable,
    plan_district,
    plan_school,
    release_timetable,
)
from service.domain.schedule import Schedule

DAY = date(2026, 11, 18)  # a Wednesday in autumn: the 17:00 / 17:20 / 17:30 bands
ZONE = ZoneInfo(TIMEZONE)


def test_the_same_seed_plans_the_same_district_names_and_minutes() -> None:
    first, again = plan_district(12), plan_district(12)
    assert first == again
    assert first[3].pupils() == again[3].pupils()
    assert release_timetable(first[3], DAY) == release_timetable(again[3], DAY)
    assert plan_district(12, seed=7) != first


def test_a_school_of_3000_has_classes_of_about_45_four_gates_and_about_100_staff() -> None:
    school = plan_school(0, pupils=3000, stage="primary")
    assert school.pupil_count == 3000 == len(school.pupils())
    assert {c.grade for c in school.classes} == {1, 2, 3, 4, 5, 6}
    assert all(38 <= c.size <= 52 for c in school.classes)
    assert school.gates == ("东门", "南门", "西门", "北门")
    assert {c.gate for c in school.classes} == set(school.gates)
    assert 90 <= len(school.staff) <= 110
    roles = Counter(r for member in school.staff for r in member.roles)
    assert roles["guard"] == 8 and roles["admin"] == 1 and roles["safety_officer"] == 1
    assert roles["teacher"] >= len(school.classes)  # a homeroom teacher per class, and more
    pupils = school.pupils()
    assert len({p.name for p in pupils}) == 3000
    assert all(p.guardian["name"] and p.guardian["phone"] for p in pupils)
    middle = plan_school(1, pupils=900, stage="middle")
    assert {c.grade for c in middle.classes} == {7, 8, 9}
    # Each grade of a middle school leaves at its own time.
    assert len({b.dismissal for b in middle.bands}) == 3


def test_a_district_of_200_schools_of_varied_sizes_both_stages() -> None:
    district = plan_district()
    sizes = [s.pupil_count for s in district]
    assert len(district) == 200
    assert all(150 <= n <= 3000 for n in sizes)
    assert sum(n < 500 for n in sizes) >= 10 and sum(n >= 2000 for n in sizes) >= 10
    stages = Counter(s.stage for s in district)
    assert stages["primary"] > stages["middle"] > 20
    assert len({s.name for s in district}) == 200
    # The schools do not all open their gates at the same minute.
    assert len({s.bands[0].dismissal for s in district}) >= 3
    for school in district[:5]:
        Schedule.from_dict(school.schedule()).validate()


def test_every_pupil_leaves_once_inside_the_day_mostly_within_30_minutes_of_the_band() -> None:
    school = plan_school(0, pupils=3000, stage="primary")
    leavings = release_timetable(school, DAY)
    assert [x.pupil for x in leavings] == list(range(3000))
    kinds = Counter(x.kind for x in leavings)
    assert kinds["gate"] > 2700 and kinds["early"] > 0 and kinds["absent"] > 0
    day_starts, day_ends = datetime.combine(DAY, time(0), ZONE), datetime.combine(DAY, time(23, 59), ZONE)
    starts = datetime.combine(DAY, time(15, 40), ZONE)
    for x in leavings:
        if x.kind == "absent":
            assert x.at is None
            continue
        assert x.at is not None and day_starts <= x.at <= day_ends
        assert starts <= x.at
        if x.kind == "gate":
            assert x.at >= x.dismissal
        else:
            assert x.at < x.dismissal
    gate = [x for x in leavings if x.kind == "gate"]
    after = [(x.at - x.dismissal) for x in gate if x.at is not None]
    within = sum(a <= timedelta(minutes=30) for a in after) / len(after)
    assert 0.88 <= within < 1.0  # most within 30 minutes; a tail of late pickups
    assert max(after) <= timedelta(minutes=150)
    # The rush peaks in the first quarter hour after each band's dismissal.
    assert sum(a <= timedelta(minutes=15) for a in after) / len(after) > 0.7
    assert {x.dismissal.time() for x in leavings} == {b.dismissal for b in school.bands}


def test_the_district_timetable_is_every_gate_release_in_time_order() -> None:
    district = plan_district(6)
    merged = district_timetable(district, DAY)
    assert len(merged) == sum(sum(1 for x in release_timetable(s, DAY) if x.kind == "gate")
                              for s in district)
    times = [x.at for x in merged]
    assert times == sorted(times)  # type: ignore[type-var]
    assert {x.school for x in merged} == set(range(6))


def test_the_rush_replays_a_small_district_every_release_answered_and_the_roster_caught_up() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: the rush bench drives the API with it "
                    "(apt-get install -y wrk, or bash scripts/ensure-bench.sh as root)")
    from tools.bench_rush import rush

    result = rush(schools=3, rate=20, seconds=2, scale=0.05, connections=4, references=50,
                  nothing_seconds=1)
    replayed = result.replay
    assert replayed.sent == 40
    assert replayed.statuses == Counter({"200": 40})
    assert result.caught_up and result.lags_ms
    assert replayed.rate > 0 and result.nothing[0] > 0
    assert {"API (handover serve)", "worker (handover worker)", "wrk"} <= set(result.cpu)
    assert any("roster lag" in line for line in result.lines)
