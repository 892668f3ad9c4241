"""What each entry point needs of the application, and what the application reads of the views.

The workers are typed against these protocols, not against the composed application: the
watcher needs the log's head and one round of alerts, the deliverer the notification use cases.
The alert round reads the live views through ``LiveState``, which the projections provide.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from service.adapters.channels import Sent
from service.adapters.outbound import AddressPolicy
from service.domain.notification import Notification, Webhook
from service.use_cases.signal import SaveSignal

Doc = dict[str, Any]  # a read model's document, as the views hold it


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


class Watched(Protocol):
    """What the watcher uses of the application: the log's head, and one round of alerts."""

    @property
    def recorder(self) -> ApplicationRecorder: ...

    def watch(self, live: LiveState) -> dict[str, int]: ...


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
