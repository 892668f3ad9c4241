"""The Shift aggregate: one staff member signed on and off at one place for one session of one day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.errors import ConflictError, RuleError
from service.domain.refs import ActorRecord, PlaceRef, StaffRef

SHIFT_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/shift")
DUTY = "duty"  # the place of a duty leader's duty-management session (值班管理)
GATE = "gate"  # the kind of place a guard signs on at (门岗)


def shift_id(school_id: str, staff_id: str, day: str, session: str, place_id: str) -> UUID:
    """One shift per staff member, day, session and place: the store refuses a second."""
    return uuid5(SHIFT_NAMESPACE, f"{school_id}/{staff_id}/{day}/{session}/{place_id}")


def minutes_between(earlier: str, later: str) -> float:
    """Minutes from one ISO time to another (negative when ``later`` is earlier)."""
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds() / 60


class StillHoldsPupilsError(RuleError):
    """Nobody leaves a shift while pupils are in their custody: they are handed over first."""

    title = "Pupils still held"
    code = "still-holds-pupils"

    def __init__(self, name: str, held: int, where: str) -> None:
        super().__init__(f"{name} still holds {held} pupils ({where}): hand them over first "
                         "(release them, or hand them to a colleague), then sign off.",
                         field="staff_id")
        self.held = held

    def members(self) -> dict[str, Any]:
        return {"held": self.held}


class HandoverPendingError(RuleError):
    """Nobody leaves a shift while pupils are being handed to them: the offer is answered first
    (confirmed, then the pupils handed on or released; or withdrawn by whoever offered them)."""

    title = "Handover to this person not yet answered"
    code = "handover-pending"

    def __init__(self, name: str, pending: list[dict[str, Any]]) -> None:
        givers = "、".join(sorted({p["giver"]["name"] for p in pending}))
        count = sum(p["pupils"] for p in pending)
        super().__init__(f"{givers}交给{name}的{count}名学生尚待确认：请先确认接收（再交出或放学），"
                         f"或由交出人撤回，然后签退 / {count} pupils offered to {name} by {givers} "
                         "await confirmation: confirm them (then hand them on or release them) or "
                         "have the giver withdraw the offer, then sign off.", field="staff_id")
        self.pending = pending

    def members(self) -> dict[str, Any]:
        return {"pending": self.pending}


class ReceiverOffDutyError(RuleError):
    """Pupils pass only to someone on duty: a receiver who has signed off takes nobody."""

    title = "Receiver off duty"
    code = "receiver-off-duty"

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"{name}已在{where}签退，不能接收学生：请重新签到，或由交出人撤回后交给在岗的同事 / "
                         f"{name} has signed off at {where} and takes no pupils: sign on again, "
                         "or the giver withdraws and hands them to a colleague on duty.",
                         field="handover_id")


def receiving_shifts(receiver: StaffRef, place: PlaceRef, shifts: list[Shift]) -> list[Shift]:
    """The receiver's open shifts of the session, on which a confirmed handover is recorded.

    Refused when the receiver signed off at the handover's place, or has shifts this session and
    none open: custody never passes to someone off duty. Someone keeping no shifts at all (a
    school that does not sign staff on) receives as before.
    """
    here = next((s for s in shifts if s.place["id"] == place["id"]), None)
    if here is not None and here.signed_off:
        raise ReceiverOffDutyError(receiver["name"], here.place["label"])
    open_ = [s for s in shifts if not s.signed_off]
    if shifts and not open_:
        raise ReceiverOffDutyError(receiver["name"], "、".join(s.place["label"] for s in shifts))
    return open_


class Shift(Aggregate):
    """A staff member's attendance at one place (a group, or duty) for one session of one day.

    Invariants: one shift per staff member, day, session and place (its id derives from
    them); it is signed on once and signed off at most once, never before it was signed on;
    a substitute (替班) names the colleague they replace, never themselves. The session's
    start and the place's dismissal are recorded with the sign-on, so lateness and early
    leave are judged against the timetable as it stood that day. A gate shift may be handed
    to the colleague who takes the gate over (not an early leave); a gate or group shift may
    be resumed after a break: it is open at a moment only between a sign-on (or resumption) and the next sign-off.
    """

    class SignedOn(Aggregate.Created):
        school_id: str
        staff: StaffRef
        day: str
        session: str
        place: PlaceRef
        substitute_for: dict[str, Any] | None
        at: str
        starts_at: str
        ends_at: str
        by: ActorRecord

    @staticmethod
    def create_id(school_id: str, staff: StaffRef, day: str, session: str,
                  place: PlaceRef) -> UUID:
        return shift_id(school_id, staff["staff_id"], day, session, place["id"])

    @event(SignedOn)
    def __init__(
        self, school_id: str, staff: StaffRef, day: str, session: str, place: PlaceRef,
        substitute_for: dict[str, Any] | None, at: str, starts_at: str, ends_at: str,
        by: ActorRecord,
    ) -> None:
        self.school_id = school_id
        self.staff = staff
        self.day = day
        self.session = session
        self.place = place
        self.substitute_for = substitute_for
        self.signed_on_at = at
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.signed_on_by = by
        self.signed_off_at: str | None = None
        self.signed_off_by: ActorRecord | None = None
        self.handed_to: StaffRef | None = None
        self.periods: list[tuple[str, str | None]] = [(at, None)]
        self.received: list[str] = []  # handovers confirmed on this shift

    @classmethod
    def sign_on(
        cls, *, school_id: str, staff: StaffRef, day: date, session: str,
        place: PlaceRef, substitute_for: dict[str, Any] | None, at: datetime,
        starts_at: datetime, ends_at: datetime, by: ActorRecord,
    ) -> Shift:
        if substitute_for is not None and substitute_for["staff_id"] == staff["staff_id"]:
            raise RuleError("A substitute replaces someone else.", field="substitute_for")
        if ends_at <= starts_at:
            raise RuleError("The place is dismissed before the session starts.", field="place_id")
        return cls(
            school_id=school_id, staff=staff, day=day.isoformat(), session=session, place=place,
            substitute_for=substitute_for, at=at.isoformat(), starts_at=starts_at.isoformat(),
            ends_at=ends_at.isoformat(), by=by,
        )

    # -- reads -------------------------------------------------------------
    @property
    def signed_off(self) -> bool:
        return self.signed_off_at is not None

    def open_at(self, at: datetime, slack: timedelta = timedelta(0)) -> bool:
        """Whether the staff member was signed on here at that moment. ``slack`` lets a moment
        read off a device's clock (in whole seconds) fall just before a sign-on, never after a
        sign-off."""
        return any(datetime.fromisoformat(on) <= at + slack
                   and (off is None or at <= datetime.fromisoformat(off))
                   for on, off in self.periods)

    def view(self) -> dict[str, Any]:
        return {
            "shift_id": str(self.id), "staff": self.staff, "day": self.day,
            "session": self.session, "place": self.place, "substitute_for": self.substitute_for,
            "signed_on_at": self.signed_on_at, "starts_at": self.starts_at,
            "ends_at": self.ends_at, "signed_off_at": self.signed_off_at,
            "minutes_late": max(0.0, minutes_between(self.starts_at, self.signed_on_at)),
            "left_early": self.signed_off_at is not None
            and minutes_between(self.signed_off_at, self.ends_at) > 0,
            "signed_on_by": self.signed_on_by["staff_id"],
            "signed_off_by": self.signed_off_by["staff_id"] if self.signed_off_by else None,
            "handed_to": self.handed_to,
            "version": self.version,
        }

    # -- commands ----------------------------------------------------------
    def sign_off(self, at: datetime, by: ActorRecord) -> None:
        if self.signed_off:
            raise ConflictError(f"Already signed off at {self.signed_off_at}.", state=self.view())
        if at < datetime.fromisoformat(self.periods[-1][0]):
            raise RuleError("Signing off before signing on.", field="at")
        self._signed_off(at=at.isoformat(), by=by)

    class SignedOff(Aggregate.Event):
        at: str
        by: ActorRecord

    @event(SignedOff)
    def _signed_off(self, at: str, by: ActorRecord) -> None:
        self._close(at, by)

    def _close(self, at: str, by: ActorRecord) -> None:
        self.signed_off_at = at
        self.signed_off_by = by
        self.handed_to = None
        self.periods = [*self.periods[:-1], (self.periods[-1][0], at)]

    def hand_over(self, to: StaffRef, at: datetime, by: ActorRecord) -> None:
        """The gate is taken over by a colleague: signed off, and not an early leave."""
        if self.place["kind"] != GATE:
            raise RuleError("Only a gate is handed over this way.", field="place_id")
        if to["staff_id"] == self.staff["staff_id"]:
            raise RuleError("A gate is handed to someone else.", field="staff_id")
        if self.signed_off:
            raise ConflictError(f"Already signed off at {self.signed_off_at}.", state=self.view())
        if at < datetime.fromisoformat(self.periods[-1][0]):
            raise RuleError("Handing over before signing on.", field="at")
        self._handed_over(to=to, at=at.isoformat(), by=by)

    class HandedOver(Aggregate.Event):
        to: StaffRef
        at: str
        by: ActorRecord

    @event(HandedOver)
    def _handed_over(self, to: StaffRef, at: str, by: ActorRecord) -> None:
        self._close(at, by)
        self.handed_to = to

    def take_custody(self, handover_id: str | None, pupil_ids: list[str], place: PlaceRef,
                     at: datetime, by: ActorRecord) -> None:
        """Pupils of a confirmed handover (or signed in at a roll call: no handover) pass to
        this shift's person, who is on duty."""
        if self.signed_off:
            raise ReceiverOffDutyError(self.staff["name"], self.place["label"])
        self._pupils_received(handover_id=handover_id, pupil_ids=pupil_ids, place=place,
                            at=at.isoformat(), by=by)

    class PupilsReceived(Aggregate.Event):
        handover_id: str | None  # None: signed in at a roll call
        pupil_ids: list[str]
        place: PlaceRef
        at: str
        by: ActorRecord

    @event(PupilsReceived)
    def _pupils_received(self, handover_id: str | None, pupil_ids: list[str], place: PlaceRef,
                       at: str, by: ActorRecord) -> None:
        if handover_id is not None:
            self.received = [*getattr(self, "received", []), handover_id]

    def resume(self, at: datetime, by: ActorRecord) -> None:
        """Back at the gate (or with the group) after a break or a colleague's turn: the same
        shift, open again."""
        if self.place["kind"] not in (GATE, "group"):
            raise ConflictError("Already signed on here today.", state=self.view())
        if not self.signed_off:
            raise ConflictError("Already signed on here.", state=self.view())
        assert self.signed_off_at is not None
        if at < datetime.fromisoformat(self.signed_off_at):
            raise RuleError("Resuming before signing off.", field="at")
        self._resumed(at=at.isoformat(), by=by)

    class Resumed(Aggregate.Event):
        at: str
        by: ActorRecord

    @event(Resumed)
    def _resumed(self, at: str, by: ActorRecord) -> None:
        self.signed_off_at = None
        self.signed_off_by = None
        self.handed_to = None
        self.periods = [*self.periods, (at, None)]
