"""The worker as a real process: killed mid-stream and restarted, its views lose and repeat nothing;
cut off from the database, it says so, keeps running and catches up when the database is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.application import HandoverApp
from service.projections.docstore import SQLiteDocView
from service.projections.roster import Roster, read_roster
from service.projections.runtime import Runner
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import a_school, handed_to_teacher, walked_to_gate
from tests.conftest import MORNING, TEST_CIPHER_KEY, _pg_schema
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.tcp_proxy import TcpProxy
from tests.test_outage import eventually


def worker(data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HANDOVER_VIEW_BATCH_SIZE": "3", "HANDOVER_WATCH_INTERVAL": "86400"}
    return subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--store", "sqlite",
                             "--data-dir", str(data_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_worker_killed_mid_stream_and_restarted_loses_and_repeats_nothing(tmp_path: Path) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path, run_projections=False)
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    with TestClient(create_app(settings, application=app, clock=clock)) as client:
        world = a_school(client, app, 12)
        handed_to_teacher(world)
        walked_to_gate(world, list(range(6)))
    head = app.recorder.max_notification_id() or 0
    views = Views(app, settings)
    roster = views.runners["roster"]

    first = worker(tmp_path)
    deadline = time.monotonic() + 60
    while roster.position < 20 and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)  # no clean shutdown: as if the machine died
    first.wait()
    stopped_at = roster.position
    assert 0 < stopped_at < head

    second = worker(tmp_path)
    try:
        roster.wait(head, timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert second.returncode == 0

    incremental = read_roster(roster.view, world.school_id, date(2026, 11, 23), "after_school")
    rebuilt_view = SQLiteDocView("roster", str(tmp_path / "check.sqlite3"))
    Runner(app, Roster(rebuilt_view)).catch_up()
    rebuilt = read_roster(rebuilt_view, world.school_id, date(2026, 11, 23), "after_school")
    app.close()
    assert incremental is not None and rebuilt is not None
    assert incremental["pupils"] == rebuilt["pupils"]
    assert incremental["counts"]["by_status"] == {"in_custody": 12}


def test_a_worker_that_loses_the_database_says_so_and_catches_up_when_it_is_back(
        tmp_path: Path, pg_database: str, request: pytest.FixtureRequest) -> None:
    schema = _pg_schema(request)
    settings = Settings(store="postgres", postgres_host=PG_HOST, postgres_port=PG_PORT,
                        postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                        postgres_dbname=pg_database, postgres_schema=schema, run_projections=False,
                        cipher_key=SecretStr(TEST_CIPHER_KEY))
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    roster = Views(app, settings).runners["roster"]
    log_file = tmp_path / "worker.log"
    with TcpProxy(PG_HOST, PG_PORT) as proxy, log_file.open("wb") as out, \
            TestClient(create_app(settings, application=app, clock=clock)) as client:
        env = {**os.environ, "HANDOVER_STORE": "postgres", "HANDOVER_POSTGRES_HOST": "127.0.0.1",
               "HANDOVER_POSTGRES_PORT": str(proxy.port), "HANDOVER_POSTGRES_USER": PG_USER,
               "HANDOVER_POSTGRES_PASSWORD": PG_PASSWORD, "HANDOVER_POSTGRES_DBNAME": pg_database,
               "HANDOVER_POSTGRES_SCHEMA": schema, "HANDOVER_POSTGRES_POOL_WAIT": "1",
               "HANDOVER_POSTGRES_CONNECT_TIMEOUT": "1", "HANDOVER_POSTGRES_RECONNECT_TIMEOUT": "2",
               "HANDOVER_RETRY_MAX_BACKOFF": "0.5", "HANDOVER_WATCH_INTERVAL": "86400",
               "HANDOVER_CIPHER_KEY": TEST_CIPHER_KEY}
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "worker"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
        try:
            world = a_school(client, app, 3)
            roster.wait(app.recorder.max_notification_id(), timeout=60)
            # Given the worker's database connections are cut while the API goes on writing,
            proxy.cut()
            handed_to_teacher(world)
            head = app.recorder.max_notification_id()
            # then the worker says so, and keeps running instead of exiting,
            eventually(lambda: b"view roster failing (retrying)" in log_file.read_bytes())
            assert process.poll() is None
            assert roster.position < (head or 0)
            # and once the database is back it catches up by itself.
            proxy.restore()
            roster.wait(head, timeout=60)
            eventually(lambda: b"view roster resumed" in log_file.read_bytes())
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    app.close()
    assert process.returncode == 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_api_processes_on_postgresql_share_the_commands_and_each_is_recorded_once(
        tmp_path: Path, pg_database: str, request: pytest.FixtureRequest) -> None:
    import httpx

    from tests.test_group_commit import together

    schema = _pg_schema(request)
    settings = Settings(store="postgres", postgres_host=PG_HOST, postgres_port=PG_PORT,
                        postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                        postgres_dbname=pg_database, postgres_schema=schema, run_projections=False,
                        cipher_key=SecretStr(TEST_CIPHER_KEY))
    app = HandoverApp(env=settings.eventsourcing_env())
    port = free_port()
    env = {**os.environ, "HANDOVER_POSTGRES_HOST": PG_HOST, "HANDOVER_POSTGRES_PORT": str(PG_PORT),
           "HANDOVER_POSTGRES_USER": PG_USER, "HANDOVER_POSTGRES_PASSWORD": PG_PASSWORD,
           "HANDOVER_POSTGRES_DBNAME": pg_database, "HANDOVER_POSTGRES_SCHEMA": schema,
           "HANDOVER_CIPHER_KEY": TEST_CIPHER_KEY, "HANDOVER_WATCH_INTERVAL": "86400"}
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    with api_log.open("wb") as out, worker_log.open("wb") as wout, \
            TestClient(create_app(settings, application=app)) as setup:
        world = a_school(setup, app, 6)
        api_env = {**env, "HANDOVER_WATCH_INTERVAL": "1", "HANDOVER_HEALTH_WATCHER_GRACE": "9"}
        api = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--store", "postgres",
                                "--port", str(port), "--workers", "2"], env=api_env,
                               stdout=out, stderr=subprocess.STDOUT)
        views = subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--store", "postgres"],
                                 env=env, stdout=wout, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            eventually(lambda: api_log.read_bytes().count(b"Application startup complete") == 2, 60)
            keys = [f"two-processes-{i}" for i in range(12)]

            def add_guardian(i: int) -> httpx.Response:
                with httpx.Client(base_url=base, timeout=30) as c:  # a new connection each time
                    return c.post(f"/v1/pupils/{world.pupil(i % 6)}/guardians",
                                  json={"name": f"外婆{i % 6}", "relation": "外婆", "phone": "13800000000"},
                                  headers=world.admin.h(**{"Idempotency-Key": keys[i % 6]}))
            # Each pupil's new guardian sent twice at once with the same key, to either process:
            first = together(12, add_guardian)
            assert [r.status_code for r in first] == [201] * 12, [r.text for r in first]
            for i in range(6):
                assert first[i].json() == first[i + 6].json()
            # recorded once each, and read back from either process.
            for i in range(12):
                with httpx.Client(base_url=base, timeout=30) as c:
                    pupil = c.get(f"/v1/pupils/{world.pupil(i % 6)}", headers=world.admin.h()).json()
                assert [g["name"] for g in pupil["guardians"]].count(f"外婆{i % 6}") == 1
            head = app.recorder.max_notification_id()
            with httpx.Client(base_url=base, timeout=30) as c:  # the views run in the worker
                roster = c.get("/v1/roster", params={"min_position": head}, headers=world.admin.h())
            assert roster.status_code == 200, roster.text
            # Each API process reads the worker's heartbeat: healthy while it beats, 503 once it stops.
            eventually(lambda: httpx.get(f"{base}/health").status_code == 200, 30)
            views.send_signal(signal.SIGKILL)
            views.wait(timeout=10)
            down, took = eventually(lambda: (r := httpx.get(f"{base}/health")).status_code == 503 and r, 40)
            assert down.json()["failing"] == ["worker"] and "heartbeat is" in down.json()["worker"]["error"]
            print(f"\n/health said the worker stopped {took:.1f}s after it was killed")
        finally:
            for process in (api, views):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    app.close()


def test_several_api_processes_are_refused_on_sqlite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from service.cli import main

    assert main(["serve", "--store", "sqlite", "--data-dir", str(tmp_path), "--workers", "2"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err
