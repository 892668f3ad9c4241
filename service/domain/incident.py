"""The Incident aggregate: something that happened to pupils in the school's care, and what the
school did about it, step by step (rescue first, tell the guardian, report to the leadership)."""

from __future__ import annotations

from typing import Literal, TypedDict
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.common import CORRECTOR_NAMES, may_correct
from service.domain.errors import ConflictError, ForbiddenError, RuleError
from service.domain.refs import ActorRecord, AdultRef, PlaceRef, StaffRef

INCIDENT_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/incident")

KINDS = ("injury", "illness", "missing_pupil", "conflict", "attempted_collection",
         "late_collection", "property", "other")
SEVERITIES = ("minor", "serious", "critical")
# Until the guardian of every pupil involved was reached, these stay open and alert.
TELL_THE_GUARDIAN = ("injury", "illness", "missing_pupil")
NOTIFIED_HOW = ("phone", "in_person", "message")
MAX_TEXT = 2000

Step = Literal["reported", "guardian_notified", "escalated", "action", "refusal_linked",
               "closed", "guardian_acknowledged", "corrected", "attached"]
# What an incident keeps attached: photos and scanned notes, checked before they are kept.
ATTACHMENT_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")
MAX_ATTACHMENTS = 50


class FirstAid(TypedDict):
    """First aid given at once (先救治): by whom, and what."""

    given_by: StaffRef
    note: str


class RefusalRef(TypedDict):
    """A refused release at the gate that belongs to this incident: the pupil's chain and its fact."""

    pupil_id: str
    day: str
    session: str
    seq: int
    adult: AdultRef
    reason: str


class Attachment(TypedDict):
    """A file attached to an incident, as the event records it: the blob store keeps the content
    by its SHA-256; the incident keeps what it is, how large, its name and who attached it."""

    sha256: str
    size: int
    media_type: str
    file_name: str
    width: int | None
    height: int | None
    pages: int | None
    caption: str


class IncidentStep(TypedDict, total=False):
    """One step of the incident's record, as the aggregate keeps it (in order, never edited)."""

    seq: int
    step: Step
    by: ActorRecord
    pupil_id: str
    guardian: str
    how: str
    reached: bool
    note: str
    to: list[str]
    text: str
    refusal: RefusalRef
    outcome: str
    corrects: int
    reason: str
    attachment: Attachment


class Incident(Aggregate):
    """One incident of one day.

    Invariants: it has a kind, a severity and a description, and names the pupils involved (an
    attempted collection or a missing pupil names at least one); an injury, an illness or a
    missing pupil cannot be closed until the guardian of every pupil involved was reached; a
    closed incident takes no more steps but the guardian's acknowledgement (a correction would
    reopen what closing settled); nothing is edited: a correction names the step it voids and
    why, and only whoever recorded that step, an admin, a duty leader or a safety officer makes it.
    A file is attached once (by its content hash), of a checked kind, up to MAX_ATTACHMENTS; a
    closed incident still takes one (a note signed after it closed), and a correction voids one.
    """

    class Reported(Aggregate.Created):
        school_id: str
        cause: str
        day: str
        session: str | None
        kind: str
        severity: str
        pupil_ids: list[str]
        place: PlaceRef | None
        where: str
        description: str
        witnesses: list[str]
        first_aid: FirstAid | None
        refusal: RefusalRef | None
        by: ActorRecord

    @staticmethod
    def create_id(school_id: str, cause: str) -> UUID:
        """One incident per cause: a report (its own new cause), or the attempted collections of
        one pupil on one day, which every refusal at the gate opens or joins."""
        return uuid5(INCIDENT_NAMESPACE, f"{school_id}/{cause}")

    @event(Reported)
    def __init__(self, school_id: str, cause: str, day: str, session: str | None, kind: str,
                 severity: str,
                 pupil_ids: list[str], place: PlaceRef | None, where: str, description: str,
                 witnesses: list[str], first_aid: FirstAid | None, refusal: RefusalRef | None,
                 by: ActorRecord) -> None:
        self.school_id = school_id
        self.cause = cause
        self.day = day
        self.session = session
        self.kind = kind
        self.severity = severity
        self.pupil_ids = pupil_ids
        self.place = place
        self.where = where
        self.description = description
        self.witnesses = witnesses
        self.first_aid = first_aid
        self.refusals: list[RefusalRef] = [refusal] if refusal else []
        self.reported_by = by
        self.steps: list[IncidentStep] = [{"seq": 1, "step": "reported", "by": by}]
        self.closed: IncidentStep | None = None

    @classmethod
    def report(cls, *, school_id: str, cause: str, day: str, session: str | None, kind: str,
               severity: str, pupil_ids: list[str], place: PlaceRef | None, where: str,
               description: str, witnesses: list[str], first_aid: FirstAid | None, by: ActorRecord,
               refusal: RefusalRef | None = None) -> Incident:
        if kind not in KINDS:
            raise RuleError(f"An incident is one of {KINDS}.", field="kind")
        if severity not in SEVERITIES:
            raise RuleError(f"Severity is one of {SEVERITIES}.", field="severity")
        description = _clean(description, "description")
        if not description:
            raise RuleError("An incident says what happened.", field="description")
        if len(set(pupil_ids)) != len(pupil_ids):
            raise RuleError("A pupil is named twice.", field="pupil_ids")
        if kind in ("missing_pupil", "attempted_collection", "injury", "illness", "late_collection") \
                and not pupil_ids:
            raise RuleError(f"{'An' if kind[0] in 'aeiou' else 'A'} {kind} incident names the pupils "
                            "involved.", field="pupil_ids")
        if first_aid is not None and not first_aid["note"].strip():
            raise RuleError("First aid says what was done.", field="first_aid")
        return cls(school_id=school_id, cause=cause, day=day, session=session, kind=kind,
                   severity=severity, pupil_ids=list(pupil_ids), place=place,
                   where=_clean(where, "where"), description=description,
                   witnesses=[w.strip() for w in witnesses if w.strip()], first_aid=first_aid,
                   refusal=refusal, by=by)

    # -- reads -------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.closed is None

    def _voided(self) -> set[int]:
        return {s["corrects"] for s in self.steps if s["step"] == "corrected"}

    def standing(self) -> list[IncidentStep]:
        """The steps that still stand (a correction voids the step it names)."""
        voided = self._voided()
        return [s for s in self.steps if s["seq"] not in voided]

    def reached(self) -> set[str]:
        """The pupils whose guardian was reached (a notification that still stands)."""
        return {s["pupil_id"] for s in self.standing() if s["step"] == "guardian_notified" and s["reached"]}

    @property
    def guardians_pending(self) -> list[str]:
        """The pupils whose guardian the policy still asks the school to reach."""
        if self.kind not in TELL_THE_GUARDIAN:
            return []
        reached = self.reached()
        return [p for p in self.pupil_ids if p not in reached]

    def attachments(self) -> list[dict[str, object]]:
        """Every file attached, in order, each with its step and whether a correction voided it."""
        voided = self._voided()
        return [{**s["attachment"], "seq": s["seq"], "by": s["by"], "voided": s["seq"] in voided}
                for s in self.steps if s["step"] == "attached"]

    def attachment(self, sha256: str) -> Attachment | None:
        return next((s["attachment"] for s in self.steps
                     if s["step"] == "attached" and s["attachment"]["sha256"] == sha256), None)

    @property
    def escalated(self) -> bool:
        return any(s["step"] == "escalated" for s in self.standing())

    def view(self) -> dict[str, object]:
        return {
            "incident_id": str(self.id), "day": self.day, "session": self.session, "kind": self.kind,
            "severity": self.severity, "pupil_ids": self.pupil_ids, "place": self.place,
            "where": self.where, "description": self.description, "witnesses": self.witnesses,
            "first_aid": self.first_aid, "refusals": self.refusals, "reported_by": self.reported_by,
            "steps": self.steps, "voided": sorted(self._voided()),
            "guardians_pending": self.guardians_pending, "escalated": self.escalated,
            "status": "open" if self.is_open else "closed",
            "outcome": self.closed["outcome"] if self.closed else None,
            "attachments": self.attachments(),
            "version": self.version,
        }

    def _require_open(self, doing: str) -> None:
        if not self.is_open:
            raise ConflictError(f"The incident is closed; cannot {doing}.", state=self.view())

    def _require_involved(self, pupil_id: str) -> None:
        if pupil_id not in self.pupil_ids:
            raise RuleError("That pupil is not involved in this incident.", field="pupil_id")

    # -- commands ----------------------------------------------------------------------------
    def notify_guardian(self, pupil_id: str, guardian: str, how: str, reached: bool, note: str,
                        by: ActorRecord) -> None:
        """A try to tell a pupil's guardian: how, and whether they were reached (try again if not)."""
        self._require_open("record a guardian notification")
        self._require_involved(pupil_id)
        if how not in NOTIFIED_HOW:
            raise RuleError(f"A guardian is told by one of {NOTIFIED_HOW}.", field="how")
        if not guardian.strip():
            raise RuleError("Name the guardian told (or tried).", field="guardian")
        self._guardian_notified(pupil_id=pupil_id, guardian=guardian.strip(), how=how,
                                reached=reached, note=_clean(note, "note"), by=by)

    def escalate(self, to: list[str], note: str, by: ActorRecord) -> None:
        """Reported to the leadership group (领导小组), naming whom."""
        self._require_open("escalate")
        names = [t.strip() for t in to if t.strip()]
        if not names:
            raise RuleError("Name whom the incident was reported to.", field="to")
        self._escalated(to=names, note=_clean(note, "note"), by=by)

    def record_action(self, text: str, by: ActorRecord) -> None:
        self._require_open("record an action")
        text = _clean(text, "text")
        if not text:
            raise RuleError("An action says what was done.", field="text")
        self._action_recorded(text=text, by=by)

    def link_refusal(self, refusal: RefusalRef, by: ActorRecord) -> None:
        """Another refusal at the gate for the same pupil that day belongs to this incident."""
        if any(r["pupil_id"] == refusal["pupil_id"] and r["session"] == refusal["session"]
               and r["seq"] == refusal["seq"] for r in self.refusals):
            return
        if refusal["pupil_id"] not in self.pupil_ids:
            raise RuleError("That refusal concerns a pupil not involved.", field="pupil_id")
        self._refusal_linked(refusal=refusal, by=by)

    def close(self, outcome: str, by: ActorRecord) -> None:
        self._require_open("close it again")
        outcome = _clean(outcome, "outcome")
        if not outcome:
            raise RuleError("Closing an incident says how it ended.", field="outcome")
        if self.guardians_pending:
            raise ConflictError("The guardian of every pupil involved must be reached first.",
                                state=self.view())
        self._closed(outcome=outcome, by=by)

    def guardian_acknowledges(self, pupil_id: str, note: str, by: ActorRecord) -> None:
        """The guardian acknowledged the school's account (recorded by the staff member told)."""
        self._require_involved(pupil_id)
        if any(s["step"] == "guardian_acknowledged" and s["pupil_id"] == pupil_id
               for s in self.standing()):
            raise ConflictError("That guardian's acknowledgement is already recorded.", state=self.view())
        self._guardian_acknowledged(pupil_id=pupil_id, note=_clean(note, "note"), by=by)

    def attach(self, attachment: Attachment, by: ActorRecord) -> None:
        """Keep a checked file with the incident (a photo, a scanned note): once per content."""
        if attachment["media_type"] not in ATTACHMENT_TYPES:
            raise RuleError(f"An attachment is one of {ATTACHMENT_TYPES}.", field="file")
        if len(attachment["sha256"]) != 64 or attachment["size"] <= 0:
            raise RuleError("An attachment names its content by SHA-256 and size.", field="file")
        if not attachment["file_name"].strip():
            raise RuleError("An attachment has a file name.", field="file")
        standing = {s["attachment"]["sha256"]: s["seq"] for s in self.standing() if s["step"] == "attached"}
        if attachment["sha256"] in standing:
            raise ConflictError(f"That file is attached already (step {standing[attachment['sha256']]}).",
                                state=self.view())
        if len(standing) >= MAX_ATTACHMENTS:
            raise RuleError(f"An incident keeps at most {MAX_ATTACHMENTS} files.", field="file")
        self._attached(attachment={**attachment, "file_name": attachment["file_name"].strip(),
                                   "caption": _clean(attachment["caption"], "caption")}, by=by)

    def correct(self, seq: int, reason: str, by: ActorRecord) -> None:
        """Void one step, naming it and why; the step itself stays on record.

        Only whoever recorded the step, or an admin, a duty leader or a safety officer, voids it.
        """
        self._require_open("correct it")
        reason = _clean(reason, "reason")
        if not reason:
            raise RuleError("A correction says why.", field="reason")
        target = next((s for s in self.steps if s["seq"] == seq), None)
        if target is None:
            raise RuleError(f"No step {seq} in this incident.", field="corrects")
        if target["step"] in ("reported", "corrected", "closed", "refusal_linked"):
            raise RuleError(f"A {target['step']} step cannot be voided.", field="corrects")
        if seq in self._voided():
            raise ConflictError(f"Step {seq} was already corrected.", state=self.view())
        if not may_correct(target["by"], by):
            raise ForbiddenError(f"Only {target['by']['staff_name']}, who recorded step {seq}, "
                                 f"or {CORRECTOR_NAMES} may correct it.")
        self._corrected(corrects=seq, reason=reason, by=by)

    # -- events ------------------------------------------------------------------------------
    def _step(self, step: IncidentStep) -> None:
        self.steps = [*self.steps, {**step, "seq": self.version + 1}]

    class GuardianNotified(Aggregate.Event):
        pupil_id: str
        guardian: str
        how: str
        reached: bool
        note: str
        by: ActorRecord

    @event(GuardianNotified)
    def _guardian_notified(self, pupil_id: str, guardian: str, how: str, reached: bool, note: str,
                           by: ActorRecord) -> None:
        self._step({"step": "guardian_notified", "pupil_id": pupil_id, "guardian": guardian,
                    "how": how, "reached": reached, "note": note, "by": by})

    class Escalated(Aggregate.Event):
        to: list[str]
        note: str
        by: ActorRecord

    @event(Escalated)
    def _escalated(self, to: list[str], note: str, by: ActorRecord) -> None:
        self._step({"step": "escalated", "to": to, "note": note, "by": by})

    class ActionRecorded(Aggregate.Event):
        text: str
        by: ActorRecord

    @event(ActionRecorded)
    def _action_recorded(self, text: str, by: ActorRecord) -> None:
        self._step({"step": "action", "text": text, "by": by})

    class RefusalLinked(Aggregate.Event):
        refusal: RefusalRef
        by: ActorRecord

    @event(RefusalLinked)
    def _refusal_linked(self, refusal: RefusalRef, by: ActorRecord) -> None:
        self.refusals = [*self.refusals, refusal]
        self._step({"step": "refusal_linked", "refusal": refusal, "by": by})

    class Closed(Aggregate.Event):
        outcome: str
        by: ActorRecord

    @event(Closed)
    def _closed(self, outcome: str, by: ActorRecord) -> None:
        self._step({"step": "closed", "outcome": outcome, "by": by})
        self.closed = self.steps[-1]

    class GuardianAcknowledged(Aggregate.Event):
        pupil_id: str
        note: str
        by: ActorRecord

    @event(GuardianAcknowledged)
    def _guardian_acknowledged(self, pupil_id: str, note: str, by: ActorRecord) -> None:
        self._step({"step": "guardian_acknowledged", "pupil_id": pupil_id, "note": note, "by": by})

    class Corrected(Aggregate.Event):
        corrects: int
        reason: str
        by: ActorRecord

    @event(Corrected)
    def _corrected(self, corrects: int, reason: str, by: ActorRecord) -> None:
        self._step({"step": "corrected", "corrects": corrects, "reason": reason, "by": by})


    class Attached(Aggregate.Event):
        attachment: Attachment
        by: ActorRecord

    @event(Attached)
    def _attached(self, attachment: Attachment, by: ActorRecord) -> None:
        self._step({"step": "attached", "attachment": attachment, "by": by})


def _clean(text: str, field: str) -> str:
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise RuleError(f"At most {MAX_TEXT} characters.", field=field)
    return text
