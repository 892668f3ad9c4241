"""The demo looks alive whenever it is started: today's afternoon as it stands at the demo clock."""

from __future__ import annotations

import time as wallclock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.application import HandoverApp
from service.cli import main
from service.demo.school import DEMO_FILE, demo_schedule, open_demo
from service.demo.today import (
    LATE_MINUTES,
    DemoClock,
    LiveDemo,
    Player,
    Stager,
    demo_counts,
    demo_moment,
    parse_at,
    read_days,
    stage_demo,
)
from service.domain.schedule import Schedule
from service.projections.alerts import read_alerts
from service.projections.roster import read_roster
from service.projections.statements import read_shifts
from service.projections.views import Views
from service.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY_MORNING = datetime(2026, 12, 1, 8, 30, tzinfo=SHANGHAI)  # autumn: dismissals 17:00–17:30
CUSTODY_ALERTS = {"unpicked", "not_handed_over", "zero_report", "unconfirmed", "no_deadline",
                  "count_mismatch"}


ROSTERS: dict[str, list[dict[str, Any]]] = {}  # the after-school roster at each time opened
SHIFTS: dict[str, list[dict[str, Any]]] = {}  # the day's shifts at each time opened


def at(settings: Settings, hhmm: str) -> tuple[str, LiveDemo, list[dict[str, Any]]]:
    """The demo opened at ``hhmm`` on the test's Tuesday, with every alert of the school."""
    text, live = stage_demo(settings, parse_at(hhmm), now=TUESDAY_MORNING)
    views = Views(live.app, settings)
    try:
        views.catch_up()
        school_id = live.player.stager.school_id
        alerts = read_alerts(views.view("alerts"), school_id)
        day = live.moment.date()
        ROSTERS[hhmm] = (read_roster(views.view("roster"), school_id, day, "after_school")
                         or {}).get("pupils", [])
        SHIFTS[hhmm] = read_shifts(views.view("statements"), school_id, day)
    finally:
        views.stop()
        live.close()
    return text, live, alerts


def held_alerts(alerts: list[dict[str, Any]], *, open_only: bool = True) -> list[dict[str, Any]]:
    return [a for a in alerts if a["kind"] in CUSTODY_ALERTS
            and (a["status"] != "resolved" or not open_only)]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(store="sqlite", data_dir=tmp_path_factory.mktemp("demo-today"))


@pytest.fixture(scope="module")
def afternoon(demo_dir: Settings) -> Iterator[dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]]]:
    # The same demo opened four times in the day, as a presenter would: each start plays on
    # from where the last one left off.
    yield {hhmm: at(demo_dir, hhmm) for hhmm in ("15:00", "16:55", "17:05", "18:30", "21:00")}


def sessions(live: LiveDemo) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = live.counts["sessions"]
    return found


def test_at_three_the_noon_pupils_are_gone_and_the_after_school_pupils_are_in_class(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]]) -> None:
    text, live, alerts = afternoon["15:00"]
    noon, after = sessions(live)["noon"], sessions(live)["after_school"]
    assert live.moment == datetime(2026, 12, 1, 15, 0, tzinfo=SHANGHAI)
    assert noon["gone"] > 30 and noon["in_custody"] == noon["not_handed_over"] == 0
    assert after["not_handed_over"] > 150 and after["in_custody"] == after["gone"] == 0
    assert 0 < after["absent"] < 40
    assert held_alerts(alerts, open_only=False) == []
    assert "Demo clock 演示时钟: 2026-12-01 15:00" in text
    assert live.tablet is not None and f"with code {live.tablet['code']} (once, until 15:10" in text


def test_each_start_gives_the_same_east_gate_tablet_a_new_pairing_code(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]]) -> None:
    tablets = [live.tablet for _, live, _ in afternoon.values()]
    assert all(t is not None and t["kind"] == "gate_tablet" and t["place_label"] == "东门"
               for t in tablets)
    assert len({t["device_id"] for t in tablets if t}) == 1
    assert len({t["code"] for t in tablets if t}) == len(tablets)


def test_at_five_to_five_the_groups_are_in_session_and_a_few_have_left_early(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]]) -> None:
    _, live, alerts = afternoon["16:55"]
    after = sessions(live)["after_school"]
    assert after["not_handed_over"] == 0 and after["in_custody"] > 150
    assert 0 < after["gone"] < 30  # early departures; the first band is dismissed at 17:00
    assert held_alerts(alerts, open_only=False) == []


def test_at_five_past_five_the_first_band_leaves_by_the_east_gate_and_the_guards_are_at_their_gates(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]]) -> None:
    text, _, alerts = afternoon["17:05"]
    rows = ROSTERS["17:05"]
    first_band = [r for r in rows if r["class_label"].startswith(("一年级", "二年级"))]
    later = [r for r in rows if r not in first_band and r["status"] != "absent"]
    at_gates = {r["place"]["label"] for r in rows if r["status"] == "in_custody"
                and r["place"]["kind"] == "gate"}
    holders = {r["custodian"]["name"] for r in first_band if r["status"] == "in_custody"}
    # The little ones were walked to the east gate at 16:55 and their families are arriving...
    assert at_gates == {"东门"} and holders == {"刘保国"}
    assert any(r["status"] == "gone" and r["gate_id"] for r in first_band)
    assert any(r["status"] == "in_custody" for r in first_band)
    # ...while the later bands are still in their groups, and nobody is overdue yet.
    assert later and all(r["status"] == "in_custody" and r["place"]["kind"] == "group"
                         for r in later if r["status"] != "gone")
    assert held_alerts(alerts, open_only=False) == []
    on_at_gates = {(s["staff"]["name"], s["place"]["label"]) for s in SHIFTS["17:05"]
                   if s["place"]["kind"] == "gate"}
    assert on_at_gates == {("刘保国", "东门"), ("马德胜", "南门"), ("赵卫东", "南门")}
    assert "刘保国 2580" in text  # the guards' PINs for the gate tablet


def test_by_half_past_six_pupils_left_by_both_gates_each_by_its_grades(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]]) -> None:
    rows = [r for r in ROSTERS["18:30"] if r["status"] == "gone" and r["gate_id"]]
    gates = {r["gate_id"] for r in rows}
    assert len(gates) == 2
    by_class: dict[str, set[str]] = {}
    for r in rows:
        by_class.setdefault(r["class_label"], set()).add(r["gate_id"])
    assert all(len(g) == 1 for g in by_class.values()), by_class


def test_at_half_past_six_one_late_pickup_waits_at_the_gate_under_an_escalated_alert(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]]) -> None:
    _, live, alerts = afternoon["18:30"]
    after = sessions(live)["after_school"]
    waiting = after["in_custody"] + after["not_handed_over"]
    assert waiting == 1 and after["gone"] > 150
    [still_open] = held_alerts(alerts)
    assert still_open["kind"] == "unpicked" and still_open["level"] >= 2  # handed to the gatehouse
    unpicked = [a for a in alerts if a["kind"] == "unpicked"]
    assert len(unpicked) == len(LATE_MINUTES)  # the one collected at 17:55 is resolved
    assert [a["resolved"]["how"] for a in unpicked if a["status"] == "resolved"] == ["released"]
    assert held_alerts(alerts, open_only=False) == unpicked


def test_at_nine_everyone_is_gone_and_only_the_late_pickups_raised_alerts_all_closed(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]], demo_dir: Settings) -> None:
    _, live, alerts = afternoon["21:00"]
    for session, tally in sessions(live).items():
        assert tally["in_custody"] == tally["not_handed_over"] == 0, session
    assert held_alerts(alerts) == []
    late = held_alerts(alerts, open_only=False)
    assert len(late) == len(LATE_MINUTES) and {a["kind"] for a in late} == {"unpicked"}
    assert all(a["resolved"]["how"] == "released" for a in late)
    assert read_days(demo_dir.data_dir, live.player.stager.school_id) == {
        "2026-12-01": "2026-12-01T21:00:00+08:00"}


def test_a_demo_first_opened_at_nine_in_the_evening_shows_no_burst_of_alerts(
        tmp_path: Path) -> None:
    # Given a new demo store, opened for the first time long after the session
    _, live, alerts = at(Settings(store="sqlite", data_dir=tmp_path), "21:00")
    # Then the whole day was played: everyone went home, and the only custody alerts are the
    # late pickups', closed when they were collected
    after = sessions(live)["after_school"]
    assert after["gone"] > 150 and after["in_custody"] == after["not_handed_over"] == 0
    assert held_alerts(alerts) == []
    assert len(held_alerts(alerts, open_only=False)) <= len(LATE_MINUTES)
    assert live.player.stager.skipped == 0


def test_a_day_already_played_past_the_time_asked_is_shown_on_the_next_service_day() -> None:
    schedule = Schedule.from_dict(demo_schedule())
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert demo_moment(schedule, SHANGHAI, now, time(16, 55), {}) == datetime(
        2026, 12, 1, 16, 55, tzinfo=SHANGHAI)
    played = {"2026-12-01": "2026-12-01T21:00:00+08:00"}
    assert demo_moment(schedule, SHANGHAI, now, time(16, 55), played).date() == date(2026, 12, 2)
    assert demo_moment(schedule, SHANGHAI, now, None, {}) == now.astimezone(SHANGHAI)
    closed = Schedule.from_dict({**demo_schedule(), "no_service_dates": ["2026-12-01"]})
    assert demo_moment(closed, SHANGHAI, now, time(16, 55), {}).date() == date(2026, 12, 2)
    with pytest.raises(ValueError):
        parse_at("25:00")


def test_the_demo_clock_stands_still_while_staging_then_runs_on_from_where_it_stood() -> None:
    clock = DemoClock(TUESDAY_MORNING)
    clock.advance(minutes=5)
    assert clock.now() == TUESDAY_MORNING + timedelta(minutes=5)
    clock.run_on()
    wallclock.sleep(0.05)
    later = clock.now()
    assert TUESDAY_MORNING + timedelta(minutes=5) < later < TUESDAY_MORNING + timedelta(minutes=6)
    assert clock.advance(seconds=0.01) > later
    with pytest.raises(RuntimeError):
        clock.set(TUESDAY_MORNING)


def test_a_day_left_half_played_is_finished_before_the_next_day_is_shown(tmp_path: Path) -> None:
    # Given the demo opened on Tuesday at 16:55 and stopped there, pupils still in the groups
    settings = Settings(store="sqlite", data_dir=tmp_path)
    _, tuesday, _ = at(settings, "16:55")
    assert sessions(tuesday)["after_school"]["in_custody"] > 150
    # When it is opened again on Wednesday afternoon
    _, live = stage_demo(settings, parse_at("15:00"), now=TUESDAY_MORNING + timedelta(days=1))
    views = Views(live.app, settings)
    try:
        views.catch_up()
        school_id = live.player.stager.school_id
        finished = demo_counts(live.app, views, school_id, date(2026, 12, 1))
        alerts = read_alerts(views.view("alerts"), school_id)
    finally:
        views.stop()
        live.close()
    # Then Tuesday ended as it would have, everyone gone and its alerts closed, and Wednesday
    # stands at 15:00
    tue = finished["sessions"]["after_school"]
    assert tue["in_custody"] == tue["not_handed_over"] == 0 and tue["gone"] > 150
    assert held_alerts(alerts) == []
    assert live.moment == datetime(2026, 12, 2, 15, 0, tzinfo=SHANGHAI)
    assert sessions(live)["after_school"]["not_handed_over"] > 150
    assert set(read_days(tmp_path, school_id)) == {"2026-12-01", "2026-12-02"}


def test_the_command_line_refuses_a_demo_time_that_is_not_hh_mm(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--at", "25:00"])
    assert exited.value.code == 2 and "HH:MM" in capsys.readouterr().err


def test_a_demo_time_before_the_school_opens_is_refused_not_moved_to_seven(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--at", "06:30"])
    assert exited.value.code == 2 and "07:00" in capsys.readouterr().err
    assert parse_at("07:00") == time(7, 0)


def test_a_demo_started_before_the_school_opens_says_its_clock_starts_at_seven(
        tmp_path: Path) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path)
    text, live = stage_demo(settings, now=datetime(2026, 12, 1, 5, 40, tzinfo=SHANGHAI))
    live.close()
    assert live.moment == datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI)
    assert "(not 05:40: the demo school opens at 07:00, so the clock starts there)" in text


def test_the_player_does_each_later_step_when_the_running_clock_reaches_it_and_skips_a_misfit(
        tmp_path: Path) -> None:
    # Given a running demo clock and two steps due in a moment, the first no longer fitting
    clock = DemoClock(TUESDAY_MORNING)
    app = HandoverApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    settings = Settings(store="memory", data_dir=tmp_path)
    views = Views(app, settings)
    stager = Stager(app, clock, views, "school-1", tmp_path)
    done: list[datetime] = []

    def misfit() -> None:
        raise RuntimeError("already released at the other gate")

    soon = TUESDAY_MORNING + timedelta(seconds=0.2)
    player = Player(stager, TUESDAY_MORNING.date(), [
        (soon, 0, "release", misfit), (soon, 1, "watch", misfit),
        (soon + timedelta(seconds=0.1), 2, "release", lambda: done.append(clock.now()))])
    clock.run_on()
    # When the player runs
    player.start()
    for _ in range(100):
        if done:
            break
        wallclock.sleep(0.05)
    player.stop()
    app.close()
    # Then the fitting step ran at its time, the misfit was skipped, and how far the day was
    # played is kept
    assert done and done[0] >= soon + timedelta(seconds=0.1)
    assert stager.skipped == 1
    assert read_days(tmp_path, "school-1")["2026-12-01"] >= soon.isoformat()


def test_a_demo_found_again_without_its_json_file_gives_the_gate_tablet_no_staff_token(
        afternoon: dict[str, tuple[str, LiveDemo, list[dict[str, Any]]]], demo_dir: Settings) -> None:
    # Given the demo with its paired-device tablet registered, but demo.json lost
    (demo_dir.data_dir / DEMO_FILE).unlink()
    # When the demo is found again in the store
    demo, _ = open_demo(demo_dir)
    # Then the staff given tokens are the people, not the tablet
    assert demo.staff and all(not s.staff_id.startswith("device-") for s in demo.staff)
