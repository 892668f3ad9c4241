"""How long the inspector's audit search and a pupil's evidence pack take over days of a large school.

    PYTHONPATH=. python -m tools.bench_audit --store sqlite --pupils 3000 --days 5

On a scratch store: a school of ``--pupils`` enrolled pupils (``tools.bench_setup``), then
``--days`` afternoons on a fixed clock (every pupil signed in at the gate, 60 at a time, from
16:00, then each released to their guardian), the evidence chain computed and signed. Then it
times, in-process: a search for one pupil's events over the whole range (every page, as the
screen's "search further" would), the first page of a staff member's events and of one event
type, and that pupil's evidence pack over the range (every event with its inclusion proof
checked), and the live store verified against its checkpoints. Not a test: it prints the
figures, with the log's size, so a month can be read off.
"""

from __future__ import annotations

import argparse
import sys
import time as wall
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.domain.common import Actor
from service.domain.evidence import verify_export
from service.domain.privacy import Data
from service.projections.views import Views
from service.reports import audit
from service.reports.evidence import export_lines
from service.reports.evidence_pack import evidence_pack
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp
from service.use_cases.clock import FixedClock
from tools.bench_setup import SESSION, SIGN_IN_BATCH, build_school, scratch_store

TZ = ZoneInfo("Asia/Shanghai")


def _ok(outcome: object, what: str) -> None:
    if not getattr(outcome, "ok", False):
        raise RuntimeError(f"bench afternoon failed to {what}: {getattr(outcome, 'result', outcome)}")


def run(store: str, pupils: int, days: int) -> None:
    with scratch_store(store, None) as settings:
        t0 = wall.monotonic()
        built = build_school(settings, pupils)
        print(f"set-up: {pupils} pupils in {wall.monotonic() - t0:.1f}s", flush=True)
        first = built.day + timedelta(days=1)
        clock = FixedClock(datetime.combine(first, time(16, 0), TZ))
        app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
        views = Views(app, settings)
        try:
            school = app.school(built.school_id)
            guard = school.member(built.guard_id)

            def actor() -> Actor:
                return Actor(school_id=school.school_id, staff_id=built.guard_id,
                             staff_name=guard["name"], role="guard", at=clock.now(), device="bench")

            ids = [pid for pid, _ in built.pupils]
            t0 = wall.monotonic()
            for n in range(days):
                day = first + timedelta(days=n)
                clock.set(datetime.combine(day, time(16, 0), TZ))
                for at in range(0, len(ids), SIGN_IN_BATCH):
                    _ok(app.sign_in(actor(), do.SignIn(tuple(ids[at:at + SIGN_IN_BATCH]),
                                                       built.gate_id, day, SESSION)), "sign in")
                    clock.advance(seconds=5)
                clock.set(datetime.combine(day, time(17, 0), TZ))
                for pid, guardian_id in built.pupils:
                    _ok(app.release(actor(), do.Release((pid,), built.gate_id, "known_to_staff",
                                                         guardian_id, day=day, session=SESSION)), "release")
                    clock.advance(seconds=0.5)
                print(f"day {n + 1}: the log holds {app.recorder.max_notification_id()} events "
                      f"({wall.monotonic() - t0:.0f}s so far)", flush=True)
            last = first + timedelta(days=days - 1)
            head = app.recorder.max_notification_id() or 0
            t0 = wall.monotonic()
            views.start()
            views.reflect("evidence", head, timeout=3600)
            signed = views.evidence.sign_due(clock.now(), force=True)
            print(f"evidence chain over {head} events and {len(signed)} checkpoints: "
                  f"{wall.monotonic() - t0:.1f}s", flush=True)

            school = app.school(built.school_id, readonly=True)
            probe = ids[len(ids) // 2]
            since = datetime.combine(first, time(0), TZ)
            until = datetime.combine(last, time(23, 59), TZ)
            t0, pages, hits, after = wall.monotonic(), 0, 0, 0
            while True:
                found = audit.search(app, views.evidence, school, audit.Query(
                    pupil_id=probe, since=since, until=until, after=after, limit=100))
                pages, hits = pages + 1, hits + len(found.hits)
                if found.next_after is None:
                    break
                after = found.next_after
            took = wall.monotonic() - t0
            print(f"search one pupil over {days} day(s), every page: {took:.2f}s, {pages} pages, "
                  f"{hits} hits ({head / took:,.0f} positions/s)", flush=True)
            for label, query in (("a staff member's first 100", audit.Query(staff_id=built.guard_id)),
                                 ("PupilDay.Released first 100", audit.Query(event_type="PupilDay.Released")),
                                 ("one pupil, first page", audit.Query(pupil_id=probe, since=since))):
                t0 = wall.monotonic()
                found = audit.search(app, views.evidence, school, query)
                print(f"search {label}: {wall.monotonic() - t0:.3f}s ({len(found.hits)} hits, "
                      f"looked up to position {found.scanned_to})", flush=True)
            t0 = wall.monotonic()
            pack = evidence_pack(app, views, school, probe, first, last,
                                 frozenset({Data.PROFILE, Data.CUSTODY}), clock.now())
            print(f"evidence pack of one pupil over {days} day(s): {wall.monotonic() - t0:.2f}s, "
                  f"{len(pack['custody'])} custody events, proofs {pack['proofs']}", flush=True)
            t0 = wall.monotonic()
            report = verify_export(export_lines(app, views.evidence, school.school_id, clock.now()),
                                   keys=views.evidence.all_keys())
            print(f"the live store verified (GET /v1/evidence/verification): {wall.monotonic() - t0:.1f}s, "
                  f"{'OK' if report.ok else 'FAILED'}, {report.events} events, {report.checkpoints} "
                  f"checkpoints", flush=True)
        finally:
            views.stop()
            app.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pupils", type=int, default=3000)
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args()
    run(args.store, args.pupils, args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
