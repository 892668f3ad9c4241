"""The shapes events record about people and places: plain dicts in the stored JSON, typed here."""

from __future__ import annotations

from typing import NotRequired, Required, TypedDict


class ActorRecord(TypedDict):
    """Who did it (``by`` of every event): ``Actor.record()``, or the watcher acting on the clock."""

    staff_id: str
    staff_name: str
    role: str
    at: str
    command_id: str | None
    device: str | None
    device_time: str | None
    place: str | None


class StaffRef(TypedDict):
    """A staff member as a handover names them: the giver, the receiver, the custodian, the approver."""

    staff_id: str
    name: str


class PlaceRef(TypedDict):
    """Where a pupil is held or leaves: a group's room, a gate, or the gatehouse."""

    id: str
    label: str
    kind: str  # group | gate | gatehouse


class AdultRef(TypedDict):
    """The adult at the gate as they came: whoever they are, authorised or not."""

    name: str | None
    relation: str | None
    phone: str | None
    id_tail: str | None


class CollectorRef(TypedDict):
    """The entry on the pupil's file that allowed the adult to collect."""

    kind: str  # guardian | authorised | one_day
    ref_id: str
    name: str


class RosterEntry(TypedDict):
    """A pupil put on the school's roll, in a class."""

    pupil_id: str
    class_id: str


class ClassRecord(TypedDict):
    class_id: str
    grade: int
    class_no: int
    label: str
    homeroom_teacher_id: str | None


class GroupRecord(TypedDict):
    group_id: str
    name: str
    kind: str  # homework | club
    weekdays: list[int]
    room: str
    class_ids: list[str]
    teacher_id: str | None


class GateRecord(TypedDict):
    gate_id: str
    name: str


class StaffRecord(TypedDict):
    staff_id: str
    name: str
    roles: list[str]
    phone: str | None
    active: bool


class GuardianRecord(TypedDict):
    guardian_id: str
    name: str
    relation: str
    phone: str
    may_collect: bool
    id_tail: str | None


class AuthorisationRecord(TypedDict):
    authorisation_id: str
    name: str
    relation: str | None
    phone: str | None
    id_tail: str | None
    valid_from: str | None
    valid_to: str | None
    document: str | None
    given_by_guardian_id: str | None
    via: str
    caller: str | None
    one_day: bool
    revoked: bool
    recorded_by: ActorRecord


class RestrictionRecord(TypedDict):
    restriction_id: str
    name: str
    id_tail: str | None
    relation: str | None
    reason: str
    document: str | None
    valid_from: str | None
    valid_to: str | None
    lifted: bool


class StatementRecord(TypedDict):
    statement_id: str
    valid_from: str
    valid_to: str | None
    weekdays: list[int]
    document: str | None
    given_by_guardian_id: str
    withdrawn: bool


class Agreement(TypedDict):
    """The signed enrolment agreement (协议书)."""

    signed_on: str | None
    reference: str | None


# -- one pupil's chain of custody for a session, and the state it comes to ---------------------
class ChainEntry(TypedDict, total=False):
    """One fact of a pupil's day as the chain keeps it: ``seq``, ``type`` and ``by`` always, then
    the fields of that type of fact (the event's own attributes)."""

    seq: Required[int]
    type: Required[str]  # absent | signed_in | offered | offer_withdrawn | custody_taken | ...
    by: Required[ActorRecord]
    with_leave: bool
    reason: str
    custodian: StaffRef
    place: PlaceRef
    handover_id: str
    kind: str
    giver: StaffRef | None
    to: StaffRef
    from_session: str
    to_session: str
    adult: AdultRef
    collector: CollectorRef
    identity_check: str
    gate: PlaceRef | None
    note: str | None
    statement_id: str
    approved_by: StaffRef
    homeroom_informed: bool
    corrects: int
    corrected_type: str


class PendingHandover(TypedDict):
    """An offer the receiver has not yet confirmed: custody stays with the giver."""

    handover_id: str
    kind: str
    to: StaffRef
    place: PlaceRef
    from_session: NotRequired[str]


class GoneRecord(TypedDict):
    how: str  # released | went_home_alone | left_early
    adult: AdultRef | None
    at: str
    by: str


class PassedOnRecord(TypedDict):
    """Handed into a later session of the day, which now holds the pupil."""

    session: str
    custodian: StaffRef
    place: PlaceRef
    handover_id: str
    at: str


class CameFromRecord(TypedDict):
    session: str
    giver: StaffRef | None
    handover_id: str


class CustodyState(TypedDict):
    """Where the pupil is, derived from the facts of the chain that still stand."""

    status: str  # not_handed_over | absent | in_custody | passed_on | gone
    with_leave: bool | None
    absence_reason: str | None
    custodian: StaffRef | None
    place: PlaceRef | None
    pending: PendingHandover | None
    gone: GoneRecord | None
    passed_on: PassedOnRecord | None
    came_from: CameFromRecord | None
