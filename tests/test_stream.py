"""Live push: a school's roster changes and alerts as server-sent events, resumable and never another school's."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api import stream
from service.application import HandoverApp
from tests import aio
from tests.builders import World, a_school, handed_to_teacher, walked_to_gate
from tests.stores import every_store


def parse(text: str) -> list[dict[str, Any]]:
    """The events of an SSE body, as EventSource would dispatch them."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if "data" in fields:
            events.append({"id": int(fields["id"]), "event": fields["event"],
                           "data": json.loads(fields["data"])})
    return events


def read(world: World, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    r = read_raw(world, token, **params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return parse(r.text)


def read_raw(world: World, token: str | None = None, headers: dict[str, str] | None = None,
             **params: Any) -> httpx.Response:
    params.setdefault("once", "true")
    r: httpx.Response = world.client.get("/v1/stream", params=params, headers={
        "Authorization": f"Bearer {token or world.admin.token}", **(headers or {})})
    return r


def afternoon(world: World) -> None:
    """Pupils 0 and 1 walked to the gate; 0 collected by her mother, 1 refused to a stranger."""
    handed_to_teacher(world)
    walked_to_gate(world, [0, 1])
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    assert r.status_code == 200, r.text
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(1)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "adult": {"name": "陌生人"}})
    assert r.status_code == 422, r.text


def changes(events: list[dict[str, Any]], pupil_id: str) -> list[str]:
    return [e["data"]["change"] for e in events if e["event"] == "pupil" and e["data"]["pupil_id"] == pupil_id]


@every_store
def test_a_stream_from_the_start_yields_every_change_and_alert_in_log_order(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    afternoon(world)
    events = read(world, last_event_id=0)
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids)) and ids[-1] <= (app.recorder.max_notification_id() or 0)
    assert changes(events, world.pupil(0)) == ["offered", "custody_taken", "offered", "custody_taken", "released"]
    assert changes(events, world.pupil(2)) == ["offered", "custody_taken"]
    released = next(e["data"] for e in events if e["data"].get("change") == "released")
    assert (released["status"], released["name"], released["gone"]["how"]) == ("gone", "学生0", "released")
    assert released["gate_id"] == world.gate_id and released["by"]["staff_id"] == world.guard.staff_id
    refusal = next(e for e in events if e["data"].get("change") == "release_refused")
    [alert] = [e for e in events if e["event"] == "alert"]
    assert alert["id"] > refusal["id"]  # the alert is recorded with the refusal, after it
    assert (alert["data"]["kind"], alert["data"]["change"], alert["data"]["status"]) == (
        "release_refused", "raised", "open")
    assert refusal["data"]["status"] == "in_custody"
    assert refusal["data"]["custodian"]["staff_id"] == world.guard.staff_id


@every_store
def test_reconnecting_with_last_event_id_yields_only_what_came_after(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    afternoon(world)
    everything = read(world, last_event_id=0)
    seen = everything[4]["id"]
    assert read(world, headers={"Last-Event-ID": str(seen)}) == everything[5:]
    assert read(world, last_event_id=seen) == everything[5:]
    # EventSource keeps its first URL and sends the newer position as a header: the header wins.
    assert read(world, last_event_id=0, headers={"Last-Event-ID": str(seen)}) == everything[5:]
    r = read_raw(world, last_event_id=0)
    assert r.text.rstrip().endswith(f"id: {app.recorder.max_notification_id()}")  # resume point
    bad = read_raw(world, headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "Last-Event-ID"
    ahead = read_raw(world, last_event_id=(app.recorder.max_notification_id() or 0) + 1)
    assert ahead.status_code == 422 and ahead.json()["errors"][0]["field"] == "last_event_id"


def test_another_schools_stream_carries_nothing_of_this_school(client: TestClient, app: HandoverApp) -> None:
    ours = a_school(client, app, 2)
    theirs = a_school(client, app, 1, name="第二小学")
    handed_to_teacher(theirs)
    afternoon(ours)
    seen = read(theirs, last_event_id=0)
    assert {e["data"]["pupil_id"] for e in seen} == {theirs.pupil(0)}
    assert not [e for e in seen if e["event"] == "alert"]
    assert read_raw(theirs, gate_id=ours.gate_id).status_code == 404
    assert read_raw(theirs, group_id=ours.group_id).status_code == 404


def test_a_gate_stream_shows_the_pupils_coming_to_and_leaving_that_gate(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    afternoon(world)
    events = read(world, last_event_id=0, gate_id=world.gate_id)
    assert {e["data"]["pupil_id"] for e in events if e["event"] == "pupil"} == {world.pupil(0), world.pupil(1)}
    assert changes(events, world.pupil(0)) == ["offered", "custody_taken", "released"]
    assert [e["data"]["kind"] for e in events if e["event"] == "alert"] == ["release_refused"]
    group = read(world, last_event_id=0, group_id=world.group_id)
    # Still in the group, and the moment they left it for the gate; not their release.
    assert changes(group, world.pupil(0)) == ["offered", "custody_taken", "offered", "custody_taken"]
    assert changes(group, world.pupil(2)) == ["offered", "custody_taken"]


def ticket_for(world: World, token: str) -> str:
    r = world.client.post("/v1/stream/tickets", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    assert r.json()["expires_in"] == 60
    return str(r.json()["ticket"])


def test_a_browser_opens_the_stream_with_a_single_use_ticket_never_with_the_token_in_the_url(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    ticket = ticket_for(world, world.inspector.token)
    assert world.inspector.token not in ticket
    r = client.get("/v1/stream", params={"once": "true", "last_event_id": 0, "ticket": ticket})
    assert r.status_code == 200 and changes(parse(r.text), world.pupil(0)) == ["offered", "custody_taken"]
    for params in ({"once": "true"}, {"once": "true", "ticket": ticket},  # used already
                   {"once": "true", "ticket": "hst_not-a-ticket"},
                   {"once": "true", "access_token": world.inspector.token}):
        r = client.get("/v1/stream", params=params)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert client.post("/v1/stream/tickets").status_code == 401


@pytest.mark.parametrize("store", ["memory"])
def test_a_stream_ticket_expires_a_minute_after_it_was_issued(
        client: TestClient, app: HandoverApp, clock: Any) -> None:
    world = a_school(client, app, 1)
    late, in_time = ticket_for(world, world.guard.token), ticket_for(world, world.guard.token)
    clock.advance(seconds=59)
    assert client.get("/v1/stream", params={"once": "true", "ticket": in_time}).status_code == 200
    clock.advance(seconds=1)
    assert client.get("/v1/stream", params={"once": "true", "ticket": late}).status_code == 401


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_ticket_used_through_one_process_is_refused_by_another(
        client: TestClient, app: HandoverApp, settings: Any, clock: Any) -> None:
    world = a_school(client, app, 1)
    ticket = ticket_for(world, world.guard.token)
    other = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        assert other.redeem_stream_ticket(ticket) is not None
        assert app.redeem_stream_ticket(ticket) is None
        assert other.redeem_stream_ticket(ticket) is None
    finally:
        other.close()


@every_store
def test_a_connected_client_is_pushed_a_release_as_it_happens(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    walked_to_gate(world, [0])
    now = app.recorder.max_notification_id()
    got: dict[str, httpx.Response] = {}
    listening = threading.Thread(target=lambda: got.update(r=read_raw(
        world, token=world.guard.token, once="false", max_events=1, last_event_id=now)))
    listening.start()
    r = world.post(world.guard, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": world.guardian(0)["guardian_id"]})
    assert r.status_code == 200, r.text
    listening.join(timeout=30)
    assert not listening.is_alive()
    [pushed] = parse(got["r"].text)
    assert now is not None and now < pushed["id"] <= int(r.headers["X-Log-Position"])
    assert pushed["data"]["change"] == "released" and pushed["data"]["status"] == "gone"


class Connected:
    async def is_disconnected(self) -> bool:
        return False


def test_a_quiet_stream_keeps_alive_and_moves_the_client_past_what_it_may_not_see(
        client: TestClient, app: HandoverApp, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = a_school(client, app, 1), a_school(client, app, 1, name="第二小学")
    start = app.recorder.max_notification_id() or 0
    handed_to_teacher(ours)
    head = app.recorder.max_notification_id()
    monkeypatch.setattr(stream, "HEARTBEAT", 0.0)
    feed = stream.SchoolFeed(app, client.app.state.views,  # type: ignore[attr-defined]
                             theirs.school_id, stream.Filters(None, None))

    async def first_two() -> list[str]:
        chunks: list[str] = []
        body = stream._events(Connected(), feed, start, None, None)  # type: ignore[arg-type]
        async for chunk in body:
            chunks.append(chunk)
            if len(chunks) == 2:
                break
        await body.aclose()
        return chunks

    got = aio.run(first_two())
    assert got == ["retry: 2000\n\n", f": keep-alive\nid: {head}\n\n"]


def test_the_access_log_never_shows_a_token_or_ticket_from_a_url() -> None:
    import logging

    from service.cli import RedactSecrets, log_config

    line = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                             ("1.2.3.4:5", "GET", "/v1/stream?access_token=hov_abc&ticket=hst_x&once=1",
                              "1.1", 401), None)
    assert RedactSecrets().filter(line)
    shown = line.getMessage()
    assert "hov_abc" not in shown and "hst_x" not in shown and "once=1" in shown
    assert "redact" in log_config()["handlers"]["access"]["filters"]
