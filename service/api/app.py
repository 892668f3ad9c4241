"""``create_app()``: the FastAPI application, its error mapping and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.adapters.attachments import MAX_ATTACHMENT_BYTES
from service.adapters.photos import MAX_PHOTO_BYTES
from service.adapters.store import STORE_ERRORS
from service.api import (
    access_log,
    afternoon,
    alerts,
    care_log,
    devices,
    duty,
    enrolment,
    evidence,
    gate_guards,
    history,
    incidents,
    notifications,
    pupils,
    roster,
    school,
    statements,
    stream,
    web,
)
from service.api.body_limit import KB, LimitBodySize
from service.api.deps import AppDep, ViewsDep
from service.api.opening import WhileOpening
from service.api.problems import (
    Problem,
    domain_error_handler,
    http_error_handler,
    store_unavailable_handler,
    validation_error_handler,
    view_timeout_handler,
)
from service.api.server_time import ServerTime
from service.api.url_secrets import RefuseTokensInQuery
from service.domain.device import TooManyPairingTriesError
from service.domain.errors import DomainError
from service.settings import Settings
from service.use_cases.application import HandoverApp
from service.use_cases.clock import Clock, RunningClock
from service.workers.bootstrap import (
    Background,
    Opening,
    background,
    open_application,
    worker_health,
)


class StoreHealth(BaseModel):
    ok: bool
    error: str | None = None


class ViewFailure(BaseModel):
    cause: str
    kind: str  # "store": it cannot reach its store; "event": it cannot apply the event failing_at
    stuck_at: int | None
    failing_at: int | None
    school_id: str | None
    attempts: int
    since: str


class ViewHealth(BaseModel):
    position: int | None
    head: int
    lag: int | None
    running: bool
    hosted: bool = True  # False: this process does not run the views (a worker does)
    error: str | None
    failure: ViewFailure | None = None


class PartHealth(BaseModel):
    running: bool
    error: str | None
    failed_rounds: int = 0
    last_ok: str | None = None
    position: int | None = None
    behind: bool = False


class AccessRecorderHealth(BaseModel):
    pending: int
    recorded: int
    failures: int
    running: bool
    error: str | None
    failing_since: str | None


class Health(BaseModel):
    status: str  # "ok", or "failing" (answered with 503) and ``failing`` names the parts
    store: str
    log_position: int | None
    sqlite_journal_mode: str | None = None
    sqlite_synchronous: str | None = None
    store_health: StoreHealth = StoreHealth(ok=True)
    views: dict[str, ViewHealth] = {}
    access_recorder: AccessRecorderHealth | None = None
    watcher: PartHealth | None = None
    deliverer: PartHealth | None = None
    wake: PartHealth | None = Field(default=None, description=(
        "PostgreSQL: the LISTEN connection that wakes the views and streams on other processes' "
        "writes (while it is down they poll)"))
    checkpointer: PartHealth | None = None
    worker: PartHealth | None = Field(default=None, description=(
        "When the views run in `handover worker`: its heartbeat (failing when missing or stale, "
        "or when it reports a part failing)"))
    failing: list[str] = []


def create_app(
    settings: Settings | None = None, *, application: HandoverApp | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The HTTP API over one application (built from settings unless one is given)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        owned = application is None
        api.state.store = settings.store
        parts: list[Background] = []

        def ready(handover: HandoverApp) -> None:
            running = background(handover, settings)
            api.state.views, api.state.watcher = running.views, running.watcher
            api.state.deliverer, api.state.wake = running.deliverer, running.wake
            api.state.checkpointer = running.checkpointer
            handover.access.interval = settings.access_flush_interval
            handover.access.start()
            if settings.run_projections:
                running.start()
            else:
                running.listen()
            parts.append(running)
            api.state.handover = handover

        ticking = clock or (RunningClock(settings.clock_start) if settings.clock_start else None)
        opening = Opening(lambda: application or open_application(settings, clock=ticking), ready,
                          owned=owned)
        api.state.opening = opening
        if not opening.try_once():
            opening.start()  # the database is away: answer 503 and keep trying until it is back
        try:
            yield
        finally:
            opening.stop()
            if opening.app is not None:
                opening.app.access.stop()
                for running in parts:
                    running.stop()
                if owned:
                    opening.app.close()

    api = FastAPI(
        title="Handover 课后服务安全交接",
        version="0.1.0",
        description=(
            "Attendance and safety handover for after-school care. Every change is an immutable "
            "event naming who, where, when and the client's command id (Idempotency-Key). "
            "Errors are application/problem+json."
        ),
        lifespan=lifespan,
        docs_url=None,  # served by service.api.web from the build's own Swagger UI: no CDN
        redoc_url=None,
    )
    api.add_middleware(WhileOpening)
    api.add_middleware(RefuseTokensInQuery)
    # Every body has a limit, checked before it is read (the pairing route takes no token):
    # a JSON command 64 KB; the roster upload its file's limit and the form around it; a bulk
    # enrolment step its thousands of pupil ids; an incident's attachment and a pupil's photo
    # their file's limit.
    api.add_middleware(LimitBodySize, limits={
        "/v1/imports/roster": pupils.MAX_ROSTER_BYTES + 1024 * KB,
        "/v1/enrolment/": 1024 * KB,
        "/v1/incidents/*/attachments": MAX_ATTACHMENT_BYTES + 64 * KB,
        "/v1/pupils/*/photo": MAX_PHOTO_BYTES + 64 * KB,
    })
    # Outermost: every answer says the service's time, a body refused as too large (413) too.
    api.add_middleware(ServerTime)
    api.add_exception_handler(DomainError, domain_error_handler)
    api.add_exception_handler(TooManyPairingTriesError, devices.too_many_tries_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
    api.add_exception_handler(StarletteHTTPException, http_error_handler)
    api.add_exception_handler(TimeoutError, view_timeout_handler)
    for store_error in STORE_ERRORS:
        api.add_exception_handler(store_error, store_unavailable_handler)
    for router in (afternoon.router, school.router, pupils.router, enrolment.router,
                   roster.router, alerts.router, care_log.router, statements.router,
                   notifications.router, stream.router, access_log.router, incidents.router,
                   history.router, duty.router, evidence.router, gate_guards.router,
                   devices.router, devices.pairing):
        api.include_router(router)
    web.mount(api)  # the screens at /app/

    last_head = {"position": 0}  # the log position last read, for /health while the store is away

    @api.get("/health", response_model=Health, tags=["ops"],
             responses={503: {"model": Health, "description": "A part is failing: see `failing`"}})
    def health(app: AppDep, views: ViewsDep, response: Response) -> Health:
        recorder: Any = app.recorder
        failing: list[str] = []
        try:
            head = recorder.max_notification_id()
            store = StoreHealth(ok=True)
            last_head["position"] = head or 0
        except STORE_ERRORS as e:
            head, store = None, StoreHealth(ok=False, error=repr(e))
            failing.append("store")
        durability = app.durability
        access = app.access.health()
        if access["error"] is not None:
            failing.append("access_recorder")  # reads of children's data are not being recorded
        view_health = views.health((head or 0) if store.ok else last_head["position"], fresh=store.ok)
        for name, h in view_health.items():
            if h["error"] or (h["hosted"] and not h["running"]) or (
                    h["lag"] is not None and h["lag"] > settings.health_max_view_lag):
                failing.append(f"views.{name}")
        parts: dict[str, PartHealth | None] = {"watcher": None, "deliverer": None, "checkpointer": None}
        if views.started:
            watcher = PartHealth(**api.state.watcher.health(settings.health_watcher_grace))
            deliverer = PartHealth(**api.state.deliverer.health())
            checkpointer = PartHealth(**api.state.checkpointer.health())
            parts = {"watcher": watcher, "deliverer": deliverer, "checkpointer": checkpointer}
            for name, part in parts.items():
                assert part is not None
                if not part.running or part.error or part.behind:
                    failing.append(name)
        worker = None
        if not views.started:  # the views, the watcher and the deliverer run in `handover worker`
            worker = PartHealth(**worker_health(views, settings))
            if not worker.running or worker.error:
                failing.append("worker")
        wake = None
        if getattr(api.state, "wake", None) is not None:
            wake = PartHealth(**api.state.wake.health())
            if not wake.running or wake.error:
                failing.append("wake")
        if failing:
            response.status_code = 503
        return Health(
            status="failing" if failing else "ok", store=api.state.store, log_position=head,
            sqlite_journal_mode=durability.journal_mode if durability else None,
            sqlite_synchronous=durability.synchronous if durability else None,
            store_health=store,
            views={name: ViewHealth(**h) for name, h in view_health.items()},
            watcher=parts["watcher"], deliverer=parts["deliverer"], wake=wake, worker=worker,
            checkpointer=parts["checkpointer"], failing=failing,
            access_recorder=AccessRecorderHealth(**access),
        )

    original_openapi = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema:
            return api.openapi_schema
        schema = original_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema()
        # Validation errors are problem+json here, not FastAPI's default shape.
        for path in schema.get("paths", {}).values():
            for op in path.values():
                resp = op.get("responses", {}).get("422")
                if resp and "application/json" in resp.get("content", {}):
                    resp["content"] = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api
