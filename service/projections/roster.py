"""Roster: every expected pupil's state per school, day and session, with counts and search."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from pypinyin import Style, lazy_pinyin, pinyin

from service.domain.pupil import Pupil
from service.domain.pupil_day import GONE, IN_CUSTODY, NOT_HANDED_OVER, STILL_HELD, PupilDay, derive
from service.domain.schedule import Schedule
from service.domain.school import School
from service.imports.roster import normalise_class
from service.projections.cache import Memo, RosterCache
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles

ENTRY_TYPES: dict[type, str] = {
    PupilDay.MarkedAbsent: "absent", PupilDay.SignedIn: "signed_in",
    PupilDay.HandoverOffered: "offered", PupilDay.HandoverWithdrawn: "offer_withdrawn",
    PupilDay.CustodyTaken: "custody_taken", PupilDay.Released: "released",
    PupilDay.ReleaseRefused: "release_refused", PupilDay.WentHomeAlone: "went_home_alone",
    PupilDay.LeftEarly: "left_early", PupilDay.Corrected: "corrected",
    PupilDay.OfferedFromSession: "offered", PupilDay.PassedOn: "passed_on",
}
_META = {"originator_id", "originator_version", "timestamp", "originator_topic"}


@lru_cache(maxsize=65536)
def initials(name: str) -> str:
    """张小明 → zxm: what a guard types on a tablet."""
    return "".join(p[:1] for p in lazy_pinyin(name, style=Style.FIRST_LETTER)).lower()


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


@lru_cache(maxsize=65536)
def initial_options(name: str) -> tuple[tuple[str, ...], ...]:
    """The initials each character may be typed with, the usual reading first: 曾昊杰 → (c z)(h)(j).

    Every combination of readings is matched by walking these positions, so a name of n
    characters with k readings each is indexed in n·k letters, not kⁿ strings.
    """
    usual = initials(name)
    options: list[tuple[str, ...]] = []
    for part in _HAN.findall(name):
        if len(part) == 1 and not part.isascii() and _HAN.fullmatch(part):
            readings = pinyin(part, style=Style.FIRST_LETTER, heteronym=True)[0]
            options.append(tuple(r[:1].lower() for r in readings if r) or (part,))
        else:
            options.append((part[:1].lower(),))
    if len(usual) == len(options):  # put the reading in context (e.g. 单 as a surname) first
        options = [tuple(dict.fromkeys((u, *o))) for u, o in zip(usual, options, strict=True)]
    return tuple(options)


def initials_match(q: str, options: list[list[str]] | tuple[tuple[str, ...], ...]) -> bool:
    """Does q start any reading's initials? zhj and chj both find 曾昊杰."""
    return len(q) <= len(options) and all(letter in options[i] for i, letter in enumerate(q))


def entry_of(event: Any) -> dict[str, Any]:
    """The chain entry an event appends, exactly as the aggregate appends it."""
    facts = {k: v for k, v in vars(event).items() if k not in _META and k != "by"}
    return {"seq": event.originator_version, "type": ENTRY_TYPES[type(event)], "by": event.by, **facts}


class Roster(DocProjection):
    name = "roster"
    indexes = ("day", "pupil")

    # -- school ------------------------------------------------------------
    def _school(self, event: Any, batch: Batch) -> tuple[str, Doc]:
        key = f"school/{event.originator_id}"
        doc = batch.get(key)
        assert doc is not None, key
        return key, doc

    @handles(School.Founded)
    def school_founded(self, e: School.Founded, batch: Batch) -> None:
        batch.put(f"school/{e.originator_id}", {
            "school_id": str(e.originator_id), "name": e.name, "timezone": e.timezone,
            "schedule": e.schedule, "classes": {}, "groups": {}, "gates": {}, "staff": {}})

    @handles(School.ProfileChanged)
    def school_profile(self, e: School.ProfileChanged, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        batch.put(key, {**doc, "name": e.name, "timezone": e.timezone})

    @handles(School.ClassAdded)
    def class_added(self, e: School.ClassAdded, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["classes"][e.class_id] = {"label": e.label, "grade": e.grade,
                                      "homeroom_teacher_id": e.homeroom_teacher_id}
        batch.put(key, doc)

    @handles(School.HomeroomTeacherAssigned)
    def homeroom(self, e: School.HomeroomTeacherAssigned, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["classes"][e.class_id]["homeroom_teacher_id"] = e.staff_id
        batch.put(key, doc)

    @handles(School.GroupDefined)
    def group(self, e: School.GroupDefined, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["groups"][e.group_id] = {"name": e.name, "kind": e.kind, "class_ids": e.class_ids,
                                     "teacher_id": e.teacher_id, "room": e.room, "weekdays": e.weekdays}
        batch.put(key, doc)

    @handles(School.GateAdded)
    def gate(self, e: School.GateAdded, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["gates"][e.gate_id] = {"name": e.name}
        batch.put(key, doc)

    @handles(School.ScheduleSet)
    def schedule(self, e: School.ScheduleSet, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        batch.put(key, {**doc, "schedule": e.schedule})

    @handles(School.StaffJoined)
    def staff(self, e: School.StaffJoined, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["staff"][e.staff_id] = {"name": e.name, "roles": e.roles, "active": True}
        batch.put(key, doc)

    @handles(School.StaffRolesChanged)
    def roles(self, e: School.StaffRolesChanged, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["staff"][e.staff_id]["roles"] = e.roles
        batch.put(key, doc)

    @handles(School.StaffLeft)
    def left(self, e: School.StaffLeft, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["staff"][e.staff_id]["active"] = False
        batch.put(key, doc)

    # -- pupils ------------------------------------------------------------
    def _pupil(self, e: Any, batch: Batch) -> tuple[str, Doc]:
        index = batch.get(f"pupil-index/{e.originator_id}")
        assert index is not None
        key = index["key"]
        doc = batch.get(key)
        assert doc is not None
        return key, doc

    @handles(Pupil.Registered)
    def registered(self, e: Pupil.Registered, batch: Batch) -> None:
        key = f"pupil/{e.school_id}/{e.originator_id}"
        batch.put(f"pupil-index/{e.originator_id}", {"key": key})
        batch.put(key, {"pupil_id": str(e.originator_id), "name": e.name, "initials": initials(e.name),
                        "initial_options": [list(o) for o in initial_options(e.name)],
                        "gender": e.gender, "class_id": e.class_id, "tags": [],
                        "enrolment": {"status": "none"}})

    @handles(Pupil.ProfileChanged)
    def pupil_profile(self, e: Pupil.ProfileChanged, batch: Batch) -> None:
        key, doc = self._pupil(e, batch)
        batch.put(key, {**doc, "name": e.name, "initials": initials(e.name),
                        "initial_options": [list(o) for o in initial_options(e.name)], "gender": e.gender,
                        "photo": e.photo})

    @handles(Pupil.MovedClass)
    def moved(self, e: Pupil.MovedClass, batch: Batch) -> None:
        key, doc = self._pupil(e, batch)
        batch.put(key, {**doc, "class_id": e.class_id})

    @handles(Pupil.PriorityTagsSet)
    def tags(self, e: Pupil.PriorityTagsSet, batch: Batch) -> None:
        key, doc = self._pupil(e, batch)
        batch.put(key, {**doc, "tags": e.tags})

    @handles(Pupil.EnrolmentApplied)
    def applied(self, e: Pupil.EnrolmentApplied, batch: Batch) -> None:
        key, doc = self._pupil(e, batch)
        batch.put(key, {**doc, "enrolment": {"status": "applied", "starts": e.starts, "ends": e.ends,
                                             "sessions": e.sessions, "withdrawn_on": None}})

    @handles(Pupil.EnrolmentAdvanced, Pupil.EnrolmentRejected, Pupil.EnrolmentWithdrawn)
    def enrolment_step(
        self, e: Pupil.EnrolmentAdvanced | Pupil.EnrolmentRejected | Pupil.EnrolmentWithdrawn,
        batch: Batch,
    ) -> None:
        key, doc = self._pupil(e, batch)
        enrolment = dict(doc["enrolment"])
        if isinstance(e, Pupil.EnrolmentWithdrawn):
            enrolment.update(status="withdrawn", withdrawn_on=e.on)
        elif isinstance(e, Pupil.EnrolmentRejected):
            enrolment["status"] = "rejected"
        else:
            enrolment["status"] = e.step
        batch.put(key, {**doc, "enrolment": enrolment})

    # -- the afternoon -------------------------------------------------------
    @handles(PupilDay.Opened)
    def opened(self, e: PupilDay.Opened, batch: Batch) -> None:
        key = f"day/{e.school_id}/{e.day}/{e.session}/{e.pupil_id}"
        batch.put(f"day-index/{e.originator_id}", {"key": key})
        batch.put(key, {"pupil_id": e.pupil_id, "day": e.day, "session": e.session, "entries": [],
                        "version": 1})

    @handles(*ENTRY_TYPES)
    def recorded(self, e: Any, batch: Batch) -> None:
        index = batch.get(f"day-index/{e.originator_id}")
        assert index is not None
        doc = batch.get(index["key"])
        assert doc is not None
        entries = [*doc["entries"], entry_of(e)]
        batch.put(index["key"], {**doc, "entries": entries, "version": e.originator_version})


# -- reading the roster -------------------------------------------------------

def expected_on(enrolment: dict[str, Any], day: date, session: str) -> bool:
    iso = day.isoformat()
    if session not in enrolment.get("sessions", ()):
        return False
    if enrolment["status"] == "signed":
        return bool(enrolment["starts"] <= iso <= enrolment["ends"])
    if enrolment["status"] == "withdrawn":
        return bool(enrolment["starts"] <= iso < enrolment["withdrawn_on"])
    return False


def roster_order(row: Doc) -> tuple[str, str, str]:
    """The order the roster lists its pupils in: class, initials, name."""
    return (row["class_label"] or "", row["initials"], row["name"])


def _homework(school: Doc) -> dict[str, str]:
    return {cid: gid for gid, g in school["groups"].items() if g["kind"] == "homework"
            for cid in g["class_ids"]}


def _row(p: Doc, school: Doc, schedule: Schedule, homework: dict[str, str], chain: Doc | None) -> Doc:
    """One pupil's roster row: who they are and where they are in the session."""
    klass = school["classes"].get(p["class_id"], {})
    chain = chain or {"entries": [], "version": 0}
    state = derive(chain["entries"])
    band = schedule.band_of(klass.get("grade", 0))
    released_gate = next((e["gate"]["id"] for e in reversed(chain["entries"])
                          if e["type"] in ("released", "went_home_alone") and e.get("gate")), None)
    return {
        "pupil_id": p["pupil_id"], "name": p["name"], "initials": p["initials"],
        "initial_options": p.get("initial_options") or [list(o) for o in initial_options(p["name"])],
        "class_id": p["class_id"], "class_label": klass.get("label"), "grade": klass.get("grade"),
        "band": band.key if band else None, "homework_group_id": homework.get(p["class_id"]),
        "gate_id": (state["place"] or {}).get("id") if (state["place"] or {}).get("kind") == "gate"
        and state["status"] == IN_CUSTODY else released_gate,
        "refusals": sum(1 for e in chain["entries"] if e["type"] == "release_refused"),
        "offered_at": next((e["by"]["at"] for e in reversed(chain["entries"])
                            if e["type"] == "offered"), None) if state["pending"] else None,
        "version": chain["version"], **state,
    }


def read_rows(view: DocView, school_id: str, day: date, session: str,
              pupil_ids: Iterable[str]) -> dict[str, Doc]:
    """The roster rows of these pupils only, read by key: those not expected that day have none."""
    school = view.get(f"school/{school_id}")
    ids = list(pupil_ids)
    if school is None or not ids:
        return {}
    schedule = Schedule.from_dict(school["schedule"])
    if not (session in {s.key for s in schedule.sessions} and schedule.runs_on(session, day)):
        return {}
    docs = view.get_many([*(f"pupil/{school_id}/{pid}" for pid in ids),
                          *(f"day/{school_id}/{day.isoformat()}/{session}/{pid}" for pid in ids)])
    homework = _homework(school)
    out: dict[str, Doc] = {}
    for pid in ids:
        p = docs.get(f"pupil/{school_id}/{pid}")
        if p is not None and expected_on(p["enrolment"], day, session):
            out[pid] = _row(p, school, schedule, homework,
                            docs.get(f"day/{school_id}/{day.isoformat()}/{session}/{pid}"))
    return out


def _matches(q: str, pupil: Doc, klass: dict[str, Any]) -> bool:
    q = q.strip()
    if not q:
        return True
    # A view built before readings were indexed has none: read them from the name.
    readings = pupil.get("initial_options") or initial_options(pupil["name"])
    if q.lower() in pupil["name"].lower() or initials_match(q.lower(), readings):
        return True
    wanted = normalise_class(q)
    return wanted is not None and wanted == (klass.get("grade"), _class_no(klass.get("label", "")))


def _class_no(label: str) -> int | None:
    found = normalise_class(label)
    return found[1] if found else None


class Docs(Protocol):
    """What reading the roster needs of its documents: the view, or its cache in this process."""

    def get(self, key: str) -> Doc | None: ...

    def scan(self, prefix: str) -> Mapping[str, Doc]: ...


def read_roster(view: Docs, school_id: str, day: date, session: str, *, group_id: str | None = None,
                gate_id: str | None = None, q: str | None = None) -> dict[str, Any] | None:
    """The roster as the guard's tablet and the duty leader's board show it.

    Read from the cache, what is worked out is kept in its memo: a pupil's row is made again
    only when a document it is made of was re-read, and the whole roster (rows, counts) only
    when one of them was; the answer is then the very same object as before. Callers read it
    and never change it."""
    school = view.get(f"school/{school_id}")
    if school is None:
        return None
    memo = view.memo if isinstance(view, RosterCache) else Memo()
    made = memo.scope((school_id, day, session))
    schedule, homework = made.get("schedule", (school,), lambda: (
        Schedule.from_dict(school["schedule"]), _homework(school)))
    runs = session in {s.key for s in schedule.sessions} and schedule.runs_on(session, day)
    pupils = view.scan(f"pupil/{school_id}/") if runs else {}
    days = view.scan(f"day/{school_id}/{day.isoformat()}/{session}/") if runs else {}

    def row(p: Doc, chain: Doc | None) -> Doc | None:
        if not expected_on(p["enrolment"], day, session):
            return None
        return _row(p, school, schedule, homework, chain)

    def whole() -> dict[str, Any]:
        day_by_pupil = {d["pupil_id"]: d for d in days.values()}
        rows: list[Doc] = []
        for p in pupils.values():
            chain = day_by_pupil.get(p["pupil_id"])
            found = made.get(("row", p["pupil_id"]), (p, chain, school), lambda: row(p, chain))  # noqa: B023 - called here
            if found is not None:
                rows.append(found)
        rows.sort(key=roster_order)
        # Everyone the school answers for and who has not left, whatever the filters: a pupil
        # expected but never handed over is still in the school, and so is one awaiting a handover.
        return {"school_id": school_id, "day": day.isoformat(), "session": session, "service": runs,
                "counts": _counts(rows), "pupils": rows,
                "still_in_school": [r["pupil_id"] for r in rows if r["status"] in STILL_HELD]}

    roster: dict[str, Any] = made.get("roster", (school, pupils, days), whole)
    if not (group_id or gate_id or q):
        return roster
    rows = roster["pupils"]
    if group_id:
        rows = [r for r in rows if (r["place"] or {}).get("id") == group_id
                or (r["status"] == NOT_HANDED_OVER and r["homework_group_id"] == group_id)]
    if gate_id:
        rows = [r for r in rows if r["gate_id"] == gate_id]
    if q:
        rows = [r for r in rows if _matches(q, pupils[f"pupil/{school_id}/{r['pupil_id']}"],
                                            school["classes"].get(r["class_id"], {}))]
    return {**roster, "pupils": rows}


def _counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    by_group: dict[str, dict[str, int]] = {}
    by_band: dict[str, dict[str, int]] = {}
    by_gate: dict[str, dict[str, int]] = {}
    for r in rows:
        status = r["status"]
        by_status[status] = by_status.get(status, 0) + 1
        group = (r["place"] or {}).get("id") if status == IN_CUSTODY else r["homework_group_id"]
        for table, k in ((by_group, group), (by_band, r["band"]), (by_gate, r["gate_id"])):
            if k is None:
                continue
            bucket = table.setdefault(k, {})
            bucket[status] = bucket.get(status, 0) + 1
    return {"total": len(rows), "by_status": by_status, "by_group": by_group, "by_band": by_band,
            "by_gate": by_gate, "gone": by_status.get(GONE, 0)}
