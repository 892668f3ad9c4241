"""Staff bearer tokens: stored only as a hash, found by the hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.errors import ConflictError, RuleError
from service.domain.refs import ActorRecord

TOKEN_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/staff-token")


def new_token() -> str:
    return "hov_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough: no slow hash needed.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class StaffToken(Aggregate):
    """One issued bearer token.

    Invariants: a revoked token never authenticates again; a token with an expiry does not
    authenticate from that moment on; a token is revoked once (a second revocation is refused).
    """

    class Issued(Aggregate.Created):
        class_version = 2  # v2 adds the label, the issuing time and the expiry
        token_hash: str
        school_id: str
        staff_id: str
        by: ActorRecord | None
        label: str | None
        issued_at: str | None
        expires_at: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            stamp = state.get("timestamp")
            state.update(label=None, expires_at=None,
                         issued_at=stamp.isoformat() if isinstance(stamp, datetime) else None)

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return uuid5(TOKEN_NAMESPACE, token_hash)

    @event(Issued)
    def __init__(
        self, token_hash: str, school_id: str, staff_id: str, by: ActorRecord | None,
        label: str | None = None, issued_at: str | None = None, expires_at: str | None = None,
    ) -> None:
        self.school_id = school_id
        self.staff_id = staff_id
        self.label = label
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.revoked = False
        self.revoked_by: ActorRecord | None = None

    @classmethod
    def issue(cls, token: str, school_id: str, staff_id: str, by: ActorRecord | None, *,
              at: datetime, expires_at: datetime | None, label: str | None = None) -> StaffToken:
        if expires_at is not None and expires_at <= at:
            raise RuleError("A token expires after it is issued.", field="ttl_days")
        return cls(token_hash=token_hash(token), school_id=school_id, staff_id=staff_id, by=by,
                   label=label, issued_at=at.isoformat(),
                   expires_at=expires_at.isoformat() if expires_at else None)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= datetime.fromisoformat(self.expires_at)

    def valid(self, now: datetime) -> bool:
        return not self.revoked and not self.expired(now)

    def revoke(self, by: ActorRecord) -> None:
        if self.revoked:
            raise ConflictError("This token is already revoked.", state=self.revoked_by)
        self._revoked(by=by)

    class Revoked(Aggregate.Event):
        by: ActorRecord

    @event(Revoked)
    def _revoked(self, by: ActorRecord) -> None:
        self.revoked = True
        self.revoked_by = by


TICKET_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/stream-ticket")


def new_ticket() -> str:
    return "hst_" + secrets.token_urlsafe(32)


class StreamTicket(Aggregate):
    """A short-lived, single-use pass to open the live stream from a URL (EventSource).

    Invariants: stored only as a hash; used at most once; never used after it expires.
    """

    class Issued(Aggregate.Created):
        ticket_hash: str
        school_id: str
        staff_id: str
        expires_at: str

    @staticmethod
    def create_id(ticket_hash: str) -> UUID:
        return uuid5(TICKET_NAMESPACE, ticket_hash)

    @event(Issued)
    def __init__(self, ticket_hash: str, school_id: str, staff_id: str, expires_at: str) -> None:
        self.school_id = school_id
        self.staff_id = staff_id
        self.expires_at = expires_at
        self.used = False

    @classmethod
    def issue(cls, ticket: str, school_id: str, staff_id: str, *, at: datetime,
              lifetime: timedelta) -> StreamTicket:
        return cls(ticket_hash=token_hash(ticket), school_id=school_id, staff_id=staff_id,
                   expires_at=(at + lifetime).isoformat())

    def use(self, at: datetime) -> None:
        if self.used:
            raise ConflictError("This stream ticket was used already.")
        if at >= datetime.fromisoformat(self.expires_at):
            raise ConflictError("This stream ticket has expired.")
        self._used(at=at.isoformat())

    class Used(Aggregate.Event):
        at: str

    @event(Used)
    def _used(self, at: str) -> None:
        self.used = True
