"""The deliverer: creates notifications from the outbox and sends what is due."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from uuid import UUID

from service.adapters.channels import Channel, LogChannel, Sent, WebhookChannel
from service.domain.notification import DELIVERED, FAILED, PENDING, Notification
from service.projections.outbox import OUTBOX
from service.projections.views import Views
from service.use_cases.ports import Delivering

log = logging.getLogger("handover.notifications")


class Deliverer:
    """Creates notifications from the outbox and sends what is due on the app's clock.

    Safe to run in several processes: a notification is created once (its id is fixed by its
    cause), and an attempt recorded twice is refused by the store. A delivery may repeat
    (at least once, e.g. after a crash between sending and recording); the
    ``X-Handover-Delivery`` header lets the receiver drop the repeat.
    """

    def __init__(self, app: Delivering, views: Views,
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
