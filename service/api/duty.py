"""Duty over HTTP: the day's duty roster, patrol rounds, clearing the school and the duty log."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from service.api.alerts import AcceptLanguage
from service.api.deps import AdminActor, AppDep, Reader, StaffActor, ViewsDep, respond
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import IsoDay, Line, Prose
from service.domain.common import Actor
from service.domain.messages import negotiate
from service.domain.privacy import Data
from service.domain.pupil_day import STILL_HELD
from service.projections.incidents import read_incidents
from service.projections.live import LiveViews
from service.projections.views import Views
from service.reports.duty_log import duty_lines, duty_log, duty_tables
from service.reports.exports import XLSX_TYPE, content_disposition, xlsx_bytes
from service.reports.pdf import PDF_TYPE, pdf_bytes
from service.use_cases.application import HandoverApp
from service.use_cases.duty import RecordPatrol, RosterGuardIn, SetDutyRoster

router = APIRouter(prefix="/v1", tags=["duty"], responses=PROBLEM_RESPONSES)

SESSION = r"^[a-z][a-z0-9_]{0,31}$"
SessionQ = Annotated[Line, Query(pattern=SESSION)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaffRef(BaseModel):
    staff_id: str
    name: str


class GuardIn(Strict):
    staff_id: Line = Field(min_length=1, max_length=64)
    gate_id: Line | None = Field(default=None, max_length=64, description="The gate they keep")


class RosterRequest(Strict):
    """两名值班领导、两名门卫 for a day's session; a change names the roster it replaces."""

    day: IsoDay
    session: Line = Field(default="after_school", pattern=SESSION)
    leader_ids: list[Line] = Field(min_length=1, max_length=4)
    guards: list[GuardIn] = Field(min_length=1, max_length=4)
    note: Prose = Field(default="", max_length=500)
    replaces: int | None = Field(default=None, ge=1, le=1000,
                                 description="The number of the roster in force, when changing it")


class RosterGuard(BaseModel):
    staff_id: str
    name: str
    gate_id: str | None
    gate: str | None


class Roster(BaseModel):
    roster_no: int
    leaders: list[StaffRef]
    guards: list[RosterGuard]
    note: str
    replaces: int | None
    set_by: dict[str, Any]


class Patrol(BaseModel):
    seq: int
    place: str
    at: str
    seen: str
    notes: str
    by: dict[str, Any]


class Cleared(BaseModel):
    at: str
    by: dict[str, Any]
    note: str
    pupils: int


class Blocker(BaseModel):
    kind: Literal["pupil", "alert", "incident"]
    id: str
    name: str = Field(description="The pupil's name, the alert's kind or the incident's kind")
    code: str = Field(description="The pupil's status, the alert's kind, or why the incident "
                                  "blocks: missing | guardian_not_reached | critical")
    place: str | None = Field(description="Where the pupil is held, or the incident happened")
    detail: str = Field(description="All of it in words, in the language asked for")


class ClearingRefused(BaseModel):
    at: str
    by: dict[str, Any]
    blockers: list[Blocker]


class DutyDayOut(BaseModel):
    duty_day_id: str | None
    day: str
    session: str
    roster: Roster | None
    replaced: list[Roster]
    patrols: list[Patrol]
    clearing_refused: list[ClearingRefused]
    cleared: Cleared | None
    version: int


class PatrolRequest(Strict):
    """巡查: the place, what was seen, notes; ``at`` when it was seen (default: now)."""

    session: Line = Field(default="after_school", pattern=SESSION)
    place: Line = Field(min_length=1, max_length=100)
    seen: Prose = Field(min_length=1, max_length=1000)
    notes: Prose = Field(default="", max_length=1000)
    at: AwareDatetime | None = None


class ClearRequest(Strict):
    session: Line = Field(default="after_school", pattern=SESSION)
    note: Prose = Field(default="", max_length=500)


class DutyLog(BaseModel):
    school_id: str
    school_name: str
    day: str
    session: str
    timezone: str
    roster: Roster | None
    replaced_rosters: list[Roster]
    shifts: list[dict[str, Any]]
    patrols: list[Patrol]
    clearing_refused: list[ClearingRefused]
    incidents: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    cleared: Cleared | None
    position: int


@router.get("/duty", response_model=DutyDayOut, responses=READ_RESPONSES)
def get_duty(actor: Reader, app: AppDep, day: IsoDay | None = None,
             session: SessionQ = "after_school") -> Any:
    """The day's duty roster (today by default), its patrols and whether the school was cleared."""
    return app.describe_duty(actor, day, session)


@router.put("/duty/roster", response_model=DutyDayOut,
            responses={201: {"model": DutyDayOut, "description": "The day's first roster, set"}})
def set_roster(body: RosterRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Set a day's duty roster (值班安排); changing it names the roster it replaces."""
    return respond(app.set_duty_roster(actor, SetDutyRoster(
        body.day, body.session, tuple(body.leader_ids),
        tuple(RosterGuardIn(g.staff_id, g.gate_id) for g in body.guards), body.note,
        body.replaces)), DutyDayOut)


@router.post("/duty/patrols", response_model=Patrol, status_code=201)
def patrol(body: PatrolRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """A duty leader records a patrol round (巡查) from the phone."""
    return respond(app.record_patrol(actor, RecordPatrol(
        body.session, body.place, body.seen, body.notes, body.at)), Patrol)


def _caught_up(app: HandoverApp, views: Views, *names: str) -> int:
    head = app.recorder.max_notification_id() or 0
    for name in names:
        views.reflect(name, head)
    return head


@router.post("/duty/clearing", response_model=DutyDayOut,
             responses={409: {**PROBLEM_RESPONSES[409], "description": (
                 "Refused, and the refusal recorded: the body's errors name each pupil still held and "
                 "each blocking alert and incident")}})
def clear_school(body: ClearRequest, actor: StaffActor, app: AppDep, views: ViewsDep,
                 accept_language: AcceptLanguage = None) -> JSONResponse:
    """清校: refused (409) while any pupil is held or a blocking alert or incident is open; once
    cleared, any later custody event of the day raises an alert."""
    school = app.school(actor.school_id, readonly=True)
    today = app.today(school)
    _caught_up(app, views, "roster", "alerts", "incidents")
    live = LiveViews(views.view("roster"), views.view("alerts"))
    incidents = read_incidents(views.view("incidents"), actor.school_id, day=today.isoformat())
    rows = live.session_roster(actor.school_id, today, body.session)
    outcome = app.clear_school(actor, body.session, body.note, rows, live.alerts(actor.school_id),
                               incidents, negotiate(accept_language))
    if not outcome.ok:  # a refusal names the pupils still held: a read of where they are
        held = [r["pupil_id"] for r in rows if r["status"] in STILL_HELD]
        app.access.note(actor, "clearing", {(Data.PROFILE.value, Data.CUSTODY.value): held})
    return respond(outcome, DutyDayOut)


def _log(actor: Actor, app: HandoverApp, views: Views, day: date | None, session: str) -> dict[str, Any]:
    app.may_read_duty_log(actor)
    school = app.school(actor.school_id, readonly=True)
    on = day or app.today(school)
    app.describe_duty(actor, on, session)  # the session must run that day
    position = _caught_up(app, views, "statements", "incidents", "alerts")
    log = duty_log(app, views, actor.school_id, on, session)
    # The pupils the log names (an incident, an alert, a refused clearing): a read of their
    # name and of what happened to them in the school's custody.
    named = {p for i in log["incidents"] for p in i["pupil_ids"]}
    named |= {a["subject"]["pupil_id"] for a in log["alerts"] if a["subject"].get("pupil_id")}
    named |= {b["id"] for r in log["clearing_refused"] for b in r["blockers"] if b["kind"] == "pupil"}
    app.access.note(actor, "duty_log", {(Data.PROFILE.value, Data.CUSTODY.value): sorted(named)})
    return {**log, "position": position}


@router.get("/duty/log", response_model=DutyLog, responses=READ_RESPONSES)
def get_duty_log(actor: Reader, app: AppDep, views: ViewsDep, day: IsoDay | None = None,
                 session: SessionQ = "after_school") -> Any:
    """值班记录: who was on duty (roster and shifts), patrols, incidents and how each ended,
    alerts, the clearing. Admins, duty leaders, the safety officer and inspectors read it."""
    return _log(actor, app, views, day, session)


@router.get("/duty/log/export", response_class=Response, responses={
    **READ_RESPONSES, 200: {"description": "The duty log as a workbook or a printable A4 PDF",
                            "content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
                                        PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}}}})
def export_duty_log(actor: Reader, app: AppDep, views: ViewsDep, day: IsoDay | None = None,
                    session: SessionQ = "after_school",
                    format: Literal["xlsx", "pdf"] = "pdf") -> Response:
    log = _log(actor, app, views, day, session)
    title = f"{log['school_name']} {log['day']} 值班记录"
    lines = [*duty_lines(log), f"依据事件日志位置 Log position: {log['position']}"]
    stem, fallback = f"{log['school_name']}-{log['day']}-值班记录", f"duty-log-{log['day']}"
    if format == "xlsx":
        body = xlsx_bytes(title, lines, duty_tables(log))
        return Response(body, media_type=XLSX_TYPE, headers={
            "Content-Disposition": content_disposition(f"{stem}.xlsx", f"{fallback}.xlsx")})
    body = pdf_bytes(title=title, heading=f"{log['school_name']} 值班记录", lines=lines,
                     tables=duty_tables(log), signatures=["值班领导", "分管领导"],
                     footer=f"{log['school_name']} · {log['day']} · {log['session']}")
    return Response(body, media_type=PDF_TYPE, headers={
        "Content-Disposition": content_disposition(f"{stem}.pdf", f"{fallback}.pdf", inline=True)})
