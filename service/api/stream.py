"""Live push: a school's roster changes and alerts as server-sent events, resumable by log position."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Annotated, Any

from eventsourcing.persistence import Notification as LogNotification
from eventsourcing.utils import get_topic
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from service.api.deps import AppDep, BoardReader, ViewsDep, _bearer
from service.api.problems import PROBLEM_RESPONSES, READ_RESPONSES
from service.api.text import Line
from service.domain.alert import Alert
from service.domain.common import Actor, Role
from service.domain.errors import NotFoundError, RuleError
from service.domain.messages import alert_detail
from service.domain.privacy import CUSTODY_LIST, Data, custody_state, group_reads, may_see, read_of
from service.domain.pupil_day import IN_CUSTODY, NOT_HANDED_OVER, derive
from service.domain.school import School
from service.projections.docstore import Doc, DocView
from service.projections.feed import Feed, Item
from service.projections.roster import ENTRY_TYPES
from service.projections.views import Views
from service.use_cases.application import HandoverApp
from service.use_cases.core import StaffIdentity

router = APIRouter(prefix="/v1", tags=["stream"], responses=READ_RESPONSES)

PAGE = 500               # log notifications read per query
HEARTBEAT = 15.0         # seconds between keep-alive comments on a quiet stream
POLL = 1.0               # how often the store is asked anyway (writes from other processes)
VIEW_TIMEOUT = 10.0      # how long a page waits for the roster and alert views to catch up
RETRY_MS = 2000          # EventSource reconnection delay
GATHER = 0.1             # seconds a woken stream lets more changes come before it sends them at once

PUPIL_TOPICS = {get_topic(cls): name for cls, name in ENTRY_TYPES.items()}
ALERT_TOPICS = {get_topic(Alert.Raised): "raised", get_topic(Alert.Escalated): "escalated",
                get_topic(Alert.Acknowledged): "acknowledged", get_topic(Alert.Resolved): "resolved"}
TOPICS = [*PUPIL_TOPICS, *ALERT_TOPICS]
STATUS_AFTER = {"raised": "open", "escalated": "open", "acknowledged": "acknowledged",
                "resolved": "resolved"}
SSE_DESCRIPTION = """\
`text/event-stream`. Each event is

    id: <log position>
    event: pupil | alert
    data: <one line of JSON>

`pupil`: a pupil's new state after a change in their chain of custody (`change` names it:
signed_in, custody_taken, released, ...): pupil_id, name, class, day, session, status,
custodian, place, pending, gone, gate_id. `alert`: an alert raised, escalated, acknowledged or
resolved (`change`), with its kind, subject, detail, level and status. Comments (`: keep-alive`)
come every 15 s; an `id:` line without data moves your position past events you were not sent.
A client that falls too far behind is sent `: too far behind: reconnect` with the `id:` of the
last event it was sent, and the stream ends: reconnect with that `Last-Event-ID` (EventSource
does so by itself) and nothing is missed.
"""

Events = list[tuple[int, str, dict[str, Any]]]

_STR, _NULLABLE = {"type": "string"}, {"type": ["string", "null"]}
PUPIL_DATA = {"type": "object", "required": ["pupil_id", "name", "day", "session", "status", "change"],
              "properties": {"pupil_id": _STR, "name": _STR, "class_id": _STR, "class_label": _NULLABLE,
                             "day": _STR, "session": _STR, "change": _STR, "at": _STR,
                             "status": {"enum": ["not_handed_over", "absent", "in_custody", "gone", "passed_on"]},
                             "gate_id": _NULLABLE, "homework_group_id": _NULLABLE,
                             "version": {"type": "integer"}}}
ALERT_DATA = {"type": "object", "required": ["alert_id", "kind", "change", "status", "level"],
              "properties": {"alert_id": _STR, "kind": _STR, "detail": _STR, "subject": {"type": "object"},
                             "change": {"enum": list(STATUS_AFTER)}, "level": {"type": "integer"},
                             "status": {"enum": ["open", "acknowledged", "resolved"]}}}


def _event_schema(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["id", "event", "data"], "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The log position"},
        "event": {"const": name},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data}}}


# OpenAPI before 3.2 describes each event of a text/event-stream with `schema`.
SSE_SCHEMA = {"oneOf": [_event_schema("pupil", PUPIL_DATA), _event_schema("alert", ALERT_DATA)]}


def stream_identity(
    app: AppDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[Line | None, Query(max_length=200, description=(
        "A single-use ticket from `POST /v1/stream/tickets` (valid 60 s), for browsers' "
        "EventSource, which cannot set headers. The Authorization header wins when both are given."
    ))] = None,
    access_token: Annotated[Line | None, Query(max_length=200, include_in_schema=False)] = None,
) -> StaffIdentity:
    if access_token is not None:  # URLs end up in access logs: a token never goes there
        raise HTTPException(401, "A token in the URL is refused: send it in the Authorization "
                                 "header, or open the stream with a ticket from "
                                 "POST /v1/stream/tickets.")
    if credentials is not None and credentials.scheme.lower() == "bearer":
        identity = app.authenticate(credentials.credentials)
    elif ticket:
        identity = app.redeem_stream_ticket(ticket)
    else:
        raise HTTPException(401, "A bearer token (or a stream ticket) is required.")
    if identity is None:
        raise HTTPException(401, "This token or ticket is not valid (a ticket works once, "
                                 "for 60 seconds).")
    return identity


class StreamTicketOut(BaseModel):
    ticket: str = Field(description="Open `GET /v1/stream?ticket=...` with it, once")
    expires_at: str
    expires_in: int = Field(description="Seconds it stays valid")


@router.post("/stream/tickets", response_model=StreamTicketOut, status_code=201,
             responses=PROBLEM_RESPONSES)
def stream_ticket(actor: BoardReader, app: AppDep) -> Any:
    """A single-use ticket to open the stream from a URL, valid 60 seconds.

    Ask for a new one on every (re)connection; pass `last_event_id` to resume.
    """
    identity = StaffIdentity(actor.school_id, actor.staff_id, actor.staff_name, (actor.role,))
    return app.issue_stream_ticket(identity)


@dataclass(frozen=True)
class Filters:
    gate_id: str | None
    group_id: str | None

    def row(self, row: Doc) -> bool:
        """The pupil is at (or on the way to) the gate / in the group, as the roster filters."""
        place = (row["place"] or {}).get("id")
        heading = (row["pending"] or {}).get("place", {}).get("id")
        if self.gate_id and self.gate_id not in (row["gate_id"], heading):
            return False
        waiting = row["status"] == NOT_HANDED_OVER and row["homework_group_id"] == self.group_id
        return not self.group_id or self.group_id in (place, heading) or waiting

    def mentions(self, value: Any) -> bool:
        wanted = [i for i in (self.gate_id, self.group_id) if i]
        text = json.dumps(value, ensure_ascii=False)
        return all(f'"{i}"' in text for i in wanted)


def pupil_row(school: Doc, pupil: Doc, day: Doc, entries: list[Doc]) -> Doc:
    """One roster row as of these chain entries (the same fields ``read_roster`` derives)."""
    state = derive(entries)
    klass = school["classes"].get(pupil["class_id"], {})
    homework = next((gid for gid, g in school["groups"].items()
                     if g["kind"] == "homework" and pupil["class_id"] in g["class_ids"]), None)
    place = state["place"] or {}
    released_gate = next((e["gate"]["id"] for e in reversed(entries)
                          if e["type"] in ("released", "went_home_alone") and e.get("gate")), None)
    at_gate = place.get("kind") == "gate" and state["status"] == IN_CUSTODY
    gate = place.get("id") if at_gate else released_gate
    return {"pupil_id": pupil["pupil_id"], "name": pupil["name"], "class_id": pupil["class_id"],
            "class_label": klass.get("label"), "day": day["day"], "session": day["session"],
            "homework_group_id": homework, "gate_id": gate, **state,
            "version": entries[-1]["seq"] if entries else 1}


@dataclass(frozen=True)
class StreamReader:
    """Who holds the stream: what they see of each pupil, and how their reads are recorded."""

    school: School
    identity: StaffIdentity
    device: str | None = None

    def actor(self, at: datetime) -> Actor:
        role = next((r.value for r in Role if r.value in self.identity.roles), "")
        return Actor(school_id=self.identity.school_id, staff_id=self.identity.staff_id,
                     staff_name=self.identity.name, role=role, at=at, device=self.device)


@dataclass(frozen=True)
class Change:
    """A pupil's change or an alert's, as every stream of the school would send it unshaped."""

    kind: str                 # "pupil" | "alert"
    data: Doc
    after: Doc | None = None  # pupil: the row after the change; alert: its pupil's row, if any
    before: Doc | None = None  # pupil: the row before it


def read_changes(app: HandoverApp, views: Views, notes: Sequence[LogNotification],
                 school_id: str | None = None) -> list[Item]:
    """The stream items of these log notifications: of one school, or of every school."""
    roster, alerts = views.view("roster"), views.view("alerts")
    # Whose is each event? The views' index documents name the school in their keys:
    # day/<school>/<day>/<session>/<pupil> and alert/<school>/<alert>.
    index = {**roster.get_many(f"day-index/{n.originator_id}" for n in notes
                               if n.topic in PUPIL_TOPICS),
             **alerts.get_many(f"alert-index/{n.originator_id}" for n in notes
                               if n.topic in ALERT_TOPICS)}
    keys: dict[int, str] = {}
    for n in notes:
        kind = "day" if n.topic in PUPIL_TOPICS else "alert"
        key = index.get(f"{kind}-index/{n.originator_id}", {}).get("key", "")
        if key.startswith(f"{kind}/{school_id}/" if school_id else f"{kind}/"):
            keys[n.id] = key
    if not keys:
        return []
    schools = roster.get_many({f"school/{k.split('/')[1]}" for k in keys.values()})
    days = roster.get_many(k for k in keys.values() if k.startswith("day/"))
    flagged = alerts.get_many(k for k in keys.values() if k.startswith("alert/"))
    wanted = {f"pupil/{k.split('/')[1]}/{d['pupil_id']}" for k, d in days.items()}
    wanted |= {f"pupil/{k.split('/')[1]}/{d['subject']['pupil_id']}" for k, d in flagged.items()
               if "pupil_id" in d["subject"]}
    pupils = roster.get_many(wanted)
    out: list[Item] = []
    for n in notes:
        if n.id not in keys:
            continue
        key = keys[n.id]
        sid = key.split("/")[1]
        school = schools[f"school/{sid}"]
        if n.topic in PUPIL_TOPICS:
            day = days[key]
            pupil = pupils[f"pupil/{sid}/{day['pupil_id']}"]
            out.append(Item(n.id, sid, _pupil_change(school, pupil, day, n.originator_version)))
        else:
            doc = flagged[key]
            out.append(Item(n.id, sid, Change("alert", _alert(app, n, doc),
                                              after=_subject_row(roster, sid, school, pupils, doc))))
    return out


def _pupil_change(school: Doc, pupil: Doc, day: Doc, version: int) -> Change:
    entries = day["entries"]
    entry = next(e for e in entries if e["seq"] == version)
    after = pupil_row(school, pupil, day, [e for e in entries if e["seq"] <= version])
    before = pupil_row(school, pupil, day, [e for e in entries if e["seq"] < version])
    by = entry["by"]
    data = {**after, "change": entry["type"], "at": by["at"],
            "by": {k: by.get(k) for k in ("staff_id", "staff_name", "role")}}
    return Change("pupil", data, after=after, before=before)


def _alert(app: HandoverApp, n: LogNotification, doc: Doc) -> Doc:
    event: Any = app.mapper.to_domain_event(n)
    change = ALERT_TOPICS[n.topic]
    data = {k: doc[k] for k in ("alert_id", "kind", "cause", "subject", "raised_at")}
    data["detail"] = alert_detail(doc)
    # Escalation stops once an alert is acknowledged or resolved, so by then its level is final.
    data.update(change=change, status=STATUS_AFTER[change], version=n.originator_version,
                level=0 if change == "raised" else getattr(event, "level", doc["level"]),
                at=doc["raised_at"] if change == "raised" else getattr(event, "at", None))
    if change == "escalated":
        data.update(step=event.step, notify=event.notify)
    if change in ("acknowledged", "resolved"):
        data.update(note=event.note, at=event.by.get("at"),
                    by={k: event.by.get(k) for k in ("staff_id", "staff_name", "role")})
    if change == "resolved":
        data["how"] = event.how
    return data


def _subject_row(roster: DocView, school_id: str, school: Doc, pupils: dict[str, Doc],
                 doc: Doc) -> Doc | None:
    """Where the alert's pupil is now in that session (for the gate and group filters)."""
    subject = doc["subject"]
    pupil = pupils.get(f"pupil/{school_id}/{subject.get('pupil_id')}")
    if pupil is None or "day" not in subject or "session" not in subject:
        return None
    day = roster.get(f"day/{school_id}/{subject['day']}/{subject['session']}/{pupil['pupil_id']}")
    return None if day is None else pupil_row(school, pupil, day, day["entries"])


class SchoolFeed:
    """What one stream sends of its school: its filters, its reader's view of each pupil, and
    the log read after a position (for a bounded read, or the gap before the live feed)."""

    def __init__(self, app: HandoverApp, views: Views, school_id: str, filters: Filters,
                 reader: StreamReader | None = None) -> None:
        self.app = app
        self.views = views
        self.school_id = school_id
        self.filters = filters
        self.active = bool(filters.gate_id or filters.group_id)
        self.reader = reader
        self._seen: dict[str, frozenset[Data]] = {}

    def wants(self, item: Item) -> bool:
        """Of this school (the feed sorts by school already), and touching the gate or group.

        A change is sent where the pupil was before it and where they are after it, so a
        gate's or a group's screen also learns who has just left it."""
        if item.school_id != self.school_id:
            return False
        change: Change = item.payload
        if not self.active:
            return True
        if change.kind == "pupil":
            return any(r is not None and self.filters.row(r) for r in (change.after, change.before))
        if self.filters.mentions(change.data["subject"]):
            return True
        return change.after is not None and self.filters.row(change.after)

    def page(self, after: int, stop: int | None) -> tuple[list[Item], int, bool]:
        """Items after ``after``; the position scanned to; whether more may follow at once."""
        head = self.app.recorder.max_notification_id() or 0
        upto = head if stop is None else min(head, stop)
        if upto <= after:
            return [], after, False
        notes = self.app.recorder.select_notifications(
            start=after, limit=PAGE, stop=upto, topics=TOPICS, inclusive_of_start=False)
        full = len(notes) == PAGE
        scanned = notes[-1].id if full else upto
        if not notes:
            return [], scanned, False
        for name in ("roster", "alerts"):  # the documents read below reflect these events
            self.views.runners[name].wait(notes[-1].id, VIEW_TIMEOUT)
        items = read_changes(self.app, self.views, notes, self.school_id)
        return [i for i in items if self.wants(i)], scanned, full

    def render(self, items: Sequence[Item]) -> list[tuple[int, str]]:
        """The SSE text of each item as this reader may see it; the reads are recorded.

        Readers who may see the same of a pupil share one rendering of each item."""
        out: list[tuple[int, str]] = []
        reads: list[tuple[str, list[str]]] = []
        for item in items:
            change: Change = item.payload
            if change.kind == "alert":
                text = item.cache.get("alert")
                if text is None:
                    text = item.cache["alert"] = _sse(item.position, "alert", change.data)
            else:
                seen = self._may_see(change.data.get("class_id") or "")
                text = item.cache.get(seen)
                if text is None:
                    shaped = change.data if seen is None else custody_state(change.data, seen)
                    text = item.cache[seen] = _sse(item.position, "pupil", shaped)
                if seen is not None:
                    reads.append((change.data["pupil_id"], read_of(seen, CUSTODY_LIST)))
            out.append((item.position, text))
        if self.reader is not None and reads:
            self.app.access.note(self.reader.actor(self.app.now()), "stream", group_reads(reads))
        return out

    def _may_see(self, class_id: str) -> frozenset[Data] | None:
        if self.reader is None:
            return None
        if class_id not in self._seen:
            self._seen[class_id] = may_see(self.reader.school, self.reader.identity.staff_id, class_id)
        return self._seen[class_id]


def _sse(position: int, kind: str, data: Doc) -> str:
    return f"id: {position}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class LiveFeed:
    """The process's one feed of every school's changes, read once for all its streams."""

    def __init__(self, app: HandoverApp, views: Views) -> None:
        self.app, self.views = app, views
        self.feed = Feed(self._read, lambda: app.recorder.max_notification_id() or 0, app.saved)

    def _read(self, after: int) -> tuple[list[Item], int, bool]:
        head = self.app.recorder.max_notification_id() or 0
        if head <= after:
            return [], after, False
        notes = self.app.recorder.select_notifications(
            start=after, limit=PAGE, stop=head, topics=TOPICS, inclusive_of_start=False)
        full = len(notes) == PAGE
        scanned = notes[-1].id if full else head
        if not notes:
            return [], scanned, False
        for name in ("roster", "alerts"):
            self.views.runners[name].wait(notes[-1].id, VIEW_TIMEOUT)
        return read_changes(self.app, self.views, notes), scanned, full


_feeds_lock = threading.Lock()


def live_feed(app: HandoverApp, views: Views) -> Feed:
    """The one live feed of this process's views."""
    with _feeds_lock:
        if views.feed is None:
            views.feed = LiveFeed(app, views).feed
        return views.feed


async def _events(request: Request, feed: SchoolFeed, after: int, stop: int | None,
                  max_events: int | None) -> AsyncGenerator[str, None]:
    yield f"retry: {RETRY_MS}\n\n"
    if stop is not None:
        async for chunk in _bounded(request, feed, after, stop, max_events):
            yield chunk
        return
    loop = asyncio.get_running_loop()
    sub, floor = await run_in_threadpool(
        live_feed(feed.app, feed.views).subscribe, feed.school_id, feed.wants, after, loop)
    sent, last, announced, last_beat = 0, after, after, monotonic()
    try:
        # Resuming from before what the feed holds: that gap from the store, once.
        while last < floor:
            try:
                items, scanned, _ = await run_in_threadpool(feed.page, last, floor)
            except TimeoutError:  # the views lag: nothing is skipped, the page is read again
                await asyncio.sleep(0.05)
                continue
            for position, text in await run_in_threadpool(feed.render, items):
                yield text
                sent, announced = sent + 1, position
                if max_events is not None and sent >= max_events:
                    return
            last = scanned
            if await request.is_disconnected():
                return
        last_beat = monotonic()
        while True:
            items, position, overflowed = sub.take()
            if overflowed:
                # Fallen too far behind the feed: its queue was dropped. The stream ends at
                # what it has sent; the client reconnects with that Last-Event-ID.
                yield f": too far behind: reconnect\nid: {announced}\n\n"
                return
            fresh = [i for i in items if i.position > last]
            if fresh:
                # Everything that came meanwhile in one write: fifty tablets cost the server
                # fifty sends per batch of changes, not per change.
                rendered = feed.render(fresh)
                if max_events is not None:
                    rendered = rendered[:max_events - sent]
                if rendered:
                    yield "".join(text for _, text in rendered)
                    sent, announced, last_beat = sent + len(rendered), rendered[-1][0], monotonic()
                if max_events is not None and sent >= max_events:
                    return
            last = max(last, position)
            if monotonic() - last_beat >= HEARTBEAT:
                moved = f"id: {last}\n" if last > announced else ""
                announced, last_beat = max(announced, last), monotonic()
                yield f": keep-alive\n{moved}\n"
            # Asked only when quiet: while events flow, a gone client fails the next send.
            if not fresh and await request.is_disconnected():
                return
            await sub.wait(min(POLL, HEARTBEAT))
            if sub.woken:
                await asyncio.sleep(GATHER)
    finally:
        sub.close()


async def _bounded(request: Request, feed: SchoolFeed, after: int, stop: int,
                   max_events: int | None) -> AsyncGenerator[str, None]:
    """Everything up to ``stop``, read from the store: a poll needs no feed."""
    sent, scanned, announced = 0, after, after
    while scanned < stop:
        try:
            items, scanned, more = await run_in_threadpool(feed.page, scanned, stop)
        except TimeoutError:  # the views lag: nothing is skipped, the page is read again
            items, more = [], False
        for position, text in await run_in_threadpool(feed.render, items):
            yield text
            sent, announced = sent + 1, position
            if max_events is not None and sent >= max_events:
                return
        if more or scanned >= stop:
            continue
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.05)
    if scanned > announced:
        yield f"id: {scanned}\n\n"  # a polling client resumes after what it has already scanned


@router.get(
    # The plain response class keeps FastAPI from documenting the 200 as a bare string.
    "/stream", response_class=Response,
    responses={200: {"description": SSE_DESCRIPTION,
                     "content": {"text/event-stream": {"schema": SSE_SCHEMA}}}},
)
async def stream(
    request: Request,
    identity: Annotated[StaffIdentity, Depends(stream_identity)],
    app: AppDep, views: ViewsDep,
    gate_id: Annotated[Line | None, Query(max_length=64, description="Only what touches this gate")] = None,
    group_id: Annotated[Line | None, Query(max_length=64, description="Only what touches this group")] = None,
    last_event_id: Annotated[int | None, Query(ge=0, description=(
        "Resume after this log position (e.g. the `position` of GET /v1/roster). Default: now. "
        "A `Last-Event-ID` header, as EventSource sends on reconnecting, wins over it."))] = None,
    last_event_id_header: Annotated[Line | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    once: Annotated[bool, Query(description=(
        "End the stream once everything up to now is sent: a poll, for clients that cannot "
        "hold a connection open"))] = False,
    max_events: Annotated[int | None, Query(ge=1, le=10000, description="End after this many")] = None,
) -> EventSourceResponse:
    """Roster changes and alerts of your school as they happen (server-sent events).

    Everything after the position you give is sent, in log order, so a reconnecting client
    misses nothing; nothing from another school is ever sent. Gate and group filters keep the
    changes that touch that place: where the pupil was before the change or is after it.
    """
    start = last_event_id
    if last_event_id_header is not None and last_event_id_header.strip():
        try:
            start = int(last_event_id_header.strip())
        except ValueError:
            raise RuleError("Last-Event-ID is a log position (a whole number).",
                            field="Last-Event-ID") from None
    head: int = await run_in_threadpool(lambda: app.recorder.max_notification_id() or 0)
    if start is not None and not 0 <= start <= head:
        raise RuleError(f"Log position {start} has not been written yet (head {head}).",
                        field="last_event_id")
    school = await run_in_threadpool(app.school, identity.school_id, True)
    if gate_id is not None and gate_id not in school.gates:
        raise NotFoundError("gate", gate_id)
    if group_id is not None and group_id not in school.groups:
        raise NotFoundError("group", group_id)
    feed = SchoolFeed(app, views, identity.school_id, Filters(gate_id, group_id),
                      StreamReader(school, identity, request.headers.get("x-device-id")))
    body = _events(request, feed, head if start is None else start, head if once else None, max_events)
    return EventSourceResponse(body, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
