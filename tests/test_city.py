"""A city on two PostgreSQL clusters behind `handover route`: districts A and B as two schemas of
one database on the usual server, district C on a second cluster made here; three `handover serve`
processes and the router. Each school, through the router, sees only itself; its writes land in
its own district's store and nowhere else; a district that goes down is a 503 naming it while the
others go on; the pairing lockout still counts the real client."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from service.api.app import create_app
from service.application import HandoverApp
from service.cli import forwarding, main
from service.route.proxy import TokenCache, create_router
from service.route.table import District, RouteTableError, load_table, parse_table
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import (
    SESSION_DAY,
    Staff,
    World,
    furnished,
    handed_to_teacher,
    key,
    walked_to_gate,
)
from tests.conftest import MORNING, TEST_CIPHER_KEY
from tests.pg import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, fresh_database
from tests.tcp_proxy import TcpProxy
from tests.tcp_proxy import _free_port_below_the_ephemeral_range as free_port


def _server_bin() -> Path:
    """Debian's PostgreSQL server binaries: 15 (Debian 12's) when there, else the newest."""
    found = {p.parts[-3]: p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")}
    if "15" in found:
        return found["15"]
    newest = sorted((int(v), path) for v, path in found.items() if v.isdigit())
    return newest[-1][1] if newest else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _server_bin()
# The services' clocks run from a Monday afternoon of term, whatever the hour the test runs.
CLOCK_START = "2026-11-23T15:30:00+08:00"


def run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    check = options.pop("check", True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, **options)
    if done.returncode != 0 and check:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


@contextmanager
def second_cluster() -> Iterator[int]:
    """A PostgreSQL cluster of its own in a temporary directory, on a free port: its port."""
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not initdb.exists() or not pg_ctl.exists():
        pytest.fail(f"the city test makes a second PostgreSQL cluster with {initdb} and {pg_ctl}, "
                    "which are missing: install Debian's postgresql-15 (the server package)")
    root = Path(tempfile.mkdtemp(prefix="handover-cluster-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    try:
        run([*as_postgres, str(initdb), "-D", str(data), "-U", PG_USER, "--auth=trust",
             "--no-sync", "-E", "UTF8", "--locale=C"])
        run([*as_postgres, str(pg_ctl), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "30",
             "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        yield port
    finally:
        run([*as_postgres, str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Store:
    port: int
    dbname: str
    schema: str

    def settings(self, data_dir: Path) -> Settings:
        return Settings(store="postgres", postgres_host=PG_HOST, postgres_port=self.port,
                        postgres_user=PG_USER, postgres_password=PG_PASSWORD,
                        postgres_dbname=self.dbname, postgres_schema=self.schema, data_dir=data_dir,
                        cipher_key=SecretStr(TEST_CIPHER_KEY))

    def events(self) -> int:
        """The district's events, counted in its own table with SQL."""
        return self.count("handover_events")

    def count(self, table: str) -> int:
        """The rows of one of the district's tables (0 while it has not made it)."""
        name = f'"{self.schema or "public"}".{table}'
        with psycopg.connect(host=PG_HOST, port=self.port, user=PG_USER, password=PG_PASSWORD,
                             dbname=self.dbname) as conn:
            found = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if found is None or found[0] is None:
                return 0
            row = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
        assert row is not None
        return int(row[0])


class Server:
    """An ASGI app served by uvicorn on a free port in a thread of the test, as `handover serve`
    and `handover route` serve theirs (the same forwarded-header settings); it notes every path
    it is asked for."""

    def __init__(self, name: str, app: Any, settings: Settings, **config: Any) -> None:
        self.name, self.paths = name, list[str]()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"

        async def noted(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.paths.append(f"{scope['method']} {scope['path']}")
            await app(scope, receive, send)
        self.server = uvicorn.Server(uvicorn.Config(
            noted, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
            **forwarding(settings), **config))
        self.thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self.thread.start()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.thread.is_alive(), f"{self.name} stopped"
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{self.name} not healthy in time"
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def new_school(store: Store, data_dir: Path, name: str) -> tuple[str, Staff]:
    """A school made in the district's store (as `handover init` does): its id and admin."""
    app = HandoverApp(env=store.settings(data_dir).eventsourcing_env(), clock=FixedClock(MORNING))
    try:
        created = app.init_school(name, "Asia/Shanghai", "王校长")
    finally:
        app.close()
    return created["school_id"], Staff(created["admin_id"], created["token"])


@dataclass
class City:
    stores: dict[str, Store]
    servers: dict[str, Server]
    router: Server
    line_to_c: TcpProxy  # the network between the router and district C
    schools: dict[str, tuple[str, Staff]]
    stray: tuple[str, Staff]  # a school of district B's store the table does not list


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    with ExitStack() as stack:
        port_c = stack.enter_context(second_cluster())
        db_ab = stack.enter_context(fresh_database("handover_city"))
        with psycopg.connect(host=PG_HOST, port=port_c, user=PG_USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE handover")
        stores = {"a": Store(PG_PORT, db_ab, "district_a"), "b": Store(PG_PORT, db_ab, "district_b"),
                  "c": Store(port_c, "handover", "")}
        names = {"a": "东城实验小学", "b": "西城第一小学", "c": "南湖小学"}
        schools = {d: new_school(s, tmp_path / d, names[d]) for d, s in stores.items()}
        stray = new_school(stores["b"], tmp_path / "b", "未登记小学")
        servers: dict[str, Server] = {}
        for d, store in stores.items():
            settings = store.settings(tmp_path / d).model_copy(update={
                "clock_start": datetime.fromisoformat(CLOCK_START), "watch_interval": 86400.0,
                "access_flush_interval": 60.0,
                "forwarded_allow_ips": "127.0.0.1"})  # the router's address
            servers[d] = Server(f"district-{d}", create_app(settings), settings)
            stack.callback(servers[d].stop)
        line_to_c = stack.enter_context(TcpProxy("127.0.0.1", int(servers["c"].url.rsplit(":", 1)[1])))
        upstreams = {**{d: s.url for d, s in servers.items()}, "c": f"http://127.0.0.1:{line_to_c.port}"}
        table = tmp_path / "routes.toml"
        table.write_text("".join(
            f'[districts.{d}]\nupstreams = ["{upstreams[d]}"]\nschools = ["{schools[d][0]}"]\n\n'
            for d in stores), encoding="utf-8")
        # The router believes the test's X-Forwarded-For: the test stands for a front proxy. It
        # waits a minute for a district to say whose a token is, and 10 s for any other answer.
        router = Server("router", create_router(load_table(table), lookup_timeout=60.0,
                                                answer_timeout=10.0),
                        Settings(forwarded_allow_ips="127.0.0.1"), server_header=False, date_header=False)
        stack.callback(router.stop)
        for server in (*servers.values(), router):
            server.wait_healthy()
        yield City(stores, servers, router, line_to_c, schools, stray)


def release(world: World, i: int) -> httpx.Response:
    answer: httpx.Response = world.post(world.guard, "/v1/releases", {
        "pupil_ids": [world.pupil(i)], "gate_id": world.gate_id,
        "collector_id": world.guardian(i)["guardian_id"], "identity_check": "known_to_staff"})
    return answer


def test_a_city_of_three_districts_on_two_clusters_behind_one_router(
        city: City, caplog: pytest.LogCaptureFixture) -> None:
    client = httpx.Client(base_url=city.router.url, timeout=10)
    worlds = {d: furnished(cast(TestClient, client), school_id, admin, pupils=2)
              for d, (school_id, admin) in city.schools.items()}

    # Each school's staff, through the one address, is in their own school and sees only it.
    for world in worlds.values():
        for who in (world.admin, world.guard):
            me = client.get("/v1/me", headers=who.h())
            assert me.status_code == 200, me.text
            assert me.json()["school_id"] == world.school_id
        roster = client.get("/v1/roster", params={"day": SESSION_DAY}, headers=world.guard.h())
        assert roster.status_code == 200, roster.text
        assert {p["pupil_id"] for p in roster.json()["pupils"]} == {world.pupil(0), world.pupil(1)}

    # A release in A lands in A's schema on the first cluster, and in no other store.
    a = worlds["a"]
    handed_to_teacher(a)
    walked_to_gate(a, [0])
    for d in ("b", "c"):  # the reads of pupils' data so far recorded in B's and C's logs
        assert client.get("/v1/access-log", headers=worlds[d].admin.h()).status_code == 200
    before = {d: s.events() for d, s in city.stores.items()}
    asked_of_c = len(city.servers["c"].paths)
    r = release(a, 0)
    assert r.status_code == 200, r.text
    assert r.json()["pupils"][0]["gone"]["adult"]["name"] == "家长0"
    after = {d: s.events() for d, s in city.stores.items()}
    assert after["a"] > before["a"] and after["b"] == before["b"] and after["c"] == before["c"]
    assert a.state(0, a.guard)["status"] == "gone"
    assert "POST /v1/releases" in city.servers["a"].paths
    assert city.servers["c"].paths[asked_of_c:] == []  # A's token was resolved before: C is not asked
    assert "POST /v1/releases" not in city.servers["b"].paths

    # The live stream passes through as it happens: B's board sees B's release at once.
    b = worlds["b"]
    handed_to_teacher(b)
    walked_to_gate(b, [1])
    with client.stream("GET", "/v1/stream", headers=b.admin.h()) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")  # the first line, before the stream ends: unbuffered
        assert release(b, 1).status_code == 200
        for line in lines:
            if line.startswith("data:") and b.pupil(1) in line:
                assert '"gone"' in line or "released" in line
                break
    # A stream ticket (a browser's EventSource carries no token) finds its district too.
    ticket = client.post("/v1/stream/tickets", headers=worlds["c"].admin.h()).json()["ticket"]
    polled = client.get("/v1/stream", params={"ticket": ticket, "once": "true"})
    assert polled.status_code == 200, polled.text
    assert polled.text.startswith("retry:")

    # A megabyte photo streams up through the router into C's blob table on the second cluster,
    # and its kept copy streams back byte for byte.
    c = worlds["c"]
    noise = BytesIO()
    Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3)).save(noise, "PNG")
    assert noise.tell() > 1_000_000
    r = client.put(f"/v1/pupils/{c.pupil(0)}/photo", headers=c.admin.h(**key()),
                   files={"file": ("照片.png", noise.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    kept = client.get(f"/v1/pupils/{c.pupil(0)}/photo", headers=c.guard.h())
    assert kept.status_code == 200 and hashlib.sha256(kept.content).hexdigest() == r.json()["photo_sha256"]
    assert city.stores["c"].count("blobs") == 1 and city.stores["a"].count("blobs") == 0

    # A school the table does not list is not routed, even though its district knows it.
    stray_id, stray_admin = city.stray
    r = client.get("/v1/me", headers=stray_admin.h())
    assert r.status_code == 421
    assert r.headers["content-type"].startswith("application/problem+json")
    assert stray_id in r.json()["detail"] and r.json()["district"] == "b"
    # A token no district knows is refused by the router itself.
    r = client.get("/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    # ... as a district refuses it: the same problem type and title.
    unknown = {"Authorization": "Bearer hov_" + "x" * 43}
    said = httpx.get(f"{city.servers['a'].url}/v1/me", headers=unknown).json()
    r = client.get("/v1/me", headers=unknown)
    assert r.status_code == 401
    assert (r.json()["type"], r.json()["title"]) == (said["type"], said["title"])
    assert client.get("/v1/me", headers={"Authorization": "Bearer not-a-token"}).json()["type"] == said["type"]

    # Pairing carries no token: the code is tried district by district and pairs in C. The
    # lockout counts the real client, passed on by the router: one client locked out of every
    # district leaves another free to pair.
    codes = []
    for name in ("南门平板", "值班看板"):
        r = client.post("/v1/devices", json={"name": name, "kind": "duty_board"}, headers=c.admin.h(**key()))
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
    wrong = {"X-Forwarded-For": "203.0.113.7"}
    answers = [client.post("/v1/devices/pair", json={"code": "ABCD-EFGH"}, headers=wrong).status_code
               for _ in range(6)]
    assert answers[:5] == [422] * 5 and answers[5] == 429
    assert client.post("/v1/devices/pair", json={"code": codes[0]}, headers=wrong).status_code == 429
    paired = client.post("/v1/devices/pair", json={"code": codes[1]},
                         headers={"X-Forwarded-For": "203.0.113.8"})
    assert paired.status_code == 201, paired.text
    board = client.get("/v1/me", headers={"Authorization": f"Bearer {paired.json()['token']}"})
    assert board.status_code == 200 and board.json()["school_id"] == c.school_id

    health = client.get("/health")
    assert health.status_code == 200 and health.json()["failing"] == []

    # The line to district C goes silent: a new token of B is routed at once all the same (C's
    # answer is not awaited once B has said whose it is), and C's staff get a 503 naming C.
    c_guard = client.get("/v1/roster", headers=c.guard.h())
    assert c_guard.status_code == 200
    city.line_to_c.hole()
    r = client.get("/v1/me", headers=b.inspector.h(), timeout=20)  # far less than a minute
    assert r.status_code == 200 and r.json()["school_id"] == b.school_id
    r = client.get("/v1/roster", headers=c.guard.h(), timeout=20)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["districts"] == ["c"] and "c" in r.json()["detail"]

    # District C goes down: the same 503 at once, A and B go on, /health says which is down.
    city.line_to_c.cut()
    r = client.get("/v1/roster", headers=c.guard.h())
    assert r.status_code == 503 and r.json()["districts"] == ["c"]
    assert client.get("/v1/roster", headers=a.guard.h()).status_code == 200
    r = client.get("/v1/me", headers=a.inspector.h())  # a new token: C cannot be asked
    assert r.status_code == 200 and r.json()["school_id"] == a.school_id
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["failing"] == ["c"]
    assert health.json()["districts"]["a"]["ok"] and not health.json()["districts"]["c"]["ok"]

    # The router's log and the districts' never hold a token.
    tokens = [s.token for w in worlds.values() for s in (w.admin, w.guard, w.inspector, w.teacher)]
    assert caplog.records  # C's failures were logged
    assert not [r for r in caplog.records for t in tokens if t in r.getMessage()]
    client.close()


ONE_SCHOOL_TWICE = ('[districts.a]\nupstreams = ["http://x:80"]\nschools = ["s1"]\n'
                    '[districts.b]\nupstreams = ["http://y:80"]\nschools = ["s1"]\n')


@pytest.mark.parametrize(("text", "says"), [
    ("", "names no district"),
    ("[districts.a]\nschools = []\n", "upstreams"),
    ('[districts.a]\nupstreams = ["ftp://x"]\n', "http:// or https://"),
    (ONE_SCHOOL_TWICE, "school s1 is in district a too"),
    ('[districts.a]\nupstream = ["http://x:80"]\n', "unknown key(s) upstream"),
    ("[districts.a\n", "not valid TOML"),
    ('[districts.a]\nupstreams = ["http://x:80"]\nschools = ["s1", " s1 "]\n',
     "school s1 is listed twice; list it once"),
    ('[districts.a]\nupstreams = ["http://x:80"]\n[districts.b]\nupstreams = ["HTTP://X"]\n',
     "HTTP://X is listed twice (in district a too)"),
    ('[districts.a]\nupstreams = ["http://x:80", " http://x/ "]\n', "http://x is listed twice;"),
    ('[district.a]\nupstreams = ["http://x"]\n', "unknown key(s) district"),
])
def test_a_routing_table_that_cannot_be_used_is_said_whole(text: str, says: str) -> None:
    with pytest.raises(RouteTableError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_table(text)


def test_ids_are_read_without_spaces_and_a_district_without_schools_is_warned_of(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "routes.toml"
    table.write_text('[districts.a]\nupstreams = [" http://x:80/ "]\nschools = [" s1 "]\n'
                     '[districts.b]\nupstreams = ["http://y:80"]\n', encoding="utf-8")
    loaded = load_table(table)
    assert loaded.district_of_school("s1") == loaded.district("a")
    assert loaded.district("a").upstreams == ("http://x:80",)
    err = capsys.readouterr().err
    assert "[districts.b] lists no school" in err and "[districts.a]" not in err


def test_the_router_refuses_to_start_on_a_bad_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "routes.toml"
    table.write_text('[districts.east]\nupstreams = ["not a url"]\n', encoding="utf-8")
    assert main(["route", "--table", str(table)]) == 2
    assert "[districts.east]" in capsys.readouterr().err
    assert main(["route", "--table", str(tmp_path / "missing.toml")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_the_example_table_of_the_readme_and_compose_file_is_one_the_router_starts_on() -> None:
    table = load_table(Path(__file__).resolve().parent.parent / "docs" / "routes.example.toml")
    assert [d.upstreams for d in table.districts] == [("http://district-east:8000",),
                                                     ("http://district-west:8000",)]


def test_a_tokens_district_is_kept_a_minute_by_its_hash_and_the_oldest_make_room() -> None:
    now = [0.0]
    cache = TokenCache[District](ttl=60.0, size=2, clock=lambda: now[0])
    east, west = (District(n, ("http://x",), frozenset()) for n in ("east", "west"))
    cache.put("hov_secret-one", east)
    assert cache.get("hov_secret-one") is east
    assert all("hov_secret" not in k for k in cache._entries)  # only hashes are held
    now[0] = 59.9
    assert cache.get("hov_secret-one") is east
    now[0] = 60.0
    assert cache.get("hov_secret-one") is None  # asked again after a minute
    for i in range(3):
        cache.put(f"hov_{i}", west)
    assert len(cache) == 2 and cache.get("hov_0") is None and cache.get("hov_2") is west
