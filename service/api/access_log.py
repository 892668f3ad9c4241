"""The access log: who read which pupils' personal data, for admins and inspectors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from service.api.deps import AppDep, ViewsDep, require_role
from service.api.problems import READ_RESPONSES
from service.api.text import Line
from service.domain.common import Actor, Role
from service.domain.errors import RuleError
from service.projections.access_log import entry, read_access_log

router = APIRouter(prefix="/v1", tags=["access log"], responses=READ_RESPONSES)
AuditActor = Annotated[Actor, Depends(require_role(Role.ADMIN, Role.INSPECTOR))]


class AccessRead(BaseModel):
    staff_id: str
    staff_name: str
    role: str
    at: str
    device: str | None
    what: str = Field(description="pupil, pupil_list, pupil_afternoon, afternoon, roster or stream")
    pupil_ids: list[str]
    data: list[str] = Field(description="The categories of personal data read")
    record_id: str


class AccessLogOut(BaseModel):
    reads: list[AccessRead]
    truncated: bool
    next_offset: int | None = Field(description="Pass as offset for the next page (null: none)")
    position: int


@router.get("/access-log", response_model=AccessLogOut)
def access_log(
    actor: AuditActor, app: AppDep, views: ViewsDep,
    pupil: Annotated[Line | None, Query(max_length=64, description="Reads of this pupil")] = None,
    staff: Annotated[Line | None, Query(max_length=64, description="Reads by this staff member")] = None,
    since: Annotated[datetime | None, Query(alias="from", description="ISO 8601; without an offset, "
                                            "the school's time zone")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Reads to skip: a page's next_offset")] = 0,
) -> Any:
    """Every recorded read of a pupil's personal data by staff, oldest first."""
    try:
        position = app.access.flush()  # reads noted a moment ago are listed too
    except Exception as e:  # noqa: BLE001 - the store's cause, shown as 503
        raise HTTPException(503, f"Reads are waiting to be recorded and cannot be saved now: {e!r}") from None
    views.reflect("access_log", position)
    school = app.school(actor.school_id, readonly=True)
    since, until = (t.replace(tzinfo=school.tz) if t and t.tzinfo is None else t for t in (since, until))
    for name, t in (("from", since), ("to", until)):
        try:
            if t is not None:
                t.astimezone(UTC)  # the log's keys are UTC times
        except OverflowError:
            raise RuleError(f"{name} is out of range.", field=name) from None
    found, truncated = read_access_log(views.view("access_log"), actor.school_id, pupil=pupil,
                                       staff=staff, since=since, until=until, limit=limit,
                                       offset=offset)
    return {"reads": [entry(d) for d in found], "truncated": truncated,
            "next_offset": offset + len(found) if truncated else None,
            "position": views.runners["access_log"].position}
