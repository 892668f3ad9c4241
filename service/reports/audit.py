"""The audit trail searched: a school's stored events by pupil, staff member, time, type and device.

The search scans the log between the positions of its time range (found by the binary search on
the events' server times), a bounded stretch per page: the chain view says which school each
position belongs to, so another school's events are never decoded. A page ends when it holds
``limit`` hits or has looked at ``SCAN`` positions; ``next_after`` continues where it stopped,
so one page never reads the whole month however rare the hits.

Which pupils an event is about: the pupil's own aggregate, the pupil of a chain of custody (read
from the chain's first event, once per chain), and the ``pupil_id`` or ``pupil_ids`` an event
names (a handover, an incident, an alert's subject).

What can be told from a stored record's topic and aggregate id is told before its state is
decoded: an event type is its topic; one pupil's record is their id, and their chains of custody
are the ids derived from the pupil and each day a fact recorded in the range can be about (from
``QUEUED_DAYS`` before it, a tablet's queue, to ``AHEAD_DAYS`` after it, leave reported ahead), so
the chains of every other pupil (most of a school's log) are passed over undecoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.school import School
from service.projections.evidence import Evidence
from service.projections.history import QUEUED_DAYS, Log, Stored, entry, server_time
from service.use_cases.application import HandoverApp

SCAN = 20000  # positions one page looks at, at most
PAGE = 1000
MAX_CHAIN_DAYS = 400  # a pupil's chains are listed for a range up to this long; beyond, read
AHEAD_DAYS = 62  # leave or absence is recorded at most this long before its day
PUPIL_DAY_TOPIC = get_topic(PupilDay) + "."
PUPIL_TOPIC = get_topic(Pupil) + "."
_HIDDEN = frozenset({"phone", "id_tail"})


@dataclass
class Query:
    pupil_id: str | None = None
    staff_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    event_type: str | None = None  # a class (PupilDay.Released) or an aggregate (PupilDay)
    device: str | None = None
    after: int = 0
    limit: int = 100


@dataclass
class Found:
    hits: list[dict[str, Any]] = field(default_factory=list)
    scanned_to: int = 0
    next_after: int | None = None
    pupil_ids: set[str] = field(default_factory=set)


def _event_type_matches(name: str, wanted: str | None) -> bool:
    return wanted is None or name == wanted or name.startswith(wanted + ".")


def _named_pupils(event: Any) -> set[str]:
    out: set[str] = set()
    for source in (vars(event), getattr(event, "subject", None) or {}):
        if not isinstance(source, dict):
            continue
        one = source.get("pupil_id")
        if isinstance(one, str):
            out.add(one)
        many = source.get("pupil_ids")
        if isinstance(many, list):
            out.update(str(p) for p in many)
    return out


class _ChainPupils:
    """The pupil of each chain of custody, read from its first event once."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app
        self.known: dict[str, str | None] = {}

    def of(self, originator_id: str) -> str | None:
        if originator_id not in self.known:
            first = next(iter(self.app.events.get(UUID(originator_id), lte=1)), None)
            self.known[originator_id] = getattr(first, "pupil_id", None)
        return self.known[originator_id]


def pupils_of(event: Any, chains: _ChainPupils) -> set[str]:
    pupils = _named_pupils(event)
    if isinstance(event, Pupil.Event):
        pupils.add(str(event.originator_id))
    elif isinstance(event, PupilDay.Event):
        pupil = chains.of(str(event.originator_id))
        if pupil is not None:
            pupils.add(pupil)
    return pupils


def scrub(value: Any) -> Any:
    """Facts without contact data (phone numbers, ID tails): no reader of the trail needs them."""
    if isinstance(value, dict):
        return {k: (None if k in _HIDDEN else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _type_matches(topic: str, wanted: str | None) -> bool:
    return _event_type_matches(topic.split(":", 1)[-1], wanted)


class _Skip:
    """Which records cannot match, told from their topic and aggregate id alone."""

    def __init__(self, school: School, query: Query, first: date | None, last: date) -> None:
        self.query = query
        self.pupil = query.pupil_id
        self.chains: set[str] | None = None
        if self.pupil is not None and first is not None and (last - first).days <= MAX_CHAIN_DAYS:
            sessions = [s.key for s in school.schedule.sessions]
            self.chains = {str(PupilDay.create_id(school.school_id, self.pupil,
                                                   (first + timedelta(days=i)).isoformat(), s))
                           for i in range((last - first).days + 1) for s in sessions}

    def __call__(self, n: Notification) -> bool:
        if not _type_matches(n.topic, self.query.event_type):
            return True
        if self.pupil is None:
            return False
        if n.topic.startswith(PUPIL_TOPIC):
            return str(n.originator_id) != self.pupil
        if self.chains is not None and n.topic.startswith(PUPIL_DAY_TOPIC):
            return str(n.originator_id) not in self.chains
        return False


def search(app: HandoverApp, evidence: Evidence, school: School, query: Query) -> Found:
    """One page of the school's stored events that match, in log order."""
    school_id = school.school_id
    log = Log(app)
    start = query.after + 1
    if query.since is not None:
        start = max(start, log.first_from(query.since))
    stop = log.head if query.until is None else min(log.head, log.position_at(query.until))
    stop = min(stop, evidence.chain.max_tracking_id(app.name) or 0)
    found = Found(scanned_to=max(query.after, start - 1))
    budget = start + SCAN - 1
    chains = _ChainPupils(app)
    opened = query.since or (probe[1] if (probe := log.first_timed(start)) else None)
    ends = query.until or app.clock.now()
    days = [t.astimezone(school.tz).date() for t in (opened, ends) if t is not None]
    skip = _Skip(school, query, days[0] - timedelta(days=QUEUED_DAYS + 1) if len(days) == 2 else None,
                 days[-1] + timedelta(days=AHEAD_DAYS))
    while start <= min(stop, budget):
        page = app.recorder.select_notifications(start=start, limit=min(PAGE, budget - start + 1),
                                                 stop=min(stop, budget))
        if not page:
            break
        placed = evidence.at_positions([n.id for n in page])
        for n in page:
            found.scanned_to = n.id
            doc = placed.get(n.id)
            if doc is None or doc["s"] != school_id or skip(n):
                continue
            event = app.mapper.to_domain_event(n)
            name = type(event).__qualname__
            if not _event_type_matches(name, query.event_type):
                continue
            by = getattr(event, "by", None) or {}
            if query.staff_id is not None and by.get("staff_id") != query.staff_id:
                continue
            if query.device is not None and by.get("device") != query.device:
                continue
            pupils = pupils_of(event, chains)
            if query.pupil_id is not None and query.pupil_id not in pupils:
                continue
            at = server_time(event)
            if at is not None and ((query.since is not None and at < query.since)
                                   or (query.until is not None and at > query.until)):
                continue
            hit = entry(Stored(event, at, n.id), {"pupil_ids": sorted(pupils)})
            hit["facts"] = scrub(hit["facts"])
            hit["seq"] = int(doc["n"])
            found.hits.append(hit)
            found.pupil_ids |= pupils
            if len(found.hits) >= query.limit:
                break
        if len(found.hits) >= query.limit:
            break
        start = page[-1].id + 1
    if found.scanned_to < stop:
        found.next_after = found.scanned_to
    return found

