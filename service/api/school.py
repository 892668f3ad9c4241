"""School set-up: profile, classes, groups, gates, schedule and staff (admins write, all read)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import AdminActor, AppDep, BoardReader, Reader, ViewsDep, respond
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.schedule_models import ScheduleModel
from service.api.text import IsoDay, Line
from service.projections.tokens import TOKENS, read_tokens
from service.use_cases import commands as do

router = APIRouter(prefix="/v1", tags=["school"], responses=PROBLEM_RESPONSES)

Id = Field(min_length=1, max_length=64)
Name = Field(min_length=1, max_length=100)


RoleName = Literal["admin", "teacher", "guard", "duty_leader", "safety_officer", "inspector"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassOut(BaseModel):
    class_id: str
    grade: int
    class_no: int
    label: str
    homeroom_teacher_id: str | None


class GroupOut(BaseModel):
    group_id: str
    name: str
    kind: Literal["homework", "club"]
    weekdays: list[int]
    room: str
    class_ids: list[str]
    teacher_id: str | None


class GateOut(BaseModel):
    gate_id: str
    name: str


class StaffOut(BaseModel):
    staff_id: str
    name: str
    roles: list[str]
    phone: str | None
    active: bool


class TokenOut(BaseModel):
    token_id: str
    label: str | None
    issued_at: str | None
    expires_at: str | None = Field(description="null: it does not expire")
    status: Literal["active", "revoked", "expired"]
    revoked_at: str | None
    revoked_by: str | None


class StaffWithToken(StaffOut):
    token: str | None = Field(
        description="Shown once; only its hash is stored. A replayed request (same "
        "Idempotency-Key) answers null: issue a new token instead.")
    token_id: str
    label: str | None
    issued_at: str | None
    expires_at: str | None


class TokenRequest(Strict):
    label: Line | None = Field(default=None, max_length=100,
                              description="Which device holds it, e.g. 东门平板")
    ttl_days: int | None = Field(default=None, ge=1, le=3650, description=(
        "Days until it stops working (default: the service's HANDOVER_TOKEN_TTL_DAYS)"))


class TokenList(BaseModel):
    tokens: list[TokenOut]
    position: int


class Revoked(BaseModel):
    revoked: int
    tokens: list[TokenOut]


Stage = Literal["primary", "middle", "nine_year"]


class SchoolOut(BaseModel):
    school_id: str
    name: str
    timezone: str
    stage: Stage = Field(description="The grades taught: primary 1–6, middle 7–9, nine_year 1–9")
    grades: list[int]
    classes: list[ClassOut]
    groups: list[GroupOut]
    gates: list[GateOut]
    staff: list[StaffOut]
    schedule: ScheduleModel
    pupil_count: int


class ProfileRequest(Strict):
    name: Line = Name
    timezone: Line = Field(default="Asia/Shanghai", max_length=64)
    grades: Stage | None = Field(default=None, description="Change the grades taught; omitted: unchanged")


class ClassRequest(Strict):
    grade: int = Field(ge=1, le=9)
    class_no: int = Field(ge=1, le=99)
    homeroom_teacher_id: Line | None = Field(default=None, max_length=64)


class HomeroomRequest(Strict):
    staff_id: Line = Id


class GroupRequest(Strict):
    name: Line = Name
    kind: Literal["homework", "club"]
    weekdays: list[int] = Field(default=[1, 2, 3, 4, 5], max_length=7)
    room: Line = Field(default="", max_length=100)
    class_ids: list[Line] = Field(default=[], max_length=50)
    teacher_id: Line | None = Field(default=None, max_length=64)

    def command(self, group_id: str | None = None) -> do.DefineGroup:
        return do.DefineGroup(self.name, self.kind, tuple(self.weekdays), self.room,
                              tuple(self.class_ids), self.teacher_id, group_id)


class GateRequest(Strict):
    name: Line = Name


class StaffRequest(Strict):
    name: Line = Name
    roles: list[RoleName] = Field(min_length=1, max_length=6)
    phone: Line | None = Field(default=None, max_length=32)


class RolesRequest(Strict):
    roles: list[RoleName] = Field(min_length=1, max_length=6)


class ProposedGroup(BaseModel):
    name: str
    class_ids: list[str]
    grades: list[int]
    count: int


class Me(BaseModel):
    school_id: str
    staff_id: str
    name: str
    role: str
    roles: list[str]


@router.get("/me", response_model=Me, responses=READ_RESPONSES)
def me(actor: BoardReader, app: AppDep) -> Me:
    member = app.school(actor.school_id).member(actor.staff_id)
    return Me(school_id=actor.school_id, staff_id=actor.staff_id, name=member["name"],
              role=actor.role, roles=member["roles"])


@router.get("/school", response_model=SchoolOut, responses=READ_RESPONSES)
def get_school(actor: BoardReader, app: AppDep) -> Any:
    return app.describe_school(actor)


@router.put("/school/profile", response_model=SchoolOut)
def change_profile(body: ProfileRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.change_school_profile(actor, body.name, body.timezone,
                                             stage=body.grades), SchoolOut)


@router.post("/school/classes", response_model=ClassOut, status_code=201)
def add_class(body: ClassRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.add_class(actor, body.grade, body.class_no, body.homeroom_teacher_id), ClassOut)


@router.put("/school/classes/{class_id}/homeroom-teacher", response_model=ClassOut)
def assign_homeroom(class_id: Line, body: HomeroomRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.assign_homeroom_teacher(actor, class_id, body.staff_id), ClassOut)


@router.post("/school/groups", response_model=GroupOut, status_code=201)
def add_group(body: GroupRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.define_group(actor, body.command()), GroupOut)


@router.put("/school/groups/{group_id}", response_model=GroupOut)
def change_group(group_id: Line, body: GroupRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.define_group(actor, body.command(group_id)), GroupOut)


@router.get("/school/group-proposal", response_model=list[ProposedGroup], responses=READ_RESPONSES)
def group_proposal(actor: AdminActor, app: AppDep, day: IsoDay | None = None) -> Any:
    """Homework groups proposed from the signed enrolments (混合编班); confirm by defining them."""
    return app.group_proposal(actor, day.isoformat() if day else None)


@router.post("/school/gates", response_model=GateOut, status_code=201)
def add_gate(body: GateRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.add_gate(actor, body.name), GateOut)


@router.get("/school/schedule", response_model=ScheduleModel, responses=READ_RESPONSES)
def get_schedule(actor: Reader, app: AppDep) -> Any:
    return app.school(actor.school_id).schedule_data


@router.put("/school/schedule", response_model=ScheduleModel)
def set_schedule(body: ScheduleModel, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.set_schedule(actor, body.model_dump(mode="json")), ScheduleModel)


@router.get("/staff", response_model=list[StaffOut], responses=READ_RESPONSES)
def list_staff(actor: Reader, app: AppDep) -> Any:
    return app.describe_school(actor)["staff"]


@router.post("/staff", response_model=StaffWithToken, status_code=201)
def add_staff(body: StaffRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.add_staff(actor, body.name, list(body.roles), body.phone),
                   StaffWithToken)


@router.put("/staff/{staff_id}/roles", response_model=StaffOut)
def change_roles(staff_id: Line, body: RolesRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    return respond(app.change_staff_roles(actor, staff_id, list(body.roles)), StaffOut)


@router.post("/staff/{staff_id}/tokens", response_model=StaffWithToken, status_code=201)
def issue_token(staff_id: Line, actor: AdminActor, app: AppDep,
                body: TokenRequest | None = None) -> JSONResponse:
    """A new token for the member (a new tablet, say), shown once."""
    body = body or TokenRequest()
    return respond(app.issue_token(actor, staff_id, label=body.label,
                                   ttl_days=body.ttl_days), StaffWithToken)


@router.get("/staff/{staff_id}/tokens", response_model=TokenList, responses=READ_RESPONSES)
def list_tokens(staff_id: Line, actor: AdminActor, app: AppDep, views: ViewsDep,
                min_position: Annotated[int | None, Query(ge=0)] = None) -> Any:
    """The member's tokens: when issued, for which device, when they expire or were revoked."""
    app.school(actor.school_id, readonly=True).member(staff_id)
    views.reflect(TOKENS, min_position)
    position = views.runners[TOKENS].position
    return {"tokens": read_tokens(views.view(TOKENS), actor.school_id, staff_id, app.now()),
            "position": position}


@router.post("/staff/{staff_id}/tokens/{token_id}/revoke", response_model=TokenOut)
def revoke_token(staff_id: Line, token_id: Line, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Revoke one token (a lost tablet's): it is refused with 401 from the next request on."""
    return respond(app.revoke_token(actor, staff_id, token_id), TokenOut)


@router.post("/staff/{staff_id}/tokens/revoke", response_model=Revoked)
def revoke_all_tokens(staff_id: Line, actor: AdminActor, app: AppDep, views: ViewsDep) -> JSONResponse:
    """Revoke every token the member holds; issue a new one to let them back in."""
    views.reflect(TOKENS, app.recorder.max_notification_id())  # every token issued so far
    held = read_tokens(views.view(TOKENS), actor.school_id, staff_id, app.now())
    return respond(app.revoke_tokens(actor, staff_id, [t["token_id"] for t in held]), Revoked)


@router.post("/staff/{staff_id}/leave", response_model=StaffOut)
def remove_staff(staff_id: Line, actor: AdminActor, app: AppDep) -> JSONResponse:
    """The member leaves the school; their tokens stop working; their records stay."""
    return respond(app.remove_staff(actor, staff_id), StaffOut)
