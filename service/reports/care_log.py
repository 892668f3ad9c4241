"""The care log (看护日志) in words: one group's session, as staff read it and the exports print it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.errors import NotFoundError
from service.domain.messages import alert_detail
from service.domain.pupil_day import ABSENT, GONE, IN_CUSTODY, NOT_HANDED_OVER, PASSED_ON
from service.projections.care_log import at_group, closes_at, load, state_at, walk
from service.projections.docstore import DocView


def read_care_log(view: DocView, school_id: str, group_id: str, day: date, session: str,
                  now: datetime) -> dict[str, Any]:
    """The group's care log for the session, as of ``now`` (the count at close once closed)."""
    raw = load(view, school_id, group_id, day, session)
    if raw is None:
        raise NotFoundError("group", group_id)
    return assemble(raw, group_id, day, session, now)


# -- the log in words: labels, rows and the timeline ------------------------------

CHECKS = {"known_to_staff": "熟识", "id_card": "身份证", "pickup_code": "接送码",
          "call_to_guardian": "电话核实家长"}
REFUSALS = {"restricted": "禁止接送名单", "not_authorised": "不在授权名单", "id_mismatch": "身份证尾号不符",
            "no_statement": "无自行回家说明", "refused_by_staff": "经办人拒绝"}
GONE_HOW = {"released": "家长接走", "went_home_alone": "自行回家", "left_early": "提前离校"}
ENTRY_LABELS = {"absent": "缺勤", "signed_in": "签到", "offered": "交接", "offer_withdrawn": "撤回交接",
                "custody_taken": "接收", "released": "放行", "release_refused": "拒绝放行",
                "went_home_alone": "自行回家", "left_early": "提前离校", "corrected": "更正",
                "passed_on": "转入后续时段"}
HANDOVER_KINDS = {"class_handover": "班级交接", "transfer": "走班转移", "to_gate": "送至校门",
                  "to_gatehouse": "交门卫室", "to_session": "转入后续时段"}
DIRECTIONS = {"into": "转入", "out": "转出", "within": "组内换人", "related": "相关"}
ALERT_KINDS = {"unpicked": "超时未接", "count_mismatch": "人数不符", "not_handed_over": "未交接",
               "zero_report": "零报告", "release_refused": "拒绝放行", "unconfirmed": "交接未确认",
               "no_deadline": "无放学时限", "unattended": "空堂", "after_clearing": "清校后记录",
               "document_expiring": "证件将到期", "missing_pupil": "学生走失",
               "incident_guardian": "事件待通知家长"}
RESOLUTIONS = {"released": "已放行", "handed_to_guardian": "已交家长", "went_home_alone": "自行回家",
               "left_early": "提前离校", "found": "已找到", "no_action_needed": "无需处理", "other": "其他",
               "passed_on": "已转入后续时段", "attended": "已有教师签到"}
NOTIFY = {"guardian": "家长", "custodian": "看护人", "homeroom_teacher": "班主任", "duty_leader": "值日领导",
          "safety_officer": "安全员", "admin": "教导处"}
STEPS = {"guardian_contacted": "联系家长", "handed_to_gatehouse": "交门卫室", "safety_officer": "报安全员"}
RANK = {"alert_raised": 2, "alert_escalated": 2, "alert_acknowledged": 2, "alert_resolved": 2,
        "note": 3, "emergency": 3, "follow_up": 3}  # at the same moment: the fact, then its alert
HANDOVER_ONLY = ("offered", "custody_taken", "offer_withdrawn")  # told once per handover, not per pupil


def hhmm(at: str | None, tz: ZoneInfo) -> str:
    return "" if not at else datetime.fromisoformat(at).astimezone(tz).strftime("%H:%M")


def _local(at: str | None, tz: ZoneInfo) -> str | None:
    return None if not at else datetime.fromisoformat(at).astimezone(tz).isoformat()


def _staff(by: dict[str, Any] | None) -> dict[str, Any] | None:
    if not by:
        return None
    return {"staff_id": by.get("staff_id"), "name": by.get("staff_name") or by.get("name"),
            "role": by.get("role")}


def _summary(e: dict[str, Any], entries: list[dict[str, Any]], tz: ZoneInfo) -> str:
    """One recorded fact in words, without the pupil's name (rows list the pupils)."""
    t: str = e["type"]
    by = e["by"].get("staff_name", "")
    adult = e.get("adult") or {}
    who = adult.get("name", "") + (f"（{adult['relation']}）" if adult.get("relation") else "")
    gate = f"，{e['gate']['label']}" if e.get("gate") else ""
    if t == "absent":
        return ("请假" if e["with_leave"] else "缺勤（未请假）") + (f"：{e['reason']}" if e["reason"] else "")
    if t == "signed_in":
        return f"{e['custodian']['name']} 签到接收（{e['place']['label']}）"
    if t == "released":
        check = CHECKS.get(e["identity_check"], e["identity_check"])
        return f"放行：由 {who} 接走{gate}，核验：{check}，经办：{by}"
    if t == "release_refused":
        note = f"，{e['note']}" if e.get("note") and e["reason"] == "refused_by_staff" else ""
        return f"拒绝放行：{who}，原因：{REFUSALS.get(e['reason'], e['reason'])}{note}{gate}，经办：{by}"
    if t == "went_home_alone":
        return f"自行回家（家长说明在案）{gate}，经办：{by}"
    if t == "left_early":
        return f"提前离校：由 {who} 接走，批准：{e['approved_by']['name']}，原因：{e['reason']}"
    if t == "corrected":
        target = next((x for x in entries if x["seq"] == e["corrects"]), None)
        what = ENTRY_LABELS.get(e["corrected_type"], e["corrected_type"])
        when = f" {hhmm(target['by']['at'], tz)}" if target else ""
        return f"更正：作废第 {e['corrects']} 条记录（{what}{when}），原因：{e['reason']}，经办：{by}"
    return ENTRY_LABELS.get(t, t)


def _left_to(e: dict[str, Any] | None) -> str | None:
    if e is None:
        return None
    if e["type"] == "custody_taken":
        return f"{e['place']['label']}（{e['custodian']['name']}）"
    kind: str = e["type"]
    return GONE_HOW.get(kind, ENTRY_LABELS.get(kind, kind))


def _status_label(state: dict[str, Any]) -> str:
    status = state["status"]
    if status == ABSENT:
        return "请假" if state["with_leave"] else "缺勤"
    if status == GONE:
        return GONE_HOW[state["gone"]["how"]]
    if status == IN_CUSTODY:
        return "在校看护"
    if status == PASSED_ON:
        return f"转入{state['passed_on']['session']}"
    return "未交接（待确认）" if state["pending"] else "未交接"


def _row(pupil: dict[str, Any], label: str | None, member: bool, w: dict[str, Any],
         close: datetime | None, group_id: str, tz: ZoneInfo) -> dict[str, Any]:
    """One line of the attendance sheet (签到表)."""
    state, spans = w["state"], w["spans"]
    first, last = (spans[0], spans[-1]) if spans else (None, None)
    gone = next((e for e in reversed(w["standing"]) if e["type"] in GONE_HOW), None)
    adult = (gone or {}).get("adult") or {}
    refusals = sum(1 for e in w["entries"] if e["type"] == "release_refused")
    transfers = sum(1 for s in spans if s["ended_by"] and s["ended_by"]["type"] == "custody_taken"
                    and s["ended_by"]["place"]["kind"] == "group")
    corrections = sum(1 for e in w["facts"] if e["type"] == "corrected")
    remarks = [text for n, text in ((transfers, f"走班 {transfers} 次"), (refusals, f"拒绝放行 {refusals} 次"),
                                    (corrections, f"更正 {corrections} 条")) if n]
    at_close = None if close is None else state_at(w["standing"], close)
    return {
        "pupil_id": pupil["pupil_id"], "name": pupil["name"], "class_label": label,
        "member": "class" if member else "visitor", "status": state["status"],
        "status_label": _status_label(state), "with_leave": state["with_leave"],
        "absence_reason": state["absence_reason"],
        "arrived_at": _local(first["from"], tz) if first else None,
        "received_by": first["custodian"]["name"] if first else None,
        "received_from": ((first["giver"] or {}).get("name") or "签到") if first else None,
        "left_at": _local(last["to"], tz) if last else None,
        "left_to": _left_to(last["ended_by"]) if last else None,
        "custodian": state["custodian"]["name"] if state["status"] == IN_CUSTODY else None,
        "place": state["place"]["label"] if state["status"] == IN_CUSTODY else None,
        "gone_how": state["gone"]["how"] if state["status"] == GONE else None,
        "gone_at": _local(gone["by"]["at"], tz) if gone else None,
        "collected_by": (adult.get("name", "") + (f"（{adult['relation']}）" if adult.get("relation") else ""))
        or None,
        "gate": ((gone or {}).get("gate") or {}).get("label"),
        "identity_check": CHECKS.get(gone["identity_check"]) if gone and "identity_check" in gone else None,
        "handled_by": gone["by"]["staff_name"] if gone else None,
        "in_group_now": bool(last and last["to"] is None),
        "in_group_at_close": None if at_close is None else at_group(at_close, group_id),
        "refusals": refusals, "transfers": transfers, "corrections": corrections,
        "remarks": "；".join(remarks),
    }


def _handover_rows(h: dict[str, Any], direction: str, refs: list[dict[str, Any]],
                   names: dict[str, str]) -> list[dict[str, Any]]:
    head = f"{DIRECTIONS[direction]}·{HANDOVER_KINDS.get(h['kind'], h['kind'])}：{h['giver']['name']} 交给 " \
           f"{h['to']['name']}（{h['place']['label']}）"
    rows = [{"at": h["offered_at"], "kind": "handover_offered", "pupils": refs,
             "by": {"staff_id": h["giver"]["staff_id"], "name": h["giver"]["name"], "role": None},
             "summary": f"{head}，交出方清点 {h['count_given']} 人" + (f"，备注：{h['note']}" if h["note"] else "")}]
    to = {"staff_id": h["to"]["staff_id"], "name": h["to"]["name"], "role": None}
    if h["status"] == "confirmed":
        missing = "、".join(names.get(p, p) for p in h["missing_pupil_ids"])
        rows.append({"at": h["confirmed_at"], "kind": "handover_confirmed", "pupils": refs, "by": to,
                     "summary": f"{h['to']['name']} 确认接收，清点 {h['count_received']} 人"
                                f"（交出 {h['count_given']} 人）"
                     + ("，人数不符！" if h["mismatch"] else "") + (f"，未收到：{missing}" if missing else "")})
    elif h["status"] == "withdrawn":
        rows.append({"at": h["withdrawn_at"], "kind": "handover_withdrawn", "pupils": refs,
                     "by": rows[0]["by"], "summary": f"{h['giver']['name']} 撤回交接：{h['withdraw_reason']}"})
    return rows


def _alert_rows(a: dict[str, Any], refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [{"at": a["raised_at"], "kind": "alert_raised", "pupils": refs, "by": None,
             "summary": f"警报（{ALERT_KINDS.get(a['kind'], a['kind'])}）：{alert_detail(a)}"}]
    rows += [{"at": s["at"], "kind": "alert_escalated", "pupils": refs, "by": None,
              "summary": f"警报升级第 {s['level']} 级：{STEPS.get(s['step'], s['step'])}，"
                          f"通知：{'、'.join(NOTIFY.get(n, n) for n in s['notify'])}"} for s in a["steps"]]
    if a["acknowledged"]:
        by = a["acknowledged"]["by"]
        rows.append({"at": by["at"], "kind": "alert_acknowledged", "pupils": refs, "by": _staff(by),
                     "summary": f"{by['staff_name']} 确认警报：{a['acknowledged']['note'] or '已知悉'}"})
    if a["resolved"]:
        r = a["resolved"]
        rows.append({"at": r["by"]["at"], "kind": "alert_resolved", "pupils": refs, "by": _staff(r["by"]),
                     "summary": f"警报解除（{RESOLUTIONS.get(r['how'], r['how'])}）：{r['note']}，"
                                f"经办：{r['by']['staff_name']}"})
    return rows


def _note_rows(n: dict[str, Any], refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def told(gn: bool, rl: bool, prefix: str = "") -> str:
        return f"；{prefix}{'已' if gn else '未'}通知家长；{prefix}{'已' if rl else '未'}报告领导小组"
    if n["kind"] == "emergency":
        text = f"突发事件：{n['text']}；处置：{n['actions_taken']}" + told(n["first_guardian"], n["first_leadership"])
    else:
        text = f"看护记录：{n['text']}" + (f"；处置：{n['actions_taken']}" if n["actions_taken"] else "")
    rows = [{"at": n["by"]["at"], "kind": n["kind"], "pupils": refs, "by": _staff(n["by"]), "summary": text}]
    for f in n["follow_ups"]:
        extra = (("；已通知家长" if f["guardian_notified"] else "")
                 + ("；已报告领导小组" if f["reported_to_leadership"] else ""))
        rows.append({"at": f["by"]["at"], "kind": "follow_up", "pupils": refs, "by": _staff(f["by"]),
                     "summary": f"跟进：{f['actions_taken'] or '（无补充）'}{extra}"})
    return rows


def assemble(raw: dict[str, Any], group_id: str, day: date, session: str, now: datetime) -> dict[str, Any]:
    """The care log from the stored documents: deterministic for the same documents and now."""
    school, group, schedule = raw["school"], raw["group"], raw["schedule"]
    tz = ZoneInfo(school["timezone"])
    close = closes_at(schedule, school, group, day, session)
    closed = close is not None and now >= close
    names = {pid: p["name"] for pid, p in raw["pupils"].items()}
    rows: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    spans: list[tuple[str, dict[str, Any]]] = []
    directions: dict[str, set[str]] = {}
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    label_of = {cid: c["label"] for cid, c in school["classes"].items()}
    order = sorted(raw["pupils"].values(), key=lambda p: (label_of.get(p["class_id"], ""), p["name"], p["pupil_id"]))
    for pupil in order:
        pid, chain = pupil["pupil_id"], raw["chains"].get(pupil["pupil_id"], {"entries": []})
        member = group["kind"] == "homework" and pupil["class_id"] in group["class_ids"]
        w = walk(chain["entries"], group_id, member)
        if not ((member and (pupil["expected"] or chain["entries"])) or w["facts"] or w["spans"]):
            continue  # named in a note only, or not expected here today
        rows.append(_row(pupil, label_of.get(pupil["class_id"]), member, w, close if closed else None, group_id, tz))
        spans += [(pid, s) for s in w["spans"]]
        for hid, d in w["handovers"].items():
            directions.setdefault(hid, set()).add(d)
        for e in w["facts"]:
            if e["type"] in HANDOVER_ONLY:
                continue
            text = _summary(e, chain["entries"], tz) + ("（已更正作废）" if e["voided_by"] else "")
            key = (e["type"], e["by"]["at"], e["by"]["staff_id"], e["by"].get("command_id"), text)
            row = merged.setdefault(key, {"at": e["by"]["at"], "kind": e["type"], "pupils": [],
                                          "by": _staff(e["by"]), "summary": text, "voided": bool(e["voided_by"])})
            row["pupils"].append({"pupil_id": pid, "name": pupil["name"]})
    timeline += merged.values()
    on_sheet = {r["pupil_id"] for r in rows}

    def refs(ids: list[str]) -> list[dict[str, Any]]:
        return [{"pupil_id": p, "name": names[p]} for p in ids if p in on_sheet]

    handovers = []
    for hid, ds in directions.items():
        h = raw["handovers"].get(hid)
        if h is None:
            continue
        d = "within" if "within" in ds or {"into", "out"} <= ds else next(
            (x for x in ("into", "out") if x in ds), "related")
        handovers.append({**{k: h[k] for k in ("handover_id", "kind", "giver", "to", "place", "count_given",
                                               "count_received", "mismatch", "status", "note",
                                               "withdraw_reason")},
                          "direction": d, "direction_label": DIRECTIONS[d],
                          "kind_label": HANDOVER_KINDS.get(h["kind"], h["kind"]),
                          "pupils": refs(h["pupil_ids"]), "missing": refs(h["missing_pupil_ids"]),
                          **{k: _local(h[k], tz) for k in ("offered_at", "confirmed_at", "withdrawn_at")}})
        timeline += [{**r, "voided": False} for r in _handover_rows(h, d, refs(h["pupil_ids"]), names)]
    handovers.sort(key=lambda h: (h["offered_at"] or "", h["handover_id"]))
    alerts = []
    for a in sorted(raw["alerts"], key=lambda a: (a["raised_at"], a["alert_id"])):
        pupil_refs = refs([a["subject"]["pupil_id"]] if a["subject"].get("pupil_id") else [])
        alerts.append({**{k: a[k] for k in ("alert_id", "kind", "status", "level")},
                       "detail": alert_detail(a),
                       "steps": [{**s, "at": _local(s["at"], tz)} for s in a["steps"]],
                       "kind_label": ALERT_KINDS.get(a["kind"], a["kind"]), "raised_at": _local(a["raised_at"], tz),
                       "pupils": pupil_refs,
                       "acknowledged": a["acknowledged"] and {"note": a["acknowledged"]["note"],
                                                              "by": _staff(a["acknowledged"]["by"]),
                                                              "at": _local(a["acknowledged"]["by"]["at"], tz)},
                       "resolved": a["resolved"] and {"how": a["resolved"]["how"], "note": a["resolved"]["note"],
                                                      "how_label": RESOLUTIONS.get(a["resolved"]["how"],
                                                                                   a["resolved"]["how"]),
                                                      "by": _staff(a["resolved"]["by"]),
                                                      "at": _local(a["resolved"]["by"]["at"], tz)}})
        timeline += [{**r, "voided": False} for r in _alert_rows(a, pupil_refs)]
    notes = []
    for n in sorted(raw["log"]["notes"].values(), key=lambda n: (n["by"]["at"], n["note_id"])):
        first = {"first_guardian": n["guardian_notified"] and not any(f["guardian_notified"] for f in n["follow_ups"]),
                 "first_leadership": n["reported_to_leadership"]
                 and not any(f["reported_to_leadership"] for f in n["follow_ups"])}
        pupil_refs = [{"pupil_id": p, "name": names.get(p, p)} for p in n["pupil_ids"]]
        outstanding = [] if n["kind"] != "emergency" else [
            s for s, done in (("notify_guardian", n["guardian_notified"]),
                              ("report_to_leadership", n["reported_to_leadership"])) if not done]
        notes.append({**{k: n[k] for k in ("note_id", "kind", "text", "actions_taken", "guardian_notified",
                                           "reported_to_leadership")},
                      "pupils": pupil_refs, "by": _staff(n["by"]), "at": _local(n["by"]["at"], tz),
                      "outstanding": outstanding,
                      "follow_ups": [{**{k: f[k] for k in ("actions_taken", "guardian_notified",
                                                           "reported_to_leadership")},
                                      "by": _staff(f["by"]), "at": _local(f["by"]["at"], tz)}
                                     for f in n["follow_ups"]]})
        timeline += [{**r, "voided": False} for r in _note_rows({**n, **first}, pupil_refs)]
    for r in timeline:
        r["pupils"].sort(key=lambda p: (p["name"], p["pupil_id"]))
    # Stable: at one moment the rows keep the order they were told in (offered, then confirmed).
    timeline.sort(key=lambda r: (datetime.fromisoformat(r["at"]), RANK.get(r["kind"], 1)))
    for r in timeline:
        r["at"] = _local(r["at"], tz)
    return {
        "school_id": raw["school_id"], "school_name": school["name"], "timezone": school["timezone"],
        "group_id": group_id, "group_name": group["name"], "group_kind": group["kind"], "room": group["room"],
        "teacher": ({"staff_id": group["teacher_id"], "name": school["staff"].get(group["teacher_id"], "")}
                    if group["teacher_id"] else None),
        "class_labels": [label_of[c] for c in group["class_ids"] if c in label_of],
        "day": day.isoformat(), "session": session, "session_name": schedule.session(session).name,
        "service": raw["runs"], "closes_at": close.isoformat() if close else None, "closed": closed,
        "generated_at": now.astimezone(tz).isoformat(),
        "supervisors": _supervisors(spans, tz), "counts": _counts(rows, handovers, notes, closed),
        "handovers": handovers, "attendance": rows, "timeline": timeline, "alerts": alerts, "notes": notes,
    }


def _supervisors(spans: list[tuple[str, dict[str, Any]]], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Each adult who held pupils at the group's place: first and last time (None while holding)."""
    by_staff: dict[str, dict[str, Any]] = {}
    for pid, s in spans:
        who = by_staff.setdefault(s["custodian"]["staff_id"], {
            "staff_id": s["custodian"]["staff_id"], "name": s["custodian"]["name"],
            "first": s["from"], "last": s["to"], "pupils": set(), "holding": 0})
        who["pupils"].add(pid)
        if datetime.fromisoformat(s["from"]) < datetime.fromisoformat(who["first"]):
            who["first"] = s["from"]
        if s["to"] is None:
            who["holding"] += 1
        elif who["last"] is None or datetime.fromisoformat(s["to"]) > datetime.fromisoformat(who["last"]):
            who["last"] = s["to"]
    return sorted(({"staff_id": w["staff_id"], "name": w["name"], "first_at": _local(w["first"], tz),
                    "last_at": None if w["holding"] else _local(w["last"], tz),
                    "pupils_held": len(w["pupils"]), "holding_now": w["holding"]}
                   for w in by_staff.values()), key=lambda w: (w["first_at"] or "", w["staff_id"]))


def _counts(rows: list[dict[str, Any]], handovers: list[dict[str, Any]], notes: list[dict[str, Any]],
            closed: bool) -> dict[str, Any]:
    members = [r for r in rows if r["member"] == "class"]
    class_in = [h for h in handovers if h["direction"] == "into" and h["kind"] == "class_handover"
                and h["status"] != "withdrawn"]
    return {
        "expected": len(members), "visitors": len(rows) - len(members),
        "absent_with_leave": sum(1 for r in members if r["status"] == ABSENT and r["with_leave"]),
        "absent_without_leave": sum(1 for r in members if r["status"] == ABSENT and not r["with_leave"]),
        "not_handed_over": sum(1 for r in members if r["status"] == NOT_HANDED_OVER),
        "received": sum(1 for r in rows if r["arrived_at"]),
        "in_custody_now": sum(1 for r in rows if r["in_group_now"]),
        "at_close": sum(1 for r in rows if r["in_group_at_close"]) if closed else None,
        **{how: sum(1 for r in rows if r["gone_how"] == how) for how in GONE_HOW},
        "handover_given": sum(h["count_given"] for h in class_in),
        "handover_received": sum(h["count_received"] or 0 for h in class_in),
        "mismatches": sum(1 for h in handovers if h["mismatch"]),
        "refusals": sum(r["refusals"] for r in rows),
        "emergencies": sum(1 for n in notes if n["kind"] == "emergency"),
    }
