"""What each entry point needs of the application, and what the application reads of the views.

The workers are typed against these protocols, not against the composed application: the
watcher needs the log's head and one round of alerts, the deliverer the notification use cases.
The alert round reads the live views through ``LiveState``, which the projections provide.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from service.adapters.channels import Sent
from service.adapters.outbound import AddressPolicy
from service.domain.notification import Notification, Webhook
from service.use_cases.signal import SaveSignal

Doc = dict[str, Any]  # a read model's document, as the views hold it
T = TypeVar("T")


class LiveState(Protocol):
    """What a round of alerts reads of the live views: the roster and the alerts."""

    def school_ids(self) -> list[str]: ...

    def session_roster(self, school_id: str, day: date, session: str) -> list[Doc]:
        """The pupils on the session's roster that day (none if the session does not run)."""
        ...

    def expected(self, school_id: str, day: date) -> list[tuple[Doc, str]]:
        """Each (pupil, session) the pupils' enrolments expect that day, whatever the schedule says."""
        ...

    def alerts(self, school_id: str) -> list[Doc]: ...


WakeKey = tuple[str, ...]  # ("row", session, pupil_id), ("alert", alert_id) or ("late", session)


@dataclass
class Due:
    """What one round of alerts looks at in one school: everything when ``fresh`` (the first
    round of the day, or the school's set-up changed), else only what changed or came due."""

    fresh: bool
    rows: dict[str, dict[str, Doc]]  # session -> pupil -> roster row, every pupil expected today
    alerts: dict[str, Doc]  # the school's alerts not yet resolved, by id
    rows_due: dict[str, list[str]] = field(default_factory=dict)  # session -> pupils, in roster order
    pupils_changed: set[str] = field(default_factory=set)  # enrolment, collectors, restrictions
    alerts_due: set[str] = field(default_factory=set)
    sessions_due: set[str] = field(default_factory=set)  # its hand-over time came: zero reports
    classes_due: dict[str, set[str]] = field(default_factory=dict)  # session -> classes whose pupils changed


class DeadlineIndex(Protocol):
    """The watcher's index of deadlines: per school, day and session, when each pupil and each
    open alert is next to be looked at, ordered by time, and what the events changed since."""

    def refresh(self) -> None:
        """Take in the events the views have applied since the last round."""
        ...

    def school_ids(self) -> list[str]: ...

    def due(self, school_id: str, day: date, sessions: list[str], now: datetime) -> Due:
        """What is due at ``now`` or changed since the last round; taken off the index."""
        ...

    def wake(self, school_id: str, key: WakeKey, at: datetime | None) -> None:
        """Look at this pupil, alert or session again at ``at`` (never, with None)."""
        ...

    def expected(self, school_id: str, day: date,
                 pupil_ids: Iterable[str] | None) -> list[tuple[Doc, str]]:
        """Each (pupil, session) these pupils' (all pupils') enrolments expect that day, whatever
        the schedule says."""
        ...


class PupilReads(Protocol):
    """What the afternoon and the pupil list read of the views instead of every pupil's aggregates.

    Each answers None when the views cannot answer as of everything written so far (behind and
    not catching up in time, or stuck): the caller then reads the aggregates."""

    def pupils(self, school_id: str) -> dict[str, Doc] | None:
        """Every pupil of the school by id: name, gender, class_id, tags, enrolment (status...)."""
        ...

    def days(self, school_id: str, day: date, session: str) -> dict[str, Doc] | None:
        """The session's chains by pupil id: entries (as ``PupilDay.entries``) and version."""
        ...

    def kept(self, name: Hashable) -> Kept:
        """Where what a read makes of these documents is kept while they stay the same."""
        ...


class Kept(Protocol):
    """Values kept with what they were made of, made again only once that changed."""

    def get(self, key: Hashable, made_of: tuple[object, ...], make: Callable[[], T],
            given: Hashable = None) -> T:
        """The value under ``key`` if made of these very objects (``is``) and an equal ``given``,
        else ``make()``, kept in its place."""
        ...


class Watched(Protocol):
    """What the watcher uses of the application: the log, and one round of alerts."""

    @property
    def name(self) -> str: ...

    @property
    def recorder(self) -> ApplicationRecorder: ...

    def watch(self, live: LiveState) -> dict[str, int]: ...

    def watch_due(self, index: DeadlineIndex) -> dict[str, int]: ...


class Delivering(Protocol):
    """What the deliverer uses of the application: the clock, the log, the notification use cases."""

    @property
    def recorder(self) -> ApplicationRecorder: ...

    @property
    def saved(self) -> SaveSignal: ...

    @property
    def outbound(self) -> AddressPolicy: ...

    def now(self) -> datetime: ...

    def webhook(self, school_id: str) -> Webhook | None: ...

    def queue_notification(self, item: Doc, now: datetime) -> Notification | None: ...

    def pending_notification(self, notification_id: UUID) -> Notification | None: ...

    def record_delivery(self, n: Notification, sent: Sent) -> bool: ...
