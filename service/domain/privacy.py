"""Who sees which of a child's personal data: one table, applied to every read of a pupil."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from service.domain.common import Role
from service.domain.school import School


class Data(StrEnum):
    """The categories of a pupil's personal data that a read can show."""

    PROFILE = "profile"          # name, gender, class, photo, enrolment
    CUSTODY = "custody"          # the session's state and chain of custody
    COLLECTORS = "collectors"    # who may collect: name, relation, validity; going-home-alone statements
    RESTRICTIONS = "restrictions"  # who must not collect: name, "do not release", what to do
    CONTACTS = "contacts"        # phone numbers (a caller's too) and ID-number tails
    DOCUMENTS = "documents"      # restriction reasons, court or agreement references, written documents
    PRIORITY = "priority"        # priority tags (留守, 残疾, 随迁, 困难)


HOMEROOM = "homeroom_teacher"  # a teacher reading a pupil of the class they are homeroom teacher of
_AT_THE_GATE = frozenset({Data.PROFILE, Data.CUSTODY, Data.COLLECTORS, Data.RESTRICTIONS})

# The one table: what each role may see of a pupil. A staff member holding several roles sees
# the union of theirs; the homeroom teacher of the pupil's class adds the HOMEROOM row.
ACCESS: dict[str, frozenset[Data]] = {
    Role.ADMIN: frozenset(Data),
    HOMEROOM: _AT_THE_GATE | {Data.CONTACTS, Data.PRIORITY},
    Role.TEACHER: _AT_THE_GATE,
    Role.GUARD: _AT_THE_GATE,
    Role.DUTY_LEADER: _AT_THE_GATE,
    Role.SAFETY_OFFICER: _AT_THE_GATE | {Data.DOCUMENTS},
    Role.INSPECTOR: _AT_THE_GATE,
}

# What a restricted adult's entry tells a reader who may not see the file behind it.
RESTRICTED_INSTRUCTION = "refuse_release_and_call_duty_leader"

# What each kind of read can show at most; a read records the part of this its reader saw.
PUPIL_RECORD = frozenset(Data) - {Data.CUSTODY}
PUPIL_LIST = frozenset({Data.PROFILE, Data.PRIORITY})
CUSTODY_LIST = frozenset({Data.PROFILE, Data.CUSTODY, Data.COLLECTORS, Data.CONTACTS})


def may_see(school: School, staff_id: str, class_id: str | None) -> frozenset[Data]:
    """What this staff member may see of a pupil in this class."""
    member = school.staff.get(staff_id)
    if member is None or not member["active"]:
        return frozenset()
    audiences = set(member["roles"])
    klass = school.classes.get(class_id or "")
    if klass is not None and klass.get("homeroom_teacher_id") == staff_id:
        audiences.add(HOMEROOM)
    seen: frozenset[Data] = frozenset()
    for audience in audiences:
        seen |= ACCESS.get(audience, frozenset())
    return seen


def pupil_record(view: dict[str, Any], seen: frozenset[Data]) -> dict[str, Any]:
    """One pupil's record (``pupil_view``) cut to what the reader may see."""
    contacts, documents = Data.CONTACTS in seen, Data.DOCUMENTS in seen
    out = {**view, "shown": read_of(seen, PUPIL_RECORD)}
    if Data.PRIORITY not in seen:
        out["tags"] = None
    if Data.COLLECTORS in seen:
        out["guardians"] = [_hide(g, () if contacts else ("phone", "id_tail")) for g in view["guardians"]]
        out["authorisations"] = [
            {**_hide(a, (() if contacts else ("phone", "id_tail")) + (() if documents else ("document",))),
             "caller": a.get("caller") if contacts else _without_number(a.get("caller"))}
            for a in view["authorisations"]]
        out["statements"] = [_hide(s, () if documents else ("document",)) for s in view["statements"]]
    else:
        out["guardians"] = out["authorisations"] = out["statements"] = None
    if Data.RESTRICTIONS in seen:
        out["restrictions"] = [
            {**_hide(r, () if documents else ("id_tail", "reason", "document")),
             "do_not_release": not r.get("lifted", False), "instruction": RESTRICTED_INSTRUCTION}
            for r in view["restrictions"]]
    else:
        out["restrictions"] = None
    return out


def pupil_summary(row: dict[str, Any], seen: frozenset[Data]) -> dict[str, Any]:
    """A row of the pupil list cut to what the reader may see."""
    return row if Data.PRIORITY in seen else {**row, "tags": None}


def custody_state(state: dict[str, Any], seen: frozenset[Data]) -> dict[str, Any]:
    """A pupil's state (and chain, if present) without the collecting adult's contact data."""
    if Data.CONTACTS in seen:
        return state
    out = dict(state)
    if out.get("gone"):
        out["gone"] = {**out["gone"], "adult": _adult(out["gone"].get("adult"))}
    if "chain" in out:
        out["chain"] = [custody_entry(e, seen) for e in out["chain"]]
    return out


def custody_rows(school: School, staff_id: str, rows: list[dict[str, Any]]
                 ) -> tuple[list[dict[str, Any]], dict[tuple[str, ...], list[str]]]:
    """Rows of pupils' states cut per pupil to what the reader may see, and what each showed."""
    seen, reads = custody_seen(school, staff_id, rows)
    return [custody_state(row, s) for row, s in zip(rows, seen, strict=True)], reads


def custody_seen(school: School, staff_id: str, rows: list[dict[str, Any]]
                 ) -> tuple[list[frozenset[Data]], dict[tuple[str, ...], list[str]]]:
    """What the reader may see of each row's pupil (``custody_state(row, seen)`` is the row as
    shown), and what each showed."""
    by_class: dict[str, tuple[frozenset[Data], tuple[str, ...]]] = {}
    seen: list[frozenset[Data]] = []
    reads: dict[tuple[str, ...], list[str]] = {}
    for row in rows:
        class_id = row.get("class_id") or ""
        found = by_class.get(class_id)
        if found is None:
            may = may_see(school, staff_id, class_id)
            found = by_class[class_id] = (may, tuple(read_of(may, CUSTODY_LIST)))
        seen.append(found[0])
        if found[1]:
            reads.setdefault(found[1], []).append(row["pupil_id"])
    return seen, reads


def custody_entry(entry: dict[str, Any], seen: frozenset[Data]) -> dict[str, Any]:
    if Data.CONTACTS in seen:
        return entry
    return {k: (_adult(v) if k in ("adult", "collector") else v) for k, v in entry.items()}


def read_of(seen: frozenset[Data], shows: frozenset[Data]) -> list[str]:
    """The categories a read of this kind actually showed this reader."""
    return [str(d) for d in sorted(seen & shows)]


def group_reads(reads: Iterable[tuple[str, list[str]]]) -> dict[tuple[str, ...], list[str]]:
    """Pupils grouped by the categories read of them: one access entry per group."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for pupil_id, data in reads:
        if data:
            groups.setdefault(tuple(data), []).append(pupil_id)
    return groups


def _without_number(caller: str | None) -> str | None:
    """``李梅 (13800138000)`` → ``李梅``: who rang, without their number."""
    if caller and caller.endswith(")") and " (" in caller:
        return caller.rsplit(" (", 1)[0]
    return caller


def _adult(adult: Any) -> Any:
    return _hide(adult, ("phone", "id_tail")) if isinstance(adult, dict) else adult


def _hide(entry: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    hidden = set(keys)
    return {k: (None if k in hidden else v) for k, v in entry.items()}
