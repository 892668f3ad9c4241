"""``handover bench --scenario rush``: a district's dismissal replayed against one PostgreSQL node.

1. Plan the district (``service.demo.district``: 200 schools, their classes, gates, staff, and
   for every pupil how the afternoon ends) and its gate releases in time order.
2. Take the densest run of releases the window needs (``--offered-rate`` x ``--seconds``, after
   a few seconds' warm-up taken just before it) and build, on a scratch PostgreSQL database,
   every school of the district (schedule, gates, classes, staff, a token for each gate's guard)
   but only the pupils of that run; sign them in at their gates (in-process, in batches).
3. Start ``handover worker`` (the views, watcher, deliverer) and ``handover serve`` (the API,
   ``HANDOVER_RUN_PROJECTIONS=false``) as processes of their own, as in production.
4. Replay the run with wrk (``tools/rush.lua``): one ``POST /v1/releases`` per pupil, by the guard
   of the pupil's school and gate, at a constant offered rate in timetable order, open loop
   (latency counted from when each request was due). Meanwhile poll the log's head and the
   roster view's position every few milliseconds: how long after the log reached a position the
   roster covered it is the projection lag.
5. In the same run: the raw single-row INSERT+COMMIT rate and the bare ``Application.save()``
   rate on the same database, and a do-nothing route (``GET /``, a redirect: no token, no store)
   under the same wrk at full speed.

The watcher is kept quiet (as in the release bench): a bench run after the day's deadlines would
otherwise measure an alert storm. The service runs on the real clock: the timetable's minutes say
which pupils leave in which order, and the replay compresses them into the window.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from service.demo.district import (
    SESSION,
    TIMEZONE,
    Leaving,
    SchoolPlan,
    busiest_minute,
    densest_run,
    district_timetable,
    plan_district,
)
from service.settings import Settings
from tools.bench import bare_save_rate, raw_insert_rate
from tools.bench_setup import scratch_store

P99_TARGET_MS = 25.0
LAG_TARGET_MS = 100.0
WARMUP_SECONDS = 3.0
NOTHING_SECONDS = 5.0
GRACE = 30.0  # seconds wrk waits after the window for the last answers
QUIET_WATCHER = 86400.0
PUPIL_BATCH = 250
SIGN_IN_BATCH = 60
LAG_POLL = 0.010  # seconds between looks at the log head and the roster's position
CHECKOUT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "rush.lua"


# -- building the district ---------------------------------------------------------------------
@dataclass
class BuiltSchool:
    plan: SchoolPlan
    school_id: str
    gates: dict[str, str]  # gate name: gate id
    tokens: dict[str, str]  # gate name: the token of a guard at that gate
    pupils: dict[int, tuple[str, str]] = field(default_factory=dict)  # number: (pupil_id, guardian_id)


def build_district(settings: Settings, plans: list[SchoolPlan], wanted: dict[int, set[int]],
                   day: date | None = None) -> tuple[dict[int, BuiltSchool], date]:
    """Every school of the plan, with only the pupils ``wanted`` (school index: pupil numbers),
    enrolled for the term and signed in at their class's gate by its guard.

    The school's set-up is one save of the same domain calls the admin's set-up commands make
    (the schedule through its use case, which checks it); pupils are saved 250 to a
    transaction and signed in 60 to a command, in this process."""
    from service.domain.common import Actor
    from service.domain.pupil import Pupil
    from service.domain.staff import new_token
    from service.use_cases.application import HandoverApp
    from service.use_cases.commands import SignIn
    from service.use_cases.setup import class_label

    app = HandoverApp(env=settings.eventsourcing_env())
    built: dict[int, BuiltSchool] = {}
    try:
        for plan in plans:
            admin_name = plan.staff[0].name
            created = app.init_school(plan.name, TIMEZONE, admin_name, plan.stage)
            school_id, admin_id = created["school_id"], created["admin_id"]

            def actor(staff_id: str, name: str, role: str, sid: str = school_id) -> Actor:
                return Actor(school_id=sid, staff_id=staff_id, staff_name=name, role=role,
                             at=app.now(), device="bench")

            admin = actor(admin_id, admin_name, "admin")
            _ok(app.set_schedule(admin, plan.schedule(weekdays=(1, 2, 3, 4, 5, 6, 7))), "set schedule")
            school = app.school(school_id)
            by = actor(admin_id, admin_name, "admin").record()
            gates = {name: str(uuid.uuid4()) for name in plan.gates}
            for name, gate_id in gates.items():
                school.add_gate(gate_id, name, by)
            staff_ids: dict[int, str] = {}
            for n, member in enumerate(plan.staff[1:], start=1):
                staff_ids[n] = str(uuid.uuid4())
                school.add_staff(staff_ids[n], member.name, list(member.roles), None, by)
            homerooms = iter(n for n, m in enumerate(plan.staff) if m.title.endswith("班主任"))
            class_ids: dict[tuple[int, int], str] = {}
            for c in plan.classes:
                class_ids[c.grade, c.class_no] = str(uuid.uuid4())
                school.add_class(class_ids[c.grade, c.class_no], c.grade, c.class_no,
                                 class_label(c.grade, c.class_no), staff_ids[next(homerooms)], by)
            guards: dict[str, tuple[str, str]] = {}
            for n, member in enumerate(plan.staff):
                if member.gate is not None and member.gate not in guards:
                    guards[member.gate] = (staff_ids[n], member.name)
            tokens = {gate: new_token() for gate in guards}
            issued = [app.new_staff_token(tokens[gate], school_id, staff_id, by)
                      for gate, (staff_id, _) in guards.items()]
            app.save(school, *issued)
            out = built[plan.index] = BuiltSchool(plan, school_id, gates, tokens)

            numbers = wanted.get(plan.index, set())
            if not numbers:
                continue
            today = day or app.today(app.school(school_id, readonly=True))
            day = today
            starts, ends = today - timedelta(days=30), today + timedelta(days=60)
            plan_pupils = [p for p in plan.pupils() if p.number in numbers]
            for first in range(0, len(plan_pupils), PUPIL_BATCH):
                school = app.school(school_id)
                by = actor(admin_id, admin_name, "admin").record()
                batch: list[tuple[Any, str]] = []  # (pupil, class id)
                for p in plan_pupils[first:first + PUPIL_BATCH]:
                    class_id = class_ids[p.grade, p.class_no]
                    pupil = Pupil.register(school_id, f"district/{plan.index}/{p.number}", p.name,
                                           p.gender, class_id, by)
                    guardian_id = str(uuid.uuid4())
                    g = p.guardian
                    pupil.add_guardian(guardian_id, g["name"], g["relation"], g["phone"], True, None, by)
                    pupil.apply_for_care("本学期", starts, ends, [SESSION], guardian_id, by)
                    for step in ("class_reviewed", "school_approved", "signed"):
                        pupil.advance_enrolment(step, None, by)
                    batch.append((pupil, class_id))
                    out.pupils[p.number] = (str(pupil.id), guardian_id)
                school.register_pupils([{"pupil_id": str(pu.id), "class_id": cid}
                                        for pu, cid in batch], by)
                app.save(school, *(pu for pu, _ in batch))
            by_gate: dict[str, list[str]] = {}
            seats = list(plan.seats())
            for number in sorted(numbers):
                by_gate.setdefault(seats[number].gate, []).append(out.pupils[number][0])
            for gate, ids in by_gate.items():
                guard_id, guard_name = guards[gate]
                for first in range(0, len(ids), SIGN_IN_BATCH):
                    _ok(app.sign_in(actor(guard_id, guard_name, "guard"), SignIn(
                        tuple(ids[first:first + SIGN_IN_BATCH]), gates[gate], today, SESSION)), "sign in")
        return built, day or date.today()
    finally:
        app.close()


def _ok(outcome: Any, what: str) -> dict[str, Any]:
    if not outcome.ok:
        raise RuntimeError(f"rush set-up failed to {what}: {outcome.result}")
    body: dict[str, Any] = outcome.body
    return body


def request_lines(built: dict[int, BuiltSchool], releases: list[Leaving], day: date, run_id: str,
                  label: str) -> list[str]:
    """One wrk request line per release: the guard of the pupil's gate releases them there to
    the guardian, known to the staff."""
    import json

    lines = []
    for n, leaving in enumerate(releases):
        school = built[leaving.school]
        pupil_id, guardian_id = school.pupils[leaving.pupil]
        body = json.dumps({"pupil_ids": [pupil_id], "gate_id": school.gates[leaving.gate],
                           "collector_id": guardian_id, "identity_check": "known_to_staff",
                           "day": day.isoformat(), "session": SESSION}, separators=(",", ":"))
        lines.append(f"POST\t/v1/releases\t{school.tokens[leaving.gate]}\trush-{run_id}-{label}-{n}\t{body}")
    return lines


# -- processes -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(settings: Settings, data_dir: Path, port: int) -> dict[str, str]:
    """The environment ``handover serve`` and ``handover worker`` read their settings from."""
    key = settings.cipher_key.get_secret_value() if settings.cipher_key else ""
    return {**os.environ, "PYTHONPATH": str(CHECKOUT), "HANDOVER_STORE": "postgres",
            "HANDOVER_POSTGRES_HOST": settings.postgres_host,
            "HANDOVER_POSTGRES_PORT": str(settings.postgres_port),
            "HANDOVER_POSTGRES_USER": settings.postgres_user,
            "HANDOVER_POSTGRES_PASSWORD": settings.postgres_password,
            "HANDOVER_POSTGRES_DBNAME": settings.postgres_dbname, "HANDOVER_POSTGRES_SCHEMA": "",
            "HANDOVER_CIPHER_KEY": key, "HANDOVER_DATA_DIR": str(data_dir),
            "HANDOVER_HOST": "127.0.0.1", "HANDOVER_PORT": str(port),
            "HANDOVER_WATCH_INTERVAL": str(QUIET_WATCHER)}


class Service:
    """``handover worker`` and ``handover serve`` as processes of their own. The worker starts
    first, so its views follow the set-up as it is written (as on a real day, when the
    afternoon's rush finds them current)."""

    def __init__(self, settings: Settings, scratch: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = service_env(settings, scratch / "data", self.port)
        self.logs = {name: open(scratch / f"{name}.log", "wb") for name in ("worker", "api")}  # noqa: SIM115
        self.scratch = scratch
        self.worker = self._start("worker", {})
        self.api: subprocess.Popen[bytes] | None = None

    def _start(self, name: str, extra: dict[str, str]) -> subprocess.Popen[bytes]:
        command = "serve" if name == "api" else name
        return subprocess.Popen([sys.executable, "-m", "service.cli", command], cwd=CHECKOUT,
                                env={**self.env, **extra}, stdout=self.logs[name],
                                stderr=subprocess.STDOUT)

    def start_api(self) -> subprocess.Popen[bytes]:
        self.api = self._start("api", {"HANDOVER_RUN_PROJECTIONS": "false"})
        return self.api

    def wait_ready(self, timeout: float = 600.0) -> dict[str, Any]:
        """Until ``/health`` says ok: the worker reporting, every view within 1,000 events."""
        import httpx

        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for name, proc in (("worker", self.worker), ("API", self.api)):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"the {name} process exited ({proc.returncode}): "
                                       f"{self.tail()}")
            try:
                r = httpx.get(self.base_url + "/health", timeout=5)
                last = r.json()
                if r.status_code == 200:
                    return dict(last)
            except (httpx.HTTPError, ValueError) as e:
                last = repr(e)
            time.sleep(0.3)
        raise RuntimeError(f"the service was not healthy within {timeout:.0f} s: {last}")

    def tail(self) -> str:
        for log in self.logs.values():
            log.flush()
        return " | ".join(f"{name}: " + (self.scratch / f"{name}.log").read_text(errors="replace")[-600:]
                          for name in self.logs)

    def stop(self) -> None:
        procs = [p for p in (self.api, self.worker) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs.values():
            log.close()


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def postgres_cpu() -> float:
    """CPU of every PostgreSQL process on the machine (the server is shared: others count too)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if "(postgres)" in stat:
                fields = stat.rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- projection lag -----------------------------------------------------------------------------
class LagPoller:
    """Looks at the log's head and the roster view's position (one query, one connection) every
    LAG_POLL seconds; for each head seen, how long until the roster was seen covering it."""

    def __init__(self, settings: Settings) -> None:
        import psycopg
        from psycopg import sql

        from service.projections.docstore import PostgresDocView
        from service.projections.views import make_view
        from service.workers.bootstrap import open_application

        app = open_application(settings)
        try:
            roster = make_view("roster", settings, app)
            assert isinstance(roster, PostgresDocView), "the rush runs on PostgreSQL"
            head = app.recorder.max_notification_id_statement  # type: ignore[attr-defined]
            self.query = sql.SQL("SELECT ({}), (SELECT position FROM {} WHERE view = 'roster' "
                                 "AND application = %s)").format(head, sql.SQL(roster.tracking))
            self.application = app.name
        finally:
            app.close()
        self.conn = psycopg.connect(host=settings.postgres_host, port=settings.postgres_port,
                                    user=settings.postgres_user, password=settings.postgres_password,
                                    dbname=settings.postgres_dbname, autocommit=True)
        self.heads: list[tuple[int, float]] = []  # (position, first seen)
        self.covered: list[tuple[int, float]] = []  # (roster position, first seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rush-lag", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            row = self.conn.execute(self.query, (self.application,)).fetchone()
            seen = time.perf_counter()
            head, roster = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
            if not self.heads or head > self.heads[-1][0]:
                self.heads.append((head, seen))
            if not self.covered or roster > self.covered[-1][0]:
                self.covered.append((roster, seen))
            self._stop.wait(LAG_POLL)

    def start(self) -> None:
        self._thread.start()

    def caught_up(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.heads and self.covered and self.covered[-1][0] >= self.heads[-1][0]:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.conn.close()

    def lags_ms(self, since: float) -> list[float]:
        out: list[float] = []
        j = 0
        for position, at in self.heads:
            if at < since:
                continue
            while j < len(self.covered) and self.covered[j][0] < position:
                j += 1
            if j == len(self.covered):
                break
            out.append(max(0.0, self.covered[j][1] - at) * 1000)
        return sorted(out)


# -- wrk ----------------------------------------------------------------------------------------
@dataclass
class Replay:
    offered: float
    sent: int
    answered: int
    statuses: Counter[str]
    latencies_ms: list[float]  # from when each request was due
    service_ms: list[float]  # from when each was sent
    seconds: float
    late_sends: int  # sent more than 5 ms after they were due
    wrk_cpu: float
    wrk_rss_mb: float

    @property
    def rate(self) -> float:
        return self.statuses.get("200", 0) / self.seconds if self.seconds > 0 else 0.0

    @property
    def non_2xx(self) -> int:
        """Answers that were not 2xx (requests never answered are counted apart)."""
        return sum(n for s, n in self.statuses.items() if s.isdigit() and not s.startswith("2"))

    @property
    def unanswered(self) -> int:
        return self.sent - self.answered


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: the rush needs it as its load generator "
                           "(Debian: apt-get install -y wrk; or run scripts/ensure-bench.sh as root)")
    return found


def replay(base_url: str, lines: list[str], rate: float, connections: int, work: Path) -> Replay:
    """Send every line with wrk at ``rate`` per second, open loop, and read back every answer."""
    for old in [*work.glob("thread-*"), *work.glob("requests-*")]:
        old.unlink()
    threads = max(1, min(connections, len(lines)))
    for t in range(threads):  # each wrk thread reads only its own lines
        share = (f"{n}\t{lines[n]}\n" for n in range(t, len(lines), threads))
        (work / f"requests-{t}.tsv").write_text("".join(share), encoding="utf-8")
    window = len(lines) / rate
    start_us = int((time.time() + 1.0 + threads * 0.01) * 1_000_000)
    proc = subprocess.Popen(
        [wrk_path(), "-t", str(threads), "-c", str(threads), "-d", f"{math.ceil(window + GRACE + 1)}s",
         "--timeout", "30s", "-s", str(LUA), base_url, "--",
         str(work / "requests"), str(work), str(start_us), str(rate)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rss_mb, stopping = 0.0, False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:  # wrk's own peak (its rusage after exit would count the bench it was forked from)
            rss_mb = max(rss_mb, peak_rss_mb(proc.pid))
        except OSError:
            pass
        if not stopping and len(list(work.glob("thread-*.done"))) >= threads:
            proc.send_signal(signal.SIGINT)  # every line answered: no need to sit out -d
            stopping = True
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    rows = []
    for path in work.glob("thread-*.tsv"):
        for row in path.read_text().splitlines():
            n, due, sent, answered, code = row.split("\t")
            rows.append((int(n), int(due), int(sent), int(answered), code))
    if not rows and len(lines):
        raise RuntimeError(f"wrk answered nothing (exit {proc.returncode}): {output[-1500:]}")
    if not stopping:
        print(f"  wrk stopped before every line was answered (exit {proc.returncode}): "
              f"{' | '.join(output.strip().splitlines()[-8:])}", flush=True)
    statuses: Counter[str] = Counter(code for *_, code in rows)
    first_due = min(r[1] for r in rows) if rows else 0
    last = max(r[3] for r in rows) if rows else 0
    return Replay(
        offered=rate, sent=len(lines), answered=len(rows), statuses=statuses,
        latencies_ms=sorted((a - min(d, s)) / 1000 for _, d, s, a, _ in rows),
        service_ms=sorted((a - s) / 1000 for _, _, s, a, _ in rows),
        seconds=(last - first_due) / 1e6, late_sends=sum(1 for _, d, s, _, _ in rows if s - d > 5000),
        wrk_cpu=usage.ru_utime + usage.ru_stime, wrk_rss_mb=rss_mb)


def do_nothing(base_url: str, connections: int, seconds: float) -> tuple[float, float, float]:
    """``GET /`` (a redirect: no token, no store) at full speed under wrk: rate, p50 and p99 ms."""
    out = subprocess.run([wrk_path(), "-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                          "--latency", base_url + "/"], check=False, capture_output=True, text=True,
                         timeout=seconds + 60)
    rate = p50 = p99 = float("nan")
    for line in out.stdout.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rate = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            value = _wrk_ms(words[1])
            p50, p99 = (value, p99) if words[0] == "50%" else (p50, value)
    if math.isnan(rate):
        raise RuntimeError(f"wrk on GET / printed no rate: {out.stdout[-800:]} {out.stderr[-400:]}")
    return rate, p50, p99


def _wrk_ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * factor
    return float(text)


def _pct(ordered: list[float], p: float) -> float:
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] if ordered else float("nan")


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# -- the scenario -------------------------------------------------------------------------------
@dataclass
class RushResult:
    replay: Replay
    lags_ms: list[float]
    caught_up: bool
    cpu: dict[str, float]
    rss_mb: dict[str, float]
    raw_insert: float
    bare_save: float
    nothing: tuple[float, float, float]
    lines: list[str] = field(default_factory=list)


def run_rush(args: argparse.Namespace) -> int:
    schools = int(getattr(args, "schools", 200) or 200)
    rate = float(getattr(args, "offered_rate", 200.0) or 200.0)
    seconds = float(getattr(args, "seconds", 60.0) or 60.0)
    scale = float(getattr(args, "scale", 1.0) or 1.0)
    connections = int(getattr(args, "connections", 128) or 128)
    if schools < 1 or rate <= 0 or seconds <= 0 or scale <= 0 or connections < 1:
        print("bench: --schools, --offered-rate, --seconds, --scale and --connections must be positive",
              file=sys.stderr)
        return 2
    try:
        wrk_path()
        result = rush(schools, rate, seconds, scale, connections)
    except RuntimeError as e:
        print(f"bench rush: {e}", file=sys.stderr)
        return 1
    for line in result.lines:
        print(line)
    rp = result.replay
    failures = [f"{rp.non_2xx} releases answered other than 2xx" if rp.non_2xx else "",
                f"{rp.unanswered} releases not answered" if rp.unanswered else "",
                "" if result.caught_up else "the roster did not catch up with the log"]
    if any(failures):
        print(f"bench rush: {'; '.join(f for f in failures if f)}", file=sys.stderr)
        return 1
    return 0


def rush(schools: int, rate: float, seconds: float, scale: float, connections: int, *,
         references: int = 5000, nothing_seconds: float = NOTHING_SECONDS) -> RushResult:
    """The whole scenario on a scratch PostgreSQL database; ``references``: how many commits
    and saves each reference loop makes at most (it stops after 8 s anyway)."""
    started = time.perf_counter()
    say = _printer()
    plans = plan_district(schools, scale=scale)
    say(f"handover bench --scenario rush: {schools} schools, {sum(p.pupil_count for p in plans):,} pupils "
        f"in after-school care (scale {scale:g}); offered {rate:g} releases/s for {seconds:g} s "
        f"through {connections} connections; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with scratch_store("postgres", None) as settings:
        tmp = Path(tempfile.mkdtemp(prefix="handover-rush-"))
        try:
            return _rush(settings, plans, rate, seconds, connections, tmp, started, say,
                         references, nothing_seconds)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _printer() -> Any:
    def say(line: str) -> None:
        print(f"  {line}", flush=True)
    return say


def _rush(settings: Settings, plans: list[SchoolPlan], rate: float, seconds: float, connections: int,
          tmp: Path, started: float, say: Any, references: int, nothing_seconds: float) -> RushResult:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    day = datetime.now(ZoneInfo(TIMEZONE)).date()
    timetable = district_timetable(plans, day)
    warm_n = max(1, round(rate * WARMUP_SECONDS))
    n = max(1, round(rate * seconds))
    first = densest_run(timetable, warm_n + n)
    run = timetable[first:first + warm_n + n]
    warm, window = run[:warm_n], run[warm_n:]
    minute, peak = busiest_minute(timetable)
    within = sum(1 for x in timetable if x.at is not None and (x.at - x.dismissal).total_seconds() <= 1800)
    span = (window[-1].at - window[0].at).total_seconds() if window[0].at and window[-1].at else 0.0
    say(f"district timetable for {day}: {len(timetable):,} gate releases, {within / len(timetable):.0%} "
        f"within 30 min of their band's dismissal; busiest minute {minute:%H:%M} with {peak:,} "
        f"({peak / 60:.1f}/s)")
    say(f"replayed: releases {first + warm_n + 1:,}-{first + warm_n + n:,} of the day's "
        f"(the densest run), {window[0].at:%H:%M:%S}-{window[-1].at:%H:%M:%S} on the timetable "
        f"({span:.0f} s, {len(window) / max(span, 1):.1f}/s), in timetable order at a constant "
        f"{rate:g}/s; the {warm_n} before them as warm-up")

    raw = raw_insert_rate(settings, references)
    bare = bare_save_rate(settings, references)
    say(f"references: raw single-row INSERT+COMMIT {raw:.0f}/s, bare Application.save() {bare:.0f}/s")

    wanted: dict[int, set[int]] = {}
    for leaving in run:
        wanted.setdefault(leaving.school, set()).add(leaving.pupil)
    service = Service(settings, tmp)
    poller: LagPoller | None = None
    try:
        t0 = time.perf_counter()
        built, built_day = build_district(settings, plans, wanted, day)
        if built_day != day:
            raise RuntimeError(f"the schools' day {built_day} is not the timetable's {day}: run again")
        built_in = time.perf_counter() - t0
        run_id = uuid.uuid4().hex[:8]
        warm_lines = request_lines(built, warm, day, run_id, "warm")
        lines = request_lines(built, window, day, run_id, "rush")
        service.start_api()
        health = service.wait_ready()
        say(f"set-up: {len(plans)} schools (gates, classes, {sum(len(p.staff) for p in plans):,} staff), "
            f"{len(run):,} pupils of {len(wanted)} schools enrolled and signed in, in {built_in:.0f} s; "
            f"{health.get('log_position') or 0:,} events, the worker's views current "
            f"{time.perf_counter() - t0 - built_in:.0f} s later (not measured)")
        work = tmp / "wrk"
        work.mkdir()
        warmed = replay(service.base_url, warm_lines, rate, connections, work)
        if warmed.non_2xx:
            say(f"warm-up: {warmed.non_2xx} of {warmed.sent} not 2xx: {dict(warmed.statuses)}")
        poller = LagPoller(settings)
        poller.start()
        if not poller.caught_up(60):
            raise RuntimeError("the roster did not catch up with the warm-up within 60 s")
        assert service.api is not None
        pids = {"API (handover serve)": service.api.pid, "worker (handover worker)": service.worker.pid}
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        bench0, pg0 = self_cpu(), postgres_cpu()
        since = time.perf_counter()
        result = replay(service.base_url, lines, rate, connections, work)
        caught_up = poller.caught_up(60)
        cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
        cpu["wrk"] = result.wrk_cpu
        cpu["bench (this process: lag poller)"] = self_cpu() - bench0
        cpu["PostgreSQL (all its processes)"] = postgres_cpu() - pg0
        rss = {name: peak_rss_mb(pid) for name, pid in pids.items()}
        rss["wrk"] = result.wrk_rss_mb
        rss["bench (this process: lag poller)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        poller.stop()
        lags = poller.lags_ms(since)
        poller = None
        nothing = do_nothing(service.base_url, connections, nothing_seconds)
    finally:
        if poller is not None:
            poller.stop()
        service.stop()
    out = RushResult(result, lags, caught_up, cpu, rss, raw, bare, nothing)
    out.lines = report(out, time.perf_counter() - started, nothing_seconds)
    return out


def report(r: RushResult, elapsed: float, nothing_seconds: float = NOTHING_SECONDS) -> list[str]:
    rp = r.replay
    p99 = _pct(rp.latencies_ms, 99)
    lag99 = _pct(r.lags_ms, 99)
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(rp.statuses.items()))
    window = rp.sent / rp.offered
    lines = [
        "",
        (f"Rush: POST /v1/releases (1 pupil each, each school's gate guard), open loop at an offered "
        f"{rp.offered:g}/s; one PostgreSQL node, everything on this machine"),
        f"  offered             {rp.offered:8.1f} /s   {rp.sent} releases over {window:.0f} s",
        (f"  achieved            {rp.rate:8.1f} commands/s   (answered 200 / first due to last answer, "
        f"{rp.seconds:.1f} s)"),
        (f"  latency from due    p50 {_pct(rp.latencies_ms, 50):7.1f} ms   p99 {p99:7.1f} ms   "
        f"max {rp.latencies_ms[-1] if rp.latencies_ms else float('nan'):7.1f} ms   "
        f"target p99 <= {P99_TARGET_MS:.0f} ms: {_mark(p99 <= P99_TARGET_MS)}"),
        (f"  latency from sent   p50 {_pct(rp.service_ms, 50):7.1f} ms   p99 {_pct(rp.service_ms, 99):7.1f} ms   "
        f"({rp.late_sends} sent more than 5 ms late: a connection still waiting)"),
        (f"  answers             {statuses}   non-2xx: {rp.non_2xx}"
         + (f"   not answered {GRACE:.0f} s after the window: {rp.unanswered}" if rp.unanswered else "")),
        (f"  roster lag          p50 {_pct(r.lags_ms, 50):7.1f} ms   p99 {lag99:7.1f} ms   "
        f"max {r.lags_ms[-1] if r.lags_ms else float('nan'):7.1f} ms   target p99 <= {LAG_TARGET_MS:.0f} ms: "
        f"{_mark(lag99 <= LAG_TARGET_MS)}   ({len(r.lags_ms)} log heads seen, polled every "
        f"{LAG_POLL * 1000:.0f} ms; caught up: {'yes' if r.caught_up else 'NO'})"),
        "  references, same run and database:",
        f"    raw single-row INSERT+COMMIT   {r.raw_insert:8.0f} /s",
        f"    bare Application.save()        {r.bare_save:8.0f} /s",
        (f"    do-nothing route GET / (307)   {r.nothing[0]:8.0f} /s   p50 {r.nothing[1]:.1f} ms   "
        f"p99 {r.nothing[2]:.1f} ms   (wrk, {nothing_seconds:g} s, full speed)"),
        f"  {'process':<36} {'CPU s':>7} {'CPU/answer ms':>15} {'peak RSS MB':>12}",
    ]
    for name, cpu in r.cpu.items():
        per = cpu / rp.answered * 1000 if rp.answered else 0.0  # per release answered
        rss = r.rss_mb.get(name)
        lines.append(f"  {name:<36} {cpu:>7.1f} {per:>15.2f} {rss if rss is not None else float('nan'):>12.0f}"
                     if rss is not None else f"  {name:<36} {cpu:>7.1f} {per:>15.2f} {'-':>12}")
    load = os.getloadavg()
    lines.append(f"  (CPU over the rush window; load average now {load[0]:.2f} on {os.cpu_count()} CPUs; "
                 f"whole run {elapsed:.0f} s)")
    return lines
