"""Device pairing: an admin registers a device and issues a code; the device exchanges it once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from service.domain.common import Actor
from service.domain.device import (
    BOARD_ONLY_KINDS,
    CODE_ALPHABET,
    CODE_LENGTH,
    KIND_PLACE,
    Device,
    DeviceRevokedError,
    PairingCode,
    PairingCodeExpiredError,
    PairingCodeUnknownError,
    PairingCodeUsedError,
    PairingTries,
    TooManyPairingTriesError,
    code_hash,
    is_device,
    new_code,
    new_device_id,
    normalise_code,
    shown_code,
)
from service.domain.errors import NotFoundError, RuleError
from service.domain.refs import ActorRecord
from service.domain.school import School
from service.domain.staff import StaffToken, new_token
from service.use_cases.core import AppCore, Decision, Outcome, StaffIdentity

PAIRING_CODE_LIFETIME = timedelta(minutes=10)
PAIRING_WINDOW = timedelta(minutes=15)
PAIRING_TRIES = 5  # wrong codes per client and window before every try is refused
REFUSED_CODES = (PairingCodeUnknownError, PairingCodeUsedError, PairingCodeExpiredError,
                 DeviceRevokedError)


@dataclass(frozen=True)
class DeviceIdentity(StaffIdentity):
    """A paired device signed in: its kind's one role, and the place it is bound to."""

    kind: str = ""
    place_id: str | None = None

    @property
    def board_only(self) -> bool:
        """Whether it reads the board's routes only (a duty board), whatever its role may read."""
        return self.kind in BOARD_ONLY_KINDS


PAIRING_LOCK_WAIT = 10.0  # seconds a try waits for the same client's try before it is refused


class ClientLocks:
    """One lock per client, kept only while a try of that client holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, client: str, wait: float) -> Iterator[bool]:
        """Yields whether the lock was taken within ``wait`` seconds."""
        with self._guard:
            lock, users = self._locks.get(client, (threading.Lock(), 0))
            self._locks[client] = (lock, users + 1)
        taken = lock.acquire(timeout=wait)
        try:
            yield taken
        finally:
            if taken:
                lock.release()
            with self._guard:
                lock, users = self._locks[client]
                if users == 1:
                    del self._locks[client]
                else:
                    self._locks[client] = (lock, users - 1)


def window_start(now: datetime) -> datetime:
    seconds = int(PAIRING_WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


class DeviceUseCases(AppCore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # When each device last called this process: cheap, and lost on a restart.
        self.devices_seen: dict[str, str] = {}
        self.pairing_locks = ClientLocks()

    # -- the admin ----------------------------------------------------------------
    def device(self, school_id: str, device_id: str, readonly: bool = False) -> Device:
        if not is_device(device_id):
            raise NotFoundError("device", device_id)
        return self._get(Device.create_id(device_id), Device, "device", school_id, readonly)

    def register_device(self, actor: Actor, name: str, kind: str, place_id: str | None) -> Outcome:
        """A new device of the school, acting in its kind's role only, and its first pairing code."""
        def decide() -> Decision:
            school = self.school(actor.school_id)
            device_id, by = new_device_id(), actor.record()
            device = Device.register(school.school_id, device_id, name, kind,
                                     _place(school, kind, place_id), by)
            school.add_staff(device_id, device.name, [device.role], None, by)
            code, issued = self._new_code(device, by)
            return Decision([school, device, issued], self._with_code(device, code), created=True,
                            secrets=("code",))
        return self.execute(actor, decide)

    def issue_pairing_code(self, actor: Actor, device_id: str) -> Outcome:
        """A new code for the device (a tablet reset, a code that expired); any earlier code stops
        pairing it. The device's token keeps working until the new code is used."""
        def decide() -> Decision:
            device = self.device(actor.school_id, device_id)
            code, issued = self._new_code(device, actor.record())
            return Decision([device, issued], self._with_code(device, code), created=True,
                            secrets=("code",))
        return self.execute(actor, decide)

    def _new_code(self, device: Device, by: ActorRecord) -> tuple[str, PairingCode]:
        code = new_code()
        expires = self.now() + PAIRING_CODE_LIFETIME
        issued = PairingCode.issue(code, device.school_id, device.device_id, expires_at=expires)
        device.issue_code(str(issued.id), expires, by)
        return code, issued

    def _with_code(self, device: Device, code: str) -> dict[str, Any]:
        return {**device.view(self.now()), "code": shown_code(code),
                "expires_in": int(PAIRING_CODE_LIFETIME.total_seconds())}

    def list_devices(self, actor: Actor) -> list[dict[str, Any]]:
        """The school's devices (revoked ones too), by name."""
        school = self.school(actor.school_id, readonly=True)
        now = self.now()
        found = [self.device(school.school_id, staff_id, readonly=True) for staff_id in school.staff
                 if is_device(staff_id)]
        views = [d.view(now, self.devices_seen.get(d.device_id)) for d in found]
        return sorted(views, key=lambda v: (v["name"], v["device_id"]))

    def revoke_device(self, actor: Actor, device_id: str) -> Outcome:
        """The device's token is refused from the next request on; its records stay."""
        def decide() -> Decision:
            school = self.school(actor.school_id)
            device = self.device(school.school_id, device_id)
            by = actor.record()
            device.revoke(by)
            changed: list[Aggregate] = [device]
            token = self._token(device.token_id)
            if token is not None and not token.revoked:
                token.revoke(by)
                changed.append(token)
            member = school.staff.get(device_id)
            if member is not None and member["active"]:
                school.remove_staff(device_id, by)
                changed.append(school)
            return Decision(changed, device.view(self.now(), self.devices_seen.get(device_id)))
        return self.execute(actor, decide)

    # -- the device -----------------------------------------------------------------
    def pair_device(self, typed: str, client: str) -> Outcome:
        """Exchange a pairing code, once, for a token bound to its device.

        Each refused code counts against the client; after a few within the window every code
        from it is refused until the window ends. One client's tries are taken one at a time in
        this process, each counted before the next is checked, so parallel tries get no more."""
        with self.pairing_locks.hold(client, PAIRING_LOCK_WAIT) as taken:
            if not taken:
                raise TooManyPairingTriesError(int(PAIRING_LOCK_WAIT))
            return self._pair_device(typed, client)

    def _pair_device(self, typed: str, client: str) -> Outcome:
        now = self.now()
        start = window_start(now)
        tries_id = PairingTries.create_id(client, start.isoformat())
        tries = self._find(tries_id, readonly=True)
        if isinstance(tries, PairingTries) and tries.failures >= PAIRING_TRIES:
            raise TooManyPairingTriesError(_seconds_left(start, now))
        code = normalise_code(typed)
        well_formed = len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)
        hashed = code_hash(code) if well_formed else None

        def decide() -> Decision:
            found = self._find(PairingCode.create_id(hashed)) if hashed else None
            if not isinstance(found, PairingCode):
                raise PairingCodeUnknownError()
            found.use(now)
            device = self._find(Device.create_id(found.device_id))
            if not isinstance(device, Device) or device.school_id != found.school_id:
                raise PairingCodeUnknownError()
            token = new_token()
            days = self.token_ttl_days  # the settings' lifetime, as for any staff token
            issued = StaffToken.issue(token, device.school_id, device.device_id,
                                      _device_record(device, now), at=now,
                                      expires_at=now + timedelta(days=days) if days else None,
                                      label=f"{device.name} · 配对 / paired")
            replaced = self._token(device.token_id)
            device.pair(str(found.id), str(issued.id), now)
            changed: list[Aggregate] = [found, device, issued]
            if replaced is not None and not replaced.revoked:
                replaced.revoke(_device_record(device, now))
                changed.append(replaced)
            return Decision(changed, {**device.view(now), "token": token,
                                      "token_id": str(issued.id),
                                      "token_expires_at": issued.expires_at}, created=True)
        try:
            return self.execute(None, decide)
        except REFUSED_CODES as refused:
            self._count_failure(client, start, now, refused.code)
            raise

    def _count_failure(self, client: str, start: datetime, now: datetime, why: str) -> None:
        for _ in range(3):  # another failure from the same client may save first
            tries = self._find(PairingTries.create_id(client, start.isoformat()))
            if not isinstance(tries, PairingTries):
                tries = PairingTries(client=client, window_start=start.isoformat())
            tries.failed(now, why)
            try:
                self.save(tries)
                return
            except IntegrityError:
                continue

    def _token(self, token_id: str | None) -> StaffToken | None:
        if token_id is None:
            return None
        found = self._find(UUID(token_id))
        return found if isinstance(found, StaffToken) else None

    # -- who is asking ----------------------------------------------------------------
    def authenticate(self, token: str) -> StaffIdentity | None:
        return self._as_device(super().authenticate(token))

    def redeem_stream_ticket(self, ticket: str) -> StaffIdentity | None:
        return self._as_device(super().redeem_stream_ticket(ticket))

    def _as_device(self, identity: StaffIdentity | None) -> StaffIdentity | None:
        """A device's identity holds its kind's role only, whatever the staff list says; a
        revoked device is nobody."""
        if identity is None or not is_device(identity.staff_id):
            return identity
        device = self._find(Device.create_id(identity.staff_id), readonly=True)
        if not isinstance(device, Device) or device.revoked or device.school_id != identity.school_id:
            return None
        self.devices_seen[device.device_id] = self.now().isoformat()
        return DeviceIdentity(identity.school_id, identity.staff_id, device.name, (device.role,),
                              kind=device.kind, place_id=device.place_id)

    def describe_device(self, actor: Actor) -> dict[str, Any]:
        """The calling device's own record, for its screen to say what and where it is."""
        device = self.device(actor.school_id, actor.staff_id, readonly=True)
        return device.view(self.now(), self.devices_seen.get(device.device_id))


def _place(school: School, kind: str, place_id: str | None) -> tuple[str, str] | None:
    if kind not in KIND_PLACE:
        raise RuleError(f"A device is one of {sorted(KIND_PLACE)}.", field="kind")
    wanted = KIND_PLACE[kind]
    if place_id is None or wanted is None:
        if place_id is not None:
            raise RuleError(f"A {kind} is bound to no place.", field="place_id")
        return None
    places = school.gates if wanted == "gate" else school.groups
    if place_id not in places:
        raise RuleError(f"No {wanted} {place_id} in this school.", field="place_id")
    return place_id, school.place_label(place_id)


def _device_record(device: Device, now: datetime) -> ActorRecord:
    return {"staff_id": device.device_id, "staff_name": device.name, "role": device.role,
            "at": now.isoformat(), "command_id": None, "device": device.device_id,
            "device_time": None, "place": device.place_id}


def _seconds_left(start: datetime, now: datetime) -> int:
    return max(1, int((start + PAIRING_WINDOW - now).total_seconds()))
