"""DESIGN §3.7 Children's data at rest: the store's files and directories are owner-only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from service.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual 022: without care, every new file would be readable by every user."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_sqlite_store_its_views_and_their_journals_are_owner_only(
        tmp_path: Path, permissive_umask: None) -> None:
    data = tmp_path / "srv" / "handover"
    settings = Settings(store="sqlite", data_dir=data)
    app = HandoverApp(env=settings.eventsourcing_env())
    try:
        with TestClient(create_app(settings, application=app)) as client:
            created = app.init_school("实验小学", "Asia/Shanghai", "王校长")
            r = client.get("/v1/school", headers={"Authorization": f"Bearer {created['token']}"})
            assert r.status_code == 200
            files = {p.name: mode(p) for p in data.iterdir()}
    finally:
        app.close()

    assert mode(data) == 0o700
    assert {"handover.sqlite3", "handover.sqlite3-wal", "handover.sqlite3-shm",
            "views.sqlite3", "views.sqlite3-wal", "views.sqlite3-shm"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)


def test_an_existing_world_readable_store_is_made_owner_only_when_opened(
        tmp_path: Path, permissive_umask: None) -> None:
    data = tmp_path / "data"
    first = Settings(store="sqlite", data_dir=data)
    HandoverApp(env=first.eventsourcing_env()).close()
    os.chmod(data, 0o755)
    for p in data.iterdir():
        os.chmod(p, 0o644)
    (data / "handover.sqlite3-wal").touch(mode=0o644)

    app = HandoverApp(env=Settings(store="sqlite", data_dir=data).eventsourcing_env())
    app.close()

    assert mode(data) == 0o700
    assert {p.name: mode(p) for p in data.iterdir() if p.name.startswith("handover")} == {
        p.name: 0o600 for p in data.iterdir() if p.name.startswith("handover")}
