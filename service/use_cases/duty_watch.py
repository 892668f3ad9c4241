"""The duty part of a round of alerts: rooms without an adult (空堂), and custody after clearing (清校)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError

from service.domain.alert import Alert
from service.domain.duty import DutyDay
from service.domain.errors import ConflictError
from service.domain.messages import message
from service.domain.pupil_day import IN_CUSTODY
from service.domain.refs import ActorRecord
from service.domain.school import School
from service.domain.shift import Shift, shift_id
from service.use_cases.core import AppCore

UNATTENDED_GRACE_MINUTES = 5  # after the session starts, a room may wait this long for its adult
# Raised, it tells the duty leaders (as most alerts do); then it escalates like an unpicked
# pupil, in steps counted from when the room was found without an adult, to the people who can
# send one there (never to the guardians: the pupils are safe
# inside the school, and the school must staff the room).
UNATTENDED_STEPS: list[dict[str, Any]] = [
    {"after_minutes": 10, "step": "duty_leader_to_room", "notify": ["duty_leader", "homeroom_teacher"]},
    {"after_minutes": 20, "step": "safety_officer", "notify": ["safety_officer"]},
]
Rows = dict[str, dict[str, Any]]


def _system(at: datetime) -> ActorRecord:
    return {"staff_id": "watcher", "staff_name": "系统巡查 / watcher", "role": "system",
            "at": at.isoformat(), "command_id": None, "device": None, "device_time": None,
            "place": None}


def _saved(app: AppCore, alert: Alert) -> bool:
    try:
        app.save(alert)
    except IntegrityError:
        return False  # another watcher recorded the same fact first
    return True


def watch_duty(app: AppCore, school: School, now: datetime, open_alerts: Iterable[dict[str, Any]],
               rows_by_session: dict[str, Rows], tally: dict[str, int]) -> None:
    """For each session of today with a duty roster: raise, escalate and close 空堂 alerts; for
    each cleared session: one alert per pupil whose chain moved after the clearing.

    空堂 is judged where the school keeps a duty roster for the session: the roster is the
    school's word that its staff sign on that day (a school that never signs on is not told every
    day that every room is unattended)."""
    today = now.astimezone(school.tz).date()
    alerts = [a for a in open_alerts if a["kind"] == "unattended"]
    for session, rows in rows_by_session.items():
        found = app._find(DutyDay.create_id(school.school_id, today.isoformat(), session),
                          readonly=True)
        if not isinstance(found, DutyDay):
            continue
        if found.roster is not None:
            mine = [a for a in alerts if a["subject"].get("day") == today.isoformat()
                    and a["subject"].get("session") == session]
            _unattended(app, school, today, session, now, rows, mine, tally)
        if found.cleared is not None:
            _after_clearing(app, school, today, session, found, rows, tally)


def _group_shifts(app: AppCore, school: School, day: date, session: str, group_id: str,
                  held: list[dict[str, Any]]) -> list[Shift]:
    """The group's shifts today: its teacher's, and those of the adults holding its pupils."""
    group = school.groups.get(group_id)
    candidates = {r["custodian"]["staff_id"] for r in held if r.get("custodian")}
    if group is not None and group.get("teacher_id"):
        candidates.add(group["teacher_id"])
    found = [app._find(shift_id(school.school_id, staff_id, day.isoformat(), session, group_id),
                       readonly=True) for staff_id in sorted(candidates)]
    return [s for s in found if isinstance(s, Shift)]


def _attended(app: AppCore, school: School, day: date, session: str, group_id: str,
              held: list[dict[str, Any]]) -> bool:
    """Someone is signed on for the group now: its teacher, or an adult holding its pupils."""
    return any(not s.signed_off for s in _group_shifts(app, school, day, session, group_id, held))


def _left_at(app: AppCore, school: School, day: date, session: str, group_id: str,
             held: list[dict[str, Any]], earlier: list[dict[str, Any]], grace_over: datetime) -> datetime:
    """When the room was left without an adult: the last sign-off of the group's shifts, or the
    end of its last 空堂 alert, whichever is later; never before the grace after the start."""
    times = [grace_over]
    times += [datetime.fromisoformat(s.signed_off_at)
              for s in _group_shifts(app, school, day, session, group_id, held)
              if s.signed_off_at is not None]
    times += [datetime.fromisoformat(a["resolved"]["by"]["at"]) for a in earlier
              if a.get("resolved") and (a["resolved"].get("by") or {}).get("at")]
    return max(times)


def _unattended(app: AppCore, school: School, today: date, session: str, now: datetime,
                rows: Rows, alerts: list[dict[str, Any]], tally: dict[str, int]) -> None:
    day = today.isoformat()
    since = school.schedule.start_at(session, today, school.tz) + timedelta(
        minutes=UNATTENDED_GRACE_MINUTES)
    held: dict[str, list[dict[str, Any]]] = {}
    for r in rows.values():
        place = r["place"] or {}
        if r["status"] == IN_CUSTODY and place.get("kind") == "group":
            held.setdefault(place["id"], []).append(r)
    by_group: dict[str, list[dict[str, Any]]] = {}
    for a in alerts:
        by_group.setdefault(a["subject"]["group_id"], []).append(a)
    for group_id, docs in by_group.items():
        for doc in docs:
            if doc["status"] == "resolved":
                continue
            pupils = held.get(group_id, [])
            how = ("no_action_needed" if not pupils else
                   "attended" if _attended(app, school, today, session, group_id, pupils) else None)
            alert = app._find(Alert.create_id(school.school_id, doc["cause"]))
            if not isinstance(alert, Alert) or not alert.is_open:
                continue
            if how is not None:
                alert.resolve(how, "状态已变化 / state changed", _system(now))
                if _saved(app, alert):
                    tally["resolved"] += 1
                continue
            since_raised = datetime.fromisoformat(doc["subject"]["since"])
            if alert.acknowledged is None and _escalate_due(alert, since_raised, now) \
                    and _saved(app, alert):
                tally["escalated"] += 1
    if now < since:
        return
    for group_id, pupils in sorted(held.items()):
        earlier = by_group.get(group_id, [])
        if any(a["status"] != "resolved" for a in earlier):
            continue
        if _attended(app, school, today, session, group_id, pupils):
            continue
        group = school.groups.get(group_id, {"name": (pupils[0]["place"] or {}).get("label")})
        start = _left_at(app, school, today, session, group_id, pupils, earlier, since)
        cause = f"unattended/{group_id}/{day}/{session}/{len(earlier) + 1}"
        alert = app.new_alert(
            school.school_id, "unattended", cause,
            {"group_id": group_id, "group": group["name"], "day": day, "session": session,
             "count": len(pupils), "since": start.isoformat(),
             "pupil_ids": sorted(r["pupil_id"] for r in pupils)},
            message("alert.unattended", group=group["name"], count=len(pupils),
                    since=f"{start.astimezone(school.tz):%H:%M}"))
        if alert is None:
            continue
        _escalate_due(alert, start, now)
        if _saved(app, alert):
            tally["raised"] += 1


def _escalate_due(alert: Alert, since: datetime, now: datetime) -> bool:
    """Every escalation step whose time has come, one event each; True if any."""
    moved = False
    for level, step in enumerate(UNATTENDED_STEPS, start=1):
        if level > alert.level and now >= since + timedelta(minutes=step["after_minutes"]):
            try:
                alert.escalate(level, step["step"], step["notify"], now.isoformat())
            except ConflictError:
                return moved
            moved = True
    return moved


def _after_clearing(app: AppCore, school: School, today: date, session: str, duty: DutyDay,
                    rows: Rows, tally: dict[str, int]) -> None:
    day = today.isoformat()
    for pid, r in sorted(rows.items()):
        if int(r["version"]) <= duty.versions.get(pid, 0):
            continue
        alert = app.new_alert(
            school.school_id, "after_clearing", f"after_clearing/{pid}/{day}/{session}",
            {"pupil_id": pid, "name": r["name"], "class_label": r["class_label"], "day": day,
             "session": session, "status": r["status"], "cleared_at": (duty.cleared or {}).get("at")},
            message("alert.after_clearing", name=r["name"], status_code=f"status.{r['status']}"))
        if alert is not None and _saved(app, alert):
            tally["raised"] += 1
