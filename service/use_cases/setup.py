"""School set-up use cases: the school, its classes, groups, gates, staff and schedule."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

from service.domain.common import Actor, Role
from service.domain.errors import NotFoundError, RuleError
from service.domain.grouping import ClassCount, propose_groups
from service.domain.refs import ActorRecord
from service.domain.schedule import (
    GAP_TEXT,
    GRADE_IN_NO_BAND,
    NO_SUCH_SESSION,
    Schedule,
    ScheduleError,
)
from service.domain.school import School
from service.domain.staff import StaffToken, new_token
from service.imports.roster import GRADE_CN
from service.use_cases.commands import DefineGroup
from service.use_cases.core import AppCore, Decision, Outcome, as_uuid


def class_label(grade: int, class_no: int) -> str:
    return f"{GRADE_CN[grade]}年级({class_no})班"


def school_view(school: School) -> dict[str, Any]:
    return {
        "school_id": school.school_id, "name": school.name, "timezone": school.timezone,
        "stage": school.stage, "grades": list(school.grades),
        "classes": sorted(school.classes.values(), key=lambda c: (c["grade"], c["class_no"])),
        "groups": sorted(school.groups.values(), key=lambda g: g["name"]),
        "gates": sorted(school.gates.values(), key=lambda g: g["name"]),
        "staff": sorted(
            (s for s in school.staff.values() if s["active"]), key=lambda s: s["name"]
        ),
        "schedule": school.schedule_data,
        "pupil_count": len(school.roll),
    }


def token_view(token: StaffToken, now: datetime) -> dict[str, Any]:
    """What an admin sees of a token: never the token, nor its hash."""
    status = "revoked" if token.revoked else "expired" if token.expired(now) else "active"
    return {"token_id": str(token.id), "label": token.label, "issued_at": token.issued_at,
            "expires_at": token.expires_at, "status": status,
            "revoked_at": token.revoked_by.get("at") if token.revoked_by else None,
            "revoked_by": token.revoked_by.get("staff_name") if token.revoked_by else None}


class SetupUseCases(AppCore):
    def init_school(self, name: str, timezone: str, admin_name: str,
                    stage: str = "primary") -> dict[str, str]:
        """A new school, the grades it teaches and its first admin; the token is shown only here."""
        school = School.found(name, timezone, stage)
        admin_id = str(uuid4())
        by: ActorRecord = {"staff_id": admin_id, "staff_name": admin_name, "role": "admin",
              "at": self.now().isoformat(), "command_id": None, "device": "cli",
              "device_time": None, "place": None}
        school.declare_grades(stage, by)
        school.add_staff(admin_id, admin_name, ["admin"], None, by)
        token = new_token()
        issued = self.new_staff_token(token, school.school_id, admin_id, by, label="handover init")
        self.save(school, issued)
        return {"school_id": school.school_id, "admin_id": admin_id, "token": token}

    def describe_school(self, actor: Actor) -> dict[str, Any]:
        """The school's set-up; staff members' phone numbers are contact data, for admins only."""
        view = school_view(self.school(actor.school_id, readonly=True))
        if actor.role != Role.ADMIN:
            view["staff"] = [{**member, "phone": None} for member in view["staff"]]
        return view

    def change_school_profile(self, actor: Actor, name: str, timezone: str,
                              stage: str | None = None) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            school.change_profile(name, timezone, actor.record())
            if stage is not None and stage != getattr(school, "declared_stage", None):
                school.declare_grades(stage, actor.record())
            return Decision([school], school_view(school))
        return self.execute(actor, decide)

    def add_class(
        self, actor: Actor, grade: int, class_no: int, homeroom_teacher_id: str | None,
    ) -> Outcome:
        def decide() -> Decision:
            if grade not in GRADE_CN:
                raise RuleError("Grade is 1 to 9.", field="grade")
            school = self.school(actor.school_id)
            class_id = str(uuid4())
            school.add_class(class_id, grade, class_no, class_label(grade, class_no),
                             homeroom_teacher_id, actor.record())
            return Decision([school], school.classes[class_id], created=True)
        return self.execute(actor, decide)

    def assign_homeroom_teacher(self, actor: Actor, class_id: str, staff_id: str) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            school.assign_homeroom_teacher(class_id, staff_id, actor.record())
            return Decision([school], school.classes[class_id])
        return self.execute(actor, decide)

    def define_group(self, actor: Actor, cmd: DefineGroup) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            gid = cmd.group_id or str(uuid4())
            if cmd.group_id is not None:
                school.group(cmd.group_id)
            school.define_group(gid, cmd.name, cmd.kind, list(cmd.weekdays), cmd.room,
                                list(cmd.class_ids), cmd.teacher_id, actor.record())
            return Decision([school], school.groups[gid], created=not cmd.group_id)
        return self.execute(actor, decide)

    def add_gate(self, actor: Actor, name: str) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            gate_id = str(uuid4())
            school.add_gate(gate_id, name, actor.record())
            return Decision([school], school.gates[gate_id], created=True)
        return self.execute(actor, decide)

    def set_schedule(self, actor: Actor, data: dict[str, Any]) -> Outcome:
        def decide() -> Decision:
            try:
                schedule = Schedule.from_dict(data)
            except ScheduleError as e:
                raise RuleError(e.reason, field=f"schedule.{e.field}") from None
            except (KeyError, TypeError, ValueError) as e:
                raise RuleError(f"Schedule not understood: {e}", field="schedule") from None
            school = self.school(actor.school_id)
            school.set_schedule(schedule, actor.record())
            self._check_enrolled_keep_deadlines(school, schedule)
            return Decision([school], school.schedule_data)
        return self.execute(actor, decide)

    def _check_enrolled_keep_deadlines(self, school: School, schedule: Schedule) -> None:
        """Refuse a schedule under which a pupil enrolled for care would have no dismissal time."""
        today = self.today(school).isoformat()
        for pupil_id, class_id in school.roll.items():
            enrolment = self.pupil(school.school_id, pupil_id, readonly=True).enrolment
            if enrolment["status"] in ("none", "rejected") or enrolment["ends"] < today:
                continue
            if enrolment["status"] == "withdrawn" and enrolment["withdrawn_on"] <= today:
                continue
            grade = school.classes[class_id]["grade"]
            for session in enrolment["sessions"]:
                gap = schedule.deadline_gap(session, grade)
                if gap is None:
                    continue
                keys = [s.key for s in schedule.sessions]
                field = {NO_SUCH_SESSION: "schedule.sessions", GRADE_IN_NO_BAND: "schedule.bands"}.get(
                    gap, f"schedule.sessions[{keys.index(session) if session in keys else 0}].dismissals")
                raise RuleError(f"Pupils of grade {grade} are enrolled for {session!r} and would have "
                                f"no dismissal time: {GAP_TEXT[gap]}.", field=field)

    def set_alert_policy(self, actor: Actor, policy: dict[str, Any]) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            school.set_alert_policy(policy, actor.record())
            return Decision([school], school.alert_policy)
        return self.execute(actor, decide)

    def add_staff(
        self, actor: Actor, name: str, roles: list[str], phone: str | None
    ) -> Outcome:
        """A new staff member and their first token (shown once, stored hashed)."""
        def decide() -> Decision:
            school = self.school(actor.school_id)
            staff_id = str(uuid4())
            school.add_staff(staff_id, name, roles, phone, actor.record())
            token = new_token()
            issued = self.new_staff_token(token, school.school_id, staff_id, actor.record())
            return Decision([school, issued], {**school.staff[staff_id], "token": token,
                                               **token_view(issued, self.now())}, created=True,
                            secrets=("token",))
        return self.execute(actor, decide)

    def new_staff_token(self, token: str, school_id: str, staff_id: str, by: ActorRecord,
                        *, label: str | None = None, ttl_days: int | None = None) -> StaffToken:
        """A token that expires after ``ttl_days`` (the settings' default when not given)."""
        now = self.now()
        days = ttl_days if ttl_days is not None else self.token_ttl_days
        expires = now + timedelta(days=days) if days else None
        return StaffToken.issue(token, school_id, staff_id, by, at=now, expires_at=expires,
                                label=label)

    def issue_token(self, actor: Actor, staff_id: str, *,
                    label: str | None = None, ttl_days: int | None = None) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            member = school.member(staff_id)
            token = new_token()
            issued = self.new_staff_token(token, school.school_id, staff_id, actor.record(),
                                          label=label, ttl_days=ttl_days)
            return Decision([issued], {**member, "token": token, **token_view(issued, self.now())},
                            created=True, secrets=("token",))
        return self.execute(actor, decide)

    def staff_token(self, actor: Actor, staff_id: str, token_id: str) -> StaffToken:
        token = self._get(as_uuid(token_id, "token"), StaffToken, "token", actor.school_id)
        if token.staff_id != staff_id:
            raise NotFoundError("token", token_id)
        return token

    def revoke_token(self, actor: Actor, staff_id: str, token_id: str) -> Outcome:
        """Revoke one token (a lost tablet's): it is refused from the next request on."""
        def decide() -> Decision:
            token = self.staff_token(actor, staff_id, token_id)
            token.revoke(actor.record())
            return Decision([token], token_view(token, self.now()))
        return self.execute(actor, decide)

    def revoke_tokens(self, actor: Actor, staff_id: str, token_ids: list[str]) -> Outcome:
        """Revoke every one of these tokens that is still valid, in one transaction."""
        def decide() -> Decision:
            self.school(actor.school_id).member(staff_id)
            now = self.now()
            tokens = [self.staff_token(actor, staff_id, t) for t in token_ids]
            revoked = [t for t in tokens if not t.revoked]
            for t in revoked:
                t.revoke(actor.record())
            return Decision(list(revoked), {"revoked": len(revoked),
                                            "tokens": [token_view(t, now) for t in tokens]})
        return self.execute(actor, decide)

    def change_staff_roles(self, actor: Actor, staff_id: str, roles: list[str]) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            school.change_roles(staff_id, roles, actor.record())
            return Decision([school], school.staff[staff_id])
        return self.execute(actor, decide)

    def remove_staff(self, actor: Actor, staff_id: str) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            school.remove_staff(staff_id, actor.record())
            return Decision([school], school.staff[staff_id])
        return self.execute(actor, decide)

    def group_proposal(self, actor: Actor, day_iso: str | None) -> list[dict[str, Any]]:
        """Homework groups proposed from the signed enrolments by the policy's rule."""
        school = self.school(actor.school_id, readonly=True)
        day = date.fromisoformat(day_iso) if day_iso else self.today(school)
        counts: dict[str, int] = {cid: 0 for cid in school.classes}
        for pupil_id, class_id in school.roll.items():
            pupil = self.pupil(school.school_id, pupil_id, readonly=True)
            if pupil.enrolment["status"] == "signed" and pupil.expected_on(day, "after_school"):
                counts[class_id] += 1
        classes = [
            ClassCount(cid, c["grade"], c["label"], counts[cid]) for cid, c in school.classes.items()
        ]
        return [
            {"name": g.name, "class_ids": list(g.class_ids), "grades": list(g.grades), "count": g.count}
            for g in propose_groups(classes)
        ]
