"""Bench scaffolding: scratch stores, a school ready for releases, and the HTTP API in a thread."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Self

from service.settings import Settings, new_cipher_key

PG_HOST = os.environ.get("HANDOVER_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HANDOVER_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HANDOVER_TEST_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("HANDOVER_TEST_PG_PASSWORD", "")
SESSION = "after_school"
SIGN_IN_BATCH = 60  # the most pupil ids POST /v1/sign-ins accepts
PUPIL_BATCH = 250  # pupils saved per transaction during set-up


# -- scratch stores -------------------------------------------------------------
def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                           dbname="postgres", autocommit=True, connect_timeout=5)


@contextmanager
def scratch_store(store: str, data_dir: str | None) -> Iterator[Settings]:
    """Settings for a brand-new, empty store; the store is removed afterwards."""
    if store == "sqlite":
        parent = Path(data_dir) if data_dir else None
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="handover-bench-", dir=parent))
        try:
            yield Settings(store="sqlite", data_dir=tmp, sqlite_file="bench.sqlite3")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    elif store == "postgres":
        name = f"handover_bench_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield Settings(store="postgres", postgres_host=PG_HOST, postgres_port=PG_PORT,
                           postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                           postgres_dbname=name, postgres_schema="",
                           cipher_key=new_cipher_key())  # type: ignore[arg-type]
        finally:
            with _pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        raise ValueError(f"unknown store {store!r}: sqlite or postgres")


# -- the school ---------------------------------------------------------------------
@dataclass
class BenchSchool:
    school_id: str
    admin_token: str
    guard_id: str
    guard_token: str
    gate_id: str
    day: date
    pupils: list[tuple[str, str]] = field(default_factory=list)  # (pupil_id, guardian_id)


def every_day_schedule() -> dict[str, Any]:
    """The default schedule, with every session running all seven days and no holidays."""
    from service.domain.schedule import default_schedule

    data = default_schedule().to_dict()
    for session in data["sessions"]:
        session["weekdays"] = [1, 2, 3, 4, 5, 6, 7]
    data["no_service_dates"] = []
    return data


def build_school(settings: Settings, pupils: int) -> BenchSchool:
    """School, schedule, class, guard (with token), gate and enrolled pupils, in-process.

    School, schedule, class, staff and gate go through the set-up use cases. Pupils are built
    with the same domain calls as the register/apply/advance use cases but saved in batches,
    so thousands of pupils take seconds rather than thousands of fsyncs.
    """
    from service.domain.common import Actor
    from service.domain.pupil import Pupil
    from service.use_cases.application import HandoverApp

    app = HandoverApp(env=settings.eventsourcing_env())
    try:
        created = app.init_school("基准实验小学", "Asia/Shanghai", "基准管理员")
        school_id, admin_id = created["school_id"], created["admin_id"]

        def admin() -> Actor:
            return Actor(school_id=school_id, staff_id=admin_id, staff_name="基准管理员",
                         role="admin", at=app.now(), device="bench")

        _ok(app.set_schedule(admin(), every_day_schedule()), "set schedule")
        class_id = _ok(app.add_class(admin(), 3, 2, None), "add class")["class_id"]
        guard = _ok(app.add_staff(admin(), "刘保安", ["guard"], None), "add guard")
        gate_id = _ok(app.add_gate(admin(), "东门"), "add gate")["gate_id"]

        school = app.school(school_id)
        day = app.today(school)
        starts, ends = day - timedelta(days=30), day + timedelta(days=60)
        out = BenchSchool(school_id, created["token"], guard["staff_id"], guard["token"], gate_id, day)
        for first in range(0, pupils, PUPIL_BATCH):
            school = app.school(school_id)
            by = admin().record()
            batch: list[Pupil] = []
            for i in range(first, min(first + PUPIL_BATCH, pupils)):
                pupil = Pupil.register(school_id, f"bench/{i}", f"学生{i:05d}", "男", class_id, by)
                guardian_id = str(uuid.uuid4())
                pupil.add_guardian(guardian_id, f"家长{i:05d}", "母亲", f"139{i:08d}", True, None, by)
                pupil.apply_for_care("基准学期", starts, ends, [SESSION], guardian_id, by)
                for step in ("class_reviewed", "school_approved", "signed"):
                    pupil.advance_enrolment(step, None, by)
                batch.append(pupil)
                out.pupils.append((str(pupil.id), guardian_id))
            school.register_pupils([{"pupil_id": str(p.id), "class_id": class_id} for p in batch], by)
            app.save(school, *batch)
        return out
    finally:
        app.close()


def _ok(outcome: Any, what: str) -> dict[str, Any]:
    if not outcome.ok:
        raise RuntimeError(f"bench set-up failed to {what}: {outcome.result}")
    body: dict[str, Any] = outcome.body
    return body


def sign_in_all(base_url: str, school: BenchSchool, run_id: str) -> None:
    """The guard signs every pupil in at the gate, 60 per request, over HTTP."""
    import httpx

    ids = [pid for pid, _ in school.pupils]
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        for n, first in enumerate(range(0, len(ids), SIGN_IN_BATCH)):
            body = {"pupil_ids": ids[first:first + SIGN_IN_BATCH], "place_id": school.gate_id,
                    "day": school.day.isoformat(), "session": SESSION}
            r = client.post("/v1/sign-ins", json=body, headers={
                "Authorization": f"Bearer {school.guard_token}",
                "Idempotency-Key": f"bench-{run_id}-signin-{n}"})
            if r.status_code != 200:
                raise RuntimeError(f"bench sign-in failed: {r.status_code} {r.text[:500]}")


# -- the HTTP API in a thread ---------------------------------------------------------
class ApiThread:
    """The real FastAPI app under uvicorn, on a free loopback port, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from service.api.app import create_app

        # IPPROTO_TCP named, so asyncio recognises the accepted connections as TCP and turns
        # Nagle off on them, as it does for `handover serve`; and off on the listener too (Linux
        # hands it on to what it accepts). Without it a small response waits ~40 ms for an ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Same loop / HTTP parser defaults as `handover serve` (uvicorn.run): uvloop, httptools.
        self.api = create_app(settings)
        config = uvicorn.Config(self.api, log_level="warning", access_log=False,
                                lifespan="on", timeout_graceful_shutdown=10)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name="bench-uvicorn", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the HTTP API did not start (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP API did not start within 30 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=20)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError("the HTTP API did not shut down within 20 s")
