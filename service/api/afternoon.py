"""The afternoon over HTTP: handovers, attendance, releases, refusals, early departures, corrections."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.api.deps import AppDep, CorrectingActor, Reader, StaffActor, ViewsDep, respond
from service.api.encoded import Rows
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import IsoDay, Line, Prose
from service.domain.privacy import Data, may_see
from service.domain.refs import AdultRef
from service.projections.reads import ViewReads
from service.use_cases import commands as do

router = APIRouter(prefix="/v1", tags=["afternoon"], responses=PROBLEM_RESPONSES)

Session = Field(default="after_school", pattern=r"^[a-z][a-z0-9_]{0,31}$",
                description="Schedule session key: noon, after_school, evening, ...")
Ref = Field(min_length=1, max_length=64)
Text = Field(min_length=1, max_length=500)
PupilIds = Field(min_length=1, max_length=60)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaffRef(BaseModel):
    staff_id: str
    name: str


class PlaceRef(BaseModel):
    id: str
    label: str
    kind: Literal["group", "gate", "gatehouse"]


class Gone(BaseModel):
    how: Literal["released", "went_home_alone", "left_early"]
    adult: dict[str, Any] | None
    at: str
    by: str


class Pending(BaseModel):
    handover_id: str
    kind: str
    to: StaffRef
    place: PlaceRef
    from_session: str | None = None


class PassedOn(BaseModel):
    """Where a pupil went who stays for a later session: its key, who holds them, and where."""

    session: str
    custodian: StaffRef
    place: PlaceRef
    handover_id: str
    at: str


class CameFrom(BaseModel):
    session: str
    giver: StaffRef | None
    handover_id: str


class PupilState(BaseModel):
    """Where one pupil is, for one session of one day."""

    pupil_id: str
    day: date
    session: str
    status: Literal["not_handed_over", "absent", "in_custody", "gone", "passed_on"]
    with_leave: bool | None
    absence_reason: str | None
    custodian: StaffRef | None
    place: PlaceRef | None
    pending: Pending | None
    gone: Gone | None
    passed_on: PassedOn | None = None
    came_from: CameFrom | None = None
    refusals: int
    version: int


class PupilStates(BaseModel):
    pupils: list[PupilState]


class ChainEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    seq: int
    type: str
    by: dict[str, Any]


class PupilAfternoon(PupilState):
    name: str
    expected: bool
    chain: list[ChainEntry]


class ExpectedPupil(PupilState):
    name: str
    class_id: str
    class_label: str


class Afternoon(BaseModel):
    day: date
    session: str
    service: bool
    counts: dict[str, int]
    expected: int
    pupils: list[ExpectedPupil]


class HandoverOut(BaseModel):
    handover_id: str
    day: date
    session: str
    to_session: str | None = None
    kind: Literal["class_handover", "transfer", "to_gate", "to_gatehouse", "to_session"]
    giver: StaffRef
    to: StaffRef
    place: PlaceRef
    pupil_ids: list[str]
    count_given: int
    count_received: int | None
    received_pupil_ids: list[str]
    mismatch: bool
    status: Literal["offered", "confirmed", "withdrawn"]
    note: str | None


class HandoverRequest(Strict):
    """Hand pupils on (class to after-school teacher, to a club, to a guard at a gate, to the
    gatehouse). Name the pupils, or a class to hand over everyone expected and not yet handed over."""

    to_staff_id: Line = Ref
    place_id: Line = Field(min_length=1, max_length=64, description="A group, a gate, or 'gatehouse'")
    count: int = Field(ge=0, le=10000, description="Your own head count")
    pupil_ids: list[Line] | None = Field(default=None, max_length=200)
    class_id: Line | None = Field(default=None, max_length=64)
    day: IsoDay | None = None
    session: Line = Session
    note: Prose | None = Field(default=None, max_length=500)
    to_session: Line | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="Pass the named pupils into this later session (evening study) to its teacher")

    @model_validator(mode="after")
    def names_pupils(self) -> HandoverRequest:
        if not self.pupil_ids and not self.class_id:
            raise ValueError("name pupil_ids or a class_id")
        return self

    def command(self) -> do.HandOver:
        return do.HandOver(
            to_staff_id=self.to_staff_id, place_id=self.place_id, count=self.count,
            pupil_ids=None if self.pupil_ids is None else tuple(self.pupil_ids),
            class_id=self.class_id, day=self.day, session=self.session, note=self.note,
            to_session=self.to_session)


class ConfirmRequest(Strict):
    count: int = Field(ge=0, le=10000, description="The receiver's own head count")
    received_pupil_ids: list[Line] | None = Field(
        default=None, max_length=200, description="Omit when every pupil named arrived")

    def command(self, handover_id: str) -> do.ConfirmHandover:
        received = None if self.received_pupil_ids is None else tuple(self.received_pupil_ids)
        return do.ConfirmHandover(handover_id, self.count, received)


class ReasonRequest(Strict):
    reason: Prose = Text


class AbsenceRequest(Strict):
    pupil_id: Line = Ref
    with_leave: bool = Field(description="请假: leave reported by the family")
    reason: Prose = Field(default="", max_length=500)
    day: IsoDay | None = None
    session: Line = Session

    def command(self) -> do.MarkAbsent:
        return do.MarkAbsent(self.pupil_id, self.with_leave, self.reason, self.day, self.session)


class SignInRequest(Strict):
    pupil_ids: list[Line] = PupilIds
    place_id: Line = Ref
    day: IsoDay | None = None
    session: Line = Session

    def command(self) -> do.SignIn:
        return do.SignIn(tuple(self.pupil_ids), self.place_id, self.day, self.session)


class AdultIn(Strict):
    name: Line = Field(min_length=1, max_length=50)
    relation: Line | None = Field(default=None, max_length=20)
    phone: Line | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    id_tail: Line | None = Field(default=None, pattern=r"^[0-9Xx]{4}$")

    def ref(self) -> AdultRef:
        return do.came(self.name, self.relation, self.phone, self.id_tail)


class ReleaseRequest(Strict):
    """Release one pupil or several siblings to one adult: a collector on file, or the adult named."""

    pupil_ids: list[Line] = Field(min_length=1, max_length=10)
    gate_id: Line = Ref
    identity_check: Literal["known_to_staff", "id_card", "pickup_code", "call_to_guardian"]
    collector_id: Line | None = Field(default=None, max_length=64)
    adult: AdultIn | None = None
    day: IsoDay | None = None
    session: Line = Session

    @model_validator(mode="after")
    def names_adult(self) -> ReleaseRequest:
        if self.collector_id is None and self.adult is None:
            raise ValueError("name the collector_id or the adult who came")
        return self

    def command(self) -> do.Release:
        return do.Release(tuple(self.pupil_ids), self.gate_id, self.identity_check, self.collector_id,
                          self.adult.ref() if self.adult else None, self.day, self.session)


class RefusalRequest(Strict):
    pupil_id: Line = Ref
    adult: AdultIn
    reason: Prose = Text
    gate_id: Line | None = Field(default=None, max_length=64)
    day: IsoDay | None = None
    session: Line = Session

    def command(self) -> do.RefuseRelease:
        return do.RefuseRelease(self.pupil_id, self.adult.ref(), self.reason, self.gate_id, self.day,
                                self.session)


class HomeAloneRequest(Strict):
    pupil_id: Line = Ref
    gate_id: Line | None = Field(default=None, max_length=64)
    day: IsoDay | None = None
    session: Line = Session

    def command(self) -> do.GoHomeAlone:
        return do.GoHomeAlone(self.pupil_id, self.gate_id, self.day, self.session)


class EarlyDepartureRequest(Strict):
    pupil_id: Line = Ref
    collector_id: Line | None = Field(default=None, max_length=64)
    adult: AdultIn | None = None
    approved_by_staff_id: Line = Ref
    reason: Prose = Text
    homeroom_informed: bool
    day: IsoDay | None = None
    session: Line = Session

    @model_validator(mode="after")
    def names_adult(self) -> EarlyDepartureRequest:
        if self.collector_id is None and self.adult is None:
            raise ValueError("name the collector_id or the adult who came")
        return self

    def command(self) -> do.LeaveEarly:
        return do.LeaveEarly(self.pupil_id, self.approved_by_staff_id, self.reason,
                             self.homeroom_informed, self.collector_id,
                             self.adult.ref() if self.adult else None, self.day, self.session)


class CorrectionRequest(Strict):
    pupil_id: Line = Ref
    day: IsoDay
    session: Line = Session
    corrects: int = Field(ge=1, le=100000, description="The seq of the event in the pupil's chain")
    reason: Prose = Text

    def command(self) -> do.Correct:
        return do.Correct(self.pupil_id, self.day, self.corrects, self.reason, self.session)


Day = Annotated[IsoDay | None, Query()]
SessionQ = Annotated[Line, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


@router.post("/handovers", response_model=HandoverOut, status_code=201)
def hand_over(body: HandoverRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    return respond(app.hand_over(actor, body.command()), HandoverOut)


@router.get("/handovers/{handover_id}", response_model=HandoverOut, responses=READ_RESPONSES)
def get_handover(handover_id: Line, actor: Reader, app: AppDep) -> Any:
    return app.describe_handover(actor, handover_id)


@router.post("/handovers/{handover_id}/confirm", response_model=HandoverOut)
def confirm(handover_id: Line, body: ConfirmRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """The receiver takes custody with their own count; a mismatch is recorded on the handover."""
    return respond(app.confirm_handover(actor, body.command(handover_id)), HandoverOut)


@router.post("/handovers/{handover_id}/withdraw", response_model=HandoverOut)
def withdraw(handover_id: Line, body: ReasonRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    return respond(app.withdraw_handover(actor, do.WithdrawHandover(handover_id, body.reason)), HandoverOut)


@router.post("/absences", response_model=PupilState)
def mark_absent(body: AbsenceRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    return respond(app.mark_absent(actor, body.command()), PupilState)


@router.post("/sign-ins", response_model=PupilStates)
def sign_in(body: SignInRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """You take custody of these pupils at this place (roll call)."""
    return respond(app.sign_in(actor, body.command()), PupilStates)


@router.post("/releases", response_model=PupilStates)
def release(body: ReleaseRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Release at the gate. Refused (422, and recorded) if the adult is restricted or not authorised."""
    return respond(app.release(actor, body.command()), PupilStates)


@router.post("/refusals", response_model=PupilState, status_code=200)
def refuse(body: RefusalRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Record that you turned an adult away, and why."""
    return respond(app.refuse_release(actor, body.command()), PupilState)


@router.post("/home-alone", response_model=PupilState)
def home_alone(body: HomeAloneRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Let a pupil go home alone: only under a statement on file for today (else refused, recorded)."""
    return respond(app.go_home_alone(actor, body.command()), PupilState)


@router.post("/early-departures", response_model=PupilState)
def early_departure(body: EarlyDepartureRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    return respond(app.leave_early(actor, body.command()), PupilState)


@router.post("/corrections", response_model=PupilState)
def correct(body: CorrectionRequest, actor: CorrectingActor, app: AppDep) -> JSONResponse:
    """Void one recorded event of a pupil's day, saying why; the event itself stays on record.
    Only whoever recorded the event, an admin, a duty leader or a safety officer (else 403)."""
    return respond(app.correct(actor, body.command()), PupilState)


@router.get("/pupils/{pupil_id}/afternoon", response_model=PupilAfternoon, responses=READ_RESPONSES)
def pupil_afternoon(pupil_id: Line, actor: Reader, app: AppDep, day: Day = None,
                    session: SessionQ = "after_school") -> Any:
    """The pupil's state now and the chain of custody for the session."""
    return app.pupil_afternoon(actor, pupil_id, day, session)


@router.get("/afternoon", response_model=Afternoon, responses=READ_RESPONSES)
def afternoon(actor: Reader, app: AppDep, views: ViewsDep, day: Day = None, session: SessionQ = "after_school",
              class_id: Annotated[Line | None, Query(max_length=64)] = None) -> Response:
    """Every pupil expected for the session, and where each one is."""
    reads = ViewReads(views)
    found = app.expected_today(actor, day, session, class_id, reads)
    # A row read from the views is the same object while the pupil's documents are: its bytes
    # are kept with it (one for each cut of it readers are shown), and a read encodes only the
    # rows that changed.
    school = app.school(actor.school_id, readonly=True)
    sent = reads.kept((actor.school_id, date.fromisoformat(found["day"]), session))
    seen: dict[str, frozenset[Data]] = {}

    def cut(class_id: str) -> frozenset[Data]:
        if class_id not in seen:
            seen[class_id] = may_see(school, actor.staff_id, class_id)
        return seen[class_id]
    rows = b",".join(sent.get(("afternoon sent", row["pupil_id"], cut(row["class_id"])), (row,),
                              lambda: _ROWS.encode(row))  # noqa: B023 - called here
                     for row in found["pupils"])
    return _ROWS.response(found, rows)


_ROWS = Rows(Afternoon, ExpectedPupil)
