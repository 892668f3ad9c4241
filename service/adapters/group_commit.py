"""Group commit: concurrent saves gathered into one transaction, each still its own outcome.

While one save is being written, others queue; the next writer takes every queued save and
records them together: one transaction, one table lock on PostgreSQL, one sync on SQLite, and
notification ids given in one run with no gap. Each save stays atomic (its events and its
idempotency record go in together or not at all); when the combined transaction is refused
for an integrity conflict, each save of that batch is written again alone, so only the save
that conflicts fails. A store failure fails every save of the batch: none was recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording

Record = Callable[[ProcessingEvent[Any]], list[Recording[Any]]]


class _Save:
    __slots__ = ("error", "event", "recordings")

    def __init__(self, event: ProcessingEvent[Any]) -> None:
        self.event = event
        self.recordings: list[Recording[Any]] | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.recordings is not None or self.error is not None


class GroupCommit:
    """Records processing events through ``record``, gathering those that arrive together."""

    def __init__(self, record: Record, max_batch: int = 64) -> None:
        self._record = record
        self.max_batch = max_batch
        self._cv = threading.Condition()
        self._queue: list[_Save] = []
        self._writing = False
        self.batches = 0  # transactions written, and the saves they carried: for benchmarks
        self.saves = 0

    def record(self, event: ProcessingEvent[Any]) -> list[Recording[Any]]:
        mine = _Save(event)
        with self._cv:
            self._queue.append(mine)
        while True:
            with self._cv:
                while not mine.done and self._writing:
                    self._cv.wait()
                if mine.done:
                    break
                self._writing = True
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            try:
                self._write(batch)
            finally:
                with self._cv:
                    self._writing = False
                    self._cv.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.recordings is not None
        return mine.recordings

    def _write(self, batch: list[_Save]) -> None:
        self.batches += 1
        self.saves += len(batch)
        if len(batch) == 1:
            self._alone(batch[0])
            return
        combined: ProcessingEvent[Any] = ProcessingEvent()
        for save in batch:
            combined.events.extend(save.event.events)
            combined.aggregates.update(save.event.aggregates)
        try:
            recordings = self._record(combined)
        except IntegrityError:
            for save in batch:  # which one conflicts: each alone, the others still recorded
                self._alone(save)
            return
        except Exception as e:  # noqa: BLE001 - handed to each waiting save, raised in its thread
            for save in batch:
                save.error = e
            return
        start = 0
        for save in batch:
            count = len(save.event.events)
            save.recordings = recordings[start:start + count]
            start += count

    def _alone(self, save: _Save) -> None:
        try:
            save.recordings = self._record(save.event)
        except Exception as e:  # noqa: BLE001 - handed to the waiting save, raised in its thread
            save.error = e
