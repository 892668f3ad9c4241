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
from time import monotonic, time
from typing import Any, ClassVar

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification, Tracking
from eventsourcing.projection import Projection

from service.adapters.store import is_store_unavailable
from service.projections.docstore import Doc, DocView
from service.projections.failures import (
    Backoff,
    EventNotApplied,
    Failure,
    Undecodable,
    decode,
)
from service.use_cases.signal import SaveSignal

log = logging.getLogger(__name__)
# While full batches keep coming (a rebuild, a view catching up), a reader reads ever larger ones,
# up to this many times its batch size: fewer commits, and a document that many events change
# (a pupil's day, a month's statement) is read and written once for all of them.
CATCH_UP = 16
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

    def load(self, keys: Sequence[str]) -> None:
        """Read the documents not read yet in one go (a key without one is read as absent)."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self.loaded]
        found = self.view.get_many(wanted) if wanted else {}
        for key in wanted:
            self.loaded[key] = found.get(key)

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
    # Whether its reader decodes every event for it; if not, it is given ``Deferred`` ones.
    decodes: ClassVar[bool] = True
    # The kinds of ``<kind>-index/<aggregate id>`` documents (``{"key": ...}``) its handlers read.
    indexes: ClassVar[tuple[str, ...]] = ()

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

    def prefetch(self, notifications: Sequence[Notification], batch: Batch) -> None:
        """Read into the batch, at once, the documents its records will need: by default the
        index documents (``indexes``) of the aggregates the records are of, and the documents
        they name, so that a batch of a rebuild costs a few reads, not one per event."""
        if not self.indexes:
            return
        ids = {str(n.originator_id) for n in notifications}
        keys = [f"{kind}-index/{i}" for kind in self.indexes for i in ids]
        batch.load(keys)
        batch.load([doc["key"] for k in keys
                    if (doc := batch.loaded.get(k)) is not None and isinstance(doc.get("key"), str)])

    def apply_recorded(self, notification: Notification, event: Any, batch: Batch) -> None:
        """Apply one stored record as read from the log (its decoded event beside it); a
        projection of the stored bytes themselves overrides this."""
        if isinstance(event, Undecodable):
            raise event.error
        self.apply(event, batch)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """One event, committed with its position (for callers outside the runner)."""
        batch = Batch(self.view)
        self.apply(domain_event, batch)
        self.view.commit(batch.changes, tracking)


class Runner:
    """Applies the application's log to one projection's view, exactly once, resumably."""

    def __init__(self, app: Application[Any], projection: DocProjection, *,
                 signal: SaveSignal | None = None, batch_size: int = 500, poll: float = 0.25,
                 coalesce: float = 0.01, backoff: Backoff | None = None) -> None:
        self.app = app
        self.projection = projection
        self.view = projection.view
        self.signal = signal or SaveSignal()
        self.batch_size = batch_size
        self._limit: int | None = None  # what the next read asks for, when not one batch
        self.poll = poll
        self.coalesce = coalesce
        self.backoff = backoff or Backoff()
        self.failure: Failure | None = None
        self.last_position: int | None = None  # as last read, for /health while the store is away
        self._stopped = threading.Event()
        self.host: SharedReader | None = None  # the reader applying to this view, once started
        self._own: SharedReader | None = None

    @property
    def error(self) -> BaseException | None:
        return self.failure.error if self.failure else None

    @property
    def position(self) -> int:
        self.last_position = self.view.max_tracking_id(self.app.name) or 0
        return self.last_position

    def run_once(self) -> int:
        """Apply the next batch of notifications; the number applied (0 when caught up)."""
        start = self.position
        limit = self._limit or self.batch_size
        notifications = self.app.recorder.select_notifications(
            start=start, limit=limit, inclusive_of_start=False)
        self._limit = next_limit(limit, len(notifications), self.batch_size)
        if not notifications:
            return 0
        return self.apply(start, notifications, decode(
            self.app, notifications, deferred=not self.projection.decodes))

    def apply(self, start: int, notifications: Sequence[Notification], events: Sequence[Any]) -> int:
        """Apply the notifications after ``start`` and commit them with the last position, but
        only if the view is still at ``start``: nothing is applied twice or skipped.

        An event the projection cannot apply raises ``EventNotApplied`` after the events before
        it are committed, so the view stops exactly in front of it."""
        todo = (list(zip(notifications, events, strict=True)) if notifications and notifications[0].id > start
                else [(n, e) for n, e in zip(notifications, events, strict=True) if n.id > start])
        if not todo:
            return 0
        batch = Batch(self.view)
        self.projection.prefetch([n for n, _ in todo], batch)
        for i, (n, event) in enumerate(todo):
            try:
                self.projection.apply_recorded(n, event, batch)
            except Exception as e:
                if is_store_unavailable(e):
                    raise
                if i:
                    self._commit(start, todo[:i])
                raise EventNotApplied(self.projection.name, n.id, n.topic, e) from e
        return self._commit(start, todo, batch)

    def _commit(self, start: int, todo: Sequence[tuple[Notification, Any]], batch: Batch | None = None) -> int:
        if batch is None:  # the events before one that failed: apply them again, alone
            batch = Batch(self.view)
            for n, event in todo:
                self.projection.apply_recorded(n, event, batch)
        try:
            self.view.commit(batch.changes, Tracking(self.app.name, todo[-1][0].id), after=start)
        except IntegrityError:
            return 0  # another runner (or a rebuild) moved the view first
        self.last_position = todo[-1][0].id
        return len(todo)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        total = 0
        while n := self.run_once():
            total += n
            if progress:
                progress(n)
        return total

    # -- failures: reported, retried with back-off, cleared by the next success ---------------
    def failed(self, error: BaseException) -> None:
        previous = self.failure
        attempts = previous.attempts + 1 if previous else 1
        failing_at = error.position if isinstance(error, EventNotApplied) else None
        cause = error.cause if isinstance(error, EventNotApplied) else error
        school = previous.school_id if previous and previous.failing_at == failing_at else None
        if failing_at is not None and school is None:
            school = self._school_of(failing_at)
        delay = self.backoff.delay(attempts)
        self.failure = Failure(cause, self.last_position, failing_at, school, attempts,
                               previous.since if previous else time(), monotonic() + delay)
        what = (f"cannot apply the event at position {failing_at} (school {school})"
                if failing_at is not None else "cannot reach the store")
        if previous is None or attempts % 10 == 0:
            log.error("view %s %s, stuck at %s: %r; retrying in %.1fs (attempt %d)",
                      self.projection.name, what, self.last_position, cause, delay, attempts,
                      exc_info=cause if previous is None else None)
        else:
            log.warning("view %s %s, stuck at %s: %r; retrying in %.1fs (attempt %d)",
                        self.projection.name, what, self.last_position, cause, delay, attempts)

    def succeeded(self) -> None:
        if self.failure is not None:
            log.warning("view %s resumed after %d failed attempts, at position %s",
                        self.projection.name, self.failure.attempts, self.last_position)
            self.failure = None

    def due(self, now: float) -> bool:
        return not self.stopped and (self.failure is None or self.failure.retry_at <= now)

    def _school_of(self, position: int) -> str | None:
        """The school whose event it is: from the event, or from its aggregate as then."""
        try:
            [n] = self.app.recorder.select_notifications(start=position, limit=1)
            event = self.app.mapper.to_domain_event(n)
            school = getattr(event, "school_id", None)
            if school is None:
                aggregate: Any = self.app.repository.get(n.originator_id, version=n.originator_version)
                school = getattr(aggregate, "school_id", None)
                if school is None and type(aggregate).__name__ == "School":
                    school = aggregate.id
            return None if school is None else str(school)
        except Exception:  # noqa: BLE001 - naming the school is a courtesy, never a second failure
            return None

    # -- running on its own -------------------------------------------------------------------
    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def start(self) -> None:
        self._stopped.clear()
        self._own = SharedReader(self.app, [self], signal=self.signal, batch_size=self.batch_size,
                                 poll=self.poll, coalesce=self.coalesce)
        self._own.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._own is not None:
            self._own.stop()

    def wait(self, position: int | None, timeout: float = 5.0) -> None:
        try:
            self.view.wait(self.app.name, position, timeout)
        except TimeoutError as e:
            if self.failure is not None:
                failure = self.failure.report()
                raise TimeoutError(f"{e}: it is stuck at {failure['stuck_at']} "
                                   f"({failure['cause']})") from None
            raise

    @property
    def running(self) -> bool:
        return self.host is not None and self.host.alive and not self.stopped

    def lag(self, head: int | None = None, *, fresh: bool = True) -> dict[str, Any]:
        """Where the view is against the log; not ``fresh`` (its store being away), from the
        position last seen rather than asking the store again."""
        if head is None:
            head = self.app.recorder.max_notification_id() or 0
        pos = self.position if fresh else self.last_position
        return {"position": pos, "head": head,
                "lag": None if pos is None else max(0, head - pos),
                "running": self.running and self.failure is None,
                "error": repr(self.error) if self.error else None,
                "failure": self.failure.report() if self.failure else None}


def next_limit(limit: int, read: int, batch_size: int) -> int:
    """How many notifications a reader asks for next, having asked for ``limit`` and read
    ``read``: twice as many after a full batch, up to ``CATCH_UP`` batches, else one batch."""
    return min(limit * 2, batch_size * CATCH_UP) if read >= limit else batch_size


class SharedReader:
    """One thread for many views: each notification is read and decoded once, then applied to
    every view still behind it; each view commits its own batch with its own position.

    Nothing stops the thread but ``stop()``: a view that fails (the store away, or an event it
    cannot apply) is reported, retried with back-off and resumes by itself; the others go on."""

    def __init__(self, app: Application[Any], runners: Sequence[Runner], *, signal: SaveSignal,
                 batch_size: int = 500, poll: float = 0.25, coalesce: float = 0.01,
                 name: str = "views") -> None:
        self.app, self.runners, self.signal = app, list(runners), signal
        self.batch_size, self.poll, self.coalesce = batch_size, poll, coalesce
        self._limit: int | None = None  # what the next read asks for, when not one batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def round(self) -> int:
        active = [r for r in self.runners if r.due(monotonic())]
        if not active:
            return 0
        starts: dict[int, int] = {}
        for runner in list(active):
            try:
                starts[id(runner)] = runner.position
            except Exception as e:  # noqa: BLE001 - reported and retried by failed()
                runner.failed(e)
                active.remove(runner)
        if not active:
            return 0
        limit = self._limit or self.batch_size
        try:
            notifications = self.app.recorder.select_notifications(
                start=min(starts.values()), limit=limit, inclusive_of_start=False)
        except Exception as e:  # noqa: BLE001 - the store is away: every view waiting says so
            self._limit = None
            for runner in active:
                runner.failed(e)
            return 0
        self._limit = next_limit(limit, len(notifications), self.batch_size)
        deferred = not any(r.projection.decodes for r in active)
        events = decode(self.app, notifications, deferred=deferred) if notifications else []
        for runner in active:
            try:
                if notifications:
                    runner.apply(starts[id(runner)], notifications, events)
                runner.succeeded()
            except Exception as e:  # noqa: BLE001 - this view waits, visibly; the others go on
                runner.failed(e)
        return len(notifications)

    def _next_retry(self) -> float:
        retries = [r.failure.retry_at for r in self.runners if r.failure is not None and not r.stopped]
        return max(0.0, min(retries) - monotonic()) if retries else self.poll

    def _loop(self) -> None:
        seen = self.signal.count
        while not self._stop.is_set():
            try:
                read = self.round()
            except Exception:  # never let the thread die: log, pause, go on
                log.exception("view reader round failed")
                read = 0
                self._stop.wait(1.0)
            if read:
                if read < self.batch_size:
                    self._stop.wait(self.coalesce)  # let a burst of saves gather
                continue
            seen = self.signal.wait(seen, max(0.01, min(self.poll, self._next_retry())))

    def start(self) -> None:
        for runner in self.runners:
            runner.host = self
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.signal.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def time_to_reach(runner: Runner, position: int, timeout: float = 10.0) -> float:
    """Seconds until the view reflects a position: the projection lag a user sees."""
    t0 = monotonic()
    runner.wait(position, timeout)
    return monotonic() - t0
