"""One live feed per process: the log read once, fanned out to every open stream.

A single thread reads what comes after the feed's position (woken by each save in this process,
and by a short poll for other processes' writes), turns it into items with ``read``, keeps the
newest of them in a bounded buffer and hands each subscriber the items it wants, by school.
Subscribers live on an event loop; the thread never waits for them. Each has a bounded queue:
one that falls too far behind (a tablet on a dead network, a reader that stopped reading) is
marked overflowed and told to reconnect, and resumes by its last position like any other
client. A subscriber resuming from before the buffer reads that gap from the store itself,
once, up to ``floor``; everything after ``floor`` comes from the feed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from service.use_cases.signal import SaveSignal

log = logging.getLogger(__name__)

BUFFER = 5000   # items the feed keeps for subscribers resuming a little way back
LIMIT = 5000    # items a subscriber may have waiting before it is told to reconnect
POLL = 1.0      # how often the store is asked anyway (writes from other processes)
RETRY = 0.05    # pause before reading again when the views lag or the store is away


@dataclass(eq=False)
class Item:
    """One thing that happened at a log position, for the subscribers of one school."""

    position: int
    school_id: str
    payload: Any
    cache: dict[Any, Any] = field(default_factory=dict)  # shared per-audience renderings


Read = Callable[[int], tuple[list[Item], int, bool]]  # after → items, scanned to, more at once


class Subscription:
    """A subscriber's queue: filled by the feed's thread, drained on the subscriber's loop."""

    def __init__(self, feed: Feed, school_id: str, wants: Callable[[Item], bool],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.feed, self.school_id, self.wants, self.loop = feed, school_id, wants, loop
        self.pending: deque[Item] = deque()
        self.overflowed = False
        self._woken = False  # set on the loop when items came since the last take
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, item: Item) -> bool:
        """Called with the feed's lock held: queue the item if wanted; whether to wake."""
        if self.overflowed or not self.wants(item):
            return False
        self.pending.append(item)
        if len(self.pending) > self.feed.limit:
            self.overflowed = True
            self.pending.clear()
        return True

    def take(self) -> tuple[list[Item], int, bool]:
        """What is waiting, the feed's position as of it, and whether this subscriber fell
        too far behind (then nothing is waiting: it must reconnect)."""
        with self.feed.lock:
            self._woken = False
            items, self.pending = list(self.pending), deque()
            return items, self.feed.position, self.overflowed

    async def wait(self, timeout: float) -> None:
        """Until items come or ``timeout`` passes (a future and a timer: no task per wait)."""
        if self._woken:
            return
        waiter = self._waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    @property
    def woken(self) -> bool:
        """Items came since the last take."""
        return self._woken

    def wake(self) -> None:
        """On the subscriber's loop: items came."""
        self._woken = True
        if self._waiter is not None:
            _resolve(self._waiter)

    def close(self) -> None:
        self.feed.unsubscribe(self)


class Feed:
    """The one reader of the log for every stream of a process; runs while anyone listens."""

    def __init__(self, read: Read, head: Callable[[], int], signal: SaveSignal, *,
                 buffer: int = BUFFER, limit: int = LIMIT, poll: float = POLL,
                 name: str = "stream-feed") -> None:
        self.read, self.head, self.signal = read, head, signal
        self.capacity, self.limit, self.poll, self.name = buffer, limit, poll, name
        self.lock = threading.Lock()
        self.position = 0   # every item up to here has been offered to the subscribers
        self.floor = 0      # the buffer holds every item after this position
        self.buffer: deque[Item] = deque()
        self.rounds = 0     # reads of the log, for tests and the bench
        self._subscribers: dict[str, set[Subscription]] = {}
        self._thread: threading.Thread | None = None

    @property
    def subscribers(self) -> int:
        with self.lock:
            return sum(len(s) for s in self._subscribers.values())

    def subscribe(self, school_id: str, wants: Callable[[Item], bool], after: int,
                  loop: asyncio.AbstractEventLoop) -> tuple[Subscription, int]:
        """Join the feed; the position up to which the caller reads the store itself: ``floor``
        when it resumes from before the buffer (or the feed's position, when more was buffered
        for it than its queue holds), else ``after``. Blocking: call from a thread."""
        while True:
            head = self.head() if self._thread is None else None
            with self.lock:
                if self._thread is None:  # (re)started: what it buffered before is not whole
                    if head is None:
                        continue  # it ended meanwhile: ask for the head again
                    self.position = self.floor = head
                    self.buffer.clear()
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
                sub = Subscription(self, school_id, wants, loop)
                for item in self.buffer:
                    if item.position > after and item.school_id == school_id:
                        sub.offer(item)
                upto = max(after, self.floor)
                if sub.overflowed:  # more than a queue holds: all that was buffered, from the store
                    sub.overflowed, upto = False, max(after, self.position)
                self._subscribers.setdefault(school_id, set()).add(sub)
                return sub, upto

    def unsubscribe(self, sub: Subscription) -> None:
        with self.lock:
            subs = self._subscribers.get(sub.school_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[sub.school_id]

    def publish(self, items: list[Item], scanned: int) -> None:
        woken: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
        with self.lock:
            for item in items:
                self.buffer.append(item)
                for sub in self._subscribers.get(item.school_id, ()):
                    if sub.offer(item):
                        woken.setdefault(sub.loop, []).append(sub)
            while len(self.buffer) > self.capacity:
                self.floor = self.buffer.popleft().position
            if not self.buffer:
                self.floor = max(self.floor, scanned)
            self.position = max(self.position, scanned)
        for loop, subs in woken.items():  # one hop per event loop, not one per subscriber
            with suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_wake_all, subs)

    def _run(self) -> None:
        seen = self.signal.count
        while True:
            with self.lock:
                if not self._subscribers:
                    self._thread = None
                    return
                after = self.position
            try:
                items, scanned, more = self.read(after)
            except TimeoutError:  # the views lag: nothing is skipped, the same page is read again
                seen = self.signal.wait(seen, RETRY)
                continue
            except Exception:  # the store away: say so, pause, read again
                log.warning("the stream feed cannot read the log after %s", after, exc_info=True)
                seen = self.signal.wait(seen, self.poll)
                continue
            self.rounds += 1
            self.publish(items, scanned)
            if not more:
                seen = self.signal.wait(seen, self.poll)


def _wake_all(subs: list[Subscription]) -> None:
    for sub in subs:
        sub.wake()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
