"""What the gate's and the board's reads cost at school scale: read models against aggregates.

    PYTHONPATH=. python -m tools.bench_reads --store sqlite --pupils 3000

On a scratch store: a school of ``--pupils`` enrolled pupils (``tools.bench_setup``), all signed
in at the gate on a fixed clock the next day and ``--released`` of them released. Then, over
HTTP in process (FastAPI's test client, the app's own views running), it times in the same run
``GET /v1/afternoon`` and ``GET /v1/pupils`` read from the roster view (now) and from every
pupil's aggregates (before, still the fallback when the view cannot answer), both with the
aggregate cache warm, and beside them ``GET /v1/roster`` and the pupil card the gate opens
(``GET /v1/pupils/{id}``). Prints the median wall and CPU (this process) milliseconds and the
ratio. Not a test: it prints the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time as wall
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.domain.common import Actor
from service.projections.reads import ViewReads
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp
from service.use_cases.clock import FixedClock
from tools.bench_setup import SESSION, SIGN_IN_BATCH, BenchSchool, build_school, scratch_store

TZ = ZoneInfo("Asia/Shanghai")


def _median_ms(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median wall ms, median CPU ms of the process) over ``repeats`` calls, after one warm-up."""
    call()
    walls, cpus = [], []
    for _ in range(repeats):
        c0, w0 = wall.process_time(), wall.perf_counter()
        call()
        walls.append((wall.perf_counter() - w0) * 1000)
        cpus.append((wall.process_time() - c0) * 1000)
    return statistics.median(walls), statistics.median(cpus)


@dataclass
class Afternoon:
    """A school at ``pupils`` signed in at the gate, ``released`` of them gone, behind the API."""

    client: TestClient
    built: BenchSchool
    ids: list[str]

    def get(self, path: str, token: str, **params: str) -> Callable[[], object]:
        def call() -> object:
            r = self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
            if r.status_code != 200:
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
            return r.json()
        return call


@contextmanager
def afternoon(store: str, pupils: int, released: int, *, quiet: bool = False) -> Iterator[Afternoon]:
    """The scratch school's afternoon served in process, the roster view caught up with it."""
    with scratch_store(store, None) as settings:
        t0 = wall.monotonic()
        built = build_school(settings, pupils)
        if not quiet:
            print(f"set-up: {pupils} pupils in {wall.monotonic() - t0:.1f}s", flush=True)
        day = built.day + timedelta(days=1)
        clock = FixedClock(datetime.combine(day, time(16, 0), TZ))
        app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
        try:
            with TestClient(create_app(settings, application=app, clock=clock)) as client:
                state = client.app.state  # type: ignore[attr-defined]
                state.watcher.stop()  # its rounds would share the two cores with the reads
                school = app.school(built.school_id)
                guard = school.member(built.guard_id)

                def actor() -> Actor:
                    return Actor(school_id=school.school_id, staff_id=built.guard_id,
                                 staff_name=guard["name"], role="guard", at=clock.now(), device="bench")

                ids = [pid for pid, _ in built.pupils]
                for first in range(0, len(ids), SIGN_IN_BATCH):
                    outcome = app.sign_in(actor(), do.SignIn(tuple(ids[first:first + SIGN_IN_BATCH]),
                                                             built.gate_id, day, SESSION))
                    if not outcome.ok:
                        raise RuntimeError(f"bench sign-in failed: {outcome.result}")
                for pid, guardian_id in built.pupils[:released]:
                    outcome = app.release(actor(), do.Release((pid,), built.gate_id, "id_card",
                                                              guardian_id, None, day, SESSION))
                    if not outcome.ok:
                        raise RuntimeError(f"bench release failed: {outcome.result}")
                state.views.runners["roster"].wait(app.recorder.max_notification_id(), timeout=120)
                yield Afternoon(client, built, ids)
        finally:
            app.close()


def measure(store: str, pupils: int = 3000, released: int = 500, repeats: int = 5) -> dict[str, float]:
    """Median wall ms of the guard's roster and afternoon from the read models, and the reference
    measured beside them: the admin's afternoon from every pupil's aggregates."""
    with afternoon(store, pupils, released, quiet=True) as a:
        guard, admin = a.built.guard_token, a.built.admin_token
        roster_ms, _ = _median_ms(a.get("/v1/roster", guard), repeats)
        afternoon_ms, _ = _median_ms(a.get("/v1/afternoon", guard), repeats)
        reference_ms, _ = _median_ms(lambda: _without_views(a.get("/v1/afternoon", admin)), repeats)
    return {"roster_ms": roster_ms, "afternoon_ms": afternoon_ms, "reference_ms": reference_ms}


def run(store: str, pupils: int, released: int, repeats: int) -> None:
    with afternoon(store, pupils, released) as a:
        get, ids = a.get, a.ids
        admin, guard_token = a.built.admin_token, a.built.guard_token
        reads = {
            "GET /v1/afternoon (guard)": get("/v1/afternoon", guard_token),
            "GET /v1/afternoon (admin)": get("/v1/afternoon", admin),
            "GET /v1/pupils (admin)": get("/v1/pupils", admin),
            "GET /v1/pupils?q= (admin)": get("/v1/pupils", admin, q="学生0001"),
        }
        now = {name: _median_ms(call, repeats) for name, call in reads.items()}
        before = {name: _median_ms(lambda call=call: _without_views(call), repeats)  # type: ignore[misc]
                  for name, call in reads.items()}
        if get("/v1/afternoon", admin)() != _without_views(get("/v1/afternoon", admin)):
            raise RuntimeError("the views' afternoon differs from the aggregates'")
        beside = {
            "GET /v1/roster (guard)": _median_ms(get("/v1/roster", guard_token), repeats),
            "GET /v1/pupils/{id} (guard)": _median_ms(get(f"/v1/pupils/{ids[-1]}", guard_token), repeats),
        }
    print(f"reads at {pupils} pupils ({released} released), {store}, median of {repeats}, same run:")
    print(f"  {'read':<28} {'aggregates (before)':>24} {'read models (now)':>24} {'ratio':>7}")
    for name in reads:
        (bw, bc), (nw, nc) = before[name], now[name]
        print(f"  {name:<28} {bw:9.1f} ms ({bc:7.1f} cpu) {nw:9.1f} ms ({nc:7.1f} cpu) {bw / max(nw, 1e-3):6.1f}x")
    for name, (w, c) in beside.items():
        ref = before["GET /v1/afternoon (admin)"][0]
        print(f"  {name:<28} {'':>24} {w:9.1f} ms ({c:7.1f} cpu) {ref / max(w, 1e-3):6.1f}x")


def _without_views(call: Callable[[], object]) -> object:
    real = ViewReads._caught_up
    ViewReads._caught_up = lambda self: False  # type: ignore[method-assign]
    try:
        return call()
    finally:
        ViewReads._caught_up = real  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pupils", type=int, default=3000)
    parser.add_argument("--released", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run(args.store, args.pupils, args.released, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
