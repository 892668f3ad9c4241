"""Where alert notifications go: the operators' log, and the school's signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

from service.adapters.outbound import AddressPolicy, RefusedAddressError, UnresolvableError
from service.domain.notification import Notification, Webhook

log = logging.getLogger("handover.notifications")
USER_AGENT = "Handover-Webhook/1"

# What an admin is told about a failed attempt: a category, never the transport's own words
# (they would map the school's network for anyone who can read the list).
REFUSED_ADDRESS, UNRESOLVABLE, TIMEOUT = "refused_address", "unresolvable", "timeout"
CONNECTION_FAILED, HTTP_STATUS, DELIVERY_ERROR = "connection_failed", "http_status", "delivery_error"
ERROR_CATEGORIES = (REFUSED_ADDRESS, UNRESOLVABLE, TIMEOUT, CONNECTION_FAILED, HTTP_STATUS,
                    DELIVERY_ERROR)


class Hooks(Protocol):
    """What the webhook channel reads: the school's webhook, and the outbound address policy."""

    @property
    def outbound(self) -> AddressPolicy: ...

    def webhook(self, school_id: str) -> Webhook | None: ...


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

    def __init__(self, app: Hooks, client: httpx.Client | None = None,
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
