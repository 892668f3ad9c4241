"""Proposing homework groups (混合编班) from how many pupils of each class stay after school."""

# The policy: a class with 40 or more staying pupils stays one group; a smaller class merges
# with the smallest class of its grade; a grade whose total is under 40 merges with an adjacent
# grade. `propose_groups` reads that as the following exact, deterministic algorithm:
#
#   0. Drop classes with count 0. Order classes by (grade, label in natural order, class_id);
#      a unit (set of classes) is identified by its first class in that order.
#   1. Within each grade, every class starts as its own unit. While the grade has more than one
#      unit and its smallest unit is under the threshold, merge the smallest unit with the
#      next-smallest (ties broken by unit order). A small class thus joins the smallest other
#      class, even one at or above the threshold; 15+20+30 gives 35, then 65: one group.
#      Afterwards a grade has either only units at or above the threshold, or a single unit
#      holding the whole grade, which is under the threshold only if the grade's total is.
#   2. Grades in ascending order: if a unit containing grade g is under the threshold, merge it
#      with the smallest other unit containing grade g-1, or, if there is none, grade g+1.
#      Adjacent means exactly one grade apart: grades 2 and 4 are never joined across a missing
#      grade 3. A merged unit still under the threshold may merge again when its higher grade
#      comes up, so 1, 2 and 3 at 10 pupils each end as one group of 30; a unit with no
#      adjacent partner left stays as a small group rather than vanish.
#   3. Groups come out ordered by their first class; class_ids and grades inside are in order.
#
# Names: one grade gives "三年级(1)(2)班作业组", taking each class's number from the last run
# of digits in its label (else the label without a trailing 班); several grades give
# "二三年级混合作业组". A repeated name gets a number appended so names stay unique.

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NUMERALS = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")


@dataclass(frozen=True)
class ClassCount:
    class_id: str
    grade: int
    label: str
    count: int


@dataclass(frozen=True)
class ProposedGroup:
    name: str
    class_ids: tuple[str, ...]
    grades: tuple[int, ...]
    count: int


_ClassKey = tuple[int, tuple[tuple[int, int, str], ...], str]


def _natural(label: str) -> tuple[tuple[int, int, str], ...]:
    # "(2)班" before "(10)班": digit runs compare as numbers, text as text.
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.findall(r"\d+|\D+", label)
    )


def _class_key(c: ClassCount) -> _ClassKey:
    return (c.grade, _natural(c.label), c.class_id)


@dataclass(frozen=True)
class _Unit:
    classes: tuple[ClassCount, ...]  # never empty, kept in class order

    @property
    def count(self) -> int:
        return sum(c.count for c in self.classes)

    @property
    def grades(self) -> tuple[int, ...]:
        return tuple(sorted({c.grade for c in self.classes}))

    @property
    def key(self) -> _ClassKey:
        return _class_key(self.classes[0])

    def size_key(self) -> tuple[int, _ClassKey]:
        return (self.count, self.key)

    def merged(self, other: _Unit) -> _Unit:
        return _Unit(tuple(sorted(self.classes + other.classes, key=_class_key)))


def propose_groups(
    classes: Sequence[ClassCount], *, threshold: int = 40
) -> tuple[ProposedGroup, ...]:
    """Group the staying pupils of each class following the algorithm in the module comment."""
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")
    ids = [c.class_id for c in classes]
    if len(set(ids)) != len(ids):
        raise ValueError("a class_id appears twice")
    for c in classes:
        if c.count < 0:
            raise ValueError(f"class {c.class_id} has a negative count {c.count}")

    by_grade: dict[int, list[_Unit]] = {}
    for c in sorted((c for c in classes if c.count > 0), key=_class_key):
        by_grade.setdefault(c.grade, []).append(_Unit((c,)))

    # Step 1: inside each grade, fold the smallest unit into the next-smallest.
    for units in by_grade.values():
        while len(units) > 1:
            units.sort(key=_Unit.size_key)
            if units[0].count >= threshold:
                break
            units[:2] = [units[0].merged(units[1])]

    # Step 2: a grade still under the threshold joins an adjacent grade, lower one first.
    pool = [u for grade in sorted(by_grade) for u in by_grade[grade]]
    for grade in sorted(by_grade):
        small = [u for u in pool if grade in u.grades and u.count < threshold]
        if not small:
            continue
        unit = min(small, key=_Unit.size_key)
        for adjacent in (grade - 1, grade + 1):
            partners = [u for u in pool if u is not unit and adjacent in u.grades]
            if partners:
                partner = min(partners, key=_Unit.size_key)
                pool = [u for u in pool if u is not unit and u is not partner]
                pool.append(unit.merged(partner))
                break

    groups: list[ProposedGroup] = []
    seen: dict[str, int] = {}
    for unit in sorted(pool, key=lambda u: u.key):
        name = _name(unit)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}{seen[name]}"
        groups.append(
            ProposedGroup(
                name=name,
                class_ids=tuple(c.class_id for c in unit.classes),
                grades=unit.grades,
                count=unit.count,
            )
        )
    return tuple(groups)


def _grade_cn(grade: int) -> str:
    return _NUMERALS[grade] if 0 < grade < len(_NUMERALS) else str(grade)


def _class_number(c: ClassCount) -> str:
    digits = re.findall(r"\d+", c.label)
    if digits:
        return f"({int(digits[-1])})"
    return f"({c.label.strip().removesuffix('班') or c.class_id})"


def _name(unit: _Unit) -> str:
    grades = unit.grades
    if len(grades) > 1:
        return "".join(_grade_cn(g) for g in grades) + "年级混合作业组"
    numbers = "".join(_class_number(c) for c in unit.classes)
    return f"{_grade_cn(grades[0])}年级{numbers}班作业组"
