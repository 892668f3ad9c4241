"""Whole refs and actor records, as the domain's events record them, for tests that drive aggregates."""

from __future__ import annotations

from service.domain.refs import ActorRecord, AdultRef, PlaceRef, StaffRef

AT = "2026-11-23T16:00:00+08:00"


def staff(staff_id: str, name: str) -> StaffRef:
    return {"staff_id": staff_id, "name": name}


def place(place_id: str, label: str, kind: str) -> PlaceRef:
    return {"id": place_id, "label": label, "kind": kind}


def adult(name: str | None, relation: str | None = None, phone: str | None = None,
          id_tail: str | None = None) -> AdultRef:
    return {"name": name, "relation": relation, "phone": phone, "id_tail": id_tail}


def by(who: StaffRef, role: str = "teacher", at: str = AT) -> ActorRecord:
    """The record of `who` acting in `role` at `at`, outside any command or device."""
    return actor(who["staff_id"], who["name"], role, at)


def actor(staff_id: str, staff_name: str, role: str, at: str = AT) -> ActorRecord:
    return {"staff_id": staff_id, "staff_name": staff_name, "role": role, "at": at,
            "command_id": None, "device": None, "device_time": None, "place": None}


TEACHER = staff("t1", "张老师")
CLUB_TEACHER = staff("t2", "赵老师")
GUARD = staff("g1", "刘保安")
GATE = place("gate", "东门", "gate")
CLUB_ROOM = place("club", "美术社", "group")
