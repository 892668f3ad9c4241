"""The application's core: store wiring, the unit of work with idempotency, lookups and sign-in."""

from __future__ import annotations

import logging
import random
import time as wall
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from service.adapters.blobs import BlobStore, blob_store_for
from service.adapters.group_commit import GroupCommit
from service.adapters.many import select_events_of
from service.adapters.outbound import AddressPolicy
from service.adapters.store import sqlite_durability
from service.domain.alert import Alert
from service.domain.common import Actor, Role
from service.domain.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    NotFoundError,
    RuleError,
)
from service.domain.handover import Handover
from service.domain.idempotency import CommandRecord
from service.domain.messages import Message
from service.domain.privacy import custody_state, may_see
from service.domain.pupil import Pupil
from service.domain.pupil_day import PupilDay
from service.domain.school import School
from service.domain.staff import StaffToken, StreamTicket, new_ticket, token_hash
from service.use_cases.access_log import AccessRecorder
from service.use_cases.clock import Clock, SystemClock
from service.use_cases.results import (
    Answer,
    Recorded,
    Refused,
    Rejected,
    Result,
    is_done,
    result_from_record,
)
from service.use_cases.signal import SaveSignal

log = logging.getLogger(__name__)
STREAM_TICKET_LIFETIME = timedelta(seconds=60)
OFFLINE_GRACE_DAYS = 7  # a tablet may queue commands offline; older days are closed
RETRY_PAUSE = 0.002  # seconds: the first pause before deciding again after a collision, doubling
RETRY_PAUSE_CAP = 0.05  # seconds: the longest pause between two tries
A = TypeVar("A", bound=Aggregate)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class TimeAsISO(Transcoding):
    type = time
    name = "time_iso"

    def encode(self, obj: time) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> time:
        return time.fromisoformat(data)


@dataclass
class Decision:
    """What a use case decided: the aggregates to save and the result to answer.

    `answer` is the body of an `Answer` (created or not), or a result of its own
    (`Refused`, `Rejected`).
    """

    aggregates: list[Aggregate]
    answer: Any
    created: bool = False
    secrets: tuple[str, ...] = ()  # body keys never stored: a replay answers them as null

    @property
    def result(self) -> Result:
        if isinstance(self.answer, Answer | Refused | Rejected):
            return self.answer
        return Answer(self.answer, self.created)

    def stored(self) -> dict[str, Any]:
        result = self.result
        if isinstance(result, Answer):
            result = Answer(_without(result.body, self.secrets), result.created)
        return result.to_record()


@dataclass
class Outcome:
    result: Result
    position: int | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return is_done(self.result)

    @property
    def body(self) -> Any:
        """The answer's body (for a refusal or rejection: its fields)."""
        if isinstance(self.result, Answer | Recorded):
            return self.result.body
        return asdict(self.result)


@dataclass(frozen=True)
class StaffIdentity:
    school_id: str
    staff_id: str
    name: str
    roles: tuple[str, ...]


class AppCore(Application[UUID]):
    """Event store, clock and the one unit of work every command goes through."""

    name = "Handover"

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None) -> None:
        super().__init__(env=env)
        self.clock: Clock = clock or SystemClock()
        self.saved = SaveSignal()
        self.token_ttl_days = int(self.env.get("TOKEN_TTL_DAYS") or 0)
        self.outbound = AddressPolicy.from_setting(self.env.get("WEBHOOK_ALLOW_HOSTS") or "")
        durability = sqlite_durability(self.factory)
        if durability is not None and not durability.crash_safe:
            raise RuntimeError(f"SQLite store is not crash-safe: {durability}")
        self.durability = durability
        self.access = AccessRecorder(self)  # reads of pupils' personal data, saved in batches
        self.group_commit = GroupCommit(self._record)
        # Attached files beside the events, encrypted with the events' own cipher when that is on.
        self.blobs: BlobStore = blob_store_for(self.factory, dict(self.env), self.mapper.cipher)

    def close(self) -> None:
        self.access.stop()  # what was read is saved before the store closes
        super().close()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save as the library does, through the group commit: concurrent saves share one
        transaction, each keeping its own outcome (see service.adapters.group_commit)."""
        if kwargs:
            recordings = super().save(*objs, **kwargs)
        else:
            processing: ProcessingEvent[UUID] = ProcessingEvent()
            processing.collect_events(*objs)
            recordings = self.group_commit.record(processing)
            self._take_snapshots(processing)
            self._notify(recordings)
        self.saved.notify()  # wakes the projection runners in this process
        return recordings

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(TimeAsISO())

    # -- the unit of work ----------------------------------------------------
    def execute(
        self, actor: Actor | None, decide: Callable[[], Decision], attempts: int = 3,
    ) -> Outcome:
        """Decide, then save the change and the command's answer in one transaction.

        A retried command id returns the first answer; a concurrent change to
        the same aggregate is decided again on the fresh state.
        """
        record_id = None
        key = actor.command_id if actor is not None else None
        fingerprint = actor.fingerprint if actor is not None else None
        if actor is not None and key:
            record_id = CommandRecord.create_id(actor.school_id, actor.staff_id, key)
        # No look-up before deciding: the command record's id is fixed by the key, so a repeat
        # fails to save (or to decide) and only then is the first answer looked up.
        for attempt in range(attempts):
            try:
                decision = decide()
            except DomainError as refused:
                replay = self._replay(record_id, key or "", fingerprint) if record_id else None
                if replay is not None:
                    return replay
                if actor is not None and isinstance(refused, ConflictError):
                    refused.state = self._as_seen_by(actor, refused.state)
                raise
            to_save: list[Aggregate] = list(decision.aggregates)
            if record_id is not None and actor is not None and actor.command_id:
                to_save.append(CommandRecord(
                    school_id=actor.school_id, staff_id=actor.staff_id, key=actor.command_id,
                    fingerprint=fingerprint or "", result=decision.stored(),
                    position_hint=None,
                ))
            try:
                recordings = self.save(*to_save)
            except IntegrityError:
                if record_id is not None:
                    replay = self._replay(record_id, key or "", fingerprint)
                    if replay is not None:
                        return replay
                if attempt == attempts - 1:
                    raise ConflictError("Changed by someone else at the same moment; try again.") from None
                # Writers that collided would collide again at once: each waits a little, at
                # random, longer after each collision.
                wall.sleep(random.uniform(0, min(RETRY_PAUSE_CAP, RETRY_PAUSE * 2 ** attempt)))
                continue
            position = recordings[-1].notification.id if recordings else None
            return Outcome(decision.result, position=position)
        raise AssertionError("unreachable")

    def _as_seen_by(self, actor: Actor, state: Any) -> Any:
        """A conflict's current state as the caller may see it: a pupil's state (who collected,
        and how to reach them) is cut to what the caller's role may see of that pupil."""
        if not (isinstance(state, dict) and "pupil_id" in state and "status" in state):
            return state
        school = self.school(actor.school_id, readonly=True)
        found = self._find(as_uuid(str(state["pupil_id"]), "pupil"), readonly=True)
        class_id = found.class_id if isinstance(found, Pupil) else None
        return custody_state(state, may_see(school, actor.staff_id, class_id))

    def _replay(self, record_id: UUID, key: str, fingerprint: str | None) -> Outcome | None:
        try:
            record: Aggregate = self.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(record, CommandRecord)
        if fingerprint is not None and record.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(key)
        return Outcome(result_from_record(record.result), replayed=True)

    # -- lookups -------------------------------------------------------------
    def _get(
        self, aggregate_id: UUID, kind: type[A], label: str, school_id: str | None,
        readonly: bool = False,
    ) -> A:
        try:
            # A read-only caller gets the cached object itself: it must never mutate it.
            found: Aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=not readonly)
        except AggregateNotFoundError:
            raise NotFoundError(label, aggregate_id) from None
        if not isinstance(found, kind):
            raise NotFoundError(label, aggregate_id)
        if school_id is not None and getattr(found, "school_id", None) != school_id:
            raise NotFoundError(label, aggregate_id)  # another school's: never say so
        return found

    def _find(self, aggregate_id: UUID, readonly: bool = False) -> Aggregate | None:
        try:
            return self.repository.get(aggregate_id, deepcopy_from_cache=not readonly)
        except AggregateNotFoundError:
            return None

    def school(self, school_id: str, readonly: bool = False) -> School:
        return self._get(as_uuid(school_id, "school"), School, "school", None, readonly)

    def pupil(self, school_id: str, pupil_id: str, readonly: bool = False) -> Pupil:
        return self._get(as_uuid(pupil_id, "pupil"), Pupil, "pupil", school_id, readonly)

    def handover(self, school_id: str, handover_id: str) -> Handover:
        return self._get(as_uuid(handover_id, "handover"), Handover, "handover", school_id)

    def pupil_day(self, school: School, pupil: Pupil, day: date, session: str) -> PupilDay:
        """The pupil's chain for the session, opened (unsaved) if nothing happened yet."""
        day_id = PupilDay.create_id(school.school_id, str(pupil.id), day.isoformat(), session)
        found = self._find(day_id)
        if isinstance(found, PupilDay):
            return found
        return PupilDay.open(school.school_id, str(pupil.id), day, session, pupil.class_id)

    def pupil_days_now(self, school_id: str, pupil_ids: Iterable[str], day: date,
                       session: str) -> dict[str, PupilDay]:
        """The pupils' chains for the session as stored now, read from the event store in one
        go (never from a view): pupil → chain, for each pupil whose chain has begun."""
        ids = {PupilDay.create_id(school_id, pid, day.isoformat(), session): pid for pid in pupil_ids}
        out: dict[str, PupilDay] = {}
        for day_id, stored in select_events_of(self.recorder, ids).items():
            chain: Aggregate | None = None
            for e in stored:  # the library's projector, less its per-event protocol check
                domain_event = self.mapper.to_domain_event(e)
                assert isinstance(domain_event, Aggregate.Event)
                chain = domain_event.mutate(chain)
            if isinstance(chain, PupilDay):
                out[ids[day_id]] = chain
        return out

    def existing_pupil_day(self, school_id: str, pupil_id: str, day: date, session: str) -> PupilDay | None:
        found = self._find(PupilDay.create_id(school_id, pupil_id, day.isoformat(), session))
        return found if isinstance(found, PupilDay) else None

    def new_alert(self, school_id: str, kind: str, cause: str, subject: dict[str, Any],
                  text: Message) -> Alert | None:
        """A new alert for this cause, or None when one was already raised."""
        if self._find(Alert.create_id(school_id, cause), readonly=True) is not None:
            return None
        return Alert.raise_for(school_id, kind, cause, subject, self.now().isoformat(), text)

    def session_day(self, school: School, day: date | None, session: str, *, ahead: bool = False) -> date:
        """The day a command is about: a served session, today or a recent day (offline queue)."""
        today = self.today(school)
        on = day or today
        if on > today and not ahead:
            raise RuleError("That day has not come yet.", field="day")
        if on < today - timedelta(days=OFFLINE_GRACE_DAYS):
            raise RuleError("That day is closed; record a correction instead.", field="day")
        if session not in {s.key for s in school.schedule.sessions}:
            raise RuleError(f"No session {session!r} in the schedule.", field="session")
        if not school.schedule.runs_on(session, on):
            raise RuleError(f"No {session} service on {on.isoformat()}.", field="day")
        return on

    # -- who is asking -------------------------------------------------------
    def authenticate(self, token: str) -> StaffIdentity | None:
        # Read from the store on every request (the cached token is brought up to date from
        # the log), so a revocation by any process, or an expiry, is refused at once.
        found = self._find(StaffToken.create_id(token_hash(token)), readonly=True)
        if not isinstance(found, StaffToken) or not found.valid(self.now()):
            return None
        owner = (found.school_id, found.staff_id)
        school = self.school(owner[0], readonly=True)
        member = school.staff.get(owner[1])
        if member is None or not member["active"]:
            return None
        return StaffIdentity(owner[0], owner[1], member["name"], tuple(member["roles"]))

    def issue_stream_ticket(self, identity: StaffIdentity) -> dict[str, Any]:
        """A single-use pass to open the stream from a URL, valid for a minute."""
        ticket = new_ticket()
        issued = StreamTicket.issue(ticket, identity.school_id, identity.staff_id, at=self.now(),
                                    lifetime=STREAM_TICKET_LIFETIME)
        self.save(issued)
        return {"ticket": ticket, "expires_at": issued.expires_at,
                "expires_in": int(STREAM_TICKET_LIFETIME.total_seconds())}

    def redeem_stream_ticket(self, ticket: str) -> StaffIdentity | None:
        """Who the ticket was issued to, using it up; None if unknown, used or expired."""
        found = self._find(StreamTicket.create_id(token_hash(ticket)))
        if not isinstance(found, StreamTicket):
            return None
        try:
            found.use(self.now())
            self.save(found)  # a second use, here or in another process, fails to save
        except (ConflictError, IntegrityError):
            return None
        school = self.school(found.school_id, readonly=True)
        member = school.staff.get(found.staff_id)
        if member is None or not member["active"]:
            return None
        return StaffIdentity(found.school_id, found.staff_id, member["name"],
                             tuple(member["roles"]))

    def now(self) -> datetime:
        return self.clock.now()

    def today(self, school: School) -> date:
        return self.clock.now().astimezone(school.tz).date()

    @staticmethod
    def require(actor: Actor, *roles: Role) -> None:
        if actor.role not in {r.value for r in roles}:
            raise ForbiddenError(f"Your role ({actor.role}) may not do this.")


def _without(body: Any, secrets: tuple[str, ...]) -> Any:
    if not secrets or not isinstance(body, dict):
        return body
    return {k: (None if k in secrets else v) for k, v in body.items()}


def as_uuid(value: str, kind: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFoundError(kind, value) from None
