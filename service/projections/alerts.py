"""Alerts: every alert of a school with its escalation, acknowledgement and resolution."""

from __future__ import annotations

from typing import Any

from service.domain.alert import Alert
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles


class Alerts(DocProjection):
    name = "alerts"

    def _doc(self, e: Any, batch: Batch) -> tuple[str, Doc]:
        index = batch.get(f"alert-index/{e.originator_id}")
        assert index is not None
        key = index["key"]
        doc = batch.get(key)
        assert doc is not None
        return key, doc

    @handles(Alert.Raised)
    def raised(self, e: Alert.Raised, batch: Batch) -> None:
        key = f"alert/{e.school_id}/{e.originator_id}"
        batch.put(f"alert-index/{e.originator_id}", {"key": key})
        batch.put(key, {"alert_id": str(e.originator_id), "kind": e.kind, "cause": e.cause,
                        "subject": e.subject, "detail": e.detail, "code": e.code, "params": e.params,
                        "raised_at": e.raised_at,
                        "level": 0, "steps": [], "acknowledged": None, "resolved": None,
                        "status": "open", "version": e.originator_version})

    @handles(Alert.Escalated)
    def escalated(self, e: Alert.Escalated, batch: Batch) -> None:
        key, doc = self._doc(e, batch)
        step = {"level": e.level, "step": e.step, "notify": e.notify, "at": e.at}
        batch.put(key, {**doc, "level": e.level, "steps": [*doc["steps"], step],
                        "version": e.originator_version})

    @handles(Alert.Acknowledged)
    def acknowledged(self, e: Alert.Acknowledged, batch: Batch) -> None:
        key, doc = self._doc(e, batch)
        batch.put(key, {**doc, "acknowledged": {"note": e.note, "by": e.by},
                        "status": "acknowledged" if doc["resolved"] is None else "resolved",
                        "version": e.originator_version})

    @handles(Alert.Resolved)
    def resolved(self, e: Alert.Resolved, batch: Batch) -> None:
        key, doc = self._doc(e, batch)
        batch.put(key, {**doc, "resolved": {"how": e.how, "note": e.note, "by": e.by},
                        "status": "resolved", "version": e.originator_version})


def read_alerts(view: DocView, school_id: str, *, status: str | None = None,
                kind: str | None = None, day: str | None = None) -> list[Doc]:
    docs = view.scan(f"alert/{school_id}/").values()
    found = [d for d in docs if (status is None or d["status"] == status)
             and (kind is None or d["kind"] == kind)
             and (day is None or d["raised_at"][:10] == day)]
    return sorted(found, key=lambda d: (d["raised_at"], d["alert_id"]))
