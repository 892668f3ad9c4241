"""Monthly statements over HTTP: fee and subsidy rules, staff shifts, statements and the 每月公示 workbook."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import (
    AccountsReader,
    AdminActor,
    AppDep,
    Reader,
    StaffActor,
    ViewsDep,
    respond,
)
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import IsoDay, Line
from service.domain.common import Role
from service.domain.errors import NotFoundError
from service.domain.privacy import Data
from service.projections.statements import (
    read_pupil_statements,
    read_shifts,
    read_staff_statements,
)
from service.reports.exports import XLSX_TYPE, Table, content_disposition, xlsx_bytes
from service.use_cases import commands as do

router = APIRouter(prefix="/v1", tags=["statements"], responses=PROBLEM_RESPONSES)

MONEY = r"^-?\d+\.\d{2}$"
Money = Annotated[str, Field(pattern=MONEY, description="Yuan as a decimal string, e.g. \"123.50\"")]
MoneyIn = Annotated[Decimal, Field(ge=0, le=100000, decimal_places=2)]
Percent = Annotated[int, Field(ge=0, le=100)]
MonthQ = Annotated[Line, Query(pattern=r"^[12]\d{3}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
SessionQ = Annotated[Line, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PositionQ = Annotated[int | None, Query(ge=0, description="Wait until the statements reflect "
                                        "this log position (X-Log-Position of your write)")]
Tag = Literal["留守", "残疾", "随迁", "困难"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- rules ------------------------------------------------------------------------------------
class FeeRuleIn(Strict):
    """The after-school fee: per month or per term; 减免 for priority groups by percentage."""

    basis: Literal["month", "term"] = "month"
    amount: MoneyIn = Decimal("0.00")
    daily_rate: MoneyIn | None = Field(default=None, description="Settles a withdrawal month "
                                       "by days attended (else the month's share per day)")
    monthly_cap: MoneyIn | None = Field(default=None, description="The most charged in a month")
    reductions: dict[Tag, Percent] = Field(default_factory=dict, description="e.g. {\"困难\": 100}")


class FeeRuleOut(BaseModel):
    basis: Literal["month", "term"]
    amount: Money
    daily_rate: Money | None
    monthly_cap: Money | None
    reductions: dict[str, int]
    set_by: dict[str, Any] | None
    version: int


class DeductionIn(Strict):
    each_pct: Percent
    all_at: int | None = Field(default=None, ge=1, le=100,
                               description="This many in a month cost the whole month")


class Deductions(Strict):
    late: DeductionIn = DeductionIn(each_pct=0)
    early_leave: DeductionIn = DeductionIn(each_pct=10, all_at=3)
    unattended_room: DeductionIn = DeductionIn(each_pct=100, all_at=1)
    handover_violation: DeductionIn = DeductionIn(each_pct=10, all_at=3)


class SubsidyRuleIn(Strict):
    """The staff subsidy (课后服务补助): per session supervised and per duty session, less deductions."""

    per_session: MoneyIn = Decimal("20.00")
    per_duty_session: MoneyIn = Decimal("7.00")
    late_tolerance_minutes: int = Field(default=5, ge=0, le=120)
    deductions: Deductions = Deductions()


class SubsidyRuleOut(BaseModel):
    per_session: Money
    per_duty_session: Money
    late_tolerance_minutes: int
    deductions: dict[str, DeductionIn]
    set_by: dict[str, Any] | None
    version: int


@router.get("/school/fee-rule", response_model=FeeRuleOut, responses=READ_RESPONSES, tags=["school"])
def get_fee_rule(actor: Reader, app: AppDep) -> Any:
    return app.describe_rule(actor, "fee")


@router.put("/school/fee-rule", response_model=FeeRuleOut, tags=["school"])
def set_fee_rule(body: FeeRuleIn, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.set_rule(actor, "fee", body.model_dump(mode="json")),
                   FeeRuleOut)


@router.get("/school/subsidy-rule", response_model=SubsidyRuleOut, responses=READ_RESPONSES,
            tags=["school"])
def get_subsidy_rule(actor: Reader, app: AppDep) -> Any:
    return app.describe_rule(actor, "subsidy")


@router.put("/school/subsidy-rule", response_model=SubsidyRuleOut, tags=["school"])
def set_subsidy_rule(body: SubsidyRuleIn, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.set_rule(actor, "subsidy", body.model_dump(mode="json")),
                   SubsidyRuleOut)


# -- shifts -----------------------------------------------------------------------------------
class StaffRef(BaseModel):
    staff_id: str
    name: str


class ShiftPlace(BaseModel):
    id: str
    label: str
    kind: Literal["group", "duty", "gate"]


class ShiftOut(BaseModel):
    shift_id: str
    staff: StaffRef
    day: date
    session: str
    place: ShiftPlace
    substitute_for: StaffRef | None
    signed_on_at: str
    starts_at: str
    ends_at: str
    signed_off_at: str | None
    minutes_late: float
    left_early: bool
    signed_on_by: str
    signed_off_by: str | None
    handed_to: StaffRef | None = Field(default=None, description="A gate taken over by a colleague")
    version: int


class SignOnRequest(Strict):
    place_id: Line = Field(min_length=1, max_length=64, description="A group id, a gate id (a "
                           "guard), or \"duty\"")
    session: Line = Field(default="after_school", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    staff_id: Line | None = Field(default=None, max_length=64, description="Omit to sign yourself "
                                 "on; an admin or duty leader may name a colleague")
    substitute_for: Line | None = Field(default=None, max_length=64,
                                       description="替班: the colleague replaced (admin or duty leader)")


class SignOffRequest(Strict):
    place_id: Line = Field(min_length=1, max_length=64)
    session: Line = Field(default="after_school", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    staff_id: Line | None = Field(default=None, max_length=64)


class ShiftRow(BaseModel):
    shift_id: str
    staff: StaffRef
    day: date
    session: str
    place: ShiftPlace
    substitute_for: StaffRef | None
    at: str
    starts_at: str
    ends_at: str
    off_at: str | None
    signed_on_by: str


class ShiftList(BaseModel):
    day: date
    shifts: list[ShiftRow]
    position: int


@router.post("/shifts/sign-on", response_model=ShiftOut, status_code=201, tags=["shifts"])
def sign_on(body: SignOnRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Sign on for the session at a group (or for duty), now; lateness is judged from the timetable."""
    return respond(app.sign_on(actor, do.SignOn(body.place_id, body.session, body.staff_id,
                                                body.substitute_for)), ShiftOut)


@router.post("/shifts/sign-off", response_model=ShiftOut, tags=["shifts"])
def sign_off(body: SignOffRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """Sign off, now; before the place's dismissal it is an early leave (早退)."""
    return respond(app.sign_off(actor, body.place_id, body.session, body.staff_id), ShiftOut)


@router.get("/shifts", response_model=ShiftList, responses=READ_RESPONSES, tags=["shifts"])
def shifts(actor: Reader, app: AppDep, views: ViewsDep, day: IsoDay | None = None,
           min_position: PositionQ = None) -> Any:
    views.reflect("statements", min_position)
    on = day or app.today(app.school(actor.school_id, readonly=True))
    return {"day": on, "position": views.runners["statements"].position,
            "shifts": read_shifts(views.view("statements"), actor.school_id, on)}


# -- statements -------------------------------------------------------------------------------
class Ref(BaseModel):
    aggregate_id: str
    version: int
    event: str


class DayFigure(BaseModel):
    count: int
    days: list[date]
    refs: list[Ref]


class Fee(BaseModel):
    owed: Money
    gross: Money
    reduction: Money
    reduction_percent: int
    reduction_tag: str | None
    lines: list[dict[str, Any]]
    rule: dict[str, Any]
    refs: list[Ref]


class PupilStatement(BaseModel):
    pupil_id: str
    name: str
    class_id: str | None
    class_label: str | None
    tags: list[str]
    month: str
    session: str
    enrolled: DayFigure
    attended: DayFigure
    absent_with_leave: DayFigure
    absent_without_leave: DayFigure
    left_early: DayFigure
    unrecorded: DayFigure
    fee: Fee


class PupilStatements(BaseModel):
    school_id: str
    school_name: str
    month: str
    session: str
    fee_rule: dict[str, Any]
    fee_rule_ref: Ref | None
    pupils: list[PupilStatement]
    position: int


class ItemFigure(BaseModel):
    count: int
    items: list[dict[str, Any]]
    refs: list[Ref]


class Subsidy(BaseModel):
    gross: Money
    deduction_percent: int
    deducted: Money
    net: Money
    deductions: list[dict[str, Any]]
    rule: dict[str, Any]
    refs: list[Ref]


class StaffStatement(BaseModel):
    staff_id: str
    name: str
    roles: list[str]
    month: str
    session: str
    sessions_supervised: ItemFigure
    duty_sessions: ItemFigure
    late_arrivals: ItemFigure
    early_leaves: ItemFigure
    not_signed_off: ItemFigure
    substitutions: ItemFigure
    unattended_rooms: ItemFigure
    handover_violations: ItemFigure
    subsidy: Subsidy


class StaffStatements(BaseModel):
    school_id: str
    school_name: str
    month: str
    session: str
    subsidy_rule: dict[str, Any]
    subsidy_rule_ref: Ref | None
    staff: list[StaffStatement]
    unattended_rooms: list[dict[str, Any]] = Field(
        description="Every room left unattended (空堂) in the month, a group's teacher or not")
    position: int


def _pupils(views: Any, app: Any, actor: Any, month: str, session: str,
            pupil_id: str | None = None, min_position: int | None = None,
            what: str = "statements") -> dict[str, Any]:
    views.reflect("statements", min_position)
    position = views.runners["statements"].position
    found = read_pupil_statements(views.view("statements"), actor.school_id, month, session,
                                  pupil_id, app.now())
    if found is None:
        raise NotFoundError("pupil" if pupil_id else "school", pupil_id or actor.school_id)
    # Attendance and fees, and (not on the publication) the priority tags behind a reduction:
    # each pupil's read is recorded.
    shown = (Data.CUSTODY.value, *(() if what == "publication" else (Data.PRIORITY.value,)),
             Data.PROFILE.value)
    app.access.note(actor, what, {shown: [p["pupil_id"] for p in found["pupils"]]})
    return {**found, "position": position}


def _staff(views: Any, app: Any, actor: Any, month: str, session: str,
           staff_id: str | None = None, min_position: int | None = None) -> dict[str, Any]:
    views.reflect("statements", min_position)
    position = views.runners["statements"].position
    found = read_staff_statements(views.view("statements"), actor.school_id, month, session,
                                  staff_id, app.now())
    if found is None:
        raise NotFoundError("staff member" if staff_id else "school", staff_id or actor.school_id)
    return {**found, "position": position}


@router.get("/statements/pupils", response_model=PupilStatements, responses=READ_RESPONSES)
def pupil_statements(actor: AccountsReader, app: AppDep, views: ViewsDep, month: MonthQ,
                     session: SessionQ = "after_school", min_position: PositionQ = None) -> Any:
    """Every pupil enrolled in the month: days enrolled, attended, absent, left early; fee owed."""
    return _pupils(views, app, actor, month, session, None, min_position)


@router.get("/statements/pupils/{pupil_id}", response_model=PupilStatement,
            responses=READ_RESPONSES)
def pupil_statement(pupil_id: Line, actor: AccountsReader, app: AppDep, views: ViewsDep, month: MonthQ,
                    session: SessionQ = "after_school", min_position: PositionQ = None) -> Any:
    found = _pupils(views, app, actor, month, session, pupil_id, min_position)
    if not found["pupils"]:
        return _empty_pupil(pupil_id, month, session, views, actor)
    return found["pupils"][0]


def _empty_pupil(pupil_id: str, month: str, session: str, views: Any, actor: Any) -> dict[str, Any]:
    """A pupil not enrolled that month: every figure nought, nothing owed."""
    doc = views.view("statements").get(f"pupil/{actor.school_id}/{pupil_id}") or {}
    none = {"count": 0, "days": [], "refs": []}
    return {"pupil_id": pupil_id, "name": doc.get("name", ""), "class_id": None,
            "class_label": None, "tags": [], "month": month, "session": session,
            **{k: none for k in ("enrolled", "attended", "absent_with_leave",
                                 "absent_without_leave", "left_early", "unrecorded")},
            "fee": {"owed": "0.00", "gross": "0.00", "reduction": "0.00", "reduction_percent": 0,
                    "reduction_tag": None, "lines": [], "rule": {}, "refs": []}}


@router.get("/statements/staff", response_model=StaffStatements, responses=READ_RESPONSES)
def staff_statements(actor: AccountsReader, app: AppDep, views: ViewsDep, month: MonthQ,
                     session: SessionQ = "after_school", min_position: PositionQ = None) -> Any:
    """Every staff member with a shift or a charge in the month, and their subsidy."""
    return _staff(views, app, actor, month, session, None, min_position)


@router.get("/statements/staff/{staff_id}", response_model=StaffStatement, responses=READ_RESPONSES)
def staff_statement(staff_id: Line, actor: Reader, app: AppDep, views: ViewsDep, month: MonthQ,
                    session: SessionQ = "after_school", min_position: PositionQ = None) -> Any:
    """A staff member's own statement, or anyone's for an admin or an inspector."""
    if actor.role not in (Role.ADMIN.value, Role.INSPECTOR.value) and staff_id != actor.staff_id:
        raise HTTPException(403, "Only admins and inspectors read another staff member's statement.")
    return _staff(views, app, actor, month, session, staff_id, min_position)["staff"][0]


@router.get("/statements/publication", response_class=Response, responses={
    **READ_RESPONSES, 200: {"description": "The month's publication (每月公示) as a workbook",
                            "content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}})
def publication(actor: AccountsReader, app: AppDep, views: ViewsDep, month: MonthQ,
                session: SessionQ = "after_school", min_position: PositionQ = None) -> Response:
    """每月公示: pupils' attendance and fees, and staff subsidies, one sheet each, Chinese headers."""
    pupils = _pupils(views, app, actor, month, session, None, min_position, "publication")
    staff = _staff(views, app, actor, month, session)
    year, mon = month.split("-")
    title = f"{pupils['school_name']} {year}年{int(mon)}月 课后服务每月公示"
    body = xlsx_bytes(title, [f"统计月份 Month: {month} · 服务时段 Session: {session}",
                              f"依据事件日志位置 Log position: {pupils['position']}"],
                      [pupil_table(pupils["pupils"]), staff_table(staff["staff"])])
    return Response(body, media_type=XLSX_TYPE, headers={"Content-Disposition": content_disposition(
        f"{pupils['school_name']}-{month}-每月公示.xlsx", f"publication-{month}.xlsx")})


def pupil_table(rows: list[dict[str, Any]]) -> Table:
    # Priority-group tags stay off a public sheet: only the reduction shows, not its reason.
    return Table("学生考勤与收费", [
        "班级", "学生", "应到天数", "出勤天数", "请假天数", "缺勤（未请假）天数", "早退次数",
        "未记录天数", "应收（元）", "减免（元）", "实收（元）"], [
        [r["class_label"], r["name"], r["enrolled"]["count"], r["attended"]["count"],
         r["absent_with_leave"]["count"], r["absent_without_leave"]["count"],
         r["left_early"]["count"], r["unrecorded"]["count"], float(r["fee"]["gross"]),
         float(r["fee"]["reduction"]), float(r["fee"]["owed"])] for r in rows])


def staff_table(rows: list[dict[str, Any]]) -> Table:
    return Table("教师课后服务补助", [
        "教师", "看护节数", "值班管理节数", "迟到", "早退", "替班", "空堂", "交接违规",
        "应发（元）", "扣减比例（%）", "实发（元）"], [
        [r["name"], r["sessions_supervised"]["count"], r["duty_sessions"]["count"],
         r["late_arrivals"]["count"], r["early_leaves"]["count"], r["substitutions"]["count"],
         r["unattended_rooms"]["count"], r["handover_violations"]["count"],
         float(r["subsidy"]["gross"]), r["subsidy"]["deduction_percent"],
         float(r["subsidy"]["net"])] for r in rows])
