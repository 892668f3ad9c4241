"""Devices: an admin registers a tablet or a board and shows it a code; the device pairs with it once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import ALL_ROLES, AdminActor, AppDep, require_role, respond
from service.api.problems import (
    PROBLEM_RESPONSES,
    READ_RESPONSES,
    _problem_content,
    problem_response,
)
from service.api.text import Line
from service.domain.common import Actor
from service.domain.device import TooManyPairingTriesError

router = APIRouter(prefix="/v1", tags=["devices"], responses=PROBLEM_RESPONSES)
pairing = APIRouter(prefix="/v1", tags=["devices"])  # no token here, so no 401 or 403

Kind = Literal["gate_tablet", "classroom_tablet", "duty_board"]
KIND_TEXT = ("gate_tablet: a guard at its gate; classroom_tablet: a teacher of its group; "
             "duty_board: reads only (the board)")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceOut(BaseModel):
    device_id: str = Field(description="Also the id the device acts under in every record")
    name: str
    kind: Kind = Field(description=KIND_TEXT)
    role: str = Field(description="The one role its token carries")
    place_id: str | None = Field(description="The gate or group it is bound to; null for a board")
    place_label: str | None
    status: Literal["unpaired", "waiting", "paired", "revoked"] = Field(
        description="waiting: a code is out and not yet used or expired")
    registered_at: str | None
    registered_by: str | None
    paired_at: str | None
    code_expires_at: str | None = Field(description="When the code now out stops pairing")
    last_seen: str | None = Field(description="Its last request to this server process, if any "
                                  "since it started")
    revoked_at: str | None
    revoked_by: str | None


class DeviceWithCode(DeviceOut):
    code: str | None = Field(description=(
        "The pairing code (8 characters, shown as XXXX-XXXX), for the device to enter once within "
        "expires_in seconds; only its hash is stored. A replayed request (same Idempotency-Key) "
        "answers null: issue a new code instead."))
    expires_in: int = Field(description="Seconds the code stays valid")


class DeviceList(BaseModel):
    devices: list[DeviceOut]


class DeviceRequest(Strict):
    name: Line = Field(min_length=1, max_length=100, description="As staff call it, e.g. 东门平板")
    kind: Kind = Field(description=KIND_TEXT)
    place_id: Line | None = Field(default=None, max_length=64, description=(
        "The gate (gate_tablet) or group (classroom_tablet) it serves; omitted for a duty_board"))


class PairRequest(Strict):
    code: Line = Field(min_length=1, max_length=20, description="As shown to the admin; case, "
                       "spaces and dashes do not matter")


class Paired(DeviceOut):
    token: str = Field(description="The device's bearer token, shown once; keep it on the device")
    token_id: str
    token_expires_at: str | None = Field(description="null: it does not expire")


PAIR_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _problem_content("The code was used already, expired (pairing-code-used, "
                          "pairing-code-expired), or its device was revoked"),
    422: _problem_content("Bad input, or a code that is not valid (pairing-code-unknown)"),
    413: PROBLEM_RESPONSES[413],
    429: _problem_content("Too many wrong codes from this client: wait Retry-After seconds"),
    503: PROBLEM_RESPONSES[503],
}
DeviceCaller = Annotated[Actor, Depends(require_role(*ALL_ROLES, boards=True))]


@router.post("/devices", response_model=DeviceWithCode, status_code=201)
def register_device(body: DeviceRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Register a device and issue its first pairing code (valid 10 minutes, used once).

    The device acts as itself, in its kind's one role: a gate tablet is a guard at its gate,
    never a person's admin token."""
    return respond(app.register_device(actor, body.name, body.kind, body.place_id), DeviceWithCode)


@router.get("/devices", response_model=DeviceList, responses=READ_RESPONSES)
def list_devices(actor: AdminActor, app: AppDep) -> Any:
    """The school's devices: kind, place, when paired, last seen, revoked."""
    return {"devices": app.list_devices(actor)}


@router.post("/devices/{device_id}/codes", response_model=DeviceWithCode, status_code=201)
def issue_code(device_id: Line, actor: AdminActor, app: AppDep) -> JSONResponse:
    """A new pairing code for the device (a reset tablet); an earlier code stops working.
    Pairing with it replaces the device's token."""
    return respond(app.issue_pairing_code(actor, device_id), DeviceWithCode)


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut)
def revoke_device(device_id: Line, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Revoke a lost or retired device: its token is refused (401) from the next request on."""
    return respond(app.revoke_device(actor, device_id), DeviceOut)


@pairing.post("/devices/pair", response_model=Paired, status_code=201, responses=PAIR_RESPONSES)
def pair(body: PairRequest, request: Request, app: AppDep) -> JSONResponse:
    """The device exchanges its code, once, for its own token. No token is needed here; a few
    wrong codes from one client make it wait (429)."""
    client = request.client.host if request.client else "unknown"
    return respond(app.pair_device(body.code, client), Paired)


@router.get("/device", response_model=DeviceOut, responses=READ_RESPONSES)
def this_device(actor: DeviceCaller, app: AppDep) -> Any:
    """The calling device: what it is and where it is bound (404 for a person's token)."""
    return app.describe_device(actor)


def too_many_tries_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TooManyPairingTriesError)
    response = problem_response(429, exc.code, exc.title, exc.detail, retry_after=exc.retry_after)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response
