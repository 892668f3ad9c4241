"""The AccessRecord aggregate: staff reads of pupils' personal data, recorded together."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from service.domain.errors import RuleError

READ_FIELDS = ("staff_id", "staff_name", "role", "at", "device", "what", "pupil_ids", "data")


class AccessRecord(Aggregate):
    """One batch of reads of one school's pupils' personal data.

    Invariants: a record belongs to one school; every read in it names the staff member,
    the role they read in, when, from which device, the pupils and the categories of data
    read; nothing in it is ever changed.
    """

    class Recorded(Aggregate.Created):
        school_id: str
        reads: list[dict[str, Any]]

    @event(Recorded)
    def __init__(self, school_id: str, reads: list[dict[str, Any]]) -> None:
        self.school_id = school_id
        self.reads = reads

    @classmethod
    def of(cls, school_id: str, reads: list[dict[str, Any]]) -> AccessRecord:
        if not reads:
            raise RuleError("An access record lists at least one read.", field="reads")
        for read in reads:
            missing = [k for k in READ_FIELDS if k not in read]
            if missing:
                raise RuleError(f"A read names {missing}.", field="reads")
            if not read["staff_id"] or not read["pupil_ids"] or not read["data"]:
                raise RuleError("A read names who read which pupils' data.", field="reads")
        return cls(school_id=school_id, reads=[{k: read[k] for k in READ_FIELDS} for read in reads])
