"""Enrolment for many pupils at once: each pupil's step is the same aggregate command as alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from service.domain.common import Actor, Role
from service.domain.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    NotFoundError,
    RuleError,
)
from service.domain.pupil import ENROLMENT_STEPS, Pupil
from service.domain.refs import ActorRecord
from service.domain.schedule import GAP_TEXT
from service.domain.school import School
from service.use_cases.commands import EnrolInBulk
from service.use_cases.core import AppCore, Decision, Outcome

# A pupil refused for one of these is reported and the others go on; bad input (RuleError)
# is the same for every pupil, so it refuses the whole request and records nothing.
PER_PUPIL_REFUSALS = (ConflictError, ForbiddenError, NotFoundError)


def check_step_role(actor: Actor, school: School, pupil: Pupil, step: str) -> None:
    """Class review: the class's homeroom teacher or an admin; every other step: an admin."""
    if actor.role == Role.ADMIN.value:
        return
    if step == "class_reviewed" and actor.role == Role.TEACHER.value:
        klass = school.classes.get(pupil.class_id)
        homeroom = klass.get("homeroom_teacher_id") if klass else None
        if homeroom == actor.staff_id:
            return
        raise ForbiddenError("Only the homeroom teacher of the pupil's class or an admin reviews.")
    raise ForbiddenError(f"Your role ({actor.role}) may not record {step}.")


def check_sessions(school: School, sessions: list[str]) -> None:
    unknown = [k for k in sessions if k not in {x.key for x in school.schedule.sessions}]
    if unknown:
        raise RuleError(f"No such sessions in the schedule: {unknown}.", field="sessions")


def check_attends(school: School, pupil: Pupil, sessions: list[str], *, alone: bool) -> None:
    """Refuse care in a session the pupil's grade band does not attend: it would hold a child with
    no dismissal time. ``alone``: the pupil's own request (422); else one pupil of many (refused
    and reported, the others go on)."""
    klass = school.classes.get(pupil.class_id)
    grade = klass["grade"] if klass else None
    for session in sessions:
        gap = school.schedule.deadline_gap(session, grade)
        if gap is None:
            continue
        text = f"{pupil.name} cannot be enrolled for {session!r}: {GAP_TEXT[gap]}."
        if alone:
            raise RuleError(text, field="sessions")
        raise ConflictError(text)


@dataclass(frozen=True)
class Term:
    """What a parent applies for: the term, its dates and the sessions."""

    term: str
    starts: date
    ends: date
    sessions: list[str]

    def check(self, school: School) -> None:
        if self.ends < self.starts:
            raise RuleError("The term ends before it starts.", field="ends")
        check_sessions(school, self.sessions)


def enrol_through_to_signed(
    pupil: Pupil, term: Term, agreement: dict[str, Any], note: str, by: ActorRecord
) -> str:
    """All four steps for an agreement already signed on paper, from wherever the pupil is.

    Returns ``done`` or ``already``; raises ConflictError when the pupil's enrolment is for
    another term, rejected or withdrawn (a school decides those one pupil at a time).
    """
    if pupil.enrolment_reached("signed", term.term):
        return "already"
    if pupil.enrolment["status"] in ("rejected", "withdrawn"):
        raise ConflictError(f"Enrolment is {pupil.enrolment['status']}; decide this pupil alone.",
                            state=pupil.enrolment_view())
    if not pupil.enrolment_reached("applied", term.term):
        pupil.apply_for_care(term.term, term.starts, term.ends, term.sessions, None, by)
    for step in ENROLMENT_STEPS[1:]:
        if not pupil.enrolment_reached(step):
            pupil.advance_enrolment(step, note, by, agreement if step == "signed" else None)
    return "done"


class EnrolmentUseCases(AppCore):
    def enrol_in_bulk(self, actor: Actor, cmd: EnrolInBulk) -> Outcome:
        """One enrolment step for a list of pupils or a whole class, each pupil answered alone."""
        step, pupil_ids, class_id = cmd.step, cmd.pupil_ids, cmd.class_id
        if step not in ENROLMENT_STEPS:
            raise RuleError(f"Enrolment steps are {ENROLMENT_STEPS}.", field="step")

        def decide() -> Decision:
            school = self.school(actor.school_id)
            if class_id is not None:
                klass = school.class_(class_id)
                if actor.role != Role.ADMIN.value and klass.get("homeroom_teacher_id") != actor.staff_id:
                    raise ForbiddenError("Only the homeroom teacher of this class or an admin reviews it.")
                ids = [pid for pid, cid in school.roll.items() if cid == class_id]
            else:
                ids = list(dict.fromkeys(pupil_ids or []))
            take = self._step(actor, school, cmd)
            changed: list[Aggregate] = []
            answers: list[dict[str, Any]] = []
            for pupil_id in ids:
                try:
                    pupil = self.pupil(actor.school_id, pupil_id)
                except NotFoundError as e:
                    answers.append({"pupil_id": pupil_id, "name": None, "class_id": None,
                                    "result": "refused", "enrolment_status": None,
                                    "reason": _reason(e)})
                    continue
                reason = None
                try:
                    check_step_role(actor, school, pupil, step)
                    result = take(pupil)
                except PER_PUPIL_REFUSALS as e:
                    result, reason = "refused", _reason(e)
                answers.append({"pupil_id": pupil_id, "name": pupil.name, "class_id": pupil.class_id,
                                "result": result, "enrolment_status": pupil.enrolment["status"],
                                "reason": reason})
                if result == "done":
                    changed.append(pupil)
            counts = {k: sum(1 for a in answers if a["result"] == k) for k in ("done", "already", "refused")}
            body = {"step": step, **counts, "pupils": answers}
            return Decision(changed, body)

        return self.execute(actor, decide)

    def _step(self, actor: Actor, school: School, cmd: EnrolInBulk) -> Callable[[Pupil], str]:
        """The command one pupil gets: ``done`` when it recorded, ``already`` when at or past it."""
        by, step = actor.record(), cmd.step
        if step == "applied":
            if cmd.application is None:
                raise RuleError("An application names the term applied for.", field="term")
            a = cmd.application
            term = Term(a.term, a.starts, a.ends, list(a.sessions))
            term.check(school)

            def apply(pupil: Pupil) -> str:
                if pupil.enrolment_reached("applied", term.term):
                    return "already"
                check_attends(school, pupil, term.sessions, alone=False)
                pupil.apply_for_care(term.term, term.starts, term.ends, term.sessions, None, by)
                return "done"
            return apply
        agreement = None
        if step == "signed" and (cmd.signed_on or cmd.reference):
            agreement = {"signed_on": cmd.signed_on.isoformat() if cmd.signed_on else None,
                         "reference": cmd.reference}

        def advance(pupil: Pupil) -> str:
            if pupil.enrolment_reached(step):
                return "already"
            pupil.advance_enrolment(step, cmd.note, by, agreement)
            return "done"
        return advance


def _reason(error: DomainError) -> dict[str, Any]:
    reason: dict[str, Any] = {"code": error.code, "detail": error.detail}
    if isinstance(error, ConflictError) and error.state is not None:
        reason["current_state"] = error.state
    return reason
