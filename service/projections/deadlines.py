"""Deadlines: when each pupil and each open alert is next due, per school and day, from the events.

The watcher's own index, held in its process. The first round of a school's day reads the
roster and the alerts once, as the full scan does every round; from then on the index takes in
only the log's new notifications (by their topic and aggregate id, nothing decoded), re-reads
the rows and alerts they touched by key, and hands the round what changed plus what the clock
has reached: each pupil's next time (dismissal and grace, the hand-over time, an offer left
unconfirmed) and each alert's next escalation step, kept in a heap ordered by time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from eventsourcing.persistence import ApplicationRecorder

from service.domain.alert import Alert
from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.live import LiveViews
from service.projections.roster import expected_on, read_rows, roster_order
from service.projections.touched import touched_since
from service.use_cases.ports import Due, WakeKey

_DAYS, _PUPILS, _ALERTS, _SCHOOLS = (c.__module__ for c in (PupilDay, Pupil, Alert, School))


@dataclass
class _Wakes:
    """Keys by the time they are next due; a key set again replaces its earlier time."""

    heap: list[tuple[datetime, WakeKey]] = field(default_factory=list)
    at: dict[WakeKey, datetime] = field(default_factory=dict)

    def set(self, key: WakeKey, at: datetime | None) -> None:
        if at is None:
            self.at.pop(key, None)
        elif self.at.get(key) != at:
            self.at[key] = at
            heapq.heappush(self.heap, (at, key))

    def pop_due(self, now: datetime) -> list[WakeKey]:
        out = []
        while self.heap and self.heap[0][0] <= now:
            at, key = heapq.heappop(self.heap)
            if self.at.get(key) == at:
                del self.at[key]
                out.append(key)
        return out


@dataclass
class _SchoolDay:
    day: date
    sessions: list[str]
    rows: dict[str, dict[str, Doc]]
    alerts: dict[str, Doc]
    seen: datetime
    wakes: _Wakes = field(default_factory=_Wakes)
    stale: bool = False  # the school's set-up changed: read it all again
    days: set[tuple[str, str]] = field(default_factory=set)  # (session, pupil) whose chain changed
    pupils: set[str] = field(default_factory=set)  # whose record changed
    alerts_changed: set[str] = field(default_factory=set)


class DeadlineIndex(LiveViews):
    """The roster and alerts views as the watcher's deadline index (``ports.DeadlineIndex``);
    still the ``LiveState`` of the full scan, over the same views."""

    def __init__(self, recorder: ApplicationRecorder, app_name: str, roster: DocView, alerts: DocView,
                 *, batch_size: int = 1000) -> None:
        super().__init__(roster, alerts)
        self.recorder, self.app_name, self.batch_size = recorder, app_name, batch_size
        self.position: int | None = None  # the log position the index has taken in
        self._schools: dict[str, _SchoolDay] = {}
        self._school_ids: list[str] | None = None

    def forget(self) -> None:
        """Drop everything held: the next round reads every school afresh (after a round that
        failed partway, whose changes taken off the index may not all have been looked at)."""
        self._schools.clear()
        self._school_ids = None

    # -- taking in the events -------------------------------------------------------------
    def refresh(self) -> None:
        upto = min(self.roster.max_tracking_id(self.app_name) or 0,
                   self.alerts_view.max_tracking_id(self.app_name) or 0)
        if self.position is None or not self._schools:
            self.position, self._school_ids = upto, None
            return
        self.position, found = touched_since(self.recorder, self.position, upto,
                                             {_DAYS, _PUPILS, _ALERTS, _SCHOOLS}, self.batch_size)
        days, pupils, alerts = found[_DAYS], found[_PUPILS], found[_ALERTS]
        if found[_SCHOOLS]:
            self._school_ids = None
        for school_id in found[_SCHOOLS]:
            if (s := self._schools.get(school_id)) is not None:
                s.stale = True
        self._take_in(days, pupils, alerts)

    def _take_in(self, days: set[str], pupils: set[str], alerts: set[str]) -> None:
        keys = [*(f"day-index/{d}" for d in days), *(f"pupil-index/{p}" for p in pupils)]
        for index in (self.roster.get_many(keys).values() if keys else ()):
            parts = index["key"].split("/")
            if parts[0] == "day":  # day/<school>/<day>/<session>/<pupil>
                s = self._schools.get(parts[1])
                if s is not None and parts[2] == s.day.isoformat():
                    s.days.add((parts[3], parts[4]))
            elif (s := self._schools.get(parts[1])) is not None:  # pupil/<school>/<pupil>
                s.pupils.add(parts[2])
        found = self.alerts_view.get_many([f"alert-index/{a}" for a in alerts]) if alerts else {}
        for index in found.values():
            _, school_id, alert_id = index["key"].split("/")
            if (s := self._schools.get(school_id)) is not None:
                s.alerts_changed.add(alert_id)

    # -- what a round looks at --------------------------------------------------------------
    def school_ids(self) -> list[str]:
        if self._school_ids is None:
            self._school_ids = super().school_ids()
        return list(self._school_ids)

    def due(self, school_id: str, day: date, sessions: list[str], now: datetime) -> Due:
        s = self._schools.get(school_id)
        if s is None or s.stale or s.day != day or s.sessions != sessions or now < s.seen:
            rows = {session: {r["pupil_id"]: r for r in self.session_roster(school_id, day, session)}
                    for session in sessions}
            alerts = {d["alert_id"]: d for d in self.alerts(school_id) if d["status"] != "resolved"}
            self._schools[school_id] = _SchoolDay(day, list(sessions), rows, alerts, now)
            return Due(True, rows, alerts)
        s.seen = now
        changed = {(session, pid) for session in sessions for pid in s.pupils} | s.days
        due = Due(False, s.rows, s.alerts, pupils_changed=s.pupils)
        for session in sessions:
            pids = {pid for ses, pid in changed if ses == session}
            if not pids:
                continue
            held, reread = s.rows[session], read_rows(self.roster, school_id, day, session, pids)
            classes: set[str] = due.classes_due.setdefault(session, set())
            for pid in pids:
                old, new = held.pop(pid, None), reread.get(pid)
                classes.update(str(r["class_id"]) for r in (old, new) if r is not None)
                if new is None:
                    s.wakes.set(("row", session, pid), None)
                else:
                    held[pid] = new
        if s.alerts_changed:
            docs = self.alerts_view.get_many([f"alert/{school_id}/{a}" for a in s.alerts_changed])
            for alert_id in s.alerts_changed:
                doc = docs.get(f"alert/{school_id}/{alert_id}")
                if doc is None or doc["status"] == "resolved":
                    s.alerts.pop(alert_id, None)
                    s.wakes.set(("alert", alert_id), None)
                else:
                    s.alerts[alert_id] = doc
        timed = s.wakes.pop_due(now)
        rows_due = changed | {(k[1], k[2]) for k in timed if k[0] == "row"}
        due.sessions_due = {k[1] for k in timed if k[0] == "late"}
        due.alerts_due = {k[1] for k in timed if k[0] == "alert"} | s.alerts_changed
        if changed:
            due.alerts_due |= {aid for aid, doc in s.alerts.items()
                               if (doc["subject"].get("session"), doc["subject"].get("pupil_id")) in changed}
        for session in sessions:
            current = s.rows[session]
            listed = [current[pid] for ses, pid in rows_due if ses == session and pid in current]
            if listed:
                due.rows_due[session] = [str(r["pupil_id"]) for r in sorted(listed, key=roster_order)]
        s.days, s.pupils, s.alerts_changed = set(), set(), set()
        return due

    def wake(self, school_id: str, key: WakeKey, at: datetime | None) -> None:
        s = self._schools.get(school_id)
        if s is not None:
            s.wakes.set(key, at)

    def expected(self, school_id: str, day: date,
                 pupil_ids: Iterable[str] | None = None) -> list[tuple[Doc, str]]:
        if pupil_ids is None:
            return super().expected(school_id, day)
        docs = self.roster.get_many([f"pupil/{school_id}/{pid}" for pid in pupil_ids])
        return [(doc, session) for doc in docs.values() for session in doc["enrolment"].get("sessions", ())
                if expected_on(doc["enrolment"], day, session)]

    def waiting(self, school_id: str) -> int:
        """How many pupils and alerts the index holds a time for (for /health and the bench)."""
        s = self._schools.get(school_id)
        return 0 if s is None else len(s.wakes.at)

