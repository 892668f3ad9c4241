"""What the router remembers a short while, by the hash of a key (a token, a client's address),
never the key itself: a token's district, a token's refusal, the district a client paired in."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TokenCache(Generic[T]):
    """What a token is (its district, or its refusal) by the token's hash, for ``ttl`` seconds, at
    most ``size`` entries (oldest out first)."""

    def __init__(self, ttl: float = 60.0, size: int = 10000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> T | None:
        key = self.key(token)
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= self.clock():
            del self._entries[key]
            return None
        return found[1]

    def put(self, token: str, value: T) -> None:
        key = self.key(token)
        self._entries.pop(key, None)
        self._entries[key] = (self.clock() + self.ttl, value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, token: str) -> None:
        self._entries.pop(self.key(token), None)

    def __len__(self) -> int:
        return len(self._entries)
