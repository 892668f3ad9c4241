"""Alert notifications: the school's signed webhook, and how each notification was delivered."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.adapters.channels import ERROR_CATEGORIES
from service.api.deps import AdminActor, AppDep, Reader, ViewsDep, respond
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import Line, LongLine
from service.domain.common import Role
from service.domain.notification import MIN_SECRET
from service.projections.outbox import OUTBOX, read_notifications, shown_to

router = APIRouter(prefix="/v1", tags=["notifications"], responses=PROBLEM_RESPONSES)


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: LongLine = Field(min_length=8, max_length=2000, pattern=r"^https?://",
                     description="Where each alert notification is POSTed as JSON")
    secret: Line = Field(min_length=MIN_SECRET, max_length=200, description=(
        "Signs every delivery: `X-Handover-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "
        "\"<t>.<raw body>\">`. Stored to sign; never shown again."))


class WebhookOut(BaseModel):
    url: str | None
    active: bool
    secret_set: bool
    changed_by: dict[str, Any] | None


class Attempt(BaseModel):
    ok: bool
    status: int | None = Field(description="The receiver's HTTP status (admins only)")
    error: str | None = Field(description=(
        f"Why it failed, as a category (admins only): {', '.join(ERROR_CATEGORIES)}"))
    at: str
    next_attempt_at: str | None


class NotificationOut(BaseModel):
    notification_id: str
    alert_id: str
    alert_version: int
    event: str | None
    kind: str | None
    channel: Literal["log", "webhook"]
    status: Literal["pending", "delivered", "failed"]
    queued_at: str
    next_attempt_at: str | None
    attempts: list[Attempt]
    delivered_at: str | None
    abandoned: dict[str, Any] | None


class NotificationList(BaseModel):
    notifications: list[NotificationOut]
    position: int


@router.get("/school/webhook", response_model=WebhookOut, responses=READ_RESPONSES, tags=["school"])
def get_webhook(actor: AdminActor, app: AppDep) -> Any:
    """The school's webhook, without its secret."""
    return app.describe_webhook(actor)


@router.put("/school/webhook", response_model=WebhookOut, tags=["school"])
def put_webhook(body: WebhookRequest, actor: AdminActor, app: AppDep) -> JSONResponse:
    """Send every raised and escalated alert to this URL, signed with this secret.

    Each POST carries `X-Handover-Delivery` (the notification id: the same on a retry, so a
    receiver can drop repeats), `X-Handover-Timestamp` and `X-Handover-Signature`. A failed
    delivery is retried after 10 s, 20 s, 40 s … (at most 10 minutes apart), 12 times in all.
    """
    return respond(app.configure_webhook(actor, body.url, body.secret), WebhookOut)


@router.delete("/school/webhook", response_model=WebhookOut, tags=["school"])
def delete_webhook(actor: AdminActor, app: AppDep) -> JSONResponse:
    """Stop sending; notifications still pending are abandoned at their next attempt."""
    return respond(app.remove_webhook(actor), WebhookOut)


@router.get("/notifications", response_model=NotificationList, responses=READ_RESPONSES)
def list_notifications(
    actor: Reader, views: ViewsDep,
    alert_id: Annotated[Line | None, Query(max_length=64)] = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> Any:
    """Every notification of the school's alerts, per channel, with each delivery attempt.

    Admins see why an attempt failed, as a category; other roles see delivered, pending or failed.
    """
    views.reflect(OUTBOX, min_position)
    position = views.runners[OUTBOX].position
    found = read_notifications(views.view(OUTBOX), actor.school_id, alert_id=alert_id, status=status)
    admin = actor.role == Role.ADMIN.value
    return {"notifications": [shown_to(d, admin=admin) for d in found], "position": position}
