"""What rebuilding every view from zero costs, against reading and decoding the log alone.

    PYTHONPATH=. python -m tools.bench_rebuild --store sqlite --events 60000

On a scratch store: a school of ``--pupils`` enrolled pupils (``tools.bench_setup``), then as
many afternoons as it takes to pass ``--events`` events, each with every pupil signed in at the
gate and released there to a guardian, through the use cases on a fixed clock. Then, in the
same run, it times reading the whole log and decoding every event with the application's
mapper (the ceiling: no view can be rebuilt faster than its events are read), and rebuilding
every view from zero as ``handover rebuild`` and the worker apply the log: the views reset, one
reader applying each batch to every view, each view committing its batch with its position.
Prints events/s of both and the ratio. Not a test: it prints the figures.
"""

from __future__ import annotations

import argparse
import sys
import time as wall
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.domain.common import Actor
from service.projections.runtime import SharedReader
from service.projections.views import PROJECTIONS, Views
from service.settings import Settings
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp
from service.use_cases.clock import FixedClock
from tools.bench_setup import SESSION, SIGN_IN_BATCH, build_school, scratch_store

TZ = ZoneInfo("Asia/Shanghai")


@contextmanager
def school_log(store: str, events: int, pupils: int, *, quiet: bool = False) -> Iterator[Settings]:
    """A scratch store holding at least ``events`` events of a school's afternoons."""
    with scratch_store(store, None) as settings:
        t0 = wall.monotonic()
        built = build_school(settings, pupils)
        clock = FixedClock(datetime.combine(built.day, time(16, 0), TZ))
        app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
        try:
            school = app.school(built.school_id)
            guard = school.member(built.guard_id)
            ids = [pid for pid, _ in built.pupils]
            day = built.day
            while (app.recorder.max_notification_id() or 0) < events:
                day += timedelta(days=1)
                clock.set(datetime.combine(day, time(16, 0), TZ))

                def actor() -> Actor:
                    return Actor(school_id=built.school_id, staff_id=built.guard_id, staff_name=guard["name"],
                                 role="guard", at=clock.now(), device="bench")
                for first in range(0, len(ids), SIGN_IN_BATCH):
                    outcome = app.sign_in(actor(), do.SignIn(tuple(ids[first:first + SIGN_IN_BATCH]),
                                                             built.gate_id, day, SESSION))
                    if not outcome.ok:
                        raise RuntimeError(f"bench sign-in failed: {outcome.result}")
                for pid, guardian_id in built.pupils:
                    outcome = app.release(actor(), do.Release((pid,), built.gate_id, "id_card",
                                                              guardian_id, None, day, SESSION))
                    if not outcome.ok:
                        raise RuntimeError(f"bench release failed: {outcome.result}")
            if not quiet:
                print(f"set-up: {pupils} pupils, {(day - built.day).days} afternoons, "
                      f"{app.recorder.max_notification_id()} events in {wall.monotonic() - t0:.1f}s", flush=True)
        finally:
            app.close()
        yield settings


def read_and_decode(app: HandoverApp, batch_size: int) -> tuple[int, float]:
    """(events, seconds) to read the whole log in batches and decode every event."""
    t0, position, n = wall.perf_counter(), 0, 0
    while notes := app.recorder.select_notifications(position, batch_size, inclusive_of_start=False):
        for note in notes:
            app.mapper.to_domain_event(note)
        n += len(notes)
        position = notes[-1].id
    return n, wall.perf_counter() - t0


def rebuild_all(app: HandoverApp, settings: Settings) -> tuple[int, float]:
    """(events, seconds) to rebuild every view from zero with one reader applying them all."""
    views = Views(app, settings)
    runners = list(views.runners.values())
    for runner in runners:
        runner.view.reset()
    reader = SharedReader(app, runners, signal=app.saved, batch_size=views.batch_size)
    head = app.recorder.max_notification_id() or 0
    t0, n = wall.perf_counter(), 0
    while read := reader.round():
        n += read
    seconds = wall.perf_counter() - t0
    stuck = {name: r.failure.report() for name, r in views.runners.items() if r.failure is not None}
    behind = {name: r.position for name, r in views.runners.items() if r.position != head}
    if stuck or behind:
        raise RuntimeError(f"rebuild did not reach {head}: stuck {stuck}, behind {behind}")
    return n, seconds


def measure(store: str, events: int = 60_000, pupils: int = 1000) -> dict[str, float]:
    """Events/s rebuilding every view, and reading and decoding the log (the reference)."""
    with school_log(store, events, pupils, quiet=True) as settings:
        app = HandoverApp(env=settings.eventsourcing_env())
        try:
            n, ref = read_and_decode(app, settings.view_batch_size)
            m, took = rebuild_all(app, settings)
        finally:
            app.close()
    return {"events_per_s": m / took, "reference_events_per_s": n / ref}


def run(store: str, events: int, pupils: int) -> None:
    with school_log(store, events, pupils) as settings:
        app = HandoverApp(env=settings.eventsourcing_env())
        try:
            n, ref = read_and_decode(app, settings.view_batch_size)
            m, took = rebuild_all(app, settings)
        finally:
            app.close()
    print(f"rebuild of all {len(PROJECTIONS)} views, {store}, {m} events, "
          f"batches of {settings.view_batch_size}, same run:")
    print(f"  read + decode the log (reference) {n / ref:9.0f} events/s ({ref:6.2f} s)")
    print(f"  rebuild every view from zero      {m / took:9.0f} events/s ({took:6.2f} s)"
          f"  {ref / took:5.2f}x of the reference")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--pupils", type=int, default=1000)
    args = parser.parse_args()
    run(args.store, args.events, args.pupils)
    return 0


if __name__ == "__main__":
    sys.exit(main())
