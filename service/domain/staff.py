"""Staff bearer tokens: stored only as a hash, found by the hash."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

TOKEN_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/staff-token")


def new_token() -> str:
    return "hov_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough: no slow hash needed.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class StaffToken(Aggregate):
    """One issued bearer token. Invariant: a revoked token never authenticates again."""

    class Issued(Aggregate.Created):
        token_hash: str
        school_id: str
        staff_id: str
        by: dict[str, Any] | None

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return uuid5(TOKEN_NAMESPACE, token_hash)

    @event(Issued)
    def __init__(
        self, token_hash: str, school_id: str, staff_id: str, by: dict[str, Any] | None
    ) -> None:
        self.school_id = school_id
        self.staff_id = staff_id
        self.revoked = False

    def revoke(self, by: dict[str, Any]) -> None:
        if not self.revoked:
            self._revoked(by=by)

    @event("Revoked")
    def _revoked(self, by: dict[str, Any]) -> None:
        self.revoked = True
