"""How long the school takes to rebuild as it stood at a past minute, for a whole school-day.

    PYTHONPATH=. python -m tools.bench_asof --store postgres --pupils 3000

On a scratch store: a school of ``--pupils`` enrolled pupils (``tools.bench_setup``), then one
afternoon on a fixed clock the next day: the guard signs every pupil in at the gate (60 at a
time) from 16:00, then releases each to their guardian, one every ``--gap`` seconds. Then, for
several minutes of that afternoon, it times the as-of roster (binary search, replay of the log
up to that minute into an in-memory roster, the read), the custody answer for one pupil and
that pupil's day, in-process (the HTTP layer adds the JSON of the answer only). Not a test: it
prints the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time as wall
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.domain.common import Actor
from service.projections import history
from service.settings import Settings
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp
from service.use_cases.clock import FixedClock
from tools.bench_setup import SESSION, SIGN_IN_BATCH, build_school, scratch_store

TZ = ZoneInfo("Asia/Shanghai")


def _ok(outcome: object, what: str) -> None:
    if not getattr(outcome, "ok", False):
        raise RuntimeError(f"bench afternoon failed to {what}: {getattr(outcome, 'result', outcome)}")


def _timed(call: Callable[..., object], *args: object) -> float:
    t = wall.monotonic()
    call(*args)
    return wall.monotonic() - t


def run(store: str, pupils: int, gap: float, repeats: int) -> None:
    with scratch_store(store, None) as settings:
        t0 = wall.monotonic()
        school_built = build_school(settings, pupils)
        print(f"set-up: {pupils} pupils in {wall.monotonic() - t0:.1f}s", flush=True)
        day = school_built.day + timedelta(days=1)
        clock = FixedClock(datetime.combine(day, time(16, 0), TZ))
        app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
        try:
            school = app.school(school_built.school_id)
            guard = school.member(school_built.guard_id)

            def actor() -> Actor:
                return Actor(school_id=school.school_id, staff_id=school_built.guard_id,
                             staff_name=guard["name"], role="guard", at=clock.now(), device="bench")

            t0 = wall.monotonic()
            ids = [pid for pid, _ in school_built.pupils]
            for first in range(0, len(ids), SIGN_IN_BATCH):
                _ok(app.sign_in(actor(), do.SignIn(tuple(ids[first:first + SIGN_IN_BATCH]),
                                                   school_built.gate_id, day, SESSION)), "sign in")
                clock.advance(seconds=5)
            clock.set(datetime.combine(day, time(17, 0), TZ))
            for pid, guardian_id in school_built.pupils:
                _ok(app.release(actor(), do.Release((pid,), school_built.gate_id, "known_to_staff",
                                                     guardian_id, day=day, session=SESSION)), "release")
                clock.advance(seconds=gap)
            end = clock.now()
            head = app.recorder.max_notification_id() or 0
            print(f"afternoon: {len(ids)} signed in, {len(ids)} released, 16:00–{end:%H:%M} "
                  f"in {wall.monotonic() - t0:.1f}s; the log holds {head} events", flush=True)

            school = app.school(school.school_id, readonly=True)
            middle = datetime.combine(day, time(17, 0), TZ) + (end - datetime.combine(day, time(17, 0), TZ)) / 2
            minutes = {"16:30 (all held)": datetime.combine(day, time(16, 30), TZ),
                       f"{middle:%H:%M} (half gone)": middle, f"{end:%H:%M} (all gone)": end}
            probe_pupil = ids[len(ids) // 2]
            for label, moment in minutes.items():
                took = []
                for _ in range(repeats):
                    t = wall.monotonic()
                    found = history.roster_as_of(app, school, moment, SESSION)
                    took.append(wall.monotonic() - t)
                step = _timed(history.roster_as_of, app, school, moment + timedelta(minutes=1), SESSION)
                print(f"as-of roster at {label}: first {took[0] * 1000:.0f} ms, warm median "
                      f"{statistics.median(took[1:] or took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms "
                      f"over {repeats}, a slider step (+1 min) {step * 1000:.0f} ms "
                      f"({found['counts']['by_status']}, position {found['position']} of {found['head']})",
                      flush=True)
                t = wall.monotonic()
                custody = history.custody_at(app, school, probe_pupil, moment, SESSION)
                print(f"  custody of one pupil at {label}: {wall.monotonic() - t:.3f}s "
                      f"({custody['status']})", flush=True)
            t = wall.monotonic()
            timeline = history.pupil_day_timeline(app, school, probe_pupil, day)
            print(f"one pupil's day: {wall.monotonic() - t:.3f}s ({len(timeline['entries'])} entries)")
            over_http(settings, app, clock, school_built.admin_token, school_built.guard_id, minutes, repeats)
        finally:
            app.close()


def over_http(settings: Settings, app: HandoverApp, clock: FixedClock, token: str, guard_id: str,
              minutes: dict[str, datetime], repeats: int) -> None:
    """The same minutes through ``GET /v1/roster/as-of`` (every pupil's row as JSON), once the
    service's own views have caught up, so they do not share the CPU with the answer."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    with TestClient(create_app(settings, application=app, clock=clock)) as client:
        head = app.recorder.max_notification_id() or 0
        client.app.state.views.reflect("roster", head, timeout=600)  # type: ignore[attr-defined]
        def as_of(moment: datetime) -> int:
            r = client.get("/v1/roster/as-of", params={"at": moment.isoformat(timespec="seconds")},
                           headers={"Authorization": f"Bearer {token}"})
            if r.status_code != 200:
                raise RuntimeError(f"as-of over HTTP: {r.status_code} {r.text[:300]}")
            return len(r.content)

        for label, moment in minutes.items():
            took = []
            for _ in range(repeats):
                t = wall.monotonic()
                size = as_of(moment)
                took.append(wall.monotonic() - t)
            step = _timed(as_of, moment + timedelta(minutes=1))
            print(f"GET /v1/roster/as-of at {label}: first {took[0] * 1000:.0f} ms, warm median "
                  f"{statistics.median(took[1:] or took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms "
                  f"over {repeats}, a slider step (+1 min) {step * 1000:.0f} ms ({size // 1024} KiB)",
                  flush=True)
        day = next(iter(minutes.values())).date().isoformat()
        t = wall.monotonic()
        r = client.get(f"/v1/staff/{guard_id}/shift", params={"day": day},
                       headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 200:
            raise RuntimeError(f"shift over HTTP: {r.status_code} {r.text[:300]}")
        print(f"GET /v1/staff/<guard>/shift (every sign-in and release of the day): "
              f"{wall.monotonic() - t:.2f}s ({len(r.json()['entries'])} entries)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pupils", type=int, default=3000)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between releases")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run(args.store, args.pupils, args.gap, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
