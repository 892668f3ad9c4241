"""The School aggregate: its profile, classes, groups, gates, staff, schedule and roll."""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.domain import Aggregate, event

from service.domain.common import Role
from service.domain.errors import ConflictError, NotFoundError, RuleError
from service.domain.refs import (
    ActorRecord,
    ClassRecord,
    GateRecord,
    GroupRecord,
    RosterEntry,
    StaffRecord,
)
from service.domain.schedule import Schedule, ScheduleError, default_schedule

GROUP_KINDS = ("homework", "club")
DEFAULT_ALERT_POLICY: dict[str, Any] = {
    # Unpicked pupils escalate in steps, counted from the deadline (dismissal + grace).
    "unpicked_steps": [
        {"after_minutes": 0, "step": "guardian_contacted", "notify": ["guardian", "custodian"]},
        {"after_minutes": 30, "step": "handed_to_gatehouse",
         "notify": ["homeroom_teacher", "duty_leader"]},
        {"after_minutes": 60, "step": "safety_officer", "notify": ["safety_officer"]},
    ],
    "not_handed_over_after_minutes": 15,
    "unconfirmed_after_minutes": 10,
    "expiry_warning_days": 14,
}


# The grades a school teaches (学段): grades are 1..9, 初一..初三 being 7..9.
STAGES: dict[str, tuple[int, ...]] = {
    "primary": (1, 2, 3, 4, 5, 6),      # 小学
    "middle": (7, 8, 9),                # 初中
    "nine_year": tuple(range(1, 10)),   # 九年一贯制
}


def stage_holding(grades: set[int]) -> str:
    """The narrowest stage that teaches every grade given; a log from before stages used this."""
    for stage in ("primary", "middle", "nine_year"):
        if grades <= set(STAGES[stage]):
            return stage
    return "nine_year"


def _grade_list(grades: tuple[int, ...]) -> str:
    return f"{grades[0]}–{grades[-1]}" if grades == tuple(range(grades[0], grades[-1] + 1)) else str(list(grades))


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"Unknown time zone {name!r}.", field="timezone") from None


class School(Aggregate):
    """A school and its after-school set-up.

    Invariants: class labels are unique; every homeroom teacher, group and gate
    named elsewhere exists here; staff roles come from ``Role``; a pupil is on
    the roll of one class at a time; the schedule always validates; every class
    is of a grade the school teaches and that a grade band of the schedule holds;
    the schedule bands only grades the school teaches and holds every class's grade.
    """

    class Founded(Aggregate.Created):
        name: str
        timezone: str
        schedule: dict[str, Any]

    @event(Founded)
    def __init__(self, name: str, timezone: str, schedule: dict[str, Any]) -> None:
        self.name = name
        self.timezone = timezone
        self.schedule_data = schedule
        self.classes: dict[str, ClassRecord] = {}
        self.groups: dict[str, GroupRecord] = {}
        self.gates: dict[str, GateRecord] = {}
        self.staff: dict[str, StaffRecord] = {}
        self.roll: dict[str, str] = {}
        self.alert_policy: dict[str, Any] = copy.deepcopy(DEFAULT_ALERT_POLICY)
        self.declared_stage: str | None = None  # founded before stages were declared: derived

    @classmethod
    def found(cls, name: str, timezone: str = "Asia/Shanghai", stage: str = "primary") -> School:
        """A new school with the default schedule for the grades it teaches; declare them next."""
        name = name.strip()
        if not name:
            raise RuleError("A school needs a name.", field="name")
        check_timezone(timezone)
        check_stage(stage)
        return cls(name=name, timezone=timezone, schedule=default_schedule(STAGES[stage]).to_dict())

    # -- reads -------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def schedule(self) -> Schedule:
        cached = getattr(self, "_schedule_cache", None)
        if cached is None or cached[0] is not self.schedule_data:
            # Parsed once per stored schedule: every afternoon command asks for it.
            cached = (self.schedule_data, Schedule.from_dict(self.schedule_data))
            self._schedule_cache = cached
        return cached[1]

    @property
    def stage(self) -> str:
        declared: str | None = getattr(self, "declared_stage", None)
        if declared is not None:
            return declared
        # An older log never declared its grades: the narrowest stage holding its classes and bands.
        taught = {c["grade"] for c in self.classes.values()}
        taught |= {g for b in self.schedule.bands for g in b.grades}
        return stage_holding(taught)

    @property
    def grades(self) -> tuple[int, ...]:
        return STAGES[self.stage]

    def check_grade(self, grade: int, field: str = "grade") -> None:
        """A class of this grade may exist here: taught, and timed by a band of the schedule."""
        if grade not in self.grades:
            raise RuleError(f"Grade {grade} is not taught at this school (grades "
                            f"{_grade_list(self.grades)}).", field=field)
        if self.schedule.band_of(grade) is None:
            raise RuleError(f"No grade band of the schedule holds grade {grade}, so its pupils "
                            "would have no dismissal time; add it to a band first.", field=field)

    @property
    def school_id(self) -> str:
        return str(self.id)

    def class_(self, class_id: str) -> ClassRecord:
        try:
            return self.classes[class_id]
        except KeyError:
            raise NotFoundError("class", class_id) from None

    def class_by_grade(self, grade: int, class_no: int) -> ClassRecord | None:
        for klass in self.classes.values():
            if klass["grade"] == grade and klass["class_no"] == class_no:
                return klass
        return None

    def member(self, staff_id: str) -> StaffRecord:
        found = self.staff.get(staff_id)
        if found is None or not found["active"]:
            raise NotFoundError("staff member", staff_id)
        return found

    def group(self, group_id: str) -> GroupRecord:
        try:
            return self.groups[group_id]
        except KeyError:
            raise NotFoundError("group", group_id) from None

    def gate(self, gate_id: str) -> GateRecord:
        try:
            return self.gates[gate_id]
        except KeyError:
            raise NotFoundError("gate", gate_id) from None

    def place_label(self, place_id: str) -> str:
        if place_id in self.groups:
            return str(self.groups[place_id]["name"])
        if place_id in self.gates:
            return str(self.gates[place_id]["name"])
        if place_id == "gatehouse":
            return "门卫室"
        raise NotFoundError("place", place_id)

    # -- commands ----------------------------------------------------------
    def change_profile(self, name: str, timezone: str, by: ActorRecord) -> None:
        if not name.strip():
            raise RuleError("A school needs a name.", field="name")
        check_timezone(timezone)
        self._profile_changed(name=name.strip(), timezone=timezone, by=by)

    class ProfileChanged(Aggregate.Event):
        name: str
        timezone: str
        by: ActorRecord

    @event(ProfileChanged)
    def _profile_changed(self, name: str, timezone: str, by: ActorRecord) -> None:
        self.name = name
        self.timezone = timezone

    def declare_grades(self, stage: str, by: ActorRecord) -> None:
        """Which grades the school teaches; no class may be left outside them."""
        check_stage(stage)
        grades = STAGES[stage]
        for klass in sorted(self.classes.values(), key=lambda c: (c["grade"], c["class_no"])):
            if klass["grade"] not in grades:
                raise RuleError(f"Class {klass['label']} is of grade {klass['grade']}, which "
                                f"{stage} ({_grade_list(grades)}) does not teach.", field="grades")
        self._grades_declared(stage=stage, grades=list(grades), by=by)

    class GradesDeclared(Aggregate.Event):
        stage: str
        grades: list[int]
        by: ActorRecord

    @event(GradesDeclared)
    def _grades_declared(self, stage: str, grades: list[int], by: ActorRecord) -> None:
        self.declared_stage = stage

    def add_class(
        self, class_id: str, grade: int, class_no: int, label: str,
        homeroom_teacher_id: str | None, by: ActorRecord,
    ) -> None:
        self.check_grade(grade)
        if self.class_by_grade(grade, class_no) is not None:
            raise ConflictError(f"Class {label} already exists.", state={"label": label})
        if homeroom_teacher_id is not None:
            self.member(homeroom_teacher_id)
        self._class_added(
            class_id=class_id, grade=grade, class_no=class_no, label=label,
            homeroom_teacher_id=homeroom_teacher_id, by=by,
        )

    class ClassAdded(Aggregate.Event):
        class_id: str
        grade: int
        class_no: int
        label: str
        homeroom_teacher_id: str | None
        by: ActorRecord

    @event(ClassAdded)
    def _class_added(
        self, class_id: str, grade: int, class_no: int, label: str,
        homeroom_teacher_id: str | None, by: ActorRecord,
    ) -> None:
        self.classes[class_id] = {
            "class_id": class_id, "grade": grade, "class_no": class_no,
            "label": label, "homeroom_teacher_id": homeroom_teacher_id,
        }

    def assign_homeroom_teacher(self, class_id: str, staff_id: str, by: ActorRecord) -> None:
        self.class_(class_id)
        self.member(staff_id)
        self._homeroom_teacher_assigned(class_id=class_id, staff_id=staff_id, by=by)

    class HomeroomTeacherAssigned(Aggregate.Event):
        class_id: str
        staff_id: str
        by: ActorRecord

    @event(HomeroomTeacherAssigned)
    def _homeroom_teacher_assigned(self, class_id: str, staff_id: str, by: ActorRecord) -> None:
        self.classes[class_id]["homeroom_teacher_id"] = staff_id

    def define_group(
        self, group_id: str, name: str, kind: str, weekdays: list[int], room: str,
        class_ids: list[str], teacher_id: str | None, by: ActorRecord,
    ) -> None:
        if kind not in GROUP_KINDS:
            raise RuleError(f"A group is one of {GROUP_KINDS}.", field="kind")
        if not name.strip():
            raise RuleError("A group needs a name.", field="name")
        if any(d not in range(1, 8) for d in weekdays) or len(set(weekdays)) != len(weekdays):
            raise RuleError("Weekdays are distinct numbers 1 (Monday) to 7.", field="weekdays")
        for class_id in class_ids:
            self.class_(class_id)
        if teacher_id is not None:
            self.member(teacher_id)
        taken = {g["name"] for gid, g in self.groups.items() if gid != group_id}
        if name.strip() in taken:
            raise ConflictError(f"A group named {name!r} already exists.", state={"name": name})
        self._group_defined(
            group_id=group_id, name=name.strip(), kind=kind, weekdays=sorted(weekdays),
            room=room.strip(), class_ids=list(class_ids), teacher_id=teacher_id, by=by,
        )

    class GroupDefined(Aggregate.Event):
        group_id: str
        name: str
        kind: str
        weekdays: list[int]
        room: str
        class_ids: list[str]
        teacher_id: str | None
        by: ActorRecord

    @event(GroupDefined)
    def _group_defined(
        self, group_id: str, name: str, kind: str, weekdays: list[int], room: str,
        class_ids: list[str], teacher_id: str | None, by: ActorRecord,
    ) -> None:
        self.groups[group_id] = {
            "group_id": group_id, "name": name, "kind": kind, "weekdays": weekdays,
            "room": room, "class_ids": class_ids, "teacher_id": teacher_id,
        }

    def add_gate(self, gate_id: str, name: str, by: ActorRecord) -> None:
        if not name.strip():
            raise RuleError("A gate needs a name.", field="name")
        if any(g["name"] == name.strip() for g in self.gates.values()):
            raise ConflictError(f"A gate named {name!r} already exists.", state={"name": name})
        self._gate_added(gate_id=gate_id, name=name.strip(), by=by)

    class GateAdded(Aggregate.Event):
        gate_id: str
        name: str
        by: ActorRecord

    @event(GateAdded)
    def _gate_added(self, gate_id: str, name: str, by: ActorRecord) -> None:
        self.gates[gate_id] = {"gate_id": gate_id, "name": name}

    def set_schedule(self, schedule: Schedule, by: ActorRecord) -> None:
        try:
            schedule.validate()
        except ScheduleError as e:
            raise RuleError(e.reason, field=f"schedule.{e.field}") from None
        taught = self.grades
        for i, band in enumerate(schedule.bands):
            outside = [g for g in band.grades if g not in taught]
            if outside:
                raise RuleError(f"Band {band.key!r} names grade {outside[0]}, which this school "
                                f"does not teach (grades {_grade_list(taught)}).",
                                field=f"schedule.bands[{i}].grades")
        for klass in sorted(self.classes.values(), key=lambda c: (c["grade"], c["class_no"])):
            if schedule.band_of(klass["grade"]) is None:
                raise RuleError(f"No band holds grade {klass['grade']} of class {klass['label']}: "
                                "its pupils would have no dismissal time.", field="schedule.bands")
        self._schedule_set(schedule=schedule.to_dict(), by=by)

    class ScheduleSet(Aggregate.Event):
        schedule: dict[str, Any]
        by: ActorRecord

    @event(ScheduleSet)
    def _schedule_set(self, schedule: dict[str, Any], by: ActorRecord) -> None:
        self.schedule_data = schedule

    def set_alert_policy(self, policy: dict[str, Any], by: ActorRecord) -> None:
        steps = policy.get("unpicked_steps", [])
        afters = [s["after_minutes"] for s in steps]
        if not steps or afters != sorted(afters) or len(set(afters)) != len(afters):
            raise RuleError("Escalation steps are listed in increasing after_minutes.",
                            field="unpicked_steps")
        self._alert_policy_set(policy=policy, by=by)

    class AlertPolicySet(Aggregate.Event):
        policy: dict[str, Any]
        by: ActorRecord

    @event(AlertPolicySet)
    def _alert_policy_set(self, policy: dict[str, Any], by: ActorRecord) -> None:
        self.alert_policy = policy

    def add_staff(
        self, staff_id: str, name: str, roles: list[str], phone: str | None, by: ActorRecord
    ) -> None:
        if not name.strip():
            raise RuleError("A staff member needs a name.", field="name")
        self._check_roles(roles)
        self._staff_joined(staff_id=staff_id, name=name.strip(), roles=roles, phone=phone, by=by)

    @staticmethod
    def _check_roles(roles: list[str]) -> None:
        allowed = {r.value for r in Role}
        if not roles or any(r not in allowed for r in roles):
            raise RuleError(f"Roles are one or more of {sorted(allowed)}.", field="roles")

    class StaffJoined(Aggregate.Event):
        staff_id: str
        name: str
        roles: list[str]
        phone: str | None
        by: ActorRecord

    @event(StaffJoined)
    def _staff_joined(
        self, staff_id: str, name: str, roles: list[str], phone: str | None, by: ActorRecord
    ) -> None:
        self.staff[staff_id] = {
            "staff_id": staff_id, "name": name, "roles": sorted(set(roles)),
            "phone": phone, "active": True,
        }

    def change_roles(self, staff_id: str, roles: list[str], by: ActorRecord) -> None:
        self.member(staff_id)
        self._check_roles(roles)
        self._staff_roles_changed(staff_id=staff_id, roles=roles, by=by)

    class StaffRolesChanged(Aggregate.Event):
        staff_id: str
        roles: list[str]
        by: ActorRecord

    @event(StaffRolesChanged)
    def _staff_roles_changed(self, staff_id: str, roles: list[str], by: ActorRecord) -> None:
        self.staff[staff_id]["roles"] = sorted(set(roles))

    def remove_staff(self, staff_id: str, by: ActorRecord) -> None:
        self.member(staff_id)
        if staff_id == by.get("staff_id"):
            raise RuleError("You cannot remove yourself.", field="staff_id")
        self._staff_left(staff_id=staff_id, by=by)

    class StaffLeft(Aggregate.Event):
        staff_id: str
        by: ActorRecord

    @event(StaffLeft)
    def _staff_left(self, staff_id: str, by: ActorRecord) -> None:
        self.staff[staff_id]["active"] = False

    def register_pupils(self, entries: list[RosterEntry], by: ActorRecord) -> None:
        for entry in entries:
            self.class_(entry["class_id"])
            if entry["pupil_id"] in self.roll:
                raise ConflictError("Pupil already on the roll.", state=entry)
        if entries:
            self._pupils_registered(entries=entries, by=by)

    class PupilsRegistered(Aggregate.Event):
        entries: list[RosterEntry]
        by: ActorRecord

    @event(PupilsRegistered)
    def _pupils_registered(self, entries: list[RosterEntry], by: ActorRecord) -> None:
        for entry in entries:
            self.roll[entry["pupil_id"]] = entry["class_id"]

    def move_pupil(self, pupil_id: str, class_id: str, by: ActorRecord) -> None:
        if pupil_id not in self.roll:
            raise NotFoundError("pupil", pupil_id)
        self.class_(class_id)
        self._pupil_moved(pupil_id=pupil_id, class_id=class_id, by=by)

    class PupilMovedClass(Aggregate.Event):
        pupil_id: str
        class_id: str
        by: ActorRecord

    @event(PupilMovedClass)
    def _pupil_moved(self, pupil_id: str, class_id: str, by: ActorRecord) -> None:
        self.roll[pupil_id] = class_id


def check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise RuleError(f"Grades are one of {sorted(STAGES)}.", field="grades")


def school_uuid(school_id: str) -> UUID:
    try:
        return UUID(school_id)
    except ValueError:
        raise NotFoundError("school", school_id) from None
