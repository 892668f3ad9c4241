"""The roster view as the afternoon and the pupil list read it, as of everything written so far."""

from __future__ import annotations

from datetime import date

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
        docs = self.views.roster_cache.scan(f"pupil/{school_id}/")
        return {d["pupil_id"]: d for d in docs.values()}

    def days(self, school_id: str, day: date, session: str) -> dict[str, Doc] | None:
        if not self._caught_up():
            return None
        docs = self.views.roster_cache.scan(f"day/{school_id}/{day.isoformat()}/{session}/")
        return {d["pupil_id"]: d for d in docs.values()}
