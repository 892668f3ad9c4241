"""Incident use cases: report one, tell the guardians, escalate, act, close, and correct; an
injury, an illness or a missing pupil alerts until every guardian is reached, a missing pupil
alerts everyone at once, and a refusal at the gate opens (or joins) the pupil's incident."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

from eventsourcing.domain import Aggregate

from service.adapters.attachments import inspect_attachment, thumbnail
from service.adapters.blobs import sha256_of
from service.domain.alert import Alert
from service.domain.common import Actor, Role, normalise_name
from service.domain.device import is_device
from service.domain.errors import ForbiddenError, NotFoundError, RuleError
from service.domain.incident import TELL_THE_GUARDIAN, Attachment, FirstAid, Incident, RefusalRef
from service.domain.messages import message, render
from service.domain.privacy import Data, may_see
from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.refs import ActorRecord, AdultRef, PlaceRef
from service.domain.school import School
from service.use_cases.commands import (
    AttachToIncident,
    IncidentStep,
    NotifyGuardian,
    ReportIncident,
)
from service.use_cases.core import OFFLINE_GRACE_DAYS, AppCore, Decision, Outcome, as_uuid
from service.use_cases.receivers import require_person

# Who may close an incident, and who reads every incident of the school.
CLOSERS = (Role.ADMIN.value, Role.SAFETY_OFFICER.value, Role.DUTY_LEADER.value)
READERS = (*CLOSERS, Role.INSPECTOR.value)
# A refusal at the gate for these reasons is an attempted collection (not a pupil without a
# going-home-alone statement).
ATTEMPTS = ("restricted", "not_authorised", "id_mismatch", "refused_by_staff")


def _place(school: School, place_id: str) -> PlaceRef:
    kind = "group" if place_id in school.groups else "gate" if place_id in school.gates else None
    if kind is None:
        raise RuleError("No such group or gate.", field="place_id")
    return {"id": place_id, "label": school.place_label(place_id), "kind": kind}


class IncidentUseCases(AppCore):
    def incident(self, school_id: str, incident_id: str) -> Incident:
        return self._get(as_uuid(incident_id, "incident"), Incident, "incident", school_id)

    def describe_incident(self, actor: Actor, incident_id: str) -> dict[str, object]:
        incident = self.incident(actor.school_id, incident_id)
        if actor.role not in READERS and incident.reported_by["staff_id"] != actor.staff_id:
            raise ForbiddenError("Only the reporter, the safety officer, a duty leader, an admin or "
                                 "an inspector reads an incident.")
        # What happened to a child, and to whom: a read of their custody record.
        self.access.note(actor, "incident", {(Data.PROFILE.value, Data.CUSTODY.value): incident.pupil_ids})
        view = incident.view()
        view["attachments"] = [{**a, "readable": self._may_read_attachment(actor, incident, str(a["media_type"]))}
                               for a in incident.attachments()]
        return view

    # -- attachments ---------------------------------------------------------------------------
    def attach_to_incident(self, actor: Actor, cmd: AttachToIncident) -> Outcome:
        """Keep a photo or a scanned note with the incident: checked for what it is, kept by its
        content hash in the blob store, the event naming hash, size, kind, name and who."""
        require_person(actor)
        self._handling(actor, cmd.incident_id)  # who may attach, before what the file is
        inspected = inspect_attachment(cmd.data, cmd.declared_type)

        def decide() -> Decision:
            incident = self._handling(actor, cmd.incident_id)
            attachment: Attachment = {
                "sha256": sha256_of(cmd.data), "size": len(cmd.data), "media_type": inspected.media_type,
                "file_name": cmd.file_name, "width": inspected.width, "height": inspected.height,
                "pages": inspected.pages, "caption": cmd.caption}
            incident.attach(attachment, actor.record())
            self.blobs.put(cmd.data)  # before the event: a recorded attachment always has its content
            return Decision([incident], incident.view(), created=True)
        return self.execute(actor, decide)

    def _may_read_attachment(self, actor: Actor, incident: Incident, media_type: str) -> bool:
        """A role that reads incidents, and that may see this kind of a pupil's data (a photo is
        their profile, a scanned note a written document) of every pupil involved."""
        if actor.role not in READERS:
            return False
        needed = Data.DOCUMENTS if media_type == "application/pdf" else Data.PROFILE
        school = self.school(actor.school_id, readonly=True)
        classes: set[str | None] = {self.pupil(actor.school_id, p, readonly=True).class_id
                                    for p in incident.pupil_ids}
        return all(needed in may_see(school, actor.staff_id, c) for c in classes or {None})

    def incident_attachment(self, actor: Actor, incident_id: str, sha256: str,
                            small: bool = False) -> tuple[Attachment, bytes]:
        """An attached file's content (or, for an image, a thumbnail), for a reader who may see
        it; every read is in the access log."""
        incident = self.incident(actor.school_id, incident_id)
        attachment = incident.attachment(sha256)
        if attachment is None:
            raise NotFoundError("attachment", sha256)
        if not self._may_read_attachment(actor, incident, attachment["media_type"]):
            raise ForbiddenError("Only the safety officer, a duty leader, an admin or an inspector "
                                 "reads an incident's photos, and its scanned notes only those who "
                                 "may see a pupil's documents.")
        data = self.blobs.get(sha256)
        if data is None:
            raise RuntimeError(f"attachment {sha256} of incident {incident.id} is missing from the blob store")
        category = Data.DOCUMENTS if attachment["media_type"] == "application/pdf" else Data.PROFILE
        self.access.note(actor, "incident_attachment", {(category.value,): incident.pupil_ids})
        if small:
            if not attachment["media_type"].startswith("image/"):
                raise RuleError("Only an image has a thumbnail.", field="thumbnail")
            return {**attachment, "media_type": "image/jpeg"}, thumbnail(data)
        return attachment, data

    # -- reporting ---------------------------------------------------------------------------
    def report_incident(self, actor: Actor, cmd: ReportIncident) -> Outcome:
        """A named person reports: a shared gate tablet under the guard signed on at it."""
        require_person(actor)

        def decide() -> Decision:
            school = self.school(actor.school_id, readonly=True)
            today = self.today(school)
            on = cmd.day or today
            if on > today:
                raise RuleError("That day has not come yet.", field="day")
            if on < today - timedelta(days=OFFLINE_GRACE_DAYS):
                raise RuleError("That day is closed; report it with today's date and say when in the "
                                "description.", field="day")
            if cmd.session is not None and cmd.session not in {s.key for s in school.schedule.sessions}:
                raise RuleError(f"No session {cmd.session!r} in the schedule.", field="session")
            names = {}
            for pupil_id in cmd.pupil_ids:
                names[pupil_id] = self.pupil(school.school_id, pupil_id, readonly=True).name
            place = _place(school, cmd.place_id) if cmd.place_id else None
            aid: FirstAid | None = None
            if cmd.first_aid_by is not None or cmd.first_aid.strip():
                giver = cmd.first_aid_by or actor.staff_id
                if giver not in school.staff or is_device(giver):
                    raise RuleError("No such member of staff gave first aid.", field="first_aid_by")
                aid = {"given_by": {"staff_id": giver, "name": school.member(giver)["name"]},
                       "note": cmd.first_aid}
            # One incident per report: its command id (a retry answers the first report), or, sent
            # without one, an id of its own.
            cause = f"report/{actor.staff_id}/{actor.command_id or uuid4()}"
            incident = Incident.report(
                school_id=school.school_id, cause=cause, day=on.isoformat(), session=cmd.session, kind=cmd.kind,
                severity=cmd.severity, pupil_ids=list(cmd.pupil_ids), place=place, where=cmd.where,
                description=cmd.description, witnesses=list(cmd.witnesses), first_aid=aid,
                by=actor.record())
            alerts = self._incident_alerts(school, incident, names)
            return Decision([incident, *alerts], incident.view(), created=True)
        return self.execute(actor, decide)

    def _incident_alerts(self, school: School, incident: Incident,
                         names: dict[str, str]) -> list[Aggregate]:
        """A missing pupil alerts everyone at once (every escalation step, in the same
        transaction); an injury or an illness alerts until each guardian was reached."""
        alerts: list[Aggregate] = []
        subject = {"incident_id": str(incident.id), "day": incident.day, "kind": incident.kind,
                   "pupil_ids": incident.pupil_ids}
        if incident.kind == "missing_pupil":
            who = "、".join(names.values())
            alert = self.new_alert(school.school_id, "missing_pupil", f"incident/{incident.id}/missing",
                                   subject, message("alert.missing_pupil", name=who,
                                                    where=incident.where or "?"))
            if alert is not None:
                at = self.now().isoformat()
                for level, step in enumerate(school.alert_policy["unpicked_steps"], start=1):
                    alert.escalate(level, step["step"], step["notify"], at)
                alerts.append(alert)
        if incident.kind in TELL_THE_GUARDIAN and incident.kind != "missing_pupil":
            for pupil_id in incident.guardians_pending:
                alert = self.new_alert(
                    school.school_id, "incident_guardian",
                    f"incident/{incident.id}/guardian/{pupil_id}/{incident.version}",
                    {**subject, "pupil_id": pupil_id},
                    message("alert.incident_guardian", name=names.get(pupil_id, pupil_id),
                            kind_code=f"incident.{incident.kind}"))
                alerts += [alert] if alert else []
        return alerts

    # -- the steps after -----------------------------------------------------------------------
    def _handling(self, actor: Actor, incident_id: str) -> Incident:
        """The incident, for its reporter or the people who handle incidents (the safety officer,
        a duty leader, an admin): no one else acts on it or is shown it."""
        incident = self.incident(actor.school_id, incident_id)
        if actor.role not in CLOSERS and incident.reported_by["staff_id"] != actor.staff_id:
            raise ForbiddenError("Only the reporter, the safety officer, a duty leader or an admin "
                                 "acts on an incident.")
        return incident

    def notify_incident_guardian(self, actor: Actor, cmd: NotifyGuardian) -> Outcome:
        require_person(actor)

        def decide() -> Decision:
            incident = self._handling(actor, cmd.incident_id)
            guardian = self._guardian_on_file(incident, cmd.pupil_id, cmd.guardian)
            incident.notify_guardian(cmd.pupil_id, guardian, cmd.how, cmd.reached, cmd.note,
                                     actor.record())
            changed: list[Aggregate] = [incident]
            if cmd.reached:
                changed += self._close_guardian_alerts(incident, cmd.pupil_id, actor.record())
            return Decision(changed, incident.view())
        return self.execute(actor, decide)

    def _guardian_on_file(self, incident: Incident, pupil_id: str, named: str) -> str:
        """The guardian told is one on the pupil's file (by id, or by name however written), as
        the file names them: "reached" means a guardian the school knows, not any name typed."""
        if pupil_id not in incident.pupil_ids:
            raise RuleError("That pupil is not involved in this incident.", field="pupil_id")
        pupil = self.pupil(incident.school_id, pupil_id, readonly=True)
        for g in pupil.guardians.values():
            if named == g["guardian_id"] or normalise_name(named) == normalise_name(g["name"]):
                return f"{g['name']}（{g['relation']}）" if g["relation"] else g["name"]
        raise RuleError("Name a guardian on the pupil's file (their name or guardian_id).",
                        field="guardian")

    def _close_guardian_alerts(self, incident: Incident, pupil_id: str,
                               by: ActorRecord) -> list[Aggregate]:
        """The guardian was reached: their open alerts for this incident are resolved."""
        closed: list[Aggregate] = []
        # Raised at the report (version 1), and again after a correction voided a notification.
        raised_at = [1, *(s["seq"] for s in incident.steps if s["step"] == "corrected")]
        for version in raised_at:
            found = self._find(Alert.create_id(incident.school_id,
                                               f"incident/{incident.id}/guardian/{pupil_id}/{version}"))
            if isinstance(found, Alert) and found.is_open:
                found.resolve("handed_to_guardian", "家长已获知 / guardian told", by)
                closed.append(found)
        return closed

    def incident_step(self, actor: Actor, cmd: IncidentStep) -> Outcome:
        require_person(actor)

        def decide() -> Decision:
            incident = self._handling(actor, cmd.incident_id)
            by = actor.record()
            changed: list[Aggregate] = [incident]
            if cmd.step == "escalate":
                incident.escalate(list(cmd.to), cmd.text, by)
            elif cmd.step == "action":
                incident.record_action(cmd.text, by)
            elif cmd.step == "close":
                if actor.role not in CLOSERS:
                    raise ForbiddenError("A safety officer, a duty leader or an admin closes an incident.")
                incident.close(cmd.text, by)
                missing = self._find(Alert.create_id(incident.school_id, f"incident/{incident.id}/missing"))
                if isinstance(missing, Alert) and missing.is_open:  # the pupil was found
                    missing.resolve("found", cmd.text, by)
                    changed.append(missing)
            elif cmd.step == "acknowledge":
                if cmd.pupil_id is None:
                    raise RuleError("Name the pupil whose guardian acknowledged.", field="pupil_id")
                incident.guardian_acknowledges(cmd.pupil_id, cmd.text, by)
            elif cmd.step == "correct":
                if cmd.corrects is None:
                    raise RuleError("Name the step corrected.", field="corrects")
                pending = set(incident.guardians_pending)
                incident.correct(cmd.corrects, cmd.text, by)
                school = self.school(actor.school_id, readonly=True)
                again = [p for p in incident.guardians_pending if p not in pending]
                if again:  # a voided notification: the guardian is to be reached after all
                    names = {p: self.pupil(school.school_id, p, readonly=True).name for p in again}
                    changed += [a for a in self._incident_alerts(school, incident, names)
                                if isinstance(a, Alert) and a.subject.get("pupil_id") in again]
            else:
                raise RuleError("A step is escalate, action, close, acknowledge or correct.", field="step")
            return Decision(changed, incident.view())
        return self.execute(actor, decide)

    # -- from the gate -------------------------------------------------------------------------
    def attempted_collection(self, school: School, pupil: Pupil, pd: PupilDay, came: AdultRef,
                             gate: PlaceRef | None, by: ActorRecord) -> list[Aggregate]:
        """A refusal at the gate opens the pupil's attempted-collection incident of the day, or
        joins the one already open (one incident per pupil and day, whatever the gate)."""
        entry = pd.entries[-1]
        reason = entry.get("reason", "")
        if entry["type"] != "release_refused" or reason not in ATTEMPTS:
            return []
        refusal: RefusalRef = {"pupil_id": str(pupil.id), "day": pd.day, "session": pd.session,
                               "seq": entry["seq"], "adult": came, "reason": reason}
        cause = f"attempted/{pupil.id}/{pd.day}"
        found = self._find(Incident.create_id(school.school_id, cause))
        if isinstance(found, Incident):
            found.link_refusal(refusal, by)
            return [found]
        restricted = reason == "restricted"
        why = render(f"refusal.{reason}", {})  # in words, as the alert says it
        incident = Incident.report(
            school_id=school.school_id, cause=cause, day=pd.day, session=pd.session,
            kind="attempted_collection", severity="serious" if restricted else "minor",
            pupil_ids=[str(pupil.id)], place=gate, where=gate["label"] if gate else "",
            description=f"{came.get('name') or '?'} 试图接走 {pupil.name}，被拒绝放行（{why}）",
            witnesses=[], first_aid=None, by=by, refusal=refusal)
        return [incident]

    def incidents_on(self, actor: Actor, day: date | None) -> date:
        return day or self.today(self.school(actor.school_id, readonly=True))
