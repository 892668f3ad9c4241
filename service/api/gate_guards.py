"""The guard on duty at a gate tablet: the gate's guards, signing on and off with a PIN; PINs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import AppDep, StaffActor, require_role, respond
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES, _problem_content
from service.api.statements import ShiftOut
from service.api.text import Line
from service.domain.common import Actor, Role

router = APIRouter(prefix="/v1", tags=["gate guards"], responses=PROBLEM_RESPONSES)
GuardActor = Annotated[Actor, Depends(require_role(Role.GUARD))]
Session = Annotated[Line, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Pin = Annotated[Line, Field(pattern=r"^[0-9]{4,8}$", description="4 to 8 digits")]
PIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: _problem_content("Too many wrong PINs for this person: wait Retry-After seconds "
                          "(pin-tries-exceeded)"),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GateGuard(BaseModel):
    staff_id: str
    name: str
    has_pin: bool = Field(description="false: an admin sets a PIN first")
    on_duty: bool = Field(description="Signed on at this gate now")
    signed_on_at: str | None


class GateGuards(BaseModel):
    gate_id: str
    gate_label: str
    day: date
    session: str
    guards: list[GateGuard] = Field(description="Those on duty here first")


class GuardSignOn(Strict):
    staff_id: Line = Field(min_length=1, max_length=64, description="The guard, picked by name")
    pin: Pin
    session: Session = "after_school"
    taking_over_from: Line | None = Field(default=None, max_length=64, description=(
        "The guard on duty here whom this one relieves: signed off, the gate handed over"))
    pupil_ids: list[Line] = Field(default_factory=list, max_length=3000, description=(
        "With taking_over_from: pupils that guard holds at this gate, as the tablet shows them "
        "(422 naming any they do not hold); every pupil they hold here passes to this one"))
    count_received: int | None = Field(default=None, ge=0, le=3000, description=(
        "The pupils this guard counted (default: all that guard holds here); a difference "
        "from what they hold is a count mismatch"))


class GuardSignOff(Strict):
    staff_id: Line = Field(min_length=1, max_length=64)
    pin: Pin
    session: Session = "after_school"


class PinRequest(Strict):
    pin: Pin


class PinSet(BaseModel):
    staff_id: str
    name: str
    has_pin: bool
    set_at: str


@router.get("/gate/guards", response_model=GateGuards, responses=READ_RESPONSES)
def gate_guards(actor: GuardActor, app: AppDep, session: Session = "after_school") -> Any:
    """A gate tablet's guards: who may sign on here, and who is on duty at its gate now."""
    return app.gate_guards(actor, session)


@router.post("/gate/guards/sign-on", response_model=ShiftOut, status_code=201,
             responses=PIN_RESPONSES)
def sign_on(body: GuardSignOn, actor: GuardActor, app: AppDep) -> JSONResponse:
    """A guard signs on at the tablet's gate with their PIN (once, before the rush): from then
    on the tablet's releases, refusals and calls name them (X-Guard-Id). 200 when already on."""
    return respond(app.sign_on_at_gate(actor, body.staff_id, body.pin, body.session,
                                       body.taking_over_from, tuple(body.pupil_ids),
                                       body.count_received), ShiftOut)


@router.post("/gate/guards/sign-off", response_model=ShiftOut, responses=PIN_RESPONSES)
def sign_off(body: GuardSignOff, actor: GuardActor, app: AppDep) -> JSONResponse:
    """The guard leaves the gate, with their PIN; before the last dismissal it is an early leave.
    409 while they still hold pupils at this gate: released, or a colleague takes over first."""
    return respond(app.sign_off_at_gate(actor, body.staff_id, body.pin, body.session), ShiftOut)


@router.put("/staff/{staff_id}/pin", response_model=PinSet, tags=["staff"])
def set_pin(staff_id: Line, body: PinRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Set a PIN: your own, or (an admin) a colleague's. Stored only as a salted slow hash."""
    return respond(app.set_pin(actor, staff_id, body.pin), PinSet)
