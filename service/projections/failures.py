"""How a running part fails visibly: the event it cannot pass, its failure report, its back-off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import time
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from service.adapters.store import is_store_unavailable


class Undecodable:
    """A stored event that could not be turned back into a domain event: the view stops at it."""

    def __init__(self, notification: Notification, error: BaseException) -> None:
        self.notification, self.error = notification, error


class Deferred:
    """A stored event not decoded yet: a projection of the stored bytes decodes only the few it
    needs (an aggregate's first record), so its reader does not decrypt the whole log."""

    def __init__(self, app: Application[Any], notification: Notification) -> None:
        self.app, self.notification = app, notification

    def decoded(self) -> Any:
        """The domain event, or an ``Undecodable`` saying why not."""
        [event] = decode(self.app, [self.notification])
        return event


def decode(app: Application[Any], notifications: Sequence[Notification], *,
           deferred: bool = False) -> list[Any]:
    if deferred:
        return [Deferred(app, n) for n in notifications]
    events: list[Any] = []
    for n in notifications:
        try:
            events.append(app.mapper.to_domain_event(n))
        except Exception as e:  # noqa: BLE001 - one bad record must not hide the events before it
            events.append(Undecodable(n, e))
    return events


class EventNotApplied(Exception):
    """A view cannot apply the event at ``position``: it stays just before it until fixed."""

    def __init__(self, view: str, position: int, topic: str, cause: BaseException) -> None:
        super().__init__(f"view {view} cannot apply the event at position {position} ({topic}): {cause!r}")
        self.position, self.topic, self.cause = position, topic, cause


@dataclass
class Failure:
    """Why a running part is not moving, where it is stuck, and when it tries again."""

    error: BaseException
    stuck_at: int | None  # the last position the part got past
    failing_at: int | None = None  # the event it cannot apply, when it is an event
    school_id: str | None = None
    attempts: int = 1
    since: float = field(default_factory=time)
    retry_at: float = 0.0  # monotonic

    @property
    def store_unavailable(self) -> bool:
        return is_store_unavailable(self.error)

    def report(self) -> dict[str, Any]:
        return {"cause": repr(self.error), "kind": "store" if self.store_unavailable else "event",
                "stuck_at": self.stuck_at, "failing_at": self.failing_at, "school_id": self.school_id,
                "attempts": self.attempts, "since": datetime.fromtimestamp(self.since, UTC).isoformat()}


class Backoff:
    """Delays between retries: doubling from ``first`` up to ``cap`` seconds."""

    def __init__(self, first: float = 0.2, cap: float = 10.0) -> None:
        self.first, self.cap = first, cap

    def delay(self, attempts: int) -> float:
        return float(min(self.cap, self.first * 2 ** max(0, attempts - 1)))
