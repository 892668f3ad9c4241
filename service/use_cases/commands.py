"""What staff ask the school to record about the afternoon: one command object per request.

A route builds one of these from its validated request and hands it, with the actor, to its use
case; the demo, the month generator and the tests build them directly. A command says what was
asked, never what the rules decided: the use case decides, and the recording methods of the
aggregates accept only the decisions the rules produced (``service.domain.decisions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from service.domain.refs import AdultRef

AFTER_SCHOOL = "after_school"


def came(name: str | None, relation: str | None = None, phone: str | None = None,
         id_tail: str | None = None) -> AdultRef:
    """The adult at the gate as they came: whoever they are, authorised or not."""
    return {"name": name, "relation": relation, "phone": phone, "id_tail": id_tail}


@dataclass(frozen=True)
class HandOver:
    """Offer pupils to another adult; custody moves only when they confirm with their own count.

    Name the pupils, or a class to hand over everyone expected and not yet handed over; with
    ``to_session`` the named pupils pass into a later session the same day (evening study)."""

    to_staff_id: str
    place_id: str
    count: int
    pupil_ids: tuple[str, ...] | None = None
    class_id: str | None = None
    day: date | None = None
    session: str = AFTER_SCHOOL
    note: str | None = None
    to_session: str | None = None


@dataclass(frozen=True)
class ConfirmHandover:
    """The receiver takes custody with their own count; pupils not received are named."""

    handover_id: str
    count: int
    received_pupil_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WithdrawHandover:
    handover_id: str
    reason: str


@dataclass(frozen=True)
class MarkAbsent:
    """Absent for the session: with leave reported by the family (请假), or not."""

    pupil_id: str
    with_leave: bool
    reason: str = ""
    day: date | None = None
    session: str = AFTER_SCHOOL


@dataclass(frozen=True)
class SignIn:
    """The caller takes custody of these pupils at this place (roll call)."""

    pupil_ids: tuple[str, ...]
    place_id: str
    day: date | None = None
    session: str = AFTER_SCHOOL


@dataclass(frozen=True)
class Release:
    """Release one pupil or several siblings to one adult at a gate: a collector on file
    (``collector_id``), or the adult as named at the gate (``adult``)."""

    pupil_ids: tuple[str, ...]
    gate_id: str
    identity_check: str
    collector_id: str | None = None
    adult: AdultRef | None = None
    day: date | None = None
    session: str = AFTER_SCHOOL


@dataclass(frozen=True)
class RefuseRelease:
    """A member of staff turned an adult away, saying why."""

    pupil_id: str
    adult: AdultRef
    reason: str
    gate_id: str | None = None
    day: date | None = None
    session: str = AFTER_SCHOOL


@dataclass(frozen=True)
class GoHomeAlone:
    """Let a pupil go home alone: allowed only under a guardian's statement on file."""

    pupil_id: str
    gate_id: str | None = None
    day: date | None = None
    session: str = AFTER_SCHOOL


@dataclass(frozen=True)
class LeaveEarly:
    """Collected before the dismissal time, with a member of staff's approval."""

    pupil_id: str
    approved_by_staff_id: str
    reason: str
    homeroom_informed: bool
    collector_id: str | None = None
    adult: AdultRef | None = None
    day: date | None = None
    session: str = AFTER_SCHOOL


@dataclass(frozen=True)
class Correct:
    """Void one recorded event of a pupil's day (its ``seq``), saying why; it stays on record."""

    pupil_id: str
    day: date
    seq: int
    reason: str
    session: str = AFTER_SCHOOL


# -- a pupil's file: who may collect, who may not, and the statements on file ------------------
@dataclass(frozen=True)
class Guardian:
    """A guardian on the pupil's file (监护人); ``may_collect`` unless a court says otherwise."""

    name: str
    phone: str
    relation: str = "监护人"
    may_collect: bool = True
    id_tail: str | None = None


@dataclass(frozen=True)
class RegisterPupil:
    name: str
    gender: str
    class_id: str
    guardians: tuple[Guardian, ...] = ()


@dataclass(frozen=True)
class Authorise:
    """Another adult who may collect, given by a guardian: for a window, or for one ``day``."""

    name: str
    relation: str | None = None
    phone: str | None = None
    id_tail: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    day: date | None = None
    document: str | None = None
    given_by_guardian_id: str | None = None
    via: str = "in_person"


@dataclass(frozen=True)
class PhoneAuthorisation:
    """A guardian on file rang: the adult they name may collect on that day only."""

    guardian_id: str
    adult: AdultRef
    day: date | None = None


@dataclass(frozen=True)
class Restrict:
    """A "do not release to" entry (禁止接送), e.g. from a court order."""

    name: str
    reason: str
    id_tail: str | None = None
    document: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    relation: str | None = None


@dataclass(frozen=True)
class FileStatement:
    """A guardian's written statement that the pupil may go home alone (自行回家说明)."""

    valid_from: date
    weekdays: tuple[int, ...]
    given_by_guardian_id: str
    valid_to: date | None = None
    document: str | None = None


@dataclass(frozen=True)
class ApplyForCare:
    """The parent's application (家长申请) for a term's sessions."""

    term: str
    starts: date
    ends: date
    sessions: tuple[str, ...] = (AFTER_SCHOOL,)
    guardian_id: str | None = None


# -- the care log, the school's groups and the staff's shifts ----------------------------------
@dataclass(frozen=True)
class WriteCareNote:
    """A note or an emergency in a group's care log: rescue first, tell the guardian, report."""

    group_id: str
    text: str
    kind: str = "note"
    actions_taken: str = ""
    guardian_notified: bool = False
    reported_to_leadership: bool = False
    pupil_ids: tuple[str, ...] = ()
    day: date | None = None
    session: str = AFTER_SCHOOL


@dataclass(frozen=True)
class FollowUpCareNote:
    note_id: str
    actions_taken: str = ""
    guardian_notified: bool = False
    reported_to_leadership: bool = False


@dataclass(frozen=True)
class DefineGroup:
    """A homework group or a club: where it meets, on which weekdays, for which classes.
    Without ``group_id`` a new group; with it, that group as it now stands."""

    name: str
    kind: str
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    room: str = ""
    class_ids: tuple[str, ...] = ()
    teacher_id: str | None = None
    group_id: str | None = None


@dataclass(frozen=True)
class SignOn:
    """Sign on for a session at a group (or for duty): yourself, or, if you manage the day, a
    colleague (``staff_id``) or a substitute for one (``substitute_for``)."""

    place_id: str
    session: str = AFTER_SCHOOL
    staff_id: str | None = None
    substitute_for: str | None = None


# -- incidents -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportIncident:
    """Something happened to pupils in the school's care: what, how bad, to whom, where, who saw
    it, and the first aid given (by ``first_aid_by``, a member of staff)."""

    kind: str
    severity: str
    description: str
    pupil_ids: tuple[str, ...] = ()
    place_id: str | None = None
    where: str = ""
    witnesses: tuple[str, ...] = ()
    first_aid_by: str | None = None
    first_aid: str = ""
    day: date | None = None
    session: str | None = None


@dataclass(frozen=True)
class NotifyGuardian:
    """A try to tell a pupil's guardian of an incident: how, and whether they were reached."""

    incident_id: str
    pupil_id: str
    guardian: str
    how: str
    reached: bool
    note: str = ""


@dataclass(frozen=True)
class IncidentStep:
    """One further step on an incident: ``escalate`` (to the people named in ``to``), ``action``,
    ``close`` (``text`` is the outcome), ``acknowledge`` (the guardian of ``pupil_id``), or
    ``correct`` (void step ``corrects``, ``text`` saying why)."""

    incident_id: str
    step: str
    text: str = ""
    to: tuple[str, ...] = ()
    pupil_id: str | None = None
    corrects: int | None = None


@dataclass(frozen=True)
class EnrolInBulk:
    """One enrolment step for the pupils named, or for a whole class: ``applied`` (with the term
    applied for), ``class_reviewed``, ``school_approved`` or ``signed`` (with the agreement's date
    and where it is filed, when known)."""

    step: str
    pupil_ids: tuple[str, ...] | None = None
    class_id: str | None = None
    application: ApplyForCare | None = None
    note: str | None = None
    signed_on: date | None = None
    reference: str | None = None
