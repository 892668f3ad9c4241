"""Today at the demo school: the day staged up to the demo clock, then played on live from there.

``handover demo`` shows the afternoon as it would stand at this time of day, and
``handover demo --at 16:55`` as it stands at 16:55 on the nearest service day, the demo clock
running on from there. The day is the month generator's (``service.demo.month``) without its
monthly incidents: absences in the morning, noon care, the after-school session's handovers,
groups in session, early departures, the walk to the gate and the releases, and two pupils of the
last band collected late (their alerts raised, escalated and closed as a watcher would). What is
due before the demo clock is recorded at its own time, with the watcher going round every five
minutes; what is due later is done by a background player as the clock gets there, so the
afternoon moves on while people use the demo, and a day left half-played is finished first on
the next start. Staff acting in the demo meanwhile are not overruled: a step that no longer fits
is skipped.
"""

from __future__ import annotations

import json
import logging
import threading
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.adapters.files import private_file
from service.application import HandoverApp
from service.demo.month import _Generator
from service.demo.school import (
    DEMO_FILE,
    GATE_GUARDS,
    GATE_OF_GRADE,
    GATES,
    SEED,
    TIMEZONE,
    Demo,
    _read_saved,
    banner,
    demo_schedule,
    open_demo,
)
from service.domain.common import Actor, Role
from service.domain.device import is_device
from service.domain.pupil_day import ABSENT, GONE, IN_CUSTODY, NOT_HANDED_OVER
from service.domain.schedule import Schedule
from service.projections.alerts import read_alerts
from service.projections.live import LiveViews
from service.projections.roster import read_roster
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.clock import FixedClock

log = logging.getLogger(__name__)

DAYS_FILE = "demo-days.json"  # how far each day was played, beside demo.json
DAY_STARTS = time(7, 0)  # the school opens: set-up happens before anyone acts
WATCH_EVERY = timedelta(minutes=5)
RELEASE_GAP = 5.0  # seconds between releases at the gate: two gates, families arriving in turn
WALK_BEFORE = timedelta(minutes=5)  # a class walks to its gate this long before its dismissal
ARRIVALS_OVER = 8  # minutes after the dismissal over which a class's families arrive (in the grace)
LATE_MINUTES = [25, 75]  # two pupils of the last band collected this long after its dismissal
LOOK_AHEAD_DAYS = 14
DEMO_TABLET = "东门平板"
Step = tuple[datetime, int, str, Callable[[], object]]


class DemoClock(FixedClock):
    """Stands still while the demo stages the day (the staging sets it), then runs on in real
    time from where it stood."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at)
        self._since: float | None = None

    @property
    def running(self) -> bool:
        return self._since is not None

    def now(self) -> datetime:
        with self._lock:
            if self._since is None:
                return self._at
            return self._at + timedelta(seconds=wallclock.monotonic() - self._since)

    def run_on(self) -> None:
        with self._lock:
            self._since = wallclock.monotonic()

    def set(self, at: datetime) -> None:
        if self.running:
            raise RuntimeError("the demo clock runs on by itself now")
        super().set(at)

    def advance(self, **delta: float) -> datetime:
        if self.running:  # a step that takes a while (the next release) takes it for real
            wallclock.sleep(timedelta(**delta).total_seconds())
            return self.now()
        return super().advance(**delta)


def parse_at(text: str) -> time:
    """``HH:MM`` (24-hour), as ``--at`` takes it: from the school's opening (07:00) on, since
    nothing happens before it that the demo could show."""
    try:
        found = datetime.strptime(text.strip(), "%H:%M").time()
    except ValueError:
        raise ValueError(f"--at takes a time of day as HH:MM, not {text!r}") from None
    if found < DAY_STARTS:
        raise ValueError(f"--at {text.strip()}: the demo school opens at {DAY_STARTS:%H:%M}; "
                         f"give a time from {DAY_STARTS:%H:%M} to 23:59")
    return found


# -- how far each day was played ------------------------------------------------------------------
def read_days(data_dir: Path, school_id: str | None) -> dict[str, str]:
    """How far each day of this school was played (nothing, for another school's file)."""
    try:
        data = json.loads((data_dir / DAYS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or school_id is None or data.get("school_id") != school_id:
        return {}
    days = data.get("days")
    return {k: v for k, v in days.items() if isinstance(v, str)} if isinstance(days, dict) else {}


def write_days(data_dir: Path, school_id: str, days: dict[str, str]) -> None:
    path = data_dir / DAYS_FILE
    try:
        private_file(path)
        path.write_text(json.dumps({"school_id": school_id, "days": dict(sorted(days.items()))},
                                   indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        log.warning("could not remember how far the demo day was played in %s: %s", path, e)


def end_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59), tzinfo=tz)


def demo_moment(schedule: Schedule, tz: ZoneInfo, now: datetime, at: time | None,
                played: dict[str, str]) -> datetime:
    """The demo clock's start: ``at`` (or now's time of day) on the nearest service day from
    today that the demo has not played past that time already (a day cannot be played back)."""
    local = now.astimezone(tz)
    clock_time = at or local.time().replace(microsecond=0)
    for ahead in range(LOOK_AHEAD_DAYS):
        day = local.date() + timedelta(days=ahead)
        moment = datetime.combine(day, clock_time, tzinfo=tz)
        until = played.get(day.isoformat())
        if schedule.sessions_on(day) and (until is None or datetime.fromisoformat(until) <= moment):
            return moment
    raise RuntimeError(f"no service day in the next {LOOK_AHEAD_DAYS} days can be shown at "
                       f"{clock_time:%H:%M}; remove the demo data directory to start afresh")


# -- a day's agenda -----------------------------------------------------------------------------
def day_agenda(app: HandoverApp, school_id: str, day: date) -> list[Step]:
    """Every step of the day at the demo school, in time order, with the watcher's rounds."""
    school = app.school(school_id, readonly=True)
    steps: list[Step] = []
    for n, spec in enumerate(school.schedule.sessions_on(day)):
        gen = _Generator(app, school_id, day.strftime("%Y-%m"), SEED + day.toordinal() * 7 + n,
                         spec.key)
        # An ordinary day: the month's incidents (an empty room, a miscount, a withdrawal) stay
        # in the month generator; the demo has two late pickups instead.
        gen.unattended_day = gen.corrected_day = gen.substitute_day = -1
        gen.mismatch_days = set()
        gen.leaver = None
        # A paired gate tablet is a guard too: the demo's releases stay with the guard on duty.
        gen.guard = next((m["staff_id"] for m in sorted(school.staff.values(), key=lambda m: m["name"])
                          if m["active"] and "guard" in m["roles"] and not is_device(m["staff_id"])),
                         None)
        gen.release_gap = RELEASE_GAP
        # Each class walks to its grade's gate just before its band is dismissed, is received
        # there by one of that gate's guards (signed on at their gate), and its families arrive
        # over the next minutes.
        gen.walk_before, gen.arrivals_over = WALK_BEFORE, ARRIVALS_OVER
        named = {m["name"]: m["staff_id"] for m in school.staff.values()
                 if m["active"] and "guard" in m["roles"] and not is_device(m["staff_id"])}
        gates = {g["name"]: g["gate_id"] for g in school.gates.values()}
        gen.guards_at = {gates[gate]: [named[n] for n in names if n in named]
                         for gate, names in GATE_GUARDS.items() if gate in gates}
        gen.guards_at = {g: guards for g, guards in gen.guards_at.items() if guards}
        gen.gate_of_class = {cid: gates[GATE_OF_GRADE[c["grade"]]] for cid, c in school.classes.items()
                             if GATE_OF_GRADE.get(c["grade"]) in gates
                             and gates[GATE_OF_GRADE[c["grade"]]] in gen.guards_at}
        if spec.key == "after_school":
            gen.late_minutes = list(LATE_MINUTES)
        planned = gen.plan_afternoon(gen.days.index(day), day)
        steps += [(when, 0, spec.key, action) for when, _, action in planned.agenda]
    if not steps:
        return []
    first = min(s[0] for s in steps)
    tick = first
    while tick <= end_of(day, school.tz) - timedelta(hours=2):
        steps.append((tick, 1, "watch", lambda: None))  # the watcher's round: see Stager.step
        tick += WATCH_EVERY
    ordered = sorted(steps, key=lambda s: (s[0], s[1]))
    return [(when, k, kind, action) for k, (when, _, kind, action) in enumerate(ordered)]


@dataclass
class Stager:
    """Plays a day's steps on one application: at once up to a time, or live as time passes."""

    app: HandoverApp
    clock: DemoClock
    views: Views
    school_id: str
    data_dir: Path
    played: dict[str, str] = field(default_factory=dict)
    skipped: int = 0

    def step(self, kind: str, action: Callable[[], object], live: bool) -> None:
        if kind == "watch":
            if not live:  # while serving, the service's own watcher goes round
                self.views.catch_up()
                self.app.watch(LiveViews(self.views.view("roster"), self.views.view("alerts")))
            return
        try:
            action()
        except Exception as e:  # noqa: BLE001 - staff using the demo may have acted first
            self.skipped += 1
            log.warning("demo step skipped (%s): %s", kind, e)

    def play(self, day: date, until: datetime, steps: list[Step]) -> int:
        """Every one of the day's steps due after what was played already, up to ``until``."""
        after = self.played.get(day.isoformat())
        start = datetime.fromisoformat(after) if after else None
        done = 0
        for when, _, kind, action in steps:
            if (start is not None and when <= start) or when > until:
                continue
            self.clock.set(max(when, self.clock.now()))
            self.step(kind, action, live=False)
            done += 1
        self.played[day.isoformat()] = until.isoformat()
        self.remember()
        return done

    def remember(self) -> None:
        write_days(self.data_dir, self.school_id, self.played)

    def finish_earlier_days(self, before: date, tz: ZoneInfo) -> None:
        """A day the demo left half-played ends as it would have: everyone goes home."""
        for iso, until in sorted(self.played.items()):
            day = date.fromisoformat(iso)
            if day < before and datetime.fromisoformat(until) < end_of(day, tz):
                self.clock.set(datetime.fromisoformat(until))
                self.play(day, end_of(day, tz), day_agenda(self.app, self.school_id, day))


class Player:
    """Plays the rest of the day in the background, each step when the demo clock reaches it."""

    def __init__(self, stager: Stager, day: date, steps: list[Step]) -> None:
        self.stager, self.day, self.steps = stager, day, steps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-player", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        clock = self.stager.clock
        for when, _, kind, action in self.steps:
            while (wait := (when - clock.now()).total_seconds()) > 0:
                if self._stop.wait(min(wait, 5.0)):
                    return
            if self._stop.is_set():
                return
            self.stager.step(kind, action, live=True)
            if kind != "watch":
                self.stager.played[self.day.isoformat()] = max(when, clock.now()).isoformat()
                self.stager.remember()


@dataclass
class LiveDemo:
    app: HandoverApp
    clock: DemoClock
    moment: datetime
    player: Player
    counts: dict[str, Any]
    tablet: dict[str, Any] | None = None
    asked: datetime | None = None  # the moment asked for (before the opening, the clock starts then)

    def close(self) -> None:
        self.player.stop()
        self.app.close()


def stage_demo(settings: Settings, at: time | None = None, *,
               now: datetime | None = None) -> tuple[str, LiveDemo]:
    """Build or find the demo school, play today up to the demo clock, and say how it stands.

    Returns the banner and the live demo: serve its application (its clock runs on from the
    moment shown) and start its player."""
    tz = ZoneInfo(TIMEZONE)
    known = (_read_saved(settings.data_dir / DEMO_FILE) or {}).get("school_id")
    played = read_days(settings.data_dir, known if isinstance(known, str) else None)
    moment = demo_moment(Schedule.from_dict(demo_schedule()), tz, now or datetime.now(UTC), at,
                         played)
    today = moment.date()
    before = played.get(today.isoformat())
    opens = datetime.fromisoformat(before) if before else datetime.combine(today, DAY_STARTS, tzinfo=tz)
    clock = DemoClock(opens)
    demo, summary = open_demo(settings, clock=clock)
    if demo.created:
        played = {}  # a new school: nothing of it was played yet
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    views = Views(app, settings)
    try:
        stager = Stager(app, clock, views, demo.school_id, settings.data_dir, played)
        stager.finish_earlier_days(today, tz)
        clock.set(opens)
        steps = day_agenda(app, demo.school_id, today)
        stager.play(today, moment, steps)
        clock.set(max(clock.now(), moment))
        views.catch_up()
        counts = demo_counts(app, views, demo.school_id, today)
    except BaseException:
        views.stop()
        app.close()
        raise
    views.stop()
    rest = [s for s in steps if s[0] > moment]
    live = LiveDemo(app, clock, clock.now(), Player(stager, today, rest), counts,
                    pairing_code(app, demo), asked=moment)
    return banner(settings, demo, summary) + "\n" + describe(live), live


def pairing_code(app: HandoverApp, demo: Demo) -> dict[str, Any] | None:
    """A fresh code for the demo's east-gate tablet (registered on the first run)."""
    admin = demo.admin
    actor = Actor(school_id=demo.school_id, staff_id=admin.staff_id, staff_name=admin.name,
                  role=Role.ADMIN.value, at=app.now(), device="demo-setup")
    school = app.school(demo.school_id, readonly=True)
    gate = next((g for g in school.gates.values() if g["name"] == GATES[0]), None)
    if gate is None:
        return None
    known = next((d for d in app.list_devices(actor) if d["name"] == DEMO_TABLET
                  and d["status"] != "revoked"), None)
    outcome = (app.issue_pairing_code(actor, known["device_id"]) if known
               else app.register_device(actor, DEMO_TABLET, "gate_tablet", gate["gate_id"]))
    body: dict[str, Any] | None = outcome.body if outcome.ok else None
    return body


def demo_counts(app: HandoverApp, views: Views, school_id: str, day: date) -> dict[str, Any]:
    """Pupils by status in each session today, and the alerts not yet resolved, by kind."""
    school = app.school(school_id, readonly=True)
    sessions: dict[str, dict[str, int]] = {}
    for spec in school.schedule.sessions_on(day):
        found = read_roster(views.view("roster"), school_id, day, spec.key) or {}
        tally = {NOT_HANDED_OVER: 0, IN_CUSTODY: 0, GONE: 0, ABSENT: 0}
        for row in found.get("pupils", []):
            tally[row["status"]] = tally.get(row["status"], 0) + 1
        sessions[spec.key] = tally
    alerts: dict[str, int] = {}
    for doc in read_alerts(views.view("alerts"), school_id):
        if doc["status"] != "resolved":
            alerts[doc["kind"]] = alerts.get(doc["kind"], 0) + 1
    return {"day": day.isoformat(), "sessions": sessions, "open_alerts": alerts}


def describe(live: LiveDemo) -> str:
    c = live.counts
    lines = [(f"Demo clock 演示时钟: {live.moment:%Y-%m-%d %H:%M} (Asia/Shanghai), running on "
              "from there; the afternoon plays on by itself while you use it")]
    if live.asked is not None and live.asked.time() < DAY_STARTS:
        lines.append(f"  (not {live.asked:%H:%M}: the demo school opens at {DAY_STARTS:%H:%M}, "
                     "so the clock starts there)")
    for session, t in c["sessions"].items():
        lines.append(f"  {session}: {t[NOT_HANDED_OVER]} not yet handed over, {t[IN_CUSTODY]} in "
                     f"custody, {t[GONE]} gone home, {t[ABSENT]} absent")
    open_alerts = ", ".join(f"{k} {n}" for k, n in sorted(c["open_alerts"].items())) or "none"
    lines.append(f"  open alerts: {open_alerts}")
    if live.tablet is not None:
        lines.append(f"Pair the {live.tablet['name']} gate tablet with code {live.tablet['code']} "
                     f"(once, until {live.tablet['code_expires_at'][11:16]} on the demo clock): "
                     "POST /v1/devices/pair")
    return "\n".join(lines)
