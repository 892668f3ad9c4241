"""Care log (看护日志): per group and session, who supervised when, handovers, attendance, events, notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.alert import Alert
from service.domain.care_note import CareNote
from service.domain.errors import RuleError
from service.domain.handover import Handover
from service.domain.pupil import Pupil
from service.domain.pupil_day import IN_CUSTODY, PupilDay, derive
from service.domain.schedule import Schedule
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.roster import ENTRY_TYPES, entry_of
from service.projections.runtime import Batch, DocProjection, handles


def _log_key(school_id: str, day: str, session: str, group_id: str) -> str:
    return f"log/{school_id}/{day}/{session}/{group_id}"


def at_group(state: dict[str, Any], group_id: str) -> bool:
    return state["status"] == IN_CUSTODY and (state["place"] or {}).get("id") == group_id


class CareLog(DocProjection):
    name = "care_log"
    indexes = ("pupil", "chain", "note")

    # -- the school: names, classes, groups, staff, schedule -----------------
    def _school(self, e: Any, batch: Batch) -> tuple[str, Doc]:
        key = f"school/{e.originator_id}"
        doc = batch.get(key)
        assert doc is not None, key
        return key, doc

    @handles(School.Founded)
    def founded(self, e: School.Founded, batch: Batch) -> None:
        batch.put(f"school/{e.originator_id}", {"name": e.name, "timezone": e.timezone,
                  "schedule": e.schedule, "classes": {}, "groups": {}, "staff": {}})

    @handles(School.ProfileChanged, School.ScheduleSet)
    def profile(self, e: School.ProfileChanged | School.ScheduleSet, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        change = {"schedule": e.schedule} if hasattr(e, "schedule") else {
            "name": e.name, "timezone": e.timezone}
        batch.put(key, {**doc, **change})

    @handles(School.ClassAdded, School.GroupDefined, School.StaffJoined)
    def setup(self, e: School.ClassAdded | School.GroupDefined | School.StaffJoined, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        if isinstance(e, School.ClassAdded):
            doc["classes"][e.class_id] = {"label": e.label, "grade": e.grade}
        elif isinstance(e, School.GroupDefined):
            doc["groups"][e.group_id] = {"name": e.name, "kind": e.kind, "class_ids": e.class_ids,
                                         "teacher_id": e.teacher_id, "room": e.room}
        else:
            doc["staff"][e.staff_id] = e.name
        batch.put(key, doc)

    # -- pupils: names, classes and enrolment, keyed by class ----------------
    @handles(Pupil.Registered)
    def registered(self, e: Pupil.Registered, batch: Batch) -> None:
        key = f"pupil/{e.school_id}/{e.class_id}/{e.originator_id}"
        batch.put(f"pupil-index/{e.originator_id}", {"key": key, "school_id": e.school_id})
        batch.put(key, {"pupil_id": str(e.originator_id), "name": e.name, "class_id": e.class_id,
                        "enrolment": {"status": "none"}})

    @handles(Pupil.ProfileChanged, Pupil.MovedClass, Pupil.EnrolmentApplied,
             Pupil.EnrolmentAdvanced, Pupil.EnrolmentRejected, Pupil.EnrolmentWithdrawn)
    def pupil_changed(self, e: Any, batch: Batch) -> None:
        index = batch.get(f"pupil-index/{e.originator_id}")
        assert index is not None
        doc = batch.get(index["key"])
        assert doc is not None
        doc, enrolment = dict(doc), dict(doc["enrolment"])
        kind = type(e).__name__
        if kind == "ProfileChanged":
            doc["name"] = e.name
        elif kind == "EnrolmentApplied":
            enrolment = {"status": "applied", "starts": e.starts, "ends": e.ends,
                         "sessions": e.sessions, "withdrawn_on": None}
        elif kind == "EnrolmentAdvanced":
            enrolment["status"] = e.step
        elif kind == "EnrolmentRejected":
            enrolment["status"] = "rejected"
        elif kind == "EnrolmentWithdrawn":
            enrolment.update(status="withdrawn", withdrawn_on=e.on)
        doc["enrolment"] = enrolment
        if kind == "MovedClass":
            batch.delete(index["key"])
            index = {**index, "key": f"pupil/{index['school_id']}/{e.class_id}/{e.originator_id}"}
            batch.put(f"pupil-index/{e.originator_id}", index)
            doc["class_id"] = e.class_id
        batch.put(index["key"], doc)

    # -- the afternoon: each pupil's chain, and the groups it touched ---------
    def _touch(self, batch: Batch, school_id: str, day: str, session: str, group_id: str,
               pupil_id: str | None = None, alert_id: str | None = None) -> None:
        key = _log_key(school_id, day, session, group_id)
        doc = batch.get(key) or {"pupil_ids": [], "alert_ids": [], "notes": {}}
        for field, value in (("pupil_ids", pupil_id), ("alert_ids", alert_id)):
            if value is not None and value not in doc[field]:
                doc = {**doc, field: sorted([*doc[field], value])}
        batch.put(key, doc)

    def _homework_groups(self, batch: Batch, school_id: str, class_id: str) -> list[str]:
        school = batch.get(f"school/{school_id}") or {"groups": {}}
        return sorted(gid for gid, g in school["groups"].items()
                      if g["kind"] == "homework" and class_id in g["class_ids"])

    @handles(PupilDay.Opened)
    def opened(self, e: PupilDay.Opened, batch: Batch) -> None:
        key = f"chain/{e.school_id}/{e.day}/{e.session}/{e.pupil_id}"
        batch.put(f"chain-index/{e.originator_id}", {"key": key})
        batch.put(key, {"school_id": e.school_id, "pupil_id": e.pupil_id, "day": e.day,
                        "session": e.session, "class_id": e.class_id, "entries": []})

    @handles(*ENTRY_TYPES)
    def recorded(self, e: Any, batch: Batch) -> None:
        index = batch.get(f"chain-index/{e.originator_id}")
        assert index is not None
        doc = batch.get(index["key"])
        assert doc is not None
        entry, state = entry_of(e), derive(doc["entries"])
        groups = set(self._homework_groups(batch, doc["school_id"], doc["class_id"]))
        for place in (entry.get("place"), state["place"] if state["status"] == IN_CUSTODY else None,
                      (state["pending"] or {}).get("place")):
            if place and place.get("kind") == "group":
                groups.add(place["id"])
        for gid in sorted(groups):
            self._touch(batch, doc["school_id"], doc["day"], doc["session"], gid, doc["pupil_id"])
        batch.put(index["key"], {**doc, "entries": [*doc["entries"], entry]})

    # -- handovers: both counts ----------------------------------------------
    @handles(Handover.Offered)
    def offered(self, e: Handover.Offered, batch: Batch) -> None:
        batch.put(f"handover/{e.originator_id}", {
            "handover_id": str(e.originator_id), "school_id": e.school_id, "kind": e.kind,
            "giver": e.giver, "to": e.to, "place": e.place, "pupil_ids": e.pupil_ids,
            "count_given": e.count_given, "note": e.note, "offered_at": e.by["at"],
            "status": "offered", "count_received": None, "missing_pupil_ids": [],
            "mismatch": e.count_given != len(e.pupil_ids), "confirmed_at": None, "withdrawn_at": None,
            "withdraw_reason": None})

    @handles(Handover.Confirmed, Handover.Withdrawn)
    def settled(self, e: Handover.Confirmed | Handover.Withdrawn, batch: Batch) -> None:
        key = f"handover/{e.originator_id}"
        doc = batch.get(key)
        assert doc is not None
        if isinstance(e, Handover.Confirmed):
            change = {"status": "confirmed", "count_received": e.count_received,
                      "missing_pupil_ids": e.missing_pupil_ids, "mismatch": e.mismatch,
                      "confirmed_at": e.by["at"]}
        else:
            change = {"status": "withdrawn", "withdrawn_at": e.by["at"], "withdraw_reason": e.reason}
        batch.put(key, {**doc, **change})

    # -- alerts about the group or its pupils ----------------------------------
    @handles(Alert.Raised)
    def alert_raised(self, e: Alert.Raised, batch: Batch) -> None:
        s = e.subject
        day, session = s.get("day"), s.get("session")
        if not day or not session:
            return  # not about a session (an expiring document): not the care log's business
        groups = {s["group_id"]} if s.get("group_id") else set()
        place = s.get("place") or {}
        if place.get("kind") == "group":
            groups.add(place["id"])
        for pid in [*([s["pupil_id"]] if s.get("pupil_id") else []), *s.get("pupil_ids", [])]:
            index = batch.get(f"pupil-index/{pid}")
            pupil = batch.get(index["key"]) if index else None
            if pupil is not None:
                groups.update(self._homework_groups(batch, e.school_id, pupil["class_id"]))
            chain = batch.get(f"chain/{e.school_id}/{day}/{session}/{pid}")
            if chain is not None:
                state = derive(chain["entries"])
                if state["status"] == IN_CUSTODY and state["place"]["kind"] == "group":
                    groups.add(state["place"]["id"])
        if not groups:
            return
        batch.put(f"alert/{e.originator_id}", {
            "alert_id": str(e.originator_id), "school_id": e.school_id, "kind": e.kind,
            "subject": s, "detail": e.detail, "code": e.code, "params": e.params,
            "raised_at": e.raised_at, "level": 0, "steps": [],
            "acknowledged": None, "resolved": None, "status": "open"})
        for gid in sorted(groups):
            self._touch(batch, e.school_id, day, session, gid, alert_id=str(e.originator_id))

    @handles(Alert.Escalated, Alert.Acknowledged, Alert.Resolved)
    def alert_followed(self, e: Alert.Escalated | Alert.Acknowledged | Alert.Resolved, batch: Batch) -> None:
        key = f"alert/{e.originator_id}"
        doc = batch.get(key)
        if doc is None:
            return  # an alert the care log does not carry
        if isinstance(e, Alert.Escalated):
            step = {"level": e.level, "step": e.step, "notify": e.notify, "at": e.at}
            doc = {**doc, "level": e.level, "steps": [*doc["steps"], step]}
        elif isinstance(e, Alert.Acknowledged):
            doc = {**doc, "acknowledged": {"note": e.note, "by": e.by},
                   "status": "resolved" if doc["resolved"] else "acknowledged"}
        else:
            doc = {**doc, "resolved": {"how": e.how, "note": e.note, "by": e.by}, "status": "resolved"}
        batch.put(key, doc)

    # -- care notes and emergencies ------------------------------------------
    @handles(CareNote.Written)
    def note_written(self, e: CareNote.Written, batch: Batch) -> None:
        key = _log_key(e.school_id, e.day, e.session, e.group_id)
        self._touch(batch, e.school_id, e.day, e.session, e.group_id)
        doc = batch.get(key)
        assert doc is not None
        note = {"note_id": str(e.originator_id), "kind": e.kind, "text": e.text,
                "actions_taken": e.actions_taken, "guardian_notified": e.guardian_notified,
                "reported_to_leadership": e.reported_to_leadership, "pupil_ids": e.pupil_ids,
                "by": e.by, "follow_ups": []}
        batch.put(f"note-index/{e.originator_id}", {"key": key})
        batch.put(key, {**doc, "notes": {**doc["notes"], note["note_id"]: note}})

    @handles(CareNote.FollowedUp)
    def note_followed(self, e: CareNote.FollowedUp, batch: Batch) -> None:
        index = batch.get(f"note-index/{e.originator_id}")
        assert index is not None
        doc = batch.get(index["key"])
        assert doc is not None
        note = dict(doc["notes"][str(e.originator_id)])
        note["guardian_notified"] = note["guardian_notified"] or e.guardian_notified
        note["reported_to_leadership"] = note["reported_to_leadership"] or e.reported_to_leadership
        note["follow_ups"] = [*note["follow_ups"], {
            "actions_taken": e.actions_taken, "guardian_notified": e.guardian_notified,
            "reported_to_leadership": e.reported_to_leadership, "by": e.by}]
        batch.put(index["key"], {**doc, "notes": {**doc["notes"], note["note_id"]: note}})


# -- reading: one pupil's chain against one group ----------------------------------

def expected_on(enrolment: dict[str, Any], day: date, session: str) -> bool:
    iso = day.isoformat()
    if session not in enrolment.get("sessions", ()):
        return False
    if enrolment["status"] == "signed":
        return bool(enrolment["starts"] <= iso <= enrolment["ends"])
    if enrolment["status"] == "withdrawn":
        return bool(enrolment["starts"] <= iso < enrolment["withdrawn_on"])
    return False


def walk(entries: list[dict[str, Any]], group_id: str, member: bool) -> dict[str, Any]:
    """Which facts concern the group (as recorded then), and custody spans there (as corrected)."""
    voided = {e["corrects"]: e for e in entries if e["type"] == "corrected"}
    seen: set[int] = set()
    facts: list[dict[str, Any]] = []
    handovers: dict[str, str] = {}
    for i, e in enumerate(entries):
        before = derive(entries[:i])
        here = at_group(before, group_id)
        into = (e.get("place") or {}).get("id") == group_id
        pending_here = ((before["pending"] or {}).get("place") or {}).get("id") == group_id
        if e["type"] == "corrected":
            hit = e["corrects"] in seen
        else:
            hit = member or here or into or (e["type"] == "offer_withdrawn" and pending_here)
        if not hit:
            continue
        seen.add(e["seq"])
        if e["type"] == "offered":
            handovers[e["handover_id"]] = ("within" if into and here else "into" if into
                                           else "out" if here else "related")
        facts.append({**e, "voided_by": voided.get(e["seq"])})
    standing = [e for e in entries if e["seq"] not in voided and e["type"] != "corrected"]
    spans: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for i, e in enumerate(standing):
        state = derive(standing[:i + 1])
        holder = state["custodian"] if at_group(state, group_id) else None
        if current is not None and (holder is None or holder["staff_id"] != current["custodian"]["staff_id"]):
            current.update(to=e["by"]["at"], ended_by=e)
            current = None
        if holder is not None and current is None:
            current = {"custodian": holder, "from": e["by"]["at"], "to": None,
                       "giver": e.get("giver"), "ended_by": None}
            spans.append(current)
    return {"facts": facts, "handovers": handovers, "spans": spans, "standing": standing,
            "state": derive(standing), "entries": entries}


def state_at(standing: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    return derive([e for e in standing if datetime.fromisoformat(e["by"]["at"]) <= at])


def load(view: DocView, school_id: str, group_id: str, day: date, session: str) -> dict[str, Any] | None:
    """Everything stored about one group's session: the raw material of its care log."""
    school = view.get(f"school/{school_id}")
    if school is None or group_id not in school["groups"]:
        return None
    schedule = Schedule.from_dict(school["schedule"])
    if session not in {s.key for s in schedule.sessions}:
        raise RuleError(f"No session {session!r} in the schedule.", field="session")
    group, iso = school["groups"][group_id], day.isoformat()
    log = view.get(_log_key(school_id, iso, session, group_id)) or {
        "pupil_ids": [], "alert_ids": [], "notes": {}}
    runs = schedule.runs_on(session, day)
    pupils: dict[str, Doc] = {}
    for class_id in group["class_ids"] if group["kind"] == "homework" else ():
        pupils.update({d["pupil_id"]: d for d in view.scan(f"pupil/{school_id}/{class_id}/").values()})
    named = {p for n in log["notes"].values() for p in n["pupil_ids"]} | set(log["pupil_ids"])
    indexes = view.get_many(f"pupil-index/{p}" for p in sorted(named) if p not in pupils)
    pupils.update({d["pupil_id"]: d for d in view.get_many(i["key"] for i in indexes.values()).values()})
    chains = {d["pupil_id"]: d for d in view.get_many(
        f"chain/{school_id}/{iso}/{session}/{p}" for p in pupils).values()}
    for pid, p in pupils.items():
        pupils[pid] = {**p, "expected": runs and expected_on(p["enrolment"], day, session),
                       "logged": pid in log["pupil_ids"]}
    handover_ids = {e["handover_id"] for c in chains.values() for e in c["entries"] if "handover_id" in e}
    handovers = {d["handover_id"]: d for d in view.get_many(f"handover/{h}" for h in handover_ids).values()
                 if d["school_id"] == school_id}
    alerts = [d for d in view.get_many(f"alert/{a}" for a in log["alert_ids"]).values()
              if d["school_id"] == school_id]
    return {"school_id": school_id, "school": school, "schedule": schedule, "group": group, "runs": runs, "log": log,
            "pupils": pupils, "chains": chains, "handovers": handovers, "alerts": alerts}


def closes_at(schedule: Schedule, school: Doc, group: Doc, day: date, session: str) -> datetime | None:
    """When the group's session ends: the latest dismissal of the grades it holds (any, for a club)."""
    tz = ZoneInfo(school["timezone"])
    grades = {school["classes"][c]["grade"] for c in group["class_ids"] if c in school["classes"]}
    grades = grades or {g for band in schedule.bands for g in band.grades}
    times = [t for g in grades if (t := schedule.dismissal_at(session, g, day, tz)) is not None]
    return max(times) if times else None

