"""The watcher: runs the alert use case on the clock, in the API process or in the worker."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from time import monotonic, time
from typing import Any

from service.projections.deadlines import DeadlineIndex
from service.projections.failures import Backoff
from service.projections.views import Views
from service.use_cases.ports import Watched

log = logging.getLogger(__name__)


class Watcher:
    """Every ``interval`` seconds: let the views catch up, then raise, escalate and close alerts.

    A failed round (the store away, a view stuck) is logged, reported in ``/health`` and tried
    again with back-off, sooner than the next tick; the first good round clears it.

    A round asks the deadline index for what is due and what changed; with ``scan`` it reads
    the whole roster instead, as a check on the index (the same alerts either way)."""

    def __init__(self, app: Watched, views: Views, interval: float = 20.0, *,
                 backoff: Backoff | None = None, scan: bool = False) -> None:
        self.app = app
        self.views = views
        self.interval = interval
        self.scan = scan
        self.index = DeadlineIndex(app.recorder, app.name, views.view("roster"), views.view("alerts"))
        self.backoff = backoff or Backoff(first=1.0)
        self.last: dict[str, int] | None = None
        self.error: BaseException | None = None
        self.failures = 0
        self.position: int | None = None  # the log position its last good round saw
        self.last_ok: float | None = None  # wall time of the last good round
        self._started = monotonic()
        self._last_ok_mono: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        head = self.app.recorder.max_notification_id()
        for name in ("roster", "alerts"):
            self.views.runners[name].wait(head, timeout=30)
        self.last = self.app.watch(self.index) if self.scan else self.app.watch_due(self.index)
        self.position = head
        return self.last

    def _round(self) -> float:
        """One round; the seconds until the next."""
        try:
            self.run_once()
        except Exception as e:  # logged, reported and retried with back-off
            self.index.forget()  # what this round took off the index is looked at again
            self.error = e
            self.failures += 1
            delay = min(self.interval, self.backoff.delay(self.failures))
            log.error("watcher round failed (%d in a row): %r; retrying in %.1fs",
                      self.failures, e, delay, exc_info=self.failures == 1)
            return delay
        if self.error is not None:
            log.warning("watcher resumed after %d failed rounds", self.failures)
        self.error, self.failures = None, 0
        self.last_ok, self._last_ok_mono = time(), monotonic()
        return self.interval

    def _loop(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            delay = self._round()

    def start(self) -> None:
        self._started = monotonic()
        self._thread = threading.Thread(target=self._loop, name="alert-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def health(self, grace: float) -> dict[str, Any]:
        """Running, failing (with the cause) or behind: no good round for ``interval + grace``."""
        since = monotonic() - (self._last_ok_mono or self._started)
        return {"running": self.running, "error": repr(self.error) if self.error else None,
                "failed_rounds": self.failures, "position": self.position,
                "last_ok": datetime.fromtimestamp(self.last_ok, UTC).isoformat() if self.last_ok else None,
                "behind": since > self.interval + grace}
