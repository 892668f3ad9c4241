"""The router: one address for a city, each request passed to its school's district service.

A request with a staff token goes to the district whose service knows the token: the router asks
every district's ``GET /v1/me`` once, at the same time, and the one answering 200 names the school;
the school must be in that district's list of the table (else 421), and the answer is kept a
minute under the token's hash (never the token). A request without a token that only one
district can answer is tried district by district: a device's pairing code until a district
does not call it unknown, a stream ticket until one does not refuse it. Anything else without a
token (the screens, the API docs) is the same everywhere and goes to the first district up.

Bodies stream both ways (the live stream passes unbuffered); the client's own address goes on in
``X-Forwarded-For``, so each district's pairing lockout counts the real client. A district that
does not answer is a problem+json 503 naming it; the others go on.

Each district has its own connections: at most ``requests`` requests at once, the rest waiting a
few seconds for a place and then answered 503 ``router-busy`` (the router is busy, not the
district down). A live stream (``GET /v1/stream``, or any answer that is ``text/event-stream``)
holds no such place: streams have a cap of their own for the whole router.

What a hostile client sends is refused before any district is asked: a token not shaped as one
(401), a path with dot segments or encoded slashes (400); a token refused once (401, 421) is
refused again from memory for 10 s. Header values pass byte for byte, spaces around them dropped.
A pairing code is tried first in the district its client paired in last.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from service.route.answers import (
    bad_request,
    district_down,
    problem,
    router_busy,
    unauthenticated,
)
from service.route.health import look_at_districts
from service.route.memory import TokenCache
from service.route.places import Place, Places, RouterBusy
from service.route.table import District, RouteTable

__all__ = ["TokenCache", "create_router"]

log = logging.getLogger("handover.route")
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host",
    # said by the router itself, never passed on from the client
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded",
})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
MAX_RETRIED_BODY = 64 * 1024  # a pairing request tried in several districts is held this far
HEALTH_KEPT = 1.5  # seconds one look at the districts' /health answers the router's
PAIRING = "/v1/devices/pair"
# A staff or device token (service.domain.staff.new_token: "hov_" and URL-safe base64 of 32
# bytes), or a stream ticket ("hst_", new_ticket); anything else is refused without a lookup.
TOKEN_SHAPE = re.compile(r"(hov|hst)_[A-Za-z0-9_-]{20,196}")

STREAM = "/v1/stream"


@dataclass
class Upstream:
    """A district's answer, its body still to come, and the place it holds until closed."""

    response: httpx.Response
    place: Place
    district: District

    async def close(self) -> None:
        try:
            await self.response.aclose()
        finally:
            self.place.free()


class BadRequest(Exception):
    """The client's request cannot be passed on as it is (a header HTTP does not allow)."""


class AnswerCut(Exception):
    """A district's answer stopped before its end (the district died, or its line did)."""


class DistrictDown(Exception):
    def __init__(self, district: District, error: BaseException) -> None:
        super().__init__(f"district {district.name}: {error!r}")
        self.district, self.error = district, error


@dataclass(frozen=True)
class Claim:
    """One district's answer to "whose token is this?"."""

    district: District
    school_id: str | None = None  # its school, when the district knows the token
    down: BaseException | None = None
    busy: bool = False  # not asked: no place for one more request to it


def dotted(request: Request) -> bool:
    """A path a server behind might read otherwise than the router: dot segments (plain or
    %2e), encoded slashes or backslashes."""
    raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").lower()
    if any(encoded in raw for encoded in ("%2f", "%5c", "\\")):
        return True
    return any(segment in (".", "..") for segment in request.url.path.split("/"))


def is_stream(request: Request) -> bool:
    return request.method == "GET" and request.url.path == STREAM


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Router:
    def __init__(self, table: RouteTable, *, transport: httpx.AsyncBaseTransport | None = None,
                 cache: TokenCache[District] | None = None,
                 refused: TokenCache[Response] | None = None, lookup_timeout: float = 5.0,
                 answer_timeout: float = 60.0, requests: int = 500, streams: int = 10000,
                 place_wait: float = 5.0) -> None:
        self.table = table
        self.cache = TokenCache[District]() if cache is None else cache
        # A token no district knows (401) or of a school not routed (421): said again for 10 s
        # without asking the districts.
        self.refused = TokenCache[Response](ttl=10.0, size=10000) if refused is None else refused
        # The district each client (by address) paired a device in last, for a day: its codes
        # are tried there first, so pairing one district's tablets counts no wrong code elsewhere.
        self.paired = TokenCache[District](ttl=86400.0, size=10000)
        self.transport = transport
        self.lookup_timeout = lookup_timeout  # whose token is it; is the district well
        # A district's silence this long (before its answer, or in the middle of it) ends the
        # request: a live stream is never quiet for more than its 15 s heartbeat.
        self.answer_timeout = answer_timeout
        # Requests at once to each district (the others wait place_wait s), streams at once in all.
        self.places = {d.name: Places(requests, place_wait) for d in table.districts}
        self.streams = Places(streams, 0.0)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._resolving: dict[str, asyncio.Future[Claim | Response]] = {}
        self._health: tuple[float, asyncio.Future[tuple[int, dict[str, Any]]]] | None = None

    def client(self, district: District | None) -> httpx.AsyncClient:
        """The district's own connections (None: those of the router's /health)."""
        name = "" if district is None else district.name
        if name not in self._clients:
            # The places above count requests; httpx's own pool never makes one wait.
            self._clients[name] = httpx.AsyncClient(
                transport=self.transport, trust_env=False, follow_redirects=False,
                timeout=httpx.Timeout(connect=3.0, read=self.answer_timeout, write=30.0, pool=5.0),
                limits=httpx.Limits(max_connections=None if district else 50,
                                    max_keepalive_connections=100 if district else 10))
        return self._clients[name]

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # -- passing a request on --------------------------------------------------------------
    @staticmethod
    def _headers(request: Request) -> list[tuple[bytes, bytes]]:
        """The client's headers as it sent them, byte for byte (a tablet's name in UTF-8 too)."""
        headers = [(k, v.strip(b" \t")) for k, v in request.headers.raw  # spaces around: not the value
                   if k.decode("latin-1").lower() not in HOP_BY_HOP]
        if request.client is not None:
            headers.append((b"X-Forwarded-For", request.client.host.encode("latin-1")))
        headers.append((b"X-Forwarded-Proto", request.url.scheme.encode("latin-1")))
        return headers

    @staticmethod
    def _target(base: str, request: Request) -> str:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        return base + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")

    async def _send(self, district: District, request: Request, body: bytes | None | AsyncIterator[bytes],
                    *, stream: bool = False) -> Upstream:
        """The district's answer, its body still to be read, holding a place of the district's
        requests (or, for a stream, of the router's streams) until closed."""
        place = await (self.streams.take() if stream else self.places[district.name].take())
        try:
            response = await self._send_once(district, request, body)
        except BaseException:
            place.free()
            raise
        if not stream and response.headers.get("content-type", "").startswith("text/event-stream"):
            # A stream after all: it gives its request's place back and takes a stream's.
            try:
                stream_place = await self.streams.take()
            except RouterBusy:
                await response.aclose()
                raise
            finally:
                place.free()
            place = stream_place
        return Upstream(response, place, district)

    async def _send_once(self, district: District, request: Request,
                         body: bytes | None | AsyncIterator[bytes]) -> httpx.Response:
        """The next base URL is tried while one cannot be connected to and no byte of a streamed
        body has gone. A district that took the request and then said nothing (or hung up) is
        not asked again elsewhere: it may have done it."""
        client = self.client(district)
        started = False

        async def streamed(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            nonlocal started
            async for chunk in source:
                if chunk:
                    started = True
                    yield chunk
        content: Any = streamed(body) if body is not None and not isinstance(body, bytes) else body
        error: BaseException | None = None
        for base in district.upstreams:
            outgoing = client.build_request(request.method, self._target(base, request),
                                            headers=self._headers(request), content=content)
            try:
                return await client.send(outgoing, stream=True)
            except httpx.PoolTimeout:
                raise RouterBusy() from None
            except httpx.LocalProtocolError:  # what the client sent cannot be passed on
                raise BadRequest() from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                log.warning("district %s: %s cannot be reached: %r", district.name, base, e)
                error = e
                if started:
                    break
            except httpx.TransportError as e:
                log.warning("district %s: %s did not answer: %r", district.name, base, e)
                raise DistrictDown(district, e) from e
        assert error is not None
        raise DistrictDown(district, error)

    @staticmethod
    def _relay(upstream: Upstream) -> Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.response.aiter_raw():
                    yield chunk
            except httpx.TransportError as e:
                # Cut short: the client must see it cut (no clean end), the log says it once.
                raise AnswerCut(f"district {upstream.district.name} stopped in the middle of its "
                                f"answer: {e!r}") from None
            finally:
                await upstream.close()
        response = StreamingResponse(body(), status_code=upstream.response.status_code,
                                     background=BackgroundTask(upstream.close))
        response.raw_headers = [(k, v) for k, v in upstream.response.headers.raw
                                if k.decode("latin-1").lower() not in HOP_BY_HOP]
        return response

    @staticmethod
    def _body(request: Request) -> AsyncIterator[bytes] | None:
        if "transfer-encoding" in request.headers or request.headers.get("content-length", "0") != "0":
            return request.stream()
        return None

    async def forward(self, district: District, request: Request) -> Response:
        try:
            upstream = await self._send(district, request, self._body(request),
                                        stream=is_stream(request))
        except DistrictDown as e:
            return district_down([e.district])
        except RouterBusy:
            return router_busy()
        except BadRequest:
            return bad_request()
        return self._relay(upstream)

    # -- whose request is it --------------------------------------------------------------
    async def _claim(self, district: District, token: str) -> Claim:
        try:
            place = await self.places[district.name].take()
        except RouterBusy:
            return Claim(district, busy=True)
        try:
            return await self._claim_here(district, token)
        finally:
            place.free()

    async def _claim_here(self, district: District, token: str) -> Claim:
        error: BaseException | None = None
        for base in district.upstreams:
            try:
                r = await self.client(district).get(
                    f"{base}/v1/me", headers={b"Authorization": b"Bearer " + token.encode("latin-1")},
                    timeout=self.lookup_timeout)
            except httpx.PoolTimeout:
                return Claim(district, busy=True)
            except httpx.HTTPError as e:
                error = e
                continue
            if r.status_code in (401, 403):
                return Claim(district)
            try:
                school = r.json().get("school_id") if r.status_code == 200 else None
            except (ValueError, AttributeError):
                school = None
            if school:
                return Claim(district, school_id=str(school))
            error = RuntimeError(f"GET /v1/me answered {r.status_code} without a school")
        log.warning("district %s cannot say whose a token is: %r", district.name, error)
        return Claim(district, down=error)

    async def district_of(self, token: str) -> District | Response:
        cached = self.cache.get(token)
        if cached is not None:
            return cached
        refused = self.refused.get(token)
        if refused is not None:
            return Response(refused.body, refused.status_code, headers=dict(refused.headers))
        if len(token) > 200 or not TOKEN_SHAPE.fullmatch(token):
            return unauthenticated()
        key = TokenCache.key(token)
        pending = self._resolving.get(key)
        if pending is None:  # one lookup for the requests of one new token that arrive together
            pending = self._resolving[key] = asyncio.ensure_future(self._claim_any(token))
            pending.add_done_callback(lambda _: self._resolving.pop(key, None))
        claim = await asyncio.shield(pending)
        if isinstance(claim, Response):
            if claim.status_code == 401:
                self.refused.put(token, claim)
            return claim
        assert claim.school_id is not None
        if claim.school_id not in claim.district.schools:
            listed = self.table.district_of_school(claim.school_id)
            refusal = problem(
                421, "school-not-routed", "School not routed",
                f"学校 {claim.school_id} 不在学区 {claim.district.name} 的路由表中 / school "
                f"{claim.school_id} is not routed to district {claim.district.name}"
                + (f" (the table lists it under {listed.name})" if listed else ""),
                school_id=claim.school_id, district=claim.district.name)
            self.refused.put(token, refusal)
            return refusal
        self.cache.put(token, claim.district)
        return claim.district

    async def _claim_any(self, token: str) -> Claim | Response:
        """The district that knows the token, as soon as one says so: a district slow to answer
        delays only the tokens no other district knows."""
        tasks = [asyncio.ensure_future(self._claim(d, token)) for d in self.table.districts]
        down: list[District] = []
        busy = False
        try:
            for next_answer in asyncio.as_completed(tasks):
                claim = await next_answer
                if claim.school_id is not None:
                    return claim
                if claim.down is not None:
                    down.append(claim.district)
                busy |= claim.busy
        finally:
            for task in tasks:
                task.cancel()
        if down:
            return district_down(sorted(down, key=self.table.districts.index))
        if busy:
            return router_busy()
        return unauthenticated()

    # -- the routes -------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        if dotted(request):
            return problem(400, "bad-path", "Bad path",
                           "路径含有 . 或 .. 段或编码的斜杠 / the path has a . or .. segment or an "
                           "encoded slash")
        token = bearer(request)
        if token is not None:
            found = await self.district_of(token)
            if isinstance(found, Response):
                return found
            response = await self.forward(found, request)
            if response.status_code == 401:
                self.cache.forget(token)  # revoked or expired since: asked again next time
            return response
        if request.url.path == PAIRING and request.method == "POST":
            return await self.pair(request)
        if is_stream(request) and "ticket" in request.query_params:
            return await self.each_district(request, None, lambda r, _: r.status_code == 401,
                                            stream=True)
        return await self.first_up(request)

    async def first_up(self, request: Request) -> Response:
        """What every district answers alike (the screens, the docs, a request without a token)."""
        body = await self._held_body(request)
        if isinstance(body, Response):
            return body
        down: list[District] = []
        for district in self.table.districts:
            try:
                return self._relay(await self._send(district, request, body))
            except DistrictDown as e:
                down.append(e.district)
            except RouterBusy:
                return router_busy()
            except BadRequest:
                return bad_request()
        return district_down(down)

    async def _held_body(self, request: Request) -> bytes | None | Response:
        if self._body(request) is None:
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_RETRIED_BODY:
                return problem(413, "too-large", "Request body too large",
                               f"请求体超过 {MAX_RETRIED_BODY // 1024} KB / the body is over "
                               f"{MAX_RETRIED_BODY // 1024} KB")
        return body

    async def pair(self, request: Request) -> Response:
        def not_here(r: httpx.Response, content: bytes) -> bool:
            if r.status_code == 429:  # locked out in this district: the code may be another's
                return True
            return r.status_code == 422 and b"pairing-code-unknown" in content
        client = request.client.host if request.client else ""
        paired_last = self.paired.get(client)
        order = sorted(self.table.districts, key=lambda d: d is not paired_last)

        def paired(district: District) -> None:
            self.paired.put(client, district)
        return await self.each_district(request, await self._held_body(request), not_here,
                                        prefer=lambda r: r.status_code == 429, order=order,
                                        answered=paired)

    async def each_district(self, request: Request, body: bytes | None | Response,
                            not_here: Callable[[httpx.Response, bytes], bool],
                            prefer: Callable[[httpx.Response], bool] | None = None,
                            stream: bool = False, order: list[District] | None = None,
                            answered: Callable[[District], None] | None = None) -> Response:
        """The first district's answer that is not ``not_here`` (in the table's order, or
        ``order``; ``answered`` is told the district when it answers below 400); when every
        district says not here, the last answer (or one ``prefer`` picks), or a 503 if a
        district is down."""
        if isinstance(body, Response):
            return body
        down: list[District] = []
        last: tuple[httpx.Response, bytes] | None = None
        preferred: tuple[httpx.Response, bytes] | None = None
        for district in order or self.table.districts:
            try:
                sent = await self._send(district, request, body, stream=stream)
            except DistrictDown as e:
                down.append(e.district)
                continue
            except RouterBusy:
                return router_busy()
            except BadRequest:
                return bad_request()
            upstream = sent.response
            if upstream.status_code < 400:
                if answered is not None:
                    answered(district)
                return self._relay(sent)
            try:
                content = b"".join([chunk async for chunk in upstream.aiter_raw()])  # as sent: encoded
            finally:
                await sent.close()
            if not not_here(upstream, content):
                return self._answer(upstream, content)
            last = (upstream, content)
            if prefer is not None and prefer(upstream):
                preferred = preferred or last
        if preferred is not None:
            return self._answer(*preferred)
        if down:
            return district_down(down)
        assert last is not None
        return self._answer(*last)

    @staticmethod
    def _answer(upstream: httpx.Response, content: bytes) -> Response:
        response = Response(content, status_code=upstream.status_code)
        response.raw_headers = [(k, v) for k, v in upstream.headers.raw
                                if k.decode("latin-1").lower() not in HOP_BY_HOP]
        return response

    async def health(self, request: Request) -> Response:
        """Every district well or not, by name, with a short reason (never its URLs): 503 as soon
        as one is not. One look at the districts serves every ``/health`` of the next 1.5 s."""
        now = time.monotonic()
        if self._health is None or (self._health[1].done() and self._health[0] <= now):
            look = asyncio.ensure_future(
                look_at_districts(self.table, self.client(None), self.lookup_timeout))
            self._health = (float("inf"), look)

            def looked(_: object, look: asyncio.Future[tuple[int, dict[str, Any]]] = look) -> None:
                if self._health is not None and self._health[1] is look:
                    self._health = (time.monotonic() + HEALTH_KEPT, look)
            look.add_done_callback(looked)
        status, body = await asyncio.shield(self._health[1])
        return JSONResponse(body, status_code=status)


class RouterApp(Starlette):
    """A client gone before the router has its whole request, or a district's answer cut short,
    is a line of the log, not a traceback: the connection to the client just ends."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            log.info("%s %s: the client went away before its request was whole",
                     scope.get("method"), scope.get("path"))
        except AnswerCut as e:
            log.warning("%s %s: %s", scope.get("method"), scope.get("path"), e)


def create_router(table: RouteTable, **options: Any) -> Starlette:
    router = Router(table, **options)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await router.close()

    app = RouterApp(routes=[Route("/health", router.health, methods=["GET", "HEAD"]),
                            Route("/{path:path}", router.handle, methods=METHODS)],
                    lifespan=lifespan)
    app.state.router = router
    return app
