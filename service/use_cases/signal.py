"""The save signal: the application sets it after every save; runners and workers wait on it."""

from __future__ import annotations

import threading


class SaveSignal:
    """Set by the application after every save; runners wait on it instead of sleeping."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    def notify(self) -> None:
        with self._cond:
            self._count += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            if self._count == seen:
                self._cond.wait(timeout)
            return self._count

    @property
    def count(self) -> int:
        return self._count
