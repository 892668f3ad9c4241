"""A generated month of afternoons at a school, driven through the use cases on a fixed clock.

``generate_month(app, school_id, month, seed)`` moves the application's ``FixedClock`` through
every service day of the month and, as the school's own staff would, records: absences (most
with leave), staff signing on (some late) and off (some early), a substitute (替班) and one
unattended room (空堂), class handovers (two with a miscounted head count), early departures,
the walk to the gate and releases to guardians (one release voided as a mistake and redone),
and one pupil's withdrawal. The same school, month and seed give the same afternoons.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from service.domain.common import Actor
from service.domain.pupil import Pupil
from service.domain.pupil_day import IN_CUSTODY
from service.domain.refs import GroupRecord
from service.domain.school import School
from service.domain.shift import DUTY
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp
from service.use_cases.clock import FixedClock
from service.use_cases.core import Outcome
from service.use_cases.statements import place_dismissal

LATE_SHARE = 0.12
EARLY_OFF_SHARE = 0.10
ABSENT_SHARE = 0.10
LEAVE_SHARE = 0.7  # of absences, reported in advance (请假)
EARLY_DEPARTURE_SHARE = 0.04


@dataclass
class MonthSummary:
    """What was done, by kind: for a banner or a log line, not for the statements."""

    days: list[str] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.done[kind] = self.done.get(kind, 0) + 1


def _ok(outcome: Outcome, what: str) -> dict[str, Any]:
    if not outcome.ok:
        raise RuntimeError(f"month generation failed to {what}: {outcome.result}")
    body: dict[str, Any] = outcome.body
    return body


def service_days(school: School, month: str, session: str) -> list[date]:
    year, mon = (int(x) for x in month.split("-"))
    day, found = date(year, mon, 1), []
    while day.month == mon:
        if school.schedule.runs_on(session, day):
            found.append(day)
        day += timedelta(days=1)
    return found


class _Afternoon:
    """One day's agenda: actions at their times, run in time order on the fixed clock."""

    def __init__(self, gen: _Generator, day: date) -> None:
        self.gen, self.day = gen, day
        self.agenda: list[tuple[datetime, int, Callable[[], object]]] = []

    def act(self, hhmm: time | datetime, kind: str, staff_id: str,
            command: Callable[[Actor], Outcome]) -> None:
        """A staff member's command at that time (acting then, not when planned), counted as ``kind``."""
        self.at(hhmm, lambda: self.gen.do(kind, command(self.gen.actor(staff_id))))

    def at(self, hhmm: time | datetime, action: Callable[[], object]) -> None:
        when = hhmm if isinstance(hhmm, datetime) else datetime.combine(
            self.day, hhmm, tzinfo=self.gen.school.tz)
        self.agenda.append((when, len(self.agenda), action))

    def run(self) -> None:
        for when, _, action in sorted(self.agenda, key=lambda a: (a[0], a[1])):
            # A long queue at the gate may run past the next planned time: never go back.
            self.gen.clock.set(max(when, self.gen.clock.now()))
            action()


class _Generator:
    def __init__(self, app: HandoverApp, school_id: str, month: str, seed: int, session: str) -> None:
        if not isinstance(app.clock, FixedClock):
            raise TypeError("generate_month drives the clock: create the app with a FixedClock")
        self.app, self.clock, self.session = app, app.clock, session
        self.rng = random.Random(seed)
        self.school = app.school(school_id, readonly=True)
        self.school_id = school_id
        self.summary = MonthSummary()
        staff = self.school.staff
        active = sorted((s for s in staff.values() if s["active"]), key=lambda s: s["name"])
        self.admin = next(s["staff_id"] for s in active if "admin" in s["roles"])
        self.guard = next((s["staff_id"] for s in active if "guard" in s["roles"]), None)
        self.duty = [s["staff_id"] for s in active if "duty_leader" in s["roles"]]
        self.gate = min(self.school.gates) if self.school.gates else None
        self.days = service_days(self.school, month, session)
        self.groups = sorted(self.school.groups.values(), key=lambda g: g["name"])
        self.pupils = {pid: app.pupil(school_id, pid, readonly=True) for pid in self.school.roll}
        homerooms = {c["homeroom_teacher_id"] for c in self.school.classes.values()}
        busy = {g["teacher_id"] for g in self.groups} | homerooms
        self.spare = [s["staff_id"] for s in active
                      if "teacher" in s["roles"] and s["staff_id"] not in busy]
        club_teachers = [g["teacher_id"] for g in self.groups if g["kind"] == "club"]
        self.spare += [t for t in club_teachers if t and t not in self.spare]
        # The month's incidents, fixed up front so they do not depend on the daily draws.
        n = len(self.days)
        pick = self.rng.sample(range(n), k=min(n, 4)) if n else []
        self.unattended_day, self.corrected_day = (pick + [-1] * 2)[:2]
        self.mismatch_days = set(pick[2:4])
        # A substitute comes on a day they teach nothing else.
        free = [i for i, d in enumerate(self.days) if i != self.unattended_day and self.spare
                and not any(g["teacher_id"] == self.spare[0] and d.isoweekday() in g["weekdays"]
                            for g in self.groups)]
        self.substitute_day = self.rng.choice(free) if free else -1
        pupils = sorted(self.pupils.values(), key=lambda p: (p.name, str(p.id)))
        self.leaver = pupils[-1] if len(pupils) > 1 else None
        self.leaving_day = self.days[(2 * n) // 3] if n else None
        # The live demo's knobs (the month keeps its defaults): seconds between releases at the
        # gate, and how many minutes after their band's dismissal some pupils are collected late.
        self.release_gap = 20.0
        self.late_minutes: list[int] = []
        self.late: set[str] = set()
        # How long before their dismissal a class walks to the gate; the minutes over which its
        # families arrive (0: all at once, one after another); which gate a class leaves by and
        # the guards on duty at each gate (the month: one gate, one guard, no gate shifts).
        self.walk_before = timedelta(minutes=25)
        self.arrivals_over = 0
        self.arrivals = random.Random(seed + 1)  # its own draws: the day's others stay as they were
        self.gate_of_class: dict[str, str] = {}
        self.guards_at: dict[str, list[str]] = {}

    def actor(self, staff_id: str) -> Actor:
        member = self.school.staff[staff_id]
        return Actor(school_id=self.school_id, staff_id=staff_id, staff_name=member["name"],
                     role=member["roles"][0], at=self.app.now(), device="demo-month")

    def do(self, kind: str, outcome: Outcome) -> dict[str, Any]:
        body = _ok(outcome, kind)
        self.summary.count(kind)
        return body

    # -- a day ----------------------------------------------------------------------------
    def afternoon(self, index: int, day: date) -> None:
        self.plan_afternoon(index, day).run()

    def plan_afternoon(self, index: int, day: date) -> _Afternoon:
        """The day's agenda, not yet run (the live demo runs it as its clock gets there)."""
        a = _Afternoon(self, day)
        start = self.school.schedule.start_at(self.session, day, self.school.tz)
        if self.leaver is not None and day == self.leaving_day:
            # Before the day is planned: from today the pupil is no longer expected.
            self.clock.set(datetime.combine(day, time(7, 30), tzinfo=self.school.tz))
            self.do("withdrawal", self.app.withdraw_enrolment(
                self.actor(self.admin), str(self.leaver.id), day, "家庭搬迁，申请退出课后服务"))
        meeting = [g for g in self.groups if day.isoweekday() in g["weekdays"] and g["teacher_id"]]
        homework = [g for g in meeting if g["kind"] == "homework"]
        unattended = homework[0]["group_id"] if homework and index == self.unattended_day else None
        covered = homework[-1]["group_id"] if homework and index == self.substitute_day else None
        for g in meeting:
            sub = self.spare[0] if g["group_id"] == covered else None
            self.plan_group(a, index, day, start, g, g["group_id"] != unattended, sub)
        latest = place_dismissal(self.school, DUTY, self.session, day)
        first = min((place_dismissal(self.school, g["group_id"], self.session, day)
                     for g in homework), default=latest)
        for gate_id, guards in self.guards_at.items():
            for k, guard in enumerate(guards):
                a.act(first - timedelta(minutes=30 - 2 * k), "sign_on", guard, partial(
                    self.app.sign_on, cmd=do.SignOn(gate_id, self.session)))
                a.act(latest + timedelta(minutes=90), "sign_off", guard, partial(
                    self.app.sign_off, place_id=gate_id, session=self.session, staff_id=None))
        for leader in self.duty:
            a.act(start - timedelta(minutes=5), "sign_on", leader, partial(
                self.app.sign_on, cmd=do.SignOn(DUTY, self.session)))
            a.act(latest + timedelta(minutes=15), "sign_off", leader, partial(
                self.app.sign_off, place_id=DUTY, session=self.session, staff_id=None))
        return a

    def expected(self, day: date, class_ids: list[str]) -> list[Pupil]:
        found = [p for p in self.pupils.values() if p.class_id in class_ids
                 and self.app.pupil(self.school_id, str(p.id), readonly=True).expected_on(day, self.session)]
        return sorted(found, key=lambda p: (p.name, str(p.id)))

    def plan_group(self, a: _Afternoon, index: int, day: date, start: datetime,
                   g: GroupRecord, signs_on: bool, substitute: str | None) -> None:
        """The group's keeper signs on and off; its classes are handed over, walked out, released."""
        gid, teacher = g["group_id"], g["teacher_id"]
        assert teacher is not None, "the demo school gives every group a teacher"
        dismissal = place_dismissal(self.school, gid, self.session, day)
        keeper = substitute or teacher
        if signs_on and substitute is not None:
            on_at = start - timedelta(minutes=3)
            a.act(on_at, "substitute", self.admin, lambda actor: self.app.sign_on(
                actor, do.SignOn(gid, self.session, keeper, teacher)))
        elif signs_on:
            late = self.rng.random() < LATE_SHARE
            on_at = start + timedelta(minutes=self.rng.randint(8, 25) if late
                                      else -self.rng.randint(0, 10))
            a.act(on_at, "sign_on", teacher, lambda actor: self.app.sign_on(
                actor, do.SignOn(gid, self.session)))
        else:
            on_at = start
        if signs_on:
            early = self.rng.random() < EARLY_OFF_SHARE
            off_at = dismissal + timedelta(minutes=-self.rng.randint(10, 20) if early else 5)
            a.act(off_at, "sign_off", keeper, lambda actor: self.app.sign_off(
                actor, gid, self.session, None))
        if g["kind"] != "homework":
            return
        for class_id in g["class_ids"]:
            self.plan_class(a, index, day, start, on_at, dismissal, class_id, gid, keeper)

    def plan_class(self, a: _Afternoon, index: int, day: date, start: datetime, on_at: datetime,
                   dismissal: datetime, class_id: str, gid: str, keeper: str) -> None:
        homeroom = self.school.classes[class_id]["homeroom_teacher_id"] or self.admin
        staying = []
        for k, p in enumerate(self.expected(day, [class_id])):
            if self.rng.random() < ABSENT_SHARE:
                leave = self.rng.random() < LEAVE_SHARE
                a.act(time(8, 0, k % 60), "absence", homeroom, partial(
                    self.app.mark_absent, cmd=do.MarkAbsent(
                        str(p.id), leave, "病假" if leave else "未到", day, self.session)))
            else:
                staying.append(p)
        if not staying:
            return
        ids = [str(p.id) for p in staying]
        wrong = index in self.mismatch_days
        self.mismatch_days.discard(index)  # one miscount per chosen day
        taken: dict[str, str] = {}
        if homeroom == keeper:
            a.act(start + timedelta(minutes=5), "sign_in", keeper, lambda actor: self.app.sign_in(
                actor, do.SignIn(tuple(ids), gid, day, self.session)))
        else:
            def offer() -> None:
                taken["id"] = self.do("handover", self.app.hand_over(self.actor(homeroom), do.HandOver(
                    keeper, gid, len(ids) + (1 if wrong else 0), tuple(ids), day=day,
                    session=self.session)))["handover_id"]
            a.at(start + timedelta(minutes=5), offer)
            a.act(max(start + timedelta(minutes=6), on_at + timedelta(minutes=1)), "confirm", keeper,
                  lambda actor: self.app.confirm_handover(actor, do.ConfirmHandover(taken["id"], len(ids))))
        for p in staying:
            if self.rng.random() < EARLY_DEPARTURE_SHARE:
                a.at(start + timedelta(minutes=40), partial(self.leave_early, p, day, keeper, homeroom))
        gate, guard = self.gate_and_guard(class_id)
        a.at(dismissal - self.walk_before, lambda: self.to_gate(day, ids, keeper, gate, guard))
        if self.arrivals_over:
            for pid in ids:  # families arrive in turn over the minutes after the dismissal
                arrives = timedelta(seconds=self.arrivals.randint(30, 60 * self.arrivals_over))
                a.at(dismissal + arrives, partial(self.release_all, index, day, [pid]))
        else:
            a.at(dismissal + timedelta(minutes=1), lambda: self.release_all(index, day, ids))
        if self.late_minutes and dismissal == place_dismissal(self.school, DUTY, self.session, day):
            late = next((p for p in staying if self.collector(p, day) is not None), None)
            if late is not None:
                self.late.add(str(late.id))
                a.at(dismissal + timedelta(minutes=self.late_minutes.pop(0)),
                     partial(self.release_one, index, day, str(late.id)))

    def collector(self, p: Pupil, day: date) -> str | None:
        found = p.collectors_on(day)
        return found[0].ref_id if found else None

    def leave_early(self, p: Pupil, day: date, keeper: str, homeroom: str) -> None:
        collector = self.collector(p, day)
        if collector is not None and self.in_custody_of(p, day, keeper):
            self.do("early_departure", self.app.leave_early(self.actor(keeper), do.LeaveEarly(
                str(p.id), homeroom, "家长提前接回（看病）", True, collector, day=day,
                session=self.session)))

    def in_custody_of(self, p: Pupil, day: date, staff_id: str) -> bool:
        pd = self.app.existing_pupil_day(self.school_id, str(p.id), day, self.session)
        if pd is None or pd.status != IN_CUSTODY or pd.state["pending"] is not None:
            return False
        custodian = pd.state["custodian"]
        return custodian is not None and custodian["staff_id"] == staff_id

    def gate_and_guard(self, class_id: str) -> tuple[str | None, str | None]:
        """The gate a class leaves by and the guard there who receives it (taking turns)."""
        gate = self.gate_of_class.get(class_id, self.gate)
        guards = self.guards_at.get(gate or "", [])
        if not guards:
            return gate, self.guard
        turn = sorted(c for c, g in self.gate_of_class.items() if g == gate).index(class_id)
        return gate, guards[turn % len(guards)]

    def to_gate(self, day: date, ids: list[str], keeper: str, gate: str | None = None,
                guard: str | None = None) -> None:
        gate, guard = gate or self.gate, guard or self.guard
        if guard is None or gate is None:
            return
        walking = [pid for pid in ids if self.in_custody_of(self.pupils[pid], day, keeper)]
        if not walking:
            return
        body = self.do("to_gate", self.app.hand_over(self.actor(keeper), do.HandOver(
            guard, gate, len(walking), tuple(walking), day=day, session=self.session)))
        self.do("confirm", self.app.confirm_handover(
            self.actor(guard), do.ConfirmHandover(body["handover_id"], len(walking))))

    def release_all(self, index: int, day: date, ids: list[str]) -> None:
        for pid in ids:
            if pid not in self.late:
                self.release_one(index, day, pid)

    def release_one(self, index: int, day: date, pid: str) -> None:
        p = self.pupils[pid]
        gate, _ = self.gate_and_guard(p.class_id)
        guards = [*self.guards_at.get(gate or "", []), *([self.guard] if self.guard else [])]
        holder = next((g for g in guards if self.in_custody_of(p, day, g)), None)
        if holder is None or gate is None:
            return
        collector = self.collector(p, day)
        if collector is None:
            return
        if not self.arrivals_over:
            self.clock.advance(seconds=self.release_gap)
        body = self.do("release", self.app.release(self.actor(holder), do.Release(
            (pid,), gate, "known_to_staff", collector, day=day, session=self.session)))
        if index == self.corrected_day:
            self.corrected_day = -1  # one mistaken release this month, voided and redone
            self.clock.advance(seconds=30)
            seq = body["pupils"][0]["version"]
            self.do("correction", self.app.correct(self.actor(holder), do.Correct(
                pid, day, seq, "点错了学生，实际尚未离校 / wrong pupil tapped", self.session)))
            self.clock.advance(seconds=30)
            self.do("release", self.app.release(self.actor(holder), do.Release(
                (pid,), gate, "known_to_staff", collector, day=day, session=self.session)))


def generate_month(app: HandoverApp, school_id: str, month: str, seed: int,
                   session: str = "after_school") -> MonthSummary:
    """Drive every service day of ``month`` (YYYY-MM) through the use cases; deterministic."""
    gen = _Generator(app, school_id, month, seed, session)
    for index, day in enumerate(gen.days):
        gen.afternoon(index, day)
        gen.summary.days.append(day.isoformat())
    return gen.summary
