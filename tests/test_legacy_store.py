"""A store written by an earlier release (the demo afternoon, scripted) still opens and replays.

Each release's store is written by ``tests/fixtures/write_release_store.py`` at that release."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from service.application import HandoverApp
from service.projections.alerts import read_alerts
from service.projections.roster import read_roster
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.conftest import SHANGHAI

FIXTURES = Path(__file__).parent / "fixtures"
# Before encryption, stored names in plain JSON; the release before the modules were laid out by
# layer, its store encrypted (the key is the demo's, kept beside it).
RELEASES = ["legacy-main-562a828", "legacy-main-b4cde03"]


def _expected(release: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((FIXTURES / f"{release}.expected.json").read_text())
    return found


def _open_copy(tmp_path: Path, release: str) -> tuple[HandoverApp, Settings]:
    with gzip.open(FIXTURES / f"{release}.sqlite3.gz") as packed, \
            (tmp_path / "handover.sqlite3").open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    key = FIXTURES / f"{release}.cipher.key"
    if key.exists():
        shutil.copyfile(key, tmp_path / "cipher.key")
    settings = Settings(store="sqlite", data_dir=tmp_path, watch_interval=86400.0)
    evening = FixedClock(datetime(2026, 12, 1, 19, 0, tzinfo=SHANGHAI))
    return HandoverApp(env=settings.eventsourcing_env(), clock=evening), settings


@pytest.mark.parametrize("release", RELEASES)
def test_a_store_written_by_the_earlier_release_rebuilds_to_the_roster_it_showed(
        tmp_path: Path, release: str) -> None:
    expected = _expected(release)
    app, settings = _open_copy(tmp_path, release)
    try:
        views = Views(app, settings)
        views.catch_up()
        assert app.recorder.max_notification_id() == expected["position"]
        roster = read_roster(views.view("roster"), expected["school_id"],
                             date.fromisoformat(expected["day"]), "after_school")
        assert roster is not None
        got = {p["pupil_id"]: {"status": p["status"], "how": (p.get("gone") or {}).get("how"),
                               "adult": ((p.get("gone") or {}).get("adult") or {}).get("name"),
                               "refusals": p["refusals"]} for p in roster["pupils"]}
        assert got == expected["pupils"]
        assert roster["counts"]["by_status"] == expected["counts"]["by_status"]
        alerts = read_alerts(views.view("alerts"), expected["school_id"])
        assert sorted([a["alert_id"], a["kind"], a["status"]] for a in alerts) == \
            expected["alerts"]
    finally:
        app.close()


@pytest.mark.parametrize("release", RELEASES)
def test_every_event_of_the_earlier_release_reads_back_as_a_domain_event(tmp_path: Path,
                                                                         release: str) -> None:
    app, _ = _open_copy(tmp_path, release)
    try:
        read = 0
        for notification in app.recorder.select_notifications(start=1, limit=10_000):
            app.mapper.to_domain_event(notification)  # upcasts included
            read += 1
        assert read == _expected(release)["position"]
    finally:
        app.close()
