"""The demo school 演示小学: built once through the use cases, found again later with fresh tokens.

``prepare_demo(settings)`` opens the configured store. On the first run it creates a realistic
primary school — staff in every role, twelve classes in three grade bands, about two hundred
pupils with guardians, authorisations, restrictions, statements and signed enrolments, homework
groups, clubs, gates and a schedule — by calling the application's use cases as an admin, exactly
as the HTTP API would. It remembers the school and its staff in ``demo.json`` beside the SQLite
file (falling back to looking the school up in the store). On every run it issues fresh bearer
tokens for the demo staff, since tokens are stored only as hashes and cannot be shown again, and
returns a banner listing them with example curl commands.

Pupils, families and documents come from ``random.Random(SEED)``: the same names every time
(dates follow the day the demo is built, so its term always covers today).
"""

from __future__ import annotations

import calendar
import json
import logging
import random
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic

from service.adapters.files import private_file
from service.domain.common import Actor, Role
from service.domain.device import is_device
from service.domain.errors import NotFoundError
from service.domain.schedule import default_schedule
from service.domain.school import School
from service.settings import Settings
from service.use_cases import commands as do
from service.use_cases.application import HandoverApp
from service.use_cases.clock import Clock
from service.use_cases.core import Outcome
from service.use_cases.setup import class_label
from service.workers.bootstrap import open_application

log = logging.getLogger(__name__)

DEMO_NAME = "演示小学"
DEMO_FILE = "demo.json"
TIMEZONE = "Asia/Shanghai"
SEED = 20250901
SESSION = "after_school"
ALL_WEEK = [1, 2, 3, 4, 5, 6, 7]

ROLE_CN = {
    "admin": "管理员", "teacher": "教师", "guard": "门卫", "duty_leader": "值班领导",
    "safety_officer": "安全员", "inspector": "督导",
}

# -- the staff -------------------------------------------------------------------------------
ADMIN = ("王建华", "admin", "校长 · 系统管理员")  # created by init_school
STAFF = [  # one per role (the admin above), then the other guards
    ("陈静", "teacher", "课后服务教师"),
    ("刘保国", "guard", "门卫（东门）"),
    ("孙立军", "duty_leader", "值班校领导"),
    ("周敏", "safety_officer", "安全主任"),
    ("吴志刚", "inspector", "责任督学"),
    ("马德胜", "guard", "门卫（南门）"),
    ("赵卫东", "guard", "门卫（南门）"),
]
# The guards at each gate at dismissal, and the PIN each signs on with at a shared gate tablet.
# The east gate's one guard holds all its pupils, so the demo's east-gate tablet releases them all.
GATE_GUARDS = {"东门": ["刘保国"], "南门": ["马德胜", "赵卫东"]}
GUARD_PINS = {"刘保国": "2580", "马德胜": "1397", "赵卫东": "3690"}
# The gate each grade leaves by: the little ones by the east gate, where the families wait.
GATE_OF_GRADE = {1: "东门", 2: "东门", 3: "南门", 4: "南门", 5: "东门", 6: "南门"}
HOMEROOM = {  # (grade, class_no): name
    (1, 1): "李芳", (1, 2): "张丽娟", (2, 1): "赵雪梅", (2, 2): "杨晓红",
    (3, 1): "黄婷", (3, 2): "徐海燕", (4, 1): "朱文斌", (4, 2): "胡玉兰",
    (5, 1): "郭秀英", (5, 2): "何建平", (6, 1): "罗慧", (6, 2): "梁志强",
}
HOMEWORK_TEACHERS = ["陈静", "宋佳", "唐晓东", "许文静"]  # 陈静 is the teacher above
CLUBS = [  # name, weekdays, room, grades, teacher, teacher's title
    ("围棋社", [1, 3], "围棋教室（综合楼201）", (2, 3, 4), "韩磊", "围棋社指导教师"),
    ("合唱团", [2, 4], "音乐教室", (3, 4, 5, 6), "林晓燕", "音乐教师 · 合唱团"),
    ("科学小组", [3, 5], "科学实验室", (4, 5, 6), "郑宇", "科学教师 · 科学小组"),
]
# Pupils staying after school in each class. Upper grades stay less; the sizes make the
# grouping policy (40 a group) propose single-grade groups for grades 1–2 and mixed groups
# for 3–4 and 5–6. 207 in all.
STAGE = "primary"  # grades 1–6, the three bands of the default schedule
CLASS_SIZES = {
    (1, 1): 22, (1, 2): 21, (2, 1): 21, (2, 2): 20, (3, 1): 20, (3, 2): 20,
    (4, 1): 12, (4, 2): 11, (5, 1): 21, (5, 2): 20, (6, 1): 10, (6, 2): 9,
}
GATES = ["东门", "南门"]

# -- names -----------------------------------------------------------------------------------
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
SURNAME_WEIGHTS = [1.0 / (rank + 4) for rank in range(len(SURNAMES))]  # 王 and 李 most common
# Given names are two characters (first, second) or one (second), from characters that combine
# the way parents name children and the way the parents' generation was named.
BOY_CHARS = ("浩子宇梓俊博天皓睿一明嘉锦奕思泽铭晨承沐昊家",
             "然轩睿杰宇诺文佑墨泽航豪辰远阳熙鸣宸霖哲")
GIRL_CHARS = ("欣梓诗子雨可一佳语思紫若梦艺心雅依馨沐安书静婉",
              "怡涵桐馨诺琪嫣萱彤曦妍瑶月晴清然悦琳")
GIRL_DOUBLED = ["婷婷", "欣欣", "佳佳", "琪琪", "悦悦", "思思", "甜甜", "萌萌"]
MAN_CHARS = ("建国志伟海俊晓文立永卫春明宏新振", "国华强刚涛军明平斌峰东伟杰林波勇新辉")
WOMAN_CHARS = ("丽秀晓海春雪桂玉美红慧静丹翠淑", "娟英燕华梅芳兰洁玲霞萍敏丽红琴莉")
OLD_MEN = ["建国", "德福", "国庆", "永平", "志明", "文华", "长林", "国华", "福生", "金发", "有才"]
OLD_WOMEN = ["桂英", "秀兰", "淑珍", "玉兰", "凤英", "秀珍", "桂兰", "玉梅", "美华", "素芬", "翠花"]
COURTS = ["沪0101", "沪0104", "沪0105", "沪0112", "沪0115"]  # 黄浦、徐汇、长宁、闵行、浦东


# -- the plan: who the pupils are, decided before anything is written ---------------------------
@dataclass
class Adult:
    name: str
    relation: str
    phone: str
    id_tail: str | None = None
    may_collect: bool = True

    def guardian(self) -> dict[str, Any]:
        return {"name": self.name, "relation": self.relation, "phone": self.phone,
                "may_collect": self.may_collect, "id_tail": self.id_tail}


@dataclass
class PupilPlan:
    name: str
    surname: str
    gender: str
    grade: int
    class_no: int
    family: dict[str, Adult]
    guardians: list[Adult]
    sessions: list[str]
    tags: list[str] = field(default_factory=list)
    authorisations: list[dict[str, Any]] = field(default_factory=list)
    restrictions: list[dict[str, Any]] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    sibling: bool = False


@dataclass(frozen=True)
class Term:
    name: str
    starts: date
    ends: date


def add_months(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_around(today: date) -> Term:
    """A term from two months before today to three months after, named as schools name them."""
    if today.month >= 8:
        name = f"{today.year}-{today.year + 1}学年第一学期"
    elif today.month == 1:
        name = f"{today.year - 1}-{today.year}学年第一学期"
    else:
        name = f"{today.year - 1}-{today.year}学年第二学期"
    return Term(name, add_months(today, -2), add_months(today, 3))


class _Names:
    """Deterministic Chinese names, mobile numbers and ID-number tails."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.phones: set[str] = set()
        self.children: set[str] = set()

    def surname(self, other_than: str = "") -> str:
        while True:
            found = self.rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
            if found != other_than:
                return found

    def given(self, chars: tuple[str, str], one_char: float) -> str:
        first, second = chars
        if self.rng.random() < one_char:
            return self.rng.choice(second)
        while True:
            given = self.rng.choice(first) + self.rng.choice(second)
            if given[0] != given[1]:
                return given

    def child(self, surname: str, gender: str) -> str:
        for _ in range(100):
            if gender == "女" and self.rng.random() < 0.05:
                given = self.rng.choice(GIRL_DOUBLED)
            else:
                given = self.given(BOY_CHARS if gender == "男" else GIRL_CHARS, 0.15)
            if surname + given not in self.children:
                self.children.add(surname + given)
                return surname + given
        raise AssertionError("ran out of names")

    def adult(self, surname: str, male: bool, old: bool = False) -> str:
        if old:
            return surname + self.rng.choice(OLD_MEN if male else OLD_WOMEN)
        return surname + self.given(MAN_CHARS if male else WOMAN_CHARS, 0.3)

    def phone(self) -> str:
        while True:
            number = self.rng.choice(["13", "15", "18"]) + f"{self.rng.randrange(10**9):09d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def id_tail(self) -> str:
        return f"{self.rng.randrange(1000):03d}" + self.rng.choice("01234567890123456789X")


def _family(n: _Names, surname: str) -> dict[str, Adult]:
    mother = n.surname(other_than=surname)
    return {
        "父亲": Adult(n.adult(surname, True), "父亲", n.phone()),
        "母亲": Adult(n.adult(mother, False), "母亲", n.phone()),
        "爷爷": Adult(n.adult(surname, True, old=True), "爷爷", n.phone()),
        "奶奶": Adult(n.adult(n.surname(), False, old=True), "奶奶", n.phone()),
        "外公": Adult(n.adult(mother, True, old=True), "外公", n.phone()),
        "外婆": Adult(n.adult(n.surname(), False, old=True), "外婆", n.phone()),
    }


def _guardians(n: _Names, family: dict[str, Adult], left_behind: bool) -> list[Adult]:
    rng = n.rng
    if left_behind:  # 留守: parents work in another city; grandparents collect
        pair = ("爷爷", "奶奶") if rng.random() < 0.6 else ("外婆", "外公")
        return [family[pair[0]], family[pair[1]]]
    r = rng.random()
    grandparent = rng.choice(["奶奶", "外婆", "爷爷", "外公"])
    first = "母亲" if r < 0.55 else "父亲" if r < 0.85 else grandparent
    chosen = [first]
    if rng.random() < 0.65:
        if first in ("母亲", "父亲") and rng.random() < 0.7:
            chosen.append("父亲" if first == "母亲" else "母亲")
        else:
            chosen.append(rng.choice([k for k in family if k != first]))
    for key in chosen:
        if rng.random() < 0.35:
            family[key].id_tail = n.id_tail()
    return [family[key] for key in chosen]


def plan_pupils(today: date, term: Term, seed: int = SEED) -> list[PupilPlan]:
    """Every demo pupil, family and document; the same for the same seed and day."""
    rng = random.Random(seed)
    n = _Names(rng)
    slots = [(g, c) for (g, c), size in sorted(CLASS_SIZES.items()) for _ in range(size)]
    tags: list[list[str]] = [[] for _ in slots]
    picks = rng.sample(range(len(slots)), 27)
    for i in picks[:10]:
        tags[i].append("留守")
    for i in picks[10:19]:
        tags[i].append("随迁")
    for i in picks[19:25]:
        tags[i].append("困难")
    for i in picks[25:]:
        tags[i].append("残疾")
    tags[picks[0]].append("困难")  # a left-behind child in hardship

    plans: list[PupilPlan] = []
    for (grade, class_no), pupil_tags in zip(slots, tags, strict=True):
        gender = rng.choice(["男", "女"])
        surname = n.surname()
        family = _family(n, surname)
        noon = rng.random() < (0.35 if grade <= 3 else 0.15)
        plans.append(PupilPlan(
            name=n.child(surname, gender), surname=surname, gender=gender, grade=grade,
            class_no=class_no, family=family,
            guardians=_guardians(n, family, "留守" in pupil_tags),
            sessions=["noon", SESSION] if noon else [SESSION], tags=sorted(pupil_tags),
        ))

    # Siblings: a younger brother or sister shares the older pupil's family and guardians.
    plain = [i for i, p in enumerate(plans) if not p.tags]
    older = [i for i in plain if plans[i].grade >= 3]
    for i in rng.sample(older, 6):
        younger = [j for j in plain if plans[j].grade < plans[i].grade and not plans[j].sibling]
        j = rng.choice(younger)
        o, y = plans[i], plans[j]
        n.children.discard(y.name)
        y.surname, y.family, y.guardians = o.surname, o.family, list(o.guardians)
        y.name = n.child(o.surname, y.gender)
        o.sibling = y.sibling = True

    _add_restrictions(n, plans, today)
    _add_statements(n, plans, term)
    _add_authorisations(n, plans, today, term)
    return plans


def _case_number(n: _Names, year: int, kind: str) -> str:
    return f"（{year}）{n.rng.choice(COURTS)}{kind}{n.rng.randrange(1000, 9999)}号"


def _add_restrictions(n: _Names, plans: list[PupilPlan], today: date) -> None:
    """Three families with a court document: "do not release to" the father."""
    rng = n.rng
    eligible = [i for i, p in enumerate(plans) if p.grade <= 4 and not p.sibling and not p.tags]
    first, second, third = (plans[i] for i in rng.sample(eligible, 3))
    year = (today - timedelta(days=90)).year
    father_tail = n.id_tail()

    # Custody judgment: the mother has custody; the father is not on file and may not collect.
    first.guardians = [first.family["母亲"], first.family["外婆"]]
    first.restrictions.append({
        "name": first.family["父亲"].name, "id_tail": father_tail,
        "reason": "离婚判决：子女随母亲生活；未经母亲同意，父亲不得接走孩子",
        "document": "民事判决书" + _case_number(n, year, "民初"),
        "valid_from": None, "valid_to": None,
    })
    # A personal safety protection order: six months from when it was made.
    made = today - timedelta(days=40)
    second.guardians = [second.family["母亲"]]
    second.restrictions.append({
        "name": second.family["父亲"].name, "id_tail": n.id_tail(),
        "reason": "人身安全保护令：禁止被申请人接触、跟踪申请人及其子女",
        "document": "人身安全保护令" + _case_number(n, year, "民保令"),
        "valid_from": made, "valid_to": add_months(made, 6),
    })
    # The father is a guardian on file, but for now he may not collect: the restriction wins.
    father = third.family["父亲"]
    father.id_tail = father.id_tail or n.id_tail()
    third.guardians = [third.family["母亲"], father]
    third.restrictions.append({
        "name": father.name, "id_tail": father.id_tail,
        "reason": "离婚诉讼期间，双方约定暂由母亲一方接送，父亲暂停接送",
        "document": "调解笔录" + _case_number(n, year, "民初"),
        "valid_from": today - timedelta(days=10), "valid_to": today + timedelta(days=50),
    })


def _add_statements(n: _Names, plans: list[PupilPlan], term: Term) -> None:
    """A few upper-grade pupils may go home alone under a guardian's written statement."""
    eligible = [i for i, p in enumerate(plans) if p.grade >= 5 and not p.restrictions]
    # The first applies every day, so the demo can show one whatever day it is started.
    weekdays = [ALL_WEEK, [1, 2, 3, 4, 5], [1, 3, 5], [2, 4], [1, 2, 3, 4]]
    for i, days in zip(n.rng.sample(eligible, len(weekdays)), weekdays, strict=True):
        p = plans[i]
        p.statements.append({
            "valid_from": term.starts, "valid_to": term.ends, "weekdays": days,
            "document": f"《学生自行离校家长申请书》（{p.guardians[0].name}签字）",
        })


def _add_authorisations(n: _Names, plans: list[PupilPlan], today: date, term: Term) -> None:
    """Standing authorisations for other adults, each for a window of days."""
    rng = n.rng
    windows = [
        (term.starts, term.ends),  # the whole term
        (today - timedelta(days=7), today + timedelta(days=21)),  # while the parents are away
        (term.starts, today - timedelta(days=14)),  # expired: no longer counts
        (today + timedelta(days=7), today + timedelta(days=37)),  # not yet in force
    ]
    eligible = [i for i, p in enumerate(plans) if not p.restrictions]
    for k, i in enumerate(sorted(rng.sample(eligible, 18))):
        p = plans[i]
        mother = p.family["母亲"].name[0]
        kind = rng.choice(["姑姑", "舅舅", "小姨", "叔叔", "保姆", "邻居"])
        surname = {"姑姑": p.surname, "叔叔": p.surname, "舅舅": mother, "小姨": mother}.get(
            kind, n.surname())
        male = kind in ("舅舅", "叔叔") or (kind == "邻居" and rng.random() < 0.5)
        valid_from, valid_to = windows[0] if k % 3 else windows[(k // 3) % len(windows)]
        written = rng.random() < 0.7
        p.authorisations.append({
            "name": n.adult(surname, male), "relation": kind, "phone": n.phone(),
            "id_tail": n.id_tail() if rng.random() < 0.5 else None,
            "valid_from": valid_from, "valid_to": valid_to,
            "document": f"《委托接送授权书》（{p.guardians[0].name}签字，{valid_from.isoformat()}）"
            if written else None,
            "via": "written" if written else "in_person",
        })


# -- what is remembered ------------------------------------------------------------------------
@dataclass
class DemoStaff:
    staff_id: str
    name: str
    role: str
    title: str
    token: str | None = None


@dataclass
class Demo:
    school_id: str
    admin_id: str
    staff: list[DemoStaff]
    created: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def admin(self) -> DemoStaff:
        return next(s for s in self.staff if s.staff_id == self.admin_id)

    def first(self, role: str) -> DemoStaff | None:
        return next((s for s in self.staff if s.role == role), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "school_id": self.school_id, "school_name": DEMO_NAME, "admin_id": self.admin_id,
            "staff": [{"staff_id": s.staff_id, "name": s.name, "role": s.role, "title": s.title}
                      for s in self.staff],
        }


def _ok(outcome: Outcome, what: str) -> dict[str, Any]:
    if not outcome.ok:
        raise RuntimeError(f"demo set-up failed to {what}: {outcome.result}")
    body: dict[str, Any] = outcome.body
    return body


def demo_schedule() -> dict[str, Any]:
    """The default schedule, except that every session runs all seven days.

    A real school holds no after-school service at weekends (and often none on Fridays); the
    demo runs every day so that it has an afternoon to show whatever day it is started.
    """
    data = default_schedule().to_dict()
    for session in data["sessions"]:
        session["weekdays"] = list(ALL_WEEK)
    return data


# -- building -----------------------------------------------------------------------------------
def build_demo(app: HandoverApp) -> Demo:
    """Create the demo school through the use cases, as its admin would over the API."""
    started = time.perf_counter()
    rng = random.Random(SEED + 1)
    created = app.init_school(DEMO_NAME, TIMEZONE, ADMIN[0], STAGE)
    school_id, admin_id = created["school_id"], created["admin_id"]

    def admin() -> Actor:
        return Actor(school_id=school_id, staff_id=admin_id, staff_name=ADMIN[0],
                     role=Role.ADMIN.value, at=app.now(), command_id=None, device="demo-setup")

    demo = Demo(school_id, admin_id, [DemoStaff(admin_id, ADMIN[0], ADMIN[1], ADMIN[2],
                                                created["token"])], created=True)
    ids: dict[str, str] = {}

    def hire(name: str, role: str, title: str) -> str:
        phone = rng.choice(["13", "15", "18"]) + f"{rng.randrange(10**9):09d}"
        body = _ok(app.add_staff(admin(), name, [role], phone), f"add {name}")
        demo.staff.append(DemoStaff(body["staff_id"], name, role, title, body["token"]))
        ids[name] = body["staff_id"]
        return ids[name]

    for name, role, title in STAFF:
        hire(name, role, title)
    for (grade, class_no), name in sorted(HOMEROOM.items()):
        hire(name, "teacher", f"{_grade_label(grade, class_no)}班主任")
    for name in HOMEWORK_TEACHERS:
        if name not in ids:
            hire(name, "teacher", "课后服务教师")
    for _, _, _, _, teacher, title in CLUBS:
        hire(teacher, "teacher", title)

    _ok(app.set_schedule(admin(), demo_schedule()), "set the schedule")
    for gate in GATES:
        _ok(app.add_gate(admin(), gate), f"add gate {gate}")
    classes: dict[tuple[int, int], str] = {}
    for grade, class_no in sorted(CLASS_SIZES):
        body = _ok(app.add_class(admin(), grade, class_no, ids[HOMEROOM[grade, class_no]]),
                   "add a class")
        classes[grade, class_no] = body["class_id"]

    school = app.school(school_id, readonly=True)
    term = term_around(app.today(school))
    for plan in plan_pupils(app.today(school), term):
        _enrol(app, admin, plan, classes[plan.grade, plan.class_no], term,
               HOMEROOM[plan.grade, plan.class_no])

    # Homework groups as the policy proposes them from the signed enrolments.
    rooms: dict[int, int] = {}
    for k, proposed in enumerate(app.group_proposal(admin(), None)):
        floor = proposed["grades"][0]
        rooms[floor] = rooms.get(floor, 0) + 1
        teacher = ids[HOMEWORK_TEACHERS[k % len(HOMEWORK_TEACHERS)]]
        # Homework groups meet whenever the service runs: every day in the demo schedule.
        _ok(app.define_group(admin(), do.DefineGroup(
                proposed["name"], "homework", tuple(ALL_WEEK), f"{floor}0{rooms[floor]}教室",
                tuple(proposed["class_ids"]), teacher)),
            f"define {proposed['name']}")
        member = next(s for s in demo.staff if s.staff_id == teacher)
        member.title = ("课后服务教师 · " if k < len(HOMEWORK_TEACHERS) else f"{member.title}、") \
            + proposed["name"]
    # Clubs last: a school with all three clubs is a finished demo (see _find_in_store).
    for club, weekdays, room, grades, teacher, _ in CLUBS:
        members = [cid for (g, _), cid in sorted(classes.items()) if g in grades]
        _ok(app.define_group(admin(), do.DefineGroup(club, "club", tuple(weekdays), room, tuple(members),
                                                     ids[teacher])), f"define {club}")
    demo.seconds = time.perf_counter() - started
    return demo


def _grade_label(grade: int, class_no: int) -> str:
    return class_label(grade, class_no).removesuffix("班")


def _enrol(app: HandoverApp, admin: Callable[[], Actor], plan: PupilPlan, class_id: str,
           term: Term, homeroom: str) -> None:
    guardians = tuple(do.Guardian(**g.guardian()) for g in plan.guardians)
    body = _ok(app.register_pupil(admin(), do.RegisterPupil(plan.name, plan.gender, class_id, guardians)),
               f"register {plan.name}")
    pid = body["pupil_id"]
    first_guardian = body["guardians"][0]["guardian_id"]
    if plan.tags:
        _ok(app.set_tags(admin(), pid, plan.tags), "set tags")
    for a in plan.authorisations:
        _ok(app.authorise_adult(admin(), pid, do.Authorise(**{**a, "given_by_guardian_id": first_guardian})),
            "authorise an adult")
    for r in plan.restrictions:
        _ok(app.restrict_adult(admin(), pid, do.Restrict(**r)), "add a restriction")
    for s in plan.statements:
        _ok(app.file_statement(admin(), pid, do.FileStatement(
            **{**s, "weekdays": tuple(s["weekdays"]), "given_by_guardian_id": first_guardian})),
            "file a statement")
    _ok(app.apply_for_care(admin(), pid, do.ApplyForCare(
        term.name, term.starts, term.ends, tuple(plan.sessions), first_guardian)), "apply for care")
    notes = {"class_reviewed": f"班主任{homeroom}已审核",
             "school_approved": "学校课后服务领导小组审批通过",
             "signed": "家长已签订《课后服务安全责任协议书》"}
    for step, note in notes.items():
        _ok(app.advance_enrolment(admin(), pid, step, note), f"enrolment {step}")


# -- finding it again ---------------------------------------------------------------------------
def _read_saved(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("school_id"), str) else None


def _live_school(app: HandoverApp, school_id: str) -> School | None:
    try:
        return app.school(school_id, readonly=True)
    except NotFoundError:
        return None


def _is_finished(school: School) -> bool:
    clubs = {g["name"] for g in school.groups.values() if g["kind"] == "club"}
    return school.name == DEMO_NAME and all(c[0] in clubs for c in CLUBS)


def _find_in_store(app: HandoverApp) -> School | None:
    """The latest finished demo school in the event log (when demo.json is missing or stale)."""
    topic = get_topic(School.Founded)
    found: School | None = None
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=500, topics=[topic])
        for notification in page:
            school = _live_school(app, str(notification.originator_id))
            if school is not None and _is_finished(school):
                found = school
        if len(page) < 500:
            return found
        start = page[-1].id + 1


def _recall(app: HandoverApp, saved: dict[str, Any] | None) -> Demo | None:
    school = _live_school(app, saved["school_id"]) if saved else None
    titles: dict[str, str] = {}
    if school is not None and saved is not None:
        titles = {s["staff_id"]: s.get("title", "") for s in saved.get("staff", [])
                  if isinstance(s, dict) and "staff_id" in s}
        wanted = list(titles)
    else:
        school = _find_in_store(app)
        if school is None:
            return None
        wanted = list(school.staff)
    staff = []
    for staff_id in wanted:
        member = school.staff.get(staff_id)
        if member is None or not member["active"]:
            continue  # removed over the API since: no token for them
        if is_device(staff_id):
            continue  # a paired tablet gets a pairing code, never a staff token
        role = member["roles"][0] if member["roles"] else "?"
        if "admin" in member["roles"]:
            role = "admin"
        staff.append(DemoStaff(staff_id, member["name"], role,
                               titles.get(staff_id) or ROLE_CN.get(role, role)))
    admins = [s for s in staff if s.role == "admin"]
    if not admins:
        raise RuntimeError(f"The demo school {school.school_id} has no active admin left; "
                           "remove the demo data directory to start afresh.")
    saved_admin = (saved or {}).get("admin_id")
    admin = next((s for s in admins if s.staff_id == saved_admin), admins[0])
    return Demo(school.school_id, admin.staff_id, staff)


def _issue_tokens(app: HandoverApp, demo: Demo) -> None:
    admin = demo.admin
    for member in demo.staff:
        actor = Actor(school_id=demo.school_id, staff_id=admin.staff_id, staff_name=admin.name,
                      role=Role.ADMIN.value, at=app.now(), command_id=None, device="demo-setup")
        member.token = _ok(app.issue_token(actor, member.staff_id), "issue a token")["token"]


def _give_pins(app: HandoverApp, demo: Demo) -> None:
    """The demo guards' PINs, set once (a PIN changed since by the guard is theirs)."""
    admin = demo.admin
    for member in demo.staff:
        pin = GUARD_PINS.get(member.name)
        if member.role != "guard" or pin is None or app.has_pin(demo.school_id, member.staff_id):
            continue
        actor = Actor(school_id=demo.school_id, staff_id=admin.staff_id, staff_name=admin.name,
                      role=Role.ADMIN.value, at=app.now(), command_id=None, device="demo-setup")
        _ok(app.set_pin(actor, member.staff_id, pin), f"set {member.name}'s PIN")


def open_demo(settings: Settings, clock: Clock | None = None) -> tuple[Demo, dict[str, Any]]:
    """The demo school (built on the first run) with a fresh token for each demo staff member,
    and a summary of the school as it stands (on the demo's clock, when it has one)."""
    app = open_application(settings, clock=clock)
    try:
        path = settings.data_dir / DEMO_FILE
        keep = settings.store != "memory"  # an in-memory store is new on every run
        saved = _read_saved(path) if keep else None
        started = time.perf_counter()
        demo = _recall(app, saved) if keep else None
        if demo is None:
            demo = build_demo(app)
        else:
            _issue_tokens(app, demo)
            demo.seconds = time.perf_counter() - started
        remembered = {**demo.to_json(), "store": settings.store}
        if keep and saved != remembered:
            try:
                private_file(path)
                path.write_text(json.dumps(remembered, ensure_ascii=False, indent=2) + "\n",
                                encoding="utf-8")
            except OSError as e:
                demo.notes.append(f"could not write {path} ({e}); the school is found in the store")
        _give_pins(app, demo)
        if settings.store == "memory":
            demo.notes.append("--store memory keeps nothing: the server starts on an empty store, "
                              "so these tokens will not work there; use sqlite or postgres")
        school = app.school(demo.school_id, readonly=True)
        summary = {
            "name": school.name, "pupils": len(school.roll), "classes": len(school.classes),
            "homework": sum(1 for g in school.groups.values() if g["kind"] == "homework"),
            "clubs": sum(1 for g in school.groups.values() if g["kind"] == "club"),
            "gates": [g["name"] for g in school.gates.values()],
        }
        return demo, summary
    finally:
        app.close()


# -- the banner -----------------------------------------------------------------------------------
def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def banner(settings: Settings, demo: Demo, summary: dict[str, Any]) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    base = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    how = (f"created in {demo.seconds:.1f} s" if demo.created
           else f"already there; fresh tokens issued in {demo.seconds:.1f} s "
                "(tokens printed before still work)")
    lines = [
        f"Demo school 演示学校: {summary['name']}  school_id {demo.school_id}  ({how})",
        (f"  {summary['pupils']} pupils in {summary['classes']} classes, {summary['homework']} "
         f"homework groups, {summary['clubs']} clubs, gates {'、'.join(summary['gates'])}; "
         "every session runs all 7 days"),
        "",
        "Demo staff and their bearer tokens (shown only now; only hashes are stored):",
    ]
    name_w = max(_width(s.name) for s in demo.staff) + 2
    title_w = max(_width(s.title) for s in demo.staff) + 2
    for s in demo.staff:
        lines.append(f"  {_pad(s.name, name_w)}{_pad(s.role, 16)}{_pad(s.title, title_w)}{s.token}")
    guard, admin = demo.first("guard") or demo.admin, demo.admin
    lines += [
        "",
        "Try:",
        f'  curl -s {base}/v1/afternoon -H "Authorization: Bearer {guard.token}"',
        f'  curl -s {base}/v1/school -H "Authorization: Bearer {admin.token}"',
    ]
    pins = [f"{s.name} {GUARD_PINS[s.name]}" for s in demo.staff if s.role == "guard"
            and s.name in GUARD_PINS]
    if pins:
        lines += ["", "At a gate tablet a guard signs on with their PIN 门卫签到密码: " + ", ".join(pins)]
    lines += [f"Note: {note}" for note in demo.notes]
    return "\n".join(lines)


def prepare_demo(settings: Settings) -> str:
    """Build the demo school on the first run, issue fresh staff tokens, and say how to use them."""
    demo, summary = open_demo(settings)
    log.info("demo school %s ready in %.1f s", demo.school_id, demo.seconds)
    return banner(settings, demo, summary)
