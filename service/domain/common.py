"""Value types shared by the aggregates: who acted, where, when, and adult names."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from opencc import OpenCC

from service.domain.refs import ActorRecord


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    GUARD = "guard"
    DUTY_LEADER = "duty_leader"
    SAFETY_OFFICER = "safety_officer"
    INSPECTOR = "inspector"


# Who may void a fact another member of staff recorded (anyone may void their own).
CORRECTORS = (Role.ADMIN.value, Role.DUTY_LEADER.value, Role.SAFETY_OFFICER.value)


def may_correct(recorded_by: ActorRecord, by: ActorRecord) -> bool:
    """Only whoever recorded a fact, or an admin, a duty leader or a safety officer, voids it."""
    return by["staff_id"] == recorded_by["staff_id"] or by["role"] in CORRECTORS


CORRECTOR_NAMES = "an admin, a duty leader or a safety officer"


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


# Written between the parts of a name (欧阳·娜娜, Li.Ming, 阿依古丽・买买提) or not at all: a name
# matches whichever of these it is written with. NFKC has already folded the full- and half-width
# forms (．, ･, －), the one-dot leader and the Greek ano teleia into these.
NAME_SEPARATORS = frozenset(".\u00b7\u2022\u2027\u2219\u22c5\u30fb"  # . · • ‧ ∙ ⋅ ・
                            "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212")  # hyphens and dashes
# Invisible though not of category Cf: the Unicode default-ignorable code points of other
# categories (combining grapheme joiner, Hangul fillers, Mongolian and other variation selectors).
_INVISIBLE_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
                     (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF))


def _unwritten(ch: str) -> bool:
    """Nothing a guard can see or tell apart: a format, control or space character, or a separator."""
    if ch in NAME_SEPARATORS or ch.isspace():
        return True
    if unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp"):
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


# A note in brackets after or inside a name (李宏军（叔叔）, Wang (dad)) says who they are, not
# what they are called.
_BRACKETED = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
_SIMPLIFIED = OpenCC("t2s")  # 韓志華 and 韩志华 are one name, written in two scripts


@functools.lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """Compare names as people write them: invisible characters, compatibility forms (full-width
    letters and digits), traditional or simplified characters, a note in brackets, separators
    between the parts of a name, spaces of every kind and the case of Latin letters do not matter.
    Every comparison of adults' names goes through here."""
    kept = "".join(ch for ch in unicodedata.normalize("NFKC", name) if not _unwritten(ch))
    # Once the invisible characters are gone, what they kept apart may compose: normalise again.
    folded = _SIMPLIFIED.convert(unicodedata.normalize("NFKC", kept)).casefold()
    return _BRACKETED.sub("", folded) or folded


def id_tails_agree(known: str | None, given: str | None) -> bool:
    """An ID-number tail on file must match the one shown, when both exist."""
    if not known or not given:
        return True
    return normalise_name(known)[-4:] == normalise_name(given)[-4:]
