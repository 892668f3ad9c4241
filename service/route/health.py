"""The router's own /health: one look at every district service's /health."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from service.route.table import RouteTable


async def look_at_districts(table: RouteTable, client: httpx.AsyncClient,
                            timeout: float) -> tuple[int, dict[str, Any]]:
    """The status and body of the router's /health: each district by name, ``ok`` and a short
    reason; never a URL or an error's text (they may name hosts, users, passwords)."""
    async def one(base: str) -> str | None:
        """Why the upstream is not well, in a few words; None when it is."""
        try:
            r = await client.get(f"{base}/health", timeout=timeout)
        except httpx.TimeoutException:
            return "timed out"
        except httpx.ConnectError:
            return "cannot be reached"
        except httpx.HTTPError:
            return "no answer"
        return None if r.status_code == 200 else f"answered {r.status_code}"
    bases = [(d, base) for d in table.districts for base in d.upstreams]
    answers = await asyncio.gather(*(one(base) for _, base in bases))
    reasons: dict[str, list[str]] = {d.name: [] for d in table.districts}
    for (district, base), reason in zip(bases, answers, strict=True):
        if reason is not None:
            n = len(district.upstreams)  # the upstream by its place in the table, not its URL
            reasons[district.name].append(
                reason if n == 1 else f"{district.upstreams.index(base) + 1} of {n}: {reason}")
    districts = {d.name: {"ok": not reasons[d.name], "schools": len(d.schools),
                          "reason": "; ".join(reasons[d.name]) or None}
                 for d in table.districts}
    failing = [name for name, d in districts.items() if not d["ok"]]
    return (503 if failing else 200,
            {"status": "failing" if failing else "ok", "failing": failing, "districts": districts})
