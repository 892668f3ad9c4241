"""Notification use cases: the school's webhook, and recording what the deliverer did."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from service.adapters.channels import Sent
from service.adapters.outbound import RefusedAddressError, UnresolvableError
from service.domain.common import Actor
from service.domain.errors import ConflictError, RuleError
from service.domain.notification import PENDING, STALE_AFTER, Notification, Webhook, check_webhook
from service.use_cases.core import AppCore, Decision, Outcome, as_uuid
from service.use_cases.ports import Doc


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
