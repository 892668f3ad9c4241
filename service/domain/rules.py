"""School rules as settings: the after-school fee and the staff subsidy, and what each comes to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.errors import RuleError
from service.domain.pupil import PRIORITY_TAGS
from service.domain.refs import ActorRecord

RULES_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/school-rules")
CENT = Decimal("0.01")
MAX_MONEY = Decimal(100000)
FEE_BASES = ("month", "term")
# What costs a staff member part of the month's subsidy; lateness is counted, and costs
# nothing unless the school says so (the seed's rule names no lateness deduction).
DEDUCTION_KINDS = ("late", "early_leave", "unattended_room", "handover_violation")


def money(value: Decimal | int | str) -> Decimal:
    """Yuan to the fen, rounded half up as a receipt is."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _amount(value: Any, path: str, *, optional: bool = False) -> Decimal | None:
    if value is None and optional:
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise RuleError(f"{value!r} is not an amount in yuan.", field=path) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_MONEY:
        raise RuleError(f"An amount is 0 to {MAX_MONEY} yuan.", field=path)
    if amount != amount.quantize(CENT):
        raise RuleError("An amount has at most two decimal places (fen).", field=path)
    return money(amount)


def _percent(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise RuleError("A percentage is a whole number 0 to 100.", field=path)
    return value


@dataclass(frozen=True)
class FeeRule:
    """What a pupil pays for after-school care (元), and who pays less.

    ``basis`` "month": ``amount`` per calendar month; "term": ``amount`` per enrolment term,
    shared among its months by their service days. ``daily_rate`` settles the month of a
    withdrawal by the days attended (without it, the month's own share per service day is
    used). ``monthly_cap`` is the most charged in any one month. ``reductions`` maps a
    priority tag to the percentage waived; a pupil with several tags gets the largest.
    """

    basis: str = "month"
    amount: Decimal = Decimal("0.00")
    daily_rate: Decimal | None = None
    monthly_cap: Decimal | None = None
    reductions: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> FeeRule:
        """From input or a stored event; every refusal names its field."""
        basis = data.get("basis", "month")
        if basis not in FEE_BASES:
            raise RuleError(f"The fee basis is one of {FEE_BASES}.", field="basis")
        reductions = data.get("reductions") or {}
        if not isinstance(reductions, Mapping):
            raise RuleError("Reductions map a priority tag to a percentage.", field="reductions")
        for tag, pct in reductions.items():
            if tag not in PRIORITY_TAGS:
                raise RuleError(f"Priority tags are {PRIORITY_TAGS}; not {tag!r}.",
                                field=f"reductions.{tag}")
            _percent(pct, f"reductions.{tag}")
        amount = _amount(data.get("amount", "0"), "amount")
        assert amount is not None
        return cls(
            basis=basis, amount=amount,
            daily_rate=_amount(data.get("daily_rate"), "daily_rate", optional=True),
            monthly_cap=_amount(data.get("monthly_cap"), "monthly_cap", optional=True),
            reductions={t: reductions[t] for t in PRIORITY_TAGS if t in reductions},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "basis": self.basis, "amount": str(self.amount),
            "daily_rate": None if self.daily_rate is None else str(self.daily_rate),
            "monthly_cap": None if self.monthly_cap is None else str(self.monthly_cap),
            "reductions": dict(self.reductions),
        }

    def reduction_for(self, tags: Iterable[str]) -> tuple[int, str | None]:
        """The largest reduction any of the pupil's tags earns, and the tag that earns it."""
        best: tuple[int, str | None] = (0, None)
        for tag in tags:
            pct = self.reductions.get(tag, 0)
            if pct > best[0]:
                best = (pct, tag)
        return best

    def share(self, window_days: int, month_days: int, term_days: int) -> Decimal:
        """The month's base charge for one enrolment: the part of the month (or term) enrolled."""
        whole = month_days if self.basis == "month" else term_days
        if whole <= 0 or window_days <= 0:
            return Decimal("0.00")
        return money(self.amount * window_days / whole)

    def charge(self, periods: Iterable[FeePeriod], tags: Iterable[str]) -> FeeBreakdown:
        """The month's fee: shares, settled by attendance in a withdrawal month, capped, reduced."""
        lines: list[dict[str, Any]] = []
        total = Decimal("0.00")
        for p in periods:
            base = self.share(p.window_days, p.month_days, p.term_days)
            lines.append({"step": "base", "amount": str(base), "window_days": p.window_days,
                          "month_days": p.month_days, "term_days": p.term_days})
            if p.withdrawn and p.window_days > 0:
                if self.daily_rate is not None:
                    rate, settled = self.daily_rate, money(self.daily_rate * p.attended_days)
                else:  # the share's own rate per service day
                    rate = money(base / p.window_days)
                    settled = money(base * p.attended_days / p.window_days)
                settled = min(base, settled)
                lines.append({"step": "settled_by_attendance", "amount": str(settled),
                              "attended_days": p.attended_days, "daily_rate": str(rate)})
                base = settled
            total += base
        if self.monthly_cap is not None and total > self.monthly_cap:
            lines.append({"step": "cap", "amount": str(self.monthly_cap), "before": str(total)})
            total = self.monthly_cap
        pct, tag = self.reduction_for(tags)
        reduced = money(total * pct / 100)
        if pct:
            lines.append({"step": "reduction", "amount": str(reduced), "percent": pct, "tag": tag})
        owed = total - reduced
        return FeeBreakdown(gross=money(total), reduction=reduced, owed=money(owed),
                            percent=pct, tag=tag, lines=lines)


@dataclass(frozen=True)
class FeePeriod:
    """One enrolment as it falls in a month: days enrolled, the days the share is of, attendance."""

    window_days: int  # service days of the month inside the term, from the day it was signed
    month_days: int  # service days of the whole month
    term_days: int  # service days of the whole term (a late joiner pays a smaller share)
    attended_days: int
    withdrawn: bool  # withdrawn in this month: settled by the days attended


@dataclass(frozen=True)
class FeeBreakdown:
    gross: Decimal
    reduction: Decimal
    owed: Decimal
    percent: int
    tag: str | None
    lines: list[dict[str, Any]]


@dataclass(frozen=True)
class Deduction:
    """Each occurrence costs ``each_pct`` of the month; ``all_at`` occurrences cost all of it."""

    each_pct: int
    all_at: int | None = None

    def percent(self, count: int) -> int:
        if count <= 0:
            return 0
        if self.all_at is not None and count >= self.all_at:
            return 100
        return min(100, count * self.each_pct)


DEFAULT_DEDUCTIONS: dict[str, Deduction] = {
    "late": Deduction(0, None),
    "early_leave": Deduction(10, 3),
    "unattended_room": Deduction(100, 1),
    "handover_violation": Deduction(10, 3),
}


@dataclass(frozen=True)
class SubsidyRule:
    """What a staff member earns for after-school care, and what costs them part of it.

    Defaults follow the seed's plan: 20 元 per session supervised, 7 元 per duty-management
    session; an early leave costs 10 % of the month (three or more: all of it), an unattended
    room all of it, a handover violation 10 % (three or more: all). Deductions add up to at
    most 100 % of the month's gross subsidy.
    """

    per_session: Decimal = Decimal("20.00")
    per_duty_session: Decimal = Decimal("7.00")
    late_tolerance_minutes: int = 5
    deductions: Mapping[str, Deduction] = field(default_factory=lambda: dict(DEFAULT_DEDUCTIONS))

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SubsidyRule:
        tolerance = data.get("late_tolerance_minutes", 5)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or not 0 <= tolerance <= 120:
            raise RuleError("Lateness tolerance is 0 to 120 minutes.", field="late_tolerance_minutes")
        given = data.get("deductions") or {}
        if not isinstance(given, Mapping):
            raise RuleError("Deductions map a kind to its percentages.", field="deductions")
        deductions = dict(DEFAULT_DEDUCTIONS)
        for kind, d in given.items():
            if kind not in DEDUCTION_KINDS:
                raise RuleError(f"Deductions are for {DEDUCTION_KINDS}.", field=f"deductions.{kind}")
            if not isinstance(d, Mapping):
                raise RuleError("A deduction has each_pct and all_at.", field=f"deductions.{kind}")
            all_at = d.get("all_at")
            if all_at is not None and (isinstance(all_at, bool) or not isinstance(all_at, int)
                                       or not 1 <= all_at <= 100):
                raise RuleError("all_at is a count 1 to 100, or null.",
                                field=f"deductions.{kind}.all_at")
            deductions[kind] = Deduction(_percent(d.get("each_pct", 0), f"deductions.{kind}.each_pct"),
                                         all_at)
        per_session = _amount(data.get("per_session", "20.00"), "per_session")
        per_duty = _amount(data.get("per_duty_session", "7.00"), "per_duty_session")
        assert per_session is not None and per_duty is not None
        return cls(per_session=per_session, per_duty_session=per_duty,
                   late_tolerance_minutes=tolerance, deductions=deductions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_session": str(self.per_session), "per_duty_session": str(self.per_duty_session),
            "late_tolerance_minutes": self.late_tolerance_minutes,
            "deductions": {k: {"each_pct": self.deductions[k].each_pct,
                               "all_at": self.deductions[k].all_at} for k in DEDUCTION_KINDS},
        }

    def settle(self, sessions: int, duty_sessions: int, counts: Mapping[str, int]) -> SubsidyBreakdown:
        """The month's subsidy: sessions at their rates, less the deductions the counts earn."""
        gross = money(self.per_session * sessions + self.per_duty_session * duty_sessions)
        lines = []
        total_pct = 0
        for kind in DEDUCTION_KINDS:
            count = counts.get(kind, 0)
            rule = self.deductions.get(kind, DEFAULT_DEDUCTIONS[kind])
            pct = rule.percent(count)
            total_pct += pct
            lines.append({"kind": kind, "count": count, "each_pct": rule.each_pct,
                          "all_at": rule.all_at, "percent": pct})
        total_pct = min(100, total_pct)
        deducted = money(gross * total_pct / 100)
        return SubsidyBreakdown(gross=gross, percent=total_pct, deducted=deducted,
                                net=money(gross - deducted), lines=lines)


@dataclass(frozen=True)
class SubsidyBreakdown:
    gross: Decimal
    percent: int
    deducted: Decimal
    net: Decimal
    lines: list[dict[str, Any]]


class SchoolRules(Aggregate):
    """A school's fee and subsidy rules, one aggregate per school.

    Invariants: every rule recorded is valid when set; each change is a new event naming who
    made it, so a month's statement can say which version of a rule it applied.
    """

    class Created(Aggregate.Created):
        school_id: str

    @staticmethod
    def create_id(school_id: str) -> UUID:
        return uuid5(RULES_NAMESPACE, school_id)

    @event(Created)
    def __init__(self, school_id: str) -> None:
        self.school_id = school_id
        self.fee: dict[str, Any] | None = None
        self.fee_set_by: ActorRecord | None = None
        self.subsidy: dict[str, Any] | None = None
        self.subsidy_set_by: ActorRecord | None = None

    @property
    def fee_rule(self) -> FeeRule:
        return FeeRule.parse(self.fee) if self.fee is not None else FeeRule()

    @property
    def subsidy_rule(self) -> SubsidyRule:
        return SubsidyRule.parse(self.subsidy) if self.subsidy is not None else SubsidyRule()

    def set_fee_rule(self, data: Mapping[str, Any], by: ActorRecord) -> None:
        self._fee_rule_set(rule=FeeRule.parse(data).to_dict(), by=by)

    class FeeRuleSet(Aggregate.Event):
        rule: dict[str, Any]
        by: ActorRecord

    @event(FeeRuleSet)
    def _fee_rule_set(self, rule: dict[str, Any], by: ActorRecord) -> None:
        self.fee = rule
        self.fee_set_by = by

    def set_subsidy_rule(self, data: Mapping[str, Any], by: ActorRecord) -> None:
        self._subsidy_rule_set(rule=SubsidyRule.parse(data).to_dict(), by=by)

    class SubsidyRuleSet(Aggregate.Event):
        rule: dict[str, Any]
        by: ActorRecord

    @event(SubsidyRuleSet)
    def _subsidy_rule_set(self, rule: dict[str, Any], by: ActorRecord) -> None:
        self.subsidy = rule
        self.subsidy_set_by = by
