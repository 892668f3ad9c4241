"""The school as it stood at a past minute, rebuilt from the log; and timelines of stored events.

Every stored fact carries the server's time of the command that recorded it (``by.at``, or the
``at`` of a sign-on or a delivery). In log order these times rise, so the last position recorded
at or before a minute is found by a binary search on them, reading a handful of events. The
roster as of that minute is the roster projection applied, in log order, to the events up to that
position, into a document view held in memory: events of other schools (but for a pupil's
registration, which names its school), of other days and sessions, and of kinds the roster does
not handle are skipped before their state is decoded. The
replay of the log before a day began is kept (per application, school, day and session), so every
further minute asked of that day replays only that day's events; the last few minutes asked are
kept too, so a minute after one of them (a slider's next step) replays only what came between.

Times rise in log order to within the length of a request: two commands in flight at the same
moment may be saved in the other order, so a minute's edge is exact to that much.

A timeline lists stored events with who, where, when (server and device time), what, and where
each is in the log (its position, its aggregate's id and version), so anyone can find it there.
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.utils import get_topic

from service.domain.incident import Incident
from service.domain.pupil import Pupil
from service.domain.pupil_day import IN_CUSTODY, PupilDay, custody_state
from service.domain.refs import ChainEntry
from service.domain.school import School
from service.domain.shift import DUTY, shift_id
from service.projections.docstore import Changes, Doc, DocView
from service.projections.roster import ENTRY_TYPES, Roster, entry_of, read_roster
from service.projections.runtime import Batch

PAGE = 2000  # notifications read at a time while replaying
PROBE = 8  # notifications read at a probe of the binary search
_META = {"originator_id", "originator_version", "timestamp", "originator_topic", "by"}
# A chain's facts that do not move custody: an offer waits for the receiver, a refusal keeps the
# pupil where they were.
NOT_CUSTODY = ("offered", "offer_withdrawn", "release_refused")


_HANDLED = set(Roster._handlers)
SCHOOL_TOPICS = {get_topic(c) for c in _HANDLED if c.__qualname__.startswith("School.")}
REGISTERED_TOPIC = get_topic(Pupil.Registered)
PUPIL_TOPICS = {get_topic(c) for c in _HANDLED if c.__qualname__.startswith("Pupil.")} - {REGISTERED_TOPIC}
DAY_TOPICS = {get_topic(c) for c in (PupilDay.Opened, *ENTRY_TYPES)}
ROSTER_TOPICS = sorted(SCHOOL_TOPICS | PUPIL_TOPICS | DAY_TOPICS | {REGISTERED_TOPIC})
assert {get_topic(c) for c in _HANDLED} <= set(ROSTER_TOPICS), "a roster event the replay would skip"


# -- when an event was recorded -------------------------------------------------------------------

def server_time(event: Any) -> datetime | None:
    """The server's time of the command that recorded the event (None for the few that carry
    none: a school's founding, a chain's opening, a command's stored answer)."""
    by = getattr(event, "by", None)
    at = by.get("at") if isinstance(by, dict) else None
    if at is None:
        at = getattr(event, "at", None)
    if isinstance(at, datetime):
        return at
    if isinstance(at, str):
        try:
            return datetime.fromisoformat(at)
        except ValueError:
            return None
    return None


class Log:
    """Reads of one application's log by time: probes are remembered for the call's duration."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app
        self.head = app.recorder.max_notification_id() or 0
        self._probes: dict[int, tuple[int, datetime] | None] = {}

    def first_timed(self, position: int) -> tuple[int, datetime] | None:
        """The first event at or after ``position`` that carries a time: (its position, time)."""
        if position in self._probes:
            return self._probes[position]
        start, found = position, None
        while found is None and start <= self.head:
            page = self.app.recorder.select_notifications(start=start, limit=PROBE, stop=self.head)
            if not page:
                break
            for n in page:
                at = server_time(self.app.mapper.to_domain_event(n))
                if at is not None:
                    found = (n.id, at)
                    break
            start = page[-1].id + 1
        self._probes[position] = found
        return found

    def _first_where(self, later: Any) -> int:
        """The smallest position p (1 … head+1) whose first timed event at or after it is
        ``later`` (or does not exist), times rising in log order."""
        lo, hi = 1, self.head + 1
        while lo < hi:
            mid = (lo + hi) // 2
            probe = self.first_timed(mid)
            if probe is None or later(probe[1]):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def position_at(self, moment: datetime) -> int:
        """The last position recorded at or before ``moment`` (0: nothing yet)."""
        return self._first_where(lambda at: at > moment) - 1

    def first_from(self, moment: datetime) -> int:
        """The first position recorded at or after ``moment`` (head+1: none)."""
        return self._first_where(lambda at: at >= moment)


# -- an in-memory document view: the roster as it stood ---------------------------------------------

class SnapshotView(DocView):
    """Documents held in memory as they are (no copy, no JSON): read once, then dropped."""

    def __init__(self, name: str, docs: dict[str, Doc], position: int) -> None:
        super().__init__(name)
        self.docs, self.position = docs, position

    def get_many(self, keys: Iterable[str]) -> dict[str, Doc]:
        return {k: self.docs[k] for k in keys if k in self.docs}

    def scan(self, prefix: str) -> dict[str, Doc]:
        return {k: v for k, v in self.docs.items() if k.startswith(prefix)}

    def _commit(self, changes: Changes, tracking: Tracking, after: int | None) -> None:
        for key, doc in changes.items():
            if doc is None:
                self.docs.pop(key, None)
            else:
                self.docs[key] = doc
        self.position = tracking.notification_id

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.position

    def reset(self) -> None:
        self.docs.clear()
        self.position = 0

    def add(self, key: str, doc: Doc) -> bool:
        return self.docs.setdefault(key, doc) is doc

    def replace(self, key: str, doc: Doc) -> None:
        self.docs[key] = doc


@dataclass
class _Replay:
    """A replay of the roster for one school, day and session, up to ``position``."""

    position: int
    docs: dict[str, Doc]
    pupils: set[str]


class _Checkpoints:
    """Per application, the replay up to the start of a few recent days: positions before a day
    began never change, so every minute of that day (a time slider) replays only the day. Kept
    as JSON text, so each use starts from its own copy."""

    KEEP = 8

    def __init__(self) -> None:
        self._by_app: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, str, str, int], str]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    def get(self, app: Any, key: tuple[str, str, str, int]) -> _Replay | None:
        with self._lock:
            kept = self._by_app.get(app)
            text = kept.get(key) if kept is not None else None
            if text is not None and kept is not None:
                kept.move_to_end(key)
        if text is None:
            return None
        docs: dict[str, Doc] = json.loads(text)
        pupils = {k.removeprefix("pupil-index/") for k in docs if k.startswith("pupil-index/")}
        return _Replay(key[3], docs, pupils)

    def put(self, app: Any, key: tuple[str, str, str, int], replay: _Replay) -> None:
        text = json.dumps(replay.docs, ensure_ascii=False)
        with self._lock:
            kept = self._by_app.setdefault(app, OrderedDict())
            kept[key] = text
            while len(kept) > self.KEEP:
                kept.popitem(last=False)

    def nearest(self, app: Any, where: tuple[str, str, str], lo: int, hi: int) -> _Replay | None:
        """The kept replay of that school, day and session furthest along between ``lo`` and
        ``hi`` (both included), or None."""
        with self._lock:
            kept = self._by_app.get(app)
            found = max((k for k in (kept or {}) if k[:3] == where and lo <= k[3] <= hi),
                        key=lambda k: k[3], default=None)
        return self.get(app, found) if found is not None else None

    def keys(self, app: Any) -> list[tuple[str, str, str, int]]:
        with self._lock:
            return list(self._by_app.get(app) or {})

    def clear(self) -> None:
        with self._lock:
            self._by_app.clear()


CHECKPOINTS = _Checkpoints()


class _Minutes(_Checkpoints):
    """The last few minutes asked of a day (a time slider's): the next minute later replays
    only what was recorded since."""

    KEEP = 6


MINUTES = _Minutes()


def _replay(app: Application[Any], school_id: str, replay: _Replay, cut: int, day: date,
            sessions: Sequence[str]) -> _Replay:
    """Apply the roster projection to the log after ``replay.position`` up to ``cut``."""
    view = SnapshotView("roster-as-of", replay.docs, replay.position)
    projection = Roster(view)
    batch = Batch(view)
    pupils = replay.pupils
    days = {str(PupilDay.create_id(school_id, p, day.isoformat(), s)) for p in pupils for s in sessions}
    start = replay.position + 1
    while start <= cut:
        page = app.recorder.select_notifications(start=start, limit=PAGE, stop=cut, topics=ROSTER_TOPICS)
        if not page:
            break
        for n in page:
            originator = str(n.originator_id)
            topic = n.topic
            if topic in DAY_TOPICS:
                if originator not in days:
                    continue
            elif topic in PUPIL_TOPICS:
                if originator not in pupils:
                    continue
            elif topic in SCHOOL_TOPICS and originator != school_id:
                continue
            event: Any = app.mapper.to_domain_event(n)
            if topic == REGISTERED_TOPIC:
                if event.school_id != school_id:
                    continue
                pupils.add(originator)
                days.update(str(PupilDay.create_id(school_id, originator, day.isoformat(), s))
                            for s in sessions)
            projection.apply(event, batch)
        start = page[-1].id + 1
    view.commit(batch.changes, Tracking(app.name, max(cut, replay.position)))
    return _Replay(max(cut, replay.position), view.docs, pupils)


SETTLED = timedelta(seconds=60)  # a write in flight at a moment has committed (or failed) by then


def _settled(app: Application[Any], moment: datetime) -> bool:
    """Whether every write recorded by ``moment`` is in the log for good: a replay up to it may be
    kept and continued (a write still in flight could take a lower position than one read)."""
    now = getattr(app, "now", None)
    current = now() if callable(now) else datetime.now().astimezone()
    return bool(current - moment >= SETTLED)


def roster_view_at(app: Application[Any], school: School, cut: int, day: date, session: str,
                   log: Log | None = None, keep: bool = False) -> SnapshotView:
    """The roster projection of the log up to position ``cut``, for one school and day: the
    part before the day began is replayed once and kept; the rest from the furthest minute kept
    before ``cut``, and kept in its turn when ``keep`` (the moment has settled)."""
    log = log or Log(app)
    base = min(cut, log.position_at(datetime.combine(day, time(0), school.tz) - timedelta(microseconds=1)))
    where = (school.school_id, day.isoformat(), session)
    start = MINUTES.nearest(app, where, base, cut)
    if start is None:
        start = CHECKPOINTS.get(app, (*where, base))
    if start is None:
        start = _replay(app, school.school_id, _Replay(0, {}, set()), base, day, [session])
        CHECKPOINTS.put(app, (*where, base), start)
    done = _replay(app, school.school_id, start, cut, day, [session])
    if keep and done.position > start.position:
        MINUTES.put(app, (*where, done.position), done)
    return SnapshotView("roster-as-of", done.docs, done.position)


_TO_THE_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(Z|[+-]\d{2}(:?\d{2})?)?$")


def parse_moment(text: str, school: School) -> datetime:
    """An ISO date and time; without an offset, in the school's time zone. A minute without
    seconds means the whole minute: what was recorded at 17:42 counts as at 17:42."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("A date and time, as 2026-12-01T17:42 (school time) or with an offset.") from None
    if not 2000 <= at.year <= 2100:
        raise ValueError("A moment between the years 2000 and 2100.")
    if at.tzinfo is None:
        at = at.replace(tzinfo=school.tz)
    if _TO_THE_MINUTE.match(text.strip()):
        at = at + timedelta(minutes=1) - timedelta(microseconds=1)
    return at


@dataclass
class AsOf:
    moment: datetime
    position: int  # the last log position recorded at or before the moment
    head: int


def as_of(app: Application[Any], moment: datetime) -> tuple[AsOf, Log]:
    log = Log(app)
    return AsOf(moment, log.position_at(moment), log.head), log


def roster_as_of(app: Application[Any], school: School, moment: datetime, session: str, *,
                 group_id: str | None = None, gate_id: str | None = None,
                 q: str | None = None) -> dict[str, Any]:
    """The roster of the school (a group, a gate) as it stood at ``moment``."""
    found, log = as_of(app, moment)
    day = moment.astimezone(school.tz).date()
    view = roster_view_at(app, school, found.position, day, session, log, keep=_settled(app, moment))
    roster = read_roster(view, school.school_id, day, session, group_id=group_id, gate_id=gate_id, q=q)
    if roster is None:  # the school was not yet set up then
        roster = {"school_id": school.school_id, "day": day.isoformat(), "session": session,
                  "service": False, "counts": {"total": 0, "by_status": {}, "by_group": {},
                                               "by_band": {}, "by_gate": {}, "gone": 0},
                  "pupils": [], "still_in_school": []}
    return {**roster, "at": moment.isoformat(), "position": found.position, "head": found.head}


# -- finding stored events in the log ---------------------------------------------------------------

@dataclass
class Stored:
    """A stored event as a timeline shows it, with where it sits in the log."""

    event: Any
    at: datetime | None
    position: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return str(self.event.originator_id), int(self.event.originator_version)


def events_of(app: Application[Any], aggregate_ids: Iterable[Any]) -> list[Stored]:
    """Every stored event of these aggregates, each with its time; an event without one (a
    chain's opening) takes the time of the next event of its aggregate, saved with it."""
    out: list[Stored] = []
    for aggregate_id in aggregate_ids:
        chain = [Stored(e, server_time(e)) for e in app.events.get(UUID(str(aggregate_id)))]
        later: datetime | None = None
        for s in reversed(chain):
            if s.at is None:
                s.at = later
            later = s.at or later
        out.extend(chain)
    return out


CLUSTER_GAP = timedelta(minutes=30)
SLACK = timedelta(seconds=5)


def locate(app: Application[Any], stored: Sequence[Stored], log: Log | None = None) -> None:
    """Set each event's log position: the log is scanned around each cluster of their times
    (only the notifications of those aggregates are looked at, none decoded)."""
    log = log or Log(app)
    wanted = {s.key: s for s in stored if s.at is not None}
    timed = sorted(wanted.values(), key=lambda s: s.at or datetime.min)
    clusters: list[list[Stored]] = []
    for s in timed:
        assert s.at is not None
        if clusters and s.at - (clusters[-1][-1].at or s.at) <= CLUSTER_GAP:
            clusters[-1].append(s)
        else:
            clusters.append([s])
    for cluster in clusters:
        first, last = cluster[0].at, cluster[-1].at
        assert first is not None and last is not None
        todo = {s.key: s for s in cluster}
        topics = sorted({get_topic(type(s.event)) for s in cluster})
        start = max(1, log.first_from(first - SLACK) - PROBE)
        stop = min(log.head, log.position_at(last + SLACK) + PROBE)
        _scan(app, todo, topics, start, stop)
        if todo:  # times not rising around them: look through the whole log
            _scan(app, todo, topics, 1, log.head)


def _scan(app: Application[Any], todo: dict[tuple[str, int], Stored], topics: list[str],
          start: int, stop: int) -> None:
    while todo and start <= stop:
        page: Sequence[Notification] = app.recorder.select_notifications(
            start=start, limit=PAGE, stop=stop, topics=topics)
        if not page:
            return
        for n in page:
            s = todo.pop((str(n.originator_id), int(n.originator_version)), None)
            if s is not None:
                s.position = n.id
        start = page[-1].id + 1


# -- timeline entries -----------------------------------------------------------------------------

def _event_name(event: Any) -> str:
    return type(event).__qualname__


def _where(facts: dict[str, Any]) -> Any:
    for key in ("place", "gate"):
        if isinstance(facts.get(key), dict):
            return facts[key]
    return None


def entry(stored: Stored, subject: dict[str, Any]) -> dict[str, Any]:
    """One line of a timeline: who, where, when, what, and where the event is in the log."""
    event = stored.event
    facts = {k: v for k, v in vars(event).items() if k not in _META}
    by = getattr(event, "by", None) or {}
    what = ENTRY_TYPES.get(type(event)) or _step_name(event)
    where = _where(facts)
    if where is None and by.get("place"):
        where = {"id": by["place"], "label": by["place"], "kind": "device"}
    return {
        "position": stored.position, "aggregate_id": str(event.originator_id),
        "version": int(event.originator_version), "event": _event_name(event), "what": what,
        "subject": subject,
        "who": {"staff_id": by.get("staff_id"), "name": by.get("staff_name"), "role": by.get("role")}
        if by else None,
        "where": where,
        "at": stored.at.isoformat() if stored.at else None,
        "device_time": by.get("device_time"), "device": by.get("device"),
        "facts": {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in facts.items()},
    }


def _step_name(event: Any) -> str:
    name = type(event).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _ordered(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (e["position"] is None, e["position"] or 0, e["at"] or ""))


def chain_ids(school: School, pupil_id: str, day: date) -> list[tuple[str, Any]]:
    return [(s.key, PupilDay.create_id(school.school_id, pupil_id, day.isoformat(), s.key))
            for s in school.schedule.sessions]


def _chain_subject(event: Any, session_of: dict[str, tuple[str, str]]) -> dict[str, Any]:
    pupil_id, session = session_of[str(event.originator_id)]
    return {"kind": "pupil_day", "pupil_id": pupil_id, "session": session}


def pupil_chains(app: Application[Any], school: School, pupil_ids: Iterable[str], day: date
                 ) -> tuple[list[Stored], dict[str, tuple[str, str]]]:
    session_of: dict[str, tuple[str, str]] = {}
    for pid in pupil_ids:
        for session, cid in chain_ids(school, pid, day):
            session_of[str(cid)] = (pid, session)
    return events_of(app, session_of), session_of


def _shift_subject(event: Any, shifts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "shift", **shifts[str(event.originator_id)]}


def shift_events(app: Application[Any], school: School, day: date,
                 keys: Iterable[tuple[str, str, str]]) -> tuple[list[Stored], dict[str, dict[str, Any]]]:
    """The stored shifts among these (staff, session, place): the ones signed on."""
    shifts: dict[str, dict[str, Any]] = {}
    for staff, session, place in keys:
        sid = shift_id(school.school_id, staff, day.isoformat(), session, place)
        shifts[str(sid)] = {"staff_id": staff, "session": session, "place_id": place}
    return events_of(app, shifts), shifts


def pupil_day_timeline(app: Application[Any], school: School, pupil_id: str, day: date
                       ) -> dict[str, Any]:
    """A pupil's whole day: every session's chain of custody, in log order."""
    stored, session_of = pupil_chains(app, school, [pupil_id], day)
    locate(app, stored)
    entries = [entry(s, _chain_subject(s.event, session_of)) for s in stored]
    return {"pupil_id": pupil_id, "day": day.isoformat(), "entries": _ordered(entries)}


def incident_timeline(app: Application[Any], school: School, incident: Incident) -> dict[str, Any]:
    """The incident's steps, the chains of custody of the pupils involved that day, and the duty
    shifts and the shifts of the places they were held at, in log order."""
    day = date.fromisoformat(incident.day)
    own = events_of(app, [incident.id])
    chains, session_of = pupil_chains(app, school, incident.pupil_ids, day)
    sessions = [s.key for s in school.schedule.sessions]
    keys = {(staff_id, session, DUTY) for staff_id, member in school.staff.items()
            if "duty_leader" in member["roles"] for session in sessions}
    for s in chains:
        facts = vars(s.event)
        for holder in ("custodian", "to", "giver"):
            person, place = facts.get(holder), _where(facts)
            if isinstance(person, dict) and isinstance(place, dict):
                keys.update((person["staff_id"], session, place["id"]) for session in sessions)
    if incident.place is not None:
        keys.update((staff_id, session, incident.place["id"]) for staff_id in school.staff
                    for session in sessions)
    shifts, shift_of = shift_events(app, school, day, keys)
    log = Log(app)
    locate(app, [*own, *chains, *shifts], log)
    entries = [entry(s, {"kind": "incident", "incident_id": str(incident.id)}) for s in own]
    entries += [entry(s, _chain_subject(s.event, session_of)) for s in chains]
    entries += [entry(s, _shift_subject(s.event, shift_of)) for s in shifts]
    return {"incident_id": str(incident.id), "day": incident.day, "pupil_ids": incident.pupil_ids,
            "entries": _ordered(entries)}


def _involves(event: Any, staff_id: str) -> bool:
    return _involves_entry(vars(event), staff_id)


def staff_shift_timeline(app: Application[Any], school: School, view: DocView, staff_id: str,
                         day: date) -> dict[str, Any]:
    """A staff member's day: the shifts they signed on and off, the custody they took and gave,
    the pupils they signed in and released. The chains they appear in are found in the roster
    view; every entry is read from the store."""
    sessions = [s.key for s in school.schedule.sessions]
    places = [*school.groups, *school.gates, DUTY, "gatehouse"]
    shifts, shift_of = shift_events(app, school, day, {(staff_id, s, p) for s in sessions for p in places})
    session_of: dict[str, tuple[str, str]] = {}
    versions: dict[str, int] = {}
    for doc in view.scan(f"day/{school.school_id}/{day.isoformat()}/").values():
        if any(_involves_entry(e, staff_id) for e in doc["entries"]):
            cid = str(PupilDay.create_id(school.school_id, doc["pupil_id"], doc["day"], doc["session"]))
            session_of[cid], versions[cid] = (doc["pupil_id"], doc["session"]), int(doc["version"])
    log = Log(app)
    chains = [s for s in day_chains(app, school, day, versions, log) if _involves(s.event, staff_id)]
    locate(app, shifts, log)
    entries = [entry(s, _shift_subject(s.event, shift_of)) for s in shifts]
    entries += [entry(s, _chain_subject(s.event, session_of)) for s in chains]
    return {"staff_id": staff_id, "day": day.isoformat(), "entries": _ordered(entries)}


QUEUED_DAYS = 8  # a tablet may queue a day's commands for a week: they are recorded that late


def day_chains(app: Application[Any], school: School, day: date, versions: dict[str, int],
               log: Log) -> list[Stored]:
    """Every event of these chains (id → version) of a day, with its position: read in one pass
    over the day's part of the log (only those chains' events decoded); a chain with facts
    recorded outside it (an absence reported days ahead) is read by itself and found in the log."""
    begins = datetime.combine(day, time(0), school.tz)
    start, stop = log.first_from(begins), log.position_at(begins + timedelta(days=QUEUED_DAYS))
    found: dict[str, list[Stored]] = {}
    topics = sorted(DAY_TOPICS)
    while versions and start <= stop:
        page = app.recorder.select_notifications(start=start, limit=PAGE, stop=stop, topics=topics)
        if not page:
            break
        for n in page:
            cid = str(n.originator_id)
            if cid in versions:
                event = app.mapper.to_domain_event(n)
                found.setdefault(cid, []).append(Stored(event, server_time(event), n.id))
        start = page[-1].id + 1
    out: list[Stored] = []
    for cid, chain in found.items():
        if len(chain) != versions[cid]:
            continue
        later: datetime | None = None
        for s in reversed(chain):  # the chain's opening takes the time of the fact saved with it
            s.at = s.at or later
            later = s.at
        out.extend(chain)
    rest = events_of(app, [cid for cid in versions if len(found.get(cid, ())) != versions[cid]])
    locate(app, rest, log)
    return [*out, *rest]


def _involves_entry(e: dict[str, Any], staff_id: str) -> bool:
    if (e.get("by") or {}).get("staff_id") == staff_id:
        return True
    return any(isinstance(e.get(k), dict) and e[k].get("staff_id") == staff_id
               for k in ("custodian", "giver", "to", "approved_by"))


# -- who had custody of this pupil at that minute ---------------------------------------------------

def custody_at(app: Application[Any], school: School, pupil_id: str, moment: datetime,
               session: str) -> dict[str, Any]:
    """The pupil's state at ``moment`` from the chain's events up to the log position of that
    minute, the custodian and place, and the custody events before and after that prove it."""
    found, log = as_of(app, moment)
    day = moment.astimezone(school.tz).date()
    chain_id = PupilDay.create_id(school.school_id, pupil_id, day.isoformat(), session)
    stored = events_of(app, [chain_id])
    locate(app, stored, log)
    facts = [s for s in stored if type(s.event) in ENTRY_TYPES]
    standing = [s for s in facts if s.position is not None and s.position <= found.position]
    entries: list[ChainEntry] = [entry_of(s.event) for s in standing]  # type: ignore[misc]
    state = dict(custody_state(entries))
    moves = [s for s in facts if ENTRY_TYPES[type(s.event)] not in NOT_CUSTODY]
    before = [s for s in moves if s in standing]
    after = [s for s in moves if s not in standing]
    subject = {"kind": "pupil_day", "pupil_id": pupil_id, "session": session}
    return {
        "pupil_id": pupil_id, "day": day.isoformat(), "session": session, "at": moment.isoformat(),
        "position": found.position, "head": found.head,
        "status": state["status"],
        "custodian": state["custodian"] if state["status"] == IN_CUSTODY else None,
        "place": state["place"] if state["status"] == IN_CUSTODY else None,
        "state": state,
        "before": entry(before[-1], subject) if before else None,
        "after": entry(after[0], subject) if after else None,
    }
