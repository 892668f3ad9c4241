"""On PostgreSQL a process is woken by other processes' writes (LISTEN/NOTIFY), not its next poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from service.adapters.wake import pg_wake
from service.application import HandoverApp
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.signal import SaveSignal
from tests.conftest import TEST_CIPHER_KEY, _pg_schema
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.tcp_proxy import TcpProxy
from tests.test_group_commit import Note
from tests.test_outage import eventually


def pg_settings(pg_database: str, schema: str, port: int = PG_PORT, **extra: object) -> Settings:
    return Settings(store="postgres", postgres_host=PG_HOST, postgres_port=port,
                    postgres_user=PG_USER, postgres_password=PG_PASSWORD, postgres_dbname=pg_database,
                    postgres_schema=schema, cipher_key=SecretStr(TEST_CIPHER_KEY), **extra)  # type: ignore[arg-type]


@pytest.fixture
def two_processes(pg_database: str, request: pytest.FixtureRequest
                  ) -> Iterator[tuple[HandoverApp, HandoverApp, Settings]]:
    """Two applications on one store, as two processes have them: neither sees the other's saves
    through its own save signal."""
    settings = pg_settings(pg_database, _pg_schema(request))
    writer = HandoverApp(env=settings.eventsourcing_env())
    reader = HandoverApp(env=settings.eventsourcing_env())
    yield writer, reader, settings
    writer.close()
    reader.close()


def test_another_processs_write_wakes_the_views_at_once(
        two_processes: tuple[HandoverApp, HandoverApp, Settings]) -> None:
    writer, reader, settings = two_processes
    views = Views(reader, settings)
    slow_poll = 30.0  # far longer than the wait below: only the wake-up can bring the view along
    views.start()
    for r in views._readers:
        r.poll = slow_poll
    wake = pg_wake(reader.factory.datastore, reader.recorder, reader.saved.notify)  # type: ignore[attr-defined]
    wake.start()
    try:
        eventually(lambda: wake.listening, timeout=10)
        lags = []
        for i in range(5):
            time.sleep(0.2)  # let the reader settle into its long wait
            [recording] = writer.save(Note(f"第{i}条"))
            t0 = time.monotonic()
            views.runners["roster"].wait(recording.notification.id, timeout=10)
            lags.append(time.monotonic() - t0)
        print(f"\nview lag after another process's write: {', '.join(f'{x * 1000:.0f}' for x in lags)} ms")
        assert max(lags) < 5.0  # woken, not the 30 s poll
        assert wake.woken >= 5
    finally:
        wake.stop()
        views.stop()


def test_a_lost_listen_connection_is_said_retried_and_wakes_once_back(
        pg_database: str, request: pytest.FixtureRequest) -> None:
    with TcpProxy(PG_HOST, PG_PORT) as proxy:
        schema = _pg_schema(request)  # the writer's and the listener's: another's writes wake nobody here
        settings = pg_settings(pg_database, schema)
        app = HandoverApp(env=settings.eventsourcing_env())
        signal = SaveSignal()
        listener_settings = pg_settings(pg_database, schema, port=proxy.port)
        listener_app = HandoverApp(env=listener_settings.eventsourcing_env())
        wake = pg_wake(listener_app.factory.datastore, listener_app.recorder, signal.notify)  # type: ignore[attr-defined]
        wake.first_retry = 0.2
        wake.start()
        try:
            eventually(lambda: wake.listening, timeout=10)
            proxy.cut()
            eventually(lambda: wake.error is not None, timeout=20)
            assert wake.health()["error"] and wake.health()["failed_rounds"] >= 1
            proxy.restore()
            seen = signal.count
            eventually(lambda: wake.listening and wake.error is None, timeout=30)
            assert signal.count > seen  # told once on reconnecting: something may have been missed
            woken = threading.Event()
            before = signal.count

            def waiter() -> None:
                if signal.wait(before, 10) > before:
                    woken.set()
            t = threading.Thread(target=waiter)
            t.start()
            app.save(Note("回来了"))
            t.join(timeout=15)
            assert woken.is_set()
        finally:
            wake.stop()
            listener_app.close()
            app.close()
