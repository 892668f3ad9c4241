"""Incidents: every incident of a school by day, with where it stands (for the list screens)."""

from __future__ import annotations

from typing import Any

from service.domain.incident import TELL_THE_GUARDIAN, Incident
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles


class Incidents(DocProjection):
    name = "incidents"

    def _doc(self, e: Any, batch: Batch) -> tuple[str, Doc]:
        index = batch.get(f"incident-index/{e.originator_id}")
        assert index is not None
        key = index["key"]
        doc = batch.get(key)
        assert doc is not None
        return key, doc

    @handles(Incident.Reported)
    def reported(self, e: Incident.Reported, batch: Batch) -> None:
        key = f"incident/{e.school_id}/{e.day}/{e.originator_id}"
        batch.put(f"incident-index/{e.originator_id}", {"key": key})
        pending = list(e.pupil_ids) if e.kind in TELL_THE_GUARDIAN else []
        batch.put(key, {"incident_id": str(e.originator_id), "day": e.day, "session": e.session,
                        "kind": e.kind, "severity": e.severity, "pupil_ids": e.pupil_ids,
                        "where": e.where or (e.place["label"] if e.place else ""),
                        "description": e.description, "reported_by": e.by, "reported_at": e.by["at"],
                        "refusals": 1 if e.refusal else 0, "notifications": [],
                        "guardians_pending": pending, "escalated": False, "status": "open",
                        "outcome": None, "attachments": 0, "last_step_at": e.by["at"], "version": e.originator_version})

    def _step(self, e: Any, batch: Batch, **change: Any) -> None:
        key, doc = self._doc(e, batch)
        batch.put(key, {**doc, **change, "last_step_at": e.by["at"], "version": e.originator_version})

    @handles(Incident.GuardianNotified)
    def notified(self, e: Incident.GuardianNotified, batch: Batch) -> None:
        _, doc = self._doc(e, batch)
        told = [*doc["notifications"], {"seq": e.originator_version, "pupil_id": e.pupil_id,
                                        "reached": e.reached}]
        self._step(e, batch, notifications=told, guardians_pending=_pending(doc, told))

    @handles(Incident.Escalated)
    def escalated(self, e: Incident.Escalated, batch: Batch) -> None:
        self._step(e, batch, escalated=True)

    @handles(Incident.ActionRecorded, Incident.GuardianAcknowledged)
    def noted(self, e: Incident.ActionRecorded | Incident.GuardianAcknowledged, batch: Batch) -> None:
        self._step(e, batch)

    @handles(Incident.RefusalLinked)
    def refusal(self, e: Incident.RefusalLinked, batch: Batch) -> None:
        _, doc = self._doc(e, batch)
        self._step(e, batch, refusals=doc["refusals"] + 1)

    @handles(Incident.Attached)
    def attached(self, e: Incident.Attached, batch: Batch) -> None:
        _, doc = self._doc(e, batch)
        self._step(e, batch, attachments=doc.get("attachments", 0) + 1)

    @handles(Incident.Closed)
    def closed(self, e: Incident.Closed, batch: Batch) -> None:
        self._step(e, batch, status="closed", outcome=e.outcome)

    @handles(Incident.Corrected)
    def corrected(self, e: Incident.Corrected, batch: Batch) -> None:
        _, doc = self._doc(e, batch)
        told = [n for n in doc["notifications"] if n["seq"] != e.corrects]
        self._step(e, batch, notifications=told, guardians_pending=_pending(doc, told))


def _pending(doc: Doc, told: list[dict[str, Any]]) -> list[str]:
    if doc["kind"] not in TELL_THE_GUARDIAN:
        return []
    reached = {n["pupil_id"] for n in told if n["reached"]}
    return [p for p in doc["pupil_ids"] if p not in reached]


def read_incidents(view: DocView, school_id: str, *, day: str | None = None,
                   status: str | None = None, kind: str | None = None) -> list[Doc]:
    docs = view.scan(f"incident/{school_id}/{day + '/' if day else ''}").values()
    found = [d for d in docs if (status is None or d["status"] == status)
             and (kind is None or d["kind"] == kind)]
    return sorted(found, key=lambda d: (d["reported_at"], d["incident_id"]))
