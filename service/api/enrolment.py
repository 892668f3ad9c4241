"""Enrolment for a list of pupils or a whole class: apply, review, approve, sign."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.api.deps import ADMIN_ONLY, AdminActor, AppDep, require_role, respond
from service.api.problems import PROBLEM_RESPONSES
from service.api.text import IsoDay, Line, Prose
from service.domain.common import Actor, Role
from service.domain.errors import RuleError
from service.use_cases import commands as do
from service.use_cases.enrolment import Term
from service.use_cases.pupils import PaperAgreements

router = APIRouter(prefix="/v1", tags=["enrolment"], responses=PROBLEM_RESPONSES)

MAX_PUPILS = 3000  # a whole school at once
# The homeroom teacher reviews their own class; the use case checks which class is theirs.
ReviewerActor = Annotated[Actor, Depends(require_role(*ADMIN_ONLY, Role.TEACHER))]


class Pupils(BaseModel):
    """Whom the step is for: the pupils named, or every pupil on the roll of one class."""

    model_config = ConfigDict(extra="forbid")
    pupil_ids: list[Annotated[Line, Field(max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=MAX_PUPILS)
    class_id: Line | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def one_target(self) -> Pupils:
        if (self.pupil_ids is None) == (self.class_id is None):
            raise ValueError("name either pupil_ids or class_id")
        return self


class BulkApplyRequest(Pupils):
    """The parents' applications (家长申请), entered by the school for each pupil."""

    term: Line = Field(min_length=1, max_length=40, examples=["2026秋"])
    starts: IsoDay
    ends: IsoDay
    sessions: list[Line] = Field(default=["after_school"], min_length=1, max_length=8)


class BulkStepRequest(Pupils):
    note: Prose | None = Field(default=None, max_length=500)


class BulkSignRequest(BulkStepRequest):
    """Agreements signed (签订协议); the date and reference of the paper agreement if known."""

    signed_on: IsoDay | None = None
    reference: Line | None = Field(default=None, max_length=200,
                                  description="Where the signed agreements are filed")


class Reason(BaseModel):
    code: str
    detail: str
    current_state: dict[str, object] | None = None


class PupilResult(BaseModel):
    pupil_id: str
    name: str | None
    class_id: str | None
    result: Literal["done", "already", "refused"] = Field(
        description="done: recorded now; already: at or past this step; refused: see reason")
    enrolment_status: str | None
    reason: Reason | None = None


class BulkResult(BaseModel):
    step: Literal["applied", "class_reviewed", "school_approved", "signed"]
    done: int
    already: int
    refused: int
    pupils: list[PupilResult]


@router.post("/enrolment/apply", response_model=BulkResult)
def apply_in_bulk(body: BulkApplyRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Record each pupil's application (家长申请) for the term; pupils already applied are left."""
    application = do.ApplyForCare(body.term, body.starts, body.ends, tuple(body.sessions))
    return respond(app.enrol_in_bulk(actor, do.EnrolInBulk(
        "applied", _ids(body.pupil_ids), body.class_id, application)), BulkResult)


@router.post("/enrolment/class_reviewed", response_model=BulkResult)
def review_in_bulk(body: BulkStepRequest, actor: ReviewerActor, app: AppDep) -> JSONResponse:
    """Class review (班级审核): by the class's homeroom teacher or an admin."""
    return respond(app.enrol_in_bulk(actor, do.EnrolInBulk(
        "class_reviewed", _ids(body.pupil_ids), body.class_id, note=body.note)), BulkResult)


@router.post("/enrolment/school_approved", response_model=BulkResult)
def approve_in_bulk(body: BulkStepRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """School approval (学校核准): by an admin."""
    return respond(app.enrol_in_bulk(actor, do.EnrolInBulk(
        "school_approved", _ids(body.pupil_ids), body.class_id, note=body.note)), BulkResult)


@router.post("/enrolment/signed", response_model=BulkResult)
def sign_in_bulk(body: BulkSignRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Agreements signed (签订协议): by an admin; from then on the pupils are expected in care."""
    return respond(app.enrol_in_bulk(actor, do.EnrolInBulk(
        "signed", _ids(body.pupil_ids), body.class_id, note=body.note, signed_on=body.signed_on,
        reference=body.reference)), BulkResult)


def _ids(pupil_ids: list[str] | None) -> tuple[str, ...] | None:
    return None if pupil_ids is None else tuple(pupil_ids)


def paper_agreements(
    term: Annotated[Line | None, Query(min_length=1, max_length=40, examples=["2026秋"],
                                      description="The term signed agreements are for")] = None,
    term_starts: IsoDay | None = None,
    term_ends: IsoDay | None = None,
    sessions: Annotated[list[Line] | None, Query(description="Default: after_school")] = None,
    agreements_signed: Annotated[bool, Query(
        description="Every pupil in the file has signed, unless their 协议 cell says 否")] = False,
    agreement_date: Annotated[IsoDay | None, Query(
        description="The date signed, where the file does not give one")] = None,
    agreement_ref: Annotated[Line | None, Query(
        max_length=200, description="Where the paper agreements are filed")] = None,
) -> PaperAgreements:
    """The roster import's options for agreements the school already holds on paper."""
    if term is not None and (term_starts is None or term_ends is None):
        raise RuleError("A term needs term_starts and term_ends.", field="term_starts")
    if term is None and (term_starts is not None or term_ends is not None):
        raise RuleError("Name the term the dates are for.", field="term")
    chosen = sessions or ["after_school"]
    if len(chosen) > 8:
        raise RuleError("At most 8 sessions.", field="sessions")
    period = None
    if term is not None and term_starts is not None and term_ends is not None:
        period = Term(term, term_starts, term_ends, chosen)
    return PaperAgreements(period, agreements_signed, agreement_date, agreement_ref)
