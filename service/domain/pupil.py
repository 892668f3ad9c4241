"""The Pupil aggregate: profile, guardians, who may collect, restrictions, statements, enrolment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.common import id_tails_agree, normalise_name
from service.domain.decisions import (
    CollectionDecision,
    CollectionRefused,
    Collector,
    HomeAloneAllowed,
    HomeAloneDecision,
    HomeAloneRefused,
    ReleaseAllowed,
    issue,
)
from service.domain.errors import ConflictError, NotFoundError, RuleError
from service.domain.refs import (
    ActorRecord,
    AuthorisationRecord,
    GuardianRecord,
    RestrictionRecord,
    StatementRecord,
)

PUPIL_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/pupil")
PRIORITY_TAGS = ("留守", "残疾", "随迁", "困难")
GENDERS = ("男", "女")
ENROLMENT_STEPS = ("applied", "class_reviewed", "school_approved", "signed")


def within(valid_from: str | None, valid_to: str | None, day: date) -> bool:
    """Inclusive validity window; an open end never expires."""
    iso = day.isoformat()
    return (valid_from is None or valid_from <= iso) and (valid_to is None or iso <= valid_to)


class Pupil(Aggregate):
    """A pupil of one school.

    Invariants: the enrolment moves applied → class-reviewed → school-approved →
    signed → withdrawn, one step at a time; a restricted adult is never a
    collector, whatever else authorises them; expired entries no longer count;
    every change names who made it (``by``).
    """

    class Registered(Aggregate.Created):
        school_id: str
        name: str
        gender: str
        class_id: str
        import_key: str | None
        by: ActorRecord

    @staticmethod
    def create_id(school_id: str, import_key: str) -> UUID:
        return uuid5(PUPIL_NAMESPACE, f"{school_id}/{import_key}")

    @event(Registered)
    def __init__(
        self, school_id: str, name: str, gender: str, class_id: str,
        import_key: str | None, by: ActorRecord,
    ) -> None:
        self.school_id = school_id
        self.name = name
        self.gender = gender
        self.class_id = class_id
        self.import_key = import_key
        self.photo: str | None = None
        self.photo_file: dict[str, Any] | None = None  # the photo uploaded: its hash, size, kind
        self.guardians: dict[str, GuardianRecord] = {}
        self.authorisations: dict[str, AuthorisationRecord] = {}
        self.restrictions: dict[str, RestrictionRecord] = {}
        self.statements: dict[str, StatementRecord] = {}
        self.tags: list[str] = []
        self.enrolment: dict[str, Any] = {"status": "none", "history": []}

    @classmethod
    def register(
        cls, school_id: str, import_key: str, name: str, gender: str, class_id: str,
        by: ActorRecord,
    ) -> Pupil:
        name = "".join(name.split())
        if not name:
            raise RuleError("A pupil needs a name.", field="name")
        if gender not in GENDERS:
            raise RuleError("Gender is 男 or 女.", field="gender")
        return cls(
            school_id=school_id, name=name, gender=gender, class_id=class_id,
            import_key=import_key, by=by,
        )

    # -- profile -----------------------------------------------------------
    def change_profile(
        self, name: str, gender: str, photo: str | None, by: ActorRecord
    ) -> None:
        name = "".join(name.split())
        if not name:
            raise RuleError("A pupil needs a name.", field="name")
        if gender not in GENDERS:
            raise RuleError("Gender is 男 or 女.", field="gender")
        self._profile_changed(name=name, gender=gender, photo=photo, by=by)

    class ProfileChanged(Aggregate.Event):
        name: str
        gender: str
        photo: str | None
        by: ActorRecord

    @event(ProfileChanged)
    def _profile_changed(
        self, name: str, gender: str, photo: str | None, by: ActorRecord
    ) -> None:
        self.name, self.gender, self.photo = name, gender, photo

    def set_photo(self, photo: Mapping[str, Any], by: ActorRecord) -> None:
        """The pupil's photo, kept by its content hash in the blob store."""
        if len(photo.get("sha256", "")) != 64:
            raise RuleError("A photo is named by its SHA-256.", field="file")
        self._photo_set(photo=dict(photo), by=by)

    class PhotoSet(Aggregate.Event):
        photo: dict[str, Any]
        by: ActorRecord

    @event(PhotoSet)
    def _photo_set(self, photo: dict[str, Any], by: ActorRecord) -> None:
        self.photo_file = dict(photo)

    def move_to_class(self, class_id: str, by: ActorRecord) -> None:
        self._moved(class_id=class_id, by=by)

    class MovedClass(Aggregate.Event):
        class_id: str
        by: ActorRecord

    @event(MovedClass)
    def _moved(self, class_id: str, by: ActorRecord) -> None:
        self.class_id = class_id

    def set_tags(self, tags: list[str], by: ActorRecord) -> None:
        unknown = [t for t in tags if t not in PRIORITY_TAGS]
        if unknown:
            raise RuleError(f"Priority tags are {PRIORITY_TAGS}; not {unknown}.", field="tags")
        self._tags_set(tags=sorted(set(tags)), by=by)

    class PriorityTagsSet(Aggregate.Event):
        tags: list[str]
        by: ActorRecord

    @event(PriorityTagsSet)
    def _tags_set(self, tags: list[str], by: ActorRecord) -> None:
        self.tags = tags

    # -- guardians and collectors ------------------------------------------
    def add_guardian(
        self, guardian_id: str, name: str, relation: str, phone: str, may_collect: bool,
        id_tail: str | None, by: ActorRecord,
    ) -> None:
        if not normalise_name(name):
            raise RuleError("A guardian needs a name.", field="name")
        for g in self.guardians.values():
            if normalise_name(g["name"]) == normalise_name(name) and g["phone"] == phone:
                raise ConflictError("This guardian is already on file.", state=g)
        self._guardian_added(
            guardian_id=guardian_id, name=name.strip(), relation=relation.strip(),
            phone=phone, may_collect=may_collect, id_tail=id_tail, by=by,
        )

    class GuardianAdded(Aggregate.Event):
        guardian_id: str
        name: str
        relation: str
        phone: str
        may_collect: bool
        id_tail: str | None
        by: ActorRecord

    @event(GuardianAdded)
    def _guardian_added(
        self, guardian_id: str, name: str, relation: str, phone: str, may_collect: bool,
        id_tail: str | None, by: ActorRecord,
    ) -> None:
        self.guardians[guardian_id] = {
            "guardian_id": guardian_id, "name": name, "relation": relation, "phone": phone,
            "may_collect": may_collect, "id_tail": id_tail,
        }

    def guardian(self, guardian_id: str) -> GuardianRecord:
        try:
            return self.guardians[guardian_id]
        except KeyError:
            raise NotFoundError("guardian", guardian_id) from None

    def authorise(
        self, authorisation_id: str, name: str, relation: str | None, phone: str | None,
        id_tail: str | None, valid_from: date | None, valid_to: date | None,
        document: str | None, given_by_guardian_id: str | None, via: str,
        caller: str | None, one_day: bool, by: ActorRecord,
    ) -> None:
        """Authorise another adult: standing (a window) or for one day only."""
        if not normalise_name(name):
            raise RuleError("The authorised adult needs a name.", field="name")
        if given_by_guardian_id is not None:
            self.guardian(given_by_guardian_id)
        if valid_from and valid_to and valid_to < valid_from:
            raise RuleError("valid_to is before valid_from.", field="valid_to")
        if one_day and (valid_from is None or valid_from != valid_to):
            raise RuleError("A one-day authorisation names its single day.", field="date")
        if via == "phone_call" and not (caller and given_by_guardian_id):
            raise RuleError(
                "A phone authorisation names the guardian who called.", field="guardian_id"
            )
        restriction = self.restriction_over(name, id_tail, valid_from, valid_to)
        if restriction is not None:
            raise RuleError(
                f"{name.strip()} is restricted from collecting this pupil; "
                "no authorisation can be given to them.",
                field="name",
            )
        self._authorised(
            authorisation_id=authorisation_id, name=name.strip(), relation=relation,
            phone=phone, id_tail=id_tail,
            valid_from=valid_from.isoformat() if valid_from else None,
            valid_to=valid_to.isoformat() if valid_to else None,
            document=document, given_by_guardian_id=given_by_guardian_id, via=via,
            caller=caller, one_day=one_day, by=by,
        )

    class AdultAuthorised(Aggregate.Event):
        authorisation_id: str
        name: str
        relation: str | None
        phone: str | None
        id_tail: str | None
        valid_from: str | None
        valid_to: str | None
        document: str | None
        given_by_guardian_id: str | None
        via: str
        caller: str | None
        one_day: bool
        by: ActorRecord

    @event(AdultAuthorised)
    def _authorised(
        self, authorisation_id: str, name: str, relation: str | None, phone: str | None,
        id_tail: str | None, valid_from: str | None, valid_to: str | None,
        document: str | None, given_by_guardian_id: str | None, via: str,
        caller: str | None, one_day: bool, by: ActorRecord,
    ) -> None:
        self.authorisations[authorisation_id] = {
            "authorisation_id": authorisation_id, "name": name, "relation": relation,
            "phone": phone, "id_tail": id_tail, "valid_from": valid_from, "valid_to": valid_to,
            "document": document, "given_by_guardian_id": given_by_guardian_id, "via": via,
            "caller": caller, "one_day": one_day, "revoked": False,
            "recorded_by": by,
        }

    def revoke_authorisation(self, authorisation_id: str, reason: str, by: ActorRecord) -> None:
        found = self.authorisations.get(authorisation_id)
        if found is None:
            raise NotFoundError("authorisation", authorisation_id)
        if found["revoked"]:
            raise ConflictError("Already revoked.", state=found)
        self._authorisation_revoked(authorisation_id=authorisation_id, reason=reason, by=by)

    class AuthorisationRevoked(Aggregate.Event):
        authorisation_id: str
        reason: str
        by: ActorRecord

    @event(AuthorisationRevoked)
    def _authorisation_revoked(self, authorisation_id: str, reason: str, by: ActorRecord) -> None:
        self.authorisations[authorisation_id]["revoked"] = True

    def restrict(
        self, restriction_id: str, name: str, id_tail: str | None, reason: str,
        document: str | None, valid_from: date | None, valid_to: date | None,
        by: ActorRecord, relation: str | None = None,
    ) -> None:
        if not normalise_name(name):
            raise RuleError("A restriction names the adult.", field="name")
        if not reason.strip():
            raise RuleError("A restriction gives its reason.", field="reason")
        if valid_from and valid_to and valid_to < valid_from:
            raise RuleError("valid_to is before valid_from.", field="valid_to")
        self._restricted(
            restriction_id=restriction_id, name=name.strip(), id_tail=id_tail,
            reason=reason.strip(), document=document,
            relation=relation.strip() if relation and relation.strip() else None,
            valid_from=valid_from.isoformat() if valid_from else None,
            valid_to=valid_to.isoformat() if valid_to else None, by=by,
        )

    class RestrictionAdded(Aggregate.Event):
        restriction_id: str
        name: str
        id_tail: str | None
        reason: str
        document: str | None
        valid_from: str | None
        valid_to: str | None
        by: ActorRecord
        relation: str | None = None  # who the adult is to the child (生父, 前继父); older logs lack it

    @event(RestrictionAdded)
    def _restricted(
        self, restriction_id: str, name: str, id_tail: str | None, reason: str,
        document: str | None, valid_from: str | None, valid_to: str | None,
        by: ActorRecord, relation: str | None = None,
    ) -> None:
        self.restrictions[restriction_id] = {
            "restriction_id": restriction_id, "name": name, "id_tail": id_tail,
            "relation": relation, "reason": reason, "document": document,
            "valid_from": valid_from, "valid_to": valid_to, "lifted": False,
        }

    def lift_restriction(self, restriction_id: str, reason: str, by: ActorRecord) -> None:
        found = self.restrictions.get(restriction_id)
        if found is None:
            raise NotFoundError("restriction", restriction_id)
        if found["lifted"]:
            raise ConflictError("Already lifted.", state=found)
        self._restriction_lifted(restriction_id=restriction_id, reason=reason, by=by)

    class RestrictionLifted(Aggregate.Event):
        restriction_id: str
        reason: str
        by: ActorRecord

    @event(RestrictionLifted)
    def _restriction_lifted(self, restriction_id: str, reason: str, by: ActorRecord) -> None:
        self.restrictions[restriction_id]["lifted"] = True

    def file_statement(
        self, statement_id: str, valid_from: date, valid_to: date | None, weekdays: list[int],
        document: str | None, given_by_guardian_id: str, by: ActorRecord,
    ) -> None:
        """A guardian's written statement that the pupil may go home alone."""
        self.guardian(given_by_guardian_id)
        if valid_to and valid_to < valid_from:
            raise RuleError("valid_to is before valid_from.", field="valid_to")
        if not weekdays or any(d not in range(1, 8) for d in weekdays):
            raise RuleError("Weekdays are numbers 1 (Monday) to 7.", field="weekdays")
        self._statement_filed(
            statement_id=statement_id, valid_from=valid_from.isoformat(),
            valid_to=valid_to.isoformat() if valid_to else None, weekdays=sorted(set(weekdays)),
            document=document, given_by_guardian_id=given_by_guardian_id, by=by,
        )

    class GoHomeAloneStatementFiled(Aggregate.Event):
        statement_id: str
        valid_from: str
        valid_to: str | None
        weekdays: list[int]
        document: str | None
        given_by_guardian_id: str
        by: ActorRecord

    @event(GoHomeAloneStatementFiled)
    def _statement_filed(
        self, statement_id: str, valid_from: str, valid_to: str | None, weekdays: list[int],
        document: str | None, given_by_guardian_id: str, by: ActorRecord,
    ) -> None:
        self.statements[statement_id] = {
            "statement_id": statement_id, "valid_from": valid_from, "valid_to": valid_to,
            "weekdays": weekdays, "document": document,
            "given_by_guardian_id": given_by_guardian_id, "withdrawn": False,
        }

    def withdraw_statement(self, statement_id: str, by: ActorRecord) -> None:
        found = self.statements.get(statement_id)
        if found is None:
            raise NotFoundError("statement", statement_id)
        if found["withdrawn"]:
            raise ConflictError("Already withdrawn.", state=found)
        self._statement_withdrawn(statement_id=statement_id, by=by)

    class GoHomeAloneStatementWithdrawn(Aggregate.Event):
        statement_id: str
        by: ActorRecord

    @event(GoHomeAloneStatementWithdrawn)
    def _statement_withdrawn(self, statement_id: str, by: ActorRecord) -> None:
        self.statements[statement_id]["withdrawn"] = True

    # -- who may collect, decided -------------------------------------------
    def active_restriction(self, name: str, id_tail: str | None, day: date) -> RestrictionRecord | None:
        for r in self.restrictions.values():
            if r["lifted"] or not within(r["valid_from"], r["valid_to"], day):
                continue
            if _is_the_restricted_adult(r, name, id_tail):
                return r
        return None

    def restriction_over(
        self, name: str, id_tail: str | None, valid_from: date | None, valid_to: date | None
    ) -> RestrictionRecord | None:
        """A restriction on this adult in force on any day of the window (open ends never end)."""
        start = valid_from.isoformat() if valid_from else None
        end = valid_to.isoformat() if valid_to else None
        for r in self.restrictions.values():
            if r["lifted"]:
                continue
            if (end is not None and r["valid_from"] is not None and end < r["valid_from"]) or (
                start is not None and r["valid_to"] is not None and r["valid_to"] < start
            ):
                continue
            if _is_the_restricted_adult(r, name, id_tail):
                return r
        return None

    def collectors_on(self, day: date) -> list[Collector]:
        found = [
            Collector("guardian", g["guardian_id"], g["name"], g["relation"], g["phone"])
            for g in self.guardians.values()
            if g["may_collect"]
        ]
        for a in self.authorisations.values():
            if not a["revoked"] and within(a["valid_from"], a["valid_to"], day):
                kind = "one_day" if a["one_day"] else "authorised"
                found.append(Collector(kind, a["authorisation_id"], a["name"], a["relation"], a["phone"]))
        return [c for c in found if self.active_restriction(c.name, None, day) is None]

    def decide_collection(
        self, *, day: date, collector_id: str | None, name: str | None, id_tail: str | None
    ) -> CollectionDecision:
        """Who is at the gate, and may they take this pupil today?

        The answer is the only thing `PupilDay.release_to` and `leave_early` record from.
        A question the rule cannot answer is bad input, refused before anything is decided:
        neither a collector nor a name, a `collector_id` that is none of this pupil's guardians
        or authorisations, or a name at the gate that is not the collector's.
        """
        pupil_id, iso = str(self.id), day.isoformat()

        def refused(reason: str, restriction_id: str | None = None) -> CollectionDecision:
            return issue(CollectionRefused(pupil_id, iso, reason, restriction_id))

        if name is not None and not normalise_name(name):
            raise RuleError("Name the adult who came.", field="adult.name")
        if collector_id is None and not name:
            raise RuleError("Name the collector on file or the adult who came.", field="collector_id")
        candidates = self.collectors_on(day)
        chosen: Collector | None = None
        if collector_id is not None:
            entry = self.guardians.get(collector_id) or self.authorisations.get(collector_id)
            if entry is None:
                raise RuleError(f"No guardian or authorised adult {collector_id} for {self.name}.",
                                field="collector_id")
            if name and normalise_name(name) != normalise_name(entry["name"]):
                raise RuleError("The adult at the gate is not the collector named: name the "
                                "collector on file, or the adult who came, or both alike.",
                                field="adult.name")
            chosen = next((c for c in candidates if c.ref_id == collector_id), None)
            name = name or entry["name"]
        if name:
            restriction = self.active_restriction(name, id_tail, day)
            if restriction is not None:
                return refused("restricted", restriction["restriction_id"])
        if chosen is None and name and collector_id is None:
            chosen = next(
                (c for c in candidates if normalise_name(c.name) == normalise_name(name)), None
            )
        if chosen is not None:
            known = self.guardians.get(chosen.ref_id) or self.authorisations.get(chosen.ref_id)
            known_tail = known.get("id_tail") if known else None
            if not id_tails_agree(known_tail, id_tail):
                return refused("id_mismatch")
            if name and normalise_name(name) != normalise_name(chosen.name):
                return refused("not_authorised")
            return issue(ReleaseAllowed(pupil_id, iso, chosen))
        return refused("not_authorised")

    def decide_home_alone(self, day: date) -> HomeAloneDecision:
        """May the pupil go home alone today? Only under a statement on file for the day."""
        statement = self.statement_on(day)
        if statement is None:
            return issue(HomeAloneRefused(str(self.id), day.isoformat()))
        return issue(HomeAloneAllowed(str(self.id), day.isoformat(), statement["statement_id"]))

    def statement_on(self, day: date) -> StatementRecord | None:
        for s in self.statements.values():
            if (
                not s["withdrawn"]
                and within(s["valid_from"], s["valid_to"], day)
                and day.isoweekday() in s["weekdays"]
            ):
                return s
        return None

    # -- enrolment ---------------------------------------------------------
    def apply_for_care(
        self, term: str, starts: date, ends: date, sessions: list[str],
        guardian_id: str | None, by: ActorRecord,
    ) -> None:
        if self.enrolment["status"] not in ("none", "withdrawn", "rejected"):
            raise ConflictError("An enrolment is already under way.", state=self.enrolment_view())
        if ends < starts:
            raise RuleError("The term ends before it starts.", field="ends")
        if not sessions:
            raise RuleError("Name at least one session.", field="sessions")
        if guardian_id is not None:
            self.guardian(guardian_id)
        self._applied(
            term=term, starts=starts.isoformat(), ends=ends.isoformat(), sessions=sessions,
            guardian_id=guardian_id, by=by,
        )

    class EnrolmentApplied(Aggregate.Event):
        term: str
        starts: str
        ends: str
        sessions: list[str]
        guardian_id: str | None
        by: ActorRecord

    @event(EnrolmentApplied)
    def _applied(
        self, term: str, starts: str, ends: str, sessions: list[str], guardian_id: str | None,
        by: ActorRecord,
    ) -> None:
        self.enrolment = {
            "status": "applied", "term": term, "starts": starts, "ends": ends,
            "sessions": sessions, "withdrawn_on": None,
            "history": [*self.enrolment["history"], {"step": "applied", "by": by}],
        }

    def enrolment_reached(self, step: str, term: str | None = None) -> bool:
        """Is the enrolment under way at this step or past it (for this term, when named)?"""
        status = self.enrolment["status"]
        if status not in ENROLMENT_STEPS or step not in ENROLMENT_STEPS:
            return False
        if term is not None and self.enrolment.get("term") != term:
            return False
        return ENROLMENT_STEPS.index(status) >= ENROLMENT_STEPS.index(step)

    class EnrolmentAdvanced(Aggregate.Event):
        """A step of the enrolment; v2 adds the signed agreement's date and reference."""

        class_version = 2
        step: str
        note: str | None
        by: ActorRecord
        agreement: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["agreement"] = None

    def advance_enrolment(
        self, step: str, note: str | None, by: ActorRecord,
        agreement: dict[str, Any] | None = None,
    ) -> None:
        """Class review, school approval, signed agreement: in that order only.

        ``agreement`` ({"signed_on": ISO date or None, "reference": text or None}) describes
        the signed agreement (协议书) and goes only with the ``signed`` step.
        """
        if step not in ENROLMENT_STEPS[1:]:
            raise RuleError(f"Enrolment steps are {ENROLMENT_STEPS[1:]}.", field="step")
        if agreement is not None and step != "signed":
            raise RuleError("Only the signed step records an agreement.", field="agreement")
        expected_before = ENROLMENT_STEPS[ENROLMENT_STEPS.index(step) - 1]
        if self.enrolment["status"] != expected_before:
            raise ConflictError(
                f"Enrolment is {self.enrolment['status']}; {step} follows {expected_before}.",
                state=self.enrolment_view(),
            )
        if agreement is not None:
            agreement = {"signed_on": agreement.get("signed_on"),
                         "reference": agreement.get("reference")}
        self._advanced(step=step, note=note, by=by, agreement=agreement)

    @event(EnrolmentAdvanced)
    def _advanced(
        self, step: str, note: str | None, by: ActorRecord, agreement: dict[str, Any] | None
    ) -> None:
        self.enrolment["status"] = step
        if step == "signed":
            self.enrolment["agreement"] = agreement
        self.enrolment["history"] = [*self.enrolment["history"], {"step": step, "note": note, "by": by}]

    def reject_enrolment(self, reason: str, by: ActorRecord) -> None:
        if self.enrolment["status"] not in ("applied", "class_reviewed"):
            raise ConflictError("Only an application under review can be rejected.", state=self.enrolment_view())
        self._rejected(reason=reason, by=by)

    class EnrolmentRejected(Aggregate.Event):
        reason: str
        by: ActorRecord

    @event(EnrolmentRejected)
    def _rejected(self, reason: str, by: ActorRecord) -> None:
        self.enrolment["status"] = "rejected"
        self.enrolment["history"] = [*self.enrolment["history"], {"step": "rejected", "note": reason, "by": by}]

    def withdraw(self, on: date, reason: str, by: ActorRecord) -> None:
        if self.enrolment["status"] != "signed":
            raise ConflictError("Only a signed enrolment can be withdrawn.", state=self.enrolment_view())
        if on.isoformat() < self.enrolment["starts"]:
            raise RuleError("Withdrawal is before the term starts.", field="on")
        self._withdrawn(on=on.isoformat(), reason=reason, by=by)

    class EnrolmentWithdrawn(Aggregate.Event):
        on: str
        reason: str
        by: ActorRecord

    @event(EnrolmentWithdrawn)
    def _withdrawn(self, on: str, reason: str, by: ActorRecord) -> None:
        self.enrolment["status"] = "withdrawn"
        self.enrolment["withdrawn_on"] = on
        self.enrolment["history"] = [*self.enrolment["history"], {"step": "withdrawn", "note": reason, "by": by}]

    def enrolment_view(self) -> dict[str, Any]:
        return {k: v for k, v in self.enrolment.items() if k != "history"}

    def expected_on(self, day: date, session: str) -> bool:
        """Only a signed, current enrolment makes a pupil expected on a service day."""
        return enrolment_expects(self.enrolment, day, session)


def enrolment_expects(e: Mapping[str, Any], day: date, session: str) -> bool:
    """Only a signed, current enrolment makes a pupil expected on a service day."""
    iso = day.isoformat()
    if e["status"] == "signed":
        return bool(e["starts"] <= iso <= e["ends"] and session in e["sessions"])
    if e["status"] == "withdrawn":
        return bool(e["starts"] <= iso < e["withdrawn_on"] and session in e["sessions"])
    return False


def _is_the_restricted_adult(r: RestrictionRecord, name: str, id_tail: str | None) -> bool:
    """The adult a restriction names: the same name however written (with the ID tails agreeing
    where both are known), or, whatever the name given, the ID tail the restriction holds."""
    if r["id_tail"] and id_tail and normalise_name(r["id_tail"])[-4:] == normalise_name(id_tail)[-4:]:
        return True
    return normalise_name(r["name"]) == normalise_name(name) and id_tails_agree(r["id_tail"], id_tail)
