"""One live feed for every open stream: each event once and in order, never another school's,
a resume across the feed's buffer without gaps or duplicates, and a stalled client cut loose."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from service.api import stream
from service.application import HandoverApp
from service.projections.feed import Feed
from service.projections.views import Views
from tests import aio
from tests.builders import World, a_school, handed_to_teacher, walked_to_gate
from tests.stores import every_store
from tests.test_stream import Connected, afternoon, parse, read

WAIT = 30.0


def views_of(client: TestClient) -> Views:
    views: Views = client.app.state.views  # type: ignore[attr-defined]
    return views


def the_feed(client: TestClient, app: HandoverApp) -> Feed:
    return stream.live_feed(app, views_of(client))


def school_feed(client: TestClient, app: HandoverApp, world: World) -> stream.SchoolFeed:
    return stream.SchoolFeed(app, views_of(client), world.school_id, stream.Filters(None, None))


class Listener:
    """One open stream, read on the test's event loop into a list of SSE chunks."""

    def __init__(self, feed: stream.SchoolFeed, after: int) -> None:
        self.chunks: list[str] = []
        self.task = asyncio.create_task(self._read(feed, after))

    async def _read(self, feed: stream.SchoolFeed, after: int) -> None:
        body = stream._events(Connected(), feed, after, None, None)  # type: ignore[arg-type]
        try:
            async for chunk in body:
                self.chunks.append(chunk)
        finally:
            await body.aclose()

    @property
    def events(self) -> list[dict[str, Any]]:
        return parse("".join(self.chunks))

    def has(self, position: int) -> bool:
        got = self.events
        return bool(got) and got[-1]["id"] >= position


async def until(done: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not done():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def close(listeners: list[Listener]) -> None:
    for listener in listeners:
        listener.task.cancel()
    await asyncio.gather(*(listener.task for listener in listeners), return_exceptions=True)


@every_store
def test_fifty_open_streams_get_each_event_once_and_in_log_order_from_one_reading_of_the_log(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    start = app.recorder.max_notification_id() or 0
    feed = the_feed(client, app)

    async def scenario() -> list[Listener]:
        listeners = [Listener(school_feed(client, app, world), start) for _ in range(50)]
        await until(lambda: feed.subscribers == 50, "fifty subscribers")
        rounds = feed.rounds
        await asyncio.to_thread(afternoon, world)
        last = read(world, last_event_id=start)[-1]["id"]
        await until(lambda: all(li.has(last) for li in listeners), "every stream to be sent the afternoon")
        # Fifty streams, but the log was read for them as one: a handful of reads, not 50 per save.
        assert feed.rounds - rounds < 50
        await close(listeners)
        return listeners

    listeners = aio.run(scenario())
    expected = read(world, last_event_id=start)
    assert len(expected) > 10 and [e["event"] for e in expected].count("alert") == 1
    for listener in listeners:
        assert listener.events == expected
    assert feed.subscribers == 0


def test_a_stream_of_one_school_never_receives_another_schools_event(
        client: TestClient, app: HandoverApp) -> None:
    ours, theirs = a_school(client, app, 2), a_school(client, app, 1, name="第二小学")
    start = app.recorder.max_notification_id() or 0

    async def scenario() -> tuple[Listener, Listener]:
        mine, other = (Listener(school_feed(client, app, w), start) for w in (ours, theirs))
        await until(lambda: the_feed(client, app).subscribers == 2, "both subscribers")
        await asyncio.to_thread(afternoon, ours)
        await asyncio.to_thread(handed_to_teacher, theirs)
        last_ours = read(ours, last_event_id=start)[-1]["id"]
        last_theirs = read(theirs, last_event_id=start)[-1]["id"]
        await until(lambda: mine.has(last_ours) and other.has(last_theirs), "both schools' changes")
        await close([mine, other])
        return mine, other

    mine, other = aio.run(scenario())
    assert {e["data"]["pupil_id"] for e in other.events} == {theirs.pupil(0)}
    assert not [e for e in other.events if e["event"] == "alert"]
    assert ours.pupil(0) not in "".join(other.chunks) and "release_refused" not in "".join(other.chunks)
    assert {e["data"]["pupil_id"] for e in mine.events if e["event"] == "pupil"} == {
        ours.pupil(0), ours.pupil(1)}
    assert other.events == read(theirs, last_event_id=start)
    assert mine.events == read(ours, last_event_id=start)


@every_store
def test_a_resume_from_before_the_feeds_buffer_reads_the_gap_then_the_live_events_without_duplicates(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 3)
    start = app.recorder.max_notification_id() or 0
    feed = the_feed(client, app)
    feed.capacity = 2  # the feed keeps only the newest two items

    async def scenario() -> Listener:
        keeper = Listener(school_feed(client, app, world), start)  # keeps the feed running
        await until(lambda: feed.subscribers == 1, "the feed to run")
        await asyncio.to_thread(handed_to_teacher, world)
        middle = read(world, last_event_id=start)[-1]["id"]
        await until(lambda: keeper.has(middle), "the first changes")
        assert feed.floor > start  # the early changes have left the buffer
        resumed = Listener(school_feed(client, app, world), start)
        await until(lambda: resumed.has(middle), "the gap, read from the store")
        await asyncio.to_thread(walked_to_gate, world, [0, 1])
        last = read(world, last_event_id=start)[-1]["id"]
        await until(lambda: resumed.has(last) and keeper.has(last), "the live changes")
        await close([keeper, resumed])
        return resumed

    resumed = aio.run(scenario())
    expected = read(world, last_event_id=start)
    assert resumed.events == expected
    ids = [e["id"] for e in resumed.events]
    assert len(ids) == len(set(ids)) == len(expected) > 6


def test_a_stream_that_stops_reading_is_told_to_reconnect_and_resumes_by_its_last_event_id(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 6)
    start = app.recorder.max_notification_id() or 0
    feed = the_feed(client, app)

    async def scenario() -> list[str]:
        body = stream._events(Connected(), school_feed(client, app, world), start, None, None)  # type: ignore[arg-type]
        chunks = [await anext(body)]
        first = asyncio.create_task(anext(body))
        await until(lambda: feed.subscribers == 1, "the subscriber")
        # The first change is sent; then this client stops reading while six pupils move.
        await asyncio.to_thread(handed_to_teacher, world)
        chunks.append(await asyncio.wait_for(first, WAIT))
        feed.limit = 3
        await asyncio.to_thread(walked_to_gate, world, [0, 1, 2, 3, 4, 5])
        last = read(world, last_event_id=start)[-1]["id"]
        await until(lambda: feed.position >= last, "the feed to pass every change")  # not held back
        chunks += [chunk async for chunk in body]  # what it had taken, then: reconnect
        assert chunks[-1].startswith(": too far behind: reconnect\nid: ")
        resume = int(chunks[-1].rsplit("id: ", 1)[1])
        assert start < resume < last, chunks
        again = Listener(school_feed(client, app, world), resume)
        await until(lambda: again.has(last), "the resumed stream")
        await close([again])
        return chunks + again.chunks

    chunks = aio.run(scenario())
    assert parse("".join(chunks)) == read(world, last_event_id=start)
