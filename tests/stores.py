"""Which store a test runs on: the memory store, unless what it checks depends on the store."""

from __future__ import annotations

import pytest

STORES = ("memory", "sqlite", "postgres")

# Recorders, projections, runners, durability, concurrency: the same test on every store.
every_store = pytest.mark.parametrize("store", STORES, indirect=True)
