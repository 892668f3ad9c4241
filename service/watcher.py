"""The watcher: runs the alert use case on the clock, in the API process or in the worker."""

from __future__ import annotations

import logging
import threading

from service.app_core import AppCore
from service.projections.views import Views

log = logging.getLogger(__name__)


class Watcher:
    """Every ``interval`` seconds: let the views catch up, then raise, escalate and close alerts."""

    def __init__(self, app: AppCore, views: Views, interval: float = 20.0) -> None:
        self.app = app
        self.views = views
        self.interval = interval
        self.last: dict[str, int] | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        head = self.app.recorder.max_notification_id()
        for name in ("roster", "alerts"):
            self.views.runners[name].wait(head, timeout=30)
        from service.use_cases.alerts import AlertUseCases
        assert isinstance(self.app, AlertUseCases)
        self.last = self.app.watch(self.views.view("roster"), self.views.view("alerts"))
        return self.last

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
                self.error = None
            except Exception as e:  # a failed round is retried on the next tick, and reported
                self.error = e
                log.exception("watcher round failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alert-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
