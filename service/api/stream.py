"""Live push: a school's roster changes and alerts as server-sent events, resumable by log position."""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import AsyncGenerator, Sequence
from contextlib import suppress
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
from service.domain.privacy import custody_rows
from service.domain.pupil_day import IN_CUSTODY, NOT_HANDED_OVER, derive
from service.domain.school import School
from service.projections.docstore import Doc
from service.projections.roster import ENTRY_TYPES
from service.projections.views import Views
from service.use_cases.application import HandoverApp
from service.use_cases.core import StaffIdentity
from service.use_cases.signal import SaveSignal

router = APIRouter(prefix="/v1", tags=["stream"], responses=READ_RESPONSES)

PAGE = 500               # log notifications read per query
HEARTBEAT = 15.0         # seconds between keep-alive comments on a quiet stream
POLL = 1.0               # how often the store is asked anyway (writes from other processes)
VIEW_TIMEOUT = 10.0      # how long a page waits for the roster and alert views to catch up
RETRY_MS = 2000          # EventSource reconnection delay

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


class SchoolFeed:
    """Reads the log after a position and keeps what belongs to one school and its filters."""

    def __init__(self, app: HandoverApp, views: Views, school_id: str, filters: Filters,
                 reader: StreamReader | None = None) -> None:
        self.app = app
        self.views = views
        self.school_id = school_id
        self.filters = filters
        self.active = bool(filters.gate_id or filters.group_id)
        self.reader = reader

    def page(self, after: int, stop: int | None) -> tuple[Events, int, bool]:
        """Events after ``after``; the position scanned to; whether more may follow at once."""
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
        return self._events(notes), scanned, full

    def _events(self, notes: Sequence[LogNotification]) -> Events:
        roster, alerts = self.views.view("roster"), self.views.view("alerts")
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
            if key.startswith(f"{kind}/{self.school_id}/"):
                keys[n.id] = key
        if not keys:
            return []
        school = roster.get(f"school/{self.school_id}")
        assert school is not None
        days = roster.get_many(k for k in keys.values() if k.startswith("day/"))
        flagged = alerts.get_many(k for k in keys.values() if k.startswith("alert/"))
        pupil_ids = {d["pupil_id"] for d in days.values()}
        pupil_ids |= {d["subject"]["pupil_id"] for d in flagged.values() if "pupil_id" in d["subject"]}
        pupils = roster.get_many(f"pupil/{self.school_id}/{p}" for p in pupil_ids)
        out: Events = []
        rows: list[Doc] = []
        for n in notes:
            if n.id not in keys:
                continue
            if n.topic in PUPIL_TOPICS:
                day = days[keys[n.id]]
                pupil = pupils[f"pupil/{self.school_id}/{day['pupil_id']}"]
                data = self._pupil(school, pupil, day, n.originator_version)
                if data is not None:
                    rows.append(data)
                    out.append((n.id, "pupil", data))
            elif self._alert_wanted(school, pupils, flagged[keys[n.id]]):
                out.append((n.id, "alert", self._alert(n, flagged[keys[n.id]])))
        if self.reader is not None and rows:
            shaped, reads = custody_rows(self.reader.school, self.reader.identity.staff_id, rows)
            for row, cut in zip(rows, shaped, strict=True):
                row.update(cut)  # the same objects are in ``out``
            self.app.access.note(self.reader.actor(self.app.now()), "stream", reads)
        return out

    def _pupil(self, school: Doc, pupil: Doc, day: Doc, version: int) -> Doc | None:
        entries = day["entries"]
        entry = next(e for e in entries if e["seq"] == version)
        after = pupil_row(school, pupil, day, [e for e in entries if e["seq"] <= version])
        if self.active:
            before = pupil_row(school, pupil, day, [e for e in entries if e["seq"] < version])
            # A change is sent where the pupil was before it and where they are after it, so a
            # gate's or a group's screen also learns who has just left it.
            if not (self.filters.row(after) or self.filters.row(before)):
                return None
        by = entry["by"]
        return {**after, "change": entry["type"], "at": by["at"],
                "by": {k: by.get(k) for k in ("staff_id", "staff_name", "role")}}

    def _alert(self, n: LogNotification, doc: Doc) -> Doc:
        event: Any = self.app.mapper.to_domain_event(n)
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

    def _alert_wanted(self, school: Doc, pupils: dict[str, Doc], doc: Doc) -> bool:
        if not self.active or self.filters.mentions(doc["subject"]):
            return True
        subject = doc["subject"]
        pupil = pupils.get(f"pupil/{self.school_id}/{subject.get('pupil_id')}")
        if pupil is None or "day" not in subject or "session" not in subject:
            return False
        day = self.views.view("roster").get(
            f"day/{self.school_id}/{subject['day']}/{subject['session']}/{pupil['pupil_id']}")
        return day is not None and self.filters.row(pupil_row(school, pupil, day, day["entries"]))


def _sse(position: int, kind: str, data: Doc) -> str:
    return f"id: {position}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class SaveWaker:
    """One thread per application turns its save signal into wake-ups of every open stream.

    Streams live on the event loop and must not block it, nor hold a worker thread each while
    they wait; the thread runs only while some stream is open.
    """

    def __init__(self, signal: SaveSignal) -> None:
        self.signal = signal
        self._lock = threading.Lock()
        self._events: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._thread: threading.Thread | None = None

    def add(self, event: asyncio.Event) -> None:
        with self._lock:
            self._events[id(event)] = (asyncio.get_running_loop(), event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stream-waker", daemon=True)
                self._thread.start()

    def remove(self, event: asyncio.Event) -> None:
        with self._lock:
            self._events.pop(id(event), None)

    def _run(self) -> None:
        seen = self.signal.count
        while True:
            count = self.signal.wait(seen, POLL)
            with self._lock:
                if not self._events:
                    self._thread = None
                    return
                targets = list(self._events.values()) if count != seen else []
            seen = count
            for loop, event in targets:
                with suppress(RuntimeError):  # that stream's loop has closed
                    loop.call_soon_threadsafe(event.set)


_wakers: weakref.WeakKeyDictionary[SaveSignal, SaveWaker] = weakref.WeakKeyDictionary()
_wakers_lock = threading.Lock()


def waker_for(signal: SaveSignal) -> SaveWaker:
    with _wakers_lock:
        found = _wakers.get(signal)
        if found is None:
            found = _wakers[signal] = SaveWaker(signal)
        return found


async def _events(request: Request, feed: SchoolFeed, after: int, stop: int | None,
                  max_events: int | None) -> AsyncGenerator[str, None]:
    yield f"retry: {RETRY_MS}\n\n"
    sent, scanned, announced, last_beat = 0, after, after, monotonic()
    saved, waker = asyncio.Event(), waker_for(feed.app.saved)
    waker.add(saved)
    try:
        while stop is None or scanned < stop:
            saved.clear()  # before reading: a save from now on wakes the next round
            try:
                events, scanned, more = await run_in_threadpool(feed.page, scanned, stop)
            except TimeoutError:  # the views lag: nothing is skipped, the page is read again
                events, more = [], False
            for position, kind, data in events:
                yield _sse(position, kind, data)
                sent, announced, last_beat = sent + 1, position, monotonic()
                if max_events is not None and sent >= max_events:
                    return
            if more:
                continue
            if stop is not None and scanned >= stop:
                break  # a bounded read is done: no need to wait for more writes
            if monotonic() - last_beat >= HEARTBEAT:
                moved = f"id: {scanned}\n" if scanned > announced else ""
                announced, last_beat = max(announced, scanned), monotonic()
                yield f": keep-alive\n{moved}\n"
            if await request.is_disconnected():
                return
            # Woken by a save in this process; the poll picks up other processes' writes.
            with suppress(TimeoutError):
                await asyncio.wait_for(saved.wait(), timeout=min(POLL, HEARTBEAT))
    finally:
        waker.remove(saved)
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
