"""How many requests the router has in flight: each district's places for requests, and one
cap for the live streams of the whole router. No place free (in time) is the router busy, never
the district down."""

from __future__ import annotations

import asyncio


class RouterBusy(Exception):
    """No place for one more request (to this district) or stream: the router is busy."""


class Places:
    """At most ``size`` at once; one more waits up to ``wait`` seconds for a place (none: 0)."""

    def __init__(self, size: int, wait: float) -> None:
        self.size, self.wait = size, wait
        self._free = asyncio.Semaphore(size)

    async def take(self, wait: float | None = None) -> Place:
        wait = self.wait if wait is None else wait
        if not self._free.locked():
            await self._free.acquire()  # a free place: taken without yielding to another task
        elif wait <= 0:
            raise RouterBusy()
        else:
            try:
                await asyncio.wait_for(self._free.acquire(), wait)
            except TimeoutError:
                raise RouterBusy() from None
        return Place(self._free)


class Place:
    def __init__(self, free: asyncio.Semaphore) -> None:
        self._free: asyncio.Semaphore | None = free

    def free(self) -> None:
        """Given back once, however many times it is called."""
        if self._free is not None:
            self._free.release()
            self._free = None
