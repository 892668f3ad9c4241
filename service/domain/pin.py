"""A staff member's short personal PIN: how a guard names themselves at a shared gate tablet."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import secrets
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.device import TooManyPairingTriesError
from service.domain.errors import RuleError
from service.domain.refs import ActorRecord

PIN_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/staff-pin")
PIN_LENGTHS = range(4, 9)
PIN_TRIES_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/pin-tries")
PIN_TRIES = 5  # wrong PINs for one person within any PIN_WINDOW before every try is refused
PIN_WINDOW = timedelta(minutes=15)


def pin_hash(pin: str, salt: str) -> str:
    # A PIN holds a few digits only: a slow hash with a salt of its own, so a copy of the store
    # does not give it away, and wrong tries are limited where it is checked.
    return hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1,
                          dklen=32).hex()


def check_pin(pin: str) -> None:
    """A PIN is 4 to 8 digits, not one digit repeated nor a run (1234, 9876)."""
    if not (pin.isascii() and pin.isdigit() and len(pin) in PIN_LENGTHS):
        raise RuleError("A PIN is 4 to 8 digits.", field="pin")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps <= {0} or steps == {1} or steps == {-1}:
        raise RuleError("A PIN of one digit repeated or a run of digits is guessed at once.",
                        field="pin")


class WrongPinError(RuleError):
    title = "Wrong PIN"
    code = "wrong-pin"

    def __init__(self) -> None:
        super().__init__("This PIN is not right: try again, or ask a duty leader to sign you on.",
                         field="pin")


class NoPinError(RuleError):
    title = "No PIN set"
    code = "no-pin"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} has no PIN yet: an admin sets one, or they set their own.",
                         field="pin")


class TooManyPinTriesError(TooManyPairingTriesError):
    title = "Too many wrong PINs"
    code = "pin-tries-exceeded"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.detail = f"Too many wrong PINs for this person: try again in {retry_after} s."
        self.args = (self.detail,)


class StaffPin(Aggregate):
    """One staff member's PIN, stored only as a salted slow hash.

    Invariants: one per staff member of a school (its id derives from them); setting it again
    replaces it, with a new salt; the PIN itself is never recorded.
    """

    class Created(Aggregate.Created):
        school_id: str
        staff_id: str
        salt: str
        hashed: str
        by: ActorRecord

    @staticmethod
    def create_id(school_id: str, staff_id: str) -> UUID:
        return uuid5(PIN_NAMESPACE, f"{school_id}/{staff_id}")

    @event(Created)
    def __init__(self, school_id: str, staff_id: str, salt: str, hashed: str,
                 by: ActorRecord) -> None:
        self.school_id = school_id
        self.staff_id = staff_id
        self.salt = salt
        self.hashed = hashed
        self.set_by = by

    @classmethod
    def set_first(cls, school_id: str, staff_id: str, pin: str, by: ActorRecord) -> StaffPin:
        check_pin(pin)
        salt = secrets.token_hex(16)
        return cls(school_id=school_id, staff_id=staff_id, salt=salt, hashed=pin_hash(pin, salt),
                   by=by)

    def change(self, pin: str, by: ActorRecord) -> None:
        check_pin(pin)
        salt = secrets.token_hex(16)
        self._changed(salt=salt, hashed=pin_hash(pin, salt), by=by)

    class Changed(Aggregate.Event):
        salt: str
        hashed: str
        by: ActorRecord

    @event(Changed)
    def _changed(self, salt: str, hashed: str, by: ActorRecord) -> None:
        self.salt = salt
        self.hashed = hashed
        self.set_by = by

    def matches(self, pin: str) -> bool:
        return hmac.compare_digest(pin_hash(pin, self.salt), self.hashed) if pin.isascii() else False


class PinTries(Aggregate):
    """The wrong PINs typed for one staff member, judged over a window that slides with time.

    Invariant: no more than ``PIN_TRIES`` wrong PINs are taken within any ``PIN_WINDOW``,
    wherever that span of time starts: once that many were typed within the last window, every
    PIN (the right one too) is refused until the earliest of them is a whole window old. Only the
    last ``PIN_TRIES`` wrong tries decide that, so only they are kept in the state.
    """

    class Started(Aggregate.Created):
        school_id: str
        staff_id: str

    @staticmethod
    def create_id(school_id: str, staff_id: str) -> UUID:
        return uuid5(PIN_TRIES_NAMESPACE, f"{school_id}/{staff_id}")

    @event(Started)
    def __init__(self, school_id: str, staff_id: str) -> None:
        self.school_id = school_id
        self.staff_id = staff_id
        self.last_failures: list[str] = []

    def refused_for(self, now: datetime) -> int | None:
        """Seconds until a PIN is taken again, or None when one is taken now."""
        if len(self.last_failures) < PIN_TRIES:
            return None
        earliest = min(datetime.fromisoformat(t) for t in self.last_failures)
        left = (earliest + PIN_WINDOW - now).total_seconds()
        return max(1, math.ceil(left)) if left > 0 else None

    def check(self, now: datetime) -> None:
        """Refuse every PIN while the wrong ones of the last window reached the limit."""
        left = self.refused_for(now)
        if left is not None:
            raise TooManyPinTriesError(left)

    def failed(self, at: datetime, why: str) -> None:
        self.check(at)
        self._failed(at=at.isoformat(), why=why)

    class Failed(Aggregate.Event):
        at: str
        why: str

    @event(Failed)
    def _failed(self, at: str, why: str) -> None:
        self.last_failures = [*self.last_failures, at][-PIN_TRIES:]
