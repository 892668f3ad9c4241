"""Every answer carries the service's own time, which the screens judge due and overdue by."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from service.use_cases.clock import FixedClock


def test_every_answer_says_the_time_by_the_services_clock(client: TestClient, clock: FixedClock) -> None:
    for path in ("/health", "/v1/school", "/no-such-route"):
        r = client.get(path)
        assert datetime.fromisoformat(r.headers["X-Server-Time"]) == clock.now(), path
    clock.advance(minutes=25)
    assert datetime.fromisoformat(client.get("/health").headers["X-Server-Time"]) == clock.now()
