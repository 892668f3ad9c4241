"""The care log (看护日志) of a group's session as JSON, CSV, XLSX or a printable page; care notes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.afternoon import PlaceRef, StaffRef
from service.api.deps import AppDep, CareLogReader, StaffActor, ViewsDep, respond
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import IsoDay, Line, Prose
from service.domain.common import Actor, Role
from service.domain.privacy import Data
from service.projections.views import Views
from service.reports.care_log import read_care_log
from service.reports.care_log_export import care_log_page, care_log_tables, care_log_xlsx
from service.reports.exports import (
    CSV_TYPE,
    EXPORT_CONTENT,
    HTML_TYPE,
    XLSX_TYPE,
    content_disposition,
    csv_bytes,
)
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp

router = APIRouter(prefix="/v1", tags=["care log"], responses=PROBLEM_RESPONSES)

SessionField = Field(default="after_school", pattern=r"^[a-z][a-z0-9_]{0,31}$")
GroupQ = Annotated[Line, Query(min_length=1, max_length=64, description="A homework group or club")]
DayQ = Annotated[IsoDay | None, Query(description="The session's day; today when omitted")]
SessionQ = Annotated[Line, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PositionQ = Annotated[int | None, Query(ge=0, description="Wait until the log reflects this position")]


class PupilRef(BaseModel):
    pupil_id: str
    name: str


class StaffBy(BaseModel):
    staff_id: str | None
    name: str | None
    role: str | None


class Supervisor(BaseModel):
    staff_id: str
    name: str
    first_at: str
    last_at: str | None = Field(description="None while they still hold pupils here")
    pupils_held: int
    holding_now: int


class CareCounts(BaseModel):
    expected: int
    visitors: int
    absent_with_leave: int
    absent_without_leave: int
    not_handed_over: int
    received: int
    in_custody_now: int
    at_close: int | None = Field(description="Still in the group's custody when the session ended")
    released: int
    went_home_alone: int
    left_early: int
    handover_given: int
    handover_received: int
    mismatches: int
    refusals: int
    emergencies: int


class HandoverLine(BaseModel):
    handover_id: str
    kind: str
    kind_label: str
    direction: Literal["into", "out", "within", "related"]
    direction_label: str
    giver: StaffRef
    to: StaffRef
    place: PlaceRef
    pupils: list[PupilRef]
    count_given: int
    count_received: int | None
    mismatch: bool
    missing: list[PupilRef]
    status: Literal["offered", "confirmed", "withdrawn"]
    note: str | None
    offered_at: str | None
    confirmed_at: str | None
    withdrawn_at: str | None
    withdraw_reason: str | None


class AttendanceLine(BaseModel):
    pupil_id: str
    name: str
    class_label: str | None
    member: Literal["class", "visitor"]
    status: Literal["not_handed_over", "absent", "in_custody", "gone", "passed_on"]
    status_label: str
    with_leave: bool | None
    absence_reason: str | None
    arrived_at: str | None
    received_by: str | None
    received_from: str | None
    left_at: str | None
    left_to: str | None
    custodian: str | None
    place: str | None
    gone_how: Literal["released", "went_home_alone", "left_early"] | None
    gone_at: str | None
    collected_by: str | None
    gate: str | None
    identity_check: str | None
    handled_by: str | None
    in_group_now: bool
    in_group_at_close: bool | None
    refusals: int
    transfers: int
    corrections: int
    remarks: str


class TimelineLine(BaseModel):
    at: str
    kind: str
    pupils: list[PupilRef]
    by: StaffBy | None
    summary: str
    voided: bool


class AlertLine(BaseModel):
    alert_id: str
    kind: str
    kind_label: str
    status: Literal["open", "acknowledged", "resolved"]
    detail: str
    raised_at: str | None
    level: int
    steps: list[dict[str, Any]]
    pupils: list[PupilRef]
    acknowledged: dict[str, Any] | None
    resolved: dict[str, Any] | None


class FollowUpLine(BaseModel):
    actions_taken: str
    guardian_notified: bool
    reported_to_leadership: bool
    by: StaffBy | None
    at: str | None


class NoteLine(BaseModel):
    note_id: str
    kind: Literal["note", "emergency"]
    text: str
    actions_taken: str
    guardian_notified: bool
    reported_to_leadership: bool
    pupils: list[PupilRef]
    by: StaffBy | None
    at: str | None
    outstanding: list[Literal["notify_guardian", "report_to_leadership"]]
    follow_ups: list[FollowUpLine]


class CareLogOut(BaseModel):
    """看护日志: who supervised when, handovers with both counts, the attendance sheet, the timeline."""

    school_id: str
    school_name: str
    timezone: str
    group_id: str
    group_name: str
    group_kind: Literal["homework", "club"]
    room: str
    teacher: StaffRef | None
    class_labels: list[str]
    day: date
    session: str
    session_name: str
    service: bool
    closes_at: str | None
    closed: bool
    generated_at: str
    supervisors: list[Supervisor]
    counts: CareCounts
    handovers: list[HandoverLine]
    attendance: list[AttendanceLine]
    timeline: list[TimelineLine]
    alerts: list[AlertLine]
    notes: list[NoteLine]
    position: int


class CareNoteRequest(BaseModel):
    """A care note, or an emergency: rescue first, notify the guardian, report to the leadership."""

    model_config = ConfigDict(extra="forbid")
    group_id: Line = Field(min_length=1, max_length=64)
    day: IsoDay | None = None
    session: Line = SessionField
    kind: Literal["note", "emergency"] = "note"
    text: Prose = Field(min_length=1, max_length=2000)
    actions_taken: Prose = Field(default="", max_length=2000, description="Required for an emergency")
    guardian_notified: bool = False
    reported_to_leadership: bool = False
    pupil_ids: list[Line] = Field(default_factory=list, max_length=60)


class FollowUpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions_taken: Prose = Field(default="", max_length=2000)
    guardian_notified: bool = False
    reported_to_leadership: bool = False


class CareNoteOut(BaseModel):
    note_id: str
    day: date
    session: str
    group_id: str
    kind: Literal["note", "emergency"]
    text: str
    actions_taken: str
    guardian_notified: bool
    reported_to_leadership: bool
    pupil_ids: list[str]
    by: dict[str, Any]
    follow_ups: list[dict[str, Any]]
    outstanding: list[Literal["notify_guardian", "report_to_leadership"]]


def _read(actor: Actor, app: HandoverApp, views: Views, group_id: str, day: date | None, session: str,
          min_position: int | None, what: str = "care_log") -> dict[str, Any]:
    if actor.role == Role.TEACHER.value:  # a teacher reads the log of a group they answer for
        school = app.school(actor.school_id, readonly=True)
        group = school.group(group_id)
        homerooms = {school.classes[c]["homeroom_teacher_id"] for c in group["class_ids"]
                     if c in school.classes}
        if actor.staff_id != group["teacher_id"] and actor.staff_id not in homerooms:
            raise HTTPException(403, "A teacher reads the care log of their own group or class.")
    views.reflect("care_log", min_position)
    position = views.runners["care_log"].position
    on = app.care_log_day(actor, day)
    log = read_care_log(views.view("care_log"), actor.school_id, group_id, on, session, app.now())
    # The log names its pupils with their custody and the notes about them: that read is recorded.
    app.access.note(actor, what, {(Data.CUSTODY.value, Data.PROFILE.value):
                                  [row["pupil_id"] for row in log["attendance"]]})
    return {**log, "position": position}


@router.get("/care-log", response_model=CareLogOut, responses=READ_RESPONSES)
def care_log(actor: CareLogReader, app: AppDep, views: ViewsDep, group_id: GroupQ, day: DayQ = None,
             session: SessionQ = "after_school", min_position: PositionQ = None) -> Any:
    """The group's care log for one session: supervisors, handovers, attendance, timeline, notes."""
    return _read(actor, app, views, group_id, day, session, min_position)


@router.get("/care-log/export", response_class=Response, responses={
    **READ_RESPONSES, 200: {"description": "CSV (UTF-8 with BOM), XLSX, or a printable A4 page",
                            "content": EXPORT_CONTENT}})
def export_care_log(
    actor: CareLogReader, app: AppDep, views: ViewsDep, group_id: GroupQ, day: DayQ = None,
    session: SessionQ = "after_school", min_position: PositionQ = None,
    format: Literal["csv", "xlsx", "html"] = "csv",
    sheet: Annotated[Literal["attendance", "timeline"], Query(
        description="Which table a CSV holds (XLSX and HTML hold them all)")] = "attendance",
) -> Response:
    """Download the care log: the attendance sheet or timeline as CSV, every table as XLSX, or print."""
    log = _read(actor, app, views, group_id, day, session, min_position, f"care_log_export_{format}")
    tz = ZoneInfo(log["timezone"])
    tables = care_log_tables(log, tz)
    stem = f"看护日志_{log['group_name']}_{log['day']}" + (
        "" if log["session"] == "after_school" else f"_{log['session_name']}")
    fallback = f"care-log_{log['day']}_{log['session']}"
    headers = {"Cache-Control": "private, no-store", "X-Log-Position": str(log["position"])}
    if format == "csv":
        suffix = "" if sheet == "attendance" else "_时间线"
        headers["Content-Disposition"] = content_disposition(
            f"{stem}{suffix}.csv", f"{fallback}_{sheet}.csv")
        return Response(csv_bytes(tables[sheet]), media_type=CSV_TYPE, headers=headers)
    if format == "xlsx":
        headers["Content-Disposition"] = content_disposition(f"{stem}.xlsx", f"{fallback}.xlsx")
        body = care_log_xlsx(log, tz, tables)
        return Response(body, media_type=XLSX_TYPE, headers=headers)
    headers["Content-Disposition"] = content_disposition(f"{stem}.html", f"{fallback}.html", inline=True)
    return Response(care_log_page(log, tz, tables), media_type=HTML_TYPE, headers=headers)


@router.post("/care-notes", response_model=CareNoteOut, status_code=201)
def write_care_note(body: CareNoteRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Add a note or an emergency to the group's care log, in your name."""
    return respond(app.write_care_note(actor, do.WriteCareNote(
        body.group_id, body.text, body.kind, body.actions_taken, body.guardian_notified,
        body.reported_to_leadership, tuple(body.pupil_ids), body.day, body.session)), CareNoteOut)


@router.post("/care-notes/{note_id}/follow-ups", response_model=CareNoteOut)
def follow_up_care_note(note_id: Line, body: FollowUpRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Add what was done since: a step taken, the guardian notified, the leadership told."""
    return respond(app.follow_up_care_note(actor, do.FollowUpCareNote(
        note_id, body.actions_taken, body.guardian_notified, body.reported_to_leadership)), CareNoteOut)
