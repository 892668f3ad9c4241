"""The roster view as the afternoon and the pupil list read it, as of everything written so far."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date

from service.projections.cache import Scope
from service.projections.docstore import Doc
from service.projections.views import Views


class ViewReads:
    """``PupilReads`` over the roster view, for one request: it answers only once the view has
    applied the log as far as it reached when first asked, within ``timeout``; a view that is
    not running, failing or slower than that answers None and the caller reads the aggregates."""

    def __init__(self, views: Views, timeout: float = 2.0) -> None:
        self.views, self.timeout = views, timeout
        self._ready: bool | None = None

    def _caught_up(self) -> bool:
        if self._ready is None:
            runner = self.views.runners["roster"]
            self._ready = False
            if runner.running and runner.failure is None:
                try:
                    runner.wait(self.views.app.recorder.max_notification_id(), self.timeout)
                    self._ready = True
                except TimeoutError:
                    pass
        return self._ready

    def pupils(self, school_id: str) -> dict[str, Doc] | None:
        if not self._caught_up():
            return None
        return self._by_pupil(f"pupil/{school_id}/", (school_id,))

    def kept(self, name: Hashable) -> Scope:
        return self.views.roster_cache.memo.scope(name)

    def days(self, school_id: str, day: date, session: str) -> dict[str, Doc] | None:
        if not self._caught_up():
            return None
        return self._by_pupil(f"day/{school_id}/{day.isoformat()}/{session}/", (school_id, day, session))

    def _by_pupil(self, prefix: str, scope: Hashable) -> dict[str, Doc]:
        """The documents under ``prefix`` by pupil id: the same mapping again (shared: callers
        never change it) while the log has not touched them."""
        docs = self.views.roster_cache.scan(prefix)
        return self.kept(scope).get(("by pupil", prefix), (docs,), lambda: {d["pupil_id"]: d for d in docs.values()})
