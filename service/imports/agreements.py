"""A roster's 协议 column: whether a pupil's family already signed the care agreement on paper."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

AGREEMENT_COLUMNS = frozenset({
    "协议", "已签协议", "签订协议", "协议签订", "签协议", "协议书", "是否签订协议", "是否签协议",
    "是否已签协议", "协议签订日期", "协议日期", "签约日期", "签订日期",
})
REFERENCE_COLUMNS = frozenset({"协议编号", "协议号", "协议书编号"})
_YES = frozenset({"是", "已签", "已签订", "签订", "已签署", "有", "y", "yes", "true", "1", "√", "✓", "✔"})
_NO = frozenset({"否", "未签", "未签订", "没有", "无", "n", "no", "false", "0", "×", "✗", "-"})
_DATE = re.compile(
    r"^(?P<y>\d{4})\s*(?:[-/.年])\s*(?P<m>\d{1,2})\s*(?:[-/.月])\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]00:00(?::00)?)?$"  # an Excel date cell reads as "2026-09-01 00:00:00"
)


@dataclass(frozen=True)
class RosterAgreement:
    """A signed (or not) agreement as the file states it."""

    signed: bool
    signed_on: date | None = None
    reference: str | None = None


def read_agreement(text: str, reference: str = "") -> tuple[RosterAgreement | None, str | None]:
    """Return (agreement, None), (None, None) for an empty cell, or (None, reason)."""
    value = unicodedata.normalize("NFKC", text).strip()
    ref = unicodedata.normalize("NFKC", reference).strip() or None
    if not value:
        # A number alone says an agreement exists; nothing at all says nothing.
        return (RosterAgreement(True, None, ref), None) if ref else (None, None)
    if value.casefold() in _YES:
        return RosterAgreement(True, None, ref), None
    if value.casefold() in _NO:
        return RosterAgreement(False), None
    m = _DATE.match(value)
    if m is not None:
        try:
            return RosterAgreement(True, date(int(m["y"]), int(m["m"]), int(m["d"])), ref), None
        except ValueError:
            pass
        return None, f"协议日期“{value}”不存在 / no such date"
    return None, (f"协议一栏应填“是”“否”或签订日期（如2026-09-01），实际为“{value}” / "
                  "write 是, 否 or the date the agreement was signed")
