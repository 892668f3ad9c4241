"""Care-log use cases: a supervising adult writes a note or an emergency, and follows it up."""

from __future__ import annotations

from datetime import date

from service.domain.care_note import CareNote
from service.domain.common import Actor, Role
from service.domain.errors import ForbiddenError
from service.domain.refs import GroupRecord
from service.domain.shift import Shift, shift_id
from service.use_cases.commands import FollowUpCareNote, WriteCareNote
from service.use_cases.core import AppCore, Decision, Outcome, as_uuid

NOTE_FOR_ANY_GROUP = (Role.ADMIN.value, Role.DUTY_LEADER.value, Role.SAFETY_OFFICER.value)


class CareUseCases(AppCore):
    def care_note(self, school_id: str, note_id: str) -> CareNote:
        return self._get(as_uuid(note_id, "care note"), CareNote, "care note", school_id)

    def write_care_note(self, actor: Actor, cmd: WriteCareNote) -> Outcome:
        """A note or an emergency in the group's care log, in the writer's name."""
        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            group = school.group(cmd.group_id)
            on = self.session_day(school, cmd.day, cmd.session)
            self._require_supervising(actor, school.school_id, group, cmd.group_id, on, cmd.session)
            for pupil_id in cmd.pupil_ids:
                self.pupil(school.school_id, pupil_id, readonly=True)
            note = CareNote.write(
                school_id=school.school_id, day=on.isoformat(), session=cmd.session,
                group_id=cmd.group_id, kind=cmd.kind, text=cmd.text, actions_taken=cmd.actions_taken,
                guardian_notified=cmd.guardian_notified,
                reported_to_leadership=cmd.reported_to_leadership,
                pupil_ids=list(cmd.pupil_ids), by=actor.record(),
            )
            return Decision([note], note.view(), created=True)
        return self.execute(actor, decide)

    def _require_supervising(self, actor: Actor, school_id: str, group: GroupRecord, group_id: str,
                             on: date, session: str) -> None:
        """A group's care log is written by those who supervise it: its teacher, whoever signed on
        for it that session (a substitute), or a duty leader, a safety officer or an admin."""
        if actor.role in NOTE_FOR_ANY_GROUP or actor.staff_id == group["teacher_id"]:
            return
        signed_on = self._find(shift_id(school_id, actor.staff_id, on.isoformat(), session, group_id),
                               readonly=True)
        if not isinstance(signed_on, Shift):
            raise ForbiddenError(f"Only whoever supervises {group['name']} writes in its care log.")

    def follow_up_care_note(self, actor: Actor, cmd: FollowUpCareNote) -> Outcome:
        def decide() -> Decision:
            note = self.care_note(actor.school_id, cmd.note_id)
            note.follow_up(cmd.actions_taken, cmd.guardian_notified, cmd.reported_to_leadership,
                           actor.record())
            return Decision([note], note.view())
        return self.execute(actor, decide)

    def care_log_day(self, actor: Actor, day: date | None) -> date:
        """The day a care log is read for: the one asked for, or the school's today."""
        return day or self.today(self.school(actor.school_id, readonly=True))
