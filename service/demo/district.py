"""A district of schools and its dismissal, planned from a seed: who is where, and who leaves when.

``plan_district(schools, seed)`` plans a district of schools of realistic varied sizes (a few
small village schools, many of a thousand or so, some large town schools of up to 3,000 pupils
staying for after-school care), about seven in ten primary (grades 1–6, three bands dismissed at
17:00, 17:20 and 17:30 in autumn and winter) and the rest middle schools (grades 7–9, one band per
grade, 17:30, 17:40, 17:50). Each school shifts its bands by up to twenty minutes so the district's
gates do not all open at once; each has classes of about 45, two to four gates (classes of a grade
spread over them), about one member of staff per 30 pupils (a homeroom teacher per class,
after-school teachers, two guards a gate, duty leaders, a safety officer, an inspector) and one
guardian who collects each pupil.

``release_timetable(school, day)`` says for every pupil of a school how the afternoon ends:
collected at the gate (most within 30 minutes of the band's dismissal: a peak a few minutes after
it, then a tail of late pickups up to two and a half hours later), left early with the family's
request, or absent. ``district_timetable`` merges every school's gate releases in time order: the
dismissal rush a node of the district carries.

Everything follows from the seed: the same district, the same names and the same minute for
every pupil on every run. A school's pupils and its timetable come from streams of their own, so
the timetable of 200 schools is computed without naming 200,000 children.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.demo.school import SURNAME_WEIGHTS, SURNAMES, _Names
from service.domain.schedule import Schedule

SEED = 20260901
TIMEZONE = "Asia/Shanghai"
SESSION = "after_school"
SESSION_START = time(15, 40)
CLASS_SIZE = 45
MAX_PUPILS = 3000
GATES = ("东门", "南门", "西门", "北门")
PRIMARY_BANDS = (("low", "低年级", (1, 2), time(17, 0)), ("middle", "中年级", (3, 4), time(17, 20)),
                 ("upper", "高年级", (5, 6), time(17, 30)))
MIDDLE_BANDS = (("g7", "初一", (7,), time(17, 30)), ("g8", "初二", (8,), time(17, 40)),
                ("g9", "初三", (9,), time(17, 50)))
SPRING_LATER = 30  # minutes: from May Day the bands leave half an hour later
SHIFTS = (-10, 0, 0, 0, 10, 10, 20)  # minutes a school moves all its bands by
MIDDLE_SHARE = 0.3
ABSENT_SHARE = 0.03  # 请假 or absent: signed in by nobody, released by nobody
EARLY_SHARE = 0.02  # left before the dismissal with the family's request
LATE_SHARE = 0.06  # collected more than 30 minutes after the band's dismissal
PEAK_SCALE = 4.0  # minutes after the dismissal: a gamma of shape 2, mode 4, mean 8
LATE_MEAN = 25.0  # minutes past the first half hour, exponential
LATE_CAP = 150.0  # minutes after the dismissal: the last family arrives by then
TOWNS = ("城关", "东城", "西城", "南关", "北关", "新华", "人民路", "实验", "育才", "城南", "城北",
         "滨河", "红旗", "光明", "朝阳", "建设", "文昌", "长安", "和平", "胜利")
VILLAGES = ("李家庄", "王家湾", "张村", "刘集", "陈庄", "杨柳镇", "黄土岭", "赵家堡", "吴店", "周口镇",
            "石桥", "河口", "青山", "白杨", "双河", "马坊", "高庄", "孙岗", "林场", "柳树营")


SURNAME_CUMULATIVE = list(itertools.accumulate(SURNAME_WEIGHTS))


class _DistrictNames(_Names):
    """The demo's names, the surname drawn from weights summed once (the same draw, cheaper:
    a district names a quarter of a million children)."""

    def surname(self, other_than: str = "") -> str:
        while True:
            found = self.rng.choices(SURNAMES, cum_weights=SURNAME_CUMULATIVE)[0]
            if found != other_than:
                return found


@dataclass(frozen=True)
class Band:
    key: str
    name: str
    grades: tuple[int, ...]
    dismissal: time  # autumn and winter; SPRING_LATER minutes later from May to October


@dataclass(frozen=True)
class ClassPlan:
    grade: int
    class_no: int
    size: int
    gate: str


@dataclass(frozen=True)
class StaffPlan:
    name: str
    roles: tuple[str, ...]
    title: str
    gate: str | None = None  # a guard's gate


@dataclass(frozen=True)
class PupilPlan:
    number: int  # the pupil's place in the school: 0 .. pupils-1, class by class
    name: str
    gender: str
    grade: int
    class_no: int
    guardian: dict[str, Any]  # name, relation, phone, may_collect, id_tail


@dataclass(slots=True)
class Leaving:
    """How one pupil's afternoon ends: at the gate (``gate``), early (``early``) or absent."""

    school: int
    pupil: int
    kind: str
    at: datetime | None  # None when absent
    dismissal: datetime  # the band's dismissal that day
    gate: str


@dataclass(frozen=True)
class SchoolPlan:
    index: int
    name: str
    stage: str  # primary or middle
    bands: tuple[Band, ...]
    classes: tuple[ClassPlan, ...]
    gates: tuple[str, ...]
    staff: tuple[StaffPlan, ...]
    seed: str

    @property
    def pupil_count(self) -> int:
        return sum(c.size for c in self.classes)

    def band_of(self, grade: int) -> Band:
        return next(b for b in self.bands if grade in b.grades)

    def seats(self) -> Iterator[ClassPlan]:
        """Each pupil's class, in the order pupils are numbered."""
        for c in self.classes:
            for _ in range(c.size):
                yield c

    def schedule(self, weekdays: tuple[int, ...] = (1, 2, 3, 4)) -> dict[str, Any]:
        """The school's schedule as the admin sets it (``PUT /v1/school/schedule``)."""
        def later(t: time) -> str:
            moved = datetime.combine(date(2000, 1, 1), t) + timedelta(minutes=SPRING_LATER)
            return moved.strftime("%H:%M")

        autumn = {b.key: b.dismissal.strftime("%H:%M") for b in self.bands}
        return {
            "bands": [{"key": b.key, "name": b.name, "grades": list(b.grades)} for b in self.bands],
            "sessions": [{
                "key": SESSION, "name": "课后服务", "start": SESSION_START.strftime("%H:%M"),
                "dismissals": autumn, "weekdays": list(weekdays),
                "seasons": [
                    {"name": "秋冬", "starts": "10-01", "ends": "05-01", "start": None, "dismissals": autumn},
                    {"name": "春夏", "starts": "05-01", "ends": "10-01", "start": None,
                     "dismissals": {b.key: later(b.dismissal) for b in self.bands}},
                ],
            }],
            "no_service_dates": [],
            "grace_minutes": 10,
        }

    def pupils(self) -> list[PupilPlan]:
        """Every pupil with a name and the guardian who collects them; the same on every run."""
        rng = random.Random(f"{self.seed}/pupils")
        names = _DistrictNames(rng)
        out: list[PupilPlan] = []
        for number, seat in enumerate(self.seats()):
            gender = rng.choice(["男", "女"])
            surname = names.surname()
            r = rng.random()
            if r < 0.5:
                relation, adult = "母亲", names.adult(names.surname(other_than=surname), False)
            elif r < 0.8:
                relation, adult = "父亲", names.adult(surname, True)
            elif r < 0.9:
                relation, adult = "奶奶", names.adult(names.surname(), False, old=True)
            else:
                relation, adult = "爷爷", names.adult(surname, True, old=True)
            guardian = {"name": adult, "relation": relation, "phone": names.phone(),
                        "may_collect": True, "id_tail": None}
            out.append(PupilPlan(number, names.child(surname, gender), gender, seat.grade,
                                 seat.class_no, guardian))
        return out


def _school_size(rng: random.Random) -> int:
    """After-school pupils: a log-normal around 1,100, from a village school's 150 to 3,000."""
    return max(150, min(MAX_PUPILS, round(rng.lognormvariate(math.log(1100), 0.55))))


def plan_school(index: int, seed: int = SEED, pupils: int | None = None, stage: str | None = None,
                scale: float = 1.0) -> SchoolPlan:
    """One school of the district; ``pupils`` and ``stage`` fixed, or drawn from the seed."""
    rng = random.Random(f"{seed}/school/{index}")
    stage = stage or ("middle" if rng.random() < MIDDLE_SHARE else "primary")
    size = pupils if pupils is not None else _school_size(rng)
    size = max(1, min(MAX_PUPILS, round(size * scale)))
    shift = rng.choice(SHIFTS)
    bands = tuple(Band(key, name, grades, _moved(at, shift))
                  for key, name, grades, at in (MIDDLE_BANDS if stage == "middle" else PRIMARY_BANDS))
    grades = [g for b in bands for g in b.grades]
    gates = GATES[:4 if size >= 1200 else 3 if size >= 600 else 2]
    # Upper grades stay a little less; the sizes add up to the school's.
    weights = [1.0 - 0.04 * k for k in range(len(grades))]
    per_grade = _split(size, weights)
    classes: list[ClassPlan] = []
    turn = 0
    for grade, count in zip(grades, per_grade, strict=True):
        n_classes = max(1, round(count / CLASS_SIZE))
        for class_no, class_size in enumerate(_split(count, [1.0] * n_classes), start=1):
            if class_size:
                classes.append(ClassPlan(grade, class_no, class_size, gates[turn % len(gates)]))
                turn += 1
    town = rng.random() < 0.6 or size >= 1200
    place = rng.choice(TOWNS) if town else rng.choice(VILLAGES)
    kind = "中学" if stage == "middle" else "小学"
    name = f"{place}第{_numeral(index % 9 + 1)}{kind}" if town else f"{place}{kind}"
    name = f"{name}（{index + 1:03d}）"
    return SchoolPlan(index, name, stage, bands, tuple(classes), tuple(gates),
                      _plan_staff(rng, classes, gates), f"{seed}/{index}")


def plan_district(schools: int = 200, seed: int = SEED, scale: float = 1.0) -> list[SchoolPlan]:
    """The district's schools, numbered 0 .. schools-1; ``scale`` multiplies every school's size."""
    return [plan_school(i, seed, scale=scale) for i in range(schools)]


def _moved(at: time, minutes: int) -> time:
    return (datetime.combine(date(2000, 1, 1), at) + timedelta(minutes=minutes)).time()


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` in whole parts proportional to ``weights`` (largest remainders)."""
    raw = [total * w / sum(weights) for w in weights]
    parts = [math.floor(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: parts[i] - raw[i])[:total - sum(parts)]:
        parts[i] += 1
    return parts


def _numeral(n: int) -> str:
    return "一二三四五六七八九"[n - 1]


def _plan_staff(rng: random.Random, classes: list[ClassPlan], gates: tuple[str, ...]) -> tuple[StaffPlan, ...]:
    names = _DistrictNames(rng)

    def person() -> str:
        return names.adult(names.surname(), rng.random() < 0.4)

    pupils = sum(c.size for c in classes)
    staff = [StaffPlan(person(), ("admin",), "教导处 · 系统管理员")]
    for gate in gates:
        for _ in range(2):
            staff.append(StaffPlan(names.adult(names.surname(), True), ("guard",), f"门卫（{gate}）", gate))
    for c in classes:
        staff.append(StaffPlan(person(), ("teacher",), f"{c.grade}年级{c.class_no}班班主任"))
    after_school = max(2, pupils // 150)
    staff += [StaffPlan(person(), ("teacher",), "课后服务教师") for _ in range(after_school)]
    staff += [StaffPlan(person(), ("duty_leader",), "值日领导") for _ in range(2 if pupils < 1500 else 4)]
    staff.append(StaffPlan(person(), ("safety_officer",), "安全主任"))
    staff.append(StaffPlan(person(), ("inspector",), "责任督学"))
    return tuple(staff)


# -- the afternoon's end ---------------------------------------------------------------------------
def _minutes_after(rng: random.Random) -> float:
    """Minutes after the band's dismissal that a family collects: the peak, or the late tail."""
    if rng.random() < LATE_SHARE:
        return min(LATE_CAP, 30.0 + rng.expovariate(1.0 / LATE_MEAN))
    while True:  # a gamma of shape 2: the sum of two exponentials, cheaply
        after = -PEAK_SCALE * math.log((1.0 - rng.random()) * (1.0 - rng.random()))
        if after < 30.0:
            return after


def release_timetable(school: SchoolPlan, day: date, tz: ZoneInfo | None = None) -> list[Leaving]:
    """How every pupil of the school leaves on ``day``, pupil by pupil (in number order)."""
    zone = tz or ZoneInfo(TIMEZONE)
    schedule = Schedule.from_dict(school.schedule(weekdays=(1, 2, 3, 4, 5, 6, 7)))
    start = schedule.start_at(SESSION, day, zone)
    rng = random.Random(f"{school.seed}/day/{day.isoformat()}")
    out: list[Leaving] = []
    dismissals: dict[int, datetime] = {}
    for number, seat in enumerate(school.seats()):
        if seat.grade not in dismissals:
            found = schedule.dismissal_at(SESSION, seat.grade, day, zone)
            assert found is not None, "every grade of a planned school is in a band"
            dismissals[seat.grade] = found
        dismissal = dismissals[seat.grade]
        r = rng.random()
        if r < ABSENT_SHARE:
            out.append(Leaving(school.index, number, "absent", None, dismissal, seat.gate))
        elif r < ABSENT_SHARE + EARLY_SHARE:
            window = (dismissal - start).total_seconds() - 20 * 60
            at = start + timedelta(seconds=int(10 * 60 + rng.random() * window))
            out.append(Leaving(school.index, number, "early", at, dismissal, seat.gate))
        else:
            at = dismissal + timedelta(seconds=int(60 * _minutes_after(rng)))
            out.append(Leaving(school.index, number, "gate", at, dismissal, seat.gate))
    return out


def district_timetable(schools: list[SchoolPlan], day: date) -> list[Leaving]:
    """Every gate release of the district in time order (ties by school, then pupil)."""
    def key(leaving: Leaving) -> tuple[datetime, int, int]:
        return leaving.at, leaving.school, leaving.pupil  # type: ignore[return-value]

    per_school = [sorted((x for x in release_timetable(s, day) if x.kind == "gate"), key=key)
                  for s in schools]
    return list(heapq.merge(*per_school, key=key))


def busiest_minute(releases: list[Leaving]) -> tuple[datetime | None, int]:
    """The calendar minute holding the most releases, and how many it holds."""
    counts: dict[datetime, int] = {}
    for leaving in releases:
        assert leaving.at is not None
        minute = leaving.at.replace(second=0)
        counts[minute] = counts.get(minute, 0) + 1
    if not counts:
        return None, 0
    minute = max(counts, key=lambda m: (counts[m], -m.timestamp()))
    return minute, counts[minute]


def densest_run(releases: list[Leaving], count: int) -> int:
    """Where the ``count`` consecutive releases that span the least time begin."""
    if count >= len(releases):
        return 0
    spans = ((releases[i + count - 1].at - releases[i].at, i)  # type: ignore[operator]
             for i in range(len(releases) - count + 1))
    return min(spans)[1]

