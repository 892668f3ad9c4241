"""Dependencies: the application, the caller's identity and role, and the command's metadata."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from service.api.problems import (
    CALLER_CHECKS,
    PROBLEM_MEDIA_TYPE,
    refusal_problem,
    rejection_problem,
)
from service.api.text import HeaderLine
from service.domain.common import Actor, Role
from service.domain.errors import RuleError
from service.projections.views import Views
from service.use_cases.application import HandoverApp
from service.use_cases.core import Outcome, StaffIdentity
from service.use_cases.devices import DeviceIdentity
from service.use_cases.results import Recorded, Refused, Rejected

log = logging.getLogger(__name__)
ALL_ROLES = tuple(Role)
STAFF_ROLES = (Role.ADMIN, Role.TEACHER, Role.GUARD, Role.DUTY_LEADER, Role.SAFETY_OFFICER)
ADMIN_ONLY = (Role.ADMIN,)
# The staff roles, those that may void another's record first: a teacher who is also the duty
# leader corrects (and closes an incident) as the duty leader.
CORRECTING_ROLES = (Role.ADMIN, Role.SAFETY_OFFICER, Role.DUTY_LEADER, Role.TEACHER, Role.GUARD)


def get_app(request: Request) -> HandoverApp:
    app: HandoverApp = request.app.state.handover
    return app


async def _app(request: Request) -> HandoverApp:
    """``get_app`` as a dependency on the event loop: no thread hop for an attribute."""
    return get_app(request)


AppDep = Annotated[HandoverApp, Depends(_app)]


def get_views(request: Request) -> Views:
    views: Views = request.app.state.views
    return views


async def _views(request: Request) -> Views:
    return get_views(request)


ViewsDep = Annotated[Views, Depends(_views)]
DeviceTime = Annotated[HeaderLine, Field(json_schema_extra={"format": "date-time"})]
_bearer = HTTPBearer(auto_error=False, description="A staff token, as printed by `handover init`")


@dataclass(frozen=True)
class CommandMeta:
    key: str | None
    fingerprint: str | None
    device: str | None
    device_time: datetime | None
    guard: str | None = None  # the guard a gate tablet's command is made by (X-Guard-Id)


async def command_meta(
    request: Request,
    idempotency_key: Annotated[HeaderLine | None, Header(
        max_length=200, description="The client's command id: a retry with the same key and body "
        "returns the first answer and records nothing twice")] = None,
    x_device_id: Annotated[HeaderLine | None, Header(max_length=200)] = None,
    x_device_time: Annotated[DeviceTime | None, Header(
        max_length=64, description="When the command was made on the device (queued offline): RFC 3339, with an offset"
    )] = None,
    x_guard_id: Annotated[HeaderLine | None, Header(
        max_length=64, description="A gate tablet only: the guard on duty at its gate who made "
        "the command (signed on with their PIN); recorded as the one who did it, the tablet as "
        "where")] = None,
) -> CommandMeta:
    device_time = None
    if x_device_time:
        try:
            device_time = datetime.fromisoformat(x_device_time)
        except ValueError:
            raise RuleError("X-Device-Time is not an ISO 8601 time.", field="X-Device-Time") from None
        if device_time.tzinfo is None:
            raise RuleError("X-Device-Time needs a time zone offset.", field="X-Device-Time")
    fingerprint = None
    key = idempotency_key.strip() if idempotency_key else None
    if key:
        digest = hashlib.sha256()
        for part in (request.method, request.url.path, request.url.query):
            digest.update(part.encode() + b"\0")
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            # The form has been parsed already: fingerprint its fields and file contents.
            for name, value in (await request.form()).multi_items():
                digest.update(name.encode() + b"\0")
                if isinstance(value, StarletteUploadFile):
                    digest.update(await value.read())
                    await value.seek(0)
                else:
                    digest.update(value.encode())
        else:
            digest.update(await request.body())
        fingerprint = digest.hexdigest()
    return CommandMeta(key or None, fingerprint, x_device_id, device_time,
                       x_guard_id.strip() if x_guard_id and x_guard_id.strip() else None)


MetaDep = Annotated[CommandMeta, Depends(command_meta)]
GATE_BOUND_FIELDS = ("gate_id", "place_id")


async def places_named(request: Request) -> frozenset[str]:
    """The gates or places a command's body names (for a tablet bound to one gate).

    The body is read as JSON whatever its content type says (``Application/JSON``,
    ``application/x+json``, none at all): FastAPI parses all of those, and a body it does not
    parse names no place. Only a form (the roster upload) is not JSON."""
    if request.headers.get("content-type", "").lower().lstrip().startswith("multipart/"):
        return frozenset()
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, RecursionError):
        return frozenset()  # the route's own parsing answers for it
    if not isinstance(body, dict):
        return frozenset()
    return frozenset(v for k in GATE_BOUND_FIELDS if isinstance(v := body.get(k), str))


PlacesDep = Annotated[frozenset[str], Depends(places_named)]


def device_place(identity: StaffIdentity, places: frozenset[str]) -> str | None:
    """The place a device's commands are made at; a gate tablet acts at its own gate only."""
    if not isinstance(identity, DeviceIdentity):
        return None
    if identity.kind == "gate_tablet":
        elsewhere = places - {identity.place_id, "gatehouse"}
        if elsewhere:
            raise HTTPException(403, f"This tablet is paired for one gate ({identity.place_id}); "
                                     "it may not act at another.")
    return identity.place_id


def require_role(*roles: Role, boards: bool = False) -> Callable[..., Any]:
    """The caller, acting in the first of their roles that may do this.

    A duty board's token is refused (403) unless the route is one the board reads
    (``boards``): its role is the inspector's, but the board shows the roster, alerts and the
    stream only."""
    allowed = [r.value for r in roles]

    # Who is calling is checked before anything else about the request: without a valid token the
    # answer is 401 (and without the role 403), whatever its headers or body hold.
    def permitted(
        app: AppDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> tuple[StaffIdentity, str]:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "A bearer token is required.")
        return check(app, credentials.credentials)

    def check(app: HandoverApp, token: str) -> tuple[StaffIdentity, str]:
        identity = app.authenticate(token)
        if identity is None:
            raise HTTPException(401, "This token is not valid.")
        role = next((r for r in allowed if r in identity.roles), None)
        if role is None:
            raise HTTPException(403, f"Your roles ({', '.join(identity.roles)}) may not do this.")
        if not boards and isinstance(identity, DeviceIdentity) and identity.board_only:
            raise HTTPException(403, "A duty board reads the roster, alerts and the live stream "
                                     "only.")
        return identity, role

    def check_request(request: Request) -> None:
        """The same check, for a request refused before its dependencies ran (a body that
        does not parse): raises the 401 or 403 the caller gets first."""
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        if not token or scheme.lower() != "bearer":
            raise HTTPException(401, "A bearer token is required.")
        check(get_app(request), token)

    # On the event loop (the token's check above is the request's one thread hop before its
    # route): only a gate tablet's guard on duty is looked up in a thread.
    async def actor(
        caller: tuple[StaffIdentity, str] = Depends(permitted),  # first; a closure, so no alias
        *, app: AppDep, meta: MetaDep, places: PlacesDep,
    ) -> Actor:
        identity, role = caller
        place = device_place(identity, places)
        paired = identity.staff_id if isinstance(identity, DeviceIdentity) else None
        staff_id, name = identity.staff_id, identity.name
        if meta.guard is not None:
            # A shared gate tablet acts under the guard on duty at its gate: the guard did it.
            guard = await run_in_threadpool(app.guard_on_duty, identity, meta.guard,
                                            meta.device_time or app.now())
            staff_id, name = guard["staff_id"], guard["name"]
        return Actor(
            school_id=identity.school_id, staff_id=staff_id, staff_name=name,
            role=role, at=app.now(), command_id=meta.key, device=paired or meta.device,
            device_time=meta.device_time, fingerprint=meta.fingerprint, place=place,
        )

    CALLER_CHECKS[actor] = check_request
    return actor


AdminActor = Annotated[Actor, Depends(require_role(*ADMIN_ONLY))]
StaffActor = Annotated[Actor, Depends(require_role(*STAFF_ROLES))]
CorrectingActor = Annotated[Actor, Depends(require_role(*CORRECTING_ROLES))]
Reader = Annotated[Actor, Depends(require_role(*ALL_ROLES))]
# Fees, subsidies and the monthly publication: the school's accounts, for admins and inspectors.
AccountsReader = Annotated[Actor, Depends(require_role(Role.ADMIN, Role.INSPECTOR))]
# A group's care log: those who answer for the afternoon (a teacher only for their own group).
CareLogReader = Annotated[Actor, Depends(require_role(
    Role.ADMIN, Role.INSPECTOR, Role.SAFETY_OFFICER, Role.DUTY_LEADER, Role.TEACHER))]
# What a duty board reads too: the roster, alerts, the stream, the school's layout and itself.
BoardReader = Annotated[Actor, Depends(require_role(*ALL_ROLES, boards=True))]


def respond(outcome: Outcome, model: type[BaseModel]) -> JSONResponse:
    """The use case's result as HTTP, the one place that does so, with the write's log position.

    An answer replayed for a retried command that no longer validates against
    today's response model is answered as it was first given, not with an error.
    """
    headers: dict[str, str] = {}
    if outcome.position is not None:
        headers["X-Log-Position"] = str(outcome.position)
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    result = outcome.result
    if isinstance(result, Refused):
        return JSONResponse(refusal_problem(result), status_code=422,
                            media_type=PROBLEM_MEDIA_TYPE, headers=headers)
    if isinstance(result, Rejected):
        status, body = rejection_problem(result)
        return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)
    if isinstance(result, Recorded):
        status, body = result.status, result.body
        if status >= 400:
            return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE,
                                headers=headers)
    else:
        status, body = (201 if result.created else 200), result.body
    try:
        content = model.model_validate(body).model_dump(mode="json")
    except ValidationError:
        if not outcome.replayed:
            raise
        log.warning("A replayed answer no longer fits %s; answering it as first given", model.__name__)
        content = body
    return JSONResponse(content, status_code=status, headers=headers)
