"""The outbox view: alert events to notify, the notifications due, and how each one went."""

from __future__ import annotations

from typing import Any

from service.adapters.channels import (
    CONNECTION_FAILED,
    DELIVERY_ERROR,
    ERROR_CATEGORIES,
    HTTP_STATUS,
    TIMEOUT,
)
from service.domain.alert import Alert
from service.domain.messages import alert_detail
from service.domain.notification import (
    DELIVERED,
    FAILED,
    PENDING,
    Notification,
    Webhook,
    raised_notify,
)
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.runtime import Batch, DocProjection, handles

OUTBOX = "outbox"


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
