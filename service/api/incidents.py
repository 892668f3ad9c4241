"""Incidents over HTTP: report one in a few taps, tell the guardians, escalate, act, close."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from service.adapters.attachments import MAX_ATTACHMENT_BYTES, MB
from service.api.afternoon import PlaceRef, StaffRef
from service.api.deps import AppDep, CorrectingActor, Reader, StaffActor, ViewsDep, respond
from service.api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import IsoDay, Line, Prose
from service.domain.errors import RuleError, TooLargeError
from service.domain.printable import unprintable
from service.projections.incidents import read_incidents
from service.use_cases import commands as do
from service.use_cases.incidents import READERS

router = APIRouter(prefix="/v1", tags=["incidents"], responses=PROBLEM_RESPONSES)

IncidentKind = Literal["injury", "illness", "missing_pupil", "conflict", "attempted_collection",
                       "late_collection", "property", "other"]
Severity = Literal["minor", "serious", "critical"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentRequest(Strict):
    """What happened, how bad, to whom, where, who saw it, and the first aid given (先救治)."""

    kind: IncidentKind
    severity: Severity = "minor"
    description: Prose = Field(min_length=1, max_length=2000)
    pupil_ids: list[Line] = Field(default_factory=list, max_length=60)
    place_id: Line | None = Field(default=None, max_length=64, description="A group or a gate")
    where: Line = Field(default="", max_length=200, description="Where exactly, in words")
    witnesses: list[Line] = Field(default_factory=list, max_length=20)
    first_aid: Prose = Field(default="", max_length=2000, description="What first aid was given")
    first_aid_by: Line | None = Field(default=None, max_length=64,
                                      description="The staff member who gave it (default: you)")
    day: IsoDay | None = None
    session: Line | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$")

    def command(self) -> do.ReportIncident:
        return do.ReportIncident(self.kind, self.severity, self.description, tuple(self.pupil_ids),
                                 self.place_id, self.where, tuple(self.witnesses), self.first_aid_by,
                                 self.first_aid, self.day, self.session)


class GuardianRequest(Strict):
    pupil_id: Line = Field(min_length=1, max_length=64)
    guardian: Line = Field(min_length=1, max_length=100, description="Who was told, or tried")
    how: Literal["phone", "in_person", "message"]
    reached: bool = Field(description="False: tried and not reached; try again and record it")
    note: Prose = Field(default="", max_length=500)


class StepRequest(Strict):
    """``escalate`` names whom in ``to``; ``close`` gives the outcome in ``text``; ``acknowledge``
    names the pupil whose guardian acknowledged; ``correct`` names the step it voids and why."""

    step: Literal["escalate", "action", "close", "acknowledge", "correct"]
    text: Prose = Field(default="", max_length=2000)
    to: list[Line] = Field(default_factory=list, max_length=20)
    pupil_id: Line | None = Field(default=None, max_length=64)
    corrects: int | None = Field(default=None, ge=1, le=10000)


class FirstAidOut(BaseModel):
    given_by: StaffRef
    note: str


class IncidentStepOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    seq: int
    step: str
    by: dict[str, Any]


class AttachmentOut(BaseModel):
    sha256: str = Field(description="The content's SHA-256: the blob store keeps it by this")
    size: int
    media_type: Literal["image/jpeg", "image/png", "image/webp", "application/pdf"]
    file_name: str
    width: int | None
    height: int | None
    pages: int | None
    caption: str
    seq: int
    by: dict[str, Any]
    voided: bool
    readable: bool | None = Field(default=None, description="Whether you may open it (on a read)")


class IncidentOut(BaseModel):
    incident_id: str
    day: str
    session: str | None
    kind: IncidentKind
    severity: Severity
    pupil_ids: list[str]
    place: PlaceRef | None
    where: str
    description: str
    witnesses: list[str]
    first_aid: FirstAidOut | None
    refusals: list[dict[str, Any]]
    reported_by: dict[str, Any]
    steps: list[IncidentStepOut]
    voided: list[int]
    guardians_pending: list[str] = Field(description="Pupils whose guardian must still be reached")
    escalated: bool
    status: Literal["open", "closed"]
    outcome: str | None
    attachments: list[AttachmentOut] = Field(default_factory=list)
    version: int


class IncidentSummary(BaseModel):
    incident_id: str
    day: str
    session: str | None
    kind: IncidentKind
    severity: Severity
    pupil_ids: list[str]
    where: str
    description: str
    reported_at: str
    refusals: int
    guardians_pending: list[str]
    escalated: bool
    status: Literal["open", "closed"]
    outcome: str | None
    attachments: int = 0
    last_step_at: str


class IncidentList(BaseModel):
    incidents: list[IncidentSummary]
    position: int


@router.post("/incidents", response_model=IncidentOut, status_code=201)
def report(body: IncidentRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Report an incident. An injury or an illness alerts until each guardian is reached; a
    missing pupil alerts everyone at once."""
    return respond(app.report_incident(actor, body.command()), IncidentOut)


@router.get("/incidents", response_model=IncidentList, responses=READ_RESPONSES)
def list_incidents(
    actor: Reader, app: AppDep, views: ViewsDep, day: IsoDay | None = None,
    status: Literal["open", "closed"] | None = None, kind: IncidentKind | None = None,
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> Any:
    """The incidents of a day (today by default), for the safety officer, duty leaders, admins
    and inspectors."""
    if actor.role not in READERS:
        raise HTTPException(403, "Only the safety officer, duty leaders, admins and inspectors list incidents.")
    views.reflect("incidents", min_position)
    on = app.incidents_on(actor, day)
    found = read_incidents(views.view("incidents"), actor.school_id, day=on.isoformat(),
                           status=status, kind=kind)
    return {"incidents": found, "position": views.runners["incidents"].position}


@router.get("/incidents/{incident_id}", response_model=IncidentOut, responses=READ_RESPONSES)
def get_incident(incident_id: Line, actor: Reader, app: AppDep) -> Any:
    return app.describe_incident(actor, incident_id)


@router.post("/incidents/{incident_id}/guardian-notifications", response_model=IncidentOut)
def notify_guardian(incident_id: Line, body: GuardianRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Record a try to tell a pupil's guardian; once reached, the pupil's alert is resolved."""
    return respond(app.notify_incident_guardian(actor, do.NotifyGuardian(
        incident_id, body.pupil_id, body.guardian, body.how, body.reached, body.note)), IncidentOut)


@router.post("/incidents/{incident_id}/steps", response_model=IncidentOut)
def step(incident_id: Line, body: StepRequest, actor: CorrectingActor, app: AppDep) -> JSONResponse:
    """Escalate to the leadership group (领导小组), record an action, close with the outcome
    (only once every guardian of an injury, illness or missing pupil was reached), record the
    guardian's acknowledgement, or correct a step (only whoever recorded it, an admin, a duty
    leader or a safety officer: else 403)."""
    return respond(app.incident_step(actor, do.IncidentStep(
        incident_id, body.step, body.text, tuple(body.to), body.pupil_id, body.corrects)), IncidentOut)


_TOO_LARGE = {"description": f"The file is over {MAX_ATTACHMENT_BYTES // MB} MB",
              "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
_UNSUPPORTED = {"description": "Not a JPEG, PNG, WebP or PDF",
                "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
Sha256 = Annotated[Line, Path(pattern=r"^[0-9a-f]{64}$", description="The attachment's SHA-256")]


@router.post("/incidents/{incident_id}/attachments", response_model=IncidentOut, status_code=201,
             responses={413: _TOO_LARGE, 415: _UNSUPPORTED})
async def attach(
    incident_id: Line, actor: StaffActor, app: AppDep,
    file: Annotated[UploadFile, File(description=f"A photo (JPEG, PNG, WebP) or a scanned note (PDF), "
                                                 f"at most {MAX_ATTACHMENT_BYTES // MB} MB")],
    caption: Annotated[Prose, Form(max_length=200)] = "",
) -> JSONResponse:
    """Attach a photo or a scanned note to an incident (its reporter, the safety officer, a duty
    leader or an admin). Pillow decodes an image whole, pypdf reads a PDF's every page; the bytes
    are kept as sent, by their SHA-256, encrypted at rest when the store is."""
    data = await file.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise TooLargeError(f"The file is larger than {MAX_ATTACHMENT_BYTES // MB} MB.", field="file")
    name = file.filename or ""
    why = unprintable(name) or ("is longer than 200 characters" if len(name) > 200 else None)
    if why is not None or not name.strip():
        raise RuleError(f"The file's name {why or 'is empty'}.", field="file")
    outcome = await run_in_threadpool(app.attach_to_incident, actor, do.AttachToIncident(
        incident_id, data, name.strip(), file.content_type, caption))
    return respond(outcome, IncidentOut)


@router.get("/incidents/{incident_id}/attachments/{sha256}", response_class=Response,
            responses={**READ_RESPONSES, 200: {"description": "The file as attached (or a thumbnail)",
                                               "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {},
                                                           "application/pdf": {}}}})
def attachment(incident_id: Line, sha256: Sha256, actor: Reader, app: AppDep,
               thumbnail: bool = False) -> Response:
    """An attached file, for the safety officer, duty leaders, admins and inspectors (a scanned
    note only for those who may see a pupil's documents); every read is in the access log.
    ``thumbnail=true``: a small JPEG of an image."""
    found, data = app.incident_attachment(actor, incident_id, sha256, thumbnail)
    name = ("thumbnail-" if thumbnail else "") + found["file_name"]
    disposition = "inline" if found["media_type"].startswith("image/") else "attachment"
    return Response(data, media_type=found["media_type"], headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'", "ETag": f'"{sha256}"'})
