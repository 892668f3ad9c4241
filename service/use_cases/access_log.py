"""The access recorder: every staff read of a pupil's personal data, saved in batches."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.application import Application

from service.domain.access import AccessRecord
from service.domain.common import Actor

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0


class AccessRecorder:
    """Collects reads in memory and saves them, one record per school, in one save.

    A read is noted in microseconds (no store round trip on the request); a flush saves
    everything pending every ``interval`` seconds, when ``batch`` reads are waiting, on
    demand and at shutdown. A failed save keeps the reads pending, is logged, shows in
    ``/health``, and is retried with back-off: a read is never dropped.
    """

    def __init__(self, app: Application[Any], *, interval: float = 0.5, batch: int = 500) -> None:
        self.app = app
        self.interval = interval
        self.batch = batch
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recorded = 0
        self.position: int | None = None  # the log position of the last save
        self.failures = 0
        self.error: str | None = None
        self.failing_since: datetime | None = None

    def note(self, actor: Actor, what: str, reads: Mapping[tuple[str, ...], Sequence[str]]) -> None:
        """Record that ``actor`` read these categories (keys) of these pupils (values)."""
        entries = [(actor.school_id, {
            "staff_id": actor.staff_id, "staff_name": actor.staff_name, "role": actor.role,
            "at": actor.at.isoformat(), "device": actor.device, "what": what,
            "pupil_ids": list(pupil_ids), "data": list(data),
        }) for data, pupil_ids in reads.items() if pupil_ids and data]
        if not entries:
            return
        with self._lock:
            self._pending.extend(entries)
            full = len(self._pending) >= self.batch
        if full:
            self._wake.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int | None:
        """Save every pending read now; the log position of the last save (None if none yet)."""
        with self._flushing:
            with self._lock:
                taken, self._pending = self._pending, []
            if not taken:
                return self.position
            by_school: dict[str, list[dict[str, Any]]] = {}
            for school_id, read in taken:
                by_school.setdefault(school_id, []).append(read)
            try:
                records = [AccessRecord.of(school_id, reads) for school_id, reads in by_school.items()]
                recordings = self.app.save(*records)
            except Exception as e:
                with self._lock:
                    self._pending[:0] = taken  # keep them, in order, for the next attempt
                self.failures += 1
                self.error = repr(e)
                self.failing_since = self.failing_since or datetime.now().astimezone()
                log.error("access records not saved (%d reads pending): %r", len(taken), e)
                raise
            self.recorded += len(taken)
            self.error = None
            self.failing_since = None
            if recordings:
                self.position = int(recordings[-1].notification.id)
            return self.position

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="access-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background flushes and save what is still pending."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - already logged and kept; say how many are left
            log.error("access records still pending at shutdown: %d", self.pending)

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
                delay = self.interval
            except Exception:  # noqa: BLE001 - logged, kept pending, shown in /health; retried
                delay = min(max(delay, self.interval) * 2, MAX_BACKOFF)

    def health(self) -> dict[str, Any]:
        running = self._thread is not None and self._thread.is_alive()
        return {"pending": self.pending, "recorded": self.recorded, "failures": self.failures,
                "running": running, "error": self.error,
                "failing_since": self.failing_since.isoformat() if self.failing_since else None}
