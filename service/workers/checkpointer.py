"""The checkpointer: signs each school's chain when a checkpoint is due, on the clock."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from time import time
from typing import Any

from service.domain.evidence import Checkpoint
from service.projections.failures import Backoff
from service.projections.views import Views
from service.use_cases.clock import Clock

log = logging.getLogger(__name__)


class Checkpointer:
    """Every ``interval`` seconds: sign the checkpoints the chain view makes due. It only reads
    the chain view, so a failure here never holds a write back; it is reported in ``/health``
    and retried with back-off."""

    def __init__(self, views: Views, clock: Clock, interval: float = 5.0, *,
                 backoff: Backoff | None = None) -> None:
        self.views, self.clock, self.interval = views, clock, interval
        self.backoff = backoff or Backoff(first=1.0)
        self.error: BaseException | None = None
        self.failures = 0
        self.signed = 0
        self.last_ok: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, *, force: bool = False) -> list[Checkpoint]:
        return self.views.evidence.sign_due(self.clock.now(), force=force)

    def _round(self) -> float:
        try:
            made = self.run_once()
        except Exception as e:  # logged, reported and retried with back-off
            self.error = e
            self.failures += 1
            delay = min(self.interval, self.backoff.delay(self.failures))
            log.error("checkpointer round failed (%d in a row): %r; retrying in %.1fs",
                      self.failures, e, delay, exc_info=self.failures == 1)
            return delay
        if self.error is not None:
            log.warning("checkpointer resumed after %d failed rounds", self.failures)
        self.error, self.failures = None, 0
        self.signed += len(made)
        self.last_ok = time()
        return self.interval

    def _loop(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            delay = self._round()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> dict[str, Any]:
        return {"running": self.running, "error": repr(self.error) if self.error else None,
                "failed_rounds": self.failures,
                "last_ok": datetime.fromtimestamp(self.last_ok, UTC).isoformat() if self.last_ok else None}
