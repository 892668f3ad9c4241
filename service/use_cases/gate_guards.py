"""The guard on duty at a shared gate tablet: a PIN of their own, signing on and off, taking over."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from service.domain.common import Actor, Role
from service.domain.device import is_device
from service.domain.duty import DutyDay, check_rostered, duty_day_id
from service.domain.errors import ConflictError, ForbiddenError, NotFoundError, RuleError
from service.domain.handover import Handover
from service.domain.pin import NoPinError, PinTries, StaffPin, WrongPinError
from service.domain.pupil_day import IN_CUSTODY
from service.domain.refs import ActorRecord, PlaceRef, StaffRef
from service.domain.school import School
from service.domain.shift import DUTY, GATE, Shift, shift_id
from service.use_cases.afternoon import AfternoonUseCases
from service.use_cases.core import Decision, Outcome, StaffIdentity
from service.use_cases.devices import DeviceIdentity
from service.use_cases.statements import StatementUseCases, place_dismissal

PIN_COUNT_ATTEMPTS = 10  # tries to count a wrong PIN while others for the same person are counted
DEVICE_CLOCK_AHEAD = timedelta(minutes=5)  # a queued command made later than this is not believed
# A device's time is whole seconds off its own clock: a command made just as the guard signed on
# (or off) is theirs.
DEVICE_CLOCK_SLACK = timedelta(seconds=30)


class GuardNotOnDutyError(RuleError):
    title = "Guard not on duty here"
    code = "guard-not-on-duty"

    def __init__(self, name: str, gate: str) -> None:
        super().__init__(f"{name} was not signed on at {gate} at that time: sign on first.",
                         field="X-Guard-Id")


def _gate_of(actor: Actor) -> str:
    """The gate of the calling tablet; anyone else signs on at a gate with their own token."""
    if not is_device(actor.staff_id) or actor.place is None:
        raise ForbiddenError("Only a paired gate tablet signs its guards on and off.")
    return actor.place


class GateGuardUseCases(AfternoonUseCases, StatementUseCases):
    # -- PINs ------------------------------------------------------------------
    def set_pin(self, actor: Actor, staff_id: str, pin: str) -> Outcome:
        """A staff member sets their own PIN; an admin sets anyone's (read out to them once)."""
        if is_device(actor.staff_id):
            raise ForbiddenError("A device sets no PIN.")
        if staff_id != actor.staff_id and actor.role != Role.ADMIN.value:
            raise ForbiddenError("Only an admin sets a colleague's PIN.")

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            if is_device(staff_id):
                raise NotFoundError("staff member", staff_id)
            member = school.member(staff_id)
            found = self._find(StaffPin.create_id(school.school_id, staff_id))
            if isinstance(found, StaffPin):
                found.change(pin, actor.record())
                stored = found
            else:
                stored = StaffPin.set_first(school.school_id, staff_id, pin, actor.record())
            return Decision([stored], {"staff_id": staff_id, "name": member["name"],
                                       "has_pin": True, "set_at": actor.at.isoformat()})
        return self.execute(actor, decide)

    def has_pin(self, school_id: str, staff_id: str) -> bool:
        return self._has_pin(school_id, staff_id)

    def _has_pin(self, school_id: str, staff_id: str) -> bool:
        return isinstance(self._find(StaffPin.create_id(school_id, staff_id), readonly=True),
                          StaffPin)

    def _check_pin(self, school_id: str, staff_id: str, name: str, pin: str) -> None:
        """Refuse a wrong PIN, counting it; a few wrong within any window of time refuse every
        PIN until the earliest of them is a window old (see PinTries)."""
        now = self.now()
        tries_id = PinTries.create_id(school_id, staff_id)
        tries = self._find(tries_id, readonly=True)
        if isinstance(tries, PinTries):
            tries.check(now)
        stored = self._find(StaffPin.create_id(school_id, staff_id), readonly=True)
        if not isinstance(stored, StaffPin):
            raise NoPinError(name)
        if stored.matches(pin):
            return
        for _ in range(PIN_COUNT_ATTEMPTS):  # another wrong try may save first
            counted = self._find(tries_id)
            if not isinstance(counted, PinTries):
                counted = PinTries(school_id=school_id, staff_id=staff_id)
            counted.failed(now, "wrong-pin")
            try:
                self.save(counted)
                break
            except IntegrityError:
                continue
        raise WrongPinError()

    # -- the gate's guards -----------------------------------------------------
    def _guard(self, school: School, staff_id: str) -> StaffRef:
        if is_device(staff_id):
            raise NotFoundError("staff member", staff_id)
        member = school.member(staff_id)
        if Role.GUARD.value not in member["roles"]:
            raise RuleError(f"{member['name']} is not a guard: only a guard signs on at a gate.",
                            field="staff_id")
        return {"staff_id": staff_id, "name": member["name"]}

    def _gate_shift(self, school: School, staff_id: str, day: date, session: str,
                    gate_id: str, readonly: bool = True) -> Shift | None:
        found = self._find(shift_id(school.school_id, staff_id, day.isoformat(), session, gate_id),
                           readonly=readonly)
        return found if isinstance(found, Shift) else None

    def gate_guards(self, actor: Actor, session: str) -> dict[str, Any]:
        """The school's guards, and who of them is signed on at the calling tablet's gate now."""
        gate_id = _gate_of(actor)
        school = self.school(actor.school_id, readonly=True)
        gate = school.gate(gate_id)
        today = self._today_session(school, session)
        now = self.now()
        guards = []
        for staff_id, member in school.staff.items():
            if is_device(staff_id) or not member["active"] or Role.GUARD.value not in member["roles"]:
                continue
            shift = self._gate_shift(school, staff_id, today, session, gate_id)
            on = shift is not None and not shift.signed_off and shift.open_at(now)
            guards.append({"staff_id": staff_id, "name": member["name"],
                           "has_pin": self._has_pin(school.school_id, staff_id),
                           "on_duty": on, "signed_on_at": shift.periods[-1][0] if on and shift else None})
        guards.sort(key=lambda g: (not g["on_duty"], g["name"], g["staff_id"]))
        return {"gate_id": gate_id, "gate_label": gate["name"], "day": today, "session": session,
                "guards": guards}

    def _as_guard(self, actor: Actor, guard: StaffRef) -> ActorRecord:
        """The guard acting at the tablet: the person who did it, the device where."""
        return {**actor.record(), "staff_id": guard["staff_id"], "staff_name": guard["name"],
                "role": Role.GUARD.value, "device": actor.staff_id}

    def sign_on_at_gate(self, actor: Actor, staff_id: str, pin: str, session: str,
                        taking_over_from: str | None, pupil_ids: tuple[str, ...] = (),
                        count_received: int | None = None) -> Outcome:
        """The guard named on the day's roster names themselves at the tablet (their PIN) and
        is on duty at its gate; a colleague they take over from is signed off, the gate handed
        to them, and every pupil that colleague holds here passes to them (the giver's count is
        the pupils they hold, the receiver's their own, by default the same: a mismatch is
        raised as for any handover). ``pupil_ids`` may name pupils the colleague holds here,
        never others."""
        gate_id = _gate_of(actor)
        if pupil_ids and taking_over_from is None:
            raise RuleError("Pupils pass to a guard taking over from a colleague.",
                            field="pupil_ids")

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            guard = self._guard(school, staff_id)
            today = self._today_session(school, session)
            place: PlaceRef = {"id": gate_id, "label": school.gate(gate_id)["name"], "kind": GATE}
            rostered = self._find(duty_day_id(school.school_id, today.isoformat(), session),
                                  readonly=True)
            check_rostered(rostered if isinstance(rostered, DutyDay) else None, staff_id, None,
                           "guards")
            self._check_not_elsewhere(school, staff_id, today, session, gate_id)
            by = self._as_guard(actor, guard)
            changed: list[Aggregate] = []
            if taking_over_from is not None:
                before = self._guard(school, taking_over_from)
                theirs = self._gate_shift(school, taking_over_from, today, session, gate_id,
                                          readonly=False)
                if theirs is None or theirs.signed_off:
                    raise ConflictError(f"{before['name']} is not on duty at {place['label']}.",
                                        state=theirs.view() if theirs else None)
                held = self._held_at_gate(school, taking_over_from, today, session, gate_id)
                strangers = [p for p in pupil_ids if p not in set(held)]
                if strangers:
                    raise RuleError(f"{before['name']} does not hold {len(strangers)} of the "
                                    f"pupils named at {place['label']}: {strangers}.",
                                    field="pupil_ids")
                if held:
                    changed += self._pass_custody(
                        school, today, session, place, before, guard, held,
                        len(held) if count_received is None else count_received,
                        self._as_guard(actor, before), by)
                elif count_received:
                    raise RuleError(f"{before['name']} holds no pupil at {place['label']}.",
                                    field="count_received")
                theirs.hand_over(guard, self.now(), by)
                changed.append(theirs)
            shift = self._gate_shift(school, staff_id, today, session, gate_id, readonly=False)
            if shift is not None and not shift.signed_off and not changed:
                return Decision([], shift.view())  # on duty already: nothing to record
            if shift is None:
                shift = Shift.sign_on(
                    school_id=school.school_id, staff=guard, day=today, session=session,
                    place=place, substitute_for=None, at=self.now(),
                    starts_at=school.schedule.start_at(session, today, school.tz),
                    ends_at=place_dismissal(school, DUTY, session, today), by=by)
                created = True
            else:
                if shift.signed_off:
                    shift.resume(self.now(), by)
                created = False
            return Decision([*changed, shift], shift.view(), created=created)
        self._check_pin_of(actor, staff_id, pin)
        return self.execute(actor, decide)

    def _held_at_gate(self, school: School, staff_id: str, on: date, session: str,
                      gate_id: str) -> list[str]:
        """The pupils in this guard's custody at this gate (in the school's roll order)."""
        held = []
        for pupil_id, found in self.pupil_days_now(school.school_id, school.roll, on,
                                                   session).items():
            if found.status != IN_CUSTODY:
                continue
            custodian, place = found.state["custodian"], found.state["place"]
            if custodian is not None and custodian["staff_id"] == staff_id \
                    and place is not None and place["id"] == gate_id:
                held.append(pupil_id)
        return held

    def _pass_custody(self, school: School, on: date, session: str, place: PlaceRef,
                      giver: StaffRef, to: StaffRef, pupil_ids: list[str], count_received: int,
                      by_giver: ActorRecord, by_receiver: ActorRecord) -> list[Aggregate]:
        """The pupils waiting at the gate, offered by the guard leaving and received by the one
        coming, at the tablet, in one step."""
        pairs = self._days(school, pupil_ids, on, session)
        handover = Handover.offer(
            school_id=school.school_id, day=on.isoformat(), session=session, kind="to_gate",
            giver=giver, to=to, place=place, pupil_ids=pupil_ids, count_given=len(pupil_ids),
            note="门岗交接 / gate taken over", by=by_giver)
        hid = str(handover.id)
        for _, pd in pairs:
            pd.offer(hid, "to_gate", giver, to, place, by_giver)
        missing = handover.confirm(count_received, None, by_receiver)
        for pid, (_, pd) in zip(pupil_ids, pairs, strict=True):
            if pid in missing:
                pd.withdraw_offer(hid, "not received / 接收方未收到", by_receiver)
            else:
                pd.take_custody(hid, giver, by_receiver)
        alerts = self._mismatch_alert(school, handover) if handover.mismatch else []
        return [handover, *(pd for _, pd in pairs), *alerts]

    def _check_pin_of(self, actor: Actor, staff_id: str, pin: str) -> None:
        school = self.school(actor.school_id, readonly=True)
        guard = self._guard(school, staff_id)
        self._check_pin(school.school_id, staff_id, guard["name"], pin)

    def sign_off_at_gate(self, actor: Actor, staff_id: str, pin: str, session: str) -> Outcome:
        """The guard leaves the gate (their PIN, so nobody else ends their shift early)."""
        gate_id = _gate_of(actor)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            guard = self._guard(school, staff_id)
            today = self.today(school)
            shift = self._gate_shift(school, staff_id, today, session, gate_id, readonly=False)
            if shift is None:
                raise NotFoundError("shift", f"{guard['name']} {today} {session} {gate_id}")
            if not shift.signed_off:
                self.check_holds_nobody(school, guard, today, session)
            shift.sign_off(self.now(), self._as_guard(actor, guard))
            return Decision([shift], shift.view())
        self._check_pin_of(actor, staff_id, pin)
        return self.execute(actor, decide)

    # -- who is acting at the tablet ---------------------------------------------
    def guard_on_duty(self, identity: StaffIdentity, guard_id: str, at: datetime) -> StaffRef:
        """The guard a gate tablet's command names, if they were on duty at its gate then
        (a command queued offline names the guard who made it, at its device time)."""
        if not isinstance(identity, DeviceIdentity) or identity.kind != "gate_tablet" \
                or identity.place_id is None:
            raise RuleError("X-Guard-Id names the guard at a gate tablet; a person's own token "
                            "acts as themselves.", field="X-Guard-Id")
        school = self.school(identity.school_id, readonly=True)
        gate = school.gate(identity.place_id)
        member = school.staff.get(guard_id)
        if member is None or is_device(guard_id) or Role.GUARD.value not in member["roles"]:
            raise GuardNotOnDutyError(guard_id, gate["name"])
        if at > self.now() + DEVICE_CLOCK_AHEAD:
            raise RuleError("X-Device-Time is later than now.", field="X-Device-Time")
        # A command made moments ago is judged now (a guard signed off a second ago releases no
        # more); one queued for a while at the time it was made on the device.
        now = self.now()
        if abs(now - at) <= DEVICE_CLOCK_SLACK:
            at = now
        day = at.astimezone(school.tz).date()
        for session in school.schedule.sessions:
            shift = self._gate_shift(school, guard_id, day, session.key, identity.place_id)
            if shift is not None and shift.open_at(at, DEVICE_CLOCK_SLACK):
                return {"staff_id": guard_id, "name": member["name"]}
        raise GuardNotOnDutyError(member["name"], gate["name"])
