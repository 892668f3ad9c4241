"""Stored events are encrypted: webhook secrets and pupils' names never sit in the store in clear."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.cli import main
from service.settings import Settings, StoreKeyError, _sqlite_store_is, new_cipher_key
from tests.builders import a_school

SECRET = "whsec-only-the-gateway-knows"


def plain_env(settings: Settings) -> dict[str, str]:
    """The store's environment as it was before encryption existed."""
    return {k: v for k, v in settings.eventsourcing_env().items() if "CIPHER" not in k}


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_webhook_secret_and_a_pupils_name_are_not_in_the_stored_bytes(
        client: TestClient, app: HandoverApp, settings: Settings) -> None:
    client.app.state.deliverer.stop()  # type: ignore[attr-defined]
    world = a_school(client, app, 1)
    app.outbound.resolve = lambda host, port: ["93.184.216.34"]
    r = client.put("/v1/school/webhook", json={"url": "https://gateway.school.invalid/hook",
                   "secret": SECRET}, headers=world.admin.h())
    assert r.status_code == 200, r.text
    r = client.get(f"/v1/pupils/{world.pupil(0)}", headers=world.admin.h())
    name = r.json()["name"]
    webhook = app.webhook(world.school_id)
    assert name == "学生0" and webhook is not None and webhook.secret == SECRET  # it reads back
    stored = [n.state for n in app.recorder.select_notifications(start=1, limit=10_000)]
    assert len(stored) > 10
    if settings.store == "sqlite":
        stored += [p.read_bytes() for p in settings.data_dir.glob("handover.sqlite3*")]
    for needle in (SECRET, name, name.encode("unicode_escape").decode(), "实验小学"):
        assert not any(needle.encode() in raw for raw in stored), needle


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_views_keep_no_pupils_name_in_clear_and_still_answer(
        client: TestClient, app: HandoverApp, settings: Settings) -> None:
    world = a_school(client, app, 2)
    head = app.recorder.max_notification_id()
    roster = client.get("/v1/roster", params={"min_position": head}, headers=world.admin.h())
    assert {p["name"] for p in roster.json()["pupils"]} == {"学生0", "学生1"}  # read back, opened
    views = client.app.state.views  # type: ignore[attr-defined]
    if settings.store == "sqlite":
        stored = [p.read_bytes() for p in settings.data_dir.glob("views.sqlite3*")]
    else:
        view = views.view("roster")
        with view.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT doc FROM {view.docs}")
            stored = [bytes(row["doc"]) for row in c.fetchall()]
    assert stored and sum(len(raw) for raw in stored) > 1000
    for needle in ("学生0", "家长0", "实验小学", "13800138000"):
        for form in (needle, needle.encode("unicode_escape").decode()):
            assert not any(form.encode() in raw for raw in stored), form


def test_a_view_kept_in_clear_before_is_dropped_and_rebuilt_sealed(tmp_path: Path) -> None:
    from eventsourcing.persistence import Tracking

    from service.projections.docstore import SQLiteDocView

    path = str(tmp_path / "views.sqlite3")
    plain = SQLiteDocView("roster", path)
    plain.commit({"pupil/1": {"name": "学生0"}}, Tracking("Handover", 7))
    app = HandoverApp(env=Settings(store="memory").eventsourcing_env())
    sealed = SQLiteDocView("roster", path, app.mapper.cipher)
    assert sealed.max_tracking_id("Handover") is None  # starts again from the first event
    assert plain.get("pupil/1") is None  # the clear copy is gone
    sealed.commit({"pupil/1": {"name": "学生0"}}, Tracking("Handover", 7))
    assert sealed.get("pupil/1") == {"name": "学生0"}
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("views.sqlite3*"))
    assert "学生0".encode() not in on_disk and "学生0".encode("unicode_escape") not in on_disk
    app.close()


def test_a_new_sqlite_store_keeps_its_generated_key_in_an_owner_only_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path)
    first = settings.eventsourcing_env()["CIPHER_KEY"]
    assert "back it up" in caplog.text
    key_file = tmp_path / "cipher.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    app = HandoverApp(env=settings.eventsourcing_env())
    try:
        school_id = app.init_school("城南小学", "Asia/Shanghai", "陈主任")["school_id"]
    finally:
        app.close()
    again = Settings(store="sqlite", data_dir=tmp_path).eventsourcing_env()
    assert again["CIPHER_KEY"] == first
    reopened = HandoverApp(env=again)
    try:
        assert reopened.school(school_id).name == "城南小学"
    finally:
        reopened.close()


def test_an_encrypted_store_whose_key_is_lost_refuses_to_open(tmp_path: Path) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path)
    app = HandoverApp(env=settings.eventsourcing_env())
    app.init_school("城南小学", "Asia/Shanghai", "陈主任")
    app.close()
    (tmp_path / "cipher.key").unlink()
    with pytest.raises(StoreKeyError, match="key is missing"):
        settings.eventsourcing_env()


def test_a_store_written_before_encryption_still_replays_and_stays_unencrypted(
        tmp_path: Path) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path)
    old = HandoverApp(env=plain_env(settings))
    school_id = old.init_school("城南小学", "Asia/Shanghai", "陈主任")["school_id"]
    old.close()
    (tmp_path / "cipher.key").unlink()  # made by plain_env's look at the settings; never used
    app = HandoverApp(env=settings.eventsourcing_env())
    try:
        assert app.school(school_id).name == "城南小学"
    finally:
        app.close()
    assert not (tmp_path / "cipher.key").exists()
    keyed = Settings(store="sqlite", data_dir=tmp_path, cipher_key=new_cipher_key())  # type: ignore[arg-type]
    with pytest.raises(StoreKeyError, match="without encryption"):
        keyed.eventsourcing_env()


def test_postgres_without_a_key_refuses_to_start_and_says_how_to_make_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HANDOVER_CIPHER_KEY", raising=False)
    monkeypatch.setenv("HANDOVER_STORE", "postgres")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "HANDOVER_CIPHER_KEY is required for the PostgreSQL store" in err
    assert "new_cipher_key" in err
    with pytest.raises(StoreKeyError):
        Settings(store="postgres", cipher_key="not a key").eventsourcing_env()  # type: ignore[arg-type]
    assert "CIPHER_KEY" not in {k for k, v in Settings(
        store="postgres", unencrypted_store=True).eventsourcing_env().items() if v}
    assert os.environ.get("HANDOVER_CIPHER_KEY") is None


def test_an_encrypted_store_whose_first_ciphertext_begins_with_a_brace_is_still_encrypted(
        tmp_path: Path) -> None:
    """One encrypted store in 256 has a first state beginning with ``{``: it is not a plain store."""
    path = tmp_path / "handover.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE stored_events (state BLOB)")
        db.execute("INSERT INTO stored_events VALUES (?)", (b"{\x9c\x07\xfe\x00ciphertext\xff",))
    assert _sqlite_store_is(path) == "encrypted"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE stored_events SET state = ?", (b'{"by": {"staff_id": "s1"}}',))
    assert _sqlite_store_is(path) == "plain"
