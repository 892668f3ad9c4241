"""The DutyDay aggregate: one school's duty for one session of one day — roster, patrols, clearing."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.errors import ConflictError, RuleError
from service.domain.refs import ActorRecord, StaffRef

DUTY_DAY_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/duty-day")
LEADERS_PER_DAY = 2  # 学校领导班子成员每天2人轮流值班
GUARDS_PER_DAY = 2   # two guards a day man the gates and register visitors


def duty_day_id(school_id: str, day: str, session: str) -> UUID:
    return uuid5(DUTY_DAY_NAMESPACE, f"{school_id}/{day}/{session}")


class RosterGuard(TypedDict):
    staff_id: str
    name: str
    gate_id: str | None
    gate: str | None


class Blocker(TypedDict):
    """What stands in the way of clearing the school, named as a person reads it."""

    kind: str  # pupil | alert | incident
    id: str
    name: str  # the pupil's name, the alert's kind, the incident's kind
    code: str  # the pupil's status, the alert's kind, why the incident blocks
    place: str | None  # where a pupil is held
    detail: str  # all of it in words


class DutyDay(Aggregate):
    """The duty of one session of one day (值班): who is rostered, the patrols, the clearing (清校).

    Invariants: one per school, day and session (its id derives from them); a roster names
    two distinct duty leaders and two distinct guards, and a new roster names the one it
    replaces; patrols are added, never changed; the school is cleared at most once, and only
    when nothing blocks it: a refusal is recorded, naming each blocker (which the use case
    decides from the live views).
    """

    class Opened(Aggregate.Created):
        school_id: str
        day: str
        session: str

    @staticmethod
    def create_id(school_id: str, day: str, session: str) -> UUID:
        return duty_day_id(school_id, day, session)

    @event(Opened)
    def __init__(self, school_id: str, day: str, session: str) -> None:
        self.school_id = school_id
        self.day = day
        self.session = session
        self.rosters: list[dict[str, Any]] = []
        self.patrols: list[dict[str, Any]] = []
        self.cleared: dict[str, Any] | None = None
        self.versions: dict[str, int] = {}
        self.refusals: list[dict[str, Any]] = []

    # -- reads -------------------------------------------------------------
    @property
    def roster(self) -> dict[str, Any] | None:
        return self.rosters[-1] if self.rosters else None

    def on_roster(self, staff_id: str) -> bool:
        roster = self.roster
        return roster is not None and any(
            p["staff_id"] == staff_id for p in [*roster["leaders"], *roster["guards"]])

    def view(self) -> dict[str, Any]:
        return {"duty_day_id": str(self.id), "day": self.day, "session": self.session,
                "roster": self.roster, "replaced": self.rosters[:-1], "patrols": self.patrols,
                "clearing_refused": self.refusals, "cleared": self.cleared, "version": self.version}

    # -- commands ----------------------------------------------------------
    def set_roster(self, leaders: list[StaffRef], guards: list[RosterGuard], note: str,
                   replaces: int | None, by: ActorRecord) -> None:
        """Set the day's roster; a change names the roster it replaces (its number)."""
        if len(leaders) != LEADERS_PER_DAY or len({p["staff_id"] for p in leaders}) != LEADERS_PER_DAY:
            raise RuleError(f"A roster names {LEADERS_PER_DAY} different duty leaders.", field="leaders")
        if len(guards) != GUARDS_PER_DAY or len({p["staff_id"] for p in guards}) != GUARDS_PER_DAY:
            raise RuleError(f"A roster names {GUARDS_PER_DAY} different guards.", field="guards")
        if {p["staff_id"] for p in leaders} & {p["staff_id"] for p in guards}:
            raise RuleError("One person is rostered both as a duty leader and as a guard.",
                            field="guards")
        current = self.roster
        if current is None and replaces is not None:
            raise ConflictError("There is no roster to replace yet.", state=self.view())
        if current is not None and replaces != current["roster_no"]:
            raise ConflictError(f"The roster in force is no. {current['roster_no']}: name it in "
                                f"replaces.", state=self.view())
        if self.cleared is not None:
            raise ConflictError("The school was cleared; the roster stands as it was.",
                                state=self.view())
        self._roster_set(roster_no=len(self.rosters) + 1, leaders=leaders, guards=guards,
                         note=note, replaces=replaces, by=by)

    class RosterSet(Aggregate.Event):
        roster_no: int
        leaders: list[StaffRef]
        guards: list[RosterGuard]
        note: str
        replaces: int | None
        by: ActorRecord

    @event(RosterSet)
    def _roster_set(self, roster_no: int, leaders: list[StaffRef], guards: list[RosterGuard],
                    note: str, replaces: int | None, by: ActorRecord) -> None:
        self.rosters = [*self.rosters, {"roster_no": roster_no, "leaders": leaders,
                                        "guards": guards, "note": note, "replaces": replaces,
                                        "set_by": by}]

    def record_patrol(self, place: str, seen_at: str, seen: str, notes: str, by: ActorRecord) -> None:
        if not place.strip():
            raise RuleError("A patrol names the place it saw.", field="place")
        if not seen.strip():
            raise RuleError("A patrol says what was seen.", field="seen")
        if datetime.fromisoformat(seen_at) > datetime.fromisoformat(by["at"]):
            raise RuleError("A patrol is recorded after it was made.", field="at")
        self._patrolled(seq=len(self.patrols) + 1, place=place, seen_at=seen_at, seen=seen,
                        notes=notes, by=by)

    class Patrolled(Aggregate.Event):
        seq: int
        place: str
        seen_at: str
        seen: str
        notes: str
        by: ActorRecord

    @event(Patrolled)
    def _patrolled(self, seq: int, place: str, seen_at: str, seen: str, notes: str,
                   by: ActorRecord) -> None:
        self.patrols = [*self.patrols, {"seq": seq, "place": place, "at": seen_at, "seen": seen,
                                        "notes": notes, "by": by}]

    def clear(self, blockers: list[Blocker], versions: dict[str, int], note: str,
              by: ActorRecord) -> bool:
        """Clear the school (清校); while anything blocks it, record the refusal naming each
        blocker instead, and answer False."""
        if self.cleared is not None:
            raise ConflictError("The school was already cleared.", state=self.view())
        if blockers:
            self._clearing_refused(blockers=blockers, by=by)
            return False
        self._cleared(versions=versions, note=note, by=by)
        return True

    class ClearingRefused(Aggregate.Event):
        blockers: list[Blocker]
        by: ActorRecord

    @event(ClearingRefused)
    def _clearing_refused(self, blockers: list[Blocker], by: ActorRecord) -> None:
        self.refusals = [*self.refusals, {"at": by["at"], "by": by, "blockers": blockers}]

    class Cleared(Aggregate.Event):
        """``versions``: each pupil's chain as it stood when cleared; a later event is an alert."""

        versions: dict[str, int]
        note: str
        by: ActorRecord

    @event(Cleared)
    def _cleared(self, versions: dict[str, int], note: str, by: ActorRecord) -> None:
        self.cleared = {"at": by["at"], "by": by, "note": note, "pupils": len(versions)}
        self.versions = versions


def check_rostered(duty: DutyDay | None, staff_id: str, substitute_for: str | None, as_: str) -> None:
    """A sign-on against the day's roster: with no roster set, anyone of the role may sign on;
    with one, only whoever it names, or a substitute (替班) for someone it names."""
    roster = duty.roster if duty is not None else None
    if roster is None:
        return
    named = {p["staff_id"] for p in roster[as_]}
    if staff_id in named or (substitute_for is not None and substitute_for in named):
        return
    raise RuleError(f"不在今日值班安排 / not on today's duty roster (no. {roster['roster_no']}); "
                    "an admin or a duty leader signs on a substitute for someone on it.",
                    field="staff_id" if substitute_for is None else "substitute_for")
