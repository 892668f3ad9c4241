"""The views of one application: one tracked document view and one runner per projection."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresDatastore

from service.adapters.signing_keys import KeyFiles
from service.adapters.store import is_store_unavailable
from service.domain.errors import RuleError
from service.projections.access_log import AccessLog
from service.projections.alerts import Alerts
from service.projections.cache import RosterCache
from service.projections.care_log import CareLog
from service.projections.docstore import DocView, MemoryDocView, PostgresDocView, SQLiteDocView
from service.projections.evidence import SIGNED, Chain, Evidence
from service.projections.failures import Backoff
from service.projections.feed import Feed
from service.projections.incidents import Incidents
from service.projections.outbox import Outbox
from service.projections.roster import Roster
from service.projections.runtime import DocProjection, Runner, SharedReader
from service.projections.statements import Statements
from service.projections.tokens import StaffTokens
from service.settings import Settings
from service.use_cases.core import AppCore

LIVE = ("roster", "alerts")
PROJECTIONS: tuple[type[DocProjection], ...] = (Roster, Alerts, CareLog, Statements, Outbox,
                                               StaffTokens, AccessLog, Incidents, Chain)


def make_view(name: str, settings: Settings, app: AppCore) -> DocView:
    """The view's store beside the events', sealed with the events' cipher when they are."""
    cipher = app.mapper.cipher
    if settings.store == "postgres":
        datastore = getattr(app.factory, "datastore", None)
        assert isinstance(datastore, PostgresDatastore)
        return PostgresDocView(name, datastore, cipher)
    if settings.store == "sqlite":
        return SQLiteDocView(name, str(settings.data_dir / "views.sqlite3"), cipher)
    return MemoryDocView(name)


class Views:
    """Every read model of the application, kept up to date by its runner."""

    def __init__(self, app: AppCore, settings: Settings) -> None:
        self.app = app
        self.batch_size = settings.view_batch_size
        self._readers: list[SharedReader] = []
        self.runners: dict[str, Runner] = {}
        self.started = False
        self.feed: Feed | None = None  # what every open stream of this process reads, once one opens
        backoff = Backoff(cap=settings.retry_max_backoff)
        for cls in PROJECTIONS:
            projection = cls(make_view(cls.name, settings, app))
            self.runners[cls.name] = Runner(app, projection, signal=app.saved,
                                            batch_size=settings.view_batch_size, backoff=backoff)
        # The afternoon's and the pupil list's reads of the roster, decoded once per process.
        self.roster_cache = RosterCache(self.view("roster"), app.recorder, app.name)
        self.evidence = Evidence(self.view(Chain.name), make_view(SIGNED, settings, app),
                                 KeyFiles(settings.signing_keys_dir, settings.store_cipher_key()))

    def view(self, name: str) -> DocView:
        return self.runners[name].view

    def start(self) -> None:
        # The live views (what the gate and the watcher read) get a reader of their own, so a
        # slower report view (care log, statements, outbox) never holds the roster back.
        # The evidence chain reads the stored bytes on a reader of its own, decoding only each
        # aggregate's first event, so it never holds a report view back either.
        live = [r for name, r in self.runners.items() if name in LIVE]
        chain = [r for name, r in self.runners.items() if name == Chain.name]
        rest = [r for name, r in self.runners.items() if name not in LIVE and name != Chain.name]
        self._readers = [SharedReader(self.app, group, signal=self.app.saved, batch_size=self.batch_size,
                                      name=f"views-{label}")
                         for label, group in (("live", live), ("reports", rest), ("evidence", chain)) if group]
        for reader in self._readers:
            reader.start()
        self.started = True

    def stop(self) -> None:
        for reader in self._readers:
            reader.stop()
        for runner in self.runners.values():
            runner.stop()

    def catch_up(self) -> None:
        for runner in self.runners.values():
            runner.catch_up()

    def reflect(self, name: str, position: int | None, timeout: float = 5.0) -> None:
        """Read-your-writes: wait until the view has applied the log up to ``position``."""
        if position is None:
            return
        head = self.app.recorder.max_notification_id() or 0
        if position > head:
            raise RuleError(f"Log position {position} has not been written yet (head {head}).",
                            field="min_position")
        self.runners[name].wait(position, timeout)

    def health(self, head: int | None = None, *, fresh: bool = True) -> dict[str, Any]:
        """Each view against the log; not ``fresh`` (the store being away), from what was last
        seen. A view whose own store does not answer says so instead of failing the report."""
        out: dict[str, Any] = {}
        for name, runner in self.runners.items():
            try:
                out[name] = runner.lag(head, fresh=fresh)
            except Exception as e:  # reported as this view's failure
                if not is_store_unavailable(e):
                    raise
                out[name] = {**runner.lag(head or 0, fresh=False), "running": False,
                             "error": repr(runner.error or e)}
            out[name]["hosted"] = self.started
        return out
