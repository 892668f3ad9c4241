"""The Alert aggregate: one per cause, raised, escalated, acknowledged and resolved as events."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.errors import ConflictError, RuleError
from service.domain.messages import CATALOGUE, DEFAULT_LANGUAGE, Message, alert_detail
from service.domain.refs import ActorRecord

ALERT_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/alert")

KINDS = (
    "unpicked",          # not gone by dismissal + grace
    "count_mismatch",    # giver's and receiver's counts differ
    "not_handed_over",   # expected but nobody took custody by the session start
    "zero_report",       # a group reported nothing at all (零报告)
    "release_refused",   # an adult was turned away at the gate
    "unconfirmed",       # handed over, never confirmed by the receiver
    "document_expiring", # an authorisation or restriction ends within 14 days
    "no_deadline",       # expected, but no dismissal time can be computed for the pupil
    "missing_pupil",     # an incident reports a pupil missing: everyone is told at once
    "incident_guardian", # an injured or ill pupil's guardian has not been reached yet
    "unattended",        # a group holds pupils with no adult signed on for it (空堂)
    "after_clearing",    # a pupil's chain moved after the school was cleared (清校)
)
RESOLUTIONS = ("released", "handed_to_guardian", "went_home_alone", "left_early", "found",
               "no_action_needed", "other", "passed_on",  # passed_on: into a later session
               "attended")  # attended: an adult signed on for the room


class Alert(Aggregate):
    """Something a person must see and act on.

    Invariants: exactly one alert per cause (its id derives from the cause);
    it escalates one level at a time and never after it was acknowledged or
    resolved; it is resolved once, saying how.
    """

    class Raised(Aggregate.Created):
        """v2 records the text as a message code and its parameters (``service.domain.messages``),
        rendered in the reader's language; a v1 alert keeps the text it stored in ``detail``."""

        class_version = 2
        school_id: str
        kind: str
        cause: str
        subject: dict[str, Any]
        raised_at: str
        detail: str | None
        code: str | None
        params: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(code=None, params={})

    @staticmethod
    def create_id(school_id: str, cause: str) -> UUID:
        return uuid5(ALERT_NAMESPACE, f"{school_id}/{cause}")

    @event(Raised)
    def __init__(self, school_id: str, kind: str, cause: str, subject: dict[str, Any],
                 raised_at: str, detail: str | None, code: str | None,
                 params: dict[str, Any]) -> None:
        self.school_id = school_id
        self.kind = kind
        self.cause = cause
        self.subject = subject
        self.raised_at = raised_at
        self.detail = detail
        self.code = code
        self.params = params
        self.level = 0
        self.steps: list[dict[str, Any]] = []
        self.acknowledged: dict[str, Any] | None = None
        self.resolved: dict[str, Any] | None = None

    @classmethod
    def raise_for(cls, school_id: str, kind: str, cause: str, subject: dict[str, Any],
                  raised_at: str, message: Message) -> Alert:
        """Raise an alert whose text is ``message``: a catalogue code and its parameters."""
        if kind not in KINDS:
            raise RuleError(f"Alert kinds are {KINDS}.", field="kind")
        if message["code"] not in CATALOGUE:
            raise RuleError(f"No message has the code {message['code']!r}.", field="code")
        return cls(school_id=school_id, kind=kind, cause=cause, subject=subject,
                   raised_at=raised_at, detail=None, code=message["code"],
                   params=dict(message["params"]))

    @property
    def is_open(self) -> bool:
        return self.resolved is None

    def view(self, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
        facts = {"code": self.code, "params": self.params, "detail": self.detail}
        return {"alert_id": str(self.id), "kind": self.kind, "cause": self.cause,
                "subject": self.subject, "detail": alert_detail(facts, language),
                "code": self.code, "params": self.params, "raised_at": self.raised_at,
                "level": self.level, "steps": self.steps, "acknowledged": self.acknowledged,
                "resolved": self.resolved,
                "status": "resolved" if self.resolved else "acknowledged" if self.acknowledged else "open"}

    def escalate(self, level: int, step: str, notify: list[str], at: str) -> None:
        if not self.is_open or self.acknowledged is not None:
            raise ConflictError("An acknowledged or resolved alert does not escalate.", state=self.view())
        if level != self.level + 1:
            raise ConflictError(f"Alert is at level {self.level}.", state=self.view())
        self._escalated(level=level, step=step, notify=notify, at=at)

    class Escalated(Aggregate.Event):
        level: int
        step: str
        notify: list[str]
        at: str

    @event(Escalated)
    def _escalated(self, level: int, step: str, notify: list[str], at: str) -> None:
        self.level = level
        self.steps = [*self.steps, {"level": level, "step": step, "notify": notify, "at": at}]

    def acknowledge(self, note: str, by: ActorRecord) -> None:
        if not self.is_open:
            raise ConflictError("Already resolved.", state=self.view())
        if self.acknowledged is not None:
            raise ConflictError("Already acknowledged.", state=self.view())
        self._acknowledged(note=note, by=by)

    class Acknowledged(Aggregate.Event):
        note: str
        by: ActorRecord

    @event(Acknowledged)
    def _acknowledged(self, note: str, by: ActorRecord) -> None:
        self.acknowledged = {"note": note, "by": by}

    def resolve(self, how: str, note: str, by: ActorRecord) -> None:
        if how not in RESOLUTIONS:
            raise RuleError(f"Resolutions are {RESOLUTIONS}.", field="how")
        if not self.is_open:
            raise ConflictError("Already resolved.", state=self.view())
        self._resolved(how=how, note=note, by=by)

    class Resolved(Aggregate.Event):
        how: str
        note: str
        by: ActorRecord

    @event(Resolved)
    def _resolved(self, how: str, note: str, by: ActorRecord) -> None:
        self.resolved = {"how": how, "note": note, "by": by}
