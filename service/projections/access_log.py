"""Access log: who read which pupils' personal data, when, from which device, per school."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.domain.access import AccessRecord
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles


def _utc(at: str) -> str:
    return datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AccessLog(DocProjection):
    name = "access_log"

    @handles(AccessRecord.Recorded)
    def recorded(self, e: AccessRecord.Recorded, batch: Batch) -> None:
        # Keys sort by time, so a school's log reads in order and a time window is a key range.
        for i, read in enumerate(e.reads):
            key = f"access/{e.school_id}/{_utc(read['at'])}/{e.originator_id}/{i:05d}"
            batch.put(key, {**read, "record_id": str(e.originator_id)})


def read_access_log(view: DocView, school_id: str, *, pupil: str | None = None,
                    staff: str | None = None, since: datetime | None = None,
                    until: datetime | None = None, limit: int = 1000,
                    offset: int = 0) -> tuple[list[Doc], bool]:
    """A school's reads in time order, filtered, after the first ``offset``; and whether more
    matched than ``limit``."""
    low = _utc(since.isoformat()) if since else ""
    high = _utc(until.isoformat()) if until else None
    prefix = f"access/{school_id}/"
    found: list[tuple[str, Doc]] = []
    for key, doc in view.scan(prefix).items():
        at = key[len(prefix):].split("/", 1)[0]
        if at < low or (high is not None and at > high):
            continue
        if pupil is not None and pupil not in doc["pupil_ids"]:
            continue
        if staff is not None and doc["staff_id"] != staff:
            continue
        found.append((key, doc))
    found.sort(key=lambda kv: kv[0])
    page = found[offset:]
    return [doc for _, doc in page[:limit]], len(page) > limit


def entry(doc: Doc) -> dict[str, Any]:
    return {k: doc.get(k) for k in ("staff_id", "staff_name", "role", "at", "device", "what",
                                     "pupil_ids", "data", "record_id")}
