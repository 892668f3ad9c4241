"""Run a coroutine to the end on a loop of its own, on a thread of its own.

The browser tests keep Playwright's event loop running on the main thread for the whole session, so
``asyncio.run`` there would refuse ("cannot be called from a running event loop")."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as own:
        return own.submit(asyncio.run, coroutine).result()
