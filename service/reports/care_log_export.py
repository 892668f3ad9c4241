"""The care log's tables, shared by every format: CSV, XLSX and the printable A4 page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.reports.care_log import hhmm
from service.reports.exports import Table, html_table, printable_page, xlsx_bytes

WEEKDAYS = "一二三四五六日"
KINDS = {"absent": "缺勤/请假", "signed_in": "签到", "released": "放行", "release_refused": "拒绝放行",
         "went_home_alone": "自行回家", "left_early": "提前离校", "corrected": "更正",
         "handover_offered": "交接", "handover_confirmed": "确认接收", "handover_withdrawn": "撤回交接",
         "alert_raised": "警报", "alert_escalated": "警报升级", "alert_acknowledged": "警报确认",
         "alert_resolved": "警报解除", "note": "看护记录", "emergency": "突发事件", "follow_up": "跟进"}
OUTSTANDING = {"notify_guardian": "待通知家长", "report_to_leadership": "待报告领导小组"}


def care_log_tables(log: dict[str, Any], tz: ZoneInfo) -> dict[str, Table]:
    return {"attendance": attendance_table(log, tz), "timeline": timeline_table(log, tz),
            "handovers": handover_table(log, tz), "notes": note_table(log, tz)}


def care_log_xlsx(log: dict[str, Any], tz: ZoneInfo, tables: dict[str, Table]) -> bytes:
    return xlsx_bytes(f"{log['school_name']} 看护日志", [_title_line(log, tz)],
                      [tables["attendance"], tables["timeline"], tables["handovers"], tables["notes"]])


def _t(at: str | None, tz: ZoneInfo) -> str:
    return hhmm(at, tz)


def _names(refs: list[dict[str, Any]]) -> str:
    return "、".join(p["name"] for p in refs)


def _supervision(log: dict[str, Any], tz: ZoneInfo) -> str:
    return "；".join(f"{s['name']} {_t(s['first_at'], tz)}–{_t(s['last_at'], tz) or '至今'}"
                    f"（{s['pupils_held']} 人）" for s in log["supervisors"]) or "无"


def _headcount(log: dict[str, Any]) -> str:
    c = log["counts"]
    close = f"结束时在组 {c['at_close']}" if c["at_close"] is not None else f"当前在组 {c['in_custody_now']}"
    return (f"应到 {c['expected']}，请假 {c['absent_with_leave']}，缺勤 {c['absent_without_leave']}，"
            f"未交接 {c['not_handed_over']}，交接清点 {c['handover_given']}/{c['handover_received']}，"
            f"接收 {c['received']}，家长接走 {c['released']}，自行回家 {c['went_home_alone']}，"
            f"提前离校 {c['left_early']}，{close}")


def _title_line(log: dict[str, Any], tz: ZoneInfo) -> str:
    return (f"{log['group_name']} · {log['day']} {log['session_name']} · 带班教师："
            f"{(log['teacher'] or {}).get('name') or '未指定'} · 看护人员：{_supervision(log, tz)}")


def attendance_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[i, r["name"], r["class_label"] or "", "本组" if r["member"] == "class" else "走班来组",
             r["status_label"], r["absence_reason"] or "", _t(r["arrived_at"], tz), r["received_from"] or "",
             r["received_by"] or "", _t(r["left_at"], tz), r["left_to"] or "", r["custodian"] or "",
             r["place"] or "", _t(r["gone_at"], tz), r["collected_by"] or "", r["gate"] or "",
             r["identity_check"] or "", r["handled_by"] or "", r["remarks"]]
            for i, r in enumerate(log["attendance"], start=1)]
    return Table("签到表", ["序号", "姓名", "班级", "类别", "出勤情况", "请假/缺勤原因", "到组时间", "交来人",
                         "接收人", "离组时间", "去向", "当前看护人", "当前位置", "离校时间", "接送人",
                         "校门", "核验方式", "经办人", "备注"], rows)


def timeline_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[_t(r["at"], tz), KINDS.get(r["kind"], r["kind"]), _names(r["pupils"]),
             (r["by"] or {}).get("name") or "系统", r["summary"], "已作废" if r["voided"] else "有效"]
            for r in log["timeline"]]
    return Table("时间线", ["时间", "类型", "学生", "经办人", "内容", "状态"], rows,
                 widths=[8, 12, 24, 12, 70, 8])


def handover_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[_t(h["offered_at"], tz), h["direction_label"], h["kind_label"], h["giver"]["name"],
             h["to"]["name"], h["place"]["label"], h["count_given"],
             "" if h["count_received"] is None else h["count_received"], "是" if h["mismatch"] else "否",
             _names(h["missing"]), {"offered": "待确认", "confirmed": "已确认", "withdrawn": "已撤回"}[h["status"]],
             _t(h["confirmed_at"] or h["withdrawn_at"], tz), h["note"] or h["withdraw_reason"] or ""]
            for h in log["handovers"]]
    return Table("交接记录", ["交接时间", "方向", "类型", "交出人", "接收人", "地点", "交出人数",
                          "接收人数", "人数不符", "未收到", "状态", "确认/撤回时间", "备注"], rows)


def note_table(log: dict[str, Any], tz: ZoneInfo) -> Table:
    rows = [[_t(n["at"], tz), "突发事件" if n["kind"] == "emergency" else "看护记录",
             (n["by"] or {}).get("name") or "", _names(n["pupils"]), n["text"], n["actions_taken"],
             "是" if n["guardian_notified"] else "否", "是" if n["reported_to_leadership"] else "否",
             "；".join(f"{_t(f['at'], tz)} {(f['by'] or {}).get('name') or ''}：{f['actions_taken']}"
                      for f in n["follow_ups"]),
             "、".join(OUTSTANDING[o] for o in n["outstanding"])]
            for n in log["notes"]]
    return Table("看护记录", ["时间", "类别", "记录人", "涉及学生", "内容", "处置情况", "已通知家长",
                          "已报告领导小组", "跟进", "待办"], rows)


def care_log_page(log: dict[str, Any], tz: ZoneInfo, tables: dict[str, Table]) -> str:
    """The printed log: compact columns so the attendance sheet fits an A4 page upright."""
    att = tables["attendance"]
    pick = [0, 1, 2, 4, 6, 8, 10, 13, 14, 15, 16, 18]
    compact = Table(att.title, [att.headers[i] for i in pick], [[r[i] for i in pick] for r in att.rows])
    alerts = Table("警报", ["时间", "类型", "学生", "内容", "状态"], [
        [_t(a["raised_at"], tz), a["kind_label"], _names(a["pupils"]), a["detail"],
         {"open": "未处理", "acknowledged": "已确认", "resolved": "已解除"}[a["status"]]]
        for a in log["alerts"]])
    day = date.fromisoformat(log["day"])
    generated = datetime.fromisoformat(log["generated_at"]).strftime("%Y-%m-%d %H:%M")
    return printable_page(
        title=f"看护日志 {log['group_name']} {log['day']}", heading="课后服务看护日志",
        subheading=log["school_name"],
        facts=[("小组", f"{log['group_name']}（{log['room'] or '—'}）"),
               ("日期", f"{log['day']} 星期{WEEKDAYS[day.weekday()]}"),
               ("时段", log["session_name"] + (f"，{_t(log['closes_at'], tz)} 结束" if log["closes_at"] else "")),
               ("带班教师", (log["teacher"] or {}).get("name") or "未指定"),
               ("看护人员", _supervision(log, tz)), ("人数", _headcount(log))],
        sections=[("一、签到表", html_table(compact)), ("二、交接记录", html_table(tables["handovers"])),
                  ("三、时间线", html_table(tables["timeline"])),
                  ("四、看护记录与突发事件", html_table(tables["notes"])), ("五、警报", html_table(alerts))],
        signatures=["带班教师", "值日领导"],
        footer=f"据事件日志第 {log['position']} 条生成于 {generated}（{log['timezone']}）。"
               "记录不可修改；更正以新记录说明，原记录保留。",
    )
