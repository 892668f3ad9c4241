"""Small builders: a school with staff, a class, enrolled pupils and guardians, set up over HTTP."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from service.application import HandoverApp

SESSION_DAY = "2026-11-23"
TERM = {"term": "2026秋", "starts": "2026-09-01", "ends": "2027-01-20", "sessions": ["after_school"]}
_keys = itertools.count(1)


def key() -> dict[str, str]:
    """A fresh command id, in letters only: events record it, and a test that looks for a phone
    number or an ID tail in an answer must not find it in a command id (k-4321 ...)."""
    n, letters = next(_keys), ""
    while True:
        n, digit = divmod(n, 26)
        letters = chr(ord("a") + digit) + letters
        if n == 0:
            return {"Idempotency-Key": f"k-{letters}"}


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


@dataclass
class Staff:
    staff_id: str
    token: str

    def h(self, **extra: str) -> dict[str, str]:
        return auth(self.token, **extra)


@dataclass
class World:
    client: TestClient
    school_id: str
    admin: Staff
    homeroom: Staff
    teacher: Staff
    club_teacher: Staff
    guard: Staff
    inspector: Staff
    class_id: str
    group_id: str
    club_id: str
    gate_id: str
    pupils: list[dict[str, Any]] = field(default_factory=list)

    def post(self, who: Staff, path: str, body: dict[str, Any], **headers: str) -> Any:
        return self.client.post(path, json=body, headers=who.h(**key(), **headers))

    def pupil(self, i: int) -> str:
        return str(self.pupils[i]["pupil_id"])

    def guardian(self, i: int) -> dict[str, Any]:
        return dict(self.pupils[i]["guardians"][0])

    def state(self, i: int, who: Staff | None = None) -> dict[str, Any]:
        r = self.client.get(f"/v1/pupils/{self.pupil(i)}/afternoon", headers=(who or self.admin).h())
        assert r.status_code == 200, r.text
        return dict(r.json())


def add_staff(client: TestClient, admin: Staff, name: str, roles: list[str]) -> Staff:
    r = client.post("/v1/staff", json={"name": name, "roles": roles}, headers=admin.h(**key()))
    assert r.status_code == 201, r.text
    return Staff(r.json()["staff_id"], r.json()["token"])


def a_school(client: TestClient, app: HandoverApp, pupils: int = 4, name: str = "实验小学") -> World:
    """A school, one class of enrolled pupils each with a guardian, a group, a club and a gate."""
    created = app.init_school(name, "Asia/Shanghai", "王校长")
    return furnished(client, created["school_id"], Staff(created["admin_id"], created["token"]), pupils)


def furnished(client: TestClient, school_id: str, admin: Staff, pupils: int = 4) -> World:
    """A school just made (by its admin's token) given its staff, class, group, club, gate and pupils."""
    homeroom = add_staff(client, admin, "李老师", ["teacher"])
    teacher = add_staff(client, admin, "张老师", ["teacher"])
    club_teacher = add_staff(client, admin, "赵老师", ["teacher"])
    guard = add_staff(client, admin, "刘保安", ["guard"])
    inspector = add_staff(client, admin, "督导员", ["inspector"])
    r = client.post("/v1/school/classes", json={"grade": 3, "class_no": 2,
                    "homeroom_teacher_id": homeroom.staff_id}, headers=admin.h(**key()))
    assert r.status_code == 201, r.text
    class_id = r.json()["class_id"]
    r = client.post("/v1/school/groups", json={"name": "三年级作业组", "kind": "homework",
                    "room": "301", "class_ids": [class_id], "teacher_id": teacher.staff_id},
                    headers=admin.h(**key()))
    assert r.status_code == 201, r.text
    group_id = r.json()["group_id"]
    r = client.post("/v1/school/groups", json={"name": "围棋社", "kind": "club", "weekdays": [1, 3],
                    "room": "活动室", "teacher_id": club_teacher.staff_id}, headers=admin.h(**key()))
    club_id = r.json()["group_id"]
    r = client.post("/v1/school/gates", json={"name": "东门"}, headers=admin.h(**key()))
    gate_id = r.json()["gate_id"]
    world = World(client, school_id, admin, homeroom, teacher, club_teacher, guard,
                  inspector, class_id, group_id, club_id, gate_id)
    for i in range(pupils):
        world.pupils.append(enrolled_pupil(world, f"学生{i}", f"家长{i}", f"1380013800{i}"))
    return world


def enrolled_pupil(world: World, name: str, guardian: str, phone: str) -> dict[str, Any]:
    c, admin = world.client, world.admin
    r = c.post("/v1/pupils", json={"name": name, "gender": "男", "class_id": world.class_id,
               "guardians": [{"name": guardian, "relation": "母亲", "phone": phone}]},
               headers=admin.h(**key()))
    assert r.status_code == 201, r.text
    pid = r.json()["pupil_id"]
    assert c.post(f"/v1/pupils/{pid}/enrolment/apply", json=TERM, headers=admin.h(**key())).status_code == 200
    for step in ("class_reviewed", "school_approved", "signed"):
        r = c.post(f"/v1/pupils/{pid}/enrolment/{step}", json={}, headers=admin.h(**key()))
        assert r.status_code == 200, r.text
    return dict(r.json())


def handed_to_teacher(world: World) -> str:
    """The homeroom teacher hands the whole class to the after-school teacher, who confirms."""
    n = len(world.pupils)
    r = world.post(world.homeroom, "/v1/handovers", {"class_id": world.class_id, "count": n,
                   "to_staff_id": world.teacher.staff_id, "place_id": world.group_id})
    assert r.status_code == 201, r.text
    hid = r.json()["handover_id"]
    r = world.post(world.teacher, f"/v1/handovers/{hid}/confirm", {"count": n})
    assert r.status_code == 200, r.text
    return str(hid)


def walked_to_gate(world: World, indexes: list[int]) -> None:
    ids = [world.pupil(i) for i in indexes]
    r = world.post(world.teacher, "/v1/handovers", {"pupil_ids": ids, "count": len(ids),
                   "to_staff_id": world.guard.staff_id, "place_id": world.gate_id})
    assert r.status_code == 201, r.text
    r = world.post(world.guard, f"/v1/handovers/{r.json()['handover_id']}/confirm", {"count": len(ids)})
    assert r.status_code == 200, r.text
