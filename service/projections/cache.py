"""The roster view's documents held decoded in this process, kept up by the log's new events.

A read of a school's pupils or of a session's chains decodes a few thousand JSON documents:
most of what a read of the afternoon costs. The cache keeps each prefix read (a school's pupils,
one session's chains) decoded in memory; before each read it takes in the notifications the
view has applied since, by topic and aggregate id only, and re-reads by key just the documents
those events wrote (found through the view's own index documents). The view stays the truth:
the cache never runs ahead of it, and a document it re-reads is the view's as it is now.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from eventsourcing.persistence import ApplicationRecorder

from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.touched import touched_since

_DAYS, _PUPILS, _SCHOOLS = (c.__module__ for c in (PupilDay, Pupil, School))


class RosterCache:
    """``scan`` of the roster view from memory, for at most ``prefixes`` prefixes at a time."""

    def __init__(self, view: DocView, recorder: ApplicationRecorder, app_name: str, *,
                 prefixes: int = 64, batch_size: int = 2000) -> None:
        self.view, self.recorder, self.app_name = view, recorder, app_name
        self.prefixes, self.batch_size = prefixes, batch_size
        self.position: int | None = None  # the view position the cached documents reflect
        self._held: OrderedDict[str, dict[str, Doc]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Doc | None:
        """One document, from the view itself."""
        return self.view.get(key)

    def scan(self, prefix: str) -> dict[str, Doc]:
        """The view's documents under ``prefix`` as of (at least) its position now. The documents
        are shared: callers read them and never change them."""
        with self._lock:
            self._catch_up()
            held = self._held.get(prefix)
            if held is None:
                held = self.view.scan(prefix)
                self._held[prefix] = held
                if len(self._held) > self.prefixes:
                    self._held.popitem(last=False)
            else:
                self._held.move_to_end(prefix)
            return dict(held)

    def _catch_up(self) -> None:
        upto = self.view.max_tracking_id(self.app_name) or 0
        if self.position is None or not self._held or upto < self.position:
            self._held.clear()  # nothing held yet, or the view was rebuilt: read afresh
            self.position = upto
            return
        self.position, found = touched_since(self.recorder, self.position, upto,
                                             {_DAYS, _PUPILS, _SCHOOLS}, self.batch_size)
        days = {f"day-index/{i}" for i in found[_DAYS]}
        pupils = {f"pupil-index/{i}" for i in found[_PUPILS]}
        keys = {f"school/{i}" for i in found[_SCHOOLS]}
        if days or pupils:
            keys |= {index["key"] for index in self.view.get_many([*days, *pupils]).values()}
        touched = [k for k in keys if any(k.startswith(p) for p in self._held)]
        if not touched:
            return
        fresh = self.view.get_many(touched)
        for key in touched:
            for prefix, held in self._held.items():
                if key.startswith(prefix):
                    if key in fresh:
                        held[key] = fresh[key]
                    else:
                        held.pop(key, None)
