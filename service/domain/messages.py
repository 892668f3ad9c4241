"""The message catalogue: text that events record as a code and parameters, rendered when read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")

# Each entry is a str.format template per language. A parameter named ``<x>_code`` holds the
# code of another entry, available to the template, rendered in the same language, as ``{x}``.
CATALOGUE: dict[str, dict[str, str]] = {
    "alert.unpicked": {
        "zh-CN": "{name} 未按时接走（时限 {deadline}）",
        "en": "{name} not collected by {deadline}",
    },
    "alert.not_handed_over": {
        "zh-CN": "{name} 未交接（应于 {late} 前）",
        "en": "{name} not handed over by {late}",
    },
    "alert.unconfirmed": {
        "zh-CN": "交给 {to} 的交接未确认",
        "en": "handover to {to} not confirmed",
    },
    "alert.zero_report": {
        "zh-CN": "{group} 无人报告",
        "en": "no report from the group {group}",
    },
    "alert.no_deadline": {
        "zh-CN": "{name} 无法计算放学时限：{gap}",
        "en": "no deadline can be computed for {name}: {gap}",
    },
    "alert.no_deadline_session": {
        "zh-CN": "{name} 无法计算放学时限：{gap}（{session}）",
        "en": "no deadline can be computed for {name}: {gap} ({session})",
    },
    "alert.authorisation_expiring": {
        "zh-CN": "{name}：{adult} 的授权将于 {ends} 到期",
        "en": "{name}: the authorisation of {adult} expires {ends}",
    },
    "alert.restriction_expiring": {
        "zh-CN": "{name}：{adult} 的禁止接送将于 {ends} 到期",
        "en": "{name}: the restriction on {adult} expires {ends}",
    },
    "alert.release_refused": {
        "zh-CN": "{name}：拒绝放行 {adult}（{reason}）",
        "en": "{name}: release to {adult} refused ({reason})",
    },
    "alert.count_mismatch": {
        "zh-CN": "人数不符：{giver} 交出 {given} 人（名单 {named} 人），{receiver} 清点 {received} 人",
        "en": "counts differ: {giver} gave {given} ({named} named), {receiver} counted {received}",
    },
    "alert.missing_pupil": {
        "zh-CN": "学生走失：{name}（最后所在：{where}）",
        "en": "missing pupil: {name} (last seen: {where})",
    },
    "alert.missing_pupil.no_where": {
        "zh-CN": "学生走失：{name}（最后所在不明）",
        "en": "missing pupil: {name} (place last seen unknown)",
    },
    "alert.incident_guardian": {
        "zh-CN": "{name}：{kind}，尚未联系上家长",
        "en": "{name}: {kind}, the guardian not reached yet",
    },
    "alert.unattended": {
        "zh-CN": "{group} 空堂：{count} 名学生无教师签到看护（自 {since} 起）",
        "en": "{group} unattended: {count} pupils with no adult signed on (since {since})",
    },
    "alert.after_clearing": {
        "zh-CN": "清校后仍有记录：{name}（{status}）",
        "en": "recorded after the school was cleared: {name} ({status})",
    },
    # Why an open incident keeps the school from being cleared (清校).
    "clearing.missing": {"zh-CN": "学生尚未找到", "en": "the pupil is not found yet"},
    "clearing.guardian_not_reached": {"zh-CN": "尚未联系上家长", "en": "the guardian not reached yet"},
    "clearing.critical": {"zh-CN": "严重事件未结案", "en": "a critical incident still open"},
    # A blocker's detail: a pupil still held (where), an incident (whose, and why it blocks).
    "clearing.held": {"zh-CN": "{status}：{where}", "en": "{status}: {where}"},
    "clearing.held.no_where": {"zh-CN": "{status}", "en": "{status}"},
    "clearing.named": {"zh-CN": "{name}（{detail}）", "en": "{name} ({detail})"},
    "clearing.incident": {"zh-CN": "{kind}（{pupils}）：{why}", "en": "{kind} ({pupils}): {why}"},
    "clearing.incident.no_pupils": {"zh-CN": "{kind}：{why}", "en": "{kind}: {why}"},
    # A pupil's state as an alert names it.
    "status.not_handed_over": {"zh-CN": "未交接", "en": "not handed over"},
    "status.in_custody": {"zh-CN": "在校看护中", "en": "in custody"},
    "status.absent": {"zh-CN": "缺席", "en": "absent"},
    "status.gone": {"zh-CN": "已离校", "en": "gone"},
    "status.passed_on": {"zh-CN": "转入后续时段", "en": "passed into a later session"},
    # The kinds of incident.
    "incident.injury": {"zh-CN": "受伤", "en": "injury"},
    "incident.illness": {"zh-CN": "身体不适", "en": "illness"},
    "incident.missing_pupil": {"zh-CN": "学生走失", "en": "missing pupil"},
    "incident.conflict": {"zh-CN": "学生冲突", "en": "conflict between pupils"},
    "incident.attempted_collection": {"zh-CN": "未授权人员试图接走", "en": "attempted collection"},
    "incident.late_collection": {"zh-CN": "延迟接送", "en": "late collection"},
    "incident.property": {"zh-CN": "财物", "en": "property"},
    "incident.other": {"zh-CN": "其他", "en": "other"},
    # Why a pupil has no deadline (service.domain.schedule's gap reasons).
    "gap.no_such_session": {"zh-CN": "作息表中没有该时段", "en": "the schedule has no such session"},
    "gap.no_class": {"zh-CN": "学生所在班级不存在", "en": "the pupil's class is unknown"},
    "gap.grade_in_no_band": {"zh-CN": "年级不属于任何年级段", "en": "the grade belongs to no grade band"},
    "gap.band_not_in_session": {"zh-CN": "该年级段不参加此时段",
                                "en": "the grade band does not attend this session"},
    # Why an adult was turned away at the gate.
    "refusal.restricted": {"zh-CN": "此人被列入禁止接送名单", "en": "on the do-not-release list"},
    "refusal.not_authorised": {"zh-CN": "此人不在授权接送名单", "en": "not authorised to collect"},
    "refusal.id_mismatch": {"zh-CN": "身份证尾号不符", "en": "ID number does not match"},
    "refusal.no_statement": {"zh-CN": "无有效自行回家说明", "en": "no going-home-alone statement on file"},
    "refusal.refused_by_staff": {"zh-CN": "经办人拒绝放行", "en": "refused by the staff member"},
}
LIST_SEPARATOR = {"zh-CN": "、", "en": ", "}


class _Blank(dict[str, Any]):
    """A missing parameter renders as "?" rather than failing a read of an old record."""

    def __missing__(self, key: str) -> str:
        return "?"


def render(code: str, params: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    """The text of ``code`` in ``language`` (zh-CN when not offered); an unknown code is shown as is."""
    entry = CATALOGUE.get(_variant(code, params))
    if entry is None:
        return code
    template = entry.get(language) or entry[DEFAULT_LANGUAGE]
    values = _Blank({k: "?" if v is None else v for k, v in params.items()})
    for key, value in params.items():
        if key.endswith("_code") and isinstance(value, str):
            # A reason the catalogue does not know yet is shown as recorded.
            known = value in CATALOGUE
            values[key[:-5]] = render(value, {}, language) if known else value.partition(".")[2]
    return template.format_map(values)


def _variant(code: str, params: Mapping[str, Any]) -> str:
    """The entry ``<code>.no_<parameter>`` when the catalogue words the message without a
    parameter that is missing or empty ("place last seen unknown", never "last seen: ?")."""
    prefix = f"{code}.no_"
    for other in CATALOGUE:
        if other.startswith(prefix) and params.get(other[len(prefix):]) in (None, ""):
            return other
    return code


def join_list(items: Iterable[str], language: str = DEFAULT_LANGUAGE) -> str:
    """Names in a row, as the language lists them."""
    return LIST_SEPARATOR.get(language, LIST_SEPARATOR[DEFAULT_LANGUAGE]).join(items)


def negotiate(accept_language: str | None) -> str:
    """The catalogue language an ``Accept-Language`` header prefers most; zh-CN when none fits."""
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        language = _supported(tag.strip())
        # Equal weights keep the header's order: the earlier tag wins.
        if language is not None and q > best_q:
            best, best_q = language, q - position * 1e-6
    return best


def _supported(tag: str) -> str | None:
    primary = tag.lower().split("-")[0]
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def alert_detail(alert: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    """An alert's text: rendered from its code, or the text an older alert stored."""
    code = alert.get("code")
    if code:
        return render(str(code), alert.get("params") or {}, language)
    return str(alert.get("detail") or "")


class Message(TypedDict):
    """Text as a record keeps it: a catalogue code and the parameters its template names."""

    code: str
    params: dict[str, Any]


def message(code: str, **params: Any) -> Message:
    return {"code": code, "params": params}
