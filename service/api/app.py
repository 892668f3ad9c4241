"""``create_app()``: the FastAPI application, its error mapping and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api import (
    access_log,
    afternoon,
    alerts,
    care_log,
    enrolment,
    notifications,
    pupils,
    roster,
    school,
    statements,
    stream,
)
from service.api.deps import AppDep, ViewsDep
from service.api.problems import (
    Problem,
    domain_error_handler,
    http_error_handler,
    validation_error_handler,
    view_timeout_handler,
)
from service.application import HandoverApp
from service.clock import Clock
from service.domain.errors import DomainError
from service.notifications import Deliverer
from service.projections.views import Views
from service.settings import Settings
from service.watcher import Watcher


class ViewHealth(BaseModel):
    position: int
    head: int
    lag: int
    running: bool
    error: str | None


class AccessRecorderHealth(BaseModel):
    pending: int
    recorded: int
    failures: int
    running: bool
    error: str | None
    failing_since: str | None


class Health(BaseModel):
    status: str
    store: str
    log_position: int | None
    sqlite_journal_mode: str | None = None
    sqlite_synchronous: str | None = None
    views: dict[str, ViewHealth] = {}
    access_recorder: AccessRecorderHealth | None = None


def create_app(
    settings: Settings | None = None, *, application: HandoverApp | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The HTTP API over one application (built from settings unless one is given)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        owned = application is None
        api.state.handover = application or HandoverApp(env=settings.eventsourcing_env(), clock=clock)
        api.state.store = settings.store
        api.state.views = Views(api.state.handover, settings)
        api.state.watcher = Watcher(api.state.handover, api.state.views, settings.watch_interval)
        api.state.deliverer = Deliverer(api.state.handover, api.state.views)
        api.state.handover.access.interval = settings.access_flush_interval
        api.state.handover.access.start()
        if settings.run_projections:
            api.state.views.start()
            api.state.watcher.start()
            api.state.deliverer.start()
        try:
            yield
        finally:
            api.state.handover.access.stop()
            api.state.deliverer.stop()
            api.state.watcher.stop()
            api.state.views.stop()
            if owned:
                api.state.handover.close()

    api = FastAPI(
        title="Handover 课后服务安全交接",
        version="0.1.0",
        description=(
            "Attendance and safety handover for after-school care. Every change is an immutable "
            "event naming who, where, when and the client's command id (Idempotency-Key). "
            "Errors are application/problem+json."
        ),
        lifespan=lifespan,
    )
    api.add_exception_handler(DomainError, domain_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
    api.add_exception_handler(StarletteHTTPException, http_error_handler)
    api.add_exception_handler(TimeoutError, view_timeout_handler)
    for router in (afternoon.router, school.router, pupils.router, enrolment.router,
                   roster.router, alerts.router, care_log.router, statements.router,
                   notifications.router, stream.router, access_log.router):
        api.include_router(router)

    @api.get("/health", response_model=Health, tags=["ops"])
    def health(app: AppDep, views: ViewsDep, response: Response) -> Health:
        recorder: Any = app.recorder
        durability = app.durability
        access = app.access.health()
        if access["error"] is not None:
            response.status_code = 503  # reads of children's data are not being recorded
        return Health(
            status="ok" if access["error"] is None else "failing", store=api.state.store,
            log_position=recorder.max_notification_id(),
            sqlite_journal_mode=durability.journal_mode if durability else None,
            sqlite_synchronous=durability.synchronous if durability else None,
            views={name: ViewHealth(**h) for name, h in views.health().items()},
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
