"""The afternoon: handovers, absences, sign-ins, releases, refusals, early departures, corrections."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from service.domain.common import Actor
from service.domain.decisions import CollectionRefused, HomeAloneAllowed, ReleaseAllowed
from service.domain.errors import NotFoundError, RuleError
from service.domain.handover import Handover
from service.domain.messages import message
from service.domain.privacy import CUSTODY_LIST, Data, custody_state, group_reads, may_see, read_of
from service.domain.pupil import Pupil, enrolment_expects
from service.domain.pupil_day import NOT_HANDED_OVER, PupilDay, day_view, derive
from service.domain.refs import AdultRef, PlaceRef, StaffRef
from service.domain.school import School
from service.domain.shift import DUTY, Shift, receiving_shifts, shift_id
from service.use_cases.commands import (
    ConfirmHandover,
    Correct,
    GoHomeAlone,
    HandOver,
    LeaveEarly,
    MarkAbsent,
    RefuseRelease,
    Release,
    SignIn,
    WithdrawHandover,
    came,
)
from service.use_cases.core import Decision, Outcome
from service.use_cases.incidents import IncidentUseCases
from service.use_cases.ports import Doc, Kept, PupilReads
from service.use_cases.receivers import require_custody_receiver, require_person
from service.use_cases.results import Refused


def staff_ref(school: School, staff_id: str) -> StaffRef:
    member = school.member(staff_id)
    return {"staff_id": staff_id, "name": member["name"]}


def place_ref(school: School, place_id: str) -> PlaceRef:
    kind = "group" if place_id in school.groups else "gate" if place_id in school.gates else "gatehouse"
    return {"id": place_id, "label": school.place_label(place_id), "kind": kind}


def _came(adult: AdultRef | None, allowed: ReleaseAllowed) -> AdultRef:
    """Who came to collect: the adult as named at the gate, or the collector on file."""
    c = allowed.collector
    return adult if adult else came(c.name, c.relation, c.phone)


class AfternoonUseCases(IncidentUseCases):
    # -- shared checks -----------------------------------------------------
    def _expected(self, school: School, pupil_id: str, on: date, session: str) -> Pupil:
        pupil = self.pupil(school.school_id, pupil_id, readonly=True)
        if not pupil.expected_on(on, session):
            raise RuleError(f"{pupil.name} is not enrolled for {session} on {on}.", field="pupil_ids")
        return pupil

    def _days(self, school: School, pupil_ids: list[str], on: date, session: str) -> list[tuple[Pupil, PupilDay]]:
        if len(set(pupil_ids)) != len(pupil_ids):
            raise RuleError("A pupil is named twice.", field="pupil_ids")
        pairs = []
        for pupil_id in pupil_ids:
            pupil = self._expected(school, pupil_id, on, session)
            pairs.append((pupil, self.pupil_day(school, pupil, on, session)))
        return pairs

    def _refusal_alerts(self, school: School, refused: list[tuple[Pupil, PupilDay]],
                        came: AdultRef) -> list[Aggregate]:
        """A refused release is an alert of its own, raised in the same transaction; an adult
        turned away opens the pupil's attempted-collection incident of the day, or joins it."""
        alerts: list[Aggregate] = []
        for pupil, pd in refused:
            entry = pd.entries[-1]
            alert = self.new_alert(
                school.school_id, "release_refused", f"refused/{pd.id}/{entry['seq']}",
                {"pupil_id": str(pupil.id), "name": pupil.name, "day": pd.day, "session": pd.session,
                 "adult": came, "reason": entry["reason"], "gate": entry.get("gate")},
                message("alert.release_refused", name=pupil.name, adult=came.get("name"),
                        reason_code=f"refusal.{entry['reason']}"))
            alerts += [alert] if alert else []
            alerts += self.attempted_collection(school, pupil, pd, came, entry.get("gate"),
                                                entry["by"])
        return alerts

    def _mismatch_alert(self, school: School, handover: Handover) -> list[Aggregate]:
        """One count_mismatch alert per handover, raised when offered or when confirmed."""
        hid = str(handover.id)
        received = "?" if handover.count_received is None else handover.count_received
        alert = self.new_alert(
            school.school_id, "count_mismatch", f"mismatch/{hid}", {**handover.view(), "handover_id": hid},
            message("alert.count_mismatch", giver=handover.giver["name"], given=handover.count_given,
                    named=len(handover.pupil_ids), receiver=handover.to["name"], received=received))
        return [alert] if alert else []

    def _day_change(self, actor: Actor, pupil_id: str, day: date | None, session: str, change: Any,
                    *, ahead: bool = False) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self.session_day(school, day, session, ahead=ahead)
            [(pupil, pd)] = self._days(school, [pupil_id], on, session)
            change(school, pupil, pd)
            return Decision([pd], pd.view())
        return self.execute(actor, decide)

    # -- handovers ---------------------------------------------------------
    def hand_over(self, actor: Actor, cmd: HandOver) -> Outcome:
        """Offer pupils to another adult; custody moves only when they confirm with their count.

        With ``to_session``, the pupils pass from this session into a later one the same day
        (after-school care, then evening study): both sessions hold the offer until the later
        session's receiver confirms; then the earlier one shows where each pupil went.
        """
        session = cmd.session

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            require_custody_receiver(school, cmd.to_staff_id)
            on = self.session_day(school, cmd.day, session)
            if cmd.to_session is not None:
                return self._hand_into_session(school, actor, on, cmd, cmd.to_session)
            ids = list(cmd.pupil_ids or [])
            if cmd.class_id is not None:
                school.class_(cmd.class_id)
                for pid, cid in school.roll.items():
                    if cid != cmd.class_id or pid in ids:
                        continue
                    existing = self.existing_pupil_day(school.school_id, pid, on, session)
                    if self.pupil(school.school_id, pid, readonly=True).expected_on(on, session) and (
                        existing is None or existing.status == NOT_HANDED_OVER
                    ):
                        ids.append(pid)
            if not ids:
                raise RuleError("No pupils to hand over.", field="pupil_ids")
            pairs = self._days(school, ids, on, session)
            to = staff_ref(school, cmd.to_staff_id)
            place = place_ref(school, cmd.place_id)
            giver = staff_ref(school, actor.staff_id)
            kind = {"gate": "to_gate", "gatehouse": "to_gatehouse"}.get(place["kind"])
            if kind is None:
                fresh = all(pd.status == NOT_HANDED_OVER for _, pd in pairs)
                kind = "class_handover" if fresh else "transfer"
            by = actor.record()
            handover = Handover.offer(
                school_id=school.school_id, day=on.isoformat(), session=session, kind=kind,
                giver=giver, to=to, place=place, pupil_ids=ids, count_given=cmd.count, note=cmd.note,
                by=by,
            )
            for _, pd in pairs:
                pd.offer(str(handover.id), kind, giver, to, place, by)
            alerts = self._mismatch_alert(school, handover) if handover.mismatch else []
            return Decision([handover, *(pd for _, pd in pairs), *alerts], handover.view(), created=True)
        return self.execute(actor, decide)

    def _hand_into_session(self, school: School, actor: Actor, on: date, cmd: HandOver,
                           to_session: str) -> Decision:
        session, pupil_ids = cmd.session, list(cmd.pupil_ids or [])
        if cmd.class_id is not None or not pupil_ids:
            raise RuleError("Name the pupils who stay for the later session.", field="pupil_ids")
        if to_session == session:
            raise RuleError("A pupil passes into another session.", field="to_session")
        try:
            self.session_day(school, on, to_session)
        except RuleError as e:
            raise RuleError(str(e), field="to_session") from None
        if school.schedule.start_at(to_session, on, school.tz) < school.schedule.start_at(session, on, school.tz):
            raise RuleError(f"{to_session} starts before {session}: pupils pass into a later session.",
                            field="to_session")
        pairs = self._days(school, pupil_ids, on, session)
        later = self._days(school, pupil_ids, on, to_session)
        to, place = staff_ref(school, cmd.to_staff_id), place_ref(school, cmd.place_id)
        if place["kind"] != "group":
            raise RuleError("The later session receives the pupils in a group's room.", field="place_id")
        giver, by = staff_ref(school, actor.staff_id), actor.record()
        handover = Handover.offer(
            school_id=school.school_id, day=on.isoformat(), session=session, kind="to_session",
            giver=giver, to=to, place=place, pupil_ids=pupil_ids, count_given=cmd.count,
            note=cmd.note, by=by, to_session=to_session,
        )
        hid = str(handover.id)
        for (_, pd), (_, next_pd) in zip(pairs, later, strict=True):
            pd.offer(hid, "to_session", giver, to, place, by)
            next_pd.offer_from_session(hid, session, giver, to, place, by)
        alerts = self._mismatch_alert(school, handover) if handover.mismatch else []
        days = [pd for _, pd in pairs] + [pd for _, pd in later]
        return Decision([handover, *days, *alerts], handover.view(), created=True)

    def _handover_days(self, school: School, handover: Handover, pid: str) -> tuple[PupilDay, PupilDay | None]:
        """The pupil's chain in the handover's session, and in the session it passes into."""
        on = date.fromisoformat(handover.day)
        pupil = self.pupil(school.school_id, pid, readonly=True)
        pd = self.pupil_day(school, pupil, on, handover.session)
        to_session = getattr(handover, "to_session", None)
        return pd, None if to_session is None else self.pupil_day(school, pupil, on, to_session)

    def shifts_of(self, school: School, staff_id: str, day: str, session: str) -> list[Shift]:
        """The staff member's shifts of the session, at every place (for changing)."""
        found = (self._find(shift_id(school.school_id, staff_id, day, session, place))
                 for place in [DUTY, *school.groups, *school.gates])
        return [s for s in found if isinstance(s, Shift)]

    def confirm_handover(self, actor: Actor, cmd: ConfirmHandover) -> Outcome:
        """The receiver confirms with their count; refused when the receiver is off duty. The
        receiver's open shift records the handover, so a sign-off decided at the same moment
        collides with it and is decided again (and refused: the pupils are now held)."""
        handover_id = cmd.handover_id
        received = None if cmd.received_pupil_ids is None else list(cmd.received_pupil_ids)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            handover = self.handover(school.school_id, handover_id)
            by = actor.record()
            missing = handover.confirm(cmd.count, received, by)
            days: list[Aggregate] = [handover]
            taken = [p for p in handover.pupil_ids if p not in missing]
            if taken:
                receiving = getattr(handover, "to_session", None) or handover.session
                for shift in receiving_shifts(handover.to, handover.place, self.shifts_of(
                        school, handover.to["staff_id"], handover.day, receiving)):
                    shift.take_custody(handover_id, taken, handover.place, self.now(), by)
                    days.append(shift)
            for pid in handover.pupil_ids:
                pd, next_pd = self._handover_days(school, handover, pid)
                for chain in (pd, next_pd) if next_pd is not None else (pd,):
                    if pid in missing:
                        chain.withdraw_offer(handover_id, "not received / 接收方未收到", by)
                    elif chain is pd and next_pd is not None:
                        pd.pass_on(handover_id, handover.to_session or "", by)
                    else:
                        chain.take_custody(handover_id, handover.giver, by)
                    days.append(chain)
            if handover.mismatch:
                days += self._mismatch_alert(school, handover)
            return Decision(days, handover.view())
        return self.execute(actor, decide)

    def withdraw_handover(self, actor: Actor, cmd: WithdrawHandover) -> Outcome:
        handover_id, reason = cmd.handover_id, cmd.reason

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            handover = self.handover(school.school_id, handover_id)
            by = actor.record()
            handover.withdraw(reason, by)
            days: list[Aggregate] = [handover]
            for pid in handover.pupil_ids:
                pd, next_pd = self._handover_days(school, handover, pid)
                for chain in (pd, next_pd) if next_pd is not None else (pd,):
                    chain.withdraw_offer(handover_id, reason, by)
                    days.append(chain)
            return Decision(days, handover.view())
        return self.execute(actor, decide)

    def describe_handover(self, actor: Actor, handover_id: str) -> dict[str, Any]:
        return self.handover(actor.school_id, handover_id).view()

    # -- attendance ----------------------------------------------------------
    def mark_absent(self, actor: Actor, cmd: MarkAbsent) -> Outcome:
        return self._day_change(actor, cmd.pupil_id, cmd.day, cmd.session,
                                lambda s, p, pd: pd.mark_absent(cmd.with_leave, cmd.reason, actor.record()),
                                ahead=True)

    def sign_in(self, actor: Actor, cmd: SignIn) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self.session_day(school, cmd.day, cmd.session)
            pairs = self._days(school, list(cmd.pupil_ids), on, cmd.session)
            me, place = staff_ref(school, actor.staff_id), place_ref(school, cmd.place_id)
            by = actor.record()
            for _, pd in pairs:
                pd.sign_in(me, place, by)
            # Custody is taken only on duty, and recorded on the open shift as a handover is.
            shifts = receiving_shifts(me, place, self.shifts_of(school, actor.staff_id,
                                                                on.isoformat(), cmd.session))
            for shift in shifts:
                shift.take_custody(None, [str(p.id) for p, _ in pairs], place, self.now(), by)
            # The answer shows the reader who collected, with contact data only if their role may.
            return Decision([*(pd for _, pd in pairs), *shifts], {"pupils": [
                custody_state(pd.view(), may_see(school, actor.staff_id, pupil.class_id))
                for pupil, pd in pairs]})
        return self.execute(actor, decide)

    # -- leaving -------------------------------------------------------------
    def release(self, actor: Actor, cmd: Release) -> Outcome:
        """Release siblings to one adult: all of them, or none and every refusal recorded."""
        adult = cmd.adult
        require_person(actor)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self.session_day(school, cmd.day, cmd.session)
            gate = place_ref(school, school.gate(cmd.gate_id)["gate_id"])
            pairs = self._days(school, list(cmd.pupil_ids), on, cmd.session)
            by = actor.record()
            decisions = [
                pupil.decide_collection(day=on, collector_id=cmd.collector_id,
                                        name=adult["name"] if adult else None,
                                        id_tail=adult["id_tail"] if adult else None)
                for pupil, _ in pairs
            ]
            refused = [(p, pd, d) for (p, pd), d in zip(pairs, decisions, strict=True)
                       if isinstance(d, CollectionRefused)]
            if refused:
                who = adult or came(_named(pairs[0][0], cmd.collector_id))
                for _, pd, no in refused:
                    pd.refuse_release(who, no.refusal, no.restriction_id, gate, by)
                alerts = self._refusal_alerts(school, [(p, pd) for p, pd, _ in refused], who)
                return Decision([*(pd for _, pd, _ in refused), *alerts],
                                _refused(refused, who))
            for (_, pd), allowed in zip(pairs, decisions, strict=True):
                assert isinstance(allowed, ReleaseAllowed)
                pd.release_to(allowed, _came(adult, allowed), cmd.identity_check, gate, by)
            # The answer shows the reader who collected, with contact data only if their role may.
            return Decision([pd for _, pd in pairs], {"pupils": [
                custody_state(pd.view(), may_see(school, actor.staff_id, pupil.class_id))
                for pupil, pd in pairs]})
        return self.execute(actor, decide)

    def refuse_release(self, actor: Actor, cmd: RefuseRelease) -> Outcome:
        require_person(actor)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self.session_day(school, cmd.day, cmd.session)
            [(pupil, pd)] = self._days(school, [cmd.pupil_id], on, cmd.session)
            gate = place_ref(school, school.gate(cmd.gate_id)["gate_id"]) if cmd.gate_id else None
            pd.refuse_release(cmd.adult, "refused_by_staff", cmd.reason, gate, actor.record())
            alerts = self._refusal_alerts(school, [(pupil, pd)], cmd.adult)
            return Decision([pd, *alerts], pd.view())
        return self.execute(actor, decide)

    def go_home_alone(self, actor: Actor, cmd: GoHomeAlone) -> Outcome:
        """Only under a guardian's statement on file for that day; a refusal is recorded."""
        require_person(actor)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self.session_day(school, cmd.day, cmd.session)
            [(pupil, pd)] = self._days(school, [cmd.pupil_id], on, cmd.session)
            gate = place_ref(school, school.gate(cmd.gate_id)["gate_id"]) if cmd.gate_id else None
            decision = pupil.decide_home_alone(on)
            if not isinstance(decision, HomeAloneAllowed):
                alone = came(pupil.name, "本人")
                pd.refuse_release(alone, "no_statement", None, gate, actor.record())
                alerts = self._refusal_alerts(school, [(pupil, pd)], alone)
                return Decision([pd, *alerts], _refused([(pupil, pd, decision)], alone))
            pd.go_home_alone(decision, gate, actor.record())
            return Decision([pd], pd.view())
        return self.execute(actor, decide)

    def leave_early(self, actor: Actor, cmd: LeaveEarly) -> Outcome:
        adult = cmd.adult
        require_person(actor)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            on = self.session_day(school, cmd.day, cmd.session)
            [(pupil, pd)] = self._days(school, [cmd.pupil_id], on, cmd.session)
            approver = staff_ref(school, cmd.approved_by_staff_id)
            _require_approver(school, pupil, cmd.approved_by_staff_id)
            d = pupil.decide_collection(day=on, collector_id=cmd.collector_id,
                                        name=adult["name"] if adult else None,
                                        id_tail=adult["id_tail"] if adult else None)
            if not isinstance(d, ReleaseAllowed):
                who = adult or came(_named(pupil, cmd.collector_id))
                pd.refuse_release(who, d.refusal or "not_authorised", d.restriction_id, None,
                                  actor.record())
                alerts = self._refusal_alerts(school, [(pupil, pd)], who)
                return Decision([pd, *alerts], _refused([(pupil, pd, d)], who))
            pd.leave_early(d, _came(adult, d), approver, cmd.reason, cmd.homeroom_informed,
                           actor.record())
            return Decision([pd], custody_state(pd.view(), may_see(school, actor.staff_id, pupil.class_id)))
        return self.execute(actor, decide)

    def correct(self, actor: Actor, cmd: Correct) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            pd = self.existing_pupil_day(school.school_id, cmd.pupil_id, cmd.day, cmd.session)
            if pd is None:
                self.pupil(school.school_id, cmd.pupil_id)
                raise NotFoundError("event", cmd.seq)
            pd.correct(cmd.seq, cmd.reason, actor.record())
            return Decision([pd], pd.view())
        return self.execute(actor, decide)

    # -- reads -----------------------------------------------------------------
    def pupil_afternoon(self, actor: Actor, pupil_id: str, day: date | None, session: str) -> dict[str, Any]:
        """The pupil's state now and the whole chain of custody for the session."""
        school = self.school(actor.school_id, readonly=True)
        pupil = self.pupil(school.school_id, pupil_id, readonly=True)
        on = day or self.today(school)
        pd = self.pupil_day(school, pupil, on, session)
        seen = may_see(school, actor.staff_id, pupil.class_id)
        self.access.note(actor, "pupil_afternoon", {tuple(read_of(seen, CUSTODY_LIST)): [pupil_id]})
        return custody_state({**pd.view(), "name": pupil.name, "expected": pupil.expected_on(on, session),
                              "chain": pd.entries}, seen)

    def expected_today(self, actor: Actor, day: date | None, session: str,
                       class_id: str | None, views: PupilReads | None = None) -> dict[str, Any]:
        """Every pupil expected for the session and where each one is: from the views when they
        answer as of everything written, else from each pupil's aggregates (the same answer).

        From the views, each pupil's row is kept while their documents stay the same, and the
        whole answer while all of them do (the very same object: callers never change it)."""
        school = self.school(actor.school_id, readonly=True)
        on = day or self.today(school)
        runs = session in {s.key for s in school.schedule.sessions} and school.schedule.runs_on(session, on)
        docs = views.pupils(school.school_id) if views is not None and runs else None
        chains = views.days(school.school_id, on, session) if views is not None and docs is not None else None
        if views is None or docs is None or chains is None:
            found, reads = self._afternoon(actor, school, on, session, class_id, runs, None)
        else:
            kept = views.kept((school.school_id, on, session))
            found, reads = kept.get(("afternoon", class_id), (docs, chains), lambda: self._afternoon(
                actor, school, on, session, class_id, runs, (docs, chains, kept)),
                given=(school.version, actor.staff_id))
        self.access.note(actor, "afternoon", reads)
        return found

    def _afternoon(self, actor: Actor, school: School, on: date, session: str, class_id: str | None,
                  runs: bool, views: tuple[dict[str, Doc], dict[str, Doc], Kept] | None,
                  ) -> tuple[dict[str, Any], dict[tuple[str, ...], list[str]]]:
        pupils: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        reads: list[tuple[str, list[str]]] = []
        seen_by_class: dict[str, frozenset[Data]] = {}
        read_by_class: dict[str, list[str]] = {}
        iso = on.isoformat()

        def from_views(pupil_id: str, doc: Doc | None, chain: Doc | None, cid: str,
                       seen: frozenset[Data]) -> dict[str, Any] | None:
            if doc is None or not enrolment_expects(doc["enrolment"], on, session):
                return None
            entries = chain["entries"] if chain else []
            view = day_view(pupil_id, iso, session, derive(entries), entries, chain["version"] if chain else 1)
            return custody_state({**view, "name": doc["name"], "class_id": cid,
                                  "class_label": school.classes[cid]["label"]}, seen)
        for pupil_id, cid in school.roll.items() if runs else ():
            if class_id and cid != class_id:
                continue
            if cid not in seen_by_class:
                seen_by_class[cid] = may_see(school, actor.staff_id, cid)
                read_by_class[cid] = read_of(seen_by_class[cid], CUSTODY_LIST)
            seen = seen_by_class[cid]
            if views is not None:
                docs, chains, kept = views
                doc, chain = docs.get(pupil_id), chains.get(pupil_id)
                row = kept.get(("afternoon row", pupil_id, seen), (doc, chain), lambda: from_views(
                    pupil_id, doc, chain, cid, seen),  # noqa: B023 - called here, in this round
                    given=(cid, school.classes[cid]["label"]))
                if row is None:
                    continue
            else:
                pupil = self.pupil(school.school_id, pupil_id, readonly=True)
                if not pupil.expected_on(on, session):
                    continue
                row = custody_state({**self.pupil_day(school, pupil, on, session).view(), "name": pupil.name,
                                     "class_id": cid, "class_label": school.classes[cid]["label"]}, seen)
            counts[row["status"]] = counts.get(row["status"], 0) + 1
            pupils.append(row)
            reads.append((pupil_id, read_by_class[cid]))
        pupils.sort(key=lambda p: (p["class_label"], p["name"]))
        return {"day": iso, "session": session, "service": runs, "counts": counts,
                "expected": len(pupils), "pupils": pupils}, group_reads(reads)


def _named(pupil: Pupil, collector_id: str | None) -> str:
    entry = pupil.guardians.get(collector_id or "") or pupil.authorisations.get(collector_id or "")
    return entry["name"] if entry else f"unknown collector {collector_id}"


def _refused(refused: list[Any], came: AdultRef) -> Refused:
    """Who came, and for each pupil the rule's reason and the refusal fact recorded."""
    return Refused(came, [{"pupil_id": str(pupil.id), "name": pupil.name, "reason": d.refusal,
                           "refusal_event": pd.entries[-1]["seq"]} for pupil, pd, d in refused])


APPROVERS = ("duty_leader", "admin")  # and the homeroom teacher of the pupil's class


def _require_approver(school: School, pupil: Pupil, staff_id: str) -> None:
    """An early departure is approved by a duty leader, an admin or the pupil's homeroom teacher,
    never by whoever happens to be named."""
    roles = school.member(staff_id)["roles"]
    klass = school.classes.get(pupil.class_id)
    homeroom = klass["homeroom_teacher_id"] if klass else None
    if not (set(roles) & set(APPROVERS) or staff_id == homeroom):
        raise RuleError("A duty leader, an admin or the pupil's homeroom teacher approves an early "
                        "departure.", field="approved_by_staff_id")
