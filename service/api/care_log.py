"""The care log (看护日志) of a group's session as JSON, CSV, XLSX or a printable page; care notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.afternoon import PlaceRef, StaffRef
from service.api.deps import AppDep, Reader, StaffActor, ViewsDep, respond
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import IsoDay, Line, Prose
from service.application import HandoverApp
from service.domain.common import Actor
from service.exports import (
    CSV_TYPE,
    EXPORT_CONTENT,
    HTML_TYPE,
    XLSX_TYPE,
    Table,
    content_disposition,
    csv_bytes,
    html_table,
    printable_page,
    xlsx_bytes,
)
from service.projections.views import Views
from service.use_cases import commands as do
from service.use_cases.care import hhmm

router = APIRouter(prefix="/v1", tags=["care log"], responses=PROBLEM_RESPONSES)

SessionField = Field(default="after_school", pattern=r"^[a-z][a-z0-9_]{0,31}$")
GroupQ = Annotated[Line, Query(min_length=1, max_length=64, description="A homework group or club")]
DayQ = Annotated[IsoDay | None, Query(description="The session's day; today when omitted")]
SessionQ = Annotated[Line, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PositionQ = Annotated[int | None, Query(ge=0, description="Wait until the log reflects this position")]
WEEKDAYS = "一二三四五六日"
KINDS = {"absent": "缺勤/请假", "signed_in": "签到", "released": "放行", "release_refused": "拒绝放行",
         "went_home_alone": "自行回家", "left_early": "提前离校", "corrected": "更正",
         "handover_offered": "交接", "handover_confirmed": "确认接收", "handover_withdrawn": "撤回交接",
         "alert_raised": "警报", "alert_escalated": "警报升级", "alert_acknowledged": "警报确认",
         "alert_resolved": "警报解除", "note": "看护记录", "emergency": "突发事件", "follow_up": "跟进"}
OUTSTANDING = {"notify_guardian": "待通知家长", "report_to_leadership": "待报告领导小组"}


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
          min_position: int | None) -> dict[str, Any]:
    views.reflect("care_log", min_position)
    position = views.runners["care_log"].position
    return {**app.care_log(actor, views.view("care_log"), group_id, day, session), "position": position}


@router.get("/care-log", response_model=CareLogOut, responses=READ_RESPONSES)
def care_log(actor: Reader, app: AppDep, views: ViewsDep, group_id: GroupQ, day: DayQ = None,
             session: SessionQ = "after_school", min_position: PositionQ = None) -> Any:
    """The group's care log for one session: supervisors, handovers, attendance, timeline, notes."""
    return _read(actor, app, views, group_id, day, session, min_position)


@router.get("/care-log/export", response_class=Response, responses={
    **READ_RESPONSES, 200: {"description": "CSV (UTF-8 with BOM), XLSX, or a printable A4 page",
                            "content": EXPORT_CONTENT}})
def export_care_log(
    actor: Reader, app: AppDep, views: ViewsDep, group_id: GroupQ, day: DayQ = None,
    session: SessionQ = "after_school", min_position: PositionQ = None,
    format: Literal["csv", "xlsx", "html"] = "csv",
    sheet: Annotated[Literal["attendance", "timeline"], Query(
        description="Which table a CSV holds (XLSX and HTML hold them all)")] = "attendance",
) -> Response:
    """Download the care log: the attendance sheet or timeline as CSV, every table as XLSX, or print."""
    log = _read(actor, app, views, group_id, day, session, min_position)
    tz = ZoneInfo(log["timezone"])
    tables = {"attendance": attendance_table(log, tz), "timeline": timeline_table(log, tz),
              "handovers": handover_table(log, tz), "notes": note_table(log, tz)}
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
        body = xlsx_bytes(f"{log['school_name']} 看护日志", [_title_line(log, tz)],
                          [tables["attendance"], tables["timeline"], tables["handovers"], tables["notes"]])
        return Response(body, media_type=XLSX_TYPE, headers=headers)
    headers["Content-Disposition"] = content_disposition(f"{stem}.html", f"{fallback}.html", inline=True)
    return Response(printable(log, tz, tables), media_type=HTML_TYPE, headers=headers)


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


# -- the tables every format shares -------------------------------------------------

def _t(at: str | None, tz: ZoneInfo) -> str:
    return hhmm(at, tz)


def _names(refs: list[dict[str, Any]]) -> str:
    return "、".join(p["name"] for p in refs)


def _supervision(log: dict[str, Any], tz: ZoneInfo) -> str:
    return "；".join(f"{s['name']} {_t(s['first_at'], tz)}–{_t(s['last_at'], tz) or '至今'}"
                    f"（{s['pupils_held']} 人）" for s in log["supervisors"]) or "无"


def _headcount(log: dict[str, Any]) -> str:
    c = log["counts"]
    close = f"结束时在组 {c['at_close']}" if c["at_close"] is not None else f"当前在组 {c['in_custody_now']}"
    return (f"应到 {c['expected']}，请假 {c['absent_with_leave']}，缺勤 {c['absent_without_leave']}，"
            f"未交接 {c['not_handed_over']}，交接清点 {c['handover_given']}/{c['handover_received']}，"
            f"接收 {c['received']}，家长接走 {c['released']}，自行回家 {c['went_home_alone']}，"
            f"提前离校 {c['left_early']}，{close}")


def _title_line(log: dict[str, Any], tz: ZoneInfo) -> str:
    return (f"{log['group_name']} · {log['day']} {log['session_name']} · 带班教师："
            f"{(log['teacher'] or {}).get('name') or '未指定'} · 看护人员：{_supervision(log, tz)}")


def attendance_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[i, r["name"], r["class_label"] or "", "本组" if r["member"] == "class" else "走班来组",
             r["status_label"], r["absence_reason"] or "", _t(r["arrived_at"], tz), r["received_from"] or "",
             r["received_by"] or "", _t(r["left_at"], tz), r["left_to"] or "", r["custodian"] or "",
             r["place"] or "", _t(r["gone_at"], tz), r["collected_by"] or "", r["gate"] or "",
             r["identity_check"] or "", r["handled_by"] or "", r["remarks"]]
            for i, r in enumerate(log["attendance"], start=1)]
    return Table("签到表", ["序号", "姓名", "班级", "类别", "出勤情况", "请假/缺勤原因", "到组时间", "交来人",
                         "接收人", "离组时间", "去向", "当前看护人", "当前位置", "离校时间", "接送人",
                         "校门", "核验方式", "经办人", "备注"], rows)


def timeline_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[_t(r["at"], tz), KINDS.get(r["kind"], r["kind"]), _names(r["pupils"]),
             (r["by"] or {}).get("name") or "系统", r["summary"], "已作废" if r["voided"] else "有效"]
            for r in log["timeline"]]
    return Table("时间线", ["时间", "类型", "学生", "经办人", "内容", "状态"], rows,
                 widths=[8, 12, 24, 12, 70, 8])


def handover_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[_t(h["offered_at"], tz), h["direction_label"], h["kind_label"], h["giver"]["name"],
             h["to"]["name"], h["place"]["label"], h["count_given"],
             "" if h["count_received"] is None else h["count_received"], "是" if h["mismatch"] else "否",
             _names(h["missing"]), {"offered": "待确认", "confirmed": "已确认", "withdrawn": "已撤回"}[h["status"]],
             _t(h["confirmed_at"] or h["withdrawn_at"], tz), h["note"] or h["withdraw_reason"] or ""]
            for h in log["handovers"]]
    return Table("交接记录", ["交接时间", "方向", "类型", "交出人", "接收人", "地点", "交出人数",
                          "接收人数", "人数不符", "未收到", "状态", "确认/撤回时间", "备注"], rows)


def note_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[_t(n["at"], tz), "突发事件" if n["kind"] == "emergency" else "看护记录",
             (n["by"] or {}).get("name") or "", _names(n["pupils"]), n["text"], n["actions_taken"],
             "是" if n["guardian_notified"] else "否", "是" if n["reported_to_leadership"] else "否",
             "；".join(f"{_t(f['at'], tz)} {(f['by'] or {}).get('name') or ''}：{f['actions_taken']}"
                      for f in n["follow_ups"]),
             "、".join(OUTSTANDING[o] for o in n["outstanding"])]
            for n in log["notes"]]
    return Table("看护记录", ["时间", "类别", "记录人", "涉及学生", "内容", "处置情况", "已通知家长",
                          "已报告领导小组", "跟进", "待办"], rows)


def printable(log: dict[str, Any], tz: ZoneInfo, tables: dict[str, Table]) -> str:
    """The printed log: compact columns so the attendance sheet fits an A4 page upright."""
    att = tables["attendance"]
    pick = [0, 1, 2, 4, 6, 8, 10, 13, 14, 15, 16, 18]
    compact = Table(att.title, [att.headers[i] for i in pick], [[r[i] for i in pick] for r in att.rows])
    alerts = Table("警报", ["时间", "类型", "学生", "内容", "状态"], [
        [_t(a["raised_at"], tz), a["kind_label"], _names(a["pupils"]), a["detail"],
         {"open": "未处理", "acknowledged": "已确认", "resolved": "已解除"}[a["status"]]]
        for a in log["alerts"]])
    day = date.fromisoformat(log["day"])
    generated = datetime.fromisoformat(log["generated_at"]).strftime("%Y-%m-%d %H:%M")
    return printable_page(
        title=f"看护日志 {log['group_name']} {log['day']}", heading="课后服务看护日志",
        subheading=log["school_name"],
        facts=[("小组", f"{log['group_name']}（{log['room'] or '—'}）"),
               ("日期", f"{log['day']} 星期{WEEKDAYS[day.weekday()]}"),
               ("时段", log["session_name"] + (f"，{_t(log['closes_at'], tz)} 结束" if log["closes_at"] else "")),
               ("带班教师", (log["teacher"] or {}).get("name") or "未指定"),
               ("看护人员", _supervision(log, tz)), ("人数", _headcount(log))],
        sections=[("一、签到表", html_table(compact)), ("二、交接记录", html_table(tables["handovers"])),
                  ("三、时间线", html_table(tables["timeline"])),
                  ("四、看护记录与突发事件", html_table(tables["notes"])), ("五、警报", html_table(alerts))],
        signatures=["带班教师", "值日领导"],
        footer=f"据事件日志第 {log['position']} 条生成于 {generated}（{log['timezone']}）。"
               "记录不可修改；更正以新记录说明，原记录保留。",
    )
