"""The school timetable: which sessions run on a day, and when pupils are due out."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.domain.schedule import (
    GradeBand,
    Schedule,
    ScheduleError,
    Season,
    SessionSpec,
    UnknownSessionError,
    default_schedule,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2024, 10, 14)
FRIDAY = date(2024, 10, 18)


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


def middle_school() -> Schedule:
    """A middle school with evening study that starts later in summer, and a holiday."""
    return Schedule(
        bands=(GradeBand("junior", "初一初二", (7, 8)), GradeBand("senior", "初三", (9,))),
        sessions=(
            SessionSpec(
                key="evening",
                name="晚自习",
                start=time(18, 15),
                dismissals={"junior": time(19, 30), "senior": time(20, 30)},
                weekdays=(1, 2, 3, 4, 7),
                seasons=(
                    Season("夏令", "06-01", "09-01", start=time(18, 45)),
                    Season("寒假前", "12-15", "01-15", dismissals={"senior": time(21, 0)}),
                ),
            ),
        ),
        no_service_dates=frozenset({date(2024, 10, 1)}),
        grace_minutes=15,
    )


def test_a_friday_has_noon_care_but_no_after_school_care() -> None:
    schedule = default_schedule()

    sessions = schedule.sessions_on(FRIDAY)

    assert [s.key for s in sessions] == ["noon"]
    assert schedule.runs_on("after_school", FRIDAY) is False
    assert schedule.runs_on("noon", FRIDAY) is True


def test_a_monday_has_both_sessions_in_declared_order() -> None:
    assert [s.key for s in default_schedule().sessions_on(MONDAY)] == ["noon", "after_school"]


def test_a_no_service_date_has_no_sessions_even_on_a_weekday() -> None:
    schedule = replace(default_schedule(), no_service_dates=frozenset({MONDAY}))

    assert schedule.sessions_on(MONDAY) == ()
    assert schedule.runs_on("noon", MONDAY) is False
    assert schedule.runs_on("noon", MONDAY.replace(day=15)) is True


def test_a_weekend_day_has_no_sessions_in_the_default_schedule() -> None:
    assert default_schedule().sessions_on(date(2024, 10, 19)) == ()


def test_asking_about_an_unknown_session_raises_rather_than_reading_as_no_service() -> None:
    with pytest.raises(UnknownSessionError) as caught:
        default_schedule().runs_on("evening", MONDAY)

    assert caught.value.key == "evening"
    assert str(caught.value) == "unknown session 'evening'"


def test_grades_map_to_their_band_and_unknown_grades_to_none() -> None:
    schedule = default_schedule()

    assert schedule.band_of(2) == GradeBand("low", "低年级", (1, 2))
    assert schedule.band_of(4).key == "middle"  # type: ignore[union-attr]
    assert schedule.band_of(7) is None


def test_october_8_uses_the_autumn_dismissals_staggered_by_band() -> None:
    schedule, day = default_schedule(), date(2024, 10, 8)

    times = [schedule.dismissal_at("after_school", g, day, SHANGHAI) for g in (1, 3, 5)]

    assert times == [at(day, 17, 0), at(day, 17, 20), at(day, 17, 30)]


def test_april_30_is_still_autumn_and_may_1_already_spring() -> None:
    schedule = default_schedule()

    april_30 = schedule.dismissal_at("after_school", 1, date(2025, 4, 30), SHANGHAI)
    may_1 = schedule.dismissal_at("after_school", 1, date(2025, 5, 1), SHANGHAI)

    assert april_30 == at(date(2025, 4, 30), 17, 0)
    assert may_1 == at(date(2025, 5, 1), 17, 30)


def test_september_30_is_still_spring_and_october_1_already_autumn() -> None:
    schedule = default_schedule()

    assert schedule.dismissal_at("noon", 6, date(2024, 9, 30), SHANGHAI) == at(
        date(2024, 9, 30), 14, 0
    )
    assert schedule.dismissal_at("noon", 6, date(2024, 10, 1), SHANGHAI) == at(
        date(2024, 10, 1), 13, 30
    )


def test_a_season_wrapping_over_new_year_covers_both_sides_of_it() -> None:
    schedule = middle_school()

    december = schedule.dismissal_at("evening", 9, date(2024, 12, 20), SHANGHAI)
    january = schedule.dismissal_at("evening", 9, date(2025, 1, 14), SHANGHAI)
    after = schedule.dismissal_at("evening", 9, date(2025, 1, 15), SHANGHAI)

    assert december == at(date(2024, 12, 20), 21, 0)
    assert january == at(date(2025, 1, 14), 21, 0)
    assert after == at(date(2025, 1, 15), 20, 30)


def test_a_season_only_re_times_the_bands_it_names() -> None:
    junior = middle_school().dismissal_at("evening", 7, date(2024, 12, 20), SHANGHAI)

    assert junior == at(date(2024, 12, 20), 19, 30)


def test_a_season_start_overrides_the_session_start_only_inside_its_window() -> None:
    schedule = middle_school()

    assert schedule.start_at("evening", date(2024, 7, 1), SHANGHAI) == at(date(2024, 7, 1), 18, 45)
    assert schedule.start_at("evening", date(2024, 9, 2), SHANGHAI) == at(date(2024, 9, 2), 18, 15)


def test_start_is_an_aware_datetime_in_the_given_zone() -> None:
    started = default_schedule().start_at("after_school", MONDAY, SHANGHAI)

    assert started == datetime(2024, 10, 14, 7, 40, tzinfo=ZoneInfo("UTC"))
    assert started.tzinfo is SHANGHAI


def test_the_deadline_is_dismissal_plus_grace_in_shanghai() -> None:
    schedule = default_schedule()

    deadline = schedule.deadline_at("after_school", 5, date(2025, 5, 6), SHANGHAI)

    assert deadline == at(date(2025, 5, 6), 18, 10)
    assert deadline is not None and deadline.utcoffset() is not None
    assert deadline.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]


def test_the_deadline_uses_the_schedules_own_grace() -> None:
    deadline = middle_school().deadline_at("evening", 7, MONDAY, SHANGHAI)

    assert deadline == at(MONDAY, 19, 45)


def test_the_grace_is_elapsed_time_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    night = Schedule(
        bands=(GradeBand("all", "全体", (1,)),),
        sessions=(SessionSpec("late", "夜间", time(0, 30), {"all": time(1, 55)}, (7,)),),
        grace_minutes=10,
    )

    deadline = night.deadline_at("late", 1, date(2024, 3, 31), berlin)

    assert deadline == datetime(2024, 3, 31, 3, 5, tzinfo=berlin)


def test_a_grade_outside_every_band_or_session_has_no_dismissal() -> None:
    schedule = replace(
        middle_school(),
        bands=middle_school().bands + (GradeBand("prep", "预备", (6,)),),
    )

    assert schedule.dismissal_at("evening", 6, MONDAY, SHANGHAI) is None
    assert schedule.deadline_at("evening", 6, MONDAY, SHANGHAI) is None
    assert schedule.dismissal_at("evening", 3, MONDAY, SHANGHAI) is None


def test_times_are_looked_up_even_on_a_day_the_session_does_not_run() -> None:
    schedule = default_schedule()

    assert schedule.runs_on("after_school", FRIDAY) is False
    assert schedule.dismissal_at("after_school", 1, FRIDAY, SHANGHAI) == at(FRIDAY, 17, 0)


def test_the_default_schedule_is_valid() -> None:
    default_schedule().validate()
    middle_school().validate()


def test_a_schedule_survives_a_round_trip_through_json() -> None:
    for schedule in (default_schedule(), middle_school()):
        data = json.loads(json.dumps(schedule.to_dict()))

        assert Schedule.from_dict(data) == schedule
        assert Schedule.from_dict(data).to_dict() == data


def test_to_dict_writes_times_as_hh_mm_and_dates_in_iso_order() -> None:
    schedule = replace(
        middle_school(), no_service_dates=frozenset({date(2024, 10, 3), date(2024, 10, 1)})
    )

    data = schedule.to_dict()

    assert data["no_service_dates"] == ["2024-10-01", "2024-10-03"]
    assert data["grace_minutes"] == 15
    evening = data["sessions"][0]
    assert evening["start"] == "18:15"
    assert evening["dismissals"] == {"junior": "19:30", "senior": "20:30"}
    assert evening["seasons"][0] == {
        "name": "夏令",
        "starts": "06-01",
        "ends": "09-01",
        "start": "18:45",
        "dismissals": {},
    }


def test_schedules_are_immutable_and_hashable() -> None:
    schedule = default_schedule()

    assert hash(schedule) == hash(default_schedule())
    with pytest.raises(TypeError):
        schedule.sessions[0].dismissals["low"] = time(9, 0)  # type: ignore[index]


def test_from_dict_fills_optional_parts_with_defaults() -> None:
    data = {
        "bands": [{"key": "low", "name": "低年级", "grades": [1, 2]}],
        "sessions": [
            {
                "key": "noon",
                "name": "午托",
                "start": "12:10",
                "dismissals": {"low": "13:30"},
                "weekdays": [1],
            }
        ],
    }

    schedule = Schedule.from_dict(data)

    assert schedule.grace_minutes == 10
    assert schedule.no_service_dates == frozenset()
    assert schedule.sessions[0].seasons == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("bands"), "bands"),
        (lambda d: d["bands"][0].update(grades=["1"]), "bands[0].grades[0]"),
        (lambda d: d["sessions"][1].update(start="3:40pm"), "sessions[1].start"),
        (lambda d: d["sessions"][0]["dismissals"].update(low=None), "sessions[0].dismissals.low"),
        (lambda d: d["sessions"][1]["seasons"][0].pop("ends"), "sessions[1].seasons[0].ends"),
        (lambda d: d.update(no_service_dates=["2024-13-01"]), "no_service_dates[0]"),
        (lambda d: d.update(grace_minutes=True), "grace_minutes"),
        (lambda d: d["sessions"].append("evening"), "sessions[2]"),
    ],
)
def test_from_dict_names_the_field_it_cannot_read(change: Any, field: str) -> None:
    data = default_schedule().to_dict()
    change(data)

    with pytest.raises(ScheduleError) as caught:
        Schedule.from_dict(data)

    assert caught.value.field == field


def _broken(change: Any) -> Schedule:
    data = default_schedule().to_dict()
    change(data)
    return Schedule.from_dict(data)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            lambda d: d["bands"][1].update(grades=[2, 3]),
            "bands[1].grades",
            "grade 2 already belongs to band 'low'",
        ),
        (
            lambda d: d["bands"][0].update(grades=[1, 1]),
            "bands[0].grades",
            "grade 1 already belongs to band 'low'",
        ),
        (lambda d: d["bands"][2].update(key="low"), "bands[2].key", "duplicate band key 'low'"),
        (
            lambda d: d["sessions"][1].update(key="noon"),
            "sessions[1].key",
            "duplicate session key 'noon'",
        ),
        (
            lambda d: d["sessions"][0].update(key="Noon Care"),
            "sessions[0].key",
            "'Noon Care' is not a slug of a-z, 0-9 and _",
        ),
        (
            lambda d: d["sessions"][1].update(weekdays=[1, 8]),
            "sessions[1].weekdays",
            "8 is not an ISO weekday 1..7",
        ),
        (
            lambda d: d["sessions"][1].update(weekdays=[0]),
            "sessions[1].weekdays",
            "0 is not an ISO weekday 1..7",
        ),
        (
            lambda d: d["sessions"][1]["dismissals"].update(middle="15:30"),
            "sessions[1].dismissals.middle",
            "dismissal 15:30 is not after start 15:40",
        ),
        (
            lambda d: d["sessions"][1]["dismissals"].update(nursery="17:00"),
            "sessions[1].dismissals.nursery",
            "unknown band 'nursery'",
        ),
        (
            lambda d: d["sessions"][1]["seasons"][1].update(starts="5-1"),
            "sessions[1].seasons[1].starts",
            "'5-1' is not a MM-DD date",
        ),
        (
            lambda d: d["sessions"][1]["seasons"][1].update(ends="02-30"),
            "sessions[1].seasons[1].ends",
            "'02-30' is not a day of the year",
        ),
        (
            lambda d: d["sessions"][1]["seasons"][1].update(ends="05-01"),
            "sessions[1].seasons[1].ends",
            "window is empty: ends equals starts",
        ),
        (
            lambda d: d["sessions"][1]["seasons"][1].update(starts="04-15"),
            "sessions[1].seasons[1]",
            "window overlaps seasons[0] '秋冬'",
        ),
        (
            lambda d: d["sessions"][1]["seasons"][0]["dismissals"].update(upper="15:00"),
            "sessions[1].seasons[0].dismissals.upper",
            "dismissal 15:00 of 'upper' is not after start 15:40",
        ),
        (
            lambda d: d["sessions"][1]["seasons"][0].update(start="17:10", dismissals={}),
            "sessions[1].seasons[0].start",
            "dismissal 17:00 of 'low' is not after start 17:10",
        ),
        (lambda d: d.update(grace_minutes=181), "grace_minutes", "must be 0..180 minutes, got 181"),
        (lambda d: d.update(grace_minutes=-1), "grace_minutes", "must be 0..180 minutes, got -1"),
    ],
)
def test_validate_names_the_offending_field(change: Any, field: str, reason: str) -> None:
    schedule = _broken(change)

    with pytest.raises(ScheduleError) as caught:
        schedule.validate()

    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert str(caught.value) == f"{field}: {reason}"


def test_a_season_may_not_re_time_a_band_that_does_not_attend_the_session() -> None:
    schedule = middle_school()
    evening = schedule.sessions[0]
    winter = Season("冬", "12-01", "02-01", dismissals={"junior": time(19, 0)})
    seniors_only = replace(evening, dismissals={"senior": time(20, 30)}, seasons=(winter,))

    with pytest.raises(ScheduleError) as caught:
        replace(schedule, sessions=(seniors_only,)).validate()

    assert caught.value.field == "sessions[0].seasons[0].dismissals.junior"
    assert caught.value.reason == "band does not attend session 'junior'"


def test_grace_at_the_edges_of_its_range_is_accepted() -> None:
    replace(default_schedule(), grace_minutes=0).validate()
    replace(default_schedule(), grace_minutes=180).validate()


def test_a_schedule_error_survives_pickling_with_its_field() -> None:
    error = pickle.loads(pickle.dumps(ScheduleError("grace_minutes", "too long")))

    assert (error.field, error.reason) == ("grace_minutes", "too long")
