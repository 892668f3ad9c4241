"""One bootstrap for every process that runs the background: ``serve``, ``demo`` and ``worker``.

It opens the application on the configured store and builds what keeps it current over that
application: the views, the alert watcher and the notification deliverer.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.projections.failures import Backoff
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.application import HandoverApp
from service.use_cases.clock import Clock
from service.workers.checkpointer import Checkpointer
from service.workers.deliverer import Deliverer
from service.workers.watcher import Watcher


def open_application(settings: Settings, *, clock: Clock | None = None) -> HandoverApp:
    """The application over the store the settings name."""
    return HandoverApp(env=settings.eventsourcing_env(), clock=clock)


@dataclass
class Background:
    """The views, the watcher, the deliverer and the checkpointer over one application, started
    and stopped together."""

    views: Views
    watcher: Watcher
    deliverer: Deliverer
    checkpointer: Checkpointer

    def start(self) -> None:
        self.views.start()
        self.watcher.start()
        self.deliverer.start()
        self.checkpointer.start()

    def stop(self) -> None:
        self.checkpointer.stop()
        self.deliverer.stop()
        self.watcher.stop()
        self.views.stop()

    def errors(self) -> dict[str, BaseException | None]:
        """Each part's current error (None: working), by the name an operator reads."""
        states = {f"view {name}": runner.error for name, runner in self.views.runners.items()}
        return states | {"watcher": self.watcher.error, "deliverer": self.deliverer.error,
                         "checkpointer": self.checkpointer.error}


def background(app: HandoverApp, settings: Settings) -> Background:
    """The background over ``app``, configured by ``settings``; not yet started."""
    views = Views(app, settings)
    watcher = Watcher(app, views, settings.watch_interval,
                      backoff=Backoff(first=1.0, cap=settings.retry_max_backoff))
    deliverer = Deliverer(app, views, max_backoff=settings.retry_max_backoff)
    checkpointer = Checkpointer(views, app.clock, settings.checkpoint_interval,
                                backoff=Backoff(first=1.0, cap=settings.retry_max_backoff))
    return Background(views, watcher, deliverer, checkpointer)
