"""The Handover aggregate: a group of pupils passed from one adult to another, with both counts."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from service.domain.errors import ConflictError, RuleError
from service.domain.refs import ActorRecord, PlaceRef, StaffRef

KINDS = ("class_handover", "transfer", "to_gate", "to_gatehouse", "to_session")


class Handover(Aggregate):
    """One handover between two adults.

    Invariants: the giver states a count and the receiver confirms with their
    own; both counts are kept and any difference from each other or from the
    pupils named is a recorded mismatch (the latter already when offered); only the named receiver confirms; a
    handover is confirmed or withdrawn once.
    """

    class Offered(Aggregate.Created):
        school_id: str
        day: str
        session: str
        kind: str
        giver: StaffRef
        to: StaffRef
        place: PlaceRef
        pupil_ids: list[str]
        count_given: int
        note: str | None
        by: ActorRecord
        to_session: str | None  # v2: the later session a "to_session" handover passes pupils into

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["to_session"] = None  # every handover offered before v2 stayed in its session

    @event(Offered)
    def __init__(
        self, school_id: str, day: str, session: str, kind: str, giver: StaffRef,
        to: StaffRef, place: PlaceRef, pupil_ids: list[str], count_given: int,
        note: str | None, by: ActorRecord, to_session: str | None = None,
    ) -> None:
        self.school_id = school_id
        self.day = day
        self.session = session
        self.to_session = to_session
        self.kind = kind
        self.giver = giver
        self.to = to
        self.place = place
        self.pupil_ids = pupil_ids
        self.count_given = count_given
        self.note = note
        self.status = "offered"
        self.count_received: int | None = None
        self.received_pupil_ids: list[str] = []
        # A stated count that differs from the pupils named is a mismatch from the moment it is offered.
        self.mismatch = count_given != len(pupil_ids)

    @classmethod
    def offer(
        cls, *, school_id: str, day: str, session: str, kind: str, giver: StaffRef,
        to: StaffRef, place: PlaceRef, pupil_ids: list[str], count_given: int,
        note: str | None, by: ActorRecord, to_session: str | None = None,
    ) -> Handover:
        if kind not in KINDS:
            raise RuleError(f"A handover is one of {KINDS}.", field="kind")
        if (kind == "to_session") != (to_session is not None) or to_session == session:
            raise RuleError("A handover into another session names that later session.",
                            field="to_session")
        if not pupil_ids:
            raise RuleError("A handover names at least one pupil.", field="pupil_ids")
        if len(set(pupil_ids)) != len(pupil_ids):
            raise RuleError("A pupil is named twice.", field="pupil_ids")
        if count_given < 0:
            raise RuleError("A count is not negative.", field="count")
        return cls(
            school_id=school_id, day=day, session=session, kind=kind, giver=giver, to=to,
            place=place, pupil_ids=pupil_ids, count_given=count_given, note=note, by=by,
            to_session=to_session,
        )

    def view(self) -> dict[str, Any]:
        return {
            "handover_id": str(self.id), "day": self.day, "session": self.session,
            "to_session": getattr(self, "to_session", None),
            "kind": self.kind, "giver": self.giver, "to": self.to, "place": self.place,
            "pupil_ids": self.pupil_ids, "count_given": self.count_given,
            "count_received": self.count_received, "received_pupil_ids": self.received_pupil_ids,
            "mismatch": self.mismatch, "status": self.status, "note": self.note,
        }

    def confirm(
        self, count_received: int, received_pupil_ids: list[str] | None, by: ActorRecord
    ) -> list[str]:
        """The receiver counts for themselves; returns the pupils not received."""
        if self.status != "offered":
            raise ConflictError(f"This handover is already {self.status}.", state=self.view())
        if by["staff_id"] != self.to["staff_id"]:
            raise ConflictError(f"Only {self.to['name']} can confirm this handover.", state=self.view())
        if count_received < 0:
            raise RuleError("A count is not negative.", field="count")
        received = self.pupil_ids if received_pupil_ids is None else received_pupil_ids
        strangers = sorted(set(received) - set(self.pupil_ids))
        if strangers:
            raise RuleError(f"Pupils not in this handover: {strangers}.", field="received_pupil_ids")
        missing = [p for p in self.pupil_ids if p not in set(received)]
        mismatch = len({count_received, self.count_given, len(self.pupil_ids), len(received)}) > 1
        self._confirmed(
            count_received=count_received, received_pupil_ids=list(received),
            missing_pupil_ids=missing, mismatch=mismatch, by=by,
        )
        return missing

    class Confirmed(Aggregate.Event):
        count_received: int
        received_pupil_ids: list[str]
        missing_pupil_ids: list[str]
        mismatch: bool
        by: ActorRecord

    @event(Confirmed)
    def _confirmed(
        self, count_received: int, received_pupil_ids: list[str], missing_pupil_ids: list[str],
        mismatch: bool, by: ActorRecord,
    ) -> None:
        self.status = "confirmed"
        self.count_received = count_received
        self.received_pupil_ids = received_pupil_ids
        self.mismatch = mismatch

    def withdraw(self, reason: str, by: ActorRecord) -> None:
        if self.status != "offered":
            raise ConflictError(f"This handover is already {self.status}.", state=self.view())
        if by["staff_id"] != self.giver["staff_id"]:
            raise ConflictError("Only the giver can withdraw a handover.", state=self.view())
        self._withdrawn(reason=reason, by=by)

    class Withdrawn(Aggregate.Event):
        reason: str
        by: ActorRecord

    @event(Withdrawn)
    def _withdrawn(self, reason: str, by: ActorRecord) -> None:
        self.status = "withdrawn"
