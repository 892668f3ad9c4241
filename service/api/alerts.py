"""Alerts: the open list, acknowledging and resolving, and the school's escalation policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import (
    AdminActor,
    AppDep,
    BoardReader,
    Reader,
    StaffActor,
    ViewsDep,
    respond,
)
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import Line, Prose
from service.domain.messages import alert_detail, negotiate
from service.projections.alerts import read_alerts

router = APIRouter(prefix="/v1", tags=["alerts"], responses=PROBLEM_RESPONSES)

Kind = Literal["unpicked", "count_mismatch", "not_handed_over", "zero_report", "release_refused",
               "unconfirmed", "document_expiring", "no_deadline", "missing_pupil", "incident_guardian",
               "unattended", "after_clearing"]


# The reader's language for alert texts: zh-CN (the default) or en.
AcceptLanguage = Annotated[Line | None, Header(max_length=200)]


class Step(BaseModel):
    level: int
    step: str
    notify: list[str]
    at: str


class AlertOut(BaseModel):
    alert_id: str
    kind: Kind
    cause: str
    subject: dict[str, Any]
    detail: str = Field(description="The alert's text, in the language Accept-Language asks for "
                                    "(zh-CN, the default, or en).")
    code: str | None = Field(default=None, description="The message code the text renders; "
                                                      "none on alerts raised before codes.")
    params: dict[str, Any] = Field(default_factory=dict, description="The message's parameters.")
    raised_at: str
    level: int
    steps: list[Step]
    acknowledged: dict[str, Any] | None
    resolved: dict[str, Any] | None
    status: Literal["open", "acknowledged", "resolved"]


class AlertList(BaseModel):
    alerts: list[AlertOut]
    position: int


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Prose = Field(default="", max_length=500)


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    how: Literal["released", "handed_to_guardian", "went_home_alone", "left_early", "found",
                 "no_action_needed", "other"]
    note: Prose = Field(default="", max_length=500)


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_minutes: int = Field(ge=0, le=600)
    step: Line = Field(min_length=1, max_length=50)
    notify: list[Literal["guardian", "custodian", "homeroom_teacher", "duty_leader",
                         "safety_officer", "admin"]] = Field(max_length=6)


class AlertPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unpicked_steps: list[EscalationStep] = Field(min_length=1, max_length=6)
    not_handed_over_after_minutes: int = Field(default=15, ge=0, le=240)
    unconfirmed_after_minutes: int = Field(default=10, ge=1, le=240)
    expiry_warning_days: int = Field(default=14, ge=1, le=90)


@router.get("/alerts", response_model=AlertList, responses=READ_RESPONSES)
def list_alerts(
    actor: BoardReader, views: ViewsDep,
    status: Literal["open", "acknowledged", "resolved"] | None = None,
    kind: Kind | None = None,
    day: Annotated[Line | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
    min_position: Annotated[int | None, Query(ge=0)] = None,
    accept_language: AcceptLanguage = None,
) -> Any:
    """Every alert of the school; each `detail` is rendered in the language asked for."""
    views.reflect("alerts", min_position)
    position = views.runners["alerts"].position
    language = negotiate(accept_language)
    found = read_alerts(views.view("alerts"), actor.school_id, status=status, kind=kind, day=day)
    return {"alerts": [{**a, "detail": alert_detail(a, language)} for a in found],
            "position": position}


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=READ_RESPONSES)
def get_alert(alert_id: Line, actor: BoardReader, app: AppDep,
              accept_language: AcceptLanguage = None) -> Any:
    return app.alert(actor.school_id, alert_id).view(negotiate(accept_language))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: Line, body: AcknowledgeRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    """You have seen it and are acting: escalation stops."""
    return respond(app.acknowledge_alert(actor, alert_id, body.note), AlertOut)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(alert_id: Line, body: ResolveRequest, actor: StaffActor, app: AppDep) -> JSONResponse:
    return respond(app.resolve_alert(actor, alert_id, body.how, body.note), AlertOut)


@router.get("/school/alert-policy", response_model=AlertPolicy, responses=READ_RESPONSES, tags=["school"])
def get_policy(actor: Reader, app: AppDep) -> Any:
    return app.school(actor.school_id, readonly=True).alert_policy


@router.put("/school/alert-policy", response_model=AlertPolicy, tags=["school"])
def set_policy(body: AlertPolicy, actor: AdminActor, app: AppDep) -> JSONResponse:
    """How unpicked-pupil alerts escalate, and when the other alerts are raised."""
    return respond(app.set_alert_policy(actor, body.model_dump()), AlertPolicy)
