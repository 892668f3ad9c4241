"""``handover bench``: release throughput and latency over HTTP, against the store's own limits.

For each store (a scratch SQLite file, a scratch PostgreSQL database) in one run:

1. set up a school, a guard with a token, a gate and enough enrolled pupils (not measured);
2. start the real HTTP API (uvicorn, same defaults as ``handover serve``) in a thread;
3. the guard signs every pupil in at the gate over HTTP (not measured);
4. measure ``POST /v1/releases`` (one pupil each, unique Idempotency-Key) at 1 and 16 clients;
5. measure releases at 1 client again with 0, 20 and 50 open event streams (``GET /v1/stream``,
   held by threads of another child process, reading all the time): the rate with N streams
   divided by the rate with none, in the same run, is what open tablets cost the release;
6. measure two references on the same database: the bare ``Application.save()`` rate of a
   one-event aggregate, and the raw single-row INSERT+COMMIT rate.

The load generator runs in a child process (threads, one keep-alive ``httpx.Client`` each) so
its Python work does not share the server's GIL; set ``HANDOVER_BENCH_INPROCESS_CLIENTS=1`` to
run the client threads inside the server's process instead. The API runs as configured
(``HANDOVER_*`` settings), so ``HANDOVER_RUN_PROJECTIONS=false`` measures it without the in-process
projection runners; the alert watcher is kept quiet (see ``bench_store``). "CPU/request" is
the CPU time of the server's process (every thread: event loop, request threads, projection
runners) and of the clients' process, per release.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import sqlite3
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from service.settings import Settings
from tools.bench_setup import (
    PG_HOST,
    PG_PASSWORD,
    PG_PORT,
    PG_USER,
    SESSION,
    ApiThread,
    BenchSchool,
    build_school,
    scratch_store,
    sign_in_all,
)

LEVELS = (1, 16)
STREAMS = (0, 20, 50)  # open SSE clients while releases run at one client
STREAM_TARGET = 0.90  # release rate with 50 open streams / with none
CPU_TARGET = 3.0  # server CPU per release / per do-nothing request
RATE_TARGET = 0.40  # release rate / do-nothing rate, same client
STREAM_REQUESTS = 400  # releases at each number of open streams (at most --requests)
SAVE_TARGET = 0.60  # HTTP release rate / bare Application.save() rate
P99_TARGET_MS = 25.0  # at 16 clients on PostgreSQL
REFERENCE_MAX_SECONDS = 8.0  # each reference loop stops after this long
REQUEST_TIMEOUT = 30.0
QUIET_WATCHER = 86400.0  # seconds between watcher rounds while the bench runs


# -- the load generator ---------------------------------------------------------------
@dataclass
class LoadResult:
    clients: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[str, int]
    samples: list[str] = field(default_factory=list)
    lag_ms: tuple[float, float] | None = None  # roster projection lag p50/p99 under this load
    client_cpu: float = 0.0  # CPU seconds used by the load generator's process
    server_cpu: float = 0.0  # CPU seconds used by the server's process (child-process clients only)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = max(1, math.ceil(p / 100 * len(ordered)))  # nearest rank
        return ordered[rank - 1]


def drive(base_url: str, token: str, bodies: list[dict[str, Any]], keys: list[str],
          clients: int, path: str = "/v1/releases") -> LoadResult:
    """POST each body to ``path`` once, from `clients` threads each with its own connection."""
    import httpx

    cpu0 = _cpu()
    shares = [list(range(i, len(bodies), clients)) for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * clients
    statuses: Counter[str] = Counter()
    samples: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    auth = f"Bearer {token}"

    def worker(w: int) -> None:
        mine = latencies[w]
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
            client.get("/health")  # open the keep-alive connection before the clock starts
            try:
                barrier.wait(timeout=60)
            except threading.BrokenBarrierError:
                pass
            first = time.perf_counter()
            for i in shares[w]:
                t0 = time.perf_counter()
                try:
                    r = client.post(path, json=bodies[i],
                                    headers={"Authorization": auth, "Idempotency-Key": keys[i]})
                    status, text = str(r.status_code), r.text if r.status_code != 200 else ""
                except httpx.HTTPError as e:
                    status, text = f"exception:{type(e).__name__}", str(e)
                mine.append((time.perf_counter() - t0) * 1000.0)
                if status != "200":
                    with lock:
                        statuses[status] += 1
                        if len(samples) < 3:
                            samples.append(f"{status} {text[:300]}")
            spans[w] = (first, time.perf_counter())

    threads = [threading.Thread(target=worker, args=(w,), name=f"bench-client-{w}") for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=REQUEST_TIMEOUT * (len(bodies) + 2))
    started = min(s for s, _ in spans)
    ended = max(e for _, e in spans)
    all_latencies = [x for lat in latencies for x in lat]
    ok = len(all_latencies) - sum(statuses.values())
    statuses["200"] += ok
    if len(all_latencies) < len(bodies):
        statuses["not sent"] += len(bodies) - len(all_latencies)
    return LoadResult(clients, len(bodies), ended - started, all_latencies, dict(statuses), samples,
                      client_cpu=_cpu() - cpu0)


THREAD_GROUPS = (  # thread name prefix -> what it does, for the CPU breakdown of a release
    ("bench-uvicorn", "HTTP event loop"),
    ("AnyIO worker", "request threads"),
    ("views-live", "live views (roster, alerts)"),
    ("views-reports", "report views"),
    ("views-evidence", "evidence chain"),
    ("access-recorder", "access record"),
    ("notification-deliverer", "deliverer"),
    ("alert-watcher", "watcher"),
    ("checkpointer", "checkpointer"),
    ("stream", "stream feed"),
    ("feed", "stream feed"),
)


def thread_cpu() -> dict[str, float]:
    """CPU seconds each kind of thread of this process has used so far (Linux /proc)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        name = names.get(int(tid), "")
        group = next((label for prefix, label in THREAD_GROUPS if name.startswith(prefix)), "other threads")
        out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def breakdown(before: dict[str, float], after: dict[str, float], total: float, requests: int) -> str:
    """Milliseconds of server CPU per request by kind of thread, largest first."""
    spent = {k: after[k] - before.get(k, 0.0) for k in after}
    rest = total - sum(spent.values())  # threads that ended meanwhile, and rounding
    parts = sorted(((v, k) for k, v in spent.items() if v > 0), reverse=True)
    text = ", ".join(f"{k} {v / requests * 1000:.2f}" for v, k in parts)
    return text + (f", ended threads {rest / requests * 1000:.2f}" if rest > total * 0.05 else "")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Driver:
    """Runs `drive` in a child process (default) or in this process."""

    def __init__(self) -> None:
        self.inprocess = os.environ.get("HANDOVER_BENCH_INPROCESS_CLIENTS", "") not in ("", "0")
        self._pool: ProcessPoolExecutor | None = None
        if not self.inprocess:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def run(self, base_url: str, token: str, bodies: list[dict[str, Any]], keys: list[str],
            clients: int, path: str = "/v1/releases") -> LoadResult:
        if self._pool is None:
            return drive(base_url, token, bodies, keys, clients, path)
        cpu0 = _cpu()
        future = self._pool.submit(drive, base_url, token, bodies, keys, clients, path)
        result = future.result(timeout=REQUEST_TIMEOUT * (len(bodies) + 2))
        result.server_cpu = _cpu() - cpu0
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# -- the do-nothing reference ----------------------------------------------------------------
NOTHING_PATH = "/bench/nothing"


def add_nothing_route(api: Any) -> None:
    """A route that does nothing with the same JSON body, on the same app, middleware and client:
    what any request costs this server before our work starts."""
    from fastapi import Body
    from fastapi.routing import APIRoute

    def nothing(body: dict[str, Any] = Body(...)) -> dict[str, bool]:  # noqa: B008 - FastAPI's idiom
        return {"ok": True}

    api.router.routes.insert(0, APIRoute(NOTHING_PATH, nothing, methods=["POST"]))


# -- open streams --------------------------------------------------------------------------
def hold_streams(base_url: str, token: str, count: int, ready: Any, stop: Any, counts: Any) -> None:
    """Open ``count`` event streams and read them until ``stop``; ``counts[i]``: events read."""
    import httpx

    opened = threading.Semaphore(0)

    def reader(i: int) -> None:
        with httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=None)) as client, \
                client.stream("GET", "/v1/stream", headers={"Authorization": f"Bearer {token}"}) as r:
            opened.release()
            for line in r.iter_lines():
                if line.startswith("event: "):
                    counts[i] += 1

    for i in range(count):
        threading.Thread(target=reader, args=(i,), name=f"bench-stream-{i}", daemon=True).start()
    for _ in range(count):
        if not opened.acquire(timeout=60):
            return  # the parent sees ``ready`` never set
    ready.set()
    stop.wait()


class Streams:
    """N open streams in a child process, for the time of a ``with`` block."""

    def __init__(self, base_url: str, token: str, count: int) -> None:
        self.count = count
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.stop = ctx.Event(), ctx.Event()
        self.counts = ctx.Array("l", max(1, count), lock=False)
        self.process = ctx.Process(target=hold_streams, name="bench-streams", daemon=True,
                                   args=(base_url, token, count, self.ready, self.stop, self.counts))

    def __enter__(self) -> Self:
        if self.count:
            self.process.start()
            if not self.ready.wait(120):
                self.process.kill()
                raise RuntimeError(f"{self.count} event streams did not open within 120 s")
        return self

    def events(self) -> list[int]:
        return list(self.counts[:self.count])

    def __exit__(self, *exc: object) -> None:
        if self.count:
            self.stop.set()
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()


@dataclass
class StreamLevel:
    streams: int
    load: LoadResult
    events_min: int  # the fewest events any open stream read meanwhile


def stream_levels(api: ApiThread, school: BenchSchool, queue: list[tuple[str, str]], run_id: str,
                  requests: int, driver: Driver) -> list[StreamLevel]:
    out: list[StreamLevel] = []
    for count in STREAMS:
        chunk, queue[:] = queue[:requests], queue[requests:]
        bodies, keys = release_bodies(school, chunk, run_id, f"s{count}")
        with Streams(api.base_url, school.guard_token, count) as streams:
            load = driver.run(api.base_url, school.guard_token, bodies, keys, 1)
            head = api.api.state.handover.recorder.max_notification_id()
            api.api.state.views.runners["roster"].wait(head, timeout=60)
            time.sleep(0.5)  # the last events reach the readers
            seen = streams.events()
        level = StreamLevel(count, load, min(seen) if count else 0)
        out.append(level)
        base = out[0].load.rate
        ratio = f"{load.rate / base:.2f}" if base else "-"
        cpu = f"  CPU/release: server {load.server_cpu / requests * 1000:.2f} ms" if not driver.inprocess else ""
        got = f"  events read per stream >= {level.events_min}" if count else ""
        print(f"  {count:>2} open streams: {load.rate:7.1f} req/s (x{ratio})  p50 {load.pct(50):6.1f} ms  "
              f"p99 {load.pct(99):6.1f} ms  errors {load.errors}{cpu}{got}", flush=True)
    return out


# -- references --------------------------------------------------------------------------
class BenchMark(Aggregate):
    """The smallest useful aggregate: created with one event."""

    class Marked(Aggregate.Created):
        n: int

    @event(Marked)
    def __init__(self, n: int) -> None:
        self.n = n


class BareApp(Application[uuid.UUID]):
    name = "BenchBare"  # on PostgreSQL its events go to their own table, benchbare_events


def _timed_loop(count: int, step: Any) -> float:
    """Calls step(i) up to `count` times (stopping early after REFERENCE_MAX_SECONDS); per second."""
    started = time.perf_counter()
    done = 0
    for i in range(count):
        step(i)
        done += 1
        if time.perf_counter() - started > REFERENCE_MAX_SECONDS:
            break
    return done / (time.perf_counter() - started)


def bare_save_rate(settings: Settings, count: int) -> float:
    app = BareApp(env=settings.eventsourcing_env())
    try:
        for i in range(20):  # warm up: connections, prepared statements
            app.save(BenchMark(n=-i))
        return _timed_loop(count, lambda i: app.save(BenchMark(n=i)))
    finally:
        app.close()


def raw_insert_rate(settings: Settings, count: int) -> float:
    payload = os.urandom(300)  # about one stored event's state
    if settings.store == "sqlite":
        conn = sqlite3.connect(settings.sqlite_path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER PRIMARY KEY, payload BLOB)")

            def insert(_: int) -> None:
                conn.execute("BEGIN")
                conn.execute("INSERT INTO bench_raw (payload) VALUES (?)", (payload,))
                conn.execute("COMMIT")

            for i in range(20):
                insert(i)
            return _timed_loop(count, insert)
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                         dbname=settings.postgres_dbname, autocommit=True, connect_timeout=5) as pg:
        pg.execute("CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, payload bytea)")

        def pg_insert(_: int) -> None:
            pg.execute("INSERT INTO bench_raw (payload) VALUES (%s)", (payload,))

        for i in range(20):
            pg_insert(i)
        return _timed_loop(count, pg_insert)


# -- one store -------------------------------------------------------------------------------
@dataclass
class StoreResult:
    store: str
    levels: list[LoadResult]
    bare_save: float
    raw_insert: float
    setup_seconds: float
    durability: str = ""
    noisy: bool = False  # the references moved by more than 30% during the run
    warmup_errors: int = 0
    streams: list[StreamLevel] = field(default_factory=list)
    nothing: list[LoadResult] = field(default_factory=list)  # the do-nothing route, same levels


def release_bodies(school: BenchSchool, pupils: list[tuple[str, str]], run_id: str,
                   label: str) -> tuple[list[dict[str, Any]], list[str]]:
    bodies = [{"pupil_ids": [pid], "gate_id": school.gate_id, "collector_id": guardian_id,
               "identity_check": "known_to_staff", "day": school.day.isoformat(), "session": SESSION}
              for pid, guardian_id in pupils]
    keys = [f"bench-{run_id}-{label}-{i}" for i in range(len(pupils))]
    return bodies, keys


def bench_store(store: str, settings: Settings, requests: int, warmup: int,
                driver: Driver) -> StoreResult:
    run_id = uuid.uuid4().hex[:8]
    stream_requests = min(requests, STREAM_REQUESTS)
    needed = requests * len(LEVELS) + warmup * 2 + stream_requests * len(STREAMS)
    ref_count = max(200, requests)
    # References before and after the HTTP phases: a busy machine shows up as a difference.
    bare_before = bare_save_rate(settings, ref_count)
    raw_before = raw_insert_rate(settings, ref_count)
    t0 = time.perf_counter()
    school = build_school(settings, needed)
    built = time.perf_counter() - t0
    levels: list[LoadResult] = []
    # The watcher stays quiet: on the real clock, a bench run after the day's deadlines would
    # find every signed-in pupil unpicked and raise thousands of alerts in the middle of a level
    # (and push them to every open stream), measuring an alert storm rather than releases.
    quiet = settings.model_copy(update={"watch_interval": QUIET_WATCHER})
    with ApiThread(quiet) as api:
        import httpx

        health = httpx.get(api.base_url + "/health", timeout=10).json()
        notes = []
        if store == "sqlite":
            notes.append(f"journal={health.get('sqlite_journal_mode')} "
                         f"synchronous={health.get('sqlite_synchronous')}")
        if getattr(settings, "run_projections", False):
            notes.append(f"in-process views: {', '.join(health.get('views') or {}) or 'none'}")
        durability = ", ".join(notes)
        t1 = time.perf_counter()
        sign_in_all(api.base_url, school, run_id)
        signed = time.perf_counter() - t1
        print(f"  set-up: {needed} pupils built in-process in {built:.1f} s, signed in over HTTP "
              f"in {signed:.1f} s (not measured); API on {api.base_url}", flush=True)
        probe = LagProbe(api.api) if getattr(settings, "run_projections", False) else None
        queue = list(school.pupils)
        warm_errors = 0
        # Warm up: code paths, pool connections, the aggregate cache for the school and token.
        for clients in LEVELS:
            chunk, queue = queue[:warmup], queue[warmup:]
            bodies, keys = release_bodies(school, chunk, run_id, f"warm{clients}")
            warm = driver.run(api.base_url, school.guard_token, bodies, keys, clients)
            warm_errors += warm.errors
            if warm.errors:
                print(f"  warm-up at {clients} clients: {warm.errors} errors: {warm.samples}",
                      flush=True)
        for clients in LEVELS:
            chunk, queue = queue[:requests], queue[requests:]
            bodies, keys = release_bodies(school, chunk, run_id, f"c{clients}")
            since = probe.mark() if probe else 0
            threads_before = thread_cpu()
            result = driver.run(api.base_url, school.guard_token, bodies, keys, clients)
            if probe is not None:
                api.api.state.views.runners["roster"].wait(
                    api.api.state.handover.recorder.max_notification_id(), timeout=60)
                lags = probe.lags_ms(since)
                result.lag_ms = (_pct(lags, 50), _pct(lags, 99))
            levels.append(result)
            cpu = (f"  CPU/request: server {result.server_cpu / requests * 1000:.2f} ms, "
                   f"clients {result.client_cpu / requests * 1000:.2f} ms" if not driver.inprocess else "")
            print(f"  {clients:>2} clients: {result.rate:7.1f} req/s  p50 {result.pct(50):6.1f} ms  "
                  f"p99 {result.pct(99):6.1f} ms  errors {result.errors}{cpu}", flush=True)
            for sample in result.samples:
                print(f"     e.g. {sample}", flush=True)
            if not driver.inprocess:
                print(f"     server CPU ms per release by thread: "
                      f"{breakdown(threads_before, thread_cpu(), result.server_cpu, requests)}", flush=True)
            lag = _view_lag(api.base_url)
            if lag:
                print(f"     projections right after: {lag}", flush=True)
        nothing: list[LoadResult] = []
        add_nothing_route(api.api)
        for clients in LEVELS:
            bodies, keys = release_bodies(school, queue[:requests], run_id, f"n{clients}")
            driver.run(api.base_url, school.guard_token, bodies[:warmup], keys[:warmup], clients, NOTHING_PATH)
            threads_before = thread_cpu()
            ref = driver.run(api.base_url, school.guard_token, bodies, keys, clients, NOTHING_PATH)
            nothing.append(ref)
            cpu = (f"  CPU/request: server {ref.server_cpu / requests * 1000:.2f} ms"
                   if not driver.inprocess else "")
            print(f"  {clients:>2} clients, do-nothing route: {ref.rate:7.1f} req/s  p50 {ref.pct(50):6.1f} ms  "
                  f"p99 {ref.pct(99):6.1f} ms  errors {ref.errors}{cpu}", flush=True)
            if not driver.inprocess:
                print(f"     server CPU ms per request by thread: "
                      f"{breakdown(threads_before, thread_cpu(), ref.server_cpu, requests)}", flush=True)
        streams = stream_levels(api, school, queue, run_id, stream_requests, driver)
    bare_after = bare_save_rate(settings, ref_count)
    raw_after = raw_insert_rate(settings, ref_count)
    print(f"  references before/after: bare save {bare_before:.0f}/{bare_after:.0f} per s, "
          f"raw insert+commit {raw_before:.0f}/{raw_after:.0f} per s", flush=True)
    noisy = max(bare_before, bare_after) > 1.3 * min(bare_before, bare_after)
    return StoreResult(store, levels, (bare_before + bare_after) / 2, (raw_before + raw_after) / 2,
                       built + signed, durability, noisy, warm_errors, streams, nothing)


class LagProbe:
    """Projection lag as a user sees it: from a save's commit to the roster reflecting it.

    Wraps the server's save and the roster view's commit (both in this process) and records
    when each log position was written and when the roster first covered it.
    """

    def __init__(self, api: Any) -> None:
        self.saved: list[tuple[int, float]] = []
        self.covered: list[tuple[int, float]] = []
        app, view = api.state.handover, api.state.views.view("roster")
        save, commit = app.save, view.commit

        def timed_save(*objs: Any, **kw: Any) -> Any:
            recordings = save(*objs, **kw)
            if recordings:
                self.saved.append((recordings[-1].notification.id, time.perf_counter()))
            return recordings

        def timed_commit(changes: Any, tracking: Any, after: int | None = None) -> None:
            commit(changes, tracking, after)
            self.covered.append((tracking.notification_id, time.perf_counter()))

        app.save, view.commit = timed_save, timed_commit

    def mark(self) -> int:
        return len(self.saved)

    def lags_ms(self, since: int) -> list[float]:
        covered = sorted(self.covered)
        out: list[float] = []
        for position, at in self.saved[since:]:
            seen = next((t for p, t in covered if p >= position), None)
            if seen is not None:
                out.append(max(0.0, seen - at) * 1000)
        return sorted(out)


def _pct(ordered: list[float], p: float) -> float:
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] if ordered else float("nan")


def _view_lag(base_url: str) -> str:
    """How far each in-process projection is behind the log, from /health (if it reports views)."""
    import httpx

    try:
        views = httpx.get(base_url + "/health", timeout=10).json().get("views") or {}
    except (httpx.HTTPError, ValueError):
        return ""
    return ", ".join(f"{name} lag {v.get('lag')}" for name, v in views.items() if isinstance(v, dict))


# -- report ------------------------------------------------------------------------------------
def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: list[StoreResult], requests: int) -> None:
    print()
    print(f"Releases over HTTP (POST /v1/releases, 1 pupil each), {requests} per level; "
          f"target: release rate >= {SAVE_TARGET:.0%} of bare save; "
          f"p99 <= {P99_TARGET_MS:.0f} ms at 16 clients on PostgreSQL")
    print(f"{'store':<9} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  {'vs bare save':<14} "
          f"{'p99 target':<10} {'errors':>6}  {'roster lag p50/p99 ms':>22}")
    for r in results:
        for lv in r.levels:
            share = lv.rate / r.bare_save if r.bare_save else 0.0
            p99 = lv.pct(99)
            p99_mark = _mark(p99 <= P99_TARGET_MS) if (r.store == "postgres" and lv.clients == 16) else "-"
            print(f"{r.store:<9} {lv.clients:>7} {lv.rate:>8.1f} {lv.pct(50):>8.1f} {p99:>8.1f}  "
                  f"{share:>5.0%} {_mark(share >= SAVE_TARGET):<8} {p99_mark:<10} {lv.errors:>6}  "
                  + (f"{lv.lag_ms[0]:>10.1f} / {lv.lag_ms[1]:<9.1f}" if lv.lag_ms else f"{'-':>22}"))
        ratio = r.bare_save / r.raw_insert if r.raw_insert else 0.0
        print(f"{r.store:<9} bare Application.save() (1 event): {r.bare_save:.0f}/s      "
              f"raw insert+commit: {r.raw_insert:.0f}/s   (ratio save/raw = {ratio:.2f})"
              + (f"   [{r.durability}]" if r.durability else ""))
        if r.noisy:
            print(f"{'':<9} (the references moved by more than 30% between before and after: "
                  f"the machine was busy; figures are noisy)")
    if any(r.streams for r in results):
        print()
        print(f"Open event streams (GET /v1/stream, all reading) while releases run at 1 client; "
              f"target: rate with {STREAMS[-1]} streams >= {STREAM_TARGET:.0%} of the rate with none")
        print(f"{'store':<9} {'streams':>7} {'req/s':>8} {'÷ none':>7} {'':<5} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'server CPU/release ms':>22} {'events/stream':>14}")
        for r in results:
            base = r.streams[0].load.rate if r.streams else 0.0
            for sl in r.streams:
                ratio = sl.load.rate / base if base else 0.0
                mark = _mark(ratio >= STREAM_TARGET) if sl.streams == STREAMS[-1] else "-"
                cpu = sl.load.server_cpu / sl.load.requests * 1000 if sl.load.requests else 0.0
                print(f"{r.store:<9} {sl.streams:>7} {sl.load.rate:>8.1f} {ratio:>7.2f} {mark:<5} "
                      f"{sl.load.pct(50):>8.1f} {sl.load.pct(99):>8.1f} {cpu:>22.2f} "
                      f"{sl.events_min if sl.streams else '-':>14}")
    if any(r.nothing for r in results):
        print()
        print("A release against a do-nothing route (same app, middleware, client and run; "
              f"targets: server CPU per release <= {CPU_TARGET:.0f}x the do-nothing route's, "
              f"release rate >= {RATE_TARGET:.0%} of its rate)")
        print(f"{'store':<9} {'clients':>7} {'release/s':>10} {'nothing/s':>10} {'rate ratio':>10} {'':<5}"
              f" {'release CPU ms':>14} {'nothing CPU ms':>14} {'CPU ratio':>9} {'':<5}")
        for r in results:
            for lv, ref in zip(r.levels, r.nothing, strict=False):
                rate = lv.rate / ref.rate if ref.rate else 0.0
                cpu_r, cpu_n = lv.server_cpu / lv.requests * 1000, ref.server_cpu / ref.requests * 1000
                cpu = cpu_r / cpu_n if cpu_n else 0.0
                print(f"{r.store:<9} {lv.clients:>7} {lv.rate:>10.1f} {ref.rate:>10.1f} {rate:>10.2f} "
                      f"{_mark(rate >= RATE_TARGET):<5} {cpu_r:>14.2f} {cpu_n:>14.2f} {cpu:>9.2f} "
                      f"{_mark(cpu <= CPU_TARGET):<5}")
    load = os.getloadavg()
    print(f"load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs "
          f"(the bench itself keeps about 2 busy)")
    print()


def targets(results: list[StoreResult]) -> list[Target]:
    """The issue's targets this part of the bench measures, one row each."""
    rows: list[Target] = []
    for r in results:
        for lv, ref in zip(r.levels, r.nothing, strict=False):
            cpu_r, cpu_n = lv.server_cpu / lv.requests, ref.server_cpu / ref.requests
            if cpu_n > 0:
                rows.append(Target(f"{r.store}: server CPU per release / do-nothing, {lv.clients} client(s)",
                                   cpu_r / cpu_n, "<=", CPU_TARGET, f"{cpu_r * 1000:.2f} / {cpu_n * 1000:.2f} ms"))
            if ref.rate > 0:
                rows.append(Target(f"{r.store}: release rate / do-nothing rate, {lv.clients} client(s)",
                                   lv.rate / ref.rate, ">=", RATE_TARGET, f"{lv.rate:.0f} / {ref.rate:.0f} per s"))
        if r.streams and r.streams[0].load.rate:
            last = r.streams[-1]
            rows.append(Target(f"{r.store}: release rate with {last.streams} open streams / with none",
                               last.load.rate / r.streams[0].load.rate, ">=", STREAM_TARGET,
                               f"{last.load.rate:.0f} / {r.streams[0].load.rate:.0f} per s"))
    return rows


@dataclass
class Target:
    figure: str
    value: float
    op: str  # "<=" or ">="
    target: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.value <= self.target if self.op == "<=" else self.value >= self.target


def print_targets(rows: list[Target]) -> None:
    if not rows:
        return
    print("Targets (one run on this machine; ratios are against references measured in the same run)")
    width = max(len(t.figure) for t in rows)
    for t in rows:
        print(f"  {t.figure:<{width}}  {t.value:>9.2f}  target {t.op} {t.target:<6g} {_mark(t.ok)}   {t.detail}")
    missed = sum(not t.ok for t in rows)
    print(f"  {len(rows) - missed} of {len(rows)} targets met" + (f"; {missed} missed" if missed else ""))
    print()


# -- the parts behind the release, each on its own scratch store -----------------------------
COMPONENT_PUPILS = 3000
GROUP_THREADS = 16
GROUP_SECONDS = 4.0
GROUP_TARGET = 2.0
WATCH_TARGET_MS = 20.0
READ_TARGET_MS = 100.0
REBUILD_EVENTS = 30_000
REBUILD_TARGET = 30_000.0


def library_save_rate(settings: Settings, threads: int, seconds: float) -> float:
    """The library's own ``Application.save()`` of a one-event aggregate from ``threads`` threads."""
    app = BareApp(env=settings.eventsourcing_env())
    done = [0] * threads
    try:
        for i in range(20):
            app.save(BenchMark(n=-i))
        stop = time.monotonic() + seconds

        def worker(w: int) -> None:
            while time.monotonic() < stop:
                app.save(BenchMark(n=w))
                done[w] += 1
        pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
        started = time.monotonic()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return sum(done) / (time.monotonic() - started)
    finally:
        app.close()


def components(stores: list[str], data_dir: str | None) -> list[Target]:
    """Group commit against the library's save; the reads, a rebuild and the watcher's round at
    school scale."""
    from service.use_cases.application import HandoverApp
    from tools import bench_commit, bench_watch

    rows: list[Target] = []
    if "postgres" in stores:
        print(f"[postgres] group commit: {GROUP_THREADS} concurrent commands against the library's "
              f"save() from {GROUP_THREADS} threads, {GROUP_SECONDS:.0f} s each", flush=True)
        with scratch_store("postgres", data_dir) as settings:
            library = library_save_rate(settings, GROUP_THREADS, GROUP_SECONDS)
            app = HandoverApp(env=settings.eventsourcing_env())
            try:
                bench_commit.drive(app, GROUP_THREADS, 1.0, 64)  # warm up
                grouped, latencies, per_tx = bench_commit.drive(app, GROUP_THREADS, GROUP_SECONDS, 64)
            finally:
                app.close()
        print(f"  commands (pupil event + idempotency record, one transaction each): {grouped:.0f}/s, "
              f"p99 {bench_commit.pct(latencies, 0.99):.1f} ms, {per_tx:.1f} per transaction; "
              f"library save(): {library:.0f}/s", flush=True)
        rows.append(Target(f"postgres: commands/s at {GROUP_THREADS} concurrent / library save() at "
                           f"{GROUP_THREADS} threads", grouped / library if library else 0.0, ">=",
                           GROUP_TARGET, f"{grouped:.0f} / {library:.0f} per s"))
    from tools import bench_reads, bench_rebuild

    for store in stores:
        print(f"[{store}] the roster and the afternoon at {COMPONENT_PUPILS} pupils", flush=True)
        reads = bench_reads.measure(store, COMPONENT_PUPILS)
        print(f"  roster {reads['roster_ms']:.1f} ms, afternoon {reads['afternoon_ms']:.1f} ms; from every "
              f"pupil's aggregates instead: {reads['reference_ms']:.0f} ms", flush=True)
        for name in ("roster", "afternoon"):
            rows.append(Target(f"{store}: GET /v1/{name} ms at {COMPONENT_PUPILS} pupils (wall, median)",
                               reads[f"{name}_ms"], "<=", READ_TARGET_MS,
                               f"from the aggregates {reads['reference_ms']:.0f} ms"))
        print(f"[{store}] rebuilding every view from {REBUILD_EVENTS} events", flush=True)
        rebuilt = bench_rebuild.measure(store, REBUILD_EVENTS)
        print(f"  {rebuilt['events_per_s']:.0f} events/s; reading and decoding the log alone: "
              f"{rebuilt['reference_events_per_s']:.0f} events/s", flush=True)
        rows.append(Target(f"{store}: rebuild of every view, events/s", rebuilt["events_per_s"], ">=",
                           REBUILD_TARGET, f"log read+decode alone {rebuilt['reference_events_per_s']:.0f}/s"))
    for store in stores:
        print(f"[{store}] watcher rounds at {COMPONENT_PUPILS} pupils", flush=True)
        medians = bench_watch.run(store, COMPONENT_PUPILS, 50, 5)
        for name in ("index, nothing due", "index, 50 due"):
            rows.append(Target(f"{store}: watcher round CPU ms at {COMPONENT_PUPILS} pupils ({name[7:]})",
                               medians[name], "<=", WATCH_TARGET_MS,
                               f"full scan {medians['scan' + name[5:]]:.1f} ms"))
    return rows


def run_bench(args: argparse.Namespace) -> int:
    scenario = str(getattr(args, "scenario", "release") or "release")
    if scenario in ("rush", "all"):  # a district's dismissal: tools/bench_rush.py
        from tools.bench_rush import run_rush

        released = run_bench(argparse.Namespace(**{**vars(args), "scenario": "release"})) \
            if scenario == "all" else 0
        return max(released, run_rush(args))
    stores = [s.strip() for s in str(getattr(args, "stores", "sqlite,postgres")).split(",") if s.strip()]
    unknown = [s for s in stores if s not in ("sqlite", "postgres")]
    if unknown or not stores:
        print(f"bench: stores are sqlite and/or postgres, not {unknown or stores}", file=sys.stderr)
        return 2
    requests = int(getattr(args, "requests", 1500) or 1500)
    if requests < 1:
        print("bench: --requests must be at least 1", file=sys.stderr)
        return 2
    warmup = min(100, max(16, requests // 10))
    driver = Driver()
    where = "in this process" if driver.inprocess else "in a child process"
    load = os.getloadavg()
    print(f"handover bench: stores {', '.join(stores)}; {requests} releases at each of "
          f"{', '.join(map(str, LEVELS))} clients (+{warmup} warm-up each); clients run {where}; "
          f"load average {load[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    results: list[StoreResult] = []
    failed = False
    try:
        for store in stores:
            print(f"[{store}]", flush=True)
            started = time.perf_counter()
            try:
                with scratch_store(store, getattr(args, "data_dir", None)) as settings:
                    result = bench_store(store, settings, requests, warmup, driver)
            except Exception:  # noqa: BLE001 - report and go on to the next store
                failed = True
                print(f"  {store}: bench failed:", file=sys.stderr)
                traceback.print_exc()
                continue
            results.append(result)
            print(f"  {store} done in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        driver.close()
    report(results, requests)
    rows = targets(results)
    if getattr(args, "components", True):
        try:
            rows += components([r.store for r in results], getattr(args, "data_dir", None))
        except Exception:  # noqa: BLE001 - report what was measured
            failed = True
            print("  bench of the components failed:", file=sys.stderr)
            traceback.print_exc()
        print()
    print_targets(rows)
    errors = sum(lv.errors for r in results for lv in r.levels) + sum(r.warmup_errors for r in results)
    errors += sum(sl.load.errors for r in results for sl in r.streams)
    if errors:
        print(f"bench: {errors} release requests did not answer 200", file=sys.stderr)
    return 1 if failed or errors else 0
