"""Pupil use cases: profiles, guardians, who may collect, restrictions, statements, enrolment, import."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate

from service.adapters.blobs import sha256_of
from service.adapters.photos import prepare_photo
from service.domain.common import Actor, normalise_name
from service.domain.errors import ConflictError, ForbiddenError, NotFoundError, RuleError
from service.domain.privacy import (
    PUPIL_LIST,
    PUPIL_RECORD,
    Data,
    group_reads,
    may_see,
    pupil_record,
    pupil_summary,
    read_of,
)
from service.domain.pupil import ENROLMENT_STEPS, Pupil
from service.domain.refs import ActorRecord, RosterEntry
from service.domain.schedule import GAP_TEXT
from service.domain.school import School
from service.imports.roster import RosterFormatError, RosterRow, RosterTooLargeError, parse_roster
from service.use_cases.commands import (
    ApplyForCare,
    Authorise,
    FileStatement,
    Guardian,
    PhoneAuthorisation,
    RegisterPupil,
    Restrict,
)
from service.use_cases.core import AppCore, Decision, Outcome
from service.use_cases.enrolment import (
    Term,
    check_attends,
    check_step_role,
    enrol_through_to_signed,
)
from service.use_cases.ports import PupilReads
from service.use_cases.receivers import require_person
from service.use_cases.results import Rejected
from service.use_cases.setup import class_label


def pupil_view(pupil: Pupil, school: School) -> dict[str, Any]:
    klass: Mapping[str, Any] = school.classes.get(pupil.class_id, {})
    return {
        "pupil_id": str(pupil.id), "name": pupil.name, "gender": pupil.gender,
        "class_id": pupil.class_id, "class_label": klass.get("label"),
        "photo": pupil.photo, "tags": pupil.tags,
        "photo_sha256": pupil.photo_file["sha256"] if pupil.photo_file else None,
        "guardians": list(pupil.guardians.values()),
        "authorisations": list(pupil.authorisations.values()),
        "restrictions": list(pupil.restrictions.values()),
        "statements": list(pupil.statements.values()),
        "enrolment": pupil.enrolment_view(),
    }


def _add_guardian(pupil: Pupil, g: Guardian, by: ActorRecord) -> None:
    pupil.add_guardian(str(uuid4()), name=g.name, relation=g.relation or "监护人", phone=g.phone,
                       may_collect=g.may_collect, id_tail=g.id_tail, by=by)


@dataclass(frozen=True)
class PaperAgreements:
    """What an import says of agreements signed on paper, for rows whose 协议 cell is empty."""

    term: Term | None = None
    all_signed: bool = False
    signed_on: date | None = None
    reference: str | None = None

    def signed(self, row: RosterRow) -> bool:
        return row.agreement.signed if row.agreement is not None else self.all_signed

    def agreement(self, row: RosterRow) -> dict[str, Any]:
        on = (row.agreement.signed_on if row.agreement else None) or self.signed_on
        return {"signed_on": on.isoformat() if on else None,
                "reference": (row.agreement.reference if row.agreement else None) or self.reference}


class PupilUseCases(AppCore):
    def _pupil_change(self, actor: Actor, pupil_id: str, change: Any, created: bool = False) -> Outcome:
        """Load one pupil, apply one change, answer with the pupil as it now stands."""
        def decide() -> Decision:
            school = self.school(actor.school_id)
            pupil = self.pupil(actor.school_id, pupil_id)
            change(pupil, school)
            return Decision([pupil], self._answer(actor, pupil, school), created)
        return self._execute_answering(actor, decide)

    def _answer(self, actor: Actor, pupil: Pupil, school: School) -> dict[str, Any]:
        """The pupil's record as this reader may see it."""
        return pupil_record(pupil_view(pupil, school), may_see(school, actor.staff_id, pupil.class_id))

    def _execute_answering(self, actor: Actor, decide: Any) -> Outcome:
        """A change answered with the pupil's record: that answer is a read, and recorded."""
        outcome = self.execute(actor, decide)
        body = outcome.body
        if outcome.ok and isinstance(body, dict) and body.get("shown"):
            self.access.note(actor, "pupil", {tuple(body["shown"]): [body["pupil_id"]]})
        return outcome

    def describe_pupil(self, actor: Actor, pupil_id: str) -> dict[str, Any]:
        school = self.school(actor.school_id, readonly=True)
        pupil = self.pupil(actor.school_id, pupil_id, readonly=True)
        seen = may_see(school, actor.staff_id, pupil.class_id)
        self.access.note(actor, "pupil", {tuple(read_of(seen, PUPIL_RECORD)): [pupil_id]})
        return pupil_record(pupil_view(pupil, school), seen)

    def list_pupils(self, actor: Actor, class_id: str | None, q: str | None,
                    views: PupilReads | None = None) -> list[dict[str, Any]]:
        """The school's pupils, every one (by class, then name)."""
        return list(self.page_pupils(actor, class_id, q, views)["pupils"])

    def page_pupils(self, actor: Actor, class_id: str | None, q: str | None,
                    views: PupilReads | None = None, offset: int = 0,
                    limit: int | None = None) -> dict[str, Any]:
        """One page of the school's pupils (by class, then name) and how many there are in all:
        from the views when they answer as of everything written, else from each pupil's
        aggregate (the same answer). Only the pupils on the page count as read."""
        school = self.school(actor.school_id, readonly=True)
        docs = views.pupils(school.school_id) if views is not None else None
        wanted = normalise_name(q) if q else None
        rows = []
        for pupil_id, cid in school.roll.items():
            if class_id and cid != class_id:
                continue
            doc = docs.get(pupil_id) if docs is not None else None
            if doc is not None:
                row = {"name": doc["name"], "gender": doc["gender"], "tags": doc["tags"],
                       "enrolment_status": doc["enrolment"]["status"]}
            else:
                pupil = self.pupil(actor.school_id, pupil_id, readonly=True)
                row = {"name": pupil.name, "gender": pupil.gender, "tags": pupil.tags,
                       "enrolment_status": pupil.enrolment["status"]}
            if wanted and wanted not in normalise_name(row["name"]):
                continue
            rows.append({"pupil_id": pupil_id, "name": row["name"], "gender": row["gender"],
                         "class_id": cid, "class_label": school.classes[cid]["label"],
                         "enrolment_status": row["enrolment_status"], "tags": row["tags"]})
        rows.sort(key=lambda p: (p["class_label"], p["name"], p["pupil_id"]))
        page = rows[offset:] if limit is None else rows[offset:offset + limit]
        out, reads = [], []
        for row in page:
            seen = may_see(school, actor.staff_id, row["class_id"])
            out.append(pupil_summary(row, seen))
            reads.append((row["pupil_id"], read_of(seen, PUPIL_LIST)))
        self.access.note(actor, "pupil_list", group_reads(reads))
        more = offset + len(page) < len(rows)
        return {"pupils": out, "total": len(rows), "offset": offset,
                "next_offset": offset + len(page) if more else None}

    def register_pupil(self, actor: Actor, cmd: RegisterPupil) -> Outcome:
        def decide() -> Decision:
            school = self.school(actor.school_id)
            school.class_(cmd.class_id)
            by = actor.record()
            pupil = Pupil.register(school.school_id, f"manual/{uuid4()}", cmd.name, cmd.gender,
                                   cmd.class_id, by)
            for g in cmd.guardians:
                _add_guardian(pupil, g, by)
            school.register_pupils([{"pupil_id": str(pupil.id), "class_id": cmd.class_id}], by)
            return Decision([school, pupil], self._answer(actor, pupil, school), created=True)
        return self._execute_answering(actor, decide)

    def change_pupil_profile(self, actor: Actor, pupil_id: str, name: str, gender: str,
                             photo: str | None) -> Outcome:
        return self._pupil_change(actor, pupil_id,
                                  lambda p, s: p.change_profile(name, gender, photo, actor.record()))

    def set_pupil_photo(self, actor: Actor, pupil_id: str, data: bytes, declared: str | None) -> Outcome:
        """Keep the pupil's photo: checked as an image, scaled down, kept by its content hash in
        the blob store; the pupil's profile records the hash."""
        self.pupil(actor.school_id, pupil_id, readonly=True)  # a pupil of this school, before the file
        photo = prepare_photo(data, declared)
        sha = sha256_of(photo.content)

        def change(pupil: Pupil, school: School) -> None:
            pupil.set_photo({"sha256": sha, "size": len(photo.content), "media_type": "image/jpeg",
                             "width": photo.width, "height": photo.height,
                             "sent_type": photo.sent_type, "sent_bytes": photo.sent_bytes}, actor.record())
            self.blobs.put(photo.content)  # before the event: a recorded photo always has its content
        return self._pupil_change(actor, pupil_id, change)

    def pupil_photo(self, actor: Actor, pupil_id: str) -> tuple[str, bytes]:
        """The pupil's photo (its hash and content), for staff of the school whose role sees the
        pupil's profile; every read is in the access log."""
        school = self.school(actor.school_id, readonly=True)
        pupil = self.pupil(actor.school_id, pupil_id, readonly=True)
        if Data.PROFILE not in may_see(school, actor.staff_id, pupil.class_id):
            raise ForbiddenError("Your role does not see this pupil's profile.")
        if not pupil.photo_file:
            raise NotFoundError("photo", pupil_id)
        sha = str(pupil.photo_file["sha256"])
        data = self.blobs.get(sha)
        if data is None:
            raise RuntimeError(f"photo {sha} of pupil {pupil_id} is missing from the blob store")
        self.access.note(actor, "pupil_photo", {(Data.PROFILE.value,): [pupil_id]})
        return sha, data

    def move_pupil(self, actor: Actor, pupil_id: str, class_id: str) -> Outcome:
        """Move a pupil to another class; refused (422) when the new class's grade band does not
        attend a session the pupil is enrolled for: the move would leave them with no deadline."""
        def decide() -> Decision:
            school = self.school(actor.school_id)
            pupil = self.pupil(actor.school_id, pupil_id)
            school.move_pupil(pupil_id, class_id, actor.record())
            pupil.move_to_class(class_id, actor.record())
            enrolled = pupil.enrolment["status"] in ENROLMENT_STEPS
            try:
                check_attends(school, pupil, list(pupil.enrolment["sessions"]) if enrolled else [],
                              alone=True)
            except RuleError as refused:
                raise RuleError(f"Not moved to {school.classes[class_id]['label']}: "
                                f"{refused.detail}", field="class_id") from None
            return Decision([school, pupil], self._answer(actor, pupil, school))
        return self._execute_answering(actor, decide)

    def set_tags(self, actor: Actor, pupil_id: str, tags: list[str]) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.set_tags(tags, actor.record()))

    def add_guardian(self, actor: Actor, pupil_id: str, g: Guardian) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: _add_guardian(p, g, actor.record()),
                                  created=True)

    def authorise_adult(self, actor: Actor, pupil_id: str, a: Authorise) -> Outcome:
        """Standing (a window) or one-day authorisation given by a guardian."""
        def change(p: Pupil, s: School) -> None:
            p.authorise(
                str(uuid4()), a.name, a.relation, a.phone, a.id_tail,
                a.day or a.valid_from, a.day or a.valid_to, a.document,
                a.given_by_guardian_id, a.via or "in_person", None,
                a.day is not None, actor.record(),
            )
        return self._pupil_change(actor, pupil_id, change, created=True)

    def phone_authorisation(self, actor: Actor, pupil_id: str, cmd: PhoneAuthorisation) -> Outcome:
        """A guardian's call never overrides the list: it becomes a one-day authorisation, taken
        by a named person (a gate tablet's guard on duty)."""
        adult = cmd.adult
        require_person(actor)

        def change(p: Pupil, s: School) -> None:
            guardian = p.guardian(cmd.guardian_id)
            on = cmd.day or self.today(s)
            try:
                p.authorise(
                    str(uuid4()), adult["name"] or "", adult["relation"], adult["phone"],
                    adult["id_tail"], on, on, None, cmd.guardian_id, "phone_call",
                    f"{guardian['name']} ({guardian['phone']})", True, actor.record(),
                )
            except RuleError as e:  # the adult named on the call is the body's adult
                if e.field != "name":
                    raise
                raise RuleError(e.detail, field="adult.name") from None
        return self._pupil_change(actor, pupil_id, change, created=True)

    def revoke_authorisation(self, actor: Actor, pupil_id: str, authorisation_id: str,
                             reason: str) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.revoke_authorisation(
            authorisation_id, reason, actor.record()))

    def restrict_adult(self, actor: Actor, pupil_id: str, r: Restrict) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.restrict(
            str(uuid4()), r.name, r.id_tail, r.reason, r.document,
            r.valid_from, r.valid_to, actor.record(), relation=r.relation), created=True)

    def lift_restriction(self, actor: Actor, pupil_id: str, restriction_id: str, reason: str) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.lift_restriction(
            restriction_id, reason, actor.record()))

    def file_statement(self, actor: Actor, pupil_id: str, st: FileStatement) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.file_statement(
            str(uuid4()), st.valid_from, st.valid_to, list(st.weekdays),
            st.document, st.given_by_guardian_id, actor.record()), created=True)

    def withdraw_statement(self, actor: Actor, pupil_id: str, statement_id: str) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.withdraw_statement(
            statement_id, actor.record()))

    def apply_for_care(self, actor: Actor, pupil_id: str, e: ApplyForCare) -> Outcome:
        def change(p: Pupil, s: School) -> None:
            unknown = [k for k in e.sessions if k not in {x.key for x in s.schedule.sessions}]
            if unknown:
                raise RuleError(f"No such sessions in the schedule: {unknown}.", field="sessions")
            check_attends(s, p, list(e.sessions), alone=True)
            p.apply_for_care(e.term, e.starts, e.ends, list(e.sessions), e.guardian_id, actor.record())
        return self._pupil_change(actor, pupil_id, change)

    def advance_enrolment(self, actor: Actor, pupil_id: str, step: str, note: str | None,
                          agreement: dict[str, Any] | None = None) -> Outcome:
        def change(p: Pupil, s: School) -> None:
            check_step_role(actor, s, p, step)
            p.advance_enrolment(step, note, actor.record(), agreement)
        return self._pupil_change(actor, pupil_id, change)

    def reject_enrolment(self, actor: Actor, pupil_id: str, reason: str) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.reject_enrolment(
            reason, actor.record()))

    def withdraw_enrolment(self, actor: Actor, pupil_id: str, on: date, reason: str) -> Outcome:
        return self._pupil_change(actor, pupil_id, lambda p, s: p.withdraw(
            on, reason, actor.record()))

    # -- roster import ---------------------------------------------------------
    def import_roster(self, actor: Actor, data: bytes, filename: str, dry_run: bool,
                      paper: PaperAgreements | None = None) -> Outcome:
        """All rows good, or nothing imported; a pupil already imported is not created twice.

        Agreements the school already holds on paper (the file's 协议 column, or ``paper``
        for the whole file) enrol those pupils through all four steps, by the importing admin.
        """
        def decide() -> Decision:
            try:
                school = self.school(actor.school_id, readonly=True)
                taught = [g for g in school.grades if school.schedule.band_of(g) is not None]
                parsed = parse_roster(data, filename, grades=taught, declared=school.grades)
            except RosterTooLargeError as e:
                return Decision([], Rejected("too-large", str(e),
                                             [{"field": "file", "message": str(e)}]))
            except RosterFormatError as e:
                raise RuleError(str(e), field="file") from None
            if not parsed.ok:
                errors = [{"row": e.row, "column": e.column, "reason": e.reason} for e in parsed.errors]
                return Decision([], Rejected(
                    "roster-rows", f"{len(errors)} problems in the file; nothing was imported.",
                    errors))
            school = self.school(actor.school_id)
            by = actor.record()
            paper_ = paper or PaperAgreements()
            to_sign = {row.row for row in parsed.rows if paper_.signed(row)}
            if to_sign:
                if paper_.term is None:
                    raise RuleError("Name the term (term, term_starts, term_ends) the signed "
                                    "agreements are for.", field="term")
                paper_.term.check(school)
                unattended = [
                    {"row": row.row, "column": "班级", "reason": f"grade {row.grade} cannot be enrolled "
                     f"for {session!r}: {GAP_TEXT[gap]}"}
                    for row in parsed.rows if row.row in to_sign for session in paper_.term.sessions
                    if (gap := school.schedule.deadline_gap(session, row.grade)) is not None]
                if unattended:
                    return Decision([], Rejected(
                        "roster-rows", f"{len(unattended)} problems in the file; nothing was "
                        "imported.", unattended))
            note = f"纸质协议，名册导入 {filename}".strip()
            signed: list[Aggregate] = []
            already_signed = 0
            refused: list[dict[str, Any]] = []
            teachers = {normalise_name(s["name"]): sid for sid, s in school.staff.items() if s["active"]}
            created: list[Aggregate] = []
            new_staff = new_classes = skipped = 0
            entries: list[RosterEntry] = []
            for row in parsed.rows:
                teacher_key = normalise_name(row.homeroom_teacher)
                if teacher_key not in teachers:
                    teachers[teacher_key] = str(uuid4())
                    school.add_staff(teachers[teacher_key], row.homeroom_teacher, ["teacher"], None, by)
                    new_staff += 1
                klass = school.class_by_grade(row.grade, row.class_no)
                if klass is None:
                    class_id = str(uuid4())
                    school.add_class(class_id, row.grade, row.class_no,
                                     class_label(row.grade, row.class_no), teachers[teacher_key], by)
                    klass = school.classes[class_id]
                    new_classes += 1
                key = f"roster/{row.grade}-{row.class_no}/{_key_name(row.name)}/{row.guardians[0].phone}"
                pupil_id = Pupil.create_id(school.school_id, key)
                if str(pupil_id) in school.roll or self._find(pupil_id) is not None:
                    skipped += 1
                    if row.row in to_sign and paper_.term is not None:
                        present = self.pupil(school.school_id, str(pupil_id))
                        try:
                            if not present.enrolment_reached("applied", paper_.term.term):
                                check_attends(school, present, paper_.term.sessions, alone=False)
                            done = enrol_through_to_signed(
                                present, paper_.term, paper_.agreement(row), note, by)
                        except ConflictError as e:
                            refused.append({"row": row.row, "pupil_id": str(pupil_id),
                                            "name": present.name, "reason": e.detail})
                            continue
                        if done == "done":
                            signed.append(present)
                        else:
                            already_signed += 1
                    continue
                pupil = Pupil.register(school.school_id, key, row.name, row.gender, klass["class_id"], by)
                for g in row.guardians:
                    pupil.add_guardian(str(uuid4()), g.name, g.relation or "监护人", g.phone,
                                       True, None, by)
                if row.row in to_sign and paper_.term is not None:
                    enrol_through_to_signed(pupil, paper_.term, paper_.agreement(row), note, by)
                    signed.append(pupil)
                created.append(pupil)
                entries.append({"pupil_id": str(pupil.id), "class_id": klass["class_id"]})
            school.register_pupils(entries, by)
            body = {"imported": not dry_run, "dry_run": dry_run, "rows": len(parsed.rows),
                    "pupils_created": len(created), "pupils_already_present": skipped,
                    "classes_created": new_classes, "staff_created": new_staff, "errors": [],
                    "term": paper_.term.term if to_sign and paper_.term else None,
                    "pupils_signed": len(signed), "pupils_already_signed": already_signed,
                    "agreements_refused": refused}
            changed_present = [p for p in signed if p not in created]
            if dry_run or (not created and not new_staff and not new_classes):
                return Decision(changed_present if not dry_run else [], body)
            return Decision([school, *created, *changed_present], body, created=True)
        return self.execute(actor, decide)


def _key_name(name: str) -> str:
    """The pupil's name in a roster import key, as every release has written it: the key names
    the pupil stored, so a roster imported again finds them (never `normalise_name`, which
    may learn to ignore more)."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()
