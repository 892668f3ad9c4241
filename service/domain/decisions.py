"""What a safety rule decided, as an object only the rule can make.

`Pupil.decide_collection` and `Pupil.decide_home_alone` answer with one of these;
`PupilDay.release_to`, `PupilDay.leave_early` and `PupilDay.go_home_alone` record
a departure only from an allowing decision the rule issued, for that pupil and
that day. A decision built by hand, copied with changes, or passed as a dict is
refused, so no caller can record a departure the rules did not allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from service.domain.refs import CollectorRef

_ISSUED_BY_RULE = object()  # held only here: the mark of a decision the rule made

D = TypeVar("D")


class NotDecidedByRule(TypeError):
    """A departure was recorded from something other than the rule's own decision."""


@dataclass(frozen=True)
class Collector:
    """An adult allowed to collect the pupil on a given day, and the entry that allows it."""

    kind: str  # guardian | authorised | one_day
    ref_id: str
    name: str
    relation: str | None
    phone: str | None

    def ref(self) -> CollectorRef:
        return {"kind": self.kind, "ref_id": self.ref_id, "name": self.name}


@dataclass(frozen=True)
class ReleaseAllowed:
    """The collection rule allows this adult to take this pupil on this day."""

    pupil_id: str
    day: str
    collector: Collector
    _mark: object = field(default=None, init=False, repr=False, compare=False)

    refusal = None
    restriction_id = None


@dataclass(frozen=True)
class CollectionRefused:
    """The collection rule refuses: restricted, not authorised, or an ID that does not match."""

    pupil_id: str
    day: str
    refusal: str  # restricted | not_authorised | id_mismatch
    restriction_id: str | None = None
    _mark: object = field(default=None, init=False, repr=False, compare=False)

    collector = None


CollectionDecision = ReleaseAllowed | CollectionRefused


@dataclass(frozen=True)
class HomeAloneAllowed:
    """A guardian's statement on file lets this pupil go home alone on this day."""

    pupil_id: str
    day: str
    statement_id: str
    _mark: object = field(default=None, init=False, repr=False, compare=False)

    refusal = None


@dataclass(frozen=True)
class HomeAloneRefused:
    """No statement covers this pupil on this day."""

    pupil_id: str
    day: str
    refusal: str = "no_statement"
    _mark: object = field(default=None, init=False, repr=False, compare=False)

    statement_id = None


HomeAloneDecision = HomeAloneAllowed | HomeAloneRefused


def issue(decision: D) -> D:
    """Mark a decision as the rule's own; called only by the rules in the Pupil aggregate."""
    object.__setattr__(decision, "_mark", _ISSUED_BY_RULE)
    return decision


def require_issued(decision: object, kind: type[D], pupil_id: str, day: str) -> D:
    """The decision, if the rule issued it as `kind` for this pupil and day; else refuse."""
    if not isinstance(decision, kind) or getattr(decision, "_mark", None) is not _ISSUED_BY_RULE:
        raise NotDecidedByRule(
            f"Only a {kind.__name__} issued by the pupil's rule may be recorded, "
            f"not {type(decision).__name__}."
        )
    if getattr(decision, "pupil_id", None) != pupil_id or getattr(decision, "day", None) != day:
        raise NotDecidedByRule("The decision was made for another pupil or another day.")
    return decision
