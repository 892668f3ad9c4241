"""The duty log (值班记录) of a day's session: who was on duty, patrols, incidents, alerts, the clearing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.messages import alert_detail, render
from service.projections.alerts import read_alerts
from service.projections.incidents import read_incidents
from service.projections.statements import read_shifts
from service.projections.views import Views
from service.reports.care_log import ALERT_KINDS, RESOLUTIONS
from service.reports.exports import Table
from service.use_cases.application import HandoverApp
from service.use_cases.duty import blocking_incident

Doc = dict[str, Any]
PLACE_KINDS = {"duty": "值班管理", "group": "看护", "gate": "校门"}
ALERT_STATUS = {"open": "未处理", "acknowledged": "已确认", "resolved": "已解决"}


def duty_log(app: HandoverApp, views: Views, school_id: str, day: date, session: str) -> Doc:
    """The day's duty as the views and the duty aggregate hold it (the caller waited for them)."""
    school = app.school(school_id, readonly=True)
    found = app.duty_day(school_id, day, session)
    duty = found.view() if found is not None else None
    on = day.isoformat()
    shifts = [s for s in read_shifts(views.view("statements"), school_id, day) if s["session"] == session]
    incidents = [i for i in read_incidents(views.view("incidents"), school_id, day=on)
                 if i.get("session") in (None, session)]
    alerts = [{**a, "detail": alert_detail(a)} for a in read_alerts(views.view("alerts"), school_id)
              if a["subject"].get("day") == on and a["subject"].get("session") in (None, session)]
    names = {p: app.pupil(school_id, p, readonly=True).name
             for i in incidents for p in i["pupil_ids"]}
    return {
        "school_id": school_id, "school_name": school.name, "day": on, "session": session,
        "timezone": str(school.tz),
        "roster": duty["roster"] if duty else None,
        "replaced_rosters": duty["replaced"] if duty else [],
        "shifts": shifts,
        "patrols": duty["patrols"] if duty else [],
        "incidents": [{**i, "pupil_names": [names.get(p, p) for p in i["pupil_ids"]],
                       "blocks_clearing": blocking_incident(i) is not None} for i in incidents],
        "alerts": alerts,
        "clearing_refused": duty["clearing_refused"] if duty else [],
        "cleared": duty["cleared"] if duty else None,
    }


BLOCKERS_PER_ROW = 8


def _t(at: str | None, tz: ZoneInfo) -> str:
    return "" if not at else f"{datetime.fromisoformat(at).astimezone(tz):%H:%M}"


def _blocker(b: Doc) -> str:
    if b["kind"] == "pupil":
        return f"学生 {b['name']}（{b['detail']}）"
    if b["kind"] == "alert":
        return f"警报 {ALERT_KINDS.get(b['name'], b['name'])}（{b['detail']}）"
    return f"事件 {b['detail']}"


def duty_tables(log: Doc) -> list[Table]:
    tz = ZoneInfo(log["timezone"])
    roster = log["roster"]
    rostered: list[list[Any]] = []
    if roster:
        rostered += [["值班领导", p["name"], ""] for p in roster["leaders"]]
        rostered += [["门卫", p["name"], p.get("gate") or ""] for p in roster["guards"]]
    shifts = [[PLACE_KINDS.get(s["place"]["kind"], s["place"]["kind"]), s["place"]["label"],
               s["staff"]["name"], (s["substitute_for"] or {}).get("name", ""),
               _t(s["at"], tz), _t(s["off_at"], tz)] for s in log["shifts"]]
    patrols = [[_t(p["at"], tz), p["place"], p["seen"], p["notes"], p["by"]["staff_name"]]
               for p in log["patrols"]]
    incidents = [[_t(i["reported_at"], tz), render(f"incident.{i['kind']}", {}),
                  "、".join(i["pupil_names"]), i["where"], i["description"],
                  "已结案：" + (i["outcome"] or "") if i["status"] == "closed" else "未结案"]
                 for i in log["incidents"]]
    alerts = [[_t(a["raised_at"], tz), f"{ALERT_KINDS.get(a['kind'], a['kind'])}：{a['detail']}",
               ALERT_STATUS.get(a["status"], a["status"]),
               RESOLUTIONS.get((a["resolved"] or {}).get("how", ""), (a["resolved"] or {}).get("how", ""))]
              for a in log["alerts"]]
    cleared = log["cleared"]
    clearing: list[list[Any]] = []
    for r in log["clearing_refused"]:  # a few blockers a row: a whole class held still prints
        named = [_blocker(b) for b in r["blockers"]]
        parts = ["；".join(named[i:i + BLOCKERS_PER_ROW]) for i in range(0, len(named), BLOCKERS_PER_ROW)]
        clearing.append([_t(r["at"], tz), r["by"]["staff_name"], "未能清校：" + (parts[0] if parts else "")])
        clearing += [["", "", part] for part in parts[1:]]
    if cleared:
        note = f"：{cleared['note']}" if cleared["note"] else ""
        clearing.append([_t(cleared["at"], tz), cleared["by"]["staff_name"],
                         f"已清校（名单 {cleared['pupils']} 人）{note}"])
    return [
        Table("值班安排", ["职责", "姓名", "校门"], rostered),
        Table("签到", ["岗位", "地点", "姓名", "替班（代替）", "签到", "签退"], shifts),
        Table("巡查记录", ["时间", "地点", "所见情况", "备注", "巡查人"], patrols),
        Table("事件及处理结果", ["时间", "类别", "学生", "地点", "经过", "结果"], incidents),
        Table("警报", ["时间", "内容", "状态", "处理"], alerts),
        Table("清校", ["时间", "值班领导", "结果"], clearing),
    ]


def duty_lines(log: Doc) -> list[str]:
    cleared = log["cleared"]
    return [f"日期 Day: {log['day']} · 服务时段 Session: {log['session']}",
            "清校 Cleared: " + (f"{_t(cleared['at'], ZoneInfo(log['timezone']))} "
                              f"{cleared['by']['staff_name']}" if cleared else "尚未清校 not yet")]
