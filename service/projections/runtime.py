"""Running projections on every store: poll the log from the view's position, woken after each save.

The library's SQLite recorder cannot subscribe in 9.5, so every store uses the same runner:
read notifications after the view's tracked position, apply them to a batch, and commit the
batch's documents with the batch's last position in one transaction. An in-process condition
wakes the runner right after a save; a short poll picks up writes from other processes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from time import monotonic
from typing import Any, ClassVar

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification, Tracking
from eventsourcing.projection import Projection

from service.projections.docstore import Doc, DocView

log = logging.getLogger(__name__)
Handler = Callable[[Any, Any, "Batch"], None]


class Batch:
    """Reads go through to the view once; writes are staged until the runner commits."""

    def __init__(self, view: DocView) -> None:
        self.view = view
        self.loaded: dict[str, Doc | None] = {}
        self.changes: dict[str, Doc | None] = {}

    def get(self, key: str) -> Doc | None:
        if key not in self.loaded:
            self.loaded[key] = self.view.get(key)
        return self.loaded[key]

    def put(self, key: str, doc: Doc) -> None:
        self.loaded[key] = doc
        self.changes[key] = doc

    def delete(self, key: str) -> None:
        self.loaded[key] = None
        self.changes[key] = None


def handles(*event_classes: type) -> Callable[[Handler], Handler]:
    """Mark a projection method as the handler of these event classes."""
    def mark(fn: Handler) -> Handler:
        fn.__handles__ = event_classes  # type: ignore[attr-defined]
        return fn
    return mark


class DocProjection(Projection[DocView]):
    """A projection whose handlers stage document changes in a batch."""

    _handlers: ClassVar[dict[type, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for event_class in getattr(fn, "__handles__", ()):
                    cls._handlers[event_class] = attr

    def apply(self, event: Any, batch: Batch) -> None:
        attr = self._handlers.get(type(event))
        if attr is not None:
            getattr(self, attr)(event, batch)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """One event, committed with its position (for callers outside the runner)."""
        batch = Batch(self.view)
        self.apply(domain_event, batch)
        self.view.commit(batch.changes, tracking)


class SaveSignal:
    """Set by the application after every save; runners wait on it instead of sleeping."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    def notify(self) -> None:
        with self._cond:
            self._count += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            if self._count == seen:
                self._cond.wait(timeout)
            return self._count

    @property
    def count(self) -> int:
        return self._count


class Runner:
    """Applies the application's log to one projection's view, exactly once, resumably."""

    def __init__(self, app: Application[Any], projection: DocProjection, *,
                 signal: SaveSignal | None = None, batch_size: int = 500, poll: float = 0.25,
                 coalesce: float = 0.01) -> None:
        self.app = app
        self.projection = projection
        self.view = projection.view
        self.signal = signal or SaveSignal()
        self.batch_size = batch_size
        self.poll = poll
        self.coalesce = coalesce
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.host: threading.Thread | None = None  # the shared reader applying to this view, if any

    @property
    def position(self) -> int:
        return self.view.max_tracking_id(self.app.name) or 0

    def run_once(self) -> int:
        """Apply the next batch of notifications; the number applied (0 when caught up)."""
        start = self.position
        notifications = self.app.recorder.select_notifications(
            start=start, limit=self.batch_size, inclusive_of_start=False)
        if not notifications:
            return 0
        return self.apply(start, notifications, [self.app.mapper.to_domain_event(n) for n in notifications])

    def apply(self, start: int, notifications: Sequence[Notification], events: Sequence[Any]) -> int:
        """Apply the notifications after ``start`` and commit them with the last position, but
        only if the view is still at ``start``: nothing is applied twice or skipped."""
        todo = [(n, e) for n, e in zip(notifications, events, strict=True) if n.id > start]
        if not todo:
            return 0
        batch = Batch(self.view)
        for _, event in todo:
            self.projection.apply(event, batch)
        try:
            self.view.commit(batch.changes, Tracking(self.app.name, todo[-1][0].id), after=start)
        except IntegrityError:
            return 0  # another runner (or a rebuild) moved the view first
        return len(todo)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        total = 0
        while n := self.run_once():
            total += n
            if progress:
                progress(n)
        return total

    def _loop(self) -> None:
        seen = self.signal.count
        while not self._stop.is_set():
            try:
                applied = self.run_once()
                if applied:
                    if applied < self.batch_size:
                        # Let a burst of saves gather: one commit for many events, not one each.
                        self._stop.wait(self.coalesce)
                    continue
            except Exception as e:  # keep the cause visible in /health; never skip the event
                self.error = e
                log.exception("projection %s stopped", self.projection.name)
                return
            seen = self.signal.wait(seen, self.poll)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"view-{self.projection.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.signal.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self, position: int | None, timeout: float = 5.0) -> None:
        if self.error is not None:
            raise RuntimeError(f"view {self.projection.name} stopped: {self.error!r}")
        self.view.wait(self.app.name, position, timeout)

    def lag(self) -> dict[str, Any]:
        head = self.app.recorder.max_notification_id() or 0
        pos = self.position
        host = self._thread or self.host
        return {"position": pos, "head": head, "lag": head - pos,
                "running": bool(host and host.is_alive()) and not self.stopped and self.error is None,
                "error": repr(self.error) if self.error else None}


class SharedReader:
    """One thread for many views: each notification is read and decoded once, then applied to
    every view still behind it; each view commits its own batch with its own position."""

    def __init__(self, app: Application[Any], runners: Sequence[Runner], *, signal: SaveSignal,
                 batch_size: int = 500, poll: float = 0.25, coalesce: float = 0.01) -> None:
        self.app, self.runners, self.signal = app, list(runners), signal
        self.batch_size, self.poll, self.coalesce = batch_size, poll, coalesce
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="views", daemon=True)

    def round(self) -> int:
        active = [r for r in self.runners if not r.stopped and r.error is None]
        if not active:
            return 0
        starts = {id(r): r.position for r in active}
        notifications = self.app.recorder.select_notifications(
            start=min(starts.values()), limit=self.batch_size, inclusive_of_start=False)
        if not notifications:
            return 0
        events = [self.app.mapper.to_domain_event(n) for n in notifications]
        for runner in active:
            try:
                runner.apply(starts[id(runner)], notifications, events)
            except Exception as e:  # this view stops, visibly; the others go on
                runner.error = e
                log.exception("projection %s stopped", runner.projection.name)
        return len(notifications)

    def _loop(self) -> None:
        seen = self.signal.count
        while not self._stop.is_set():
            read = self.round()
            if read:
                if read < self.batch_size:
                    self._stop.wait(self.coalesce)  # let a burst of saves gather
                continue
            seen = self.signal.wait(seen, self.poll)

    def start(self) -> None:
        for runner in self.runners:
            runner.host = self._thread
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.signal.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def time_to_reach(runner: Runner, position: int, timeout: float = 10.0) -> float:
    """Seconds until the view reflects a position: the projection lag a user sees."""
    t0 = monotonic()
    runner.wait(position, timeout)
    return monotonic() - t0
