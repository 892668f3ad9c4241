"""Paired devices: a gate tablet, a classroom tablet or a duty board, and the one-time codes that pair them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from service.domain.common import Role
from service.domain.errors import ConflictError, DomainError, RuleError
from service.domain.refs import ActorRecord

DEVICE_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/device")
CODE_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/pairing-code")
TRIES_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/pairing-tries")
DEVICE_PREFIX = "device-"

# What each kind of device may do, and the kind of place it is bound to: a shared tablet never
# carries more than its post needs (a gate tablet is a guard at its gate, never an admin).
KIND_ROLE = {
    "gate_tablet": Role.GUARD.value,
    "classroom_tablet": Role.TEACHER.value,
    "duty_board": Role.INSPECTOR.value,  # the board reads; it never writes
}
KIND_PLACE = {"gate_tablet": "gate", "classroom_tablet": "group", "duty_board": None}
# Kinds that read the board only (the roster with its counts and custodians, alerts, the live
# stream), not all their role may read: a board on a wall never shows the access log, incidents
# or statements, though its role's stored value stays the inspector's.
BOARD_ONLY_KINDS = frozenset({"duty_board"})

# No 0/O, 1/I/L: read off a screen and typed on a tablet without a second look.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_SALT = b"handover/pairing-code/v1"


def new_device_id() -> str:
    """A device's id; it is also the id it acts under (as a member of the school's staff)."""
    return f"{DEVICE_PREFIX}{uuid4()}"


def is_device(staff_id: str) -> bool:
    return staff_id.startswith(DEVICE_PREFIX)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(typed: str) -> str:
    """The code as issued, whatever case, spaces or dashes it was typed with."""
    return "".join(ch for ch in typed.upper() if ch not in " -\t")


def shown_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def code_hash(code: str) -> str:
    # A code holds only ~40 bits, so its hash is slow to compute (scrypt): a copy of the store
    # does not give the codes away within their ten minutes. The salt is fixed so the hash
    # finds the code.
    digest = hashlib.scrypt(normalise_code(code).encode(), salt=CODE_SALT, n=2**14, r=8, p=1,
                            dklen=32)
    return digest.hex()


class PairingCodeUnknownError(RuleError):
    title = "Pairing code not valid"
    code = "pairing-code-unknown"

    def __init__(self) -> None:
        super().__init__("This pairing code is not valid: check it, or ask an admin for a new one.",
                         field="code")


class PairingCodeUsedError(ConflictError):
    title = "Pairing code already used"
    code = "pairing-code-used"

    def __init__(self) -> None:
        super().__init__("This pairing code was used already: ask an admin for a new one.")


class PairingCodeExpiredError(ConflictError):
    title = "Pairing code expired"
    code = "pairing-code-expired"

    def __init__(self, expires_at: str) -> None:
        super().__init__(f"This pairing code expired at {expires_at}: ask an admin for a new one.",
                         state={"expires_at": expires_at})


class DeviceRevokedError(ConflictError):
    title = "Device revoked"
    code = "device-revoked"

    def __init__(self, name: str) -> None:
        super().__init__(f"The device {name} was revoked: register a new device instead.")


class TooManyPairingTriesError(DomainError):
    """Answered with 429 and Retry-After: a code cannot be guessed by trying."""

    title = "Too many pairing tries"
    code = "pairing-tries-exceeded"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many wrong pairing codes from here: try again in {retry_after} s.")
        self.retry_after = retry_after


class Device(Aggregate):
    """A device of the school, paired by a one-time code, acting only in its kind's role.

    Invariants: a device is bound to a place of its kind (a gate, a group) or to none (the duty
    board); only the latest code issued for it pairs it; pairing again replaces the token before;
    a revoked device is never paired again, and it is revoked once.
    """

    class Registered(Aggregate.Created):
        school_id: str
        device_id: str
        name: str
        kind: str
        role: str
        place_id: str | None
        place_label: str | None
        by: ActorRecord

    @staticmethod
    def create_id(device_id: str) -> UUID:
        return uuid5(DEVICE_NAMESPACE, device_id)

    @event(Registered)
    def __init__(self, school_id: str, device_id: str, name: str, kind: str, role: str,
                 place_id: str | None, place_label: str | None, by: ActorRecord) -> None:
        self.school_id = school_id
        self.device_id = device_id
        self.name = name
        self.kind = kind
        self.role = role
        self.place_id = place_id
        self.place_label = place_label
        self.registered_by = by
        self.code_id: str | None = None
        self.code_expires_at: str | None = None
        self.token_id: str | None = None
        self.paired_at: str | None = None
        self.revoked_by: ActorRecord | None = None

    @classmethod
    def register(cls, school_id: str, device_id: str, name: str, kind: str,
                 place: tuple[str, str] | None, by: ActorRecord) -> Device:
        if kind not in KIND_ROLE:
            raise RuleError(f"A device is one of {sorted(KIND_ROLE)}.", field="kind")
        if not name.strip():
            raise RuleError("A device needs a name.", field="name")
        if (place is None) != (KIND_PLACE[kind] is None):
            wanted = KIND_PLACE[kind]
            raise RuleError(f"A {kind} is bound to a {wanted}." if wanted
                            else f"A {kind} is bound to no place.", field="place_id")
        return cls(school_id=school_id, device_id=device_id, name=name.strip(), kind=kind,
                   role=KIND_ROLE[kind], place_id=place[0] if place else None,
                   place_label=place[1] if place else None, by=by)

    @property
    def revoked(self) -> bool:
        return self.revoked_by is not None

    def issue_code(self, code_id: str, expires_at: datetime, by: ActorRecord) -> None:
        if self.revoked:
            raise DeviceRevokedError(self.name)
        self._code_issued(code_id=code_id, expires_at=expires_at.isoformat(), by=by)

    class CodeIssued(Aggregate.Event):
        code_id: str
        expires_at: str
        by: ActorRecord

    @event(CodeIssued)
    def _code_issued(self, code_id: str, expires_at: str, by: ActorRecord) -> None:
        self.code_id = code_id
        self.code_expires_at = expires_at

    def pair(self, code_id: str, token_id: str, at: datetime) -> None:
        """Exchange the current code for a token; a code issued before it no longer pairs."""
        if self.revoked:
            raise DeviceRevokedError(self.name)
        if code_id != self.code_id:
            raise PairingCodeUsedError()  # replaced by a newer code: as good as used
        self._paired(code_id=code_id, token_id=token_id, at=at.isoformat(),
                     replaced_token_id=self.token_id)

    class Paired(Aggregate.Event):
        code_id: str
        token_id: str
        at: str
        replaced_token_id: str | None

    @event(Paired)
    def _paired(self, code_id: str, token_id: str, at: str, replaced_token_id: str | None) -> None:
        self.code_id = None
        self.code_expires_at = None
        self.token_id = token_id
        self.paired_at = at

    def revoke(self, by: ActorRecord) -> None:
        if self.revoked:
            raise ConflictError(f"The device {self.name} is already revoked.", state=self.revoked_by)
        self._revoked(by=by)

    class Revoked(Aggregate.Event):
        by: ActorRecord

    @event(Revoked)
    def _revoked(self, by: ActorRecord) -> None:
        self.revoked_by = by
        self.code_id = None
        self.code_expires_at = None

    def view(self, now: datetime, last_seen: str | None = None) -> dict[str, Any]:
        """What an admin sees: never a code or a token."""
        pending = self.code_expires_at is not None and now < datetime.fromisoformat(self.code_expires_at)
        status = ("revoked" if self.revoked else "paired" if self.token_id
                  else "waiting" if pending else "unpaired")
        return {"device_id": self.device_id, "name": self.name, "kind": self.kind,
                "role": self.role, "place_id": self.place_id, "place_label": self.place_label,
                "status": status, "registered_at": self.registered_by.get("at"),
                "registered_by": self.registered_by.get("staff_name"),
                "paired_at": self.paired_at,
                "code_expires_at": self.code_expires_at if pending else None,
                "last_seen": last_seen,
                "revoked_at": self.revoked_by.get("at") if self.revoked_by else None,
                "revoked_by": self.revoked_by.get("staff_name") if self.revoked_by else None}


class PairingCode(Aggregate):
    """One pairing code, found by its hash (the code itself is never stored).

    Invariants: used at most once (a second use, here or in another process, fails to save);
    never used from the moment it expires.
    """

    class Issued(Aggregate.Created):
        code_hash: str
        school_id: str
        device_id: str
        expires_at: str

    @staticmethod
    def create_id(code_hash: str) -> UUID:
        return uuid5(CODE_NAMESPACE, code_hash)

    @event(Issued)
    def __init__(self, code_hash: str, school_id: str, device_id: str, expires_at: str) -> None:
        self.school_id = school_id
        self.device_id = device_id
        self.expires_at = expires_at
        self.used = False

    @classmethod
    def issue(cls, code: str, school_id: str, device_id: str, *, expires_at: datetime) -> PairingCode:
        return cls(code_hash=code_hash(code), school_id=school_id, device_id=device_id,
                   expires_at=expires_at.isoformat())

    def use(self, at: datetime) -> None:
        if self.used:
            raise PairingCodeUsedError()
        if at >= datetime.fromisoformat(self.expires_at):
            raise PairingCodeExpiredError(self.expires_at)
        self._used(at=at.isoformat())

    class Used(Aggregate.Event):
        at: str

    @event(Used)
    def _used(self, at: str) -> None:
        self.used = True


class PairingTries(Aggregate):
    """The wrong pairing codes one client sent within one window of time.

    Invariant: once ``limit`` tries failed in the window, the client is refused until it ends,
    whatever code it sends (a right one too), so codes cannot be found by trying.
    """

    class Started(Aggregate.Created):
        client: str
        window_start: str

    @staticmethod
    def create_id(client: str, window_start: str) -> UUID:
        return uuid5(TRIES_NAMESPACE, f"{client}/{window_start}")

    @event(Started)
    def __init__(self, client: str, window_start: str) -> None:
        self.client = client
        self.window_start = window_start
        self.failures = 0

    def failed(self, at: datetime, why: str) -> None:
        self._failed(at=at.isoformat(), why=why)

    class Failed(Aggregate.Event):
        at: str
        why: str

    @event(Failed)
    def _failed(self, at: str, why: str) -> None:
        self.failures += 1
