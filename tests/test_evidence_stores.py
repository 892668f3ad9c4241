"""DESIGN §3.6 Evidence on each durable store: a school's stored rows altered behind the service's
back, in SQL, are found by `handover verify` on the school's export, at the school and the first
position; an untouched store verifies; the chain resumes after a restart, each event once."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.cli import main
from service.domain.evidence import (
    CHECKPOINT_AFTER,
    CHECKPOINT_EVERY,
    digest_of,
    genesis,
    next_link,
)
from service.domain.pupil import Pupil
from service.projections.views import Views
from service.reports.evidence import export_lines, verify_live
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import World, a_school, key
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.stores import every_durable_store

Raw = tuple[Any, Any, Any, Any]  # originator_id, originator_version, topic, state as stored


class Rows:
    """The event store's table, edited in SQL as someone with the database's password could."""

    def __init__(self, settings: Settings, app: HandoverApp) -> None:
        self.settings = settings
        table: str = app.recorder.events_table_name  # type: ignore[attr-defined]
        if settings.store == "sqlite":
            self.table, self.pos, self.mark = table, "rowid", "?"
        else:
            self.table, self.pos, self.mark = f'"{settings.postgres_schema}"."{table}"', "notification_id", "%s"

    @contextmanager
    def _db(self) -> Iterator[Any]:
        if self.settings.store == "sqlite":
            conn = sqlite3.connect(self.settings.sqlite_path, isolation_level=None)
            try:
                conn.execute("BEGIN")
                yield conn
                conn.execute("COMMIT")
            finally:
                conn.close()
        else:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD,
                                 dbname=self.settings.postgres_dbname) as pg:
                yield pg

    def _q(self, sql: str) -> str:
        return sql.format(t=self.table, p=self.pos).replace("?", self.mark)

    def get(self, position: int) -> Raw:
        with self._db() as db:
            row = db.execute(self._q("SELECT originator_id, originator_version, topic, state FROM {t} "
                                     "WHERE {p} = ?"), (position,)).fetchone()
        assert row is not None
        return (row[0], row[1], row[2], bytes(row[3]))

    def put(self, position: int, raw: Raw) -> None:
        with self._db() as db:
            db.execute(self._q("DELETE FROM {t} WHERE {p} = ?"), (position,))
            db.execute(self._q("INSERT INTO {t} ({p}, originator_id, originator_version, topic, state) "
                               "VALUES (?, ?, ?, ?, ?)"), (position, *raw))

    def set_state(self, position: int, state: bytes) -> None:
        with self._db() as db:
            db.execute(self._q("UPDATE {t} SET state = ? WHERE {p} = ?"), (state, position))

    def set_topic(self, position: int, topic: str) -> None:
        with self._db() as db:
            db.execute(self._q("UPDATE {t} SET topic = ? WHERE {p} = ?"), (topic, position))

    def delete_from(self, position: int, until: int | None = None) -> None:
        with self._db() as db:
            db.execute(self._q("DELETE FROM {t} WHERE {p} >= ? AND {p} <= ?"), (position, until or 2**62))

    def swap(self, a: int, b: int) -> None:
        """Two rows change places: each gets the other's id, version, topic and state."""
        first, second = self.get(a), self.get(b)
        with self._db() as db:
            db.execute(self._q("DELETE FROM {t} WHERE {p} IN (?, ?)"), (a, b))
            for position, raw in ((a, second), (b, first)):
                db.execute(self._q("INSERT INTO {t} ({p}, originator_id, originator_version, topic, state) "
                                   "VALUES (?, ?, ?, ?, ?)"), (position, *raw))

    def insert_before(self, position: int, raw: Raw) -> None:
        """A forged row put in at ``position``: every row from there moves one place on."""
        with self._db() as db:
            db.execute(self._q("UPDATE {t} SET {p} = {p} + 1000000 WHERE {p} >= ?"), (position,))
            db.execute(self._q("UPDATE {t} SET {p} = {p} - 999999 WHERE {p} >= 1000000"))
            db.execute(self._q("INSERT INTO {t} ({p}, originator_id, originator_version, topic, state) "
                               "VALUES (?, ?, ?, ?, ?)"), (position, *raw))


@pytest.fixture
def two_schools(client: TestClient, app: HandoverApp) -> tuple[World, World]:
    """Two schools set up over HTTP; the chain caught up and signed to its head; the background
    stopped, so nothing is written while the store is edited."""
    first = a_school(client, app, 4, name="城南小学")
    second = a_school(client, app, 2, name="城北小学")
    app.access.flush()
    state: Any = client.app.state  # type: ignore[attr-defined]
    views: Views = state.views
    views.reflect("evidence", app.recorder.max_notification_id())
    views.evidence.sign_due(app.clock.now(), force=True)
    for part in (state.checkpointer, state.deliverer, state.watcher, views):
        part.stop()
    return first, second


def positions_of(views: Views, school_id: str) -> list[int]:
    head = views.evidence.head(school_id)
    assert head is not None
    return [int(views.evidence.entry(school_id, seq)["p"]) for seq in range(1, head["seq"] + 1)]  # type: ignore[index]


def verify(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], *,
           over_http: bool = True) -> tuple[int, str]:
    """The school's export and keys as its inspector downloads them, then `handover verify`.
    Not ``over_http``: as the export route writes them (an edit of the store may have removed
    the very tokens that sign in)."""
    name = f"evidence-{world.school_id}"
    if over_http:
        export = world.client.get("/v1/evidence/export", headers=world.inspector.h())
        assert export.status_code == 200, export.text
        assert export.headers["content-type"].startswith("application/x-ndjson")
        keys = world.client.get("/v1/evidence/keys", headers=world.inspector.h())
        assert keys.status_code == 200, keys.text
        (tmp_path / f"{name}.jsonl").write_bytes(export.content)
        (tmp_path / f"{name}.keys.json").write_text(keys.text)
    else:
        app: HandoverApp = world.client.app.state.handover  # type: ignore[attr-defined]
        evidence = world.client.app.state.views.evidence  # type: ignore[attr-defined]
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(export_lines(app, evidence, world.school_id, app.clock.now())))
        (tmp_path / f"{name}.keys.json").write_text(
            json.dumps({"keys": [k.to_json() for k in evidence.keys(world.school_id)]}))
    capsys.readouterr()
    code = main(["verify", str(tmp_path / f"{name}.jsonl"), "--key", str(tmp_path / f"{name}.keys.json")])
    return code, capsys.readouterr().out


TAMPERINGS = ["flip", "edit", "delete", "swap", "reorder", "insert", "cut", "copy"]


@every_durable_store
@pytest.mark.parametrize("place", ["first", "middle", "last"])
@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_a_row_altered_in_the_store_is_named_by_school_and_first_position(
        two_schools: tuple[World, World], app: HandoverApp, settings: Settings, tampering: str,
        place: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = two_schools
    views: Views = first.client.app.state.views  # type: ignore[attr-defined]
    rows = Rows(settings, app)
    mine = positions_of(views, first.school_id)
    registered = [p for p in mine if rows.get(p)[2] == get_topic(Pupil.Registered)]
    among = registered if tampering == "copy" else mine
    i = {"first": 0, "middle": len(among) // 2, "last": len(among) - 1}[place]
    at = among[i]
    neighbour = among[i + 1] if i + 1 < len(among) else among[i - 1]
    expected = min(at, neighbour) if tampering in ("swap", "reorder") else at

    if tampering == "flip":
        state = rows.get(at)[3]
        rows.set_state(at, state[:9] + bytes([state[9] ^ 0x01]) + state[10:])
    elif tampering == "edit":
        rows.set_topic(at, get_topic(Pupil.Registered) + "x")
    elif tampering == "delete":
        rows.delete_from(at, at)
    elif tampering == "swap":
        a, b = rows.get(at), rows.get(neighbour)
        rows.set_state(at, b[3])
        rows.set_state(neighbour, a[3])
    elif tampering == "reorder":
        rows.swap(at, neighbour)
    elif tampering == "insert":
        oid, version, topic, state = rows.get(at)
        rows.insert_before(at, (oid, version + 1000, topic, state))
    elif tampering == "cut":
        rows.delete_from(at)
    else:  # another pupil's encrypted state, which decrypts fine, copied into this pupil's row
        donor = neighbour
        rows.set_state(at, rows.get(donor)[3])
        assert app.mapper.to_domain_event(app.recorder.select_notifications(start=at, limit=1)[0])

    code, out = verify(first, tmp_path, capsys, over_http=False)
    assert code == 1, out
    assert f"school {first.school_id}: FAILED: first" in out
    assert f"event at position {expected} " in out, out
    assert "it breaks the checkpoint at position" in out, out
    code, out = verify(second, tmp_path, capsys, over_http=False)
    theirs = [p for p in positions_of(views, second.school_id) if p >= at]
    if tampering in ("insert", "cut") and theirs:  # the other school's rows after it moved or went
        assert code == 1 and f"event at position {theirs[0]} " in out, out
    else:
        assert code == 0, out


@every_durable_store
def test_an_untouched_store_verifies_offline_and_live(
        two_schools: tuple[World, World], app: HandoverApp, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = two_schools
    for world in (first, second):
        code, out = verify(world, tmp_path, capsys)
        assert code == 0, out
        assert f"school {world.school_id}: OK:" in out
        assert " 1 signed checkpoints verified with 1 key(s)" in out

    for name in ("postgres_host", "postgres_port", "postgres_user", "postgres_password",
                 "postgres_dbname", "postgres_schema"):
        monkeypatch.setenv(f"HANDOVER_{name.upper()}", str(getattr(settings, name)))
    if settings.cipher_key is not None:
        monkeypatch.setenv("HANDOVER_CIPHER_KEY", settings.cipher_key.get_secret_value())
    capsys.readouterr()
    code = main(["verify", "--live", "--store", settings.store, "--data-dir", str(settings.data_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"school {first.school_id}: OK:" in out and f"school {second.school_id}: OK:" in out


@every_durable_store
def test_the_live_store_is_verified_against_the_published_checkpoints(
        two_schools: tuple[World, World], app: HandoverApp, settings: Settings) -> None:
    first, second = two_schools
    views: Views = first.client.app.state.views  # type: ignore[attr-defined]
    assert all(r.ok for r in verify_live(app, views.evidence, app.clock.now()))
    at = positions_of(views, second.school_id)[3]
    state = Rows(settings, app).get(at)[3]
    Rows(settings, app).set_state(at, bytes([state[0] ^ 0xFF]) + state[1:])

    reports = {r.school_id: r for r in verify_live(app, views.evidence, app.clock.now())}

    assert reports[first.school_id].ok
    failed = reports[second.school_id].first
    assert failed is not None and (failed.position, failed.kind) == (at, "altered")


@every_durable_store
def test_the_chain_resumes_after_a_restart_and_links_each_event_once(
        settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    school_id = app.init_school("城南小学", "Asia/Shanghai", "陈主任")["school_id"]
    views = Views(app, settings)
    runner = views.runners["evidence"]
    runner.batch_size = 2
    runner.run_once()  # the process dies after its first batch
    assert runner.position == 2
    app.close()

    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        for name in ("城北小学", "城西小学"):
            app.init_school(name, "Asia/Shanghai", "王主任")
        views = Views(app, settings)
        head = app.recorder.max_notification_id() or 0
        assert views.runners["evidence"].catch_up() == head - 2  # from where the first process stopped
        assert views.runners["evidence"].catch_up() == 0  # a second run applies nothing again
        heads = views.evidence.heads()
        assert sum(h["seq"] for h in heads.values()) == head
        placed = views.evidence.at_positions(list(range(1, head + 1)))
        assert sorted(placed) == list(range(1, head + 1))
        assert [placed[p]["n"] for p in positions_of(views, school_id)] == list(range(1, heads[school_id]["seq"] + 1))
        views.evidence.sign_due(clock.now(), force=True)
        reports = verify_live(app, views.evidence, clock.now())
        assert len(reports) == 3 and all(r.ok for r in reports), [r.lines() for r in reports]
    finally:
        app.close()


def test_export_lines_are_json_with_the_header_first(two_schools: tuple[World, World]) -> None:
    first, _ = two_schools
    r = first.client.get("/v1/evidence/export", headers=first.admin.h())
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines[0]["kind"] == "export" and lines[0]["school_id"] == first.school_id
    assert {line["kind"] for line in lines} == {"export", "key", "checkpoint", "event"}


def _run_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str], world: World, lines: list[dict[str, Any]],
                name: str) -> tuple[int, str]:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    capsys.readouterr()
    code = main(["verify", str(path), "--key", str(tmp_path / f"evidence-{world.school_id}.keys.json")])
    return code, capsys.readouterr().out


@every_durable_store
def test_an_export_rewritten_or_cut_where_no_checkpoint_reaches_fails_verification(
        two_schools: tuple[World, World], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = two_schools[0]
    code, out = verify(world, tmp_path, capsys)
    assert code == 0, out
    lines = [json.loads(line) for line in
             (tmp_path / f"evidence-{world.school_id}.jsonl").read_text().splitlines()]
    header, events = lines[0], [line for line in lines if line["kind"] == "event"]
    assert len(events) == header["events"] > 50

    rewritten, link = [], genesis(world.school_id)
    for line in lines:
        if line["kind"] == "checkpoint":
            continue  # every signature stripped
        if line["kind"] == "event":
            state = base64.b64decode(line["state"]) if "state" in line else None
            if line["seq"] == 50 and state is not None:
                line = {**line, "state": base64.b64encode(bytes([state[0] ^ 1]) + state[1:]).decode()}
            state_hash = (hashlib.sha256(base64.b64decode(line["state"])).digest() if "state" in line
                          else bytes.fromhex(line["state_sha256"]))
            if line["seq"] == 50 and "state_sha256" in line:
                state_hash = hashlib.sha256(b"another state").digest()
            link = next_link(link, digest_of(line["position"], line["originator_id"],
                                             line["originator_version"], line["topic"], state_hash))
            line = {**line, "link": link.hex()}
        rewritten.append(line)
    code, out = _run_verify(tmp_path, capsys, world, rewritten, "stripped")
    assert code == 1, out
    uncovered = events[CHECKPOINT_EVERY if len(events) > CHECKPOINT_EVERY else 0]["position"]
    assert f"school {world.school_id}: FAILED: first uncovered event at position {uncovered}" in out

    code, out = _run_verify(tmp_path, capsys, world, [header], "header-only")
    assert code == 1 and f"school {world.school_id}: FAILED: cut" in out, out

    code, out = _run_verify(tmp_path, capsys, world, [{**header, "events": 5}, *lines[1:]], "miscounted")
    assert code == 1 and f"first inserted event at position {events[5]['position']}" in out, out

    tail = [line for line in lines if line.get("seq", 0) <= len(events) - 3]
    code, out = _run_verify(tmp_path, capsys, world, tail, "tail-cut")
    assert code == 1 and f"the export ends at event {len(events) - 3}" in out, out


@every_durable_store
def test_an_export_right_after_a_burst_verifies_and_a_later_one_is_signed_to_its_head(
        two_schools: tuple[World, World], app: HandoverApp, clock: FixedClock, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    world = two_schools[0]
    views: Views = world.client.app.state.views  # type: ignore[attr-defined]
    signed = views.evidence.last_checkpoint(world.school_id)
    assert signed is not None
    for n in range(12):
        r = world.client.post("/v1/staff", json={"name": f"临时老师{n}", "roles": ["teacher"]},
                              headers=world.admin.h(**key()))
        assert r.status_code == 201, r.text
    assert views.runners["evidence"].catch_up() > 0
    head = views.evidence.head(world.school_id)
    assert head is not None and head["seq"] > signed.seq

    code, out = verify(world, tmp_path, capsys)
    assert code == 0, out
    assert views.evidence.last_checkpoint(world.school_id) == signed  # its tail is not due yet

    clock.advance(seconds=CHECKPOINT_AFTER)
    code, out = verify(world, tmp_path, capsys)
    assert code == 0, out
    last = views.evidence.last_checkpoint(world.school_id)
    assert last is not None and last.seq == head["seq"]
    assert f"up to position {last.position}" in out
