"""Alert notifications out: the outbox view, the webhook use cases, the channels and the deliverer."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import httpx
from eventsourcing.persistence import IntegrityError

from service.adapters.outbound import RefusedAddressError, UnresolvableError
from service.domain.alert import Alert
from service.domain.common import Actor
from service.domain.errors import ConflictError, RuleError
from service.domain.messages import alert_detail
from service.domain.notification import (
    DELIVERED,
    FAILED,
    PENDING,
    STALE_AFTER,
    Notification,
    Webhook,
    check_webhook,
    raised_notify,
)
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles
from service.use_cases.core import AppCore, Decision, Outcome, as_uuid

if TYPE_CHECKING:
    from service.projections.views import Views

log = logging.getLogger("handover.notifications")
OUTBOX = "outbox"
USER_AGENT = "Handover-Webhook/1"

# What an admin is told about a failed attempt: a category, never the transport's own words
# (they would map the school's network for anyone who can read the list).
REFUSED_ADDRESS, UNRESOLVABLE, TIMEOUT = "refused_address", "unresolvable", "timeout"
CONNECTION_FAILED, HTTP_STATUS, DELIVERY_ERROR = "connection_failed", "http_status", "delivery_error"
ERROR_CATEGORIES = (REFUSED_ADDRESS, UNRESOLVABLE, TIMEOUT, CONNECTION_FAILED, HTTP_STATUS,
                    DELIVERY_ERROR)


# -- the outbox: what is to be sent, and how each notification went ----------

class Outbox(DocProjection):
    """Alert events to notify (``queue/``), notifications due (``due/``) and their history.

    An alert event stages one ``queue/<notification id>`` per channel, exactly once (the
    runner commits documents with the log position). The deliverer creates the Notification
    aggregate from it; the Notification's own events then clear the queue entry and keep
    ``due/`` (what to retry, and when) and ``notification/<school>/<id>`` (history) current.
    """

    name = OUTBOX

    @handles(School.Founded)
    def school(self, e: School.Founded, batch: Batch) -> None:
        batch.put(f"school/{e.originator_id}", {"name": e.name})

    @handles(School.ProfileChanged)
    def school_renamed(self, e: School.ProfileChanged, batch: Batch) -> None:
        batch.put(f"school/{e.originator_id}", {"name": e.name})

    @handles(Webhook.Configured, Webhook.Changed)
    def webhook_set(self, e: Webhook.Configured | Webhook.Changed, batch: Batch) -> None:
        batch.put(f"webhook/{e.school_id}", {"active": True})  # never the secret

    @handles(Webhook.Removed)
    def webhook_removed(self, e: Webhook.Removed, batch: Batch) -> None:
        batch.put(f"webhook/{e.school_id}", {"active": False})

    @handles(Alert.Raised)
    def raised(self, e: Alert.Raised, batch: Batch) -> None:
        facts = {"alert_id": str(e.originator_id), "school_id": e.school_id, "kind": e.kind,
                 "cause": e.cause, "subject": e.subject, "detail": alert_detail(vars(e)),
                 "code": e.code, "params": e.params,
                 "raised_at": e.raised_at}
        batch.put(f"alert/{e.originator_id}", facts)
        self._queue(batch, facts, e.originator_version, "alert.raised",
                    {"level": 0, "step": None, "notify": raised_notify(e.kind)}, e.raised_at)

    @handles(Alert.Escalated)
    def escalated(self, e: Alert.Escalated, batch: Batch) -> None:
        facts = batch.get(f"alert/{e.originator_id}")
        assert facts is not None
        self._queue(batch, facts, e.originator_version, "alert.escalated",
                    {"level": e.level, "step": e.step, "notify": e.notify}, e.at)

    def _queue(self, batch: Batch, facts: Doc, version: int, change: str, step: dict[str, Any],
               at: str) -> None:
        school_id = facts["school_id"]
        school = batch.get(f"school/{school_id}") or {}
        hook = batch.get(f"webhook/{school_id}") or {}
        channels = ["log", *(["webhook"] if hook.get("active") else [])]
        for channel in channels:
            nid = str(Notification.create_id(facts["alert_id"], version, channel))
            payload = {
                "delivery_id": nid, "event": change, "at": at,
                "school": {"school_id": school_id, "name": school.get("name")},
                "alert": {**{k: v for k, v in facts.items() if k != "school_id"}, **step},
            }
            batch.put(f"queue/{nid}", {"notification_id": nid, "school_id": school_id,
                                       "alert_id": facts["alert_id"], "alert_version": version,
                                       "channel": channel, "at": at, "payload": payload})

    @handles(Notification.Queued)
    def queued(self, e: Notification.Queued, batch: Batch) -> None:
        nid = str(e.originator_id)
        key = f"notification/{e.school_id}/{nid}"
        batch.delete(f"queue/{nid}")
        batch.put(f"notification-index/{nid}", {"key": key})
        batch.put(key, {"notification_id": nid, "alert_id": e.alert_id,
                        "alert_version": e.alert_version, "event": e.payload.get("event"),
                        "kind": e.payload.get("alert", {}).get("kind"), "channel": e.channel,
                        "status": PENDING, "queued_at": e.queued_at,
                        "next_attempt_at": e.queued_at, "attempts": [], "delivered_at": None,
                        "abandoned": None})
        batch.put(f"due/{nid}", {"notification_id": nid, "next_attempt_at": e.queued_at})

    def _doc(self, e: Any, batch: Batch) -> tuple[str, Doc]:
        index = batch.get(f"notification-index/{e.originator_id}")
        assert index is not None
        doc = batch.get(index["key"])
        assert doc is not None
        return index["key"], doc

    @handles(Notification.Attempted)
    def attempted(self, e: Notification.Attempted, batch: Batch) -> None:
        key, doc = self._doc(e, batch)
        attempt = {"ok": e.ok, "status": e.status, "error": e.error, "at": e.at,
                   "next_attempt_at": e.next_attempt_at}
        batch.put(key, {**doc, "attempts": [*doc["attempts"], attempt],
                        "next_attempt_at": e.next_attempt_at})
        nid = str(e.originator_id)
        if e.next_attempt_at is None:
            batch.delete(f"due/{nid}")
        else:
            batch.put(f"due/{nid}", {"notification_id": nid, "next_attempt_at": e.next_attempt_at})

    @handles(Notification.Delivered)
    def delivered(self, e: Notification.Delivered, batch: Batch) -> None:
        key, doc = self._doc(e, batch)
        batch.put(key, {**doc, "status": DELIVERED, "delivered_at": e.at})
        batch.delete(f"due/{e.originator_id}")

    @handles(Notification.Abandoned)
    def abandoned(self, e: Notification.Abandoned, batch: Batch) -> None:
        key, doc = self._doc(e, batch)
        batch.put(key, {**doc, "status": FAILED, "next_attempt_at": None,
                        "abandoned": {"reason": e.reason, "at": e.at}})
        batch.delete(f"due/{e.originator_id}")


def error_category(error: str | None) -> str | None:
    """The category of a recorded attempt's error (older records hold the transport's text)."""
    if error is None or error in ERROR_CATEGORIES:
        return error
    if error.startswith("HTTP "):
        return HTTP_STATUS
    if "Timeout" in error.split(":", 1)[0]:
        return TIMEOUT
    if error.split(":", 1)[0] in ("ConnectError", "RemoteProtocolError", "ReadError",
                                  "WriteError", "NetworkError", "ProxyError"):
        return CONNECTION_FAILED
    return DELIVERY_ERROR


# Reasons a notification was given up that name no address and no transport text.
PLAIN_REASONS = ("the school's webhook was removed", "gave up after", "stale:")


def shown_to(doc: Doc, *, admin: bool) -> Doc:
    """A notification as the reader may see it: admins get error categories, others the status."""
    attempts = [{**a, "error": error_category(a["error"]) if admin else None,
                 "status": a["status"] if admin else None} for a in doc["attempts"]]
    abandoned = doc["abandoned"]
    if abandoned is not None:
        reason = str(abandoned["reason"])
        if not reason.startswith(PLAIN_REASONS):
            reason = error_category(reason) or DELIVERY_ERROR
        abandoned = {**abandoned, "reason": reason if admin else None}
    return {**doc, "attempts": attempts, "abandoned": abandoned}


def read_notifications(view: DocView, school_id: str, *, alert_id: str | None = None,
                       status: str | None = None) -> list[Doc]:
    docs = view.scan(f"notification/{school_id}/").values()
    found = [d for d in docs if (alert_id is None or d["alert_id"] == alert_id)
             and (status is None or d["status"] == status)]
    return sorted(found, key=lambda d: (d["queued_at"], d["alert_id"], d["alert_version"],
                                        d["channel"]))


# -- use cases: the school's webhook, and recording what the deliverer did ----

class NotificationUseCases(AppCore):
    def webhook(self, school_id: str) -> Webhook | None:
        found = self._find(Webhook.create_id(school_id), readonly=True)
        return found if isinstance(found, Webhook) else None

    def describe_webhook(self, actor: Actor) -> dict[str, Any]:
        hook = self.webhook(actor.school_id)
        return hook.view() if hook else {"url": None, "active": False, "secret_set": False,
                                         "changed_by": None}

    def check_webhook_address(self, url: str) -> None:
        """Refuse a URL whose host is, or resolves to, a loopback, private or reserved address."""
        try:
            self.outbound.target(url)
        except RefusedAddressError:
            raise RuleError("The webhook URL points into a private, loopback, link-local or "
                            "reserved network; only public addresses (or hosts the operator "
                            "allows) may be called.", field="url") from None
        except UnresolvableError:
            raise RuleError("The webhook URL's host name does not resolve.", field="url") from None

    def configure_webhook(self, actor: Actor, url: str, secret: str) -> Outcome:
        def decide() -> Decision:
            check_webhook(url, secret)
            self.check_webhook_address(url)
            hook = self._find(Webhook.create_id(actor.school_id))
            if isinstance(hook, Webhook):
                hook.change(url, secret, actor.record())
            else:
                hook = Webhook.configure(actor.school_id, url, secret, actor.record())
            return Decision([hook], hook.view())
        return self.execute(actor, decide)

    def remove_webhook(self, actor: Actor) -> Outcome:
        def decide() -> Decision:
            hook = self._find(Webhook.create_id(actor.school_id))
            if not isinstance(hook, Webhook):
                raise ConflictError("No webhook is configured.", state=self.describe_webhook(actor))
            hook.remove(actor.record())
            return Decision([hook], hook.view())
        return self.execute(actor, decide)

    def notification(self, school_id: str, notification_id: str) -> Notification:
        return self._get(as_uuid(notification_id, "notification"), Notification, "notification",
                         school_id)

    def queue_notification(self, item: Doc, now: datetime) -> Notification | None:
        """Create the Notification an outbox entry asks for; None if it exists already."""
        n = Notification.queue(item["school_id"], item["alert_id"], item["alert_version"],
                               item["channel"], item["payload"], now)
        if now - datetime.fromisoformat(item["at"]) > STALE_AFTER:
            n.abandon(f"stale: queued more than {STALE_AFTER} after the alert", now)
        try:
            self.save(n)
        except IntegrityError:
            return None  # another deliverer created it first: exactly one per cause
        return n

    def pending_notification(self, notification_id: UUID) -> Notification | None:
        found = self._find(notification_id)
        return found if isinstance(found, Notification) and found.status == PENDING else None

    def record_delivery(self, n: Notification, sent: Sent) -> bool:
        try:
            n.record_attempt(sent.ok, sent.status, sent.error, self.now(), final=sent.final)
            self.save(n)
        except (IntegrityError, ConflictError):
            return False  # another deliverer recorded its attempt first
        return True


# -- channels -------------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    ok: bool
    status: int | None = None
    error: str | None = None
    final: bool = False  # retrying cannot help


class Channel(Protocol):
    name: str

    def send(self, notification: Notification, now: datetime) -> Sent: ...


def body_of(notification: Notification) -> bytes:
    return json.dumps(notification.payload, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: what a receiver recomputes."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class LogChannel:
    """Always on: one structured line per notification, for the operators' log pipeline."""

    name = "log"

    def send(self, notification: Notification, now: datetime) -> Sent:
        p = notification.payload
        alert = p.get("alert", {})
        line = {"delivery_id": str(notification.id), "event": p.get("event"),
                "school_id": notification.school_id, "alert_id": notification.alert_id,
                "kind": alert.get("kind"), "level": alert.get("level"), "step": alert.get("step"),
                "notify": alert.get("notify"), "detail": alert.get("detail"), "at": p.get("at")}
        # WARNING, not INFO: it reaches stderr even where nobody configured logging.
        log.warning("notification %s", json.dumps(line, ensure_ascii=False, sort_keys=True))
        return Sent(True)


class WebhookChannel:
    """POST the alert as JSON to the school's URL, signed with the school's secret."""

    name = "webhook"

    def __init__(self, app: NotificationUseCases, client: httpx.Client | None = None,
                 timeout: float = 5.0) -> None:
        self.app = app
        # No proxy from the environment: the connection goes to the address that was checked.
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False,
                                             trust_env=False, headers={"User-Agent": USER_AGENT})

    def send(self, notification: Notification, now: datetime) -> Sent:
        hook = self.app.webhook(notification.school_id)
        if hook is None or hook.url is None:
            return Sent(False, error="the school's webhook was removed", final=True)
        try:  # checked on every delivery, and the checked address is the one connected to,
            target = self.app.outbound.target(hook.url)  # so a DNS change cannot slip past
        except RefusedAddressError as e:
            log.warning("webhook of school %s refused: %s", notification.school_id, e)
            return Sent(False, error=REFUSED_ADDRESS, final=True)
        except UnresolvableError:
            return Sent(False, error=UNRESOLVABLE)
        body = body_of(notification)
        timestamp = int(now.timestamp())
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "X-Handover-Event": str(notification.payload.get("event")),
                   "X-Handover-Delivery": str(notification.id),
                   "X-Handover-Timestamp": str(timestamp),
                   "X-Handover-Signature": signature(hook.secret, timestamp, body),
                   "Host": target.host_header}
        try:
            response = self.client.post(target.url, content=body, headers=headers,
                                        extensions={"sni_hostname": target.server_name})
        except httpx.TimeoutException as e:
            log.warning("webhook delivery %s timed out: %s", notification.id, e)
            return Sent(False, error=TIMEOUT)
        except httpx.HTTPError as e:  # the detail goes to the operators' log only
            log.warning("webhook delivery %s failed: %s: %s", notification.id, type(e).__name__, e)
            return Sent(False, error=CONNECTION_FAILED)
        ok = 200 <= response.status_code < 300
        status = response.status_code
        return Sent(ok, status=status, error=None if ok else HTTP_STATUS)

    def close(self) -> None:
        self.client.close()


# -- the deliverer --------------------------------------------------------------

class Deliverer:
    """Creates notifications from the outbox and sends what is due on the app's clock.

    Safe to run in several processes: a notification is created once (its id is fixed by its
    cause), and an attempt recorded twice is refused by the store. A delivery may repeat
    (at least once, e.g. after a crash between sending and recording); the
    ``X-Handover-Delivery`` header lets the receiver drop the repeat.
    """

    def __init__(self, app: NotificationUseCases, views: Views,
                 channels: list[Channel] | None = None, poll: float = 1.0,
                 catch_up_timeout: float = 5.0, max_backoff: float = 10.0) -> None:
        self.app = app
        self.views = views
        chosen: list[Channel] = [LogChannel(), WebhookChannel(app)] if channels is None else channels
        self.channels = {c.name: c for c in chosen}
        self.poll = poll
        self.catch_up_timeout = catch_up_timeout
        self.last: dict[str, int] | None = None
        self.error: BaseException | None = None
        self.failures = 0
        self.last_ok: datetime | None = None  # wall time of the last good round
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        runner = self.views.runners[OUTBOX]
        try:
            runner.wait(self.app.recorder.max_notification_id(), timeout=self.catch_up_timeout)
        except TimeoutError:
            pass  # the view is consistent at its own position: work from there, catch up later
        now = self.app.now()
        tally = {"queued": 0, "delivered": 0, "retrying": 0, "failed": 0}
        done: set[UUID] = set()
        queue = sorted(runner.view.scan("queue/").values(),
                       key=lambda d: (d["at"], d["alert_id"], d["alert_version"], d["channel"]))
        for item in queue:
            n = self.app.queue_notification(item, now)
            if n is None:
                continue
            tally["queued"] += 1
            done.add(n.id)
            if n.status == PENDING:
                self._attempt(n, tally)
            else:
                tally["failed"] += 1
        for doc in runner.view.scan("due/").values():
            nid = UUID(doc["notification_id"])
            if nid in done or datetime.fromisoformat(doc["next_attempt_at"]) > now:
                continue
            found = self.app.pending_notification(nid)  # the view may lag: the aggregate decides
            if found is not None and found.due(now):
                self._attempt(found, tally)
        self.last = tally
        return tally

    def _attempt(self, n: Notification, tally: dict[str, int]) -> None:
        channel = self.channels.get(n.channel)
        if channel is None:
            return  # not served by this deliverer: another one (or a later start) sends it
        try:
            sent = channel.send(n, self.app.now())
        except Exception as e:  # a broken channel is a failed attempt, recorded and retried
            log.exception("channel %s failed", n.channel)
            sent = Sent(False, error=f"{type(e).__name__}: {e}"[:300])
        if self.app.record_delivery(n, sent):
            tally[{DELIVERED: "delivered", FAILED: "failed"}.get(n.status, "retrying")] += 1

    def _loop(self) -> None:
        seen = self.app.saved.count
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as e:  # reported, and retried with back-off
                self.error = e
                self.failures += 1
                pause = min(self.max_backoff, 0.5 * 2 ** (self.failures - 1))
                log.error("deliverer round failed (%d in a row): %r; retrying in %.1fs",
                          self.failures, e, pause, exc_info=self.failures == 1)
                self._stop.wait(pause)
                continue
            if self.error is not None:
                log.warning("deliverer resumed after %d failed rounds", self.failures)
            self.error, self.failures, self.last_ok = None, 0, datetime.now().astimezone()
            # Woken by any save in this process (an alert raised by a command); the poll
            # catches retries coming due and writes from other processes.
            seen = self.app.saved.wait(seen, self.poll)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def health(self) -> dict[str, Any]:
        return {"running": self.running, "error": repr(self.error) if self.error else None,
                "failed_rounds": self.failures,
                "last_ok": self.last_ok.isoformat() if self.last_ok else None}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notification-deliverer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.app.saved.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()

