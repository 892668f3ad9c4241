"""Which store a test runs on: the memory store, unless what it checks depends on the store."""

from __future__ import annotations

import pytest

STORES = ("memory", "sqlite", "postgres")

# Recorders, projections, runners, durability, concurrency: the same test on every store.
every_store = pytest.mark.parametrize("store", STORES, indirect=True)

# What must outlive the process (a rebuild from stored events, a restart): the stores that keep it.
DURABLE_STORES = ("sqlite", "postgres")
every_durable_store = pytest.mark.parametrize("store", DURABLE_STORES, indirect=True)
