"""The CareNote aggregate: a care-log entry by a supervising adult, a note or an emergency."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from service.domain.errors import RuleError
from service.domain.refs import ActorRecord

KINDS = ("note", "emergency")
MAX_TEXT = 2000


class CareNote(Aggregate):
    """One entry in a group's care log (看护日志) for one session of one day.

    Invariants: an entry has text; an emergency says what was done about it
    (the policy: rescue first, notify the guardian, report to the leadership
    group); once the guardian was notified or the leadership informed, that
    stays so; nothing is edited: a follow-up adds what was done later.
    """

    class Written(Aggregate.Created):
        school_id: str
        day: str
        session: str
        group_id: str
        kind: str
        text: str
        actions_taken: str
        guardian_notified: bool
        reported_to_leadership: bool
        pupil_ids: list[str]
        by: ActorRecord

    @event(Written)
    def __init__(
        self, school_id: str, day: str, session: str, group_id: str, kind: str, text: str,
        actions_taken: str, guardian_notified: bool, reported_to_leadership: bool,
        pupil_ids: list[str], by: ActorRecord,
    ) -> None:
        self.school_id = school_id
        self.day = day
        self.session = session
        self.group_id = group_id
        self.kind = kind
        self.text = text
        self.actions_taken = actions_taken
        self.guardian_notified = guardian_notified
        self.reported_to_leadership = reported_to_leadership
        self.pupil_ids = pupil_ids
        self.by = by
        self.follow_ups: list[dict[str, Any]] = []

    @classmethod
    def write(
        cls, *, school_id: str, day: str, session: str, group_id: str, kind: str, text: str,
        actions_taken: str, guardian_notified: bool, reported_to_leadership: bool,
        pupil_ids: list[str], by: ActorRecord,
    ) -> CareNote:
        if kind not in KINDS:
            raise RuleError(f"A care-log entry is one of {KINDS}.", field="kind")
        text, actions_taken = _clean(text, "text"), _clean(actions_taken, "actions_taken")
        if not text:
            raise RuleError("A care-log entry says what happened.", field="text")
        if kind == "emergency" and not actions_taken:
            raise RuleError("An emergency entry says what was done (rescue first).",
                            field="actions_taken")
        if len(set(pupil_ids)) != len(pupil_ids):
            raise RuleError("A pupil is named twice.", field="pupil_ids")
        return cls(
            school_id=school_id, day=day, session=session, group_id=group_id, kind=kind,
            text=text, actions_taken=actions_taken, guardian_notified=guardian_notified,
            reported_to_leadership=reported_to_leadership, pupil_ids=list(pupil_ids), by=by,
        )

    @property
    def outstanding(self) -> list[str]:
        """What the policy still asks of an emergency: notify the guardian, report upwards."""
        if self.kind != "emergency":
            return []
        return [step for step, done in (("notify_guardian", self.guardian_notified),
                                         ("report_to_leadership", self.reported_to_leadership))
                if not done]

    def view(self) -> dict[str, Any]:
        return {
            "note_id": str(self.id), "day": self.day, "session": self.session,
            "group_id": self.group_id, "kind": self.kind, "text": self.text,
            "actions_taken": self.actions_taken, "guardian_notified": self.guardian_notified,
            "reported_to_leadership": self.reported_to_leadership, "pupil_ids": self.pupil_ids,
            "by": self.by, "follow_ups": self.follow_ups, "outstanding": self.outstanding,
        }

    def follow_up(self, actions_taken: str, guardian_notified: bool,
                  reported_to_leadership: bool, by: ActorRecord) -> None:
        """Add what was done since: a step taken, the guardian notified, the leadership told."""
        actions_taken = _clean(actions_taken, "actions_taken")
        news = (guardian_notified and not self.guardian_notified) or (
            reported_to_leadership and not self.reported_to_leadership)
        if not actions_taken and not news:
            raise RuleError("A follow-up says what was done, or notifies someone new.",
                            field="actions_taken")
        self._followed_up(actions_taken=actions_taken, guardian_notified=guardian_notified,
                          reported_to_leadership=reported_to_leadership, by=by)

    class FollowedUp(Aggregate.Event):
        actions_taken: str
        guardian_notified: bool
        reported_to_leadership: bool
        by: ActorRecord

    @event(FollowedUp)
    def _followed_up(self, actions_taken: str, guardian_notified: bool,
                     reported_to_leadership: bool, by: ActorRecord) -> None:
        self.guardian_notified = self.guardian_notified or guardian_notified
        self.reported_to_leadership = self.reported_to_leadership or reported_to_leadership
        self.follow_ups = [*self.follow_ups, {
            "actions_taken": actions_taken, "guardian_notified": guardian_notified,
            "reported_to_leadership": reported_to_leadership, "by": by}]


def _clean(text: str, field: str) -> str:
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise RuleError(f"At most {MAX_TEXT} characters.", field=field)
    return text
