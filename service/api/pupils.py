"""Pupils: profiles, guardians, who may collect, restrictions, statements, enrolment, roster import."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from service.adapters.photos import MAX_PHOTO_BYTES
from service.api.deps import AdminActor, AppDep, Reader, StaffActor, ViewsDep, respond
from service.api.enrolment import ReviewerActor, paper_agreements
from service.api.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    READ_RESPONSES,
    problem_response,
)
from service.api.text import IsoDay, Line, LongLine, Prose
from service.domain.errors import RuleError, TooLargeError
from service.domain.printable import unprintable
from service.projections.reads import ViewReads
from service.use_cases import commands as do
from service.use_cases.pupils import PaperAgreements

router = APIRouter(prefix="/v1", tags=["pupils"], responses=PROBLEM_RESPONSES)

Phone = Field(pattern=r"^\+?[0-9][0-9 -]{4,19}$", examples=["13800138000"])
Name = Field(min_length=1, max_length=50)
IdTail = Field(default=None, pattern=r"^[0-9Xx]{4}$", description="Last four characters of the ID number")
Text = Field(min_length=1, max_length=500)
MAX_ROSTER_BYTES = 5 * 1024 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GuardianIn(Strict):
    name: Line = Name
    relation: Line = Field(default="监护人", min_length=1, max_length=20)
    phone: Line = Phone
    may_collect: bool = True
    id_tail: Line | None = IdTail

    def command(self) -> do.Guardian:
        return do.Guardian(self.name, self.phone, self.relation, self.may_collect, self.id_tail)


class GuardianOut(BaseModel):
    guardian_id: str
    name: str
    relation: str
    phone: str | None = Field(description="Shown to admins and the class's homeroom teacher only")
    may_collect: bool
    id_tail: str | None


class AuthorisationOut(BaseModel):
    authorisation_id: str
    name: str
    relation: str | None
    phone: str | None
    id_tail: str | None
    valid_from: date | None
    valid_to: date | None
    document: str | None
    given_by_guardian_id: str | None
    via: str
    caller: str | None
    one_day: bool
    revoked: bool
    recorded_by: dict[str, Any]


class RestrictionOut(BaseModel):
    """A "do not release to" entry; its reason, document and ID tail only for admins and the
    safety officer."""

    restriction_id: str
    name: str
    id_tail: str | None
    relation: str | None = Field(default=None, description="Who the adult is to the child (生父, 继父)")
    reason: str | None
    document: str | None
    valid_from: date | None
    valid_to: date | None
    lifted: bool
    do_not_release: bool | None = None
    instruction: str | None = Field(default=None, examples=["refuse_release_and_call_duty_leader"],
                                    description="What to do if this adult comes to collect")


class StatementOut(BaseModel):
    statement_id: str
    valid_from: date
    valid_to: date | None
    weekdays: list[int]
    document: str | None
    given_by_guardian_id: str
    withdrawn: bool


class AgreementOut(BaseModel):
    signed_on: date | None
    reference: str | None


class EnrolmentOut(BaseModel):
    status: Literal["none", "applied", "class_reviewed", "school_approved", "signed", "withdrawn", "rejected"]
    term: str | None = None
    starts: date | None = None
    ends: date | None = None
    sessions: list[str] = []
    withdrawn_on: date | None = None
    agreement: AgreementOut | None = None


class PupilOut(BaseModel):
    pupil_id: str
    name: str
    gender: Literal["男", "女"]
    class_id: str
    class_label: str | None
    photo: str | None
    photo_sha256: str | None = Field(default=None, description=(
        "The photo uploaded (PUT /v1/pupils/{id}/photo), by its SHA-256; read it at GET "
        "/v1/pupils/{id}/photo with your token"))
    tags: list[str] | None = Field(description="Priority tags; null when your role may not see them")
    guardians: list[GuardianOut] | None
    authorisations: list[AuthorisationOut] | None
    restrictions: list[RestrictionOut] | None
    statements: list[StatementOut] | None
    enrolment: EnrolmentOut
    shown: list[str] = Field(default=[], description="The categories of personal data your roles "
                             "may see of this pupil; the rest is null")


class PupilSummary(BaseModel):
    pupil_id: str
    name: str
    gender: str
    class_id: str
    class_label: str
    enrolment_status: str
    tags: list[str] | None


class PupilRequest(Strict):
    name: Line = Name
    gender: Literal["男", "女"]
    class_id: Line = Field(min_length=1, max_length=64)
    guardians: list[GuardianIn] = Field(default=[], max_length=6)

    def command(self) -> do.RegisterPupil:
        return do.RegisterPupil(self.name, self.gender, self.class_id,
                                tuple(g.command() for g in self.guardians))


class ProfileRequest(Strict):
    name: Line = Name
    gender: Literal["男", "女"]
    photo: LongLine | None = Field(default=None, max_length=500, description="A photo's URL or file reference")


class ClassMoveRequest(Strict):
    class_id: Line = Field(min_length=1, max_length=64)


class TagsRequest(Strict):
    tags: list[Literal["留守", "残疾", "随迁", "困难"]] = Field(max_length=4)


class AuthorisationRequest(Strict):
    """Another adult who may collect: for a window, or (with ``date``) for one day only."""

    name: Line = Name
    relation: Line | None = Field(default=None, max_length=20)
    phone: Line | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    id_tail: Line | None = IdTail
    valid_from: IsoDay | None = None
    valid_to: IsoDay | None = None
    day: IsoDay | None = Field(default=None, description="A one-day authorisation: its only day")
    document: LongLine | None = Field(default=None, max_length=500)
    given_by_guardian_id: Line | None = Field(default=None, max_length=64)
    via: Literal["in_person", "written", "app"] = "in_person"

    def command(self) -> do.Authorise:
        return do.Authorise(self.name, self.relation, self.phone, self.id_tail, self.valid_from,
                            self.valid_to, self.day, self.document, self.given_by_guardian_id, self.via)


class AdultIn(Strict):
    name: Line = Name
    relation: Line | None = Field(default=None, max_length=20)
    phone: Line | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    id_tail: Line | None = IdTail


class PhoneAuthorisationRequest(Strict):
    """A guardian rang: the adult they name may collect on that day only."""

    guardian_id: Line = Field(min_length=1, max_length=64, description="The guardian on file who called")
    adult: AdultIn
    day: IsoDay | None = None

    def command(self) -> do.PhoneAuthorisation:
        a = self.adult
        return do.PhoneAuthorisation(self.guardian_id, do.came(a.name, a.relation, a.phone, a.id_tail),
                                     self.day)


class ReasonRequest(Strict):
    reason: Prose = Text


class RestrictionRequest(Strict):
    name: Line = Name
    id_tail: Line | None = IdTail
    relation: Line | None = Field(default=None, max_length=20, examples=["生父"],
                                  description="Who the adult is to the child, shown at the gate")
    reason: Prose = Text
    document: LongLine | None = Field(default=None, max_length=500, description="Court order or agreement reference")
    valid_from: IsoDay | None = None
    valid_to: IsoDay | None = None

    def command(self) -> do.Restrict:
        return do.Restrict(self.name, self.reason, self.id_tail, self.document, self.valid_from,
                           self.valid_to, self.relation)


class StatementRequest(Strict):
    valid_from: IsoDay
    valid_to: IsoDay | None = None
    weekdays: list[int] = Field(min_length=1, max_length=7)
    document: LongLine | None = Field(default=None, max_length=500)
    given_by_guardian_id: Line = Field(min_length=1, max_length=64)

    def command(self) -> do.FileStatement:
        return do.FileStatement(self.valid_from, tuple(self.weekdays), self.given_by_guardian_id,
                                self.valid_to, self.document)


class ApplyRequest(Strict):
    term: Line = Field(min_length=1, max_length=40, examples=["2026秋"])
    starts: IsoDay
    ends: IsoDay
    sessions: list[Line] = Field(default=["after_school"], min_length=1, max_length=8)
    guardian_id: Line | None = Field(default=None, max_length=64)

    def command(self) -> do.ApplyForCare:
        return do.ApplyForCare(self.term, self.starts, self.ends, tuple(self.sessions), self.guardian_id)


class StepRequest(Strict):
    note: Prose | None = Field(default=None, max_length=500)
    signed_on: IsoDay | None = Field(default=None, description="signed only: the agreement's date")
    reference: Line | None = Field(default=None, max_length=200,
                                   description="signed only: where the agreement is filed")


class WithdrawRequest(Strict):
    on: IsoDay
    reason: Prose = Text


class ImportError_(BaseModel):
    row: int
    column: str
    reason: str


class AgreementRefused(BaseModel):
    row: int
    pupil_id: str
    name: str
    reason: str


class ImportReport(BaseModel):
    imported: bool
    dry_run: bool = False
    rows: int = 0
    pupils_created: int = 0
    pupils_already_present: int = 0
    classes_created: int = 0
    staff_created: int = 0
    errors: list[ImportError_] = []
    term: str | None = Field(default=None, description="The term the signed agreements are for")
    pupils_signed: int = Field(default=0, description="Pupils enrolled through to signed now")
    pupils_already_signed: int = 0
    agreements_refused: list[AgreementRefused] = Field(
        default=[], description="Pupils already present whose enrolment this file may not change")


PupilId = Annotated[str, Field(max_length=64)]


PUPIL_PAGE = 100  # pupils on a page of the list unless the caller asks for another number
PUPIL_PAGE_MAX = 500  # the most on one page: a school of thousands is read page by page


class PupilPage(BaseModel):
    pupils: list[PupilSummary]
    total: int = Field(description="Pupils matching the query in all, on every page")
    offset: int
    limit: int
    next_offset: int | None = Field(description="Pass as offset for the next page (null: none)")


@router.get("/pupils", response_model=PupilPage, responses=READ_RESPONSES)
def list_pupils(actor: Reader, app: AppDep, views: ViewsDep,
                class_id: Annotated[Line | None, Query(max_length=64)] = None,
                q: Annotated[Line | None, Query(max_length=50)] = None,
                limit: Annotated[int, Query(ge=1, le=PUPIL_PAGE_MAX, description=(
                    f"Pupils on this page: {PUPIL_PAGE} unless asked, at most {PUPIL_PAGE_MAX}"))
                ] = PUPIL_PAGE,
                offset: Annotated[int, Query(ge=0, le=10**6, description=(
                    "Pupils to skip: the previous page's next_offset"))] = 0) -> Any:
    """The school's pupils by class, then name, a page at a time, with how many match in all."""
    return {**app.page_pupils(actor, class_id, q, ViewReads(views), offset, limit), "limit": limit}


@router.post("/pupils", response_model=PupilOut, status_code=201)
def register_pupil(body: PupilRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.register_pupil(actor, body.command()), PupilOut)


@router.get("/pupils/{pupil_id}", response_model=PupilOut, responses=READ_RESPONSES)
def get_pupil(pupil_id: Line, actor: Reader, app: AppDep) -> Any:
    return app.describe_pupil(actor, pupil_id)


@router.put("/pupils/{pupil_id}/profile", response_model=PupilOut)
def change_profile(pupil_id: Line, body: ProfileRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.change_pupil_profile(actor, pupil_id, body.name, body.gender, body.photo), PupilOut)


_PHOTO_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": f"The file is over {MAX_PHOTO_BYTES // 2**20} MB",
          "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
    415: {"description": "Not a JPEG, PNG or WebP image",
          "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}}


@router.put("/pupils/{pupil_id}/photo", response_model=PupilOut, responses=_PHOTO_ERRORS)
async def set_photo(
    pupil_id: Line, actor: AdminActor, app: AppDep,
    file: Annotated[UploadFile, File(description=f"A JPEG, PNG or WebP photo, at most "
                                                 f"{MAX_PHOTO_BYTES // 2**20} MB")],
) -> JSONResponse:
    """The pupil's photo, for the gate card: Pillow decodes it whole, turns it as the camera held
    it and scales it to 600 px; that JPEG is kept by its SHA-256 (encrypted at rest when the store
    is) and the pupil's profile records the hash."""
    data = await file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise TooLargeError(f"The photo is larger than {MAX_PHOTO_BYTES // 2**20} MB.", field="file")
    outcome = await run_in_threadpool(app.set_pupil_photo, actor, pupil_id, data, file.content_type)
    return respond(outcome, PupilOut)


@router.get("/pupils/{pupil_id}/photo", response_class=Response,
            responses={**READ_RESPONSES, 200: {"description": "The pupil's photo",
                                               "content": {"image/jpeg": {}}}})
def get_photo(pupil_id: Line, actor: Reader, app: AppDep) -> Response:
    """The pupil's photo, for staff of the school whose role sees the pupil's profile; every read
    is in the access log. Sent with the token in the Authorization header, never in the URL."""
    sha, data = app.pupil_photo(actor, pupil_id)
    return Response(data, media_type="image/jpeg", headers={
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'", "ETag": f'"{sha}"'})


@router.put("/pupils/{pupil_id}/class", response_model=PupilOut)
def move_class(pupil_id: Line, body: ClassMoveRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.move_pupil(actor, pupil_id, body.class_id), PupilOut)


@router.put("/pupils/{pupil_id}/tags", response_model=PupilOut)
def set_tags(pupil_id: Line, body: TagsRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Priority groups (留守, 残疾, 随迁, 困难): fees may be reduced or waived."""
    return respond(app.set_tags(actor, pupil_id, list(body.tags)), PupilOut)


@router.post("/pupils/{pupil_id}/guardians", response_model=PupilOut, status_code=201)
def add_guardian(pupil_id: Line, body: GuardianIn, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.add_guardian(actor, pupil_id, body.command()), PupilOut)


@router.post("/pupils/{pupil_id}/authorisations", response_model=PupilOut, status_code=201)
def authorise(pupil_id: Line, body: AuthorisationRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.authorise_adult(actor, pupil_id, body.command()), PupilOut)


@router.post("/pupils/{pupil_id}/phone-authorisations", response_model=PupilOut, status_code=201)
def phone_authorisation(pupil_id: Line, body: PhoneAuthorisationRequest, actor: StaffActor,
                        app: AppDep) -> JSONResponse:
    """Record a guardian's call: who called, who took it (you), and the adult named, for one day."""
    return respond(app.phone_authorisation(actor, pupil_id, body.command()), PupilOut)


@router.post("/pupils/{pupil_id}/authorisations/{authorisation_id}/revoke", response_model=PupilOut)
def revoke_authorisation(pupil_id: Line, authorisation_id: Line, body: ReasonRequest,
                         actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.revoke_authorisation(actor, pupil_id, authorisation_id, body.reason), PupilOut)


@router.post("/pupils/{pupil_id}/restrictions", response_model=PupilOut, status_code=201)
def restrict(pupil_id: Line, body: RestrictionRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """A "do not release to" entry (禁止接送), e.g. from a court order."""
    return respond(app.restrict_adult(actor, pupil_id, body.command()), PupilOut)


@router.post("/pupils/{pupil_id}/restrictions/{restriction_id}/lift", response_model=PupilOut)
def lift_restriction(pupil_id: Line, restriction_id: Line, body: ReasonRequest, actor: AdminActor,
                     app: AppDep) -> JSONResponse:
    return respond(app.lift_restriction(actor, pupil_id, restriction_id, body.reason), PupilOut)


@router.post("/pupils/{pupil_id}/statements", response_model=PupilOut, status_code=201)
def file_statement(pupil_id: Line, body: StatementRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """A guardian's written statement that the pupil may go home alone (自行回家说明)."""
    return respond(app.file_statement(actor, pupil_id, body.command()), PupilOut)


@router.post("/pupils/{pupil_id}/statements/{statement_id}/withdraw", response_model=PupilOut)
def withdraw_statement(pupil_id: Line, statement_id: Line, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.withdraw_statement(actor, pupil_id, statement_id), PupilOut)


@router.post("/pupils/{pupil_id}/enrolment/apply", response_model=PupilOut, tags=["enrolment"])
def apply(pupil_id: Line, body: ApplyRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """The parent's application (家长申请), entered by the school."""
    return respond(app.apply_for_care(actor, pupil_id, body.command()), PupilOut)


@router.post("/pupils/{pupil_id}/enrolment/{step}", response_model=PupilOut, tags=["enrolment"])
def advance(pupil_id: Line, step: Literal["class_reviewed", "school_approved", "signed"],
            body: StepRequest, actor: ReviewerActor, app: AppDep) -> JSONResponse:
    """Class review (班级审核, the homeroom teacher or an admin) → school approval (学校核准) →
    agreement signed (签订协议), both by an admin."""
    agreement = None
    if body.signed_on is not None or body.reference is not None:
        agreement = {"signed_on": body.signed_on.isoformat() if body.signed_on else None,
                     "reference": body.reference}
    return respond(app.advance_enrolment(actor, pupil_id, step, body.note,
                                         agreement), PupilOut)


@router.post("/pupils/{pupil_id}/enrolment-rejection", response_model=PupilOut, tags=["enrolment"])
def reject(pupil_id: Line, body: ReasonRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.reject_enrolment(actor, pupil_id, body.reason), PupilOut)


@router.post("/pupils/{pupil_id}/enrolment-withdrawal", response_model=PupilOut, tags=["enrolment"])
def withdraw(pupil_id: Line, body: WithdrawRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Withdraw from the after-school service as of a date; fees settle by days attended."""
    return respond(app.withdraw_enrolment(actor, pupil_id, body.on, body.reason),
                   PupilOut)


@router.post("/imports/roster", response_model=ImportReport, status_code=201, tags=["import"], responses={
    200: {"model": ImportReport, "description": "A dry run, or a re-import that creates nothing new"},
    413: {"description": "The file is over 5 MB, unpacks to over 100 MB, or has over 10,000 rows",
          "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}})
async def import_roster(
    actor: AdminActor, app: AppDep,
    file: Annotated[UploadFile, File(description="The school's roster, CSV (UTF-8/GBK) or XLSX")],
    dry_run: bool = False,
    paper: Annotated[PaperAgreements | None, Depends(paper_agreements)] = None,
) -> JSONResponse:
    """Create pupils, guardians, classes and homeroom teachers from a roster; all rows or none.

    Agreements already signed on paper (a 协议 column: 是/否 or the date signed, with an
    optional 协议编号; or ``agreements_signed`` for the whole file) enrol those pupils for
    ``term`` through all four steps, recorded as done by you.
    """
    data = await file.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        detail = f"The file is larger than {MAX_ROSTER_BYTES // 2**20} MB."
        return problem_response(413, "too-large", "Roster too large", detail,
                                errors=[{"field": "file", "message": detail}])
    filename = file.filename or ""
    why = unprintable(filename) or ("is longer than 255 characters" if len(filename) > 255 else None)
    if why is not None:  # the name is quoted in the answer, which is kept with the command
        raise RuleError(f"The file's name {why}.", field="file")
    outcome = await run_in_threadpool(app.import_roster, actor, data, filename, dry_run, paper)
    return respond(outcome, ImportReport)
