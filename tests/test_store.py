"""The embedded store is crash-safe; the command line creates a school and prints its token once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from service.cli import main
from service.settings import Settings


def test_the_sqlite_store_runs_with_wal_and_full_sync(tmp_path: Path) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path)
    app = HandoverApp(env=settings.eventsourcing_env())
    try:
        assert app.durability is not None
        assert (app.durability.journal_mode, app.durability.synchronous) == ("wal", "full")
        with TestClient(create_app(settings, application=app)) as client:
            health = client.get("/health").json()
        assert health["sqlite_journal_mode"] == "wal" and health["sqlite_synchronous"] == "full"
    finally:
        app.close()
    with sqlite3.connect(settings.sqlite_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_handover_init_creates_a_school_whose_token_works(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["init", "--name", "城南小学", "--admin", "陈主任", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    token = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Admin token"))
    settings = Settings(store="sqlite", data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        school = client.get("/v1/school", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "陈主任" and me.json()["role"] == "admin"
    assert school.json()["name"] == "城南小学"
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("handover.sqlite3*"))
    assert token.encode() not in stored
