"""The demo school's whole afternoon over HTTP; the state rebuilt from stored events alone is the same."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from service.demo.school import open_demo
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.scripted_afternoon import Afternoon


# On the demo's own store (`make demo` runs on SQLite). The rebuild from stored events alone is
# checked on every durable store, with a smaller school, by tests/test_custody_rules.py and
# tests/test_roster_view.py.
@pytest.mark.parametrize("store", ["sqlite"])
def test_a_scripted_demo_afternoon_rebuilds_to_the_same_state(store: str, tmp_path: Path,
                                                               request: pytest.FixtureRequest) -> None:
    settings: Settings = request.getfixturevalue("settings")
    demo, _ = open_demo(settings)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    clock = FixedClock(datetime.combine(today, time(16, 0), ZoneInfo("Asia/Shanghai")))
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        with TestClient(create_app(settings, application=app, clock=clock)) as client:
            summary = Afternoon(client, str(demo.admin.token)).run_all()
            head = app.recorder.max_notification_id()
            before = client.get("/v1/afternoon", headers={"Authorization": f"Bearer {demo.admin.token}"}).json()
            roster = client.get("/v1/roster", params={"min_position": head},
                                headers={"Authorization": f"Bearer {demo.admin.token}"}).json()
    finally:
        app.close()
    assert summary["refusals_recorded"] == 5  # the demo's three restricted adults, a stranger, no statement
    assert summary["counts"]["gone"] == summary["expected"] - 1

    fresh = HandoverApp(env={**settings.eventsourcing_env(), "AGGREGATE_CACHE_MAXSIZE": "0"}, clock=clock)
    try:
        with TestClient(create_app(settings, application=fresh, clock=clock)) as client:
            views = client.app.state.views  # type: ignore[attr-defined]
            client.app.state.deliverer.stop()  # type: ignore[attr-defined]  # it waits on the views
            views.stop()
            views.view("roster").reset()
            views.runners["roster"].catch_up()
            after = client.get("/v1/afternoon", headers={"Authorization": f"Bearer {demo.admin.token}"}).json()
            rebuilt = client.get("/v1/roster", headers={"Authorization": f"Bearer {demo.admin.token}"}).json()
    finally:
        fresh.close()
    assert after == before
    assert rebuilt["pupils"] == roster["pupils"] and rebuilt["counts"] == roster["counts"]
