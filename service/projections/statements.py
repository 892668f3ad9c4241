"""Monthly statements: each pupil's days and fee, each staff member's sessions and subsidy, traced to events.

The projection only files facts (with the reference of the event behind each); what a month
comes to is worked out when it is read, from the schedule, enrolments and rules in force on
each day, so no clock runs inside the projection and a rebuild gives the same figures.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.alert import Alert
from service.domain.handover import Handover
from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.rules import FeePeriod, FeeRule, SchoolRules, SubsidyRule
from service.domain.schedule import Schedule, UnknownSessionError
from service.domain.school import School
from service.domain.shift import DUTY, Shift, minutes_between
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles

ENTRY_TYPES: dict[type, str] = {
    PupilDay.MarkedAbsent: "absent", PupilDay.SignedIn: "signed_in",
    PupilDay.CustodyTaken: "custody_taken", PupilDay.Released: "released",
    PupilDay.WentHomeAlone: "went_home_alone", PupilDay.LeftEarly: "left_early",
    PupilDay.Corrected: "corrected",
}
RELEASES = ("released", "went_home_alone", "left_early")


def ref(e: Any) -> dict[str, Any]:
    """Where an inspector finds the event: its aggregate, its version there, and its kind."""
    return {"aggregate_id": str(e.originator_id), "version": e.originator_version,
            "event": type(e).__qualname__}


def _at(e: Any) -> str | None:
    by = getattr(e, "by", None)
    return by.get("at") if isinstance(by, dict) else None


class Statements(DocProjection):
    name = "statements"
    indexes = ("pupil", "day", "handover", "shift", "rules", "unattended")

    def _indexed(self, kind: str, e: Any, batch: Batch) -> tuple[str, Doc]:
        index = batch.get(f"{kind}-index/{e.originator_id}")
        assert index is not None, (kind, e.originator_id)
        doc = batch.get(index["key"])
        assert doc is not None
        return index["key"], doc

    # -- the school ----------------------------------------------------------
    def _school(self, e: Any, batch: Batch) -> tuple[str, Doc]:
        key = f"school/{e.originator_id}"
        doc = batch.get(key)
        assert doc is not None, key
        return key, doc

    @handles(School.Founded)
    def founded(self, e: School.Founded, batch: Batch) -> None:
        batch.put(f"school/{e.originator_id}", {
            "school_id": str(e.originator_id), "name": e.name, "timezone": e.timezone,
            "schedules": [{"at": None, "schedule": e.schedule, "ref": ref(e)}],
            "classes": {}, "groups": {}, "staff": {}})

    @handles(School.ProfileChanged)
    def profile(self, e: School.ProfileChanged, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        batch.put(key, {**doc, "name": e.name, "timezone": e.timezone})

    @handles(School.ClassAdded)
    def class_added(self, e: School.ClassAdded, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["classes"][e.class_id] = {"label": e.label, "grade": e.grade}
        batch.put(key, doc)

    @handles(School.GroupDefined)
    def group(self, e: School.GroupDefined, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["groups"][e.group_id] = {"name": e.name, "kind": e.kind, "class_ids": e.class_ids,
                                     "teacher_id": e.teacher_id, "weekdays": e.weekdays,
                                     "ref": ref(e)}
        batch.put(key, doc)

    @handles(School.ScheduleSet)
    def schedule(self, e: School.ScheduleSet, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        doc["schedules"].append({"at": _at(e), "schedule": e.schedule, "ref": ref(e)})
        batch.put(key, doc)

    @handles(School.StaffJoined, School.StaffRolesChanged, School.StaffLeft)
    def staff(self, e: School.StaffJoined | School.StaffRolesChanged | School.StaffLeft, batch: Batch) -> None:
        key, doc = self._school(e, batch)
        member = doc["staff"].setdefault(e.staff_id, {"name": "", "roles": [], "active": True})
        if isinstance(e, School.StaffJoined):
            member.update(name=e.name, roles=e.roles)
        elif isinstance(e, School.StaffRolesChanged):
            member["roles"] = e.roles
        else:
            member["active"] = False
        batch.put(key, doc)

    # -- pupils: class, priority tags and enrolments, each with its history ---------------
    @handles(Pupil.Registered)
    def registered(self, e: Pupil.Registered, batch: Batch) -> None:
        key = f"pupil/{e.school_id}/{e.originator_id}"
        batch.put(f"pupil-index/{e.originator_id}", {"key": key})
        batch.put(key, {"pupil_id": str(e.originator_id), "name": e.name,
                        "classes": [{"at": None, "class_id": e.class_id, "ref": ref(e)}],
                        "tags": [], "enrolments": []})

    @handles(Pupil.ProfileChanged, Pupil.MovedClass, Pupil.PriorityTagsSet)
    def pupil_changed(self, e: Pupil.ProfileChanged | Pupil.MovedClass | Pupil.PriorityTagsSet, batch: Batch) -> None:
        key, doc = self._indexed("pupil", e, batch)
        if isinstance(e, Pupil.ProfileChanged):
            doc["name"] = e.name
        elif isinstance(e, Pupil.MovedClass):
            doc["classes"].append({"at": _at(e), "class_id": e.class_id, "ref": ref(e)})
        else:
            doc["tags"].append({"at": _at(e), "tags": e.tags, "ref": ref(e)})
        batch.put(key, doc)

    @handles(Pupil.EnrolmentApplied, Pupil.EnrolmentAdvanced, Pupil.EnrolmentRejected,
             Pupil.EnrolmentWithdrawn)
    def enrolment(
        self, e: Pupil.EnrolmentApplied | Pupil.EnrolmentAdvanced | Pupil.EnrolmentRejected
        | Pupil.EnrolmentWithdrawn, batch: Batch,
    ) -> None:
        key, doc = self._indexed("pupil", e, batch)
        if isinstance(e, Pupil.EnrolmentApplied):
            doc["enrolments"].append({"starts": e.starts, "ends": e.ends, "sessions": e.sessions,
                                      "status": "applied", "signed_at": None, "signed_ref": None,
                                      "withdrawn_on": None, "withdrawn_ref": None})
        elif doc["enrolments"]:
            current = doc["enrolments"][-1]
            if isinstance(e, Pupil.EnrolmentWithdrawn):
                current.update(status="withdrawn", withdrawn_on=e.on, withdrawn_ref=ref(e))
            elif isinstance(e, Pupil.EnrolmentRejected):
                current["status"] = "rejected"
            else:
                current["status"] = e.step
                if e.step == "signed":
                    current.update(signed_at=_at(e), signed_ref=ref(e))
        batch.put(key, doc)

    # -- the afternoon's facts --------------------------------------------------------------
    @handles(PupilDay.Opened)
    def opened(self, e: PupilDay.Opened, batch: Batch) -> None:
        key = f"day/{e.school_id}/{e.day[:7]}/{e.pupil_id}/{e.day}/{e.session}"
        batch.put(f"day-index/{e.originator_id}", {"key": key})
        batch.put(key, {"pupil_day_id": str(e.originator_id), "pupil_id": e.pupil_id,
                        "day": e.day, "session": e.session, "entries": []})

    @handles(*ENTRY_TYPES)
    def recorded(self, e: Any, batch: Batch) -> None:
        key, doc = self._indexed("day", e, batch)
        entry = {"seq": e.originator_version, "type": ENTRY_TYPES[type(e)], "ref": ref(e),
                 "staff_id": e.by["staff_id"], "staff_name": e.by.get("staff_name"),
                 "at": e.by["at"]}
        for fact in ("with_leave", "corrects", "corrected_type", "reason"):
            if hasattr(e, fact):
                entry[fact] = getattr(e, fact)
        batch.put(key, {**doc, "entries": [*doc["entries"], entry]})

    @handles(Handover.Offered)
    def offered(self, e: Handover.Offered, batch: Batch) -> None:
        batch.put(f"handover-index/{e.originator_id}", {
            "school_id": e.school_id, "day": e.day, "session": e.session, "kind": e.kind,
            "giver": e.giver, "to": e.to, "place": e.place, "pupils": len(e.pupil_ids),
            "count_given": e.count_given})

    @handles(Handover.Confirmed)
    def confirmed(self, e: Handover.Confirmed, batch: Batch) -> None:
        if not e.mismatch:
            return
        h = batch.get(f"handover-index/{e.originator_id}")
        assert h is not None
        batch.put(f"mismatch/{h['school_id']}/{h['day']}/{e.originator_id}", {
            **h, "handover_id": str(e.originator_id), "count_received": e.count_received,
            "missing": e.missing_pupil_ids, "ref": ref(e)})

    # -- rules and shifts ---------------------------------------------------------------------
    @handles(SchoolRules.Created)
    def rules_created(self, e: SchoolRules.Created, batch: Batch) -> None:
        batch.put(f"rules-index/{e.originator_id}", {"key": f"rules/{e.school_id}"})
        batch.put(f"rules/{e.school_id}", {"fee": [], "subsidy": []})

    @handles(SchoolRules.FeeRuleSet, SchoolRules.SubsidyRuleSet)
    def rule_set(self, e: SchoolRules.FeeRuleSet | SchoolRules.SubsidyRuleSet, batch: Batch) -> None:
        key, doc = self._indexed("rules", e, batch)
        which = "fee" if isinstance(e, SchoolRules.FeeRuleSet) else "subsidy"
        doc[which].append({"at": _at(e), "rule": e.rule, "ref": ref(e),
                           "set_by": e.by.get("staff_name")})
        batch.put(key, doc)

    @handles(Shift.SignedOn)
    def signed_on(self, e: Shift.SignedOn, batch: Batch) -> None:
        key = (f"shift/{e.school_id}/{e.day}/{e.staff['staff_id']}/{e.session}/"
               f"{e.place['id']}")
        batch.put(f"shift-index/{e.originator_id}", {"key": key})
        batch.put(key, {"shift_id": str(e.originator_id), "staff": e.staff, "day": e.day,
                        "session": e.session, "place": e.place, "substitute_for": e.substitute_for,
                        "at": e.at, "starts_at": e.starts_at, "ends_at": e.ends_at,
                        "off_at": None, "on_ref": ref(e), "off_ref": None,
                        "signed_on_by": e.by["staff_id"]})

    @handles(Shift.SignedOff)
    def signed_off(self, e: Shift.SignedOff, batch: Batch) -> None:
        key, doc = self._indexed("shift", e, batch)
        batch.put(key, {**doc, "off_at": e.at, "off_ref": ref(e), "handed_to": None})

    @handles(Shift.HandedOver)
    def handed_over(self, e: Shift.HandedOver, batch: Batch) -> None:
        key, doc = self._indexed("shift", e, batch)
        batch.put(key, {**doc, "off_at": e.at, "off_ref": ref(e), "handed_to": e.to})

    @handles(Shift.Resumed)
    def resumed(self, e: Shift.Resumed, batch: Batch) -> None:
        key, doc = self._indexed("shift", e, batch)
        batch.put(key, {**doc, "off_at": None, "off_ref": None, "handed_to": None})

    # -- rooms without an adult (空堂), as the watcher found them ------------------------
    @handles(Alert.Raised)
    def unattended_found(self, e: Alert.Raised, batch: Batch) -> None:
        if e.kind != "unattended":
            return
        subject = e.subject
        key = f"unattended/{e.school_id}/{subject['day']}/{subject['session']}/{subject['group_id']}/{e.originator_id}"
        batch.put(f"unattended-index/{e.originator_id}", {"key": key})
        batch.put(key, {"day": subject["day"], "session": subject["session"],
                        "group_id": subject["group_id"], "pupils": subject["count"],
                        "since": subject["since"], "until": None, "refs": [ref(e)]})

    @handles(Alert.Resolved)
    def unattended_ended(self, e: Alert.Resolved, batch: Batch) -> None:
        index = batch.get(f"unattended-index/{e.originator_id}")
        if index is None:
            return  # an alert of another kind
        doc = batch.get(index["key"])
        assert doc is not None
        batch.put(index["key"], {**doc, "until": e.by["at"], "refs": [*doc["refs"], ref(e)]})


# -- reading: one school's month ------------------------------------------------------------

class Month:
    """One school's month as the documents record it: days, timetables and histories by day."""

    def __init__(self, view: DocView, school: Doc, month: str, session: str,
                 now: datetime | None = None) -> None:
        self.view, self.school, self.month, self.session = view, school, month, session
        self.now = now
        self.school_id = school["school_id"]
        self.tz = ZoneInfo(school["timezone"])
        year, mon = (int(x) for x in month.split("-"))
        self.first = date(year, mon, 1)
        self.last = (self.first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        self.days = [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]
        self._parsed: dict[int, Schedule] = {}
        self._runs: dict[date, bool] = {}
        self._terms: dict[tuple[date, date], int] = {}
        self._days: dict[str | None, dict[str, dict[date, Doc]]] = {}

    def local(self, at: str | None) -> date | None:
        return None if at is None else datetime.fromisoformat(at).astimezone(self.tz).date()

    def as_of(self, history: list[dict[str, Any]], day: date,
              late: bool = True) -> dict[str, Any] | None:
        """The entry in force on a day: the last set by then, else (if ``late``) the first."""
        found = None
        for entry in history:
            at = self.local(entry["at"])
            if at is None or at <= day:
                found = entry
        return found or (history[0] if history and late else None)

    def schedule_entry(self, day: date) -> dict[str, Any]:
        entry = self.as_of(self.school["schedules"], day)
        assert entry is not None
        return entry

    def schedule_on(self, day: date) -> Schedule:
        entry = self.schedule_entry(day)
        version = entry["ref"]["version"]
        if version not in self._parsed:
            self._parsed[version] = Schedule.from_dict(entry["schedule"])
        return self._parsed[version]

    def runs(self, day: date) -> bool:
        """Does the session run on the day, by the timetable in force that day?"""
        if day not in self._runs:
            try:
                self._runs[day] = self.schedule_on(day).runs_on(self.session, day)
            except UnknownSessionError:
                self._runs[day] = False
        return self._runs[day]

    def over(self, day: date) -> bool:
        """Has the day's session ended (every band dismissed)? Always, when read without a clock."""
        if self.now is None:
            return True
        today = self.now.astimezone(self.tz).date()
        if day != today or not self.runs(day):
            return day < today
        schedule = self.schedule_on(day)
        ends = [t for b in schedule.bands
                if (t := schedule.dismissal_at(self.session, b.grades[0], day, self.tz))]
        return bool(ends) and self.now >= max(ends)

    def service_days(self, start: date, end: date) -> int:
        if (start, end) not in self._terms:
            n = sum(1 for i in range((end - start).days + 1) if self.runs(start + timedelta(days=i)))
            self._terms[start, end] = n
        return self._terms[start, end]

    def rule(self, which: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The rule in force on the month's last day (the default if never set) and its event."""
        rules = self.view.get(f"rules/{self.school_id}") or {"fee": [], "subsidy": []}
        entry = self.as_of(rules[which], self.last)
        return (entry["rule"], entry["ref"]) if entry else (None, None)

    def periods(self, pupil: Doc) -> list[dict[str, Any]]:
        """The pupil's signed enrolments for the session as they fall in the month."""
        out = []
        for e in pupil["enrolments"]:
            if e["signed_at"] is None or self.session not in e["sessions"]:
                continue
            signed = self.local(e["signed_at"])
            assert signed is not None
            start = max(date.fromisoformat(e["starts"]), signed)
            end = date.fromisoformat(e["ends"])
            gone = date.fromisoformat(e["withdrawn_on"]) if e["withdrawn_on"] else None
            if end < self.first or start > self.last or (gone is not None and gone <= self.first):
                continue  # outside the month, or withdrawn before it began: nothing owed
            window = [d for d in self.days if start <= d <= end and self.runs(d)]
            expected = [d for d in window if gone is None or d < gone]
            out.append({"window": window, "expected": expected, "end": end,
                        "term_start": date.fromisoformat(e["starts"]),
                        "withdrawn": gone is not None and gone <= self.last,
                        "refs": [r for r in (e["signed_ref"], e["withdrawn_ref"]) if r]})
        return out

    def pupil_days(self, pupil_id: str | None = None) -> dict[str, dict[date, Doc]]:
        """The month's pupil-day documents for the session, by pupil and day (read once)."""
        if pupil_id in self._days:
            return self._days[pupil_id]
        prefix = f"day/{self.school_id}/{self.month}/" + (f"{pupil_id}/" if pupil_id else "")
        found: dict[str, dict[date, Doc]] = {}
        for doc in self.view.scan(prefix).values():
            if doc["session"] == self.session:
                found.setdefault(doc["pupil_id"], {})[date.fromisoformat(doc["day"])] = doc
        self._days[pupil_id] = found
        return found


def day_facts(doc: Doc | None) -> dict[str, Any]:
    """What still stands of a pupil's day: attendance, absence, early departure, voided releases."""
    entries = doc["entries"] if doc else []
    voided = {e["corrects"]: e for e in entries if e["type"] == "corrected"}
    live = [e for e in entries if e["seq"] not in voided and e["type"] != "corrected"]
    absences = [e for e in live if e["type"] == "absent"]
    return {
        "attended": next((e for e in live if e["type"] in ("signed_in", "custody_taken")), None),
        "absent": absences[-1] if absences else None,
        "left_early": next((e for e in live if e["type"] == "left_early"), None),
        "voided_releases": [(e, voided[e["seq"]]) for e in entries
                            if e["seq"] in voided and e["type"] in RELEASES],
        "last": live[-1] if live else None,
    }


def unique(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event once, in the order first cited (a signing stands behind many days)."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for r in refs:
        seen.setdefault((r["aggregate_id"], r["version"]), r)
    return list(seen.values())


def _figure(items: list[tuple[date, list[dict[str, Any]]]]) -> dict[str, Any]:
    return {"count": len(items), "days": [d.isoformat() for d, _ in items],
            "refs": unique([r for _, refs in items for r in refs])}


def pupil_statement(m: Month, pupil: Doc, days: dict[date, Doc],
                    fee_rule: FeeRule, fee_ref: dict[str, Any] | None) -> dict[str, Any] | None:
    periods = m.periods(pupil)
    if not periods:
        return None
    figures: dict[str, list[tuple[date, list[dict[str, Any]]]]] = {
        k: [] for k in ("attended", "absent_with_leave", "absent_without_leave", "left_early",
                        "unrecorded")}
    expected: list[tuple[date, list[dict[str, Any]]]] = []
    attended_by_period: list[int] = []
    for p in periods:
        n = 0
        for d in p["expected"]:
            expected.append((d, p["refs"] + [m.schedule_entry(d)["ref"]]))
            f = day_facts(days.get(d))
            if f["attended"]:
                figures["attended"].append((d, [f["attended"]["ref"]]))
                n += 1
            elif f["absent"]:
                kind = "absent_with_leave" if f["absent"]["with_leave"] else "absent_without_leave"
                figures[kind].append((d, [f["absent"]["ref"]]))
            elif not f["left_early"] and m.over(d):
                figures["unrecorded"].append((d, []))
            if f["left_early"]:
                figures["left_early"].append((d, [f["left_early"]["ref"]]))
        attended_by_period.append(n)
    tags_entry = m.as_of(pupil["tags"], m.last, late=False)  # a later tag is not retroactive
    tags = tags_entry["tags"] if tags_entry else []
    fee = fee_rule.charge([
        FeePeriod(window_days=len(p["window"]), month_days=sum(1 for d in m.days if m.runs(d)),
                  term_days=m.service_days(p["term_start"], p["end"]), attended_days=n,
                  withdrawn=p["withdrawn"])
        for p, n in zip(periods, attended_by_period, strict=True)], tags)
    fee_refs = [r for r in (fee_ref, tags_entry["ref"] if tags_entry else None) if r]
    fee_refs += [r for p in periods for r in p["refs"]]
    if any(p["withdrawn"] for p in periods):
        fee_refs += [r for _, refs in figures["attended"] for r in refs]
    class_entry = m.as_of(pupil["classes"], m.last)
    class_id = class_entry["class_id"] if class_entry else None
    return {
        "pupil_id": pupil["pupil_id"], "name": pupil["name"], "class_id": class_id,
        "class_label": m.school["classes"].get(class_id, {}).get("label"), "tags": tags,
        "month": m.month, "session": m.session, "enrolled": _figure(expected),
        **{k: _figure(v) for k, v in figures.items()},
        "fee": {"owed": str(fee.owed), "gross": str(fee.gross), "reduction": str(fee.reduction),
                "reduction_percent": fee.percent, "reduction_tag": fee.tag, "lines": fee.lines,
                "rule": fee_rule.to_dict(), "refs": unique(fee_refs)},
    }


def read_pupil_statements(view: DocView, school_id: str, month: str, session: str,
                          pupil_id: str | None = None,
                          now: datetime | None = None) -> dict[str, Any] | None:
    """Every pupil enrolled in the month (or one pupil), or None if the school/pupil is unknown.

    Days are counted as enrolled for the whole month (the fee is the month's); a day is
    "unrecorded" only once its session is over as of ``now``.
    """
    school = view.get(f"school/{school_id}")
    if school is None:
        return None
    m = Month(view, school, month, session, now)
    if pupil_id is not None:
        one = view.get(f"pupil/{school_id}/{pupil_id}")
        if one is None:
            return None
        pupils = [one]
    else:
        pupils = list(view.scan(f"pupil/{school_id}/").values())
    rule, fee_ref = m.rule("fee")
    fee_rule = FeeRule.parse(rule) if rule else FeeRule()
    days = m.pupil_days(pupil_id)
    rows = [s for p in pupils
            if (s := pupil_statement(m, p, days.get(p["pupil_id"], {}), fee_rule, fee_ref))]
    rows.sort(key=lambda r: (r["class_label"] or "", r["name"], r["pupil_id"]))
    return {"school_id": school_id, "school_name": school["name"], "month": month,
            "session": session, "fee_rule": fee_rule.to_dict(), "fee_rule_ref": fee_ref,
            "pupils": rows}


def unattended_rooms(m: Month) -> list[dict[str, Any]]:
    """Homework groups that met with pupils present-or-expected but nobody signed on (空堂)."""
    shifts = {(s["day"], s["place"]["id"]) for s in m.view.scan(f"shift/{m.school_id}/{m.month}").values()
              if s["session"] == m.session}
    homework = {gid: g for gid, g in m.school["groups"].items() if g["kind"] == "homework"}
    pupils = list(m.view.scan(f"pupil/{m.school_id}/").values())
    periods = {p["pupil_id"]: m.periods(p) for p in pupils}
    days = m.pupil_days()
    found = []
    for d in m.days:
        if not m.runs(d) or not m.over(d):
            continue  # a room is unattended only once the session is over
        for gid, g in sorted(homework.items()):
            if d.isoweekday() not in g["weekdays"] or (d.isoformat(), gid) in shifts:
                continue
            refs: list[dict[str, Any]] = []
            for p in pupils:
                klass = m.as_of(p["classes"], d)
                if klass is None or klass["class_id"] not in g["class_ids"]:
                    continue
                period = next((x for x in periods[p["pupil_id"]] if d in x["expected"]), None)
                facts = day_facts(days.get(p["pupil_id"], {}).get(d))
                if period is None or (facts["absent"] and not facts["attended"]):
                    continue  # not expected, or away: no one to supervise
                refs.append(facts["last"]["ref"] if facts["last"] else period["refs"][0])
            if refs:
                found.append({"day": d.isoformat(), "group_id": gid, "group_name": g["name"],
                              "teacher_id": g["teacher_id"], "pupils": len(refs),
                              "minutes": None, "refs": [g["ref"], *refs]})
    return _with_alerted_rooms(m, found)


def _with_alerted_rooms(m: Month, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rooms the watcher found holding pupils with no adult signed on (a 空堂 alert) count too,
    once per group and day, with the minutes from when it was found until it was resolved."""
    by_room = {(r["day"], r["group_id"]): r for r in found}
    for doc in sorted(m.view.scan(f"unattended/{m.school_id}/{m.month}").values(),
                      key=lambda d: d["since"]):
        if doc["session"] != m.session:
            continue
        minutes = None if doc["until"] is None else round(minutes_between(doc["since"], doc["until"]), 1)
        room = by_room.get((doc["day"], doc["group_id"]))
        if room is None:
            group = m.school["groups"].get(doc["group_id"], {})
            room = {"day": doc["day"], "group_id": doc["group_id"],
                    "group_name": group.get("name", "?"), "teacher_id": group.get("teacher_id"),
                    "pupils": doc["pupils"], "minutes": None, "refs": []}
            by_room[(doc["day"], doc["group_id"])] = room
            found.append(room)
        if minutes is not None:
            room["minutes"] = round((room["minutes"] or 0) + minutes, 1)
        room["refs"] = [*room["refs"], *doc["refs"]]
    return sorted(found, key=lambda r: r["day"])


def handover_violations(m: Month) -> list[dict[str, Any]]:
    """Count mismatches each party to a handover shares, and releases later voided as wrong."""
    found = []
    for h in m.view.scan(f"mismatch/{m.school_id}/{m.month}").values():
        if h["session"] != m.session:
            continue
        for party in {h["giver"]["staff_id"], h["to"]["staff_id"]}:
            found.append({"staff_id": party, "day": h["day"], "kind": "count_mismatch",
                          "handover_id": h["handover_id"], "count_given": h["count_given"],
                          "count_received": h["count_received"], "pupils": h["pupils"],
                          "refs": [h["ref"]]})
    for by_day in m.pupil_days().values():
        for d, doc in by_day.items():
            for release, correction in day_facts(doc)["voided_releases"]:
                found.append({"staff_id": release["staff_id"], "day": d.isoformat(),
                              "kind": "release_corrected", "pupil_id": doc["pupil_id"],
                              "reason": correction.get("reason"),
                              "refs": [release["ref"], correction["ref"]]})
    return sorted(found, key=lambda v: (v["day"], v["kind"], v["refs"][0]["aggregate_id"]))


def _items(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(rows), "items": rows, "refs": unique([r for row in rows for r in row["refs"]])}


def read_staff_statements(view: DocView, school_id: str, month: str, session: str,
                          staff_id: str | None = None,
                          now: datetime | None = None) -> dict[str, Any] | None:
    """Every staff member with a shift or a charge in the month (or one member), with subsidies.

    Rooms left unattended and shifts never signed off count once the session is over (``now``).
    """
    school = view.get(f"school/{school_id}")
    if school is None or (staff_id is not None and staff_id not in school["staff"]):
        return None
    m = Month(view, school, month, session, now)
    rule, rule_ref = m.rule("subsidy")
    subsidy = SubsidyRule.parse(rule) if rule else SubsidyRule()
    tolerance = subsidy.late_tolerance_minutes
    shifts = sorted((s for s in view.scan(f"shift/{school_id}/{month}").values()
                     if s["session"] == session), key=lambda s: (s["day"], s["at"]))
    rooms = unattended_rooms(m)
    violations = handover_violations(m)
    wanted = {staff_id} if staff_id else (
        {s["staff"]["staff_id"] for s in shifts} | {v["staff_id"] for v in violations}
        | {r["teacher_id"] for r in rooms if r["teacher_id"]})
    rows = []
    for sid in wanted:
        mine = [s for s in shifts if s["staff"]["staff_id"] == sid]

        def shift_rows(pick: Any, extra: Any = None, which: str = "on_ref",
                       shifts: list[dict[str, Any]] = mine) -> list[dict[str, Any]]:
            return [{"day": s["day"], "place": s["place"], **(extra(s) if extra else {}),
                     "refs": [s[which]]} for s in shifts if pick(s)]

        figures = {
            "sessions_supervised": shift_rows(lambda s: s["place"]["kind"] != "duty"),
            "duty_sessions": shift_rows(lambda s: s["place"]["id"] == DUTY),
            "late_arrivals": shift_rows(
                lambda s: minutes_between(s["starts_at"], s["at"]) > tolerance,
                lambda s: {"signed_on_at": s["at"], "starts_at": s["starts_at"],
                           "minutes_late": round(minutes_between(s["starts_at"], s["at"]), 1)}),
            "early_leaves": shift_rows(
                lambda s: s["off_at"] is not None and not s.get("handed_to")
                and minutes_between(s["off_at"], s["ends_at"]) > 0,
                lambda s: {"signed_off_at": s["off_at"], "ends_at": s["ends_at"],
                           "minutes_early": round(minutes_between(s["off_at"], s["ends_at"]), 1)},
                "off_ref"),
            "not_signed_off": shift_rows(
                lambda s: s["off_at"] is None and m.over(date.fromisoformat(s["day"]))),
            "substitutions": shift_rows(lambda s: s["substitute_for"] is not None,
                                        lambda s: {"replaced": s["substitute_for"]}),
            "unattended_rooms": [r for r in rooms if r["teacher_id"] == sid],
            "handover_violations": [v for v in violations if v["staff_id"] == sid],
        }
        settled = subsidy.settle(len(figures["sessions_supervised"]), len(figures["duty_sessions"]), {
            "late": len(figures["late_arrivals"]), "early_leave": len(figures["early_leaves"]),
            "unattended_room": len(figures["unattended_rooms"]),
            "handover_violation": len(figures["handover_violations"])})
        member = school["staff"].get(sid, {"name": "?"})
        rows.append({
            "staff_id": sid, "name": member["name"], "roles": member.get("roles", []),
            "month": month, "session": session, **{k: _items(v) for k, v in figures.items()},
            "subsidy": {"gross": str(settled.gross), "deduction_percent": settled.percent,
                        "deducted": str(settled.deducted), "net": str(settled.net),
                        "deductions": settled.lines, "rule": subsidy.to_dict(),
                        "refs": [r for r in [rule_ref] if r]},
        })
    rows.sort(key=lambda r: (r["name"], r["staff_id"]))
    return {"school_id": school_id, "school_name": school["name"], "month": month,
            "session": session, "subsidy_rule": subsidy.to_dict(), "subsidy_rule_ref": rule_ref,
            "staff": rows, "unattended_rooms": rooms}  # rooms of groups with no teacher too


def read_shifts(view: DocView, school_id: str, day: date) -> list[Doc]:
    found = view.scan(f"shift/{school_id}/{day.isoformat()}/").values()
    return sorted(found, key=lambda s: (s["at"], s["staff"]["name"]))
