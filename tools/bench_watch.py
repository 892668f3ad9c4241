"""What one watcher round costs at school scale: the deadline index against the full scan.

    PYTHONPATH=. python -m tools.bench_watch --store sqlite --pupils 3000

On a scratch store: a school of ``--pupils`` enrolled pupils (``tools.bench_setup``), every one
signed in at the gate on a fixed clock the next day at 16:00, the views caught up in process.
Then, in the same run and on the same state, it times watcher rounds of both kinds: with
nothing due (nothing changed since the last round, no deadline reached) and with ``--due``
pupils due (released since the last round), and prints the CPU (this thread) and wall time of
each, their medians and the ratio. The index's first round of the day reads everything, as
the scan does; it is printed apart. Not a test: it prints the figures.
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
from service.projections.deadlines import DeadlineIndex
from service.projections.views import Views
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp
from service.use_cases.clock import FixedClock
from tools.bench_setup import SESSION, SIGN_IN_BATCH, build_school, scratch_store

TZ = ZoneInfo("Asia/Shanghai")


def _timed(round_: Callable[[], dict[str, int]]) -> tuple[float, float, dict[str, int]]:
    """(CPU ms of this thread, wall ms, the round's tally)."""
    c0, w0 = wall.thread_time(), wall.perf_counter()
    tally = round_()
    return (wall.thread_time() - c0) * 1000, (wall.perf_counter() - w0) * 1000, tally


def _line(name: str, cpu: list[float], wall_ms: list[float]) -> str:
    return (f"  {name:<22} cpu median {statistics.median(cpu):8.2f} ms  (min {min(cpu):7.2f}, "
            f"max {max(cpu):7.2f})   wall median {statistics.median(wall_ms):8.2f} ms")


def run(store: str, pupils: int, due: int, repeats: int) -> dict[str, float]:
    """Prints the figures; answers the median CPU ms of each kind of round, by name."""
    with scratch_store(store, None) as settings:
        t0 = wall.monotonic()
        built = build_school(settings, pupils)
        print(f"set-up: {pupils} pupils in {wall.monotonic() - t0:.1f}s", flush=True)
        day = built.day + timedelta(days=1)
        clock = FixedClock(datetime.combine(day, time(16, 0), TZ))
        app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
        views = Views(app, settings)
        views.start()
        try:
            school = app.school(built.school_id)
            guard = school.member(built.guard_id)

            def actor() -> Actor:
                return Actor(school_id=school.school_id, staff_id=built.guard_id,
                             staff_name=guard["name"], role="guard", at=clock.now(), device="bench")

            ids = [pid for pid, _ in built.pupils]
            guardian_of = dict(built.pupils)
            for first in range(0, len(ids), SIGN_IN_BATCH):
                outcome = app.sign_in(actor(), do.SignIn(tuple(ids[first:first + SIGN_IN_BATCH]),
                                                         built.gate_id, day, SESSION))
                if not outcome.ok:
                    raise RuntimeError(f"bench sign-in failed: {outcome.result}")
            clock.advance(minutes=5)

            def caught_up() -> None:
                head = app.recorder.max_notification_id()
                for name in ("roster", "alerts"):
                    views.runners[name].wait(head, timeout=120)

            caught_up()
            index = DeadlineIndex(app.recorder, app.name, views.view("roster"), views.view("alerts"))
            cpu, wall_ms, _ = _timed(lambda: app.watch_due(index))
            print(f"index, first round of the day (reads everything): cpu {cpu:.1f} ms, wall {wall_ms:.1f} ms")

            figures: dict[str, tuple[list[float], list[float]]] = {
                k: ([], []) for k in ("index, nothing due", "scan, nothing due",
                                      f"index, {due} due", f"scan, {due} due")}

            def measure(name: str, round_: Callable[[], dict[str, int]]) -> None:
                c, w, tally = _timed(round_)
                if any(tally.values()):
                    raise RuntimeError(f"{name}: the round recorded {tally}; the bench wants none")
                figures[name][0].append(c)
                figures[name][1].append(w)

            released = 0
            for _ in range(repeats):
                clock.advance(seconds=20)
                measure("index, nothing due", lambda: app.watch_due(index))
                measure("scan, nothing due", lambda: app.watch(index))
                batch = ids[released:released + due]
                released += len(batch)
                for pid in batch:
                    outcome = app.release(actor(), do.Release((pid,), built.gate_id, "id_card",
                                                              guardian_of[pid], None, day, SESSION))
                    if not outcome.ok:
                        raise RuntimeError(f"bench release failed: {outcome.result}")
                caught_up()
                clock.advance(seconds=20)
                measure(f"index, {due} due", lambda: app.watch_due(index))  # takes the changes in
                measure(f"scan, {due} due", lambda: app.watch(index))  # the same state, read whole
        finally:
            views.stop()
            app.close()
    print(f"watcher round at {pupils} pupils, {store}, {repeats} rounds of each, same run:")
    for name, (c, w) in figures.items():
        print(_line(name, c, w))
    for what in ("nothing due", f"{due} due"):
        scan = statistics.median(figures[f"scan, {what}"][0])
        fast = statistics.median(figures[f"index, {what}"][0])
        print(f"  {what:<14} index {fast:.2f} ms vs scan {scan:.2f} ms CPU: {scan / max(fast, 1e-3):.0f}x less")
    return {name: statistics.median(c) for name, (c, _) in figures.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pupils", type=int, default=3000)
    parser.add_argument("--due", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run(args.store, args.pupils, args.due, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
