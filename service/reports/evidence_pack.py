"""A pupil's evidence pack for a range of days: the chain of custody, the incidents and alerts
that involve the pupil, every stored event with the inclusion proof that ties it to a signed
checkpoint, and the school's public keys; other children's personal data redacted.

The proofs carry the stored records as the export does (the state as stored, encrypted; or
only its hash when the store keeps states in clear), so anyone holding the keys checks each
with ``verify_proof`` and needs neither the database nor the decryption key. An event recorded
after the school's last checkpoint has no proof yet: the pack says so, and a pack made a few
minutes later has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.errors import NotFoundError, RuleError
from service.domain.evidence import PublicKey, verify_proof
from service.domain.messages import alert_detail, render
from service.domain.privacy import custody_entry
from service.domain.school import School
from service.projections.alerts import read_alerts
from service.projections.history import Log, Stored, entry, events_of, locate, pupil_chains
from service.projections.incidents import read_incidents
from service.projections.views import Views
from service.reports.audit import scrub
from service.reports.care_log import ALERT_KINDS, ENTRY_LABELS
from service.reports.duty_log import ALERT_STATUS
from service.reports.evidence import inclusion_proof
from service.reports.exports import Table
from service.use_cases.application import HandoverApp

MAX_DAYS = 31
PACK_FORMAT = "handover-evidence-pack/1"
OTHER_PUPIL = "（其他学生）"
REDACTED = "redacted"
Doc = dict[str, Any]


def days_between(first: date, last: date) -> list[date]:
    if last < first:
        raise RuleError("The range ends before it begins.", field="to")
    if (last - first).days >= MAX_DAYS:
        raise RuleError(f"A pack covers at most {MAX_DAYS} days.", field="to")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class _Redactor:
    """Replaces other pupils' ids and names wherever they appear in what the pack shows."""

    def __init__(self, app: HandoverApp, school_id: str, pupil_id: str, own_name: str) -> None:
        self.app, self.school_id, self.pupil_id, self.own_name = app, school_id, pupil_id, own_name
        self.names: dict[str, str] = {}
        self.mentioned: set[str] = set()

    def learn(self, pupil_ids: Iterable[str], *, named: bool = False) -> None:
        for pid in pupil_ids:
            if named and pid != self.pupil_id:
                self.mentioned.add(pid)
            if pid == self.pupil_id or pid in self.names:
                continue
            try:
                self.names[pid] = self.app.pupil(self.school_id, pid, readonly=True).name
            except NotFoundError:
                self.names[pid] = ""

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: self(v) for k, v in value.items()}
            if value.get("pupil_id") not in (None, self.pupil_id) and "name" in out:
                out["name"] = OTHER_PUPIL
            return out
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            if value in self.names:
                return REDACTED
            mark = "\x00"  # the pupil's own name kept whole where another's is part of it
            value = value.replace(self.own_name, mark) if self.own_name else value
            for name in self.names.values():
                if name:
                    value = value.replace(name, OTHER_PUPIL)
            return value.replace(mark, self.own_name) if self.own_name else value
        return value


def _mentioned(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("pupil_id"), str):
            found.add(value["pupil_id"])
        if isinstance(value.get("pupil_ids"), list):
            found.update(str(p) for p in value["pupil_ids"])
        for v in value.values():
            found |= _mentioned(v)
    elif isinstance(value, list):
        for v in value:
            found |= _mentioned(v)
    return found


def _about_another(entry_doc: Doc, pupil_id: str) -> bool:
    """A step about another pupil alone (their guardian told): shown only as a step."""
    own = entry_doc["facts"].get("pupil_id")
    return isinstance(own, str) and own != pupil_id


def evidence_pack(app: HandoverApp, views: Views, school: School, pupil_id: str, first: date,
                  last: date, seen: frozenset[Any], now: datetime) -> Doc:
    """The pack (JSON), its proofs made and checked against the school's published keys."""
    school_id = school.school_id
    pupil = app.pupil(school_id, pupil_id, readonly=True)
    days = days_between(first, last)
    on = {d.isoformat() for d in days}
    log = Log(app)
    custody: list[Stored] = []
    subject_of: dict[tuple[str, int], Doc] = {}
    for day in days:
        stored, session_of = pupil_chains(app, school, [pupil_id], day)
        custody += stored
        for s in stored:
            _, session = session_of[str(s.event.originator_id)]
            subject_of[s.key] = {"kind": "pupil_day", "pupil_id": pupil_id, "day": day.isoformat(),
                                 "session": session}
    incidents = [i for i in read_incidents(views.view("incidents"), school_id)
                 if i["day"] in on and pupil_id in i["pupil_ids"]]
    alerts = [a for a in read_alerts(views.view("alerts"), school_id)
              if a["subject"].get("pupil_id") == pupil_id
              and (a["subject"].get("day") or a["raised_at"][:10]) in on]
    own: list[Stored] = []
    for i in incidents:
        for s in events_of(app, [i["incident_id"]]):
            own.append(s)
            subject_of[s.key] = {"kind": "incident", "incident_id": i["incident_id"]}
    for a in alerts:
        for s in events_of(app, [a["alert_id"]]):
            if s.at is None and isinstance(getattr(s.event, "raised_at", None), str):
                s.at = datetime.fromisoformat(s.event.raised_at)  # an alert raised and not yet moved
            own.append(s)
            subject_of[s.key] = {"kind": "alert", "alert_id": a["alert_id"]}
    locate(app, [*custody, *own], log)
    views.reflect("evidence", log.head)
    keys = views.evidence.keys(school_id)
    trusted = {k.key_id: k for k in keys}
    redact = _Redactor(app, school_id, pupil_id, pupil.name)

    made: list[tuple[Doc, Stored]] = []

    def shown(stored: Stored) -> Doc:
        doc = entry(stored, subject_of[stored.key])
        doc["facts"] = scrub(custody_entry(doc["facts"], seen))
        redact.learn(_mentioned(doc["facts"]) | _mentioned(doc["subject"]), named=True)
        if _about_another(doc, pupil_id):
            doc["facts"] = {"pupil_id": REDACTED, "redacted": True}
        made.append((doc, stored))
        return doc

    custody_docs = _ordered([shown(s) for s in custody])
    incident_docs = [{**_incident_summary(i), "events": _ordered(
        [shown(s) for s in own if subject_of[s.key].get("incident_id") == i["incident_id"]])}
        for i in incidents]
    alert_docs = [{**_alert_summary(a), "events": _ordered(
        [shown(s) for s in own if subject_of[s.key].get("alert_id") == a["alert_id"]])}
        for a in alerts]
    for i in incidents:
        redact.learn(i["pupil_ids"], named=True)
    if incidents:  # a classmate named as a witness in free text
        redact.learn(p for p, c in school.roll.items() if c == pupil.class_id)
    klass: dict[str, Any] = dict(school.classes.get(pupil.class_id, {}))
    pack: Doc = redact({
        "format": PACK_FORMAT, "school_id": school_id, "school_name": school.name,
        "timezone": str(school.tz), "made_at": now.isoformat(),
        "from": first.isoformat(), "to": last.isoformat(),
        "pupil": {"pupil_id": pupil_id, "name": pupil.name, "class_id": pupil.class_id,
                  "class_label": klass.get("label")},
        "custody": custody_docs, "incidents": incident_docs, "alerts": alert_docs,
        "redacted_pupils": len(redact.mentioned),
    })
    every = [*pack["custody"], *(e for i in pack["incidents"] for e in i["events"]),
             *(e for a in pack["alerts"] for e in a["events"])]
    for doc, (_, kept) in zip(every, _in_pack_order(made, pack), strict=True):
        doc["proof"], doc["proof_status"] = None, "pending"
        if kept.position is None:
            continue
        try:
            proof = inclusion_proof(app, views.evidence, school_id, kept.position)
        except NotFoundError:
            continue
        why = verify_proof(proof, trusted)
        doc["proof"], doc["proof_status"] = proof, "verified" if why is None else "failed"
        if why is not None:
            doc["proof_failure"] = why
    pack["keys"] = [k.to_json() for k in keys]
    pack["proofs"] = {status: sum(e["proof_status"] == status for e in every)
                      for status in ("verified", "pending", "failed")}
    return pack


def _in_pack_order(made: list[tuple[Doc, Stored]], pack: Doc) -> list[tuple[Doc, Stored]]:
    """The stored events in the order the pack lists them (custody, each incident's, each alert's)."""
    by_key = {(d["aggregate_id"], d["version"]): (d, s) for d, s in made}
    listed = [*pack["custody"], *(e for i in pack["incidents"] for e in i["events"]),
              *(e for a in pack["alerts"] for e in a["events"])]
    return [by_key[(e["aggregate_id"], e["version"])] for e in listed]


def _ordered(entries: list[Doc]) -> list[Doc]:
    return sorted(entries, key=lambda e: (e["position"] is None, e["position"] or 0))


def _incident_summary(i: Doc) -> Doc:
    return {k: i.get(k) for k in ("incident_id", "day", "session", "kind", "severity", "status",
                                  "where", "description", "reported_at", "pupil_ids")}


def _alert_summary(a: Doc) -> Doc:
    return {**{k: a.get(k) for k in ("alert_id", "kind", "status", "raised_at", "subject")},
            "detail": alert_detail(a)}


def trusted_of(pack: Doc) -> dict[str, PublicKey]:
    keys = (PublicKey.from_json(k) for k in pack["keys"])
    return {k.key_id: k for k in keys}


# -- the printable pack ---------------------------------------------------------------------------

STEPS = {"opened": "开始当日记录", "reported": "报告事件", "guardian_notified": "通知家长", "escalated": "上报",
         "action_recorded": "处置措施", "refusal_linked": "关联拒绝放行", "closed": "结案",
         "guardian_acknowledged": "家长已知悉", "attached": "附件", "raised": "发出警报",
         "acknowledged": "确认警报", "resolved": "解决警报"}
SEVERITY = {"minor": "轻微", "serious": "严重", "critical": "危急"}
INCIDENT_STATUS = {"open": "未结案", "closed": "已结案"}
PROOF_LABELS = {"verified": "已验证", "pending": "待签名检查点", "failed": "验证失败"}


def _t(at: str | None, tz: ZoneInfo) -> str:
    return "" if not at else f"{datetime.fromisoformat(at).astimezone(tz):%m-%d %H:%M:%S}"


def _row(e: Doc, tz: ZoneInfo) -> list[Any]:
    who = e.get("who") or {}
    where = e.get("where") or {}
    what = ENTRY_LABELS.get(e["what"]) or STEPS.get(e["what"]) or e["what"]
    return [_t(e["at"], tz), what, who.get("name") or "", where.get("label") or "",
            e["position"], PROOF_LABELS.get(e["proof_status"], e["proof_status"])]


def pack_lines(pack: Doc) -> list[str]:
    pupil, proofs = pack["pupil"], pack["proofs"]
    return [f"学校 School: {pack['school_name']}",
            f"学生 Pupil: {pupil['name']}（{pupil.get('class_label') or pupil['class_id']}）",
            f"日期 Days: {pack['from']} 至 {pack['to']} · 制作时间 Made: {pack['made_at']}",
            (f"包含证明 Proofs: 已验证 {proofs['verified']}，待签名 {proofs['pending']}，"
             f"失败 {proofs['failed']}"),
            f"其他学生信息已隐去 Other pupils redacted: {pack['redacted_pupils']}",
            "每条记录的日志位置及其包含证明见 JSON 版，可用下列公钥离线验证。"]


def pack_tables(pack: Doc) -> list[Table]:
    tz = ZoneInfo(pack["timezone"])
    headers = ["时间", "记录", "经办人", "地点", "日志位置", "证明"]
    custody = [_row(e, tz) for e in pack["custody"]]
    incidents = [[_t(i["reported_at"], tz), render(f"incident.{i['kind']}", {}),
                  SEVERITY.get(i["severity"], i["severity"]), i["where"], i["description"],
                  INCIDENT_STATUS.get(i["status"], i["status"])] for i in pack["incidents"]]
    alerts = [[_t(a["raised_at"], tz), ALERT_KINDS.get(a["kind"], a["kind"]), a["detail"] or "",
               ALERT_STATUS.get(a["status"], a["status"])] for a in pack["alerts"]]
    steps = [_row(e, tz) for group in (*pack["incidents"], *pack["alerts"]) for e in group["events"]]
    keys = [[k["key_id"], k["public_key"], k["valid_from"], k["valid_until"] or "至今"] for k in pack["keys"]]
    return [Table("监护链 Chain of custody", headers, custody, widths=(14, 10, 10, 12, 8, 10)),
            Table("事件 Incidents", ["时间", "类别", "程度", "地点", "经过", "状态"], incidents),
            Table("警报 Alerts", ["时间", "类别", "内容", "状态"], alerts),
            Table("事件与警报的记录 Their events", headers, steps, widths=(14, 10, 10, 12, 8, 10)),
            Table("公钥 Public keys", ["编号", "公钥", "起", "止"], keys, widths=(10, 26, 14, 14))]
