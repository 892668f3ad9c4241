"""The roster view's documents held decoded in this process, kept up by the log's new events.

A read of a school's pupils or of a session's chains decodes a few thousand JSON documents:
most of what a read of the afternoon costs. The cache keeps each prefix read (a school's pupils,
one session's chains) decoded in memory; before each read it takes in the notifications the
view has applied since, by topic and aggregate id only, and re-reads by key just the documents
those events wrote (found through the view's own index documents). The view stays the truth:
the cache never runs ahead of it, and a document it re-reads is the view's as it is now.

What the reads work out from those documents (a pupil's roster row, that row as sent) is kept
beside them in a ``Memo``, made again only for the pupils whose documents were re-read: a read
of the roster costs its few changed rows and the joining of the others.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from operator import is_
from typing import Any, TypeVar

from eventsourcing.persistence import ApplicationRecorder

from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.touched import touched_since

_DAYS, _PUPILS, _SCHOOLS = (c.__module__ for c in (PupilDay, Pupil, School))
T = TypeVar("T")


class Scope:
    """The values of one read (one school's session, say), each kept with what it was made of."""

    def __init__(self) -> None:
        self._made: dict[Hashable, tuple[tuple[object, ...], Hashable, Any]] = {}

    def get(self, key: Hashable, made_of: tuple[object, ...], make: Callable[[], T],
            given: Hashable = None) -> T:
        """The value under ``key`` if it was made of these very objects (``is``, not ``==``: the
        cache's documents are replaced, never changed, when the log touches them) and of an
        equal ``given``, else ``make()``, kept in its place."""
        held = self._made.get(key)
        if (held is not None and len(held[0]) == len(made_of) and all(map(is_, held[0], made_of))
                and held[1] == given):
            value: T = held[2]
            return value
        value = make()
        self._made[key] = (made_of, given, value)
        return value


class Memo:
    """What reads work out from the cache's documents, for at most ``scopes`` scopes at a time."""

    def __init__(self, scopes: int = 16) -> None:
        self.scopes = scopes
        self._held: OrderedDict[Hashable, Scope] = OrderedDict()
        self._lock = threading.Lock()

    def scope(self, name: Hashable) -> Scope:
        with self._lock:
            held = self._held.get(name)
            if held is None:
                held = self._held[name] = Scope()
                if len(self._held) > self.scopes:
                    self._held.popitem(last=False)
            else:
                self._held.move_to_end(name)
            return held


class RosterCache:
    """``scan`` of the roster view from memory, for at most ``prefixes`` prefixes at a time."""

    def __init__(self, view: DocView, recorder: ApplicationRecorder, app_name: str, *,
                 prefixes: int = 64, batch_size: int = 2000) -> None:
        self.view, self.recorder, self.app_name = view, recorder, app_name
        self.prefixes, self.batch_size = prefixes, batch_size
        self.position: int | None = None  # the view position the cached documents reflect
        self._held: OrderedDict[str, Mapping[str, Doc]] = OrderedDict()
        self._lock = threading.Lock()
        self.memo = Memo()  # a school's and each of its sessions' that are read, a few days' worth

    def get(self, key: str) -> Doc | None:
        """One document (a school's), held like a prefix of its own."""
        return self.scan(key).get(key)

    def scan(self, prefix: str) -> Mapping[str, Doc]:
        """The view's documents under ``prefix`` as of (at least) its position now. The mapping
        and its documents are shared: callers read them and never change them. A prefix the log
        has not touched since the last scan gives the very same mapping again."""
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
            return held

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
        for prefix, held in list(self._held.items()):
            mine = [key for key in touched if key.startswith(prefix)]
            if mine:  # a new mapping, so that whoever holds the old one still reads it unchanged
                renewed = {**held, **{key: fresh[key] for key in mine if key in fresh}}
                for key in mine:
                    if key not in fresh:
                        renewed.pop(key, None)
                self._held[prefix] = renewed
