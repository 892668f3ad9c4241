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


def test_a_body_refused_as_too_large_or_malformed_says_the_time_too(
        client: TestClient, clock: FixedClock) -> None:
    too_large = client.post("/v1/releases", content=b"{" + b" " * (65 * 1024) + b"}",
                            headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413, too_large.text
    assert datetime.fromisoformat(too_large.headers["X-Server-Time"]) == clock.now()
    bad_length = client.post("/v1/releases", content=b"{}", headers={"Content-Length": "x"})
    assert bad_length.status_code == 400
    assert datetime.fromisoformat(bad_length.headers["X-Server-Time"]) == clock.now()
    in_query = client.get("/v1/school", params={"access_token": "hov_x"})
    assert datetime.fromisoformat(in_query.headers["X-Server-Time"]) == clock.now()
