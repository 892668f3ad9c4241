"""Duty use cases: the day's duty roster (值班安排), patrol rounds (巡查) and clearing the school (清校)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from service.domain.alert import KINDS as ALERT_KINDS
from service.domain.common import Actor, Role
from service.domain.device import is_device
from service.domain.duty import Blocker, DutyDay, RosterGuard
from service.domain.errors import ForbiddenError, RuleError
from service.domain.messages import DEFAULT_LANGUAGE, alert_detail, join_list, render
from service.domain.pupil_day import IN_CUSTODY, STILL_HELD
from service.domain.refs import StaffRef
from service.domain.school import School
from service.use_cases.core import AppCore, Decision, Outcome
from service.use_cases.results import Rejected

Doc = dict[str, Any]
DUTY_READERS = (Role.ADMIN.value, Role.DUTY_LEADER.value, Role.SAFETY_OFFICER.value,
                Role.INSPECTOR.value)
CLEARERS = (Role.DUTY_LEADER.value,)
PATROLLERS = (Role.DUTY_LEADER.value,)
# A patrol only adds to the day: one sent as others are recorded is decided again on the day as
# they left it, up to this many times (every duty leader and guard of a large school at once).
PATROL_ATTEMPTS = 60

# Alerts that keep the school from being cleared until resolved: a pupil the school may still
# answer for, or a room left without an adult. Those about something that already happened
# (a refusal at the gate, a miscount, a silent group) block until someone has acknowledged them.
# A document about to expire is about days to come, not this one.
BLOCK_UNTIL_RESOLVED = ("unpicked", "not_handed_over", "unconfirmed", "no_deadline",
                        "missing_pupil", "incident_guardian", "unattended", "after_clearing")
BLOCK_UNTIL_SEEN = ("release_refused", "count_mismatch", "zero_report")
assert set(BLOCK_UNTIL_RESOLVED + BLOCK_UNTIL_SEEN) <= set(ALERT_KINDS)



@dataclass(frozen=True)
class RosterGuardIn:
    staff_id: str
    gate_id: str | None = None


@dataclass(frozen=True)
class SetDutyRoster:
    """The duty roster of a day's session: two duty leaders and two guards (each at a gate, if
    named); ``replaces`` names the roster in force when this one changes it."""

    day: date
    session: str
    leader_ids: tuple[str, ...]
    guards: tuple[RosterGuardIn, ...]
    note: str = ""
    replaces: int | None = None


@dataclass(frozen=True)
class RecordPatrol:
    """A patrol round: where, when it was seen (default: now), what was seen, notes."""

    session: str
    place: str
    seen: str
    notes: str = ""
    at: datetime | None = None


def blocking_incident(doc: Doc) -> str | None:
    """Why an open incident keeps the school from being cleared, or None when it does not."""
    if doc["status"] != "open":
        return None
    if doc["kind"] == "missing_pupil":
        return "missing"
    if doc["guardians_pending"]:
        return "guardian_not_reached"
    if doc["severity"] == "critical":
        return "critical"
    return None


def clearing_blockers(rows: Sequence[Doc], alerts: Sequence[Doc], incidents: Sequence[Doc],
                      day: str, session: str, language: str = DEFAULT_LANGUAGE) -> list[Blocker]:
    """Every pupil still held, and every alert and incident of the day that blocks clearing."""
    found: list[Blocker] = []
    names = {r["pupil_id"]: r["name"] for r in rows}
    for r in rows:
        if r["status"] in STILL_HELD:
            where = (r["place"] or {}).get("label") if r["status"] == IN_CUSTODY else None
            found.append({"kind": "pupil", "id": r["pupil_id"], "name": r["name"],
                          "code": r["status"], "place": where,
                          "detail": render("clearing.held", {"status_code": f"status.{r['status']}",
                                                             "where": where}, language)})
    for a in sorted(alerts, key=lambda a: a["raised_at"]):
        subject = a["subject"]
        if a["status"] == "resolved" or subject.get("day") != day:
            continue
        if subject.get("session") not in (None, session):
            continue
        if a["kind"] in BLOCK_UNTIL_RESOLVED or (
                a["kind"] in BLOCK_UNTIL_SEEN and a["status"] == "open"):
            found.append({"kind": "alert", "id": a["alert_id"], "name": a["kind"],
                          "code": a["kind"], "place": None, "detail": alert_detail(a, language)})
    for i in incidents:
        why = blocking_incident(i)
        if why is None or i["day"] != day or i.get("session") not in (None, session):
            continue
        pupils = join_list((names.get(p, p) for p in i["pupil_ids"]), language)
        found.append({"kind": "incident", "id": i["incident_id"], "name": i["kind"],
                      "code": why, "place": i["where"] or None,
                      "detail": render("clearing.incident", {
                          "kind_code": f"incident.{i['kind']}", "pupils": pupils,
                          "why_code": f"clearing.{why}"}, language)})
    return found


class DutyUseCases(AppCore):
    def duty_day(self, school_id: str, day: date, session: str,
                 readonly: bool = True) -> DutyDay | None:
        found = self._find(DutyDay.create_id(school_id, day.isoformat(), session), readonly=readonly)
        return found if isinstance(found, DutyDay) else None

    def _duty_session(self, school: School, day: date | None, session: str) -> date:
        on = day or self.today(school)
        if session not in {s.key for s in school.schedule.sessions}:
            raise RuleError(f"No session {session!r} in the schedule.", field="session")
        if not school.schedule.runs_on(session, on):
            raise RuleError(f"No {session} service on {on.isoformat()}.", field="day")
        return on

    def describe_duty(self, actor: Actor, day: date | None, session: str) -> Doc:
        """The day's roster as it stands (every staff member reads it), patrols and the clearing."""
        school = self.school(actor.school_id, readonly=True)
        on = self._duty_session(school, day, session)
        found = self.duty_day(actor.school_id, on, session)
        if found is None:
            return {"duty_day_id": None, "day": on.isoformat(), "session": session, "roster": None,
                    "replaced": [], "patrols": [], "clearing_refused": [], "cleared": None,
                    "version": 0}
        return found.view()

    def set_duty_roster(self, actor: Actor, cmd: SetDutyRoster) -> Outcome:
        """The admin sets (or changes, naming the roster replaced) a day's duty roster."""
        self.require(actor, Role.ADMIN)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            today = self.today(school)
            if cmd.day < today:
                raise RuleError("A past day's roster stands as it was.", field="day")
            on = self._duty_session(school, cmd.day, cmd.session)
            leaders: list[StaffRef] = []
            for sid in cmd.leader_ids:
                member = school.member(sid)
                if is_device(sid):
                    raise RuleError(f"{member['name']} is a device: a roster names people.",
                                    field="leader_ids")
                if Role.DUTY_LEADER.value not in member["roles"]:
                    raise RuleError(f"{member['name']} is not a duty leader.", field="leader_ids")
                leaders.append({"staff_id": sid, "name": member["name"]})
            guards: list[RosterGuard] = []
            for g in cmd.guards:
                member = school.member(g.staff_id)
                if is_device(g.staff_id):
                    raise RuleError(f"{member['name']} is a device: a roster names the guards "
                                    "who sign on at its gate.", field="guards")
                if Role.GUARD.value not in member["roles"]:
                    raise RuleError(f"{member['name']} is not a guard.", field="guards")
                gate = school.gate(g.gate_id)["name"] if g.gate_id else None
                guards.append({"staff_id": g.staff_id, "name": member["name"],
                               "gate_id": g.gate_id, "gate": gate})
            duty = self.duty_day(school.school_id, on, cmd.session, readonly=False) or DutyDay(
                school_id=school.school_id, day=on.isoformat(), session=cmd.session)
            duty.set_roster(leaders, guards, cmd.note, cmd.replaces, actor.record())
            return Decision([duty], duty.view(), created=len(duty.rosters) == 1)
        return self.execute(actor, decide)

    def record_patrol(self, actor: Actor, cmd: RecordPatrol) -> Outcome:
        """A duty leader records a patrol round from the phone."""
        if actor.role not in PATROLLERS:
            raise ForbiddenError("Only a duty leader records a patrol (巡查).")

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self._duty_session(school, None, cmd.session)
            seen_at = (cmd.at or actor.at).astimezone(school.tz)  # default: when it was sent
            if seen_at.date() != on:
                raise RuleError("A patrol is recorded on the day it was made.", field="at")
            duty = self.duty_day(school.school_id, on, cmd.session, readonly=False) or DutyDay(
                school_id=school.school_id, day=on.isoformat(), session=cmd.session)
            duty.record_patrol(cmd.place, seen_at.isoformat(), cmd.seen, cmd.notes, actor.record())
            return Decision([duty], duty.patrols[-1], created=True)
        return self.execute(actor, decide, attempts=PATROL_ATTEMPTS)

    def clear_school(self, actor: Actor, session: str, note: str, rows: Sequence[Doc],
                     alerts: Sequence[Doc], incidents: Sequence[Doc],
                     language: str = DEFAULT_LANGUAGE) -> Outcome:
        """A duty leader clears the school (清校): refused (409, the refusal recorded) while any
        pupil is still held or any blocking alert or incident is open, naming each. ``rows``, ``alerts`` and
        ``incidents`` are the live views of the day as of the caller's request."""
        if actor.role not in CLEARERS:
            raise ForbiddenError("Only a duty leader clears the school (清校).")

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self._duty_session(school, None, session)
            day = on.isoformat()
            duty = self.duty_day(school.school_id, on, session, readonly=False) or DutyDay(
                school_id=school.school_id, day=day, session=session)
            blockers = clearing_blockers(rows, alerts, incidents, day, session, language)
            versions = {r["pupil_id"]: int(r["version"]) for r in rows}
            if duty.clear(blockers, versions, note, actor.record()):
                return Decision([duty], duty.view())
            names = join_list((render("clearing.named", {"name": b["name"], "detail": b["detail"]},
                                      language) if b["kind"] == "pupil" else b["detail"]
                               for b in blockers), language)
            return Decision([duty], Rejected("not-clear", f"尚不能清校 / the school cannot be "
                                                          f"cleared yet: {names}", [dict(b) for b in blockers]))
        return self.execute(actor, decide)

    def may_read_duty_log(self, actor: Actor) -> None:
        if actor.role not in DUTY_READERS:
            raise ForbiddenError("The duty log is read by admins, duty leaders, the safety "
                                 "officer and inspectors.")
