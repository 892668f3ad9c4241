"""The PupilDay aggregate: one pupil's chain of custody for one session of one day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.common import CORRECTOR_NAMES, may_correct, normalise_name
from service.domain.decisions import HomeAloneAllowed, ReleaseAllowed, require_issued
from service.domain.errors import ConflictError, ForbiddenError, RuleError
from service.domain.refs import (
    ActorRecord,
    AdultRef,
    ChainEntry,
    CollectorRef,
    CustodyState,
    PendingHandover,
    PlaceRef,
    StaffRef,
)

PUPIL_DAY_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/pupil-day")

NOT_HANDED_OVER = "not_handed_over"
ABSENT = "absent"
IN_CUSTODY = "in_custody"
GONE = "gone"
PASSED_ON = "passed_on"  # handed into a later session of the day (晚自习), which now holds the pupil
# The states in which the school answers for a pupil who is still on its premises.
STILL_HELD = (NOT_HANDED_OVER, IN_CUSTODY)

IDENTITY_CHECKS = ("known_to_staff", "id_card", "pickup_code", "call_to_guardian")


def derive(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The state as the views keep it in their documents (a chain read back from a view)."""
    return dict(custody_state(cast(Sequence[ChainEntry], entries)))


def custody_state(entries: Sequence[ChainEntry]) -> CustodyState:
    """The pupil's state from the facts that still stand (corrections void facts)."""
    state: CustodyState = {
        "status": NOT_HANDED_OVER, "with_leave": None, "absence_reason": None,
        "custodian": None, "place": None, "pending": None, "gone": None,
        "passed_on": None, "came_from": None,
    }
    voided = {e["corrects"] for e in entries if e["type"] == "corrected"}
    for e in entries:
        if e["seq"] in voided:
            continue
        kind = e["type"]
        if kind == "absent":
            state["status"], state["with_leave"], state["absence_reason"] = ABSENT, e["with_leave"], e["reason"]
        elif kind == "signed_in":
            state["status"], state["custodian"], state["place"] = IN_CUSTODY, e["custodian"], e["place"]
            state["with_leave"] = state["absence_reason"] = None
        elif kind == "offered":
            pending: PendingHandover = {"handover_id": e["handover_id"], "kind": e["kind"],
                                        "to": e["to"], "place": e["place"]}
            if "from_session" in e:
                pending["from_session"] = e["from_session"]
            state["pending"] = pending
        elif kind == "offer_withdrawn":
            if state["pending"] and state["pending"]["handover_id"] == e["handover_id"]:
                state["pending"] = None
        elif kind == "custody_taken":
            offer = state["pending"]
            if offer is not None and "from_session" in offer:
                state["came_from"] = {"session": offer["from_session"], "giver": e["giver"],
                                      "handover_id": e["handover_id"]}
            state["status"], state["custodian"], state["place"] = IN_CUSTODY, e["custodian"], e["place"]
            state["pending"] = None
            state["with_leave"] = state["absence_reason"] = None
        elif kind == "passed_on":
            state["status"], state["pending"] = PASSED_ON, None
            state["passed_on"] = {"session": e["to_session"], "custodian": e["custodian"],
                                  "place": e["place"], "handover_id": e["handover_id"],
                                  "at": e["by"]["at"]}
        elif kind in ("released", "went_home_alone", "left_early"):
            state["status"], state["pending"] = GONE, None
            state["gone"] = {"how": kind, "adult": e.get("adult"), "at": e["by"]["at"],
                             "by": e["by"]["staff_id"]}
    return state


def day_view(pupil_id: str, day: str, session: str, state: Mapping[str, Any],
             entries: Sequence[Mapping[str, Any]], version: int) -> dict[str, Any]:
    """A pupil's session as answered: the state, the refusals recorded, the chain's version."""
    return {"pupil_id": pupil_id, "day": day, "session": session, **state,
            "refusals": sum(1 for e in entries if e["type"] == "release_refused"), "version": version}


class PupilDay(Aggregate):
    """Where one pupil is, and with whom, during one session of one day.

    Invariants: the pupil is in exactly one state (not handed over, absent, in
    the custody of one named adult at one named place, passed on into a later
    session, or gone); custody moves only when the receiver confirms; only the
    current custodian releases, sends home or hands on; a pupil is gone at most
    once a session; nothing is edited: a correction is a new fact naming the
    fact it voids and why, made only by whoever recorded that fact, an admin,
    a duty leader or a safety officer.
    """

    class Opened(Aggregate.Created):
        school_id: str
        pupil_id: str
        day: str
        session: str
        class_id: str

    @staticmethod
    def create_id(school_id: str, pupil_id: str, day: str, session: str) -> UUID:
        return uuid5(PUPIL_DAY_NAMESPACE, f"{school_id}/{pupil_id}/{day}/{session}")

    @event(Opened)
    def __init__(self, school_id: str, pupil_id: str, day: str, session: str, class_id: str) -> None:
        self.school_id = school_id
        self.pupil_id = pupil_id
        self.day = day
        self.session = session
        self.class_id = class_id
        self.entries: list[ChainEntry] = []
        self.state = custody_state([])

    @classmethod
    def open(cls, school_id: str, pupil_id: str, day: date, session: str, class_id: str) -> PupilDay:
        return cls(
            school_id=school_id, pupil_id=pupil_id, day=day.isoformat(), session=session,
            class_id=class_id,
        )

    # -- reads -------------------------------------------------------------
    @property
    def status(self) -> str:
        return str(self.state["status"])

    def view(self) -> dict[str, Any]:
        return day_view(self.pupil_id, self.day, self.session, self.state, self.entries, self.version)

    def _refuse(self, detail: str) -> ConflictError:
        return ConflictError(detail, state=self.view())

    def _require_custodian(self, staff_id: str, doing: str) -> None:
        state = self.state
        if (gone := state["gone"]) is not None and self.status == GONE:
            raise self._refuse(f"Already gone ({gone['how']}); cannot {doing}.")
        if (passed := state["passed_on"]) is not None and self.status == PASSED_ON:
            raise self._refuse(f"Handed into {passed['session']}; cannot {doing} here.")
        custodian = state["custodian"]
        if self.status != IN_CUSTODY or custodian is None:
            raise self._refuse(f"The school does not hold this pupil ({self.status}); cannot {doing}.")
        if custodian["staff_id"] != staff_id:
            raise self._refuse(f"In the custody of {custodian['name']}; only they can {doing}.")
        if state["pending"] is not None:
            raise self._refuse(f"A handover is awaiting confirmation; cannot {doing}.")

    # -- commands ----------------------------------------------------------
    def mark_absent(self, with_leave: bool, reason: str, by: ActorRecord) -> None:
        if self.status not in (NOT_HANDED_OVER, ABSENT):
            raise self._refuse(f"Cannot mark absent a pupil who is {self.status}.")
        self._marked_absent(with_leave=with_leave, reason=reason, by=by)

    def sign_in(self, custodian: StaffRef, place: PlaceRef, by: ActorRecord) -> None:
        if self.status != NOT_HANDED_OVER or self.state["pending"] is not None:
            raise self._refuse(f"Cannot sign in a pupil who is {self.status}.")
        self._signed_in(custodian=custodian, place=place, by=by)

    def offer(
        self, handover_id: str, kind: str, giver: StaffRef, to: StaffRef,
        place: PlaceRef, by: ActorRecord,
    ) -> None:
        """Hand the pupil on: custody stays with the giver until the receiver confirms."""
        if self.status == NOT_HANDED_OVER and kind == "class_handover":
            if self.state["pending"] is not None:
                raise self._refuse("Already offered in another handover.")
        else:
            self._require_custodian(giver["staff_id"], "hand over")
        if to["staff_id"] == giver["staff_id"]:
            raise RuleError("A handover needs another adult to receive.", field="to_staff_id")
        self._offered(handover_id=handover_id, kind=kind, giver=giver, to=to, place=place, by=by)

    def offer_from_session(
        self, handover_id: str, from_session: str, giver: StaffRef, to: StaffRef,
        place: PlaceRef, by: ActorRecord,
    ) -> None:
        """This later session is offered the pupil by their custodian in an earlier one."""
        if self.status != NOT_HANDED_OVER or self.state["pending"] is not None:
            raise self._refuse(f"Cannot take into {self.session} a pupil who is {self.status}"
                               + (" and already offered." if self.state["pending"] else "."))
        if from_session == self.session:
            raise RuleError("A pupil passes into another session.", field="to_session")
        self._offered_from_session(handover_id=handover_id, kind="from_session",
                                   from_session=from_session, giver=giver, to=to, place=place, by=by)

    def pass_on(self, handover_id: str, to_session: str, by: ActorRecord) -> None:
        """The later session's receiver confirmed: this session no longer holds the pupil."""
        pending = self.state["pending"]
        if pending is None or pending["handover_id"] != handover_id or pending["kind"] != "to_session":
            raise self._refuse("No such handover into another session is pending for this pupil.")
        if pending["to"]["staff_id"] != by["staff_id"]:
            raise self._refuse(f"Only {pending['to']['name']} can confirm this handover.")
        self._passed_on(handover_id=handover_id, to_session=to_session, custodian=pending["to"],
                        place=pending["place"], by=by)

    def withdraw_offer(self, handover_id: str, reason: str, by: ActorRecord) -> None:
        pending = self.state["pending"]
        if pending is None or pending["handover_id"] != handover_id:
            raise self._refuse("No such handover is pending for this pupil.")
        self._offer_withdrawn(handover_id=handover_id, reason=reason, by=by)

    def take_custody(self, handover_id: str, giver: StaffRef | None, by: ActorRecord) -> None:
        pending = self.state["pending"]
        if pending is None or pending["handover_id"] != handover_id:
            raise self._refuse("No such handover is pending for this pupil.")
        if pending["to"]["staff_id"] != by["staff_id"]:
            raise self._refuse(f"Only {pending['to']['name']} can confirm this handover.")
        self._custody_taken(handover_id=handover_id, giver=giver, custodian=pending["to"],
                            place=pending["place"], by=by)

    def _allowed(self, decision: object, adult: AdultRef) -> ReleaseAllowed:
        """The collection rule's own decision for this pupil and day, naming the adult who came."""
        allowed = require_issued(decision, ReleaseAllowed, self.pupil_id, self.day)
        if normalise_name(adult.get("name") or "") != normalise_name(allowed.collector.name):
            raise RuleError("The adult at the gate is not the one the rule allowed.", field="adult")
        return allowed

    def release_to(
        self, decision: ReleaseAllowed, adult: AdultRef, identity_check: str,
        gate: PlaceRef, by: ActorRecord,
    ) -> None:
        """Release at the gate to the adult the collection rule allowed (and no one else)."""
        allowed = self._allowed(decision, adult)
        if identity_check not in IDENTITY_CHECKS:
            raise RuleError(f"Identity check is one of {IDENTITY_CHECKS}.", field="identity_check")
        self._require_custodian(by["staff_id"], "release")
        self._released(adult=adult, collector=allowed.collector.ref(),
                       identity_check=identity_check, gate=gate, by=by)

    def refuse_release(self, adult: AdultRef, reason: str, note: str | None,
                       gate: PlaceRef | None, by: ActorRecord) -> None:
        """A refused release is itself a fact: who came, and why they were turned away."""
        self._release_refused(adult=adult, reason=reason, note=note, gate=gate, by=by)

    def go_home_alone(self, decision: HomeAloneAllowed, gate: PlaceRef | None,
                      by: ActorRecord) -> None:
        """Home alone only under the statement the rule found on file for this day."""
        allowed = require_issued(decision, HomeAloneAllowed, self.pupil_id, self.day)
        self._require_custodian(by["staff_id"], "send home alone")
        self._went_home_alone(statement_id=allowed.statement_id, gate=gate, by=by)

    def leave_early(
        self, decision: ReleaseAllowed, adult: AdultRef, approved_by: StaffRef,
        reason: str, homeroom_informed: bool, by: ActorRecord,
    ) -> None:
        """Leave before the end, with the adult the collection rule allowed."""
        allowed = self._allowed(decision, adult)
        if not reason.strip():
            raise RuleError("An early departure gives the family's reason.", field="reason")
        if not homeroom_informed:
            raise RuleError("The homeroom teacher must be informed first.", field="homeroom_informed")
        # Before the handover the pupil may be collected straight from class.
        if not (self.status == NOT_HANDED_OVER and self.state["pending"] is None):
            self._require_custodian(by["staff_id"], "let leave early")
        self._left_early(adult=adult, collector=allowed.collector.ref(), approved_by=approved_by,
                         reason=reason.strip(), homeroom_informed=homeroom_informed, by=by)

    def correct(self, seq: int, reason: str, by: ActorRecord) -> None:
        """Void one recorded fact, naming it and why; the fact itself stays in the chain.

        Only whoever recorded the fact, or an admin, a duty leader or a safety officer, voids it.
        """
        if not reason.strip():
            raise RuleError("A correction says why.", field="reason")
        target = next((e for e in self.entries if e["seq"] == seq), None)
        if target is None:
            raise RuleError(f"No event {seq} in this pupil's day.", field="corrects")
        if target["type"] in ("corrected", "release_refused"):
            raise RuleError(f"A {target['type']} fact cannot be voided.", field="corrects")
        if any(e["type"] == "corrected" and e["corrects"] == seq for e in self.entries):
            raise self._refuse(f"Event {seq} was already corrected.")
        if not may_correct(target["by"], by):
            raise ForbiddenError(f"Only {target['by']['staff_name']}, who recorded event {seq}, "
                                 f"or {CORRECTOR_NAMES} may correct it.")
        self._corrected(corrects=seq, corrected_type=target["type"], reason=reason.strip(), by=by)

    # -- events: each only appends its fact and re-derives the state --------
    def _append(self, type: str, by: ActorRecord, **facts: Any) -> None:
        # The event's own attributes are the fact's fields (see ChainEntry).
        self.entries.append(cast(ChainEntry, {"seq": self.version + 1, "type": type, "by": by, **facts}))
        self.state = custody_state(self.entries)

    class MarkedAbsent(Aggregate.Event):
        with_leave: bool
        reason: str
        by: ActorRecord

    @event(MarkedAbsent)
    def _marked_absent(self, with_leave: bool, reason: str, by: ActorRecord) -> None:
        self._append("absent", by, with_leave=with_leave, reason=reason)

    class SignedIn(Aggregate.Event):
        custodian: StaffRef
        place: PlaceRef
        by: ActorRecord

    @event(SignedIn)
    def _signed_in(self, custodian: StaffRef, place: PlaceRef, by: ActorRecord) -> None:
        self._append("signed_in", by, custodian=custodian, place=place)

    class HandoverOffered(Aggregate.Event):
        handover_id: str
        kind: str
        giver: StaffRef
        to: StaffRef
        place: PlaceRef
        by: ActorRecord

    @event(HandoverOffered)
    def _offered(self, handover_id: str, kind: str, giver: StaffRef, to: StaffRef,
                 place: PlaceRef, by: ActorRecord) -> None:
        self._append("offered", by, handover_id=handover_id, kind=kind, giver=giver, to=to, place=place)

    class OfferedFromSession(Aggregate.Event):
        handover_id: str
        kind: str
        from_session: str
        giver: StaffRef
        to: StaffRef
        place: PlaceRef
        by: ActorRecord

    @event(OfferedFromSession)
    def _offered_from_session(self, handover_id: str, kind: str, from_session: str,
                              giver: StaffRef, to: StaffRef, place: PlaceRef,
                              by: ActorRecord) -> None:
        self._append("offered", by, handover_id=handover_id, kind=kind, from_session=from_session,
                     giver=giver, to=to, place=place)

    class PassedOn(Aggregate.Event):
        handover_id: str
        to_session: str
        custodian: StaffRef
        place: PlaceRef
        by: ActorRecord

    @event(PassedOn)
    def _passed_on(self, handover_id: str, to_session: str, custodian: StaffRef, place: PlaceRef,
                   by: ActorRecord) -> None:
        self._append("passed_on", by, handover_id=handover_id, to_session=to_session, custodian=custodian, place=place)

    class HandoverWithdrawn(Aggregate.Event):
        handover_id: str
        reason: str
        by: ActorRecord

    @event(HandoverWithdrawn)
    def _offer_withdrawn(self, handover_id: str, reason: str, by: ActorRecord) -> None:
        self._append("offer_withdrawn", by, handover_id=handover_id, reason=reason)

    class CustodyTaken(Aggregate.Event):
        handover_id: str
        giver: StaffRef | None
        custodian: StaffRef
        place: PlaceRef
        by: ActorRecord

    @event(CustodyTaken)
    def _custody_taken(self, handover_id: str, giver: StaffRef | None, custodian: StaffRef,
                       place: PlaceRef, by: ActorRecord) -> None:
        self._append("custody_taken", by, handover_id=handover_id, giver=giver, custodian=custodian, place=place)

    class Released(Aggregate.Event):
        adult: AdultRef
        collector: CollectorRef
        identity_check: str
        gate: PlaceRef
        by: ActorRecord

    @event(Released)
    def _released(self, adult: AdultRef, collector: CollectorRef, identity_check: str,
                  gate: PlaceRef, by: ActorRecord) -> None:
        self._append("released", by, adult=adult, collector=collector, identity_check=identity_check, gate=gate)

    class ReleaseRefused(Aggregate.Event):
        adult: AdultRef
        reason: str
        note: str | None
        gate: PlaceRef | None
        by: ActorRecord

    @event(ReleaseRefused)
    def _release_refused(self, adult: AdultRef, reason: str, note: str | None,
                         gate: PlaceRef | None, by: ActorRecord) -> None:
        self._append("release_refused", by, adult=adult, reason=reason, note=note, gate=gate)

    class WentHomeAlone(Aggregate.Event):
        statement_id: str
        gate: PlaceRef | None
        by: ActorRecord

    @event(WentHomeAlone)
    def _went_home_alone(self, statement_id: str, gate: PlaceRef | None, by: ActorRecord) -> None:
        self._append("went_home_alone", by, statement_id=statement_id, gate=gate)

    class LeftEarly(Aggregate.Event):
        adult: AdultRef
        collector: CollectorRef
        approved_by: StaffRef
        reason: str
        homeroom_informed: bool
        by: ActorRecord

    @event(LeftEarly)
    def _left_early(self, adult: AdultRef, collector: CollectorRef, approved_by: StaffRef,
                    reason: str, homeroom_informed: bool, by: ActorRecord) -> None:
        self._append("left_early", by, adult=adult, collector=collector, approved_by=approved_by,
                     reason=reason, homeroom_informed=homeroom_informed)

    class Corrected(Aggregate.Event):
        corrects: int
        corrected_type: str
        reason: str
        by: ActorRecord

    @event(Corrected)
    def _corrected(self, corrects: int, corrected_type: str, reason: str, by: ActorRecord) -> None:
        self._append("corrected", by, corrects=corrects, corrected_type=corrected_type, reason=reason)
