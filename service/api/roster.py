"""The live roster: every expected pupil's state, counts per group, band and gate, and search."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from service.api.afternoon import CameFrom, Gone, PassedOn, Pending, PlaceRef, StaffRef
from service.api.deps import AppDep, BoardReader, ViewsDep
from service.api.encoded import Rows
from service.api.problems import READ_RESPONSES
from service.api.text import IsoDay, Line
from service.domain.errors import NotFoundError
from service.domain.privacy import custody_seen, custody_state
from service.projections.roster import read_roster

router = APIRouter(prefix="/v1", tags=["roster"], responses=READ_RESPONSES)


class RosterPupil(BaseModel):
    pupil_id: str
    name: str
    initials: str
    initial_options: list[list[str]] | None = Field(
        default=None, description="The initials each character may be typed with, the usual reading "
        "first (曾 → c, z): for searching on the device")
    class_id: str
    class_label: str | None
    grade: int | None
    band: str | None
    homework_group_id: str | None
    gate_id: str | None
    status: Literal["not_handed_over", "absent", "in_custody", "gone", "passed_on"]
    with_leave: bool | None
    absence_reason: str | None
    custodian: StaffRef | None
    place: PlaceRef | None
    pending: Pending | None
    gone: Gone | None
    passed_on: PassedOn | None = Field(default=None, description="Handed into this later session")
    came_from: CameFrom | None = Field(default=None, description="Handed in from this earlier session")
    refusals: int
    offered_at: str | None
    version: int


class RosterCounts(BaseModel):
    total: int
    gone: int
    by_status: dict[str, int]
    by_group: dict[str, dict[str, int]]
    by_band: dict[str, dict[str, int]]
    by_gate: dict[str, dict[str, int]]


class RosterOut(BaseModel):
    school_id: str
    day: date
    session: str
    service: bool
    counts: RosterCounts
    pupils: list[RosterPupil]
    still_in_school: list[str]
    position: int


@router.get("/roster", response_model=RosterOut)
def roster(
    actor: BoardReader, app: AppDep, views: ViewsDep,
    day: IsoDay | None = None,
    session: Annotated[Line, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = "after_school",
    group_id: Annotated[Line | None, Query(max_length=64)] = None,
    gate_id: Annotated[Line | None, Query(max_length=64)] = None,
    q: Annotated[Line | None, Query(
        max_length=50, description="Name, pinyin initials (zxm) or class (三(2)班)")] = None,
    min_position: Annotated[int | None, Query(
        ge=0, description="Wait until the roster reflects this log position (X-Log-Position of your write)",
    )] = None,
) -> Response:
    views.reflect("roster", min_position)
    school = app.school(actor.school_id, readonly=True)
    on = day or app.today(school)
    position = views.runners["roster"].position
    cache = views.roster_cache
    found = read_roster(cache, actor.school_id, on, session, group_id=group_id, gate_id=gate_id, q=q)
    if found is None:
        raise NotFoundError("school", actor.school_id)
    # Each row as sent is kept while its row is, and the rows joined while the roster is: a read
    # encodes only the rows that changed, and nothing when none did.
    sent = cache.memo.scope((actor.school_id, on, session))

    def encoded() -> tuple[bytes, dict[tuple[str, ...], list[str]]]:
        seen, reads = custody_seen(school, actor.staff_id, found["pupils"])
        return b",".join(sent.get(("row sent", row["pupil_id"], shown), (row,),
                                  lambda: _ROWS.encode(custody_state(row, shown)))  # noqa: B023 - called here
                         for row, shown in zip(found["pupils"], seen, strict=True)), reads
    rows, reads = sent.get("roster sent", (found,), encoded, given=(actor.staff_id, school.version))
    app.access.note(actor, "roster", reads)
    return _ROWS.response({**found, "position": position}, rows)


_ROWS = Rows(RosterOut, RosterPupil)
