"""Bench: what a sign-off costs to ask where every pupil of a big school's roll is.

    PYTHONPATH=$PWD python -m tools.bench_custody [--stores sqlite,postgres] [--pupils 3000]

Half the pupils are signed in by the guard at the gate, then the check a sign-off makes (whom
the guard holds, which handovers await them) is timed reading the chains one aggregate at a
time (the reference: one query per pupil) and in one batch from the event store, each cold
(a fresh process's empty cache) and warm, in the same run; the ratio is printed beside.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

from service.domain.common import Actor
from service.domain.pupil_day import IN_CUSTODY, PupilDay
from service.domain.school import School
from service.use_cases.application import HandoverApp
from service.use_cases.commands import SignIn
from tools.bench_setup import SESSION, SIGN_IN_BATCH, build_school, scratch_store

ROUNDS = 9


def one_at_a_time(app: HandoverApp, school: School, staff_id: str, on: date) -> int:
    """The reference: each pupil's chain read as its own aggregate."""
    held = 0
    for pupil_id in school.roll:
        found = app._find(PupilDay.create_id(school.school_id, pupil_id, on.isoformat(), SESSION),
                          readonly=True)
        if isinstance(found, PupilDay) and found.status == IN_CUSTODY:
            custodian = found.state["custodian"]
            held += custodian is not None and custodian["staff_id"] == staff_id
    return held


def batched(app: HandoverApp, school: School, staff_id: str, on: date) -> int:
    return len(app.custody_of(school, staff_id, on, SESSION)[0])


def run(store: str, pupils: int) -> None:
    with scratch_store(store, None) as settings:
        s = build_school(settings, pupils)
        app = HandoverApp(env=settings.eventsourcing_env())
        name = app.school(s.school_id).member(s.guard_id)["name"]
        ids = [p for p, _ in s.pupils]
        for first in range(0, pupils // 2, SIGN_IN_BATCH):
            guard = Actor(school_id=s.school_id, staff_id=s.guard_id, staff_name=name,
                          role="guard", at=app.now(), device="bench")
            done = app.sign_in(guard, SignIn(pupil_ids=tuple(ids[first:first + SIGN_IN_BATCH]),
                                             place_id=s.gate_id, day=s.day, session=SESSION))
            assert done.ok, done.result
        app.close()
        for label, check in (("one aggregate at a time", one_at_a_time), ("one batch", batched)):
            cold_app = HandoverApp(env=settings.eventsourcing_env())
            school = cold_app.school(s.school_id, readonly=True)
            started = time.perf_counter()
            held = check(cold_app, school, s.guard_id, s.day)
            cold = time.perf_counter() - started
            warm = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                assert check(cold_app, school, s.guard_id, s.day) == held == pupils // 2
                warm.append(time.perf_counter() - started)
            cold_app.close()
            yield_row(store, pupils, label, cold, statistics.median(warm))


ROWS: list[tuple[str, int, str, float, float]] = []


def yield_row(store: str, pupils: int, label: str, cold: float, warm: float) -> None:
    ROWS.append((store, pupils, label, cold, warm))
    print(f"  {store} {pupils} pupils, {label}: cold {cold * 1000:.0f} ms, warm (median of "
          f"{ROUNDS}) {warm * 1000:.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--pupils", type=int, default=3000)
    args = parser.parse_args()
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        run(store, args.pupils)
    for store in dict.fromkeys(r[0] for r in ROWS):
        ref, new = [r for r in ROWS if r[0] == store][:2]
        print(f"{store}: the batch takes {new[3] / ref[3]:.2f}x the reference's time cold, "
              f"{new[4] / ref[4]:.2f}x warm")


if __name__ == "__main__":
    main()
