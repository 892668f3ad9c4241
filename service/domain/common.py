"""Value types shared by the aggregates: who acted, where, when, and adult names."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from service.domain.refs import ActorRecord


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    GUARD = "guard"
    DUTY_LEADER = "duty_leader"
    SAFETY_OFFICER = "safety_officer"
    INSPECTOR = "inspector"


@dataclass(frozen=True)
class Actor:
    """Who did it, in what role, where, when, and under which client command id.

    `fingerprint` is the digest of the request that carried the command id: a retry
    with the same id but another request is refused. It is never stored in events.
    """

    school_id: str
    staff_id: str
    staff_name: str
    role: str
    at: datetime
    command_id: str | None = None
    device: str | None = None
    device_time: datetime | None = None
    place: str | None = None
    fingerprint: str | None = None

    def record(self) -> ActorRecord:
        """The JSON-safe fact stored in every event."""
        return {
            "staff_id": self.staff_id,
            "staff_name": self.staff_name,
            "role": self.role,
            "at": self.at.isoformat(),
            "command_id": self.command_id,
            "device": self.device,
            "device_time": self.device_time.isoformat() if self.device_time else None,
            "place": self.place,
        }


def normalise_name(name: str) -> str:
    """Compare names as people write them: width, spaces and case do not matter."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def id_tails_agree(known: str | None, given: str | None) -> bool:
    """An ID-number tail on file must match the one shown, when both exist."""
    if not known or not given:
        return True
    return normalise_name(known)[-4:] == normalise_name(given)[-4:]
