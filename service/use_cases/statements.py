"""Statement use cases: the school's fee and subsidy rules, and staff signing on and off their shifts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from service.domain.common import Actor, Role
from service.domain.duty import DutyDay, check_rostered, duty_day_id
from service.domain.errors import ConflictError, ForbiddenError, NotFoundError, RuleError
from service.domain.handover import Handover
from service.domain.pupil_day import IN_CUSTODY
from service.domain.refs import PlaceRef, StaffRef
from service.domain.rules import FeeRule, SchoolRules, SubsidyRule
from service.domain.school import School
from service.domain.shift import (
    DUTY,
    GATE,
    HandoverPendingError,
    Shift,
    StillHoldsPupilsError,
    shift_id,
)
from service.use_cases.commands import SignOn
from service.use_cases.core import AppCore, Decision, Outcome, as_uuid

MANAGERS = (Role.ADMIN.value, Role.DUTY_LEADER.value)  # may sign a colleague on or off


def rule_view(rules: SchoolRules | None, which: str) -> dict[str, Any]:
    """A rule as it stands (the default when never set), with who set it and when."""
    if which == "fee":
        rule = rules.fee_rule.to_dict() if rules else FeeRule().to_dict()
        by = rules.fee_set_by if rules else None
    else:
        rule = rules.subsidy_rule.to_dict() if rules else SubsidyRule().to_dict()
        by = rules.subsidy_set_by if rules else None
    return {**rule, "set_by": by, "version": rules.version if rules else 0}


def place_dismissal(school: School, place_id: str, session: str, day: date) -> datetime:
    """When the place's last pupils leave: the latest dismissal of the bands it serves.

    A group serves the bands of its classes; duty, a gate, and a group naming no class, serve
    every band attending the session (the duty leader clears the school after the last band).
    """
    schedule, tz = school.schedule, school.tz
    grades: set[int] = set()
    if place_id != DUTY and place_id not in school.gates:
        grades = {school.classes[c]["grade"] for c in school.group(place_id)["class_ids"]
                  if c in school.classes}
    if not grades:
        grades = {g for band in schedule.bands for g in band.grades}
    times = [t for g in grades if (t := schedule.dismissal_at(session, g, day, tz)) is not None]
    if not times:
        raise RuleError(f"No class of this place attends {session}.", field="place_id")
    return max(times)


class StatementUseCases(AppCore):
    # -- rules ---------------------------------------------------------------
    def school_rules(self, school_id: str, readonly: bool = True) -> SchoolRules | None:
        found = self._find(SchoolRules.create_id(school_id), readonly=readonly)
        return found if isinstance(found, SchoolRules) else None

    def describe_rule(self, actor: Actor, which: str) -> dict[str, Any]:
        self.school(actor.school_id, readonly=True)
        return rule_view(self.school_rules(actor.school_id), which)

    def set_rule(self, actor: Actor, which: str, data: dict[str, Any]) -> Outcome:
        """Set the fee or subsidy rule; the school's rules aggregate is created on first set."""
        self.require(actor, Role.ADMIN)

        def decide() -> Decision:
            self.school(actor.school_id, readonly=True)
            rules = self.school_rules(actor.school_id, readonly=False) or SchoolRules(
                school_id=actor.school_id)
            if which == "fee":
                rules.set_fee_rule(data, actor.record())
            else:
                rules.set_subsidy_rule(data, actor.record())
            return Decision([rules], rule_view(rules, which))
        return self.execute(actor, decide)

    # -- shifts --------------------------------------------------------------
    def _shift_subject(self, actor: Actor, school: School, staff_id: str | None,
                       substituting: bool) -> StaffRef:
        """Whose shift: your own; a colleague's, or a substitute's, only if you manage the day."""
        who = staff_id or actor.staff_id
        if who != actor.staff_id or substituting:
            mine = school.member(actor.staff_id)["roles"]
            if not any(r in mine for r in MANAGERS):
                raise ForbiddenError("Only an admin or a duty leader signs on a colleague or a "
                                     "substitute (替班 is arranged by the school).")
        member = school.member(who)
        return {"staff_id": who, "name": member["name"]}

    def _today_session(self, school: School, session: str) -> date:
        today = self.today(school)
        if session not in {s.key for s in school.schedule.sessions}:
            raise RuleError(f"No session {session!r} in the schedule.", field="session")
        if not school.schedule.runs_on(session, today):
            raise RuleError(f"No {session} service today ({today.isoformat()}).", field="session")
        return today

    def sign_on(self, actor: Actor, cmd: SignOn) -> Outcome:
        """Sign on (yourself, or a colleague or substitute if you manage the day) at a group, a
        gate (a guard) or duty; signing on again where you signed off today resumes that shift."""
        place_id, session, staff_id, substitute_for = cmd.place_id, cmd.session, cmd.staff_id, cmd.substitute_for

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            staff = self._shift_subject(actor, school, staff_id, substitute_for is not None)
            today = self._today_session(school, session)
            if place_id == DUTY:
                if Role.DUTY_LEADER.value not in school.member(staff["staff_id"])["roles"]:
                    raise RuleError("Only a duty leader signs on for duty.", field="place_id")
                place: PlaceRef = {"id": DUTY, "label": "值班管理", "kind": "duty"}
                rostered = self._find(duty_day_id(school.school_id, today.isoformat(), session), readonly=True)
                check_rostered(rostered if isinstance(rostered, DutyDay) else None,
                               staff["staff_id"], substitute_for, "leaders")
            elif place_id in school.gates:
                if Role.GUARD.value not in school.member(staff["staff_id"])["roles"]:
                    raise RuleError("Only a guard signs on at a gate.", field="place_id")
                place = {"id": place_id, "label": school.gates[place_id]["name"], "kind": GATE}
                rostered = self._find(duty_day_id(school.school_id, today.isoformat(), session), readonly=True)
                check_rostered(rostered if isinstance(rostered, DutyDay) else None,
                               staff["staff_id"], substitute_for, "guards")
            else:
                group = school.group(place_id)
                if today.isoweekday() not in group["weekdays"]:
                    raise RuleError(f"{group['name']} does not meet today.", field="place_id")
                place = {"id": place_id, "label": group["name"], "kind": "group"}
            replaced = None
            if substitute_for is not None:
                member = school.member(substitute_for)
                replaced = {"staff_id": substitute_for, "name": member["name"]}
            self._check_not_elsewhere(school, staff["staff_id"], today, session, place_id)
            wanted = shift_id(school.school_id, staff["staff_id"], today.isoformat(),
                                       session, place_id)
            existing = self._find(wanted)
            if isinstance(existing, Shift):
                if not existing.signed_off:
                    raise ConflictError("Already signed on here today.", state=existing.view())
                existing.resume(self.now(), actor.record())
                return Decision([existing], existing.view())
            shift = Shift.sign_on(
                school_id=school.school_id, staff=staff, day=today, session=session, place=place,
                substitute_for=replaced, at=self.now(),
                starts_at=school.schedule.start_at(session, today, school.tz),
                ends_at=place_dismissal(school, place_id, session, today), by=actor.record(),
            )
            return Decision([shift], shift.view(), created=True)
        return self.execute(actor, decide)

    def _check_not_elsewhere(self, school: School, staff_id: str, day: date, session: str,
                             place_id: str) -> None:
        """One place at a time: a shift still open elsewhere must be signed off first."""
        for other in [DUTY, *school.groups, *school.gates]:
            if other == place_id:
                continue
            found = self._find(shift_id(school.school_id, staff_id, day.isoformat(),
                                               session, other), readonly=True)
            if isinstance(found, Shift) and not found.signed_off:
                raise ConflictError(f"Still signed on at {found.place['label']}; sign off there first.",
                                    state=found.view())

    def sign_off(self, actor: Actor, place_id: str, session: str, staff_id: str | None) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            staff = self._shift_subject(actor, school, staff_id, False)
            today = self.today(school)
            found = self._find(shift_id(school.school_id, staff["staff_id"],
                                               today.isoformat(), session, place_id))
            if not isinstance(found, Shift):
                raise NotFoundError("shift", f"{staff['name']} {today} {session} {place_id}")
            if not found.signed_off:
                self.check_holds_nobody(school, staff, today, session)
            found.sign_off(self.now(), actor.record())
            return Decision([found], found.view())
        return self.execute(actor, decide)

    def held_by(self, school: School, staff_id: str, on: date, session: str) -> dict[str, str]:
        """The pupils in this staff member's custody in the session, anywhere: pupil → place."""
        return self.custody_of(school, staff_id, on, session)[0]

    def custody_of(self, school: School, staff_id: str, on: date,
                   session: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """The pupils this staff member holds in the session (pupil → place), and the handovers
        offered to them still awaiting their confirmation (who offered how many, where)."""
        held: dict[str, str] = {}
        pending: dict[str, dict[str, Any]] = {}
        for pupil_id, found in self.pupil_days_now(school.school_id, school.roll, on,
                                                   session).items():
            offer = found.state["pending"]
            if offer is not None and offer["to"]["staff_id"] == staff_id:
                hid = offer["handover_id"]
                entry = pending.setdefault(hid, {"handover_id": hid, "giver": None, "pupils": 0,
                                                 "place": offer["place"]["label"]})
                entry["pupils"] += 1
            if found.status != IN_CUSTODY:
                continue
            custodian, place = found.state["custodian"], found.state["place"]
            if custodian is not None and custodian["staff_id"] == staff_id:
                held[pupil_id] = place["label"] if place is not None else "?"
        for hid, entry in pending.items():
            handover = self._find(as_uuid(hid, "handover"), readonly=True)
            giver = handover.giver if isinstance(handover, Handover) else {"staff_id": "", "name": "?"}
            entry["giver"] = giver
        return held, list(pending.values())

    def check_holds_nobody(self, school: School, staff: StaffRef, on: date, session: str) -> None:
        """Refuse to end a shift, whoever asks, while its person still holds pupils or pupils
        are being handed to them: custody passes by a handover (or a release), never by walking
        away from it, and an offer is answered before its receiver leaves."""
        held, pending = self.custody_of(school, staff["staff_id"], on, session)
        if held:
            raise StillHoldsPupilsError(staff["name"], len(held),
                                        "、".join(sorted(set(held.values()))))
        if pending:
            raise HandoverPendingError(staff["name"], pending)
