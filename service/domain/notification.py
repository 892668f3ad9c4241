"""Notifications of alerts (one per alert event and channel) and a school's signed webhook."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.errors import ConflictError, RuleError
from service.domain.refs import ActorRecord

NOTIFICATION_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/notification")
WEBHOOK_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/webhook")

CHANNELS = ("log", "webhook")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# Exponential back-off: 10 s, 20 s, 40 s ... capped at 10 minutes; 12 attempts span about an
# hour, long enough to ride out a receiver's restart or a school's network outage.
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(minutes=10)
MAX_ATTEMPTS = 12
# A notification queued this long after its alert is recorded as abandoned, not sent: news of
# an unpicked pupil from yesterday helps nobody (a worker down all night, a first deployment).
STALE_AFTER = timedelta(hours=6)
MIN_SECRET = 16

# Who a newly raised alert is for. An unpicked pupil's alert names its people in each
# escalation step (recorded with it), so its raising names nobody twice.
RAISED_NOTIFY: dict[str, list[str]] = {
    "unpicked": [],
    "missing_pupil": [],  # escalated to the top at once: each step names its people
    "document_expiring": ["admin"],
}
DEFAULT_RAISED_NOTIFY = ["duty_leader"]


def raised_notify(kind: str) -> list[str]:
    return list(RAISED_NOTIFY.get(kind, DEFAULT_RAISED_NOTIFY))


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return min(FIRST_RETRY * (1 << (attempts - 1)), MAX_RETRY)


class Notification(Aggregate):
    """One alert event told through one channel.

    Invariants: exactly one per alert event and channel (its id derives from the alert's id,
    the alert's version and the channel); attempts are recorded in order and never after it
    was delivered or abandoned; a failed attempt schedules the next on an exponential
    back-off, and after ``MAX_ATTEMPTS`` failures it is abandoned.
    """

    class Queued(Aggregate.Created):
        school_id: str
        alert_id: str
        alert_version: int
        channel: str
        payload: dict[str, Any]
        queued_at: str

    @staticmethod
    def create_id(alert_id: str, alert_version: int, channel: str) -> UUID:
        return uuid5(NOTIFICATION_NAMESPACE, f"{alert_id}/{alert_version}/{channel}")

    @event(Queued)
    def __init__(self, school_id: str, alert_id: str, alert_version: int, channel: str,
                 payload: dict[str, Any], queued_at: str) -> None:
        self.school_id = school_id
        self.alert_id = alert_id
        self.alert_version = alert_version
        self.channel = channel
        self.payload = payload
        self.queued_at = queued_at
        self.status = PENDING
        self.next_attempt_at: str | None = queued_at
        self.attempts: list[dict[str, Any]] = []
        self.delivered_at: str | None = None
        self.abandoned: dict[str, Any] | None = None

    @classmethod
    def queue(cls, school_id: str, alert_id: str, alert_version: int, channel: str,
              payload: dict[str, Any], at: datetime) -> Notification:
        if channel not in CHANNELS:
            raise RuleError(f"Channels are {CHANNELS}.", field="channel")
        return cls(school_id=school_id, alert_id=alert_id, alert_version=alert_version,
                   channel=channel, payload=payload, queued_at=at.isoformat())

    # -- reads -------------------------------------------------------------
    def due(self, now: datetime) -> bool:
        return (self.status == PENDING and self.next_attempt_at is not None
                and datetime.fromisoformat(self.next_attempt_at) <= now)

    def view(self) -> dict[str, Any]:
        return {"notification_id": str(self.id), "alert_id": self.alert_id,
                "alert_version": self.alert_version, "channel": self.channel,
                "status": self.status, "queued_at": self.queued_at,
                "next_attempt_at": self.next_attempt_at, "attempts": self.attempts,
                "delivered_at": self.delivered_at, "abandoned": self.abandoned}

    def _require_pending(self) -> None:
        if self.status != PENDING:
            raise ConflictError(f"Notification already {self.status}.", state=self.view())

    # -- commands ----------------------------------------------------------
    def record_attempt(self, ok: bool, status: int | None, error: str | None, at: datetime,
                       final: bool = False) -> None:
        """Record how one attempt went; schedule the next, or settle the notification.

        ``final`` says a retry cannot help (the school removed its webhook, say).
        """
        self._require_pending()
        tried = len(self.attempts) + 1
        retry = not ok and not final and tried < MAX_ATTEMPTS
        next_at = (at + retry_delay(tried)).isoformat() if retry else None
        self._attempted(ok=ok, status=status, error=error, at=at.isoformat(),
                        next_attempt_at=next_at)
        if ok:
            self._delivered(at=at.isoformat())
        elif not retry:
            reason = (error or "failed") if final else f"gave up after {tried} attempts"
            self._abandoned(reason=reason, at=at.isoformat())

    def abandon(self, reason: str, at: datetime) -> None:
        self._require_pending()
        self._abandoned(reason=reason, at=at.isoformat())

    class Attempted(Aggregate.Event):
        ok: bool
        status: int | None
        error: str | None
        at: str
        next_attempt_at: str | None

    @event(Attempted)
    def _attempted(self, ok: bool, status: int | None, error: str | None, at: str,
                   next_attempt_at: str | None) -> None:
        self.attempts = [*self.attempts, {"ok": ok, "status": status, "error": error, "at": at,
                                          "next_attempt_at": next_attempt_at}]
        self.next_attempt_at = next_attempt_at

    class Delivered(Aggregate.Event):
        at: str

    @event(Delivered)
    def _delivered(self, at: str) -> None:
        self.status = DELIVERED
        self.delivered_at = at

    class Abandoned(Aggregate.Event):
        reason: str
        at: str

    @event(Abandoned)
    def _abandoned(self, reason: str, at: str) -> None:
        self.status = FAILED
        self.next_attempt_at = None
        self.abandoned = {"reason": reason, "at": at}


def check_webhook(url: str, secret: str) -> None:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (
            parts.port is None or parts.port > 0)
    except ValueError:  # an unparseable host or port
        valid = False
    if not valid or any(c.isspace() for c in url):
        raise RuleError("The webhook URL is an http:// or https:// address.", field="url")
    if len(secret) < MIN_SECRET:
        raise RuleError(f"The secret has at least {MIN_SECRET} characters.", field="secret")


class Webhook(Aggregate):
    """Where a school's alert notifications are POSTed, and the secret that signs them.

    Invariants: one per school (its id derives from the school); the URL is http(s); the
    secret has at least ``MIN_SECRET`` characters and is never shown back; once removed,
    nothing more is sent until it is configured again.
    """

    class Configured(Aggregate.Created):
        school_id: str
        url: str
        secret: str
        by: ActorRecord

    @staticmethod
    def create_id(school_id: str) -> UUID:
        return uuid5(WEBHOOK_NAMESPACE, school_id)

    @event(Configured)
    def __init__(self, school_id: str, url: str, secret: str, by: ActorRecord) -> None:
        self.school_id = school_id
        self.url: str | None = url
        self.secret = secret
        self.changed = by

    @classmethod
    def configure(cls, school_id: str, url: str, secret: str, by: ActorRecord) -> Webhook:
        check_webhook(url, secret)
        return cls(school_id=school_id, url=url, secret=secret, by=by)

    @property
    def active(self) -> bool:
        return self.url is not None

    def view(self) -> dict[str, Any]:
        """What anyone may see: never the secret."""
        return {"url": self.url, "active": self.active, "secret_set": self.active,
                "changed_by": self.changed}

    def change(self, url: str, secret: str, by: ActorRecord) -> None:
        check_webhook(url, secret)
        self._changed(school_id=self.school_id, url=url, secret=secret, by=by)

    class Changed(Aggregate.Event):
        school_id: str
        url: str
        secret: str
        by: ActorRecord

    @event(Changed)
    def _changed(self, school_id: str, url: str, secret: str, by: ActorRecord) -> None:
        self.url = url
        self.secret = secret
        self.changed = by

    def remove(self, by: ActorRecord) -> None:
        if not self.active:
            raise ConflictError("No webhook is configured.", state=self.view())
        self._removed(school_id=self.school_id, by=by)

    class Removed(Aggregate.Event):
        school_id: str
        by: ActorRecord

    @event(Removed)
    def _removed(self, school_id: str, by: ActorRecord) -> None:
        self.url = None
        self.secret = ""
        self.changed = by
