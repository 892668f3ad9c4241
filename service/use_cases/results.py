"""What a command came to, in the domain's terms; the API alone turns it into HTTP.

A command record stores the result as versioned JSON (`to_record`), so a retry
answers the first result even after the response model has changed. Records
written before results were versioned hold an HTTP status and body: they come
back as `Recorded` and are answered as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.domain.refs import AdultRef

RESULT_VERSION = 1


@dataclass(frozen=True)
class Answer:
    """The command was done; `body` is what it answers (the thing as it now stands)."""

    body: Any
    created: bool = False

    def to_record(self) -> dict[str, Any]:
        return {"kind": "answer", "v": RESULT_VERSION, "body": self.body, "created": self.created}


@dataclass(frozen=True)
class Refused:
    """A departure the rules refused; each refusal was itself recorded as a fact."""

    adult: AdultRef
    pupils: list[dict[str, Any]]  # pupil_id, name, reason, refusal_event

    def to_record(self) -> dict[str, Any]:
        return {"kind": "refused", "v": RESULT_VERSION, "adult": self.adult, "pupils": self.pupils}


@dataclass(frozen=True)
class Rejected:
    """Nothing was done: the input as a whole was rejected (`code` says why); a refusal that
    matters for safety may itself be recorded (a clearing refused names what blocked it)."""

    code: str  # roster-rows | too-large | not-clear
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {"kind": "rejected", "v": RESULT_VERSION, "code": self.code,
                "detail": self.detail, "errors": self.errors}


@dataclass(frozen=True)
class Recorded:
    """An answer stored before results were versioned: its HTTP status and body, as given."""

    status: int
    body: Any

    def to_record(self) -> dict[str, Any]:
        return {"kind": "recorded", "v": RESULT_VERSION, "status": self.status, "body": self.body}


Result = Answer | Refused | Rejected | Recorded


def result_from_record(data: dict[str, Any]) -> Result:
    """The result a command record stored, whichever version wrote it."""
    kind = data.get("kind")
    if kind == "answer":
        return Answer(data["body"], bool(data.get("created")))
    if kind == "refused":
        return Refused(data["adult"], list(data["pupils"]))
    if kind == "rejected":
        return Rejected(data["code"], data["detail"], list(data.get("errors") or []))
    return Recorded(int(data["status"]), data["body"])


def is_done(result: Result) -> bool:
    return isinstance(result, Answer) or (isinstance(result, Recorded) and result.status < 400)
