"""The school as it stood at a past minute, and timelines: what a liability question turns on.

Read by the safety officer, duty leaders, admins and inspectors; each read of a pupil's custody
is recorded in the access log like the other reads, and cut to what the reader's role may see.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from service.api.afternoon import PlaceRef, StaffRef
from service.api.deps import AppDep, Reader, ViewsDep
from service.api.problems import READ_RESPONSES
from service.api.roster import RosterCounts, RosterPupil
from service.api.text import IsoDay, Line
from service.domain.common import Actor
from service.domain.errors import NotFoundError, RuleError
from service.domain.privacy import (
    CUSTODY_LIST,
    custody_entry,
    custody_rows,
    custody_state,
    may_see,
    read_of,
)
from service.domain.school import School
from service.projections import history
from service.use_cases.application import HandoverApp
from service.use_cases.incidents import READERS

router = APIRouter(prefix="/v1", tags=["history"], responses=READ_RESPONSES)

At = Annotated[Line, Query(min_length=10, max_length=40, description=(
    "A past moment, as 2026-12-01T17:42 (the school's time zone when no offset is given); a "
    "minute without seconds covers the whole minute"))]
Session = Annotated[Line, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Who(BaseModel):
    staff_id: str | None
    name: str | None
    role: str | None


class TimelineEntry(BaseModel):
    """One stored event: where it is in the log, who, where, when, and what it records."""

    model_config = ConfigDict(extra="allow")
    position: int | None = Field(description="The event's position in the log")
    aggregate_id: str
    version: int = Field(description="The event's version in its aggregate")
    event: str = Field(description="The stored event's class, e.g. PupilDay.CustodyTaken")
    what: str
    subject: dict[str, Any]
    who: Who | None
    where: dict[str, Any] | None
    at: str | None = Field(description="Server time")
    device_time: str | None
    device: str | None
    facts: dict[str, Any]


class RosterAsOf(BaseModel):
    school_id: str
    day: str
    session: str
    service: bool
    counts: RosterCounts
    pupils: list[RosterPupil]
    still_in_school: list[str]
    at: str
    position: int = Field(description="The last log position recorded at or before the moment")
    head: int


class CustodyAt(BaseModel):
    model_config = ConfigDict(extra="allow")
    pupil_id: str
    day: str
    session: str
    at: str
    position: int
    head: int
    status: Literal["not_handed_over", "absent", "in_custody", "gone", "passed_on"]
    custodian: StaffRef | None
    place: PlaceRef | None
    state: dict[str, Any]
    before: TimelineEntry | None = Field(description="The last custody event at or before the moment")
    after: TimelineEntry | None = Field(description="The next custody event after it")


class Timeline(BaseModel):
    model_config = ConfigDict(extra="allow")
    day: str
    entries: list[TimelineEntry]


def _reader(actor: Actor) -> None:
    if actor.role not in READERS:
        raise HTTPException(403, "Only the safety officer, duty leaders, admins and inspectors read "
                                 "the school's history.")


def _moment(text: str, school: School, app: HandoverApp) -> Any:
    """A past moment: one that has not come yet has no history to answer for (422)."""
    try:
        moment = history.parse_moment(text, school)
    except ValueError as e:
        raise RuleError(str(e), field="at") from None
    if moment - timedelta(minutes=1) > app.now():
        raise RuleError("That moment has not come yet.", field="at")
    return moment


def _session(school: School, session: str) -> None:
    if session not in {s.key for s in school.schedule.sessions}:
        raise RuleError(f"No session {session!r} in the schedule.", field="session")


def _day(app: HandoverApp, school: School, day: date | None) -> date:
    today = app.today(school)
    on = day or today
    if on > today or on.year < 2000:
        raise RuleError("A day between 2000 and today.", field="day")
    return on


def _cut(app: HandoverApp, actor: Actor, school: School, entries: list[dict[str, Any]],
         what: str) -> list[dict[str, Any]]:
    """Entries about pupils cut to what the reader may see of each; the read recorded."""
    seen_of: dict[str, Any] = {}

    def seen_for(pupil_id: str) -> Any:
        if pupil_id not in seen_of:
            found = app.pupil(school.school_id, pupil_id, readonly=True)
            seen_of[pupil_id] = may_see(school, actor.staff_id, found.class_id)
        return seen_of[pupil_id]

    out = []
    for e in entries:
        facts, pupil_id = e["facts"], e["subject"].get("pupil_id")
        if pupil_id is not None:
            facts = custody_entry(facts, seen_for(pupil_id))
        refusal = facts.get("refusal")
        if isinstance(refusal, dict) and refusal.get("pupil_id"):  # who came to the gate, for whom
            facts = {**facts, "refusal": custody_entry(refusal, seen_for(str(refusal["pupil_id"])))}
        out.append({**e, "facts": facts})
    reads: dict[tuple[str, ...], list[str]] = {}
    for pupil_id, seen in seen_of.items():
        reads.setdefault(tuple(read_of(seen, CUSTODY_LIST)), []).append(pupil_id)
    app.access.note(actor, what, reads)
    return out


@router.get("/roster/as-of", response_model=RosterAsOf)
def roster_as_of(
    actor: Reader, app: AppDep, at: At, session: Session = "after_school",
    group_id: Annotated[Line | None, Query(max_length=64)] = None,
    gate_id: Annotated[Line | None, Query(max_length=64)] = None,
    q: Annotated[Line | None, Query(max_length=50)] = None,
) -> Any:
    """The roster of the school, a group or a gate as it stood at a past minute, rebuilt from the
    log up to the last event recorded then (not from today's view)."""
    _reader(actor)
    school = app.school(actor.school_id, readonly=True)
    _session(school, session)
    if group_id is not None:
        school.group(group_id)  # 404 for a group the school does not have
    if gate_id is not None:
        school.gate(gate_id)
    found = history.roster_as_of(app, school, _moment(at, school, app), session, group_id=group_id,
                                 gate_id=gate_id, q=q)
    rows, reads = custody_rows(school, actor.staff_id, found["pupils"])
    app.access.note(actor, "roster_as_of", reads)
    return {**found, "pupils": rows}


@router.get("/pupils/{pupil_id}/custody", response_model=CustodyAt)
def custody_at(pupil_id: Line, actor: Reader, app: AppDep, at: At,
               session: Session = "after_school") -> Any:
    """Who had custody of this pupil at that minute, where, and the events that prove it: the
    last custody event at or before it and the next one after."""
    _reader(actor)
    school = app.school(actor.school_id, readonly=True)
    pupil = app.pupil(actor.school_id, pupil_id, readonly=True)
    _session(school, session)
    found = history.custody_at(app, school, str(pupil.id), _moment(at, school, app), session)
    seen = may_see(school, actor.staff_id, pupil.class_id)
    app.access.note(actor, "custody_at", {tuple(read_of(seen, CUSTODY_LIST)): [str(pupil.id)]})
    for side in ("before", "after"):
        if found[side] is not None:
            found[side] = {**found[side], "facts": custody_entry(found[side]["facts"], seen)}
    return {**found, "state": custody_state(found["state"], seen)}


@router.get("/incidents/{incident_id}/timeline", response_model=Timeline)
def incident_timeline(incident_id: Line, actor: Reader, app: AppDep) -> Any:
    """The incident's own steps interleaved, in log order, with the custody chains of the pupils
    involved that day and the duty shifts around it."""
    _reader(actor)
    school = app.school(actor.school_id, readonly=True)
    incident = app.incident(actor.school_id, incident_id)
    found = history.incident_timeline(app, school, incident)
    return {**found, "entries": _cut(app, actor, school, found["entries"], "incident_timeline")}


@router.get("/pupils/{pupil_id}/day", response_model=Timeline)
def pupil_day(pupil_id: Line, actor: Reader, app: AppDep, day: IsoDay | None = None) -> Any:
    """A pupil's whole day across sessions, every stored custody event in log order."""
    _reader(actor)
    school = app.school(actor.school_id, readonly=True)
    pupil = app.pupil(actor.school_id, pupil_id, readonly=True)
    found = history.pupil_day_timeline(app, school, str(pupil.id), _day(app, school, day))
    return {**found, "entries": _cut(app, actor, school, found["entries"], "pupil_day")}


@router.get("/staff/{staff_id}/shift", response_model=Timeline)
def staff_shift(staff_id: Line, actor: Reader, app: AppDep, views: ViewsDep,
                day: IsoDay | None = None) -> Any:
    """A staff member's day: the shifts they signed on and off, the custody they took and gave,
    the pupils they signed in and released."""
    _reader(actor)
    school = app.school(actor.school_id, readonly=True)
    if staff_id not in school.staff:
        raise NotFoundError("staff", staff_id)
    found = history.staff_shift_timeline(app, school, views.view("roster"), staff_id,
                                         _day(app, school, day))
    return {**found, "entries": _cut(app, actor, school, found["entries"], "staff_shift")}
