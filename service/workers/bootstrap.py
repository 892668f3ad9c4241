"""One bootstrap for every process that runs the background: ``serve``, ``demo`` and ``worker``.

It opens the application on the configured store and builds what keeps it current over that
application: the views, the alert watcher and the notification deliverer.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.adapters.store import STORE_ERRORS
from service.adapters.wake import PgWake, pg_wake
from service.projections.failures import Backoff
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.application import HandoverApp
from service.use_cases.clock import Clock
from service.workers.checkpointer import Checkpointer
from service.workers.deliverer import Deliverer
from service.workers.watcher import Watcher

log = logging.getLogger(__name__)


def open_application(settings: Settings, *, clock: Clock | None = None) -> HandoverApp:
    """The application over the store the settings name."""
    return HandoverApp(env=settings.eventsourcing_env(), clock=clock)


class Opening:
    """Opens the application, and while the store does not answer keeps trying with back-off.

    A process started while its database is away does not exit: it says so (logs, and ``/health``
    through ``error``), tries again, and once the store answers hands the application to
    ``ready`` and carries on as if it had started then. Any other error (a wrong setting) is
    not retried: it stops the start-up as before."""

    def __init__(self, open_app: Callable[[], HandoverApp], ready: Callable[[HandoverApp], None],
                 backoff: Backoff | None = None, *, owned: bool = True) -> None:
        self.open_app, self.ready, self.owned = open_app, ready, owned
        self.backoff = backoff or Backoff(first=1.0, cap=15.0)
        self.app: HandoverApp | None = None
        self.error: BaseException | None = None
        self.attempts = 0
        self.failing_since: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def opened(self) -> bool:
        return self.app is not None

    def try_once(self) -> bool:
        """One attempt; True when the application is open and handed over."""
        app: HandoverApp | None = None
        try:
            app = self.open_app()
            self.ready(app)  # the views' tables are made here: the store may go away meanwhile
        except STORE_ERRORS as e:
            if app is not None and self.owned:
                app.close()
            self.attempts += 1
            self.error = e
            self.failing_since = self.failing_since or datetime.now(UTC)
            log.error("the store does not answer (attempt %d): %r; trying again in %.0fs",
                      self.attempts, e, self.backoff.delay(self.attempts))
            return False
        if self.attempts:
            log.warning("the store answered after %d failed attempts: started", self.attempts)
        self.app, self.error = app, None
        return True

    def start(self) -> None:
        """Keep trying in the background until the store answers (or ``stop``)."""
        def loop() -> None:
            while not self.opened and not self._stop.wait(self.backoff.delay(self.attempts)):
                try:
                    self.try_once()
                except Exception:  # a start-up step failed past the store: said, and tried again
                    self.attempts += 1
                    log.exception("starting over the store failed (attempt %d)", self.attempts)
        self._thread = threading.Thread(target=loop, name="store-opening", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


@dataclass
class Background:
    """The views, the watcher, the deliverer and the checkpointer over one application, started
    and stopped together."""

    views: Views
    watcher: Watcher
    deliverer: Deliverer
    checkpointer: Checkpointer
    wake: PgWake | None = None  # on PostgreSQL: woken by other processes' writes

    def start(self) -> None:
        self.views.start()
        self.watcher.start()
        self.deliverer.start()
        self.checkpointer.start()
        self.listen()

    def listen(self) -> None:
        """Only the wake-up on other processes' writes (an API process whose views run in the
        worker still serves live streams)."""
        if self.wake is not None:
            self.wake.start()

    def stop(self) -> None:
        if self.wake is not None:
            self.wake.stop()
        self.checkpointer.stop()
        self.deliverer.stop()
        self.watcher.stop()
        self.views.stop()

    def errors(self) -> dict[str, BaseException | None]:
        """Each part's current error (None: working), by the name an operator reads."""
        states = {f"view {name}": runner.error for name, runner in self.views.runners.items()}
        woken = {} if self.wake is None else {"wake-up on writes": self.wake.error}
        return states | {"watcher": self.watcher.error, "deliverer": self.deliverer.error,
                         "checkpointer": self.checkpointer.error} | woken


def background(app: HandoverApp, settings: Settings) -> Background:
    """The background over ``app``, configured by ``settings``; not yet started."""
    views = Views(app, settings)
    watcher = Watcher(app, views, settings.watch_interval,
                      backoff=Backoff(first=1.0, cap=settings.retry_max_backoff))
    deliverer = Deliverer(app, views, max_backoff=settings.retry_max_backoff)
    checkpointer = Checkpointer(views, app.clock, settings.checkpoint_interval,
                                backoff=Backoff(first=1.0, cap=settings.retry_max_backoff))
    datastore = getattr(app.factory, "datastore", None)
    wake = pg_wake(datastore, app.recorder, app.saved.notify) if settings.store == "postgres" else None
    return Background(views, watcher, deliverer, checkpointer, wake)


HEARTBEAT = "heartbeat/worker"  # a document of the alerts view, outside its tracked writes


def beat(running: Background, settings: Settings) -> None:
    """The worker's heartbeat, where the API processes read it (the views' shared store): when,
    and how each of its parts stands. Without a fresh one, ``/health`` says no worker runs."""
    parts = {"watcher": running.watcher.health(settings.health_watcher_grace),
             "deliverer": running.deliverer.health(),
             "checkpointer": running.checkpointer.health()}
    views = {name: repr(r.error) if r.error else None for name, r in running.views.runners.items()}
    running.views.view("alerts").replace(HEARTBEAT, {
        "at": datetime.now(UTC).isoformat(), "pid": os.getpid(), "host": socket.gethostname(),
        "parts": parts, "views": views})


def worker_health(views: Views, settings: Settings) -> dict[str, Any]:
    """How the worker stands, read from its heartbeat by a process that does not run the views:
    failing when it is missing, older than the watcher's interval and grace, or reports a part
    failing (each named)."""
    doc = views.view("alerts").get(HEARTBEAT)
    if doc is None:
        return {"running": False, "error": "no worker has reported: run `handover worker` beside "
                "the API (the views, the alert watcher and the deliverer run there)",
                "failed_rounds": 0, "last_ok": None}
    age = (datetime.now(UTC) - datetime.fromisoformat(doc["at"])).total_seconds()
    limit = settings.watch_interval + settings.health_watcher_grace
    problems = [f"{name}: {part['error'] or 'behind'}" for name, part in doc["parts"].items()
                if part.get("error") or part.get("behind") or not part.get("running", True)]
    problems += [f"view {name}: {error}" for name, error in doc["views"].items() if error]
    if age > limit:
        problems.insert(0, f"the worker's last heartbeat is {age:.0f} s old (pid {doc['pid']} on "
                           f"{doc['host']}): it has stopped or cannot reach the store")
    return {"running": age <= limit, "error": "; ".join(problems) or None,
            "failed_rounds": sum(int(p.get("failed_rounds") or 0) for p in doc["parts"].values()),
            "last_ok": doc["at"]}
