"""The shapes events record about people and places: plain dicts in the stored JSON, typed here."""

from __future__ import annotations

from typing import TypedDict


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
