"""Alert use cases: the clock-driven watcher, and staff acknowledging and resolving alerts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError

from service.domain.alert import Alert
from service.domain.common import Actor
from service.domain.errors import ConflictError
from service.domain.messages import message
from service.domain.pupil_day import GONE, NOT_HANDED_OVER, PASSED_ON, STILL_HELD
from service.domain.refs import ActorRecord, AuthorisationRecord, RestrictionRecord
from service.domain.schedule import NO_SUCH_SESSION, Schedule
from service.domain.school import School
from service.use_cases.core import AppCore, Decision, Outcome
from service.use_cases.duty_watch import watch_duty
from service.use_cases.ports import DeadlineIndex, Doc, Due, LiveState

WATCHER = "watcher"


def _system(at: datetime) -> ActorRecord:
    return {"staff_id": WATCHER, "staff_name": "系统巡查 / watcher", "role": "system",
            "at": at.isoformat(), "command_id": None, "device": None, "device_time": None,
            "place": None}


class AlertUseCases(AppCore):
    def alert(self, school_id: str, alert_id: str) -> Alert:
        from service.use_cases.core import as_uuid
        return self._get(as_uuid(alert_id, "alert"), Alert, "alert", school_id)

    def acknowledge_alert(self, actor: Actor, alert_id: str, note: str) -> Outcome:
        def decide() -> Decision:
            alert = self.alert(actor.school_id, alert_id)
            alert.acknowledge(note, actor.record())
            return Decision([alert], alert.view())
        return self.execute(actor, decide)

    def resolve_alert(self, actor: Actor, alert_id: str, how: str, note: str) -> Outcome:
        def decide() -> Decision:
            alert = self.alert(actor.school_id, alert_id)
            alert.resolve(how, note, actor.record())
            return Decision([alert], alert.view())
        return self.execute(actor, decide)

    # -- the watcher ----------------------------------------------------------
    def watch(self, live: LiveState) -> dict[str, int]:
        """Raise, escalate and close alerts as of the clock's now. Safe to run anywhere, any
        number of times, by any number of watchers: each cause has one alert, each step one event."""
        now = self.now()
        tally = {"raised": 0, "escalated": 0, "resolved": 0}
        for school_id in live.school_ids():
            school = self.school(school_id, readonly=True)
            self._watch_school(school, now, live, tally)
        return tally

    def watch_due(self, index: DeadlineIndex) -> dict[str, int]:
        """The same round as ``watch``, touching only what the deadline index says is due at the
        clock's now or changed since the last round: the same alerts, raised, escalated and
        closed at the same rounds, without reading the whole roster."""
        now = self.now()
        tally = {"raised": 0, "escalated": 0, "resolved": 0}
        index.refresh()
        for school_id in index.school_ids():
            school = self.school(school_id, readonly=True)
            today = now.astimezone(school.tz).date()
            sessions = [spec.key for spec in school.schedule.sessions_on(today)]
            due = index.due(school_id, today, sessions, now)
            self._watch_due(school, today, now, due, index, tally)
        return tally

    def _watch_due(self, school: School, today: date, now: datetime, due: Due, index: DeadlineIndex,
                   tally: dict[str, int]) -> None:
        sid, policy, schedule = school.school_id, school.alert_policy, school.schedule
        for session, rows in due.rows.items():
            late = self._late(school, schedule, session, today, policy)
            if due.fresh:
                todo = list(rows.values())
            else:
                todo = [rows[pid] for pid in due.rows_due.get(session, ()) if pid in rows]
            new: list[Alert | None] = []
            for row in todo:
                raised, wake = self._raise_for_pupil(school, schedule, session, today, now, row, late, policy)
                new += raised
                index.wake(sid, ("row", session, row["pupil_id"]), wake)
            if due.fresh or session in due.sessions_due:
                groups: Iterable[str] = school.groups
            else:
                classes = due.classes_due.get(session, set())
                groups = [gid for gid, g in school.groups.items() if classes & set(g["class_ids"])]
            new += self._zero_reports(school, session, today, now, late, rows, groups)
            index.wake(sid, ("late", session), late if now < late else None)
            self._save_new(new, tally)
        if due.fresh:
            self._raise_outside_schedule(school, today, lambda: index.expected(sid, today, None), tally)
            self._raise_expiring(school, today, policy, school.roll, tally)
        elif due.pupils_changed:
            self._raise_outside_schedule(
                school, today, lambda: index.expected(sid, today, sorted(due.pupils_changed)), tally)
            self._raise_expiring(school, today, policy, [p for p in school.roll if p in due.pupils_changed],
                                 tally)
        docs = due.alerts.values() if due.fresh else [due.alerts[a] for a in sorted(due.alerts_due)
                                                       if a in due.alerts]
        for doc in docs:
            wake = self._follow_up(school, doc, now, due.rows, policy, tally)
            index.wake(sid, ("alert", doc["alert_id"]), wake)
        # Duty (空堂, after the clearing) looks at every room and pupil held, as the full scan does.
        watch_duty(self, school, now, due.alerts.values(), due.rows, tally)

    def _save_quietly(self, *aggregates: Any) -> bool:
        try:
            self.save(*aggregates)
        except IntegrityError:
            return False  # another watcher recorded the same fact first
        return True

    def _watch_school(self, school: School, now: datetime, live: LiveState,
                      tally: dict[str, int]) -> None:
        tz, policy, schedule = school.tz, school.alert_policy, school.schedule
        today = now.astimezone(tz).date()
        rows_by_session: dict[str, dict[str, dict[str, Any]]] = {}
        for spec in schedule.sessions_on(today):
            rows = {r["pupil_id"]: r for r in live.session_roster(school.school_id, today, spec.key)}
            rows_by_session[spec.key] = rows
            self._raise_for_session(school, schedule, spec.key, today, now, rows, policy, tally)
        self._raise_outside_schedule(school, today, lambda: live.expected(school.school_id, today), tally)
        self._raise_expiring(school, today, policy, school.roll, tally)
        for doc in live.alerts(school.school_id):
            if doc["status"] != "resolved":
                self._follow_up(school, doc, now, rows_by_session, policy, tally)
        watch_duty(self, school, now, live.alerts(school.school_id), rows_by_session, tally)

    def _raise_for_session(self, school: School, schedule: Schedule, session: str, today: date,
                           now: datetime, rows: dict[str, dict[str, Any]], policy: dict[str, Any],
                           tally: dict[str, int]) -> None:
        late = self._late(school, schedule, session, today, policy)
        new: list[Alert | None] = []
        for row in rows.values():
            new += self._raise_for_pupil(school, schedule, session, today, now, row, late, policy)[0]
        new += self._zero_reports(school, session, today, now, late, rows, school.groups)
        self._save_new(new, tally)

    @staticmethod
    def _late(school: School, schedule: Schedule, session: str, today: date,
              policy: dict[str, Any]) -> datetime:
        """When a pupil nobody handed over is missed."""
        start = schedule.start_at(session, today, school.tz)
        return start + timedelta(minutes=policy["not_handed_over_after_minutes"])

    def _save_new(self, new: list[Alert | None], tally: dict[str, int]) -> None:
        for alert in new:
            if alert is not None and self._save_quietly(alert):
                tally["raised"] += 1

    def _raise_for_pupil(self, school: School, schedule: Schedule, session: str, today: date,
                         now: datetime, row: dict[str, Any], late: datetime,
                         policy: dict[str, Any]) -> tuple[list[Alert | None], datetime | None]:
        """The alerts one pupil's row raises now, and when it could next raise one unchanged."""
        sid, day, pid = school.school_id, today.isoformat(), row["pupil_id"]
        subject = {"pupil_id": pid, "name": row["name"], "class_label": row["class_label"],
                   "day": day, "session": session}
        gap = schedule.deadline_gap(session, row["grade"])
        held = row["status"] in STILL_HELD
        new: list[Alert | None] = []
        later: list[datetime] = []
        if gap is None:
            deadline = schedule.deadline_at(session, row["grade"], today, school.tz)
        else:
            # Never silence: say at once that no deadline exists, and still raise unpicked
            # once the session's last band is due out.
            deadline = schedule.latest_deadline_at(session, today, school.tz)
            if held:
                new.append(self.new_alert(
                    sid, "no_deadline", f"no_deadline/{pid}/{day}/{session}",
                    {**subject, "reason": gap, "grade": row["grade"], "band": row["band"],
                     "fallback_deadline": None if deadline is None else deadline.isoformat()},
                    message("alert.no_deadline", name=row["name"], gap_code=f"gap.{gap}")))
        if deadline and held:
            if now < deadline:
                later.append(deadline)
            else:
                alert = self.new_alert(sid, "unpicked", f"unpicked/{pid}/{day}/{session}",
                                       {**subject, "deadline": deadline.isoformat(),
                                        "fallback": gap is not None},
                                       message("alert.unpicked", name=row["name"],
                                               deadline=f"{deadline.astimezone(school.tz):%H:%M}"))
                if alert is not None:
                    _escalate_due(alert, deadline, now, policy)
                new.append(alert)
        if row["status"] == NOT_HANDED_OVER and row["pending"] is None:
            if now < late:
                later.append(late)
            else:
                new.append(self.new_alert(sid, "not_handed_over", f"not_handed_over/{pid}/{day}/{session}",
                                          subject, message("alert.not_handed_over", name=row["name"],
                                                           late=f"{late.astimezone(school.tz):%H:%M}")))
        pending = row["pending"]
        if pending is not None:
            offered_at = self._offered_at(row)
            if offered_at:
                due = offered_at + timedelta(minutes=policy["unconfirmed_after_minutes"])
                if now < due:
                    later.append(due)
                else:
                    new.append(self.new_alert(sid, "unconfirmed", f"unconfirmed/{pending['handover_id']}",
                                              {**subject, "handover_id": pending["handover_id"],
                                               "to": pending["to"]},
                                              message("alert.unconfirmed", to=pending["to"]["name"])))
        return new, min(later, default=None)

    def _zero_reports(self, school: School, session: str, today: date, now: datetime, late: datetime,
                      rows: dict[str, dict[str, Any]], group_ids: Iterable[str]) -> list[Alert | None]:
        """A homework group none of whose pupils was handed over, once the hand-over time is past."""
        if now < late:
            return []
        sid, day = school.school_id, today.isoformat()
        new: list[Alert | None] = []
        for gid in group_ids:
            group = school.groups[gid]
            if group["kind"] != "homework" or today.isoweekday() not in group["weekdays"]:
                continue
            members = [r for r in rows.values() if r["class_id"] in group["class_ids"]]
            if members and all(r["status"] == NOT_HANDED_OVER and r["pending"] is None for r in members):
                new.append(self.new_alert(sid, "zero_report", f"zero_report/{gid}/{day}/{session}",
                                          {"group_id": gid, "group": group["name"], "day": day,
                                           "session": session, "expected": len(members)},
                                          message("alert.zero_report", group=group["name"])))
        return new

    def _raise_outside_schedule(self, school: School, today: date,
                                expected: Callable[[], list[tuple[Doc, str]]],
                                tally: dict[str, int]) -> None:
        """A pupil enrolled for a session the schedule no longer has is on no roster: say so."""
        schedule = school.schedule
        if not schedule.sessions_on(today):
            return  # not a school day for after-school care at all
        known = {s.key for s in schedule.sessions}
        day = today.isoformat()
        for doc, session in expected():
            if session not in known:
                pid = doc["pupil_id"]
                klass: Mapping[str, Any] = school.classes.get(doc["class_id"], {})
                alert = self.new_alert(
                    school.school_id, "no_deadline", f"no_deadline/{pid}/{day}/{session}",
                    {"pupil_id": pid, "name": doc["name"], "class_label": klass.get("label"),
                     "day": day, "session": session, "reason": NO_SUCH_SESSION,
                     "grade": klass.get("grade"), "band": None, "fallback_deadline": None},
                    message("alert.no_deadline_session", name=doc["name"],
                            gap_code=f"gap.{NO_SUCH_SESSION}", session=session))
                if alert is not None and self._save_quietly(alert):
                    tally["raised"] += 1

    @staticmethod
    def _offered_at(row: dict[str, Any]) -> datetime | None:
        return None if row.get("offered_at") is None else datetime.fromisoformat(row["offered_at"])

    def _raise_expiring(self, school: School, today: date, policy: dict[str, Any],
                        pupil_ids: Iterable[str], tally: dict[str, int]) -> None:
        horizon = (today + timedelta(days=policy["expiry_warning_days"])).isoformat()
        for pid in pupil_ids:
            pupil = self.pupil(school.school_id, pid, readonly=True)
            entries: list[tuple[str, str, AuthorisationRecord | RestrictionRecord]]
            entries = [("authorisation", a["authorisation_id"], a) for a in pupil.authorisations.values()
                       if not a["revoked"] and not a["one_day"]]
            entries += [("restriction", r["restriction_id"], r) for r in pupil.restrictions.values()
                        if not r["lifted"]]
            for kind, ref, entry in entries:
                ends = entry.get("valid_to")
                if ends and today.isoformat() <= ends <= horizon:
                    alert = self.new_alert(
                        school.school_id, "document_expiring", f"expiring/{ref}/{ends}",
                        {"pupil_id": pid, "name": pupil.name, "entry": kind, "entry_id": ref,
                         "adult": entry["name"], "valid_to": ends, "document": entry.get("document")},
                        message(f"alert.{kind}_expiring", name=pupil.name, adult=entry["name"],
                                ends=ends))
                    if alert is not None and self._save_quietly(alert):
                        tally["raised"] += 1

    def _follow_up(self, school: School, doc: dict[str, Any], now: datetime,
                   rows_by_session: dict[str, dict[str, dict[str, Any]]], policy: dict[str, Any],
                   tally: dict[str, int]) -> datetime | None:
        """Resolve or escalate one open alert; when it could next escalate unchanged."""
        subject = doc["subject"]
        row = rows_by_session.get(subject.get("session", ""), {}).get(subject.get("pupil_id", ""))
        today = now.astimezone(school.tz).date().isoformat()
        how = None
        if doc["kind"] in ("unpicked", "no_deadline") and row is not None and row["status"] == GONE:
            how = row["gone"]["how"]
        elif doc["kind"] == "unpicked" and row is not None and row["status"] == PASSED_ON:
            how = "passed_on"  # the later session holds the pupil now, with a deadline of its own
        elif doc["kind"] == "no_deadline" and row is not None and row["status"] not in STILL_HELD:
            how = "no_action_needed"  # absent: the school no longer answers for the pupil today
        elif doc["kind"] == "not_handed_over" and row is not None and (
                row["status"] != NOT_HANDED_OVER or row["pending"] is not None):
            how = "found"
        elif doc["kind"] == "unconfirmed" and row is not None and (
                row["pending"] is None or row["pending"]["handover_id"] != subject["handover_id"]):
            how = "no_action_needed"
        if how is not None and subject.get("day") == today:
            alert = self.alert(school.school_id, doc["alert_id"])
            if alert.is_open:
                alert.resolve(how, "状态已变化 / state changed", _system(now))
                if self._save_quietly(alert):
                    tally["resolved"] += 1
            return None
        if doc["kind"] != "unpicked" or doc["acknowledged"] is not None:
            return None
        deadline = datetime.fromisoformat(subject["deadline"])
        later: list[datetime] = []
        for level, step in enumerate(policy["unpicked_steps"], start=1):
            if level <= doc["level"]:
                continue
            at = deadline + timedelta(minutes=step["after_minutes"])
            if now < at:
                later.append(at)
                continue
            alert = self.alert(school.school_id, doc["alert_id"])
            if alert.level >= level or not alert.is_open or alert.acknowledged is not None:
                return None  # the alert moved on since the view saw it: its event brings it back
            try:
                _escalate_due(alert, deadline, now, policy)
            except ConflictError:
                return None
            if self._save_quietly(alert):
                tally["escalated"] += 1
            return None
        return min(later, default=None)


def _escalate_due(alert: Alert, deadline: datetime, now: datetime, policy: dict[str, Any]) -> None:
    """Record every escalation step whose time has come, in order, as one event each."""
    for level, step in enumerate(policy["unpicked_steps"], start=1):
        if level > alert.level and now >= deadline + timedelta(minutes=step["after_minutes"]):
            alert.escalate(level, step["step"], step["notify"], now.isoformat())
