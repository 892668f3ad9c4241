"""DESIGN §3.8 Honest health: a database outage answers 503 at once, shows in /health, and heals
without a restart; a view that cannot apply an event says so, where and for which school."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr

from service.adapters.store import Breaker
from service.api.app import create_app
from service.application import HandoverApp
from service.domain.handover import Handover
from service.projections.care_log import CareLog
from service.projections.docstore import MemoryDocView
from service.projections.failures import Backoff, EventNotApplied
from service.projections.runtime import Runner
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import World, a_school, handed_to_teacher, walked_to_gate
from tests.conftest import MORNING, QUIET_WATCHER, TEST_CIPHER_KEY, _pg_schema
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.tcp_proxy import TcpProxy
from tests.test_alerts import DEADLINE

QUICK = 6.0  # seconds: "within a few seconds", with room for a shared machine


def eventually(probe: Callable[[], Any], timeout: float = 30.0) -> tuple[Any, float]:
    """Poll until ``probe`` returns something truthy: (that value, seconds it took)."""
    t0 = time.monotonic()
    while True:
        value = probe()
        if value:
            return value, time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, "did not happen in time"
        time.sleep(0.1)


def timed(call: Callable[[], Response]) -> tuple[Response, float]:
    t0 = time.monotonic()
    r = call()
    return r, time.monotonic() - t0


def assert_unavailable(r: Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/store-unavailable")
    assert int(r.headers["Retry-After"]) > 0


def new_staff(world: World, name: str, key: str) -> Response:
    r: Response = world.client.post("/v1/staff", json={"name": name, "roles": ["teacher"]},
                                    headers=world.admin.h(**{"Idempotency-Key": key}))
    return r


def unpicked(world: World) -> list[dict[str, Any]]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = world.client.get("/v1/alerts", params={"kind": "unpicked", "min_position": head},
                         headers=world.admin.h())
    return list(r.json()["alerts"]) if r.status_code == 200 else []


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy(PG_HOST, PG_PORT) as p:
        yield p


def test_a_database_outage_answers_503_at_once_and_heals_without_a_restart(
        proxy: TcpProxy, pg_database: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(store="postgres", postgres_host="127.0.0.1", postgres_port=proxy.port,
                        postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                        postgres_dbname=pg_database, postgres_schema=_pg_schema(request),
                        postgres_pool_wait=1.5, postgres_connect_timeout=1,
                        postgres_reconnect_timeout=2, retry_max_backoff=0.5, watch_interval=0.3,
                        cipher_key=SecretStr(TEST_CIPHER_KEY))
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        with TestClient(create_app(settings, application=app, clock=clock)) as client:
            # Given a school whose pupil 0 went home and pupil 1 is still in care,
            world = a_school(client, app, 2)
            handed_to_teacher(world)
            walked_to_gate(world, [0])
            released = world.post(world.guard, "/v1/releases", {
                "pupil_ids": [world.pupil(0)], "gate_id": world.gate_id, "identity_check": "id_card",
                "collector_id": world.guardian(0)["guardian_id"]})
            assert released.status_code == 200, released.text
            acknowledged = app.recorder.max_notification_id() or 0
            assert client.get("/health").status_code == 200
            assert unpicked(world) == []

            # when the database goes away while pupil 1's deadline passes,
            proxy.cut()
            clock.set(DEADLINE)
            write, write_took = timed(lambda: new_staff(world, "孙老师", "outage-staff"))
            read, read_took = timed(lambda: client.get("/v1/alerts", headers=world.admin.h()))
            health, health_took = timed(lambda: client.get("/health"))
            print(f"\nduring the cut: write {write_took:.2f}s, read {read_took:.2f}s, "
                  f"health {health_took:.2f}s")

            # then a write and a read answer 503 problem+json with Retry-After in a few seconds,
            assert_unavailable(write)
            assert_unavailable(read)
            assert write_took < QUICK and read_took < QUICK and health_took < QUICK
            # and /health answers 503 naming the store,
            assert health.status_code == 503
            assert "store" in health.json()["failing"]
            assert health.json()["store_health"]["ok"] is False
            # and the views say they cannot reach it, where they stand (without dying).
            roster_down, _ = eventually(
                lambda: (h := client.get("/health").json()["views"]["roster"])["failure"] and h)
            assert roster_down["failure"]["kind"] == "store"
            assert roster_down["failure"]["stuck_at"] == roster_down["position"]

            # When it comes back, nothing is restarted:
            proxy.restore()
            created, heal_took = eventually(
                lambda: (r := new_staff(world, "孙老师", "outage-staff")).status_code == 201 and r)
            position = int(created.headers["X-Log-Position"])
            _, catch_up_took = eventually(lambda: client.get(
                "/v1/alerts", params={"min_position": position}, headers=world.admin.h()
            ).status_code == 200)
            [alert], alert_took = eventually(lambda: unpicked(world))
            _, health_back_took = eventually(lambda: client.get("/health").status_code == 200)
            print(f"after restore: write {heal_took:.2f}s, views {catch_up_took:.2f}s, "
                  f"alert {alert_took:.2f}s, health ok {health_back_took:.2f}s")

            # a write succeeds, the views catch up, the watcher raises the alert due meanwhile,
            assert alert["subject"]["pupil_id"] == world.pupil(1)
            # and every write acknowledged before the cut is still there.
            assert world.state(0)["status"] == "gone"
            assert world.state(1)["status"] == "in_custody"
            assert acknowledged < position
            assert any("store unavailable" in rec.getMessage() for rec in caplog.records)
    finally:
        app.close()


def test_a_service_started_while_the_database_is_away_answers_503_says_why_and_starts_once_it_is_back(
        proxy: TcpProxy, pg_database: str, request: pytest.FixtureRequest,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(store="postgres", postgres_host="127.0.0.1", postgres_port=proxy.port,
                        postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                        postgres_dbname=pg_database, postgres_schema=_pg_schema(request),
                        postgres_pool_wait=1.0, postgres_connect_timeout=1,
                        postgres_reconnect_timeout=1, retry_max_backoff=0.5, watch_interval=0.3,
                        cipher_key=SecretStr(TEST_CIPHER_KEY))
    proxy.cut()
    api = create_app(settings, clock=FixedClock(MORNING))
    with caplog.at_level(logging.ERROR), TestClient(api) as client:
        # Started with the database away: it does not exit; every route says so, and /health why.
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["failing"] == ["store"]
        assert health.json()["store_health"]["ok"] is False
        assert_unavailable(client.get("/v1/roster"))
        assert any("store does not answer" in r.getMessage() for r in caplog.records)
        # Once it is back, the service starts by itself: the store answers, the views run.
        proxy.restore()
        api.state.opening.backoff = Backoff(first=0.2, cap=0.5)
        _, took = eventually(lambda: client.get("/health").status_code == 200, timeout=40)
        print(f"\nstarted {took:.1f}s after the database came back")
        created = api.state.handover.init_school("晚开小学", "Asia/Shanghai", "王校长")
        r = client.get("/v1/school", headers={"Authorization": f"Bearer {created['token']}"})
        assert r.status_code == 200 and r.json()["name"] == "晚开小学"


def test_a_locked_sqlite_file_answers_503_and_the_same_write_succeeds_once_it_is_free(
        tmp_path: Path) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path, sqlite_lock_timeout=1,
                        watch_interval=QUIET_WATCHER)
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        with TestClient(create_app(settings, application=app, clock=clock)) as client:
            world = a_school(client, app, 1)
            other = sqlite3.connect(settings.sqlite_path, isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")  # another process holding the file
            locked, took = timed(lambda: new_staff(world, "孙老师", "locked-staff"))
            other.execute("ROLLBACK")
            other.close()
            assert_unavailable(locked)
            assert took < QUICK
            assert new_staff(world, "孙老师", "locked-staff").status_code == 201
    finally:
        app.close()


def test_a_view_that_cannot_apply_an_event_says_where_and_for_which_school_and_resumes_once_fixed(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(store="memory", retry_max_backoff=0.2, watch_interval=QUIET_WATCHER)
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    with TestClient(create_app(settings, application=app, clock=clock)) as client:
        world = a_school(client, app, 2)
        handed_to_teacher(world)
        before = app.recorder.max_notification_id() or 0
        views = client.app.state.views  # type: ignore[attr-defined]
        for runner in views.runners.values():
            runner.wait(before, timeout=10)
        # Given the care log has a bug on one kind of event (a poison event),
        original = CareLog.apply

        def poisoned(self: CareLog, event: Any, batch: Any) -> None:
            if isinstance(event, Handover.Confirmed):  # the event names no school: its aggregate does
                raise KeyError("care log cannot read this handover")
            original(self, event, batch)

        monkeypatch.setattr(CareLog, "apply", poisoned)
        # when such an event is written,
        walked_to_gate(world, [0])
        head = app.recorder.max_notification_id() or 0
        views.runners["roster"].wait(head, timeout=10)

        # then /health answers 503 naming the view, the school and the position it cannot pass,
        health, _ = eventually(lambda: (r := client.get("/health")).status_code == 503 and r.json())
        assert health["failing"] == ["views.care_log"]
        failure = health["views"]["care_log"]["failure"]
        assert failure["kind"] == "event" and "care log cannot read this handover" in failure["cause"]
        assert before < failure["failing_at"] <= head
        assert failure["stuck_at"] == failure["failing_at"] - 1  # everything before it is applied
        assert failure["school_id"] == world.school_id
        # and the logs say so too,
        assert any(rec.levelno == logging.ERROR and "care_log" in rec.getMessage()
                   and str(failure["failing_at"]) in rec.getMessage() for rec in caplog.records)
        # while the other views go on (the roster read at the head works),
        assert health["views"]["roster"]["lag"] == 0
        r = client.get("/v1/alerts", params={"min_position": head}, headers=world.admin.h())
        assert r.status_code == 200
        # and it keeps retrying with back-off: once fixed, it resumes by itself.
        attempts = failure["attempts"]
        eventually(lambda: client.get("/health").json()["views"]["care_log"]["failure"]["attempts"]
                   > attempts)
        monkeypatch.setattr(CareLog, "apply", original)
        views.runners["care_log"].wait(head, timeout=10)
        assert client.get("/health").status_code == 200


def test_views_that_lose_the_store_report_it_and_resume_by_themselves(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(store="memory", retry_max_backoff=0.2, watch_interval=QUIET_WATCHER)
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    with TestClient(create_app(settings, application=app, clock=clock)) as client:
        world = a_school(client, app, 1)
        reachable = app.recorder.select_notifications

        def away(*args: Any, **kwargs: Any) -> Any:
            raise OperationalError("connection refused")

        # Given the views' reads of the log fail for a while,
        monkeypatch.setattr(app.recorder, "select_notifications", away)
        app.saved.notify()
        # then /health says every view cannot reach the store,
        health, _ = eventually(lambda: (r := client.get("/health")).status_code == 503 and all(
            v["failure"] for v in r.json()["views"].values()) and r.json())
        assert {v["failure"]["kind"] for v in health["views"].values()} == {"store"}
        assert "connection refused" in health["views"]["roster"]["failure"]["cause"]
        # and once the reads work again, the views resume by themselves and catch up.
        monkeypatch.setattr(app.recorder, "select_notifications", reachable)
        handed_to_teacher(world)
        head = app.recorder.max_notification_id()
        r = client.get("/v1/alerts", params={"min_position": head}, headers=world.admin.h())
        assert r.status_code == 200
        eventually(lambda: client.get("/health").status_code == 200)


def test_a_view_commits_the_events_before_one_it_cannot_apply_and_stops_just_in_front_of_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(store="memory", run_projections=False, watch_interval=QUIET_WATCHER)
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    with TestClient(create_app(settings, application=app, clock=clock)) as client:
        world = a_school(client, app, 2)
        handed_to_teacher(world)
    head = app.recorder.max_notification_id() or 0
    [confirmed] = [n.id for n in app.recorder.select_notifications(start=1, limit=head)
                   if n.topic.endswith("Handover.Confirmed")]
    original = CareLog.apply

    def poisoned(self: CareLog, event: Any, batch: Any) -> None:
        if isinstance(event, Handover.Confirmed):
            raise KeyError("no such group")
        original(self, event, batch)

    monkeypatch.setattr(CareLog, "apply", poisoned)
    runner = Runner(app, CareLog(MemoryDocView("care_log")))
    with pytest.raises(EventNotApplied) as failed:
        runner.catch_up()
    assert failed.value.position == confirmed
    assert runner.position == confirmed - 1  # nothing before it lost, nothing after it applied
    with pytest.raises(EventNotApplied):
        runner.catch_up()  # a retry stops at the same place, applying nothing twice
    assert runner.position == confirmed - 1
    monkeypatch.setattr(CareLog, "apply", original)
    runner.catch_up()
    assert runner.position == head


def test_retries_back_off_doubling_up_to_the_cap() -> None:
    backoff = Backoff(first=0.5, cap=3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_health_answers_503_when_the_watcher_or_the_deliverer_has_stopped() -> None:
    settings = Settings(store="memory", watch_interval=QUIET_WATCHER)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        client.app.state.watcher.stop()  # type: ignore[attr-defined]
        client.app.state.deliverer.stop()  # type: ignore[attr-defined]
        r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["failing"] == ["watcher", "deliverer"]
    assert r.json()["watcher"]["running"] is False


def test_health_answers_503_when_the_views_run_elsewhere_and_trail_the_log_too_far() -> None:
    settings = Settings(store="memory", run_projections=False, health_max_view_lag=3,
                        watch_interval=QUIET_WATCHER)
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    with TestClient(create_app(settings, application=app, clock=clock)) as client:
        before = client.get("/health").json()  # nothing written, nothing to trail, but no worker
        assert before["failing"] == ["worker"] and "handover worker" in before["worker"]["error"]
        a_school(client, app, 1)  # no worker runs: the views stay at zero
        r = client.get("/health")
    assert r.status_code == 503
    assert "views.roster" in r.json()["failing"]
    assert r.json()["views"]["roster"]["hosted"] is False
    assert r.json()["watcher"] is None  # the watcher runs where the views run


def test_health_answers_503_when_the_worker_stops_beating_or_reports_a_part_failing() -> None:
    from datetime import UTC, datetime, timedelta

    from service.workers.bootstrap import HEARTBEAT, background, beat

    settings = Settings(store="memory", run_projections=False, watch_interval=QUIET_WATCHER,
                        health_watcher_grace=5)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=FixedClock(MORNING))
    with TestClient(create_app(settings, application=app)) as client:
        views = client.app.state.views  # type: ignore[attr-defined]
        worker = background(app, settings)  # the worker's parts, as `handover worker` has them
        worker.views = views  # writing where this process reads (a shared store in production)
        worker.watcher.last_ok = worker.watcher._last_ok_mono = None
        worker.watcher._thread = None
        beat(worker, settings)
        fresh = client.get("/health").json()
        assert fresh["worker"]["last_ok"] is not None and "worker" in fresh["failing"]  # not running
        # A worker whose parts run and report no error: ok.
        doc = views.view("alerts").get(HEARTBEAT)
        for part in doc["parts"].values():
            part.update(running=True, error=None, behind=False)
        views.view("alerts").replace(HEARTBEAT, doc)
        r = client.get("/health")
        assert r.status_code == 200, r.json()
        # Its heartbeat grown old (the worker killed): 503, saying how old and whose.
        stale = {**doc, "at": (datetime.now(UTC) - timedelta(seconds=QUIET_WATCHER + 60)).isoformat()}
        views.view("alerts").replace(HEARTBEAT, stale)
        r = client.get("/health")
        assert r.status_code == 503 and "worker" in r.json()["failing"]
        assert "heartbeat is" in r.json()["worker"]["error"] and str(doc["pid"]) in r.json()["worker"]["error"]
        # Fresh but a part failing: 503 naming it.
        doc["parts"]["deliverer"]["error"] = "ConnectionError('gateway away')"
        views.view("alerts").replace(HEARTBEAT, doc)
        r = client.get("/health")
        assert r.status_code == 503 and "deliverer: ConnectionError" in r.json()["worker"]["error"]


LIVENESS = 10.0  # seconds: an answer at all, not a speed target


def _outage_settings(proxy: TcpProxy, pg_database: str, request: pytest.FixtureRequest,
                     pool_wait: float = 1.5) -> Settings:
    return Settings(store="postgres", postgres_host="127.0.0.1", postgres_port=proxy.port,
                    postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                    postgres_dbname=pg_database, postgres_schema=_pg_schema(request),
                    postgres_pool_wait=pool_wait, postgres_connect_timeout=1, postgres_query_timeout=2,
                    postgres_reconnect_timeout=2, retry_max_backoff=0.5, watch_interval=0.3,
                    cipher_key=SecretStr(TEST_CIPHER_KEY))


def test_a_silent_database_answers_503_for_a_write_a_read_and_health_and_heals(
        proxy: TcpProxy, pg_database: str, request: pytest.FixtureRequest) -> None:
    settings = _outage_settings(proxy, pg_database, request)
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        with TestClient(create_app(settings, application=app, clock=clock)) as client:
            world = a_school(client, app, 1)
            handed_to_teacher(world)
            acknowledged = app.recorder.max_notification_id() or 0
            assert client.get("/health").status_code == 200
            # Given the network to the database drops every packet (no refusal, no reset),
            proxy.hole()
            write, write_took = timed(lambda: new_staff(world, "孙老师", "silent-staff"))
            read, read_took = timed(lambda: client.get("/v1/alerts", headers=world.admin.h()))
            health, health_took = timed(lambda: client.get("/health"))
            print(f"\nsilent database: write {write_took:.2f}s, read {read_took:.2f}s, "
                  f"health {health_took:.2f}s")
            # then a write, a read and /health each answer 503 rather than hang,
            assert_unavailable(write)
            assert_unavailable(read)
            assert health.status_code == 503 and "store" in health.json()["failing"]
            assert max(write_took, read_took, health_took) < LIVENESS
            # and once the network is back, the same write succeeds without a restart,
            proxy.restore()
            created, _ = eventually(
                lambda: (r := new_staff(world, "孙老师", "silent-staff")).status_code == 201 and r)
            eventually(lambda: client.get("/health").status_code == 200)
            # while everything acknowledged before is still there and the refused write made nothing.
            assert world.state(0)["status"] == "in_custody"
            assert acknowledged < int(created.headers["X-Log-Position"])
            staff = [e for e in app.recorder.select_notifications(start=acknowledged + 1, limit=1000)
                     if e.topic.endswith(".StaffJoined")]
            assert len(staff) == 1  # the 503 changed nothing, its retry wrote once
    finally:
        app.close()


@pytest.mark.parametrize("outage", ["cut", "hole"])
def test_concurrent_requests_during_an_outage_all_answer_503_quickly_and_heal(
        outage: str, proxy: TcpProxy, pg_database: str, request: pytest.FixtureRequest) -> None:
    settings = _outage_settings(proxy, pg_database, request, pool_wait=3)  # the default wait
    clock = FixedClock(MORNING)
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        with TestClient(create_app(settings, application=app, clock=clock)) as client:
            world = a_school(client, app, 1)
            handed_to_teacher(world)
            acknowledged = app.recorder.max_notification_id() or 0
            getattr(proxy, outage)()
            calls: list[Callable[[], Response]] = [
                lambda: new_staff(world, "周老师", "busy-staff-1"),
                lambda: new_staff(world, "吴老师", "busy-staff-2"),
                lambda: client.get("/health"),
            ] + [lambda: client.get("/v1/alerts", headers=world.admin.h())] * 5
            results: list[tuple[Response, float] | None] = [None] * len(calls)

            def run(i: int) -> None:
                results[i] = timed(calls[i])

            threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            print(f"\n{outage}: " + ", ".join(f"{r[0].status_code} {r[1]:.2f}s" if r else "hung"
                                              for r in results))
            # then all eight answer 503 within the liveness bound, none hangs, none 500s,
            assert all(r is not None for r in results)
            answered = [r for r in results if r is not None]
            for r, took in answered[:2] + answered[3:]:
                assert_unavailable(r)
            health, _ = answered[2]
            assert health.status_code == 503 and "store" in health.json()["failing"]
            assert max(took for _, took in answered) < LIVENESS
            # and after the outage the service heals by itself with nothing acknowledged lost.
            proxy.restore()
            eventually(lambda: new_staff(world, "周老师", "busy-staff-1").status_code == 201)
            eventually(lambda: client.get("/health").status_code == 200)
            assert world.state(0)["status"] == "in_custody"
            assert (app.recorder.max_notification_id() or 0) > acknowledged
    finally:
        app.close()


def test_after_a_store_failure_calls_fail_at_once_but_one_probe_a_second_and_a_success_closes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("service.adapters.store.time.monotonic", lambda: now[0])
    breaker = Breaker(probe_interval=1.0)
    breaker.admit()  # closed: every call goes to the store
    breaker.failed(OperationalError("connection refused"))
    with pytest.raises(OperationalError, match="connection refused"):
        breaker.admit()  # open: failing fast with the cause
    now[0] += 1.0
    breaker.admit()  # a probe's turn
    with pytest.raises(OperationalError):
        breaker.admit()  # only one probe a second
    breaker.failed(OperationalError("still refused"))
    now[0] += 1.0
    breaker.admit()
    breaker.succeeded()
    breaker.admit()
    breaker.admit()  # closed again: no waiting for a probe
    assert breaker.error is None
