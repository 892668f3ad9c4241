"""`handover route` against a hostile client, in front of small stand-in districts (Starlette apps
served by uvicorn in threads of the test): busy pools, odd headers, unknown tokens, /health,
pairing across districts. The city of real district services is tests/test_city.py."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from service.route.proxy import TokenCache, create_router
from service.route.table import RouteTableError, parse_table
from tests.tcp_proxy import _free_port_below_the_ephemeral_range as free_port

TOKENS = {"east": "hov_" + "E" * 43, "west": "hov_" + "W" * 43}
SCHOOLS = {"east": "school-east", "west": "school-west"}
STRAY = "hov_" + "S" * 43  # a token of west's store, of a school the table does not list


class Served:
    """An ASGI app on a free port, served by uvicorn in a thread; notes the requests it gets."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.asked: list[tuple[str, dict[str, str]]] = []
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"

        async def noted(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.asked.append((f"{scope['method']} {scope['path']}",
                                   {k.decode("latin-1"): v.decode("utf-8", "replace")
                                    for k, v in scope["headers"]}))
            await app(scope, receive, send)
        self.server = uvicorn.Server(uvicorn.Config(noted, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="on", **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive()
            time.sleep(0.02)

    def paths(self) -> list[str]:
        return [p for p, _ in self.asked]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Cut:
    """A stream whose district dies after its first event: the connection just ends."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"retry: 1000\n\n", "more_body": True})
        raise ConnectionAbortedError("the district stops")


def district_app(name: str) -> Starlette:
    """A district as the router sees it: /v1/me by token, a live stream, a slow route, headers
    echoed back, pairing codes with a lockout by client."""
    wrong: dict[str, int] = {}
    codes = {"PAIR-" + name.upper()}
    release = asyncio.Event()

    def caller(request: Request) -> str | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return next((d for d, t in TOKENS.items() if t == token), None)

    async def me(request: Request) -> Response:
        if name == "west" and request.headers.get("authorization") == f"Bearer {STRAY}":
            return JSONResponse({"school_id": "school-stray"})
        if caller(request) != name:
            return JSONResponse({"type": "https://handover.invalid/problems/unauthenticated",
                                 "title": "This token is not valid."}, status_code=401,
                                media_type="application/problem+json")
        return JSONResponse({"school_id": SCHOOLS[name]})

    async def events(request: Request) -> Response:
        async def beats() -> AsyncIterator[bytes]:
            yield b"retry: 1000\n\n"
            while not await request.is_disconnected():
                await asyncio.sleep(0.05)
                yield b": beat\n\n"
        return StreamingResponse(beats(), media_type="text/event-stream")

    async def slow(request: Request) -> Response:
        await release.wait()
        return JSONResponse({"slow": True})

    async def let_go(request: Request) -> Response:
        release.set()
        return JSONResponse({})

    async def echo(request: Request) -> Response:
        return JSONResponse({k.decode("latin-1"): v.decode("utf-8", "replace") for k, v in request.headers.raw})

    async def pair(request: Request) -> Response:
        client = request.headers.get("x-forwarded-for", "?")
        if wrong.get(client, 0) >= 5:
            return JSONResponse({"type": "…/pairing-locked"}, status_code=429)
        code = (await request.json())["code"]
        if code not in codes:
            wrong[client] = wrong.get(client, 0) + 1
            return JSONResponse({"type": "https://handover.invalid/problems/pairing-code-unknown"},
                                status_code=422)
        return JSONResponse({"token": TOKENS[name]}, status_code=201)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def upload(request: Request) -> Response:
        return JSONResponse({"size": len(await request.body())})


    return Starlette(routes=[
        Route("/v1/me", me), Route("/v1/stream", events), Route("/v1/other-events", events),
        Route("/v1/slow", slow), Route("/v1/let-go", let_go, methods=["POST"]),
        Route("/v1/echo", echo), Route("/v1/devices/pair", pair, methods=["POST"]),
        Route("/health", health), Route("/v1/upload", upload, methods=["POST"]),
        Route("/v1/cut", Cut())])


@contextmanager
def city(more: str = "", **options: Any) -> Iterator[tuple[httpx.Client, dict[str, Served], Served]]:
    """Two stand-in districts (and the table's ``more``) behind an in-process router: a client of
    the router, the districts, and the router."""
    with ExitStack() as stack:
        districts = {n: Served(district_app(n)) for n in ("east", "west")}
        for served in districts.values():
            stack.callback(served.stop)
        table = parse_table("".join(f'[districts.{n}]\nupstreams = ["{s.url}"]\n'
                                    f'schools = ["{SCHOOLS[n]}"]\n' for n, s in districts.items())
                            + more)
        router = Served(create_router(table, **options))
        stack.callback(router.stop)
        client = stack.enter_context(httpx.Client(base_url=router.url, timeout=10))
        yield client, districts, router


def bearer(district: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[district]}"}


def is_problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/" + code), r.text


def test_open_streams_take_no_place_of_a_districts_requests_and_a_full_pool_is_the_router_busy(
        ) -> None:
    with city(requests=2, streams=6, place_wait=0.3) as (client, districts, _):
        with ExitStack() as streams:
            opened = [streams.enter_context(client.stream("GET", path, headers=bearer("east")))
                      for path in ("/v1/stream",) * 3 + ("/v1/other-events",) * 3]
            assert [s.status_code for s in opened] == [200] * 6, [s.read() for s in opened]
            # Six streams open in east, its request pool of two is free: east and west answer.
            for d in ("east", "west"):
                r = client.get("/v1/me", headers=bearer(d))
                assert r.status_code == 200 and r.json()["school_id"] == SCHOOLS[d]
            # One stream more than the router's cap is the router busy, not east down.
            r = client.get("/v1/stream", headers=bearer("east"))
            is_problem(r, 503, "router-busy")
            assert r.headers["retry-after"]
            assert client.get("/health").status_code == 200

        # Two slow requests fill east's pool: a third is the router busy, west goes on.
        with httpx.Client(base_url=client.base_url, timeout=10) as other:
            slow = [threading.Thread(target=other.get, args=("/v1/slow",),
                                     kwargs={"headers": bearer("east")}) for _ in range(2)]
            for t in slow:
                t.start()
            deadline = time.monotonic() + 5
            while districts["east"].paths().count("GET /v1/slow") < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            r = client.get("/v1/me", headers=bearer("east"))
            is_problem(r, 503, "router-busy")
            assert "districts" not in r.json()
            assert client.get("/v1/me", headers=bearer("west")).status_code == 200
            assert client.get("/health").status_code == 200
            httpx.post(f"{districts['east'].url}/v1/let-go")
            for t in slow:
                t.join(timeout=10)
        assert client.get("/v1/me", headers=bearer("east")).status_code == 200


def test_header_values_in_utf8_pass_to_the_district_byte_for_byte() -> None:
    with city() as (client, _, _):
        r = client.get("/v1/echo", headers=[(b"Authorization", f"Bearer {TOKENS['east']}".encode()),
                                            (b"X-Device-Id", "东门平板".encode())])
        assert r.status_code == 200, r.text
        assert r.json()["x-device-id"] == "东门平板"
        # A token in UTF-8 no district knows: the router's own 401, not a 500.
        r = client.get("/v1/me", headers=[(b"Authorization", "Bearer ét".encode())])
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
        # Without a token, to the first district: the same bytes.
        r = client.get("/v1/echo", headers=[(b"X-Device-Id", "东门平板".encode())])
        assert r.status_code == 200 and r.json()["x-device-id"] == "东门平板"


def raw_request(url: str, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """A request as a hostile client writes it, byte for byte: status, headers, body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    top, _, body = answer.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_spaces_around_a_header_value_are_dropped_and_a_header_that_cannot_pass_is_a_400() -> None:
    with city() as (_, districts, router):
        status, _, body = raw_request(router.url, b"GET /v1/echo HTTP/1.1\r\nHost: x\r\n"
                                      b"Authorization: Bearer " + TOKENS["east"].encode() + b"  \r\n"
                                      b"X-Note: \xe5\x8d\x97\xe9\x97\xa8 \t\r\n")
        assert status == 200, body
        assert json.loads(body)["x-note"] == "南门"
        assert districts["east"].paths() == ["GET /v1/me", "GET /v1/echo"]

        # A value HTTP does not allow (a vertical tab), handed to the router in process: 400.
        async def control_byte() -> httpx.Response:
            app = create_router(parse_table(f'[districts.east]\nupstreams = ["{districts["east"].url}"]\n'))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://r") as c:
                return await c.get("/v1/echo", headers=[(b"X-Note", b"a\x0bb")])
        r = asyncio.run(control_byte())
        is_problem(r, 400, "bad-request")
        assert districts["east"].paths()[2:] == []


def test_a_token_of_no_token_shape_is_refused_unasked_and_a_refusal_is_kept_ten_seconds() -> None:
    now = [0.0]
    with city(refused=TokenCache[Response](ttl=10.0, size=100, clock=lambda: now[0])) as (
            client, districts, _):
        def lookups() -> int:
            return sum(d.paths().count("GET /v1/me") for d in districts.values())
        for token in ("not-a-token", "hov_short", "ét", "hov_" + "x" * 1_000_000):
            r = client.get("/v1/roster", headers=[(b"Authorization", f"Bearer {token}".encode())])
            is_problem(r, 401, "unauthenticated")
            assert r.headers["www-authenticate"] == "Bearer"
        assert lookups() == 0
        # A well-shaped token no district knows: asked once of each, then refused from memory.
        unknown = {"Authorization": "Bearer hov_" + "U" * 43}
        for _ in range(5):
            assert client.get("/v1/roster", headers=unknown).status_code == 401
        assert lookups() == 2
        for _ in range(3):  # a school the table does not list: the same
            r = client.get("/v1/roster", headers={"Authorization": f"Bearer {STRAY}"})
            assert r.status_code == 421 and r.json()["school_id"] == "school-stray"
        assert lookups() == 4
        now[0] = 10.0  # ten seconds on: asked again
        assert client.get("/v1/roster", headers=unknown).status_code == 401
        assert lookups() == 6
        assert client.get("/v1/me", headers=bearer("east")).status_code == 200


def test_health_names_districts_not_their_urls_and_one_look_answers_a_flood() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with city(f'[districts.north]\nupstreams = ["{nowhere}"]\nschools = ["school-north"]\n') as (
            client, districts, _):
        answers = [client.get("/health") for _ in range(20)]
        r = answers[0]
        assert r.status_code == 503 and r.json()["failing"] == ["north"]
        assert r.json()["districts"]["north"] == {"ok": False, "schools": 1, "reason": "cannot be reached"}
        assert r.json()["districts"]["east"]["ok"] and r.json()["districts"]["west"]["ok"]
        assert "127.0.0.1" not in r.text and "http" not in r.text
        assert all(a.status_code == 503 for a in answers)
        assert districts["east"].paths().count("GET /health") <= 2  # not 20


def test_a_user_or_password_in_an_upstream_url_stops_the_router_at_start_without_showing_it() -> None:
    with pytest.raises(RouteTableError, match="user or password") as refused:
        parse_table('[districts.east]\nupstreams = ["http://ops:s3cret@10.0.1.5:8000"]\n')
    assert "s3cret" not in str(refused.value) and "10.0.1.5:8000" in str(refused.value)


@pytest.mark.parametrize("path", [b"/v1/../health", b"/v1/%2e%2e/health", b"/v1/./me",
                                  b"/v1/pupils/a%2Fb", b"/v1/pupils/a%5cb"])
def test_a_path_with_dot_segments_or_encoded_slashes_is_a_400_and_reaches_no_district(path: bytes) -> None:
    with city() as (_, districts, router):
        status, headers, body = raw_request(router.url, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n")
        assert status == 400, body
        assert headers["content-type"].startswith("application/problem+json")
        assert json.loads(body)["type"].endswith("/bad-path")
        assert all(d.paths() == [] for d in districts.values())


def test_pairing_many_tablets_of_one_district_counts_no_wrong_code_in_another() -> None:
    with city() as (client, districts, _):
        at = {"X-Forwarded-For": "203.0.113.9"}  # one client: the router believes the test
        for _ in range(8):  # eight tablets of west: east is asked once, then west first
            r = client.post("/v1/devices/pair", json={"code": "PAIR-WEST"}, headers=at)
            assert r.status_code == 201 and r.json()["token"] == TOKENS["west"]
        assert districts["east"].paths().count("POST /v1/devices/pair") == 1
        # The client is not locked out of east: its tablet pairs (west asked first, then east).
        r = client.post("/v1/devices/pair", json={"code": "PAIR-EAST"}, headers=at)
        assert r.status_code == 201 and r.json()["token"] == TOKENS["east"]
        r = client.post("/v1/devices/pair", json={"code": "PAIR-EAST"}, headers=at)
        assert r.status_code == 201
        assert districts["west"].paths().count("POST /v1/devices/pair") == 9
        # A wrong code is still tried everywhere, and counted everywhere.
        r = client.post("/v1/devices/pair", json={"code": "WRONG"}, headers=at)
        assert r.status_code == 422
        assert districts["east"].paths().count("POST /v1/devices/pair") == 4


def test_a_client_gone_mid_body_and_a_stream_cut_by_its_district_are_a_line_of_the_log_each(
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO, logger="handover.route")
    with city() as (client, districts, router):
        with client.stream("GET", "/v1/cut", headers=bearer("east")) as stream:
            assert stream.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):  # cut, not a clean end
                for _ in stream.iter_raw():
                    pass
        host, port = router.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                      b"Authorization: Bearer " + TOKENS["east"].encode() + b"\r\n\r\n" + b"x" * 1000)
            deadline = time.monotonic() + 5
            while "POST /v1/upload" not in districts["east"].paths():
                assert time.monotonic() < deadline
                time.sleep(0.02)
        deadline = time.monotonic() + 5
        while len([r for r in caplog.records if r.name == "handover.route"]) < 2:
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.05)
        assert client.get("/v1/me", headers=bearer("east")).status_code == 200
    said = [r.getMessage() for r in caplog.records if r.name == "handover.route"]
    assert any("district east stopped in the middle" in m for m in said)
    assert any("went away" in m for m in said)
    assert not [r for r in caplog.records if r.name == "handover.route" and r.exc_info]
    assert "route/proxy.py" not in capfd.readouterr().err  # no traceback of the router's
